"""Felix really runs the eBPF dataplane on every node: it says so in its log, and says so when it
falls back (docs/upstream-truths.md, bpf-mode-reporting)."""
import pytest

from calico_conformance.k8s import felix_log
from calico_conformance.probes.verdict import Row, verify
from calico_conformance.upstream import FELIX_BPF_STARTED_LOG
from calico_conformance.vocabulary.errors import TargetError, UsageError


@pytest.mark.check("EBPF-BPF-ACTIVE")
def test_felix_runs_the_bpf_dataplane_on_every_node(target, facts, evidence):
    """v3.29 and older: the eBPF dataplane needs a supported kernel (5.3+, or 4.18 on RHEL); felix
    on a node that lacks it logs "BPF dataplane mode enabled but not supported by the kernel" and
    runs iptables mode there, silently for everything but its log."""
    if facts.felix.bpf_enabled is False:
        pytest.skip("not configured: bpfEnabled is false, so felix runs the standard dataplane by choice")
    try:
        logs = target.felix_logs()
    except (TargetError, UsageError) as exc:
        pytest.skip(f"skipped, because felix's logs cannot be read: {exc}")
    if logs is None:
        pytest.skip(f"skipped, because the {target.name} target gives no access to felix's logs "
                    "(calico-node pod logs through the API)")
    rows, unjudged = [], []
    for node in target.nodes():
        state = felix_log.bpf_state(logs.get(node.name, ""))
        where = f"felix log on {node.name}"
        if state.fallback:
            why = felix_log.reason(state.fallback)
            rows.append(Row(node.name, "felix started the BPF dataplane",
                            "felix fell back to iptables mode: BPF not supported by the kernel"
                            + (f" ({why})" if why else ""), False, where))
        elif state.started:
            rows.append(Row(node.name, "felix started the BPF dataplane",
                            f'felix logged "{FELIX_BPF_STARTED_LOG}"', True, where))
        else:
            unjudged.append(node.name if node.name in logs else f"{node.name} (no log)")
    if unjudged:
        evidence.text("not judged", "No start-up line in felix's log (rotated, or the pod restarted "
                      f"long ago): {', '.join(unjudged)}")
    if not rows:
        pytest.skip("skipped, because no node's felix log still holds its start-up lines (rotated "
                    "logs, or no calico-node pods): restart calico-node, or run `calico-node -bpf "
                    "ifstate dump` on each node")
    evidence.verdict("verdict", verify(rows, claim="Felix runs the eBPF dataplane on every node"))
