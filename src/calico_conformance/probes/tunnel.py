"""Is a captured frame felix's BPF NodePort tunnel? Judged against what real felix sends
(docs/upstream-truths.md, rows nodeport-*), naming the path the frame shows when it is not."""
from __future__ import annotations

from calico_conformance.upstream import BPF_NODEPORT_UDP_CHECKSUM, BPF_NODEPORT_VNI, DEFAULT_VXLAN_VNI
from calico_conformance.vocabulary.frames import DecodedFrame


def _addresses(obs, family: int) -> tuple[str, str, str, str]:
    """(address the client connected to, the pod's, the ingress and the backend node's felix
    address) in ``family``."""
    ingress, backend = obs.ingress, obs.backend_node
    if family == 4:
        return ingress.address, obs.service.backend_ip, ingress.felix_address, backend.felix_address
    return ingress.address6, obs.service.backend_ip6, ingress.felix_address6, backend.felix_address6


def expected(obs, port: int, family: int = 4) -> str:
    ingress_ip, _, outer_src, outer_dst = _addresses(obs, family)
    return (f"{obs.client_address} > {ingress_ip}:{obs.service.node_port} in VXLAN {outer_src}->{outer_dst} "
            f"udp/{port} vni {BPF_NODEPORT_VNI:#x} csum 0")


def bpf_tunnel_verdict(f: DecodedFrame, obs, port: int, family: int = 4) -> tuple[str, bool]:
    """(what the frame shows, whether it is felix's NodePort tunnel) for the SYN of a probed
    connection as it left the ingress node."""
    ingress, backend, service = obs.ingress, obs.backend_node, obs.service
    ingress_ip, backend_ip, _, backend_node_ip = _addresses(obs, family)
    if f.encap is None:
        return f"plain {f.tcp} (not encapsulated: routed, not tunnelled)", False
    e = f.encap
    seen = (f"{f.tcp} in VXLAN {e.outer_src}->{e.outer_dst} udp/{e.udp_dport} vni {e.vni:#x}"
            + (f" csum {e.udp_checksum:#x}" if e.udp_checksum is not None else ""))
    if f.tcp.dst == backend_ip:
        # DNAT at the ingress node, then the overlay: kube-proxy's (or the iptables dataplane's) path
        return (seen + f" — DNATed to the pod at {ingress.name} and sent through the overlay "
                "(kube-proxy's path, not felix's BPF NodePort tunnel)"), False
    problems = []
    if e.vni != BPF_NODEPORT_VNI:
        problems.append(f"VNI {e.vni:#x} is not felix's NodePort VNI {BPF_NODEPORT_VNI:#x}"
                        + (" (it is the overlay's vxlanVNI)" if e.vni == DEFAULT_VXLAN_VNI else ""))
    if e.udp_dport != port:
        problems.append(f"UDP port {e.udp_dport} is not vxlanPort {port}")
    if e.outer_dst != backend_node_ip:
        problems.append(f"outer destination is not {backend.name}'s address {backend_node_ip}")
    if (f.tcp.dst, f.tcp.dport) != (ingress_ip, service.node_port):
        problems.append(f"inner destination {f.tcp.dst}:{f.tcp.dport} is not the NodePort the client used")
    if e.udp_checksum not in (None, BPF_NODEPORT_UDP_CHECKSUM):
        problems.append("UDP checksum is set (felix sends 0, and drops tunnel packets that carry one)")
    return (seen + (" — " + "; ".join(problems) if problems else "")), not problems
