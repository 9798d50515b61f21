"""Every check is seen failing against the lab profile with its defect, and passing (or reporting
"not configured") against the conformant ones. The expected verdicts are written out here, by
hand, for every profile."""
import pytest
from suite_runner import needs_root, run_suite

from calico_conformance import catalog
from calico_conformance.lab import profiles

P, F, S = "passed", "failed", "skipped"

# What the default profile (ebpf-tunnel) gives each packet check; a new check adds its line here.
BASELINE = {
    "EBPF-BPF-ACTIVE": P,
    "EBPF-NODEPORT-VXLAN": P,
    "EBPF-NODEPORT-MTU": P,
    "EBPF-ETP-LOCAL": P,
    "EBPF-SOURCE-IP": P,
    "EBPF-DSR-DIRECT-RETURN": S,
    "EBPF-NO-KUBE-PROXY": P,
    "EBPF-UNSUPPORTED-VLAN": P,
    "EBPF-IPV6-NODEPORT": S,
}

# Each profile: the checks whose verdict differs from BASELINE, by check ID.
DIFFERENCES = {
    "ebpf-tunnel": {},
    "ebpf-dsr": {"EBPF-DSR-DIRECT-RETURN": P},
    "kube-proxy": {"EBPF-BPF-ACTIVE": S, "EBPF-NODEPORT-VXLAN": F, "EBPF-SOURCE-IP": F, "EBPF-NO-KUBE-PROXY": F},
    "kube-proxy-real": {"EBPF-BPF-ACTIVE": S, "EBPF-NODEPORT-VXLAN": F, "EBPF-SOURCE-IP": F, "EBPF-NO-KUBE-PROXY": F},   # run in tests/test_real_apiserver.py
    "ebpf-after-kube-proxy": {},
    # real felix (tests/test_real_felix.py runs them, for each version it builds)
    "calico-ebpf": {},
    "calico-ebpf-dsr": {"EBPF-DSR-DIRECT-RETURN": P},
    "calico-ebpf-after-kube-proxy": {},
    "calico-ebpf-ipip-pool": {},
    "calico-ebpf-no-encap-pool": {},
    "calico-ebpf-dsr-backend-only": {"EBPF-DSR-DIRECT-RETURN": P},
    "calico-ebpf-dsr-ingress-only": {},
    "calico-ebpf-two-nics": {},
    "calico-ebpf-dual-stack": {"EBPF-IPV6-NODEPORT": P},
    "calico-ebpf-dual-stack-ipv6-off": {"EBPF-IPV6-NODEPORT": F},
    "calico-ebpf-dual-stack-after-kube-proxy": {"EBPF-IPV6-NODEPORT": P},
    "calico-ebpf-nftables-after-kube-proxy": {},      # at v3.31; v3.29 breaks EBPF-NO-KUBE-PROXY (breaks_before)
    "calico-iptables": {"EBPF-BPF-ACTIVE": S, "EBPF-NODEPORT-VXLAN": F, "EBPF-SOURCE-IP": F, "EBPF-NO-KUBE-PROXY": F},
    "ebpf-dsr-optout": {},
    "ebpf-dsr-backend-only": {"EBPF-DSR-DIRECT-RETURN": P},
    "ebpf-dsr-ingress-only": {},
    "ebpf-kube-proxy-coexist": {},
    "ebpf-dual-stack": {"EBPF-IPV6-NODEPORT": P},
    "defect-snat": {"EBPF-SOURCE-IP": F},
    "defect-snat-some-sources": {"EBPF-SOURCE-IP": F},
    "defect-rp-filter": {"EBPF-NODEPORT-MTU": S, "EBPF-SOURCE-IP": F},
    "defect-mtu-fabric": {"EBPF-NODEPORT-MTU": F},
    "defect-etp-local-ignored": {"EBPF-ETP-LOCAL": F},
    "defect-bpf-fallback-node": {"EBPF-BPF-ACTIVE": F, "EBPF-NODEPORT-VXLAN": F, "EBPF-NODEPORT-MTU": S, "EBPF-SOURCE-IP": F},
    "defect-no-vxlan": {"EBPF-NODEPORT-VXLAN": F},
    "defect-vxlan-port": {"EBPF-NODEPORT-VXLAN": F},
    "defect-vxlan-vni": {"EBPF-NODEPORT-VXLAN": F},
    "defect-overlay-path": {"EBPF-NODEPORT-VXLAN": F},
    "defect-dsr-via-ingress": {"EBPF-DSR-DIRECT-RETURN": F},
    "defect-kube-proxy-leftover": {"EBPF-NO-KUBE-PROXY": F},
    "defect-kube-proxy-half-removed": {"EBPF-NO-KUBE-PROXY": F},
    "defect-kube-proxy-nft": {"EBPF-NO-KUBE-PROXY": F},
    "defect-kube-proxy-ipv6-left": {"EBPF-NO-KUBE-PROXY": F},
    "defect-kube-proxy-nftables-mode": {"EBPF-NO-KUBE-PROXY": F},
    "ebpf-ipip-pool": {},
    "ebpf-no-encap-pool": {},
    "ebpf-two-nics": {},
    "defect-mtu-icmp-blocked": {"EBPF-NODEPORT-MTU": F},
    "defect-kube-proxy-ipvs": {"EBPF-NO-KUBE-PROXY": F},
    "defect-ipv6-nodeport": {"EBPF-IPV6-NODEPORT": F},
    "defect-tagged-vlan": {"EBPF-UNSUPPORTED-VLAN": F},
}


def expected(profile: str) -> dict[str, str]:
    return {**BASELINE, **DIFFERENCES[profile]}


# Profiles with real components run where those are built (tests/test_real_apiserver.py,
# tests/test_real_felix.py).
EMULATED = [p for p in DIFFERENCES if not profiles.get(p).real_components]


def _assert_expected(profile, result, seen) -> dict:
    core = {cid: seen.get(cid) for cid in BASELINE}
    assert core == expected(profile), result.stdout.str()[-3000:]
    return core


def test_every_profile_has_expectations():
    assert set(DIFFERENCES) == set(profiles.PROFILES)


def test_expectations_name_every_packet_check_and_no_other():
    assert set(BASELINE) == set(catalog.load())
    assert all(set(diff) <= set(BASELINE) for diff in DIFFERENCES.values())


@needs_root
@pytest.mark.parametrize("profile", EMULATED)
def test_profile_gives_exactly_the_expected_verdicts(pytester, profile):
    result, seen = run_suite(pytester, f"--lab-dataplane={profile}")
    core = _assert_expected(profile, result, seen)
    # The profile's own declaration of what it breaks matches what the checks found.
    assert {cid for cid, v in core.items() if v == F} == set(profiles.get(profile).breaks) & set(BASELINE)


@needs_root
def test_an_opted_out_client_is_reported_as_such(pytester):
    result, _ = run_suite(pytester, "--lab-dataplane=ebpf-dsr-optout", "-rs", select="dsr")
    result.stdout.fnmatch_lines(["*the client 172.31.0.100 is in node2's bpfDSROptoutCIDRs 172.31.0.0/24*"
                                 "Tunnel return path by design*"])


@needs_root
def test_dsr_is_reported_not_configured_under_tunnel_mode(pytester):
    result, _ = run_suite(pytester, "-rs", select="dsr")
    result.stdout.fnmatch_lines(["*not configured: bpfExternalServiceMode is Tunnel*"])


@needs_root
@pytest.mark.parametrize("profile, check, words", [
    ("defect-snat", "source", ["*expected workload reports 172.31.0.100, saw workload reports 10.244.1.0*"]),
    ("defect-no-vxlan", "vxlan", ["*plain 172.31.0.100:* > 10.244.2.10:8080 [[]S] (not encapsulated:*node1/eth0*"]),
    ("defect-vxlan-port", "vxlan", ["*udp/8472 vni 0xca11c0*UDP port 8472 is not vxlanPort 4789*"]),
    ("defect-vxlan-vni", "vxlan", ["*udp/4789 vni 0x1 *VNI 0x1 is not felix's NodePort VNI 0xca11c0*"]),
    ("defect-overlay-path", "vxlan", ["*> 10.244.2.10:8080 [[]S] in VXLAN 172.31.0.11->172.31.0.12 udp/4789 "
                                      "vni 0x1000*DNATed to the pod at node1*kube-proxy's path*"]),
    ("kube-proxy", "vxlan", ["*vni 0x1000*DNATed to the pod at node1*kube-proxy's path*"]),
    ("defect-dsr-via-ingress", "dsr", ["*no direct SYN-ACK leaves node2*"]),
    ("defect-bpf-fallback-node", "bpf_dataplane", ["*expected felix started the BPF dataplane, saw felix fell back "
                                                   "to iptables mode: BPF not supported by the kernel (kernel is "
                                                   "too old (have: 4.19.0 but want at least: 5.3.0))*"]),
    ("defect-etp-local-ignored", "local_traffic_policy", ["*expected not served and not forwarded (node1 has no local "
                                                          "backend), saw served*its SYN left node1 again, in VXLAN*"]),
    ("defect-mtu-fabric", "large_reply", ["*expected a reply of more than 32768 bytes arrives whole, saw * bytes "
                                           "arrived, then TimeoutError*of the reply the pod sent * bytes*"]),
    ("defect-kube-proxy-leftover", "kube_proxy", ["*KUBE-NODEPORTS*KUBE-SERVICES*"]),
    ("defect-kube-proxy-half-removed", "kube_proxy", ["*KUBE-SEP-U54IFXORJ6KN6QC7, KUBE-SVC-KUYMI2MX3DPXZWN5*"
                                                      "left by design: *KUBE-EXT-KUYMI2MX3DPXZWN5*"]),
    ("defect-kube-proxy-nft", "kube_proxy", ["*nft table ip kube-proxy*"]),
    ("defect-kube-proxy-ipvs", "kube_proxy", ["*kube-ipvs0 (IPVS dummy device, which felix never removes)*"]),
    ("defect-tagged-vlan", "vlan", ["*802.1Q vid 100*"]),
    ("defect-ipv6-nodeport", "ipv6", ["*expected workload reports fd00:31::100, saw workload reports no answer*"]),
])
def test_failure_says_what_was_expected_and_seen_where(pytester, profile, check, words):
    result, _ = run_suite(pytester, f"--lab-dataplane={profile}", select=check)
    result.stdout.fnmatch_lines(words)


# An injector that renames node2's uplink: traffic flows as before, but a capture on the
# interface the target names (eth0) sees nothing - the checks must not read that as green.
RENAME_UPLINK = """
import json, subprocess, sys
lab = json.load(sys.stdin)
ns = lab["nodes"][-1]["netns"]
for step in (["link", "set", "eth0", "down"], ["link", "set", "eth0", "name", "eth9"], ["link", "set", "eth9", "up"]):
    subprocess.run(["ip", "-n", ns, *step], check=True)
"""


@needs_root
def test_a_dead_capture_never_reads_as_green(pytester):
    script = pytester.path / "rename.py"
    script.write_text(RENAME_UPLINK)
    import sys
    result, seen = run_suite(pytester, f"--lab-inject={sys.executable} {script}", "-rA")
    assert seen["EBPF-UNSUPPORTED-VLAN"] == F, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["*WRONG*node2/eth0*capture alive*0 frames to 172.31.0.12*"])
    assert seen["EBPF-NODEPORT-VXLAN"] == P      # the ingress capture (node1) is alive
    assert seen["EBPF-SOURCE-IP"] == P           # the workload and pod-side capture still speak


@needs_root
def test_ipv6_nodeport_is_not_required_of_versions_without_ipv6(pytester):
    result, seen = run_suite(pytester, "--lab-dataplane=ebpf-dual-stack", "--calico-version=v3.26", "-rs")
    assert seen["EBPF-IPV6-NODEPORT"] == S and seen["SUP-IPV6"] == F, result.stdout.str()[-3000:]
    result.stdout.fnmatch_lines(["*unsupported: IPv6 in eBPF mode came with v3.27 (GA v3.28)*"])


@needs_root
@pytest.mark.parametrize("profile", EMULATED)
def test_tcpdump_capture_gives_the_same_verdicts(pytester, profile):
    """Captured the way real targets capture (tcpdump -w in the node, pcap read back, direction
    from the interface's MAC), every profile gives the verdicts of the lab's own capture."""
    result, seen = run_suite(pytester, f"--lab-dataplane={profile}", "--lab-capture=tcpdump")
    _assert_expected(profile, result, seen)


@needs_root
@pytest.mark.parametrize("version, words", [
    ("v3.29.7", "*felix v3.29 in nftables mode (NFTablesMode: Enabled) removes none of kube-proxy's rules*"),
    ("v3.30", "*felix v3.30 in nftables mode*"),
    ("v3.31.7", "*KUBE-NODEPORTS, KUBE-SERVICES*"),
])
def test_nftables_mode_leftovers_are_explained_per_version(pytester, version, words):
    """felix v3.29 and v3.30 in nftables mode clean nothing of kube-proxy, v3.31 does: the same
    leftovers fail everywhere, and the reason names felix's own behaviour where that is why."""
    result, seen = run_suite(pytester, "--lab-dataplane=defect-kube-proxy-nftables-mode", f"--calico-version={version}",
                             select="kube_proxy")
    assert seen["EBPF-NO-KUBE-PROXY"] == F, result.stdout.str()[-2000:]
    result.stdout.fnmatch_lines([words])
    if version.startswith("v3.31"):
        assert "nftables mode" not in result.stdout.str()
