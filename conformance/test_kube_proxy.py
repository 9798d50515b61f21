"""kube-proxy is gone, or Calico is told not to fight it."""
import pytest

from calico_conformance.probes import kube_proxy
from calico_conformance.probes.verdict import Row, verify
from calico_conformance.support import versions
from calico_conformance.upstream import (FELIX_CLEANS_KUBE_PROXY_IN_NFTABLES_MODE_FROM,
                                         FELIX_REMOVES_KUBE_PROXY_NFT_FROM)


def _release(request, facts) -> tuple[int, int, int] | None:
    """The Calico release the cluster is held to: --calico-version, else the one it runs."""
    return versions.release(request.config.getoption("calico_version") or facts.calico_version)


def _why_felix_left(family: str, felix, release) -> str | None:
    """Why felix, as configured and at this release, does not remove kube-proxy's rules of
    ``family`` (docs/upstream-truths.md, kube-proxy-*), or None where it does."""
    if family == "ipv6" and not felix.ipv6_support:
        return "left by design: felix manages IPv6 rules only with ipv6Support, which is false here"
    if felix.nftables_mode == "Enabled" and release and release < FELIX_CLEANS_KUBE_PROXY_IN_NFTABLES_MODE_FROM:
        return (f"felix v{release[0]}.{release[1]} in nftables mode (NFTablesMode: Enabled) removes none of "
                "kube-proxy's rules; remove them with `kube-proxy --cleanup`, or use v3.31")
    return None


@pytest.mark.check("EBPF-NO-KUBE-PROXY")
def test_kube_proxy_rules_absent_or_tolerated(request, target, facts, evidence):
    """v3.29: "it's necessary to either disable kube-proxy or to configure Calico not to clean up
    kube-proxy's iptables rules." What must be gone is what real felix removes (upstream.py):
    the chains felix leaves on purpose are shown, never failed; IPv6 ones too where felix's IPv6
    support is off (it manages no IPv6 rules then, and an IPv4-only cluster's are empty)."""
    release = _release(request, facts)
    scans = [(node, kube_proxy.inspect(node)) for node in target.nodes()]
    unreadable = [s for _, s in scans if not s.sources]
    if unreadable:
        pytest.skip(f"skipped, because {unreadable[0].node}'s rules cannot be read: {unreadable[0].errors[0]}")
    rows = []
    for node, scan in scans:
        felix = facts.felix_for(node.name)
        where = " + ".join(scan.sources + ["ip link"])
        # The "did see" beside every "must not see": the rules are the node's own.
        rows.append(Row(node.name, "rules read on the node itself",
                        f"its address {node.address} is on {scan.at_node}" if scan.at_node
                        else f"its address {node.address} is on no interface where the rules were read",
                        True if scan.at_node else None, "ip addr"))
        for family in kube_proxy.FAMILIES:
            found = scan.chains[family] + [f"nft table {t}" for t in scan.nft_tables_of(family)]
            if family == "ipv4" and scan.ipvs_device:
                found.append(f"{kube_proxy.IPVS_DEVICE} (IPVS dummy device, which felix never removes)")
            seen = ", ".join(found) if found else "none"
            if scan.leftovers[family]:
                seen += f" (left by design: {', '.join(scan.leftovers[family])})"
            expected = f"no kube-proxy service chains, nft table or IPVS device ({family})"
            if not found:
                rows.append(Row(node.name, expected, seen, True, where))
            elif felix.kube_proxy_iptables_cleanup is False:
                rows.append(Row(node.name, "none, or left alone with bpfKubeProxyIptablesCleanupEnabled: false",
                                f"{seen} (tolerated: Felix told not to clean up)", True, where))
            elif family == "ipv6" and not felix.ipv6_support:
                rows.append(Row(node.name, expected, f"{seen}; {_why_felix_left(family, felix, release)}", True, where))
            else:
                why = _why_felix_left(family, felix, release)
                nft = [t for t in scan.nft_tables_of(family)]
                if nft and release and release < FELIX_REMOVES_KUBE_PROXY_NFT_FROM and not why:
                    why = (f"felix removes kube-proxy's nftables table only from v3.31.4 (this is "
                           f"v{'.'.join(map(str, release))}); delete it with `nft delete table {nft[0]}`")
                rows.append(Row(node.name, expected, seen + (f"; {why}" if why else ""), False, where))
    verify(rows, claim="kube-proxy is gone, or Calico is told not to fight it", evidence=evidence)
