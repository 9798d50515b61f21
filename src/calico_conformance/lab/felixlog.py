"""The lab's stand-in for each node's felix log: the lines real felix writes about BPF mode
(upstream.FELIX_BPF_STARTED_LOG / FELIX_BPF_UNSUPPORTED_LOG), in libcalico-go's layout, at the
source lines of v3.29.7 (felix prints them). A node whose kernel felix cannot use logs the
fallback with the reason felix gives; a cluster with bpfEnabled false logs neither.
"""
from __future__ import annotations

import re
import time

from calico_conformance.lab.profiles import Profile
from calico_conformance.lab.topology import Topology
from calico_conformance.upstream import FELIX_BPF_STARTED_LOG, FELIX_BPF_UNSUPPORTED_LOG

OLD_KERNEL = "4.19.0-27-amd64"      # Debian 10's: below felix's 5.3.0 minimum for non-RHEL kernels


def _line(level: str, where: str, message: str) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S.000", time.gmtime())
    return f"{stamp} [{level}][63] {where}: {message}"


def node_log(profile: Profile, node: str) -> str:
    lines = [_line("INFO", "felix/daemon.go 383", "Felix starting up")]
    if profile.felix.bpf_enabled and node in profile.bpf_unsupported_nodes:
        lines.append(_line("ERROR", "felix/daemon.go 368", f"{FELIX_BPF_UNSUPPORTED_LOG} error=kernel is too old "
                                                          "(have: 4.19.0 but want at least: 5.3.0)"))
    elif profile.felix.bpf_enabled:
        lines.append(_line("INFO", "felix/int_dataplane.go 794", FELIX_BPF_STARTED_LOG))
    return "\n".join(lines) + "\n"


def logs(topo: Topology, profile: Profile) -> dict[str, str]:
    return {n.name: node_log(profile, n.name) for n in topo.nodes}


def kernel_of(profile: Profile, node: str, host_kernel: str) -> str:
    """The kernel a node reports: the host's, or an old one where the profile says so."""
    return OLD_KERNEL if node in profile.bpf_unsupported_nodes else host_kernel


def reported_version(log: str) -> str | None:
    """The version felix states in its start-up line (felix/daemon/daemon.go: "Felix starting up
    ... version=\"v3.29.7\"")."""
    found = re.search(r'Felix starting up.* version="?([^"\s]+)', log)
    return found.group(1) if found else None
