"""Dataplane profiles of the reference lab: what each emulates, as a few knobs.

The conformant profiles emulate what the source documents promise of Calico's eBPF dataplane
(and one kube-proxy cluster). Each ``defect-*`` profile is a conformant one with exactly one
thing wrong, so that the project's own tests can show each check failing for its reason.
``breaks`` lists the check IDs the profile is built to break; it documents intent, the checks
never read it.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from calico_conformance.errors import UsageError
from calico_conformance.targets.base import FelixSettings


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    service_mode: str = "tunnel"          # tunnel | dsr | kube-proxy (how NodePort is served)
    forward: str = "vxlan"                # vxlan | direct (node-to-node without encapsulation)
    wire_vxlan_port: int | None = None    # what the devices really use, if not what Felix says
    wire_vxlan_vni: int | None = None
    snat_forwarded: bool = False          # masquerade NodePort traffic forwarded to another node
    kube_proxy_rules: str = "none"        # none | active | leftover
    tagged_vlan_trunk: bool = False       # the fabric delivers node traffic 802.1Q-tagged
    ipv6: bool = False                    # dual-stack: IPv6 fabric, pods and NodePort too
    ipv6_nodeport_broken: bool = False    # dual-stack, but NodePort is served on IPv4 only
    felix: FelixSettings = field(default_factory=lambda: FelixSettings(bpf_enabled=True))
    linux_dataplane: str = "BPF"          # Installation spec.calicoNetwork.linuxDataplane
    breaks: tuple[str, ...] = ()


_BPF = FelixSettings(bpf_enabled=True)
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
    Profile(name="kube-proxy", service_mode="kube-proxy", kube_proxy_rules="active",
            felix=FelixSettings(bpf_enabled=False), linux_dataplane="Iptables",
            summary="standard dataplane with kube-proxy (iptables): DNAT + masquerade at the "
                    "ingress node, so the backend sees the node's tunnel address",
            breaks=("EBPF-SOURCE-IP", "EBPF-NO-KUBE-PROXY")),
    Profile(name="ebpf-kube-proxy-coexist", kube_proxy_rules="active",
            felix=replace(_BPF, kube_proxy_iptables_cleanup=False),
            summary="eBPF where kube-proxy cannot be removed (AKS): kube-proxy's chains stay and "
                    "Felix is told not to clean them up (bpfKubeProxyIptablesCleanupEnabled: false)"),
    replace(_TUNNEL, name="ebpf-dual-stack", ipv6=True,
            summary="eBPF tunnel, dual-stack: NodePort on IPv4 and IPv6, each forwarded over its "
                    "own VXLAN device (vxlan.calico, vxlan-v6.calico) with the client's address kept"),
    # One defect per check.
    replace(_TUNNEL, name="defect-snat", snat_forwarded=True, breaks=("EBPF-SOURCE-IP",),
            summary="eBPF tunnel, but forwarded NodePort traffic is masqueraded to the ingress "
                    "node's tunnel address"),
    replace(_TUNNEL, name="defect-no-vxlan", forward="direct", breaks=("EBPF-NODEPORT-VXLAN",),
            summary="eBPF tunnel, but NodePort traffic is routed to the backend's node without "
                    "encapsulation"),
    replace(_TUNNEL, name="defect-vxlan-port", wire_vxlan_port=8472, breaks=("EBPF-NODEPORT-VXLAN",),
            summary="VXLAN on UDP 8472 (the Linux default) while Felix is configured for 4789"),
    replace(_TUNNEL, name="defect-vxlan-vni", wire_vxlan_vni=1, breaks=("EBPF-NODEPORT-VXLAN",),
            summary="VXLAN with VNI 1 while Felix is configured for 4096"),
    replace(_TUNNEL, name="defect-dsr-via-ingress", felix=replace(_BPF, external_service_mode="DSR"),
            breaks=("EBPF-DSR-DIRECT-RETURN",),
            summary="Felix says DSR, but replies still return through the ingress node"),
    replace(_TUNNEL, name="defect-kube-proxy-leftover", kube_proxy_rules="leftover",
            breaks=("EBPF-NO-KUBE-PROXY",),
            summary="eBPF tunnel, but kube-proxy's chains were left behind on every node"),
    replace(_TUNNEL, name="defect-ipv6-nodeport", ipv6=True, ipv6_nodeport_broken=True,
            breaks=("EBPF-IPV6-NODEPORT",),
            summary="dual-stack, but NodePort is only served on IPv4: IPv6 connections to it fail"),
    replace(_TUNNEL, name="defect-tagged-vlan", tagged_vlan_trunk=True,
            breaks=("EBPF-UNSUPPORTED-VLAN",),
            summary="the last node has a VLAN trunk uplink: its traffic arrives 802.1Q-tagged "
                    "(VID 100); with 802.1Q in the kernel, a tagged VLAN device is made too"),
]}

DEFAULT_PROFILE = "ebpf-tunnel"


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
        lines.append(f"  {p.name:<{width}}  {p.summary}{default}{tag}")
    return "\n".join(lines)
