"""Is a captured frame felix's BPF NodePort tunnel? Judged against what real felix sends
(docs/upstream-truths.md, rows nodeport-*), naming the path the frame shows when it is not."""
from __future__ import annotations

from calico_conformance.evidence.model import DecodedFrame
from calico_conformance.upstream import BPF_NODEPORT_UDP_CHECKSUM, BPF_NODEPORT_VNI, DEFAULT_VXLAN_VNI


def expected(obs, port: int, family: int = 4) -> str:
    ingress, backend = obs.ingress, obs.backend_node
    ing = ingress.address if family == 4 else ingress.address6
    outer = (ingress.felix_address, backend.felix_address) if family == 4 else \
        (ingress.felix_address6, backend.felix_address6)
    return (f"{obs.client_address} > {ing}:{obs.service.node_port} in VXLAN {outer[0]}->{outer[1]} "
            f"udp/{port} vni {BPF_NODEPORT_VNI:#x} csum 0")


def bpf_tunnel_verdict(f: DecodedFrame, obs, port: int, family: int = 4) -> tuple[str, bool]:
    """(what the frame shows, whether it is felix's NodePort tunnel) for the SYN of a probed
    connection as it left the ingress node."""
    ingress, backend, service = obs.ingress, obs.backend_node, obs.service
    ingress_ip = ingress.address if family == 4 else ingress.address6
    backend_ip = service.backend_ip if family == 4 else service.backend_ip6
    backend_node_ip = backend.felix_address if family == 4 else backend.felix_address6
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
