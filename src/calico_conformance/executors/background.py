"""A long-running command on a node, through any ``Executor``: started detached with its output in
a file on the node, stopped with a signal, its file fetched back (base64, so binary survives every
transport). This is how tcpdump runs on kind nodes, agent pods and SSH hosts alike.
"""
from __future__ import annotations

import base64
import binascii
import time
import uuid

from calico_conformance.executor import Executor
from calico_conformance.vocabulary.errors import ExecutorError

# $1 is the log file; the rest is the command, passed as words (no quoting games).
_START = 'log="$1"; shift; nohup "$@" </dev/null >"$log" 2>&1 & echo $!'


class RemoteProcess:
    def __init__(self, executor: Executor, pid: int, log: str, argv: tuple[str, ...]):
        self.executor, self.pid, self.log, self.argv = executor, pid, log, argv

    def alive(self) -> bool:
        # A zombie still answers kill -0; where nothing reaps orphans (a container's PID 1) it stays one.
        check = 'kill -0 "$1" 2>/dev/null && [ "$(cut -d" " -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]'
        return self.executor.run(["sh", "-c", check, "sh", str(self.pid)], timeout=10).rc == 0

    def output(self) -> str:
        return self.executor.run(["cat", self.log], timeout=10).stdout

    def wait_for_output(self, text: str, *, timeout: float = 10.0) -> None:
        """Block until ``text`` shows in the log (tcpdump's "listening on"); fail if it died."""
        deadline = time.monotonic() + timeout
        while True:
            out = self.output()
            if text in out:
                return
            if not self.alive():
                last = (out.strip().splitlines() or ["no output"])[-1]
                remove(self.executor, self.log)      # its one useful line goes into the error
                raise ExecutorError(f"`{self.argv[0]}` on {self.executor.name} exited at start: {last}")
            if time.monotonic() > deadline:
                raise ExecutorError(f"`{self.argv[0]}` on {self.executor.name} did not say {text!r} "
                                    f"within {timeout:g} s")
            time.sleep(0.1)

    def stop(self, *, signal: str = "TERM", timeout: float = 10.0) -> None:
        """Signal the process and wait for it to exit (tcpdump flushes its file on SIGTERM; SIGINT
        would be ignored: a shell starts background jobs with SIGINT ignored)."""
        self.executor.run(["kill", f"-{signal}", str(self.pid)], timeout=10)
        deadline = time.monotonic() + timeout
        while self.alive():
            if time.monotonic() > deadline:
                self.executor.run(["kill", "-KILL", str(self.pid)], timeout=10)
                break
            time.sleep(0.1)


def start(executor: Executor, argv, *, timeout: float = 15.0) -> RemoteProcess:
    argv = tuple(argv)
    log = f"/tmp/cc-{uuid.uuid4().hex[:12]}.log"
    result = executor.run(["sh", "-c", _START, "sh", log, *argv], timeout=timeout)
    pid = result.stdout.strip()
    if not result.succeeded or not pid.isdigit():
        raise ExecutorError(f"could not start `{argv[0]}` on {executor.name}: {result.describe()}")
    return RemoteProcess(executor, int(pid), log, argv)


def fetch(executor: Executor, path: str, *, timeout: float = 60.0) -> bytes:
    """The bytes of a file on the node."""
    result = executor.run(["base64", path], timeout=timeout)
    if not result.succeeded:
        raise ExecutorError(f"cannot read {path} on {executor.name}: {result.describe()}")
    try:
        return base64.b64decode("".join(result.stdout.split()), validate=True)
    except binascii.Error as exc:
        raise ExecutorError(f"{path} on {executor.name} came back damaged: {exc}") from None


def remove(executor: Executor, *paths: str) -> None:
    executor.run(["rm", "-f", *paths], timeout=10)
