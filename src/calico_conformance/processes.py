"""Long-running processes the suite starts (etcd, kube-apiserver, kube-proxy, felix, sshd, a
user's fault injector), ended on every exit. Commands that run to completion go through
``executor`` instead; this is its twin for what keeps running.

The context managers and ``stop()`` end them; atexit and SIGTERM/SIGHUP stop whatever is still
running; and each is started under ``setpriv --pdeathsig``, so even a SIGKILLed run takes its
processes with it (the kernel signals them when the thread that started them dies)."""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Sequence

from calico_conformance.vocabulary.errors import ExecutorError

_live: list["Process"] = []
_lock = threading.Lock()


class Process:
    """``argv`` started in a session of its own, its output in ``log``. ``stdin``: text written to
    it, then closed (the process may ignore it). ``death_signal``: what the kernel sends it when
    its parent dies (KILL; TERM for servers that clean up after themselves)."""

    def __init__(self, name: str, argv: Sequence[str], log: Path, *, env: dict | None = None,
                 stdin: str | None = None, death_signal: str = "KILL", cwd: Path | None = None):
        self.name, self.log = name, Path(log)
        wrap = ["setpriv", "--pdeathsig", death_signal, "--"] if shutil.which("setpriv") else []
        try:
            with open(self.log, "ab") as out:
                self.proc = subprocess.Popen([*wrap, *argv], stdout=out, stderr=subprocess.STDOUT,
                                             stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                             env=env, cwd=cwd, start_new_session=True, text=stdin is not None)
        except FileNotFoundError:
            raise ExecutorError(f"`{argv[0]}` is not installed on this host; run ./bootstrap") from None
        with _lock:
            _live.append(self)
        if stdin is not None:
            try:
                self.proc.stdin.write(stdin)
            except BrokenPipeError:       # it did not read its input; its exit status still counts
                pass
            finally:
                try:
                    self.proc.stdin.close()
                except BrokenPipeError:
                    pass

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return not self._reaped(0)

    def wait(self, timeout: float) -> int:
        """Its exit code; ``ExecutorError`` if it is still running after ``timeout`` seconds."""
        if not self._reaped(timeout):
            raise ExecutorError(f"{self.name} did not finish within {timeout:g} s")
        return self.proc.returncode

    def _reaped(self, timeout: float) -> bool:
        """Whether it has ended (reaped, its exit code in ``proc.returncode``), waiting up to
        ``timeout`` s. Not Popen.wait/poll: a Ctrl-C landing between their taking of Popen's
        internal lock and their ``try`` leaves the lock held (CPython 3.11), and every later wait
        then times out whether the process lives or not (seen: a run interrupted while it waited
        for its --lab-inject program ended in an internal error, not "interrupted")."""
        deadline = time.monotonic() + timeout
        while self.proc.returncode is None:
            try:
                pid, status = os.waitpid(self.proc.pid, os.WNOHANG)
            except ChildProcessError:        # reaped elsewhere: its status is gone
                self.proc.returncode = 0
                break
            if pid:
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def last_log_line(self) -> str:
        try:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "no log"
        return lines[-1][:400] if lines else "no output"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to its process group, SIGKILL after ``timeout``; reaped either way. What it left
        running in its group (a background job of a shell) goes too, even after it exited."""
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                break
            if self._reaped(wait):
                if sig == signal.SIGTERM:
                    try:
                        os.killpg(self.proc.pid, signal.SIGKILL)    # whatever of its group is left
                    except (ProcessLookupError, PermissionError):
                        pass
                break
        self._reaped(5.0)
        with _lock:
            if self in _live:
                _live.remove(self)


def stop_all() -> None:
    for proc in reversed(list(_live)):
        proc.stop(timeout=5.0)


atexit.register(stop_all)


def _on_signal(signum, frame):
    # Unwind: context managers' __exit__ and atexit run, so processes and directories go.
    raise SystemExit(128 + signum)


def handle_signals() -> None:
    """SIGTERM and SIGHUP unwind like Ctrl-C, unless someone (the pytest plugin) already handles them."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(sig) in (signal.SIG_DFL, None):
            signal.signal(sig, _on_signal)
