"""Every check is seen failing against the lab profile with its defect, and passing (or reporting
"not configured") against the conformant ones. The expected verdicts are written out here, by
hand, for every profile."""
import pytest

from calico_conformance.lab import profiles
from suite_runner import needs_root, run_suite

CORE = ["EBPF-BPF-ACTIVE", "EBPF-NODEPORT-VXLAN", "EBPF-NODEPORT-MTU", "EBPF-ETP-LOCAL", "EBPF-SOURCE-IP", "EBPF-DSR-DIRECT-RETURN", "EBPF-NO-KUBE-PROXY",
        "EBPF-UNSUPPORTED-VLAN", "EBPF-IPV6-NODEPORT"]
P, F, S = "passed", "failed", "skipped"

EXPECTED = {
    #                            BPF VXLAN MTU ETP SRC-IP DSR KUBE-PROXY VLAN IPV6
    "ebpf-tunnel":               (P, P, P, P, P, S, P, P, S),
    "ebpf-dsr":                  (P, P, P, P, P, P, P, P, S),
    "kube-proxy":                (S, F, P, P, F, S, F, P, S),
    "kube-proxy-real":           (S, F, P, P, F, S, F, P, S),   # run in tests/test_real_apiserver.py
    "ebpf-after-kube-proxy":     (P, P, P, P, P, S, P, P, S),
    "ebpf-dsr-optout":           (P, P, P, P, P, S, P, P, S),
    "ebpf-kube-proxy-coexist":   (P, P, P, P, P, S, P, P, S),
    "ebpf-dual-stack":           (P, P, P, P, P, S, P, P, P),
    "defect-snat":               (P, P, P, P, F, S, P, P, S),
    "defect-snat-some-sources":  (P, P, P, P, F, S, P, P, S),
    "defect-rp-filter":          (P, P, S, P, F, S, P, P, S),
    "defect-mtu-fabric":         (P, P, F, P, P, S, P, P, S),
    "defect-etp-local-ignored":  (P, P, P, F, P, S, P, P, S),
    "defect-bpf-fallback-node":  (F, F, S, P, F, S, P, P, S),
    "defect-no-vxlan":           (P, F, P, P, P, S, P, P, S),
    "defect-vxlan-port":         (P, F, P, P, P, S, P, P, S),
    "defect-vxlan-vni":          (P, F, P, P, P, S, P, P, S),
    "defect-overlay-path":       (P, F, P, P, P, S, P, P, S),
    "defect-dsr-via-ingress":    (P, P, P, P, P, F, P, P, S),
    "defect-kube-proxy-leftover": (P, P, P, P, P, S, F, P, S),
    "defect-kube-proxy-half-removed": (P, P, P, P, P, S, F, P, S),
    "defect-kube-proxy-nft":     (P, P, P, P, P, S, F, P, S),
    "defect-kube-proxy-ipvs":    (P, P, P, P, P, S, F, P, S),
    "defect-ipv6-nodeport":      (P, P, P, P, P, S, P, P, F),
    "defect-tagged-vlan":        (P, P, P, P, P, S, P, F, S),
}


# Profiles with real components run where those are built (tests/test_real_apiserver.py).
EMULATED = [p for p in EXPECTED if not profiles.get(p).real_kube_proxy]


def _assert_expected(profile, result, seen) -> dict:
    core = {cid: seen.get(cid) for cid in CORE}
    assert core == dict(zip(CORE, EXPECTED[profile])), result.stdout.str()[-3000:]
    return core


def test_every_profile_has_expectations():
    assert set(EXPECTED) == set(profiles.PROFILES)


@needs_root
@pytest.mark.parametrize("profile", EMULATED)
def test_profile_gives_exactly_the_expected_verdicts(pytester, profile):
    result, seen = run_suite(pytester, f"--lab-dataplane={profile}")
    core = _assert_expected(profile, result, seen)
    # The profile's own declaration of what it breaks matches what the checks found.
    assert {cid for cid, v in core.items() if v == F} == set(profiles.get(profile).breaks) & set(CORE)


@needs_root
def test_an_opted_out_client_is_reported_as_such(pytester):
    result, _ = run_suite(pytester, "--lab-dataplane=ebpf-dsr-optout", "-rs", select="dsr")
    result.stdout.fnmatch_lines(["*the client 172.31.0.100 is in bpfDSROptoutCIDRs 172.31.0.0/24*"
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
    ("defect-kube-proxy-half-removed", "kube_proxy", ["*KUBE-SEP-CCL4BACKEND0000, KUBE-SVC-CCL4BACKEND0000*"
                                                      "left by design: *KUBE-EXT-CCL4BACKEND0000*"]),
    ("defect-kube-proxy-nft", "kube_proxy", ["*nft table ip kube-proxy*"]),
    ("defect-kube-proxy-ipvs", "kube_proxy", ["*kube-ipvs0 (IPVS dummy device)*"]),
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
