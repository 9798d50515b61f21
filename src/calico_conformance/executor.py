"""One way to run a command on a node, whatever the node is (testinfra's model, with argv lists
and a timeout always).

Each transport is small: local, a lab network namespace here; docker exec, kubectl exec and SSH
live in ``calico_conformance.executors``. Checks only ever see ``Executor.run``.
"""
from __future__ import annotations

import os
import shlex
import subprocess
from dataclasses import dataclass
from typing import Protocol, Sequence

from calico_conformance.vocabulary.errors import ExecutorError

DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    rc: int
    stdout: str
    stderr: str

    @property
    def succeeded(self) -> bool:
        return self.rc == 0

    def describe(self) -> str:
        """A one-line account for error messages: the command, its exit code, its first error line."""
        first_err = (self.stderr.strip().splitlines() or [""])[0]
        return f"`{shlex.join(self.argv)}` exited {self.rc}" + (f": {first_err}" if first_err else "")


class Executor(Protocol):
    name: str

    def run(self, argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT,
            input: str | None = None) -> Result: ...


def run_local(argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT, input: str | None = None,
              where: str = "this host", cwd: str | os.PathLike | None = None, env: dict | None = None) -> Result:
    """``argv`` on this host, to completion or ``timeout``; a missing tool or a timeout is an
    ``ExecutorError`` (one line), a non-zero exit is the Result's ``rc`` (the caller judges)."""
    argv = tuple(str(a) for a in argv)
    try:
        proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env)
    except FileNotFoundError:
        raise ExecutorError(f"`{argv[0]}` is not installed on {where}; install it (see README: bootstrap)") from None
    except subprocess.TimeoutExpired:
        raise ExecutorError(f"`{shlex.join(argv)}` on {where} did not finish within {timeout:g} s") from None
    return Result(argv, proc.returncode, proc.stdout, proc.stderr)


class LocalExecutor:
    """Runs on the host the suite runs on."""

    def __init__(self, name: str = "local"):
        self.name = name

    def run(self, argv, *, timeout=DEFAULT_TIMEOUT, input=None) -> Result:
        return run_local(argv, timeout=timeout, input=input, where=self.name)


class NetnsExecutor:
    """Runs inside a lab network namespace (``ip netns exec``), as if on that lab node."""

    def __init__(self, netns: str, name: str | None = None):
        self.netns = netns
        self.name = name or netns

    def wrap(self, argv: Sequence[str]) -> list[str]:
        """``argv`` as it runs in the namespace, for a process that keeps running (processes.py)."""
        return ["ip", "netns", "exec", self.netns, *argv]

    def run(self, argv, *, timeout=DEFAULT_TIMEOUT, input=None) -> Result:
        result = run_local(self.wrap(argv), timeout=timeout,
                           input=input, where=f"lab node {self.name}")
        # Report the command as the node ran it, not with the netns wrapper.
        return Result(tuple(argv), result.rc, result.stdout, result.stderr)
