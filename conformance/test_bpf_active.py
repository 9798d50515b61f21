"""Felix really runs the eBPF dataplane on every node: it says so in its log, and says so when it
falls back (docs/upstream-truths.md, bpf-mode-reporting)."""
import pytest

from calico_conformance.k8s import felix_log
from calico_conformance.probes.verdict import Row, verify
from calico_conformance.upstream import FELIX_BPF_STARTED_LOG


@pytest.mark.check("EBPF-BPF-ACTIVE")
def test_felix_runs_the_bpf_dataplane_on_every_node(target, felix_bpf, evidence):
    """v3.29 and older: the eBPF dataplane needs a supported kernel (5.3+, or 4.18 on RHEL); felix
    on a node that lacks it logs "BPF dataplane mode enabled but not supported by the kernel" and
    runs iptables mode there, silently for everything but its log."""
    if felix_bpf == "bpfEnabled is false":
        pytest.skip("not configured: bpfEnabled is false, so felix runs the standard dataplane by choice")
    if isinstance(felix_bpf, str):
        pytest.skip(f"skipped, because {felix_bpf}")
    rows = []
    for node in target.nodes():
        state, where = felix_bpf.get(node.name), f"felix log on {node.name}"
        if state is not None and state.fallback:
            why = felix_log.reason(state.fallback)
            rows.append(Row(node.name, "felix started the BPF dataplane",
                            "felix fell back to iptables mode: BPF not supported by the kernel"
                            + (f" ({why})" if why else ""), False, where))
        elif state is not None and state.started:
            rows.append(Row(node.name, "felix started the BPF dataplane",
                            f'felix logged "{FELIX_BPF_STARTED_LOG}"', True, where))
        else:
            # Neither line: the log was rotated (or there is none). No line is no proof either way.
            rows.append(Row(node.name, "felix started the BPF dataplane",
                            "no felix log for this node" if state is None else "its log no longer holds felix's "
                            "start-up lines (rotated, or the pod restarted long ago)", None, where))
    verify(rows, claim="Felix runs the eBPF dataplane on every node", evidence=evidence)
