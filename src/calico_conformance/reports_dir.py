"""One run owns one reports directory: a lock file holding the owner's pid (flock, so a killed
run never keeps it), and a fresh start that leaves no earlier report to be read as this run's."""
from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from calico_conformance.vocabulary.errors import UsageError

LOCK_NAME = ".lock"
# What a run writes; an earlier run's copies are removed before this one starts.
REPORT_FILES = ("junit.xml", "report.html", "summary.json", "SUMMARY.md", "nodes.json", "felix.json", "suite.json")


class ReportsLock:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.path = self.root / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> "ReportsLock":
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UsageError(f"cannot use reports directory {self.root}: {exc.strerror}; "
                             "choose another with --reports-dir") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise UsageError(f"reports directory {self.root} is in use by run pid {owner}; wait for "
                             "it to end or pass another --reports-dir") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)      # while still holding it: no one else can own it yet
        os.close(self._fd)
        self._fd = None


def clear_reports(root: Path, evidence: Path | None = None) -> None:
    """Remove an earlier run's reports and captures (only the files a run writes)."""
    for name in REPORT_FILES:
        (Path(root) / name).unlink(missing_ok=True)
    ev = Path(evidence) if evidence else Path(root) / "evidence"
    if ev.is_dir():
        for pcap in ev.rglob("*.pcap"):
            pcap.unlink()
        for sub in sorted((p for p in ev.rglob("*") if p.is_dir()), reverse=True):
            if not any(sub.iterdir()):
                sub.rmdir()
