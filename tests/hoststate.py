"""What a lab run could change on the host itself, read before and after: BPF programs on the
host's own interfaces (tc and TCX), what is attached to the host's cgroups, the cgroups the lab
makes, the mounts and files felix would use, and the one host-wide sysctl felix writes. What
another run still alive owns (cgroups named cclab-<its pid>-..., its namespaces' mounts) is left
out: tests may run while other runs of the suite use the machine."""
from __future__ import annotations

import os
import re
from pathlib import Path

from calico_conformance.executor import run_local
from calico_conformance.lab import bpfattach
from calico_conformance.lab.realfelix import cgroup2_root

FELIX_PATHS = ("/usr/lib/calico", "/var/lib/calico", "/run/calico", "/var/run/calico", "/var/log/calico")


def snapshot(run_pid: int | None = None) -> dict:
    root = cgroup2_root()
    mounts = sorted(line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()
                    if not line.split()[4].startswith("/run/netns/"))     # other runs' namespaces come and go
    return {
        "host interface programs": bpfattach.attachments(None),
        "cgroup programs": _without_live_runs(run_local(["bpftool", "cgroup", "tree", str(root)], timeout=30).stdout),
        "lab cgroups": sorted(p.name for p in root.glob("cclab-*")
                              if (p.name.startswith(f"cclab-{run_pid}-") if run_pid else not _live_run(p.name))),
        "mounts": mounts,
        "felix paths": {p: os.path.exists(p) for p in FELIX_PATHS},
        "kernel.unprivileged_bpf_disabled": Path("/proc/sys/kernel/unprivileged_bpf_disabled").read_text().strip(),
    }


def _live_run(name: str) -> bool:
    """A lab cgroup (or a path in one) of a run whose process still lives, not this test's own."""
    found = re.search(r"cclab-(\d+)-", name)
    return bool(found) and os.path.exists(f"/proc/{found.group(1)}")


def _without_live_runs(tree: str) -> str:
    """`bpftool cgroup tree` without the blocks of live runs' cgroups (a path line, then its
    programs indented below it)."""
    kept, skipping = [], False
    for line in tree.splitlines():
        if line.startswith("/"):
            skipping = _live_run(line)
        if not skipping:
            kept.append(line)
    return "\n".join(kept)


def changes(before: dict, after: dict) -> dict:
    return {key: (before[key], after[key]) for key in before if before[key] != after[key]}
