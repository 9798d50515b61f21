"""A client inside the cluster (docs/upstream-truths.md, row connect-time-lb): with Calico's
connect-time load balancing its NodePort connections go straight to the pod, so the NodePort
checks cannot see forwarding or the client's address. They skip and say why; nothing fails."""
import pytest

from suite_runner import needs_root, run_suite

NODEPORT_CHECKS = ["EBPF-NODEPORT-VXLAN", "EBPF-SOURCE-IP", "EBPF-DSR-DIRECT-RETURN", "EBPF-IPV6-NODEPORT"]


@needs_root
@pytest.mark.parametrize("profile", ["ebpf-tunnel", "ebpf-dsr", "ebpf-dual-stack"])
def test_a_client_on_a_node_makes_the_nodeport_checks_skip_with_the_reason(pytester, profile):
    result, seen = run_suite(pytester, "--lab-client=node1", f"--lab-dataplane={profile}", "-rs")
    assert {cid: seen[cid] for cid in NODEPORT_CHECKS} == dict.fromkeys(NODEPORT_CHECKS, "skipped")
    assert "failed" not in seen.values() and "error" not in seen.values(), result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["*the client (172.31.0.11) is cluster node node1: Calico's connect-time "
                                 "load balancing*run the suite from a machine outside the cluster*"])


@needs_root
def test_the_client_node_really_reaches_the_pod_directly(pytester):
    """The emulation is what the row says: the connection lands on the pod with one of node1's own
    addresses as source (its uplink's, which the client binds, or its tunnel address)."""
    from calico_conformance.lab.topology import LabSpec
    from calico_conformance.targets.lab import LabTarget
    from calico_conformance.lab import profiles
    target = LabTarget(LabSpec(), profiles.get("ebpf-tunnel"), client="node1").up()
    try:
        ex = target.external_client().http_get("172.31.0.12", 30080)
        assert ex.ok and ex.reported_client in ("172.31.0.11", "10.244.1.0")
    finally:
        target.close()


@needs_root
def test_a_client_on_a_node_still_catches_a_vlan_trunk(pytester):
    _, seen = run_suite(pytester, "--lab-client=node1", "--lab-dataplane=defect-tagged-vlan")
    assert seen["EBPF-UNSUPPORTED-VLAN"] == "failed"


def test_an_unknown_client_node_is_a_usage_error(pytester):
    result = pytester.runpytest_subprocess("--lab-client=node7", str(__import__("suite_runner").SUITE))
    assert result.ret in (2, 4)
    assert "--lab-client node7: no such lab node" in result.stdout.str() + result.stderr.str()
