"""Dataplane profiles of the reference lab: what each emulates, as a few knobs.

The conformant profiles emulate what the source documents promise of Calico's eBPF dataplane
(and one kube-proxy cluster). Each ``defect-*`` profile is a conformant one with exactly one
thing wrong, so that the project's own tests can show each check failing for its reason.
``breaks`` lists the check IDs the profile is built to break; it documents intent, the checks
never read it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from calico_conformance.lab.topology import Topology
from calico_conformance.realcalico import versions
from calico_conformance.vocabulary.errors import UsageError
from calico_conformance.vocabulary.facts import FelixSettings

FABRIC_MTU = 1500    # what the lab's fabric (the bridge's ports) carries, in every profile


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    service_mode: str = "tunnel"          # tunnel | dsr | kube-proxy (how NodePort is served)
    # How NodePort traffic reaches the backend's node: bpf-tunnel (felix's own: the packet as it
    # came, in VXLAN with VNI 0xca11c0 out of eth0), overlay (DNAT at the ingress node, routed
    # through vxlan.calico with vxlanVNI: kube-proxy's path) or direct (DNAT, no encapsulation).
    forward: str = "bpf-tunnel"
    wire_vxlan_port: int | None = None    # what the devices really use, if not what Felix says
    wire_vxlan_vni: int | None = None
    snat_forwarded: bool = False          # masquerade NodePort traffic forwarded to another node
    snat_sources: str | None = None       # ... only traffic from this source range (a partial SNAT)
    strict_rp_filter: bool = False        # rp_filter 1 on the backend's node: asymmetric paths dropped
    # The nodes' uplink MTU, from which Calico derives the pod's and felix's tunnel MTU (less 50
    # for VXLAN). The fabric between the nodes always carries FABRIC_MTU: a defect gives the
    # nodes jumbo frames it cannot carry
    uplink_mtu: int = FABRIC_MTU
    # The IP pool's encapsulation (VXLAN, IPIP, None): it sets the pod's MTU; NodePort traffic is
    # forwarded in felix's own VXLAN whatever it is
    pool_encapsulation: str = "VXLAN"
    drop_icmp_too_big: bool = False       # the backend's node drops ICMP "fragmentation needed" to the pod
    # The pod sends TCP as GSO super-frames (veth's default). felix exempts TCP GSO packets from its
    # tunnel's too-big check (tc.c ~808 @ v3.29.7): they cross whole, segmented to fit; off (TSO
    # and GSO off in the pod), each full-size packet is checked and answered with ICMP
    pod_gso: bool = True
    # Nodes with a second NIC (eth1) on a node-to-node network, where Calico's node address lives
    # (projectcalico.org/IPv4Address): the client reaches the InternalIP on eth0, felix's FIB
    # lookup sends the NodePort tunnel out of eth1
    second_nic: bool = False
    # externalTrafficPolicy: Local served as Kubernetes and felix mean it (only by a node with a
    # local backend; others answer ICMP port unreachable); a defect forwards it as Cluster
    etp_local_ignored: bool = False
    # nodes whose kernel felix cannot use (older than 5.3): felix logs the fallback and runs
    # iptables mode, and with kube-proxy gone nothing serves NodePort there
    bpf_unsupported_nodes: tuple[str, ...] = ()
    # none | active (kube-proxy runs) | felix-cleaned (what felix leaves after its clean-up) |
    # leftover (service chains left, unhooked) | half-removed | nft-leftover (nftables mode table)
    kube_proxy_rules: str = "none"
    kube_proxy_rules6: str | None = None  # kube-proxy's IPv6 state where it differs (None: what the IPv4 one implies)
    ipvs_device: bool = False             # kube-proxy's IPVS dummy device kube-ipvs0 is left
    tagged_vlan_trunk: bool = False       # the fabric delivers node traffic 802.1Q-tagged
    ipv6: bool = False                    # dual-stack: IPv6 fabric, pods and NodePort too
    # felix's settings: eBPF, and IPv6 support off as the operator and the manifests set it on a
    # cluster without an IPv6 pool (dual-stack profiles turn it on)
    felix: FelixSettings = field(default_factory=lambda: FelixSettings(bpf_enabled=True, ipv6_support=False))
    # FelixConfiguration node.<name> for one node, by its role ("ingress", "backend"): where
    # nodes disagree (felix reads node.<name> over default)
    node_felix: tuple[tuple[str, FelixSettings], ...] = ()
    linux_dataplane: str = "BPF"          # Installation spec.calicoNetwork.linuxDataplane
    breaks: tuple[str, ...] = ()
    # a real-felix profile whose verdicts depend on felix's version: (the first minor release that
    # no longer breaks them, what felix before it breaks), e.g. ("v3.31", ("EBPF-NO-KUBE-PROXY",))
    breaks_before: tuple[str, tuple[str, ...]] | None = None
    # real kube-proxy v1.30 on every node against a real API server, in place of the emulated
    # chains (lab/realkubeproxy.py): "" (none), "running", or "stopped" (it programmed the nodes
    # and was removed before felix started: the documents' switch-over)
    real_kube_proxy: str = ""
    # real felix (lab/realfelix.py), built from Calico's source, in place of the emulated
    # dataplane: the profile's felix settings become its FelixConfiguration
    real_felix: bool = False

    def breaks_with(self, felix_tag: str | None) -> tuple[str, ...]:
        """The checks this profile breaks when felix ``felix_tag`` (v3.29.7, ...) runs it."""
        if self.breaks_before and felix_tag and versions.numbers(felix_tag)[:2] < versions.numbers(self.breaks_before[0])[:2]:
            return self.breaks + self.breaks_before[1]
        return self.breaks

    @property
    def real_components(self) -> tuple[str, ...]:
        """What `calico-conformance lab build` must have built for this profile (none: emulated)."""
        needed = ("kube-apiserver",) if self.real_kube_proxy or self.real_felix else ()
        return needed + (("kube-proxy",) if self.real_kube_proxy else ()) + (("felix",) if self.real_felix else ())


_BPF = FelixSettings(bpf_enabled=True, ipv6_support=False)
_IPTABLES = FelixSettings(bpf_enabled=False, ipv6_support=False)
_TUNNEL = Profile(
    name="ebpf-tunnel",
    summary="eBPF, bpfExternalServiceMode Tunnel: NodePort forwarded over VXLAN, client IP kept, "
            "reply back through the ingress node")

PROFILES: dict[str, Profile] = {p.name: p for p in [
    _TUNNEL,
    Profile(name="ebpf-dsr", service_mode="dsr",
            felix=replace(_BPF, external_service_mode="DSR"),
            summary="eBPF, bpfExternalServiceMode DSR: forwarded over VXLAN, the reply leaves the "
                    "backend's node directly with the NodePort address as source"),
    Profile(name="ebpf-dsr-optout", felix=replace(_BPF, external_service_mode="DSR",
                                                  dsr_optout_cidrs=("172.31.0.0/24",)),
            summary="eBPF DSR, but the client's range is in bpfDSROptoutCIDRs: felix gives it the "
                    "Tunnel return path by design, and the DSR check says so [truth: dsr-optout]"),
    replace(_TUNNEL, name="ebpf-ipip-pool", pool_encapsulation="IPIP",
            summary="eBPF tunnel with an IPIP pool: pods get the host MTU less 20, NodePort traffic still goes "
                    "in felix's own VXLAN (vxlanMTU); the pod's TCP GSO replies are exempt from its too-big "
                    "check and cross whole, segmented to fit [truth: nodeport-any-pool]"),
    replace(_TUNNEL, name="ebpf-no-encap-pool", pool_encapsulation="None",
            summary="eBPF tunnel with an unencapsulated pool: pods get the host MTU, NodePort traffic still goes "
                    "in felix's own VXLAN [truth: nodeport-any-pool]"),
    replace(_TUNNEL, name="ebpf-two-nics", second_nic=True,
            summary="eBPF tunnel on nodes with two NICs: clients reach the InternalIP on eth0, Calico's node "
                    "address is on eth1, so the NodePort tunnel leaves and arrives on eth1, where felix's FIB "
                    "lookup sends it [truth: nodeport-fib-egress]"),
    Profile(name="ebpf-after-kube-proxy", kube_proxy_rules="felix-cleaned",
            summary="eBPF tunnel after the switch-over: kube-proxy was stopped and felix cleaned up "
                    "its rules, leaving what real felix leaves (KUBE-MARK-*, KUBE-POSTROUTING, "
                    "KUBE-PROXY-CANARY, KUBE-PROXY-FIREWALL, KUBE-EXT-* with their masquerade rules, an empty "
                    "KUBE-SVL-* on the backend's node, kubelet's chains; profile calico-ebpf-after-kube-proxy "
                    "shows real felix doing it)"),
    Profile(name="kube-proxy", service_mode="kube-proxy", kube_proxy_rules="active", forward="overlay",
            felix=_IPTABLES, linux_dataplane="Iptables",
            summary="standard dataplane with kube-proxy (iptables): DNAT + masquerade at the "
                    "ingress node, routed through vxlan.calico, so the backend sees the node's "
                    "tunnel address [truth: nodeport-inner-not-dnated]",
            breaks=("EBPF-NODEPORT-VXLAN", "EBPF-SOURCE-IP", "EBPF-NO-KUBE-PROXY")),
    Profile(name="kube-proxy-real", service_mode="kube-proxy", kube_proxy_rules="active", forward="overlay",
            felix=_IPTABLES, linux_dataplane="Iptables", real_kube_proxy="running",
            summary="standard dataplane with real kube-proxy v1.30 (iptables mode) on every node, "
                    "fed by a real kube-apiserver (Nodes, NodePort Service, EndpointSlice); "
                    "needs `calico-conformance lab build`",
            breaks=("EBPF-NODEPORT-VXLAN", "EBPF-SOURCE-IP", "EBPF-NO-KUBE-PROXY")),
    Profile(name="ebpf-kube-proxy-coexist", kube_proxy_rules="active",
            felix=replace(_BPF, kube_proxy_iptables_cleanup=False),
            summary="eBPF where kube-proxy cannot be removed (AKS): kube-proxy's chains stay and "
                    "Felix is told not to clean them up (bpfKubeProxyIptablesCleanupEnabled: false)"),
    replace(_TUNNEL, name="ebpf-dual-stack", ipv6=True, felix=replace(_BPF, ipv6_support=True),
            summary="eBPF tunnel, dual-stack: NodePort on IPv4 and IPv6, each in felix's own VXLAN over its "
                    "family's underlay with the client's address kept; pods reach each other through vxlan.calico "
                    "and vxlan-v6.calico, as felix v3.29 names them [truth: ipv6-nodeport]"),
    # Real felix, built from Calico's source (`calico-conformance lab build felix`): the same checks
    # judged by the real thing.
    Profile(name="calico-ebpf", real_felix=True,
            summary="real felix in eBPF mode (bpfExternalServiceMode Tunnel) on every node, against a real "
                    "kube-apiserver"),
    Profile(name="calico-ebpf-dsr", real_felix=True, service_mode="dsr",
            felix=replace(_BPF, external_service_mode="DSR"),
            summary="real felix in eBPF mode with bpfExternalServiceMode DSR"),
    Profile(name="calico-ebpf-ipip-pool", real_felix=True, pool_encapsulation="IPIP",
            summary="real felix in eBPF mode with an IPIP pool (pods routed through tunl0): NodePort traffic "
                    "still in felix's own VXLAN [truth: nodeport-any-pool]"),
    Profile(name="calico-ebpf-no-encap-pool", real_felix=True, pool_encapsulation="None",
            summary="real felix in eBPF mode with an unencapsulated pool (pods routed straight to the peer): "
                    "NodePort traffic still in felix's own VXLAN [truth: nodeport-any-pool]"),
    Profile(name="calico-ebpf-after-kube-proxy", real_felix=True, real_kube_proxy="stopped",
            kube_proxy_rules="felix-cleaned",
            summary="the documents' switch-over for real: kube-proxy v1.30 programs every node (IPv4 and IPv6), "
                    "is removed, then felix starts in eBPF mode and cleans up its rules"),
    Profile(name="calico-ebpf-dsr-backend-only", real_felix=True, service_mode="dsr",
            node_felix=(("backend", replace(_BPF, external_service_mode="DSR")),),
            summary="real felix, DSR set only for the backend's node (FelixConfiguration node.<name>): the "
                    "backend's node decides [truth: dsr-reply]"),
    Profile(name="calico-ebpf-dsr-ingress-only", real_felix=True,
            node_felix=(("ingress", replace(_BPF, external_service_mode="DSR")),),
            summary="real felix, DSR set only for the ingress node: the backend's node, in Tunnel mode, "
                    "decides [truth: dsr-reply]"),
    Profile(name="calico-ebpf-dual-stack", real_felix=True, ipv6=True, felix=replace(_BPF, ipv6_support=True),
            summary="real felix in eBPF mode, dual-stack (IPv4 and IPv6 VXLAN pools, ipv6Support, dual-stack "
                    "Services): NodePort on IPv4 and IPv6, each in felix's own VXLAN (VNI 0xca11c0) over its "
                    "family's underlay [truth: ipv6-nodeport]"),
    Profile(name="calico-ebpf-dual-stack-after-kube-proxy", real_felix=True, real_kube_proxy="stopped",
            kube_proxy_rules="felix-cleaned", ipv6=True, felix=replace(_BPF, ipv6_support=True),
            summary="the switch-over on a dual-stack cluster: kube-proxy v1.30 programs both families' Services, "
                    "is removed, and felix with ipv6Support cleans its IPv4 and IPv6 rules "
                    "[truth: kube-proxy-ipv6-follows-ipv6support]"),
    Profile(name="calico-ebpf-dual-stack-ipv6-off", real_felix=True, ipv6=True, breaks=("EBPF-IPV6-NODEPORT",),
            summary="real felix in eBPF mode on a dual-stack cluster, but ipv6Support false (the default where the "
                    "operator does not autodetect IPv6): felix runs no IPv6 dataplane, so nothing serves the IPv6 "
                    "NodePort [truth: ipv6-nodeport]"),
    Profile(name="calico-ebpf-two-nics", real_felix=True, second_nic=True,
            summary="real felix in eBPF mode on nodes with two NICs (Calico's node address on eth1): the NodePort "
                    "tunnel leaves where the route to the peer goes [truth: nodeport-fib-egress]"),
    Profile(name="calico-ebpf-nftables-after-kube-proxy", real_felix=True, real_kube_proxy="stopped",
            kube_proxy_rules="felix-cleaned", felix=replace(_BPF, nftables_mode="Enabled"),
            breaks_before=("v3.31", ("EBPF-NO-KUBE-PROXY",)),
            summary="the switch-over with felix in nftables mode (NFTablesMode: Enabled): v3.29 leaves every "
                    "kube-proxy chain, v3.31 cleans them [truth: kube-proxy-nftables-mode]"),
    Profile(name="calico-iptables", real_felix=True, real_kube_proxy="running", service_mode="kube-proxy",
            forward="overlay", kube_proxy_rules="active", felix=_IPTABLES, linux_dataplane="Iptables",
            summary="real felix's standard dataplane (bpfEnabled false) beside real kube-proxy v1.30: what the "
                    "eBPF checks must tell apart [truth: nodeport-inner-not-dnated]",
            breaks=("EBPF-NODEPORT-VXLAN", "EBPF-SOURCE-IP", "EBPF-NO-KUBE-PROXY")),
    # One defect per check.
    replace(_TUNNEL, name="defect-snat-some-sources", snat_forwarded=True, snat_sources="172.31.0.64/26",
            breaks=("EBPF-SOURCE-IP",),
            summary="eBPF tunnel, but a masquerade rule for one source range (172.31.0.64/26, where the "
                    "client is) hides the client's address [truth: source-ip-preserved]"),
    replace(_TUNNEL, name="defect-rp-filter", strict_rp_filter=True, breaks=("EBPF-SOURCE-IP",),
            summary="eBPF tunnel, but strict rp_filter on the backend's node drops what arrives through the "
                    "NodePort tunnel (its source, the client, is routed elsewhere): connections fail "
                    "[truth: nodeport-tunnel-return]"),
    replace(_TUNNEL, name="defect-snat", snat_forwarded=True, breaks=("EBPF-SOURCE-IP",),
            summary="eBPF tunnel, but forwarded NodePort traffic is masqueraded to the ingress "
                    "node's tunnel address [truth: source-ip-preserved]"),
    replace(_TUNNEL, name="defect-mtu-fabric", uplink_mtu=9000, breaks=("EBPF-NODEPORT-MTU",),
            summary="jumbo-frame nodes (MTU 9000) on a fabric that carries 1500: Calico's MTU (9000 "
                    "- 50) leaves room for VXLAN on the node, not on the wire, so full-size replies, "
                    "encapsulated back to the ingress node, are dropped by the fabric with no ICMP "
                    "error [truth: nodeport-mtu]"),
    replace(_TUNNEL, name="defect-mtu-icmp-blocked", pool_encapsulation="IPIP", drop_icmp_too_big=True,
            pod_gso=False, breaks=("EBPF-NODEPORT-MTU",),
            summary="an IPIP pool (pods at the host MTU less 20, larger than felix's NodePort tunnel takes), a "
                    "pod that sends without segmentation offload (so felix checks each packet; TCP GSO is "
                    "exempt) and nodes whose firewall drops ICMP 'fragmentation needed' to the pods: full-size "
                    "replies never shrink, and are lost [truth: nodeport-mtu]"),
    replace(_TUNNEL, name="defect-etp-local-ignored", etp_local_ignored=True,
            breaks=("EBPF-ETP-LOCAL",),
            summary="the externalTrafficPolicy: Local Service is forwarded like a Cluster one: a node "
                    "without a local backend sends it through the tunnel to the backend's node "
                    "[truth: etp-local]"),
    replace(_TUNNEL, name="defect-bpf-fallback-node", bpf_unsupported_nodes=("node1",),
            breaks=("EBPF-BPF-ACTIVE", "EBPF-NODEPORT-VXLAN", "EBPF-SOURCE-IP", "SUP-KERNEL"),
            summary="a mixed cluster: node1 runs kernel 4.19, felix there logs that BPF is not "
                    "supported and falls back to iptables mode, so with kube-proxy gone nothing "
                    "serves NodePort on it [truth: bpf-mode-reporting]"),
    replace(_TUNNEL, name="defect-no-vxlan", forward="direct", breaks=("EBPF-NODEPORT-VXLAN",),
            summary="eBPF tunnel, but NodePort traffic is routed to the backend's node without "
                    "encapsulation [truth: nodeport-inner-not-dnated]"),
    replace(_TUNNEL, name="defect-vxlan-port", wire_vxlan_port=8472, breaks=("EBPF-NODEPORT-VXLAN",),
            summary="VXLAN on UDP 8472 (the Linux default) while Felix is configured for 4789 "
                    "[truth: nodeport-port-checksum]"),
    replace(_TUNNEL, name="defect-vxlan-vni", wire_vxlan_vni=1, breaks=("EBPF-NODEPORT-VXLAN",),
            summary="the NodePort tunnel carries VNI 1 instead of felix's NodePort VNI 0xca11c0 "
                    "[truth: nodeport-vni]"),
    replace(_TUNNEL, name="defect-overlay-path", forward="overlay", breaks=("EBPF-NODEPORT-VXLAN",),
            summary="the ingress node DNATs NodePort traffic to the pod and routes it through "
                    "vxlan.calico (VNI 4096), kube-proxy's path, not felix's NodePort tunnel "
                    "[truth: nodeport-inner-not-dnated]"),
    Profile(name="ebpf-dsr-backend-only", service_mode="dsr",
            node_felix=(("backend", replace(_BPF, external_service_mode="DSR")),),
            summary="eBPF, DSR configured only for the backend's node (FelixConfiguration node.<name>), Tunnel "
                    "elsewhere: the backend's node decides, so replies leave it directly [truth: dsr-reply]"),
    Profile(name="ebpf-dsr-ingress-only",
            node_felix=(("ingress", replace(_BPF, external_service_mode="DSR")),),
            summary="eBPF, DSR configured only for the ingress node, Tunnel on the backend's: the backend's node "
                    "decides, so replies come back through the tunnel, as real felix does [truth: dsr-reply]"),
    replace(_TUNNEL, name="defect-dsr-via-ingress", felix=replace(_BPF, external_service_mode="DSR"),
            breaks=("EBPF-DSR-DIRECT-RETURN",),
            summary="Felix says DSR, but replies still return through the ingress node [truth: dsr-reply]"),
    replace(_TUNNEL, name="defect-kube-proxy-leftover", kube_proxy_rules="leftover",
            breaks=("EBPF-NO-KUBE-PROXY",),
            summary="eBPF tunnel, but kube-proxy's chains were left behind on every node "
                    "[truth: kube-proxy-chains-removed]"),
    replace(_TUNNEL, name="defect-kube-proxy-half-removed", kube_proxy_rules="half-removed",
            breaks=("EBPF-NO-KUBE-PROXY",),
            summary="eBPF tunnel, but the clean-up stopped half-way: KUBE-SVC-*/KUBE-SEP-* chains "
                    "remain beside what felix leaves [truth: kube-proxy-chains-removed]"),
    replace(_TUNNEL, name="defect-kube-proxy-ipv6-left", kube_proxy_rules="felix-cleaned", kube_proxy_rules6="active",
            felix=replace(_BPF, ipv6_support=True), breaks=("EBPF-NO-KUBE-PROXY",),
            summary="felix's IPv6 support is on, so it should have cleaned kube-proxy's IPv6 chains too, but "
                    "KUBE-SERVICES and the rest are still hooked in ip6tables [truth: kube-proxy-ipv6-follows-ipv6support]"),
    replace(_TUNNEL, name="defect-kube-proxy-nftables-mode", kube_proxy_rules="active",
            felix=replace(_BPF, nftables_mode="Enabled"), breaks=("EBPF-NO-KUBE-PROXY",),
            summary="after the switch-over with felix in nftables mode (NFTablesMode: Enabled): kube-proxy's "
                    "chains all stay, as felix v3.29 and v3.30 leave them (v3.31 cleans them) "
                    "[truth: kube-proxy-nftables-mode]"),
    replace(_TUNNEL, name="defect-kube-proxy-nft", kube_proxy_rules="nft-leftover",
            breaks=("EBPF-NO-KUBE-PROXY",),
            summary="eBPF tunnel, but nftables-mode kube-proxy's `kube-proxy` table is left "
                    "(felix removes it only from v3.31.4) [truth: kube-proxy-nft-table]"),
    replace(_TUNNEL, name="defect-kube-proxy-ipvs", kube_proxy_rules="felix-cleaned", ipvs_device=True,
            breaks=("EBPF-NO-KUBE-PROXY",),
            summary="eBPF tunnel, but IPVS-mode kube-proxy's dummy device kube-ipvs0 is left "
                    "(felix never removes it) [truth: kube-proxy-ipvs-device]"),
    replace(_TUNNEL, name="defect-ipv6-nodeport", ipv6=True, breaks=("EBPF-IPV6-NODEPORT",),
            summary="dual-stack, but felix's ipv6Support is false: felix runs no IPv6 dataplane, so the IPv6 "
                    "NodePort is refused by the node itself, as real felix does (calico-ebpf-dual-stack-ipv6-off) "
                    "[truth: ipv6-nodeport]"),
    replace(_TUNNEL, name="defect-tagged-vlan", tagged_vlan_trunk=True,
            breaks=("EBPF-UNSUPPORTED-VLAN",),
            summary="the last node has a VLAN trunk uplink: its traffic arrives 802.1Q-tagged "
                    "(VID 100); with 802.1Q in the kernel, a tagged VLAN device is made too "
                    "[truth: vlan-v3.29-pattern]"),
]}

DEFAULT_PROFILE = "ebpf-tunnel"


def node_settings(profile: Profile, topo: Topology) -> tuple[tuple[str, FelixSettings], ...]:
    """The profile's per-node Felix settings, by node name."""
    roles = {"ingress": topo.ingress.name, "backend": topo.backend_node.name}
    return tuple((roles[role], replace(settings, external_service_mode_source=f"FelixConfiguration node.{roles[role]}"))
                 for role, settings in profile.node_felix)


def get(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise UsageError(f"unknown lab dataplane {name!r}; see `--lab-dataplane list` "
                         f"(choices: {', '.join(PROFILES)})") from None


def listing() -> str:
    width = max(map(len, PROFILES))
    lines = ["Lab dataplane profiles (--lab-dataplane NAME):"]
    for p in PROFILES.values():
        tag = f"  [breaks {', '.join(p.breaks)}]" if p.breaks else ""
        default = " (default)" if p.name == DEFAULT_PROFILE else ""
        real = f"  [real: {', '.join(p.real_components)}]" if p.real_components else ""
        lines.append(f"  {p.name:<{width}}  {p.summary}{default}{tag}{real}")
    lines.append("Profiles marked [real: ...] run those components built from source (`calico-conformance lab build`; "
                 "felix: `lab build felix`, --calico-version picks v3.29.7 or v3.31.7); the others emulate Calico "
                 "and check the suite itself.")
    return "\n".join(lines)
