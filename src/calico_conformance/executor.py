"""One way to run a command on a node, whatever the node is (testinfra's model, with argv lists
and a timeout always).

Each transport is small: local, a lab network namespace here; docker exec, kubectl exec and SSH
live in ``calico_conformance.executors``. Checks only ever see ``Executor.run``.
"""
from __future__ import annotations

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


def run_local(argv: Sequence[str], *, timeout: float = DEFAULT_TIMEOUT,
              input: str | None = None, where: str = "this host") -> Result:
    argv = tuple(argv)
    try:
        proc = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout)
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

    def run(self, argv, *, timeout=DEFAULT_TIMEOUT, input=None) -> Result:
        result = run_local(["ip", "netns", "exec", self.netns, *argv], timeout=timeout,
                           input=input, where=f"lab node {self.name}")
        # Report the command as the node ran it, not with the netns wrapper.
        return Result(tuple(argv), result.rc, result.stdout, result.stderr)
