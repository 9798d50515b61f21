"""Processes the real-Kubernetes lab starts (etcd, kube-apiserver, kube-proxy), ended on every
exit: the context managers stop them; atexit and SIGTERM/SIGHUP stop whatever is still running;
and each is started under ``setpriv --pdeathsig KILL``, so even a SIGKILLed run takes its
processes with it (the kernel sends them SIGKILL when the thread that started them dies)."""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import threading
from pathlib import Path

_live: list["Process"] = []
_lock = threading.Lock()


class Process:
    def __init__(self, name: str, argv: list[str], log: Path, *, env: dict | None = None,
                 preexec: list[str] | None = None):
        self.name, self.log = name, log
        wrap = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []
        with open(log, "ab") as out:
            self.proc = subprocess.Popen([*(preexec or []), *wrap, *argv], stdout=out, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=env, start_new_session=True)
        with _lock:
            _live.append(self)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def last_log_line(self) -> str:
        try:
            lines = [ln for ln in self.log.read_text(errors="replace").splitlines() if ln.strip()]
        except OSError:
            return "no log"
        return lines[-1][:400] if lines else "no output"

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM to its process group, SIGKILL after ``timeout``; reaped either way."""
        if self.alive():
            for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(self.proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
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
