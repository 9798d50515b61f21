"""kube-proxy is gone, or Calico is told not to fight it."""
import pytest

from calico_conformance.probes import kube_proxy
from calico_conformance.probes.verdict import Row, verify


def _found(scan) -> list[str]:
    found = scan.chains + [f"nft table {t}" for t in scan.nft_tables]
    if scan.ipvs_device:
        found.append(f"{kube_proxy.IPVS_DEVICE} (IPVS dummy device)")
    return found


@pytest.mark.check("EBPF-NO-KUBE-PROXY")
def test_kube_proxy_rules_absent_or_tolerated(target, facts, evidence):
    """v3.29: "it's necessary to either disable kube-proxy or to configure Calico not to clean up
    kube-proxy's iptables rules." What must be gone is what real felix removes (upstream.py):
    the chains felix leaves on purpose are shown, never failed."""
    tolerated = facts.felix.kube_proxy_iptables_cleanup is False
    scans = [kube_proxy.inspect(node) for node in target.nodes()]
    unreadable = [s for s in scans if not s.sources]
    if unreadable:
        pytest.skip(f"cannot inspect {unreadable[0].node}'s rules, because {unreadable[0].errors[0]}")
    rows = []
    for scan in scans:
        found = _found(scan)
        seen = ", ".join(found) if found else "none"
        if scan.leftovers:
            seen += f" (left by design: {', '.join(scan.leftovers)})"
        where = " + ".join(scan.sources + ["ip link"])
        if found and tolerated:
            rows.append(Row(scan.node, "none, or left alone with bpfKubeProxyIptablesCleanupEnabled: false",
                            f"{seen} (tolerated: Felix told not to clean up)", True, where))
        else:
            rows.append(Row(scan.node, "no kube-proxy service chains, nft table or IPVS device", seen,
                            not found, where))
    evidence.verdict("verdict", verify(rows, claim="kube-proxy is gone, or Calico is told not to fight it"))
