"""One holder at a time: an exclusive flock on a file beside what it guards, made with its folder,
released on every exit (the kernel drops it with the process, so a killed holder leaves no lock)."""
from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path

from calico_conformance.vocabulary.errors import UsageError


@contextmanager
def held(path: Path, *, what: str, hint: str):
    """Blocks until ``path`` is ours. ``what`` and ``hint`` make the one line said when it cannot
    be written ("cannot write {what} {folder}: {reason}; {hint}")."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "w")
    except OSError as exc:
        raise UsageError(f"cannot write {what} {path.parent}: {exc.strerror}; {hint}") from None
    with handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
