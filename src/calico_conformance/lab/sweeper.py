"""Nothing left behind: every lab namespace is registered before it exists and removed on any
exit (normal end, exception, Ctrl-C, SIGTERM, interpreter exit). Namespaces of runs that died
hard (SIGKILL) carry their pid in the name and are swept by the next run or by
``calico-conformance cleanup``.
"""
from __future__ import annotations

import atexit
import os

from calico_conformance import netns
from calico_conformance.executor import run_local
from calico_conformance.lab.topology import PREFIX
from calico_conformance.vocabulary.errors import ExecutorError

_live: set[str] = set()


def register(names) -> None:
    _live.update(names)


def unregister(names) -> None:
    _live.difference_update(names)


def delete(names) -> None:
    present = [n for n in names if netns.exists(n)]
    if present:
        # -force: carry on past a namespace that vanished meanwhile.
        try:
            run_local(["ip", "-force", "-batch", "-"], input="".join(f"netns del {n}\n" for n in present),
                      timeout=30)
        except ExecutorError:     # at exit, with nothing left to report to: the next run sweeps
            pass


def _owner_pid(name: str) -> int | None:
    parts = name.split("-")
    if len(parts) >= 3 and parts[0] == PREFIX and parts[1].isdigit():
        return int(parts[1])
    return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stale() -> list[str]:
    return [n for n in netns.list_all()
            if (pid := _owner_pid(n)) is not None and pid != os.getpid() and not alive(pid)]


def sweep_stale() -> list[str]:
    names = stale()
    delete(names)
    return names


def all_lab_namespaces() -> list[str]:
    return [n for n in netns.list_all() if _owner_pid(n) is not None]


@atexit.register
def _at_exit() -> None:
    if _live:
        delete(sorted(_live))
        _live.clear()
