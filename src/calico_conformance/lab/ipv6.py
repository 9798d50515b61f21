"""IPv6 in the lab (dual-stack profiles): addresses, a second VXLAN device over the IPv6 underlay
(``vxlan-v6.calico``, as Calico names it), the IPv6 NodePort and its return path; for real felix,
only what the kubelet and Calico's CNI plugin leave (felix makes the rest).

Kept apart from the IPv4 rules so IPv4-only profiles are exactly what they were. Only the tunnel
service mode exists for IPv6.

    client fd00:31::100, nodeN fd00:31::1N on the fabric; pods fd00:244:N::/64, tunnel fd00:244:N::
    backend pod fd00:244:<last>::10, NodePort 30080 on every node's IPv6 address
    (real felix: IPv6 pool fd00:244::/32 in /122 blocks, fd00:244:N::/122 affine to nodeN;
    Services' IPv6 cluster IPs from fd00:96::/112)
"""
from __future__ import annotations

from calico_conformance.lab.profiles import Profile
from calico_conformance.lab.rules import CALI_MAC, NP_MARK, RETURN_MARK_BASE, forward_not_deliver, nft_table
from calico_conformance.lab.topology import LabNode, MacKind, Topology, mac

FABRIC6 = "fd00:31::"
CLIENT6 = "fd00:31::100"
TUNNEL_DEV6 = "vxlan-v6.calico"
NP_TUNNEL_DEV6 = "np-tunnel6"     # the lab's stand-in for felix's IPv6 NodePort encapsulation
CALI_LL = "fe80::ecee:eeff:feee:eeee"     # link-local of the ee:ee:ee:ee:ee:ee host side
POOL6 = "fd00:244::/32"
SERVICE_CIDR6 = "fd00:96::/112"    # kube-apiserver takes an IPv6 service range of at most 20 bits


def node_ip(node: LabNode) -> str:
    return f"fd00:31::{10 + node.index}"


def tunnel_ip(node: LabNode) -> str:
    return f"fd00:244:{node.index}::"


def pod_cidr(node: LabNode) -> str:
    return f"fd00:244:{node.index}::/64"


def vtep_mac(node: LabNode) -> str:
    return mac(MacKind.VTEP6, node.index)


def np_mac6(node: LabNode) -> str:
    return mac(MacKind.NP_TUNNEL6, node.index)


def np_hop6(node: LabNode) -> str:
    """Next hop of the IPv6 NodePort tunnel: a neighbour entry only, on no device."""
    return f"fd00:202::{node.index}"


def backend_ip(topo: Topology) -> str:
    return f"fd00:244:{topo.backend_node.index}::10"


# Before links exist, so they inherit: IPv6 on, forwarding on, no DAD delay, no router chatter.
SYSCTLS = (("net/ipv6/conf/all/disable_ipv6", "0"), ("net/ipv6/conf/default/disable_ipv6", "0"),
           ("net/ipv6/conf/all/forwarding", "1"), ("net/ipv6/conf/default/accept_dad", "0"),
           ("net/ipv6/conf/all/accept_dad", "0"), ("net/ipv6/conf/default/router_solicitations", "0"),
           ("net/ipv6/conf/default/accept_ra", "0"))


def _neighbours(topo: Topology, me: str) -> list[str]:
    entries = [(CLIENT6, topo.client_mac)] + [(node_ip(n), n.uplink_mac) for n in topo.nodes]
    return [f"neigh replace {ip} lladdr {mac} dev eth0 nud permanent" for ip, mac in entries if ip != me]


def client_lines(topo: Topology) -> list[str]:
    return [f"addr add {CLIENT6}/64 dev eth0 nodad"] + _neighbours(topo, CLIENT6)


def node_lines(topo: Topology, profile: Profile, node: LabNode, overlay: tuple[int, int],
               np_tunnel: tuple[int, int]) -> list[str]:
    """The IPv6 overlay (vxlan-v6.calico, pod-to-pod) and the NodePort tunnel felix's programs
    use over IPv6 too: VNI 0xca11c0 on vxlanPort, UDP checksum 0 (upstream: nat6.h::vxlan_encap)."""
    me = node_ip(node)
    (port, vni), (np_port, np_vni) = overlay, np_tunnel
    lines = [f"addr add {me}/64 dev eth0 nodad"] + _neighbours(topo, me)
    # Both devices share one UDP socket, which takes zero-checksum packets for the NodePort
    # tunnel only if every device on it says so (udp6zerocsumrx); the overlay still sends checksums.
    lines += [f"link add {TUNNEL_DEV6} type vxlan id {vni} dstport {port} local {me} dev eth0 nolearning "
              "udp6zerocsumrx",
              f"link set {TUNNEL_DEV6} address {vtep_mac(node)}",
              f"addr add {tunnel_ip(node)}/128 dev {TUNNEL_DEV6} nodad",
              f"link set {TUNNEL_DEV6} up",
              f"link add {NP_TUNNEL_DEV6} type vxlan id {np_vni} dstport {np_port} local {me} dev eth0 "
              "nolearning udp6zerocsumtx udp6zerocsumrx",
              f"link set {NP_TUNNEL_DEV6} address {np_mac6(node)}",
              f"link set {NP_TUNNEL_DEV6} up"]
    for peer in topo.nodes:
        if peer.index == node.index:
            continue
        lines += [f"neigh replace {tunnel_ip(peer)} lladdr {vtep_mac(peer)} dev {TUNNEL_DEV6} nud permanent",
                  f"route add {pod_cidr(peer)} via {tunnel_ip(peer)} dev {TUNNEL_DEV6} onlink",
                  f"neigh replace {np_hop6(peer)} lladdr {np_mac6(peer)} dev {NP_TUNNEL_DEV6} nud permanent"]
    if node.name == topo.backend_node.name:
        pod = topo.backend
        lines += [f"route add {backend_ip(topo)}/128 dev {pod.host_iface}",
                  f"neigh replace {backend_ip(topo)} lladdr {pod.mac} dev {pod.host_iface} nud permanent"]
        for peer in topo.nodes:      # replies go back to the node that forwarded the request
            if peer.index == node.index:
                continue
            mark, table = RETURN_MARK_BASE + peer.index, 100 + peer.index
            lines += [f"rule add pref {1000 + peer.index} iif {pod.host_iface} fwmark {mark:#x} lookup {table}",
                      f"route add default via {np_hop6(peer)} dev {NP_TUNNEL_DEV6} onlink table {table}"]
    else:   # forwarded, not delivered: the fwmark rule before the local table
        lines += forward_not_deliver(f"via {np_hop6(topo.backend_node)} dev {NP_TUNNEL_DEV6} onlink")
    return lines


def pod_lines(topo: Topology) -> list[str]:
    return [f"addr add {backend_ip(topo)}/128 dev eth0 nodad",
            f"neigh replace {CALI_LL} lladdr {CALI_MAC} dev eth0 nud permanent",
            f"route add default via {CALI_LL} dev eth0"]


def fdb_lines(topo: Topology, node: LabNode) -> list[str]:
    peers = [peer for peer in topo.nodes if peer.index != node.index]
    return ([f"fdb append {vtep_mac(peer)} dev {TUNNEL_DEV6} dst {node_ip(peer)}" for peer in peers]
            + [f"fdb append {np_mac6(peer)} dev {NP_TUNNEL_DEV6} dst {node_ip(peer)}" for peer in peers])


def node_nft(topo: Topology, profile: Profile, node: LabNode) -> str:
    """IPv6 NodePort in tunnel mode, as felix does it: the ingress node forwards the packet as it
    came through the NodePort tunnel, the backend's node DNATs it and sends the reply back the
    same way (the IPv4 rules' docstring says more). With ipv6Support off felix runs no IPv6
    dataplane (felix/dataplane/driver.go BPFIpv6Enabled @ v3.29.7): no rules, and the node's own
    stack refuses the connection."""
    if not profile.felix.ipv6_support:
        return ""
    spec, backend = topo.spec, topo.backend
    np_match = f"ip6 daddr {node_ip(node)} tcp dport {spec.node_port}"
    pod = f"[{backend_ip(topo)}]:{backend.port}"
    raw, mangle, dnat = [], [], []
    if node.name != topo.backend_node.name:
        raw = [f'iifname "eth0" {np_match} notrack meta mark set {NP_MARK:#x}',
               f'iifname "{NP_TUNNEL_DEV6}" notrack']
    else:
        dnat = [f"{np_match} dnat to {pod}",
                f'iifname "{NP_TUNNEL_DEV6}" tcp dport {spec.node_port} dnat to {pod}']
    if node.name == topo.backend_node.name:
        mangle = [f'iifname "{NP_TUNNEL_DEV6}" ct state new ether saddr {np_mac6(p)} '
                  f"ct mark set {RETURN_MARK_BASE + p.index:#x}" for p in topo.nodes if p.index != node.index]
        mangle.append(f'iifname "{backend.host_iface}" ct mark & 0xff00 == {RETURN_MARK_BASE:#x} '
                      "meta mark set ct mark")
    return nft_table("ip6 cclab6", [("raw_pre", "filter", "prerouting", "raw", raw),
                                     ("mangle_pre", "filter", "prerouting", "mangle", mangle),
                                     ("nodeport", "nat", "prerouting", "dstnat - 10", dnat)])


# ---- for real felix ------------------------------------------------------------------------------

def felix_client_lines() -> list[str]:
    """The client's IPv6 address; its neighbours it finds for itself, as the nodes answer."""
    return [f"addr add {CLIENT6}/64 dev eth0 nodad"]


def felix_node_lines(topo: Topology, node: LabNode) -> list[str]:
    """A dual-stack node as the kubelet and the CNI plugin leave it: its IPv6 address on the
    uplink and, on the backend's node, the pod's /128 through its veth
    (cni-plugin/pkg/dataplane/linux/dataplane_linux.go @ v3.29.7: a link-scope route per address)."""
    lines = [f"addr add {node_ip(node)}/64 dev eth0 nodad"]
    if node.name == topo.backend_node.name:
        lines.append(f"route add {backend_ip(topo)}/128 dev {topo.backend.host_iface}")
    return lines


def felix_pod_lines(topo: Topology) -> list[str]:
    """The pod's IPv6 side as the CNI plugin leaves it: its /128 and a default route via the
    link-local address of the host side (Calico's MAC ee:ee:ee:ee:ee:ee, so fe80::ecee:eeff:feee:eeee);
    its neighbour entry comes from neighbour discovery, which felix answers."""
    return [f"addr add {backend_ip(topo)}/128 dev eth0 nodad", f"route add default via {CALI_LL} dev eth0"]


def felix_workload_sysctls(topo: Topology) -> tuple[tuple[str, str], ...]:
    """What the CNI plugin sets on the host side of the pod's veth for IPv6 (configureSysctls)."""
    iface = topo.backend.host_iface
    return tuple((f"net/ipv6/conf/{iface}/{key}", value)
                 for key, value in (("accept_dad", "0"), ("disable_ipv6", "0"), ("proxy_ndp", "1"),
                                    ("forwarding", "1"), ("accept_ra", "0")))
