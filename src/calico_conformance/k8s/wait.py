"""Waiting with a deadline and progress lines: a check function is called until it says done; a
line is printed when what it reports changes (and every ``heartbeat`` seconds), and the timeout
error names what was still not right."""
from __future__ import annotations

import sys
import time
from typing import Callable

from calico_conformance.vocabulary.errors import TargetError


def stderr_progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def wait_until(check: Callable[[], tuple[bool, str]], *, what: str, timeout: float,
               interval: float = 2.0, heartbeat: float = 15.0,
               progress: Callable[[str], None] | None = stderr_progress) -> str:
    """Call ``check`` until it returns (True, status). Returns the last status."""
    started = time.monotonic()
    last, last_print = None, 0.0
    while True:
        done, status = check()
        elapsed = time.monotonic() - started
        if progress and (status != last or elapsed - last_print >= heartbeat):
            progress(f"waiting for {what}: {status} ({elapsed:.0f} s / {timeout:g} s)")
            last, last_print = status, elapsed
        if done:
            return status
        if elapsed + interval > timeout:
            raise TargetError(f"timed out after {timeout:g} s waiting for {what}: {status}")
        time.sleep(interval)
