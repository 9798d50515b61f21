"""Which etcd the control plane runs: one built into the cache, else the system's (Debian's
etcd-server 3.4.23 is accepted by kube-apiserver 1.30), if new enough."""
from __future__ import annotations

import re
import shutil

from calico_conformance.executor import run_local
from calico_conformance.realk8s import versions
from calico_conformance.realk8s.cache import Cache
from calico_conformance.vocabulary.errors import ExecutorError


def system_etcd() -> tuple[str, str] | None:
    """(path, version) of an etcd on PATH that is new enough, else None."""
    path = shutil.which("etcd")
    if not path:
        return None
    try:
        out = run_local([path, "--version"], timeout=20).stdout
    except ExecutorError:
        return None
    match = re.search(r"etcd Version:\s*(\d+)\.(\d+)\.(\d+)", out)
    if not match or tuple(map(int, match.groups()[:2])) < versions.ETCD_MIN_SYSTEM:
        return None
    return path, ".".join(match.groups())


def find(cache: Cache) -> str | None:
    built = cache.binary("etcd", versions.ETCD)
    if built.is_file():
        return str(built)
    found = system_etcd()
    return found[0] if found else None
