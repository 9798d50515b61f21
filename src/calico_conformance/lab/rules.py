"""The text the lab feeds to ``ip -batch``, ``nft -f`` and ``iptables-restore`` for each namespace.

Pure functions of (topology, profile): no side effects, so they are easy to read and test.
"""
from __future__ import annotations

from calico_conformance.lab.profiles import Profile
from calico_conformance.lab.topology import (CLIENT_IP, FABRIC_GATEWAY, NP_TUNNEL_DEV, POD_GATEWAY, LabNode,
                                             Topology, np_tunnel_mac)
from calico_conformance.upstream import BPF_NODEPORT_VNI, POD_MTU_OVERHEAD

CALI_MAC = "ee:ee:ee:ee:ee:ee"       # Calico's host-side MAC on every cali* interface
TUNNEL_DEV = "vxlan.calico"
# The lab's stand-in for felix's BPF encapsulation: a kernel VXLAN device with felix's NodePort
# VNI on vxlanPort over eth0. Real nodes have no such device; on the wire (eth0) its packets look
# as felix's do (see node_batch).
TRUNK_VID = 100
RETURN_MARK_BASE = 0x100            # tunnel mode: ct mark 0x100+i = "forwarded to us by node i"
NP_MARK = 0x200                     # "NodePort traffic to forward to the backend's node"
NP_TABLE = 200


def pod_mtu(profile: Profile) -> int:
    """The backend pod's MTU as Calico's CNI plugin sets it from felix's: the host interface's
    less the pool's encapsulation overhead (upstream.POD_MTU_OVERHEAD); felix's NodePort tunnel
    keeps vxlanMTU whatever the pool."""
    return profile.uplink_mtu - POD_MTU_OVERHEAD[profile.pool_encapsulation]


def wire_vxlan(topo: Topology, profile: Profile) -> tuple[int, int]:
    """(UDP port, VNI) of the NodePort tunnel as the devices really use them: felix's BPF
    programs use vxlanPort and their own VNI (upstream.BPF_NODEPORT_VNI), unless a defect says
    otherwise."""
    return (profile.wire_vxlan_port or topo.spec.vxlan_port,
            profile.wire_vxlan_vni or BPF_NODEPORT_VNI)


def overlay_vxlan(topo: Topology, profile: Profile) -> tuple[int, int]:
    """(UDP port, VNI) of the overlay device vxlan.calico (pod-to-pod; vxlanPort, vxlanVNI)."""
    return profile.wire_vxlan_port or topo.spec.vxlan_port, topo.spec.vxlan_vni


def np_hop(node: LabNode) -> str:
    """The NodePort tunnel's next-hop address for ``node``: only a neighbour entry, never on a
    device (felix's BPF programs encapsulate without any device or tunnel address)."""
    return f"169.254.202.{node.index}"


def fabric_batch(topo: Topology, profile: Profile) -> str:
    lines = ["link set lo up", "link add br0 type bridge", "link set br0 up"]
    ends = [("client", topo.client_ns, topo.client_mac)]
    ends += [(n.name, n.netns, n.uplink_mac) for n in topo.nodes]
    for name, netns, mac in ends:
        # the fabric's ports carry FABRIC_MTU (veth's default); a node's own side has the profile's
        # uplink MTU (a veth drops what is longer than its receiving end's MTU, as a switch does,
        # without ICMP)
        mtu = "" if name == "client" else f" mtu {profile.uplink_mtu}"
        lines += [f"link add p-{name} type veth peer name eth0 netns {netns} address {mac}{mtu}",
                  f"link set p-{name} master br0", f"link set p-{name} up"]
    if profile.real_felix:
        # the nodes' default gateway: every real node has a default route, and the kernel's proxy
        # ARP on cali* (felix's standard dataplane) answers the pod only for a routable address
        lines.append(f"addr add {FABRIC_GATEWAY}/24 dev br0")
    if profile.second_nic:
        lines += ["link add br1 type bridge", "link set br1 up"]
        for n in topo.nodes:
            lines += [f"link add p2-{n.name} type veth peer name eth1 netns {n.netns} address {n.uplink2_mac}",
                      f"link set p2-{n.name} master br1", f"link set p2-{n.name} up"]
    if profile.tagged_vlan_trunk:
        node = topo.backend_node
        lines += [f"link add trunk-{node.name} type veth peer name eth1 netns {node.netns}",
                  f"link set trunk-{node.name} up"]
    return "\n".join(lines) + "\n"


def fabric_fdb(topo: Topology, profile: Profile) -> str:
    """The fabric bridge's forwarding entries, as a switch has them once it has seen each port
    speak. Without them the bridge floods unicast frames to every port until it learns, and a
    node's capture shows frames meant for another (the emulated lab pins neighbours, so nothing
    speaks first; real felix's lab resolves them by ARP, which teaches the bridge)."""
    ends = [("client", topo.client_mac)] + [(n.name, n.uplink_mac) for n in topo.nodes]
    lines = [f"fdb replace {mac} dev p-{name} master static" for name, mac in ends]
    if profile.second_nic:
        lines += [f"fdb replace {n.uplink2_mac} dev p2-{n.name} master static" for n in topo.nodes]
    return "\n".join(lines) + "\n"


def _neighbours(topo: Topology, me: str) -> list[str]:
    entries = [(CLIENT_IP, topo.client_mac)] + [(n.address, n.uplink_mac) for n in topo.nodes]
    return [f"neigh replace {ip} lladdr {mac} dev eth0 nud permanent"
            for ip, mac in entries if ip != me]


def client_batch(topo: Topology, *, static_neighbours: bool = True) -> str:
    lines = ["link set lo up", f"addr add {CLIENT_IP}/24 dev eth0", "link set eth0 up"]
    lines += _neighbours(topo, CLIENT_IP) if static_neighbours else []
    return "\n".join(lines) + "\n"


def node_batch(topo: Topology, profile: Profile, node: LabNode) -> str:
    """Links, addresses and routes of one node. The overlay device vxlan.calico carries pod-to-pod
    traffic (routes to the other nodes' pod CIDRs), as on a real node, unless the profile has no
    encapsulation at all; NodePort traffic takes the path the profile's ``forward`` names."""
    port, vni = overlay_vxlan(topo, profile)
    lines = ["link set lo up", f"addr add {node.address}/24 dev eth0", "link set eth0 up"]
    lines += _neighbours(topo, node.address)
    if profile.second_nic:
        lines += [f"addr add {node.address2}/24 dev eth1", "link set eth1 up"]
        lines += [f"neigh replace {peer.address2} lladdr {peer.uplink2_mac} dev eth1 nud permanent"
                  for peer in topo.nodes if peer.index != node.index]
    if profile.ipvs_device:
        # IPVS-mode kube-proxy leaves a dummy device; this kernel may lack the dummy driver, and
        # only the name matters to what felix does and what the check reads: an empty bridge.
        lines.append("link add kube-ipvs0 type bridge")
    if profile.forward != "direct":
        lines += [f"link add {TUNNEL_DEV} type vxlan id {vni} dstport {port} local {node.address} "
                  f"dev eth0 nolearning",
                  f"link set {TUNNEL_DEV} address {node.vtep_mac}",
                  f"addr add {node.tunnel_ip}/32 dev {TUNNEL_DEV}",
                  f"link set {TUNNEL_DEV} up"]
    if profile.forward == "bpf-tunnel":
        np_port, np_vni = wire_vxlan(topo, profile)
        # IPv4 VXLAN sends UDP checksum 0 unless asked (upstream.BPF_NODEPORT_UDP_CHECKSUM). Bound
        # to eth0 its MTU is eth0's less 50, and a longer DF packet gets ICMP "fragmentation
        # needed", as felix's tunnel MTU check answers (upstream-truths row nodeport-mtu).
        address, device = calico_address(profile, node)
        lines += [f"link add {NP_TUNNEL_DEV} type vxlan id {np_vni} dstport {np_port} local {address} "
                  f"dev {device} nolearning noudpcsum",
                  f"link set {NP_TUNNEL_DEV} address {np_tunnel_mac(node)}",
                  f"link set {NP_TUNNEL_DEV} up"]
    for peer in topo.nodes:
        if peer.index == node.index:
            continue
        if profile.forward == "direct":
            lines.append(f"route add {peer.pod_cidr} via {peer.address} dev eth0")
            continue
        lines += [f"neigh replace {peer.tunnel_ip} lladdr {peer.vtep_mac} dev {TUNNEL_DEV} nud permanent",
                  f"route add {peer.pod_cidr} via {peer.tunnel_ip} dev {TUNNEL_DEV} onlink"]
        if profile.forward == "bpf-tunnel":
            lines.append(f"neigh replace {np_hop(peer)} lladdr {np_tunnel_mac(peer)} dev {NP_TUNNEL_DEV} nud permanent")
    if node.name == topo.backend_node.name:
        pod = topo.backend
        lines += [f"link add {pod.host_iface} address {CALI_MAC} mtu {pod_mtu(profile)} type veth peer name eth0 "
                  f"netns {pod.netns} address {pod.mac} mtu {pod_mtu(profile)}",
                  f"link set {pod.host_iface} up",
                  f"route add {pod.ip}/32 dev {pod.host_iface} scope link",
                  f"neigh replace {pod.ip} lladdr {pod.mac} dev {pod.host_iface} nud permanent"]
        lines += _return_path_routes(topo, profile, node)
    elif profile.forward == "bpf-tunnel" or profile.service_mode == "dsr":
        # NodePort packets for our own address are forwarded, not delivered: the fwmark rule must
        # be seen before the local table, so the local rule moves behind it (docs/lab.md). Scoped to
        # eth0: a tunnel device's own outer packet keeps the mark and must not loop back in.
        lines += forward_not_deliver(_via(topo, profile, topo.backend_node))
    return "\n".join(lines) + "\n"


def felix_node_batch(topo: Topology, profile: Profile, node: LabNode) -> str:
    """A node as the kubelet and Calico's CNI plugin leave it for real felix: its uplink, a default
    route, and on the backend's node the pod's veth (cni-plugin/pkg/dataplane/linux/dataplane_linux.go
    @ v3.29.7: Calico's MAC, the pool's MTU, a /32 route to the pod). Felix makes the rest:
    vxlan.calico, the routes to the other nodes' blocks, its own devices and programs."""
    lines = ["link set lo up", f"addr add {node.address}/24 dev eth0", "link set eth0 up",
             f"route add default via {FABRIC_GATEWAY} dev eth0"]
    if profile.second_nic:      # the node-to-node network, where Calico's node address lives
        lines += [f"addr add {node.address2}/24 dev eth1", "link set eth1 up"]
    if node.name == topo.backend_node.name:
        pod = topo.backend
        lines += [f"link add {pod.host_iface} address {CALI_MAC} mtu {pod_mtu(profile)} type veth peer name eth0 "
                  f"netns {pod.netns} address {pod.mac} mtu {pod_mtu(profile)}",
                  f"link set {pod.host_iface} up",
                  f"route add {pod.ip}/32 dev {pod.host_iface} scope link"]
    return "\n".join(lines) + "\n"


def kubelet_iptables(family: int) -> str:
    """What kubelet v1.30 writes on every node (pkg/kubelet/kubelet_network_linux.go): the hint
    chain that tells felix and kube-proxy which iptables backend the node uses, its canary chains,
    and (IPv4) the localnet firewall. ``iptables-restore --noflush`` input."""
    canary = ":KUBE-KUBELET-CANARY - [0:0]"
    out = ["*mangle", ":KUBE-IPTABLES-HINT - [0:0]", canary, "COMMIT", "*nat", canary, "COMMIT", "*filter", canary]
    if family == 4:
        out += [":KUBE-FIREWALL - [0:0]", "-I OUTPUT -j KUBE-FIREWALL", "-I INPUT -j KUBE-FIREWALL",
                '-A KUBE-FIREWALL -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m comment --comment "block incoming localnet '
                'connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP']
    return "\n".join(out + ["COMMIT"]) + "\n"


def felix_workload_sysctls(topo: Topology) -> tuple[tuple[str, str], ...]:
    """What the CNI plugin sets on the pod's host-side veth (dataplane_linux.go configureSysctls)."""
    iface = topo.backend.host_iface
    return ((f"net/ipv4/conf/{iface}/route_localnet", "1"), (f"net/ipv4/neigh/{iface}/proxy_delay", "0"),
            (f"net/ipv4/conf/{iface}/proxy_arp", "1"), (f"net/ipv4/conf/{iface}/forwarding", "1"))


def forward_not_deliver(via: str) -> list[str]:
    """Policy routing (IPv4 or IPv6 batch alike) that forwards marked NodePort packets for the
    node's own address ``via`` the given next hop instead of delivering them locally."""
    return [f"rule add pref 1000 iif eth0 fwmark {NP_MARK:#x} lookup {NP_TABLE}",
            "rule add pref 1001 lookup local", "rule del pref 0 lookup local",
            f"route add default {via} table {NP_TABLE}"]


def np_tunnel_sysctls(profile: Profile, node: LabNode, topo: Topology) -> tuple[tuple[str, str], ...]:
    """The ingress node receives the tunnel-mode reply with its own address as source (felix
    reverse-NATs on the backend's node): accepted only with accept_local. A strict rp_filter
    (a defect) on the backend's node drops the tunnel's packets: their source is the client."""
    if profile.forward != "bpf-tunnel":
        return ()
    strict = profile.strict_rp_filter and node.name == topo.backend_node.name
    return ((f"net/ipv4/conf/{NP_TUNNEL_DEV}/accept_local", "1"),
            (f"net/ipv4/conf/{NP_TUNNEL_DEV}/rp_filter", "1" if strict else "0"))


def calico_address(profile: Profile, node: LabNode) -> tuple[str, str]:
    """(address, device) of the node as Calico knows it (projectcalico.org/IPv4Address), between
    whose instances felix's NodePort tunnel runs: the InternalIP on eth0, or the second NIC's."""
    return (node.address2, "eth1") if profile.second_nic else (node.address, "eth0")


def np_fdb(topo: Topology, profile: Profile, node: LabNode) -> list[str]:
    """Where the NodePort tunnel sends each peer's frames: the peer node's Calico address
    (upstream: the outer destination is the backend node's own address, never a tunnel address)."""
    return [f"fdb append {np_tunnel_mac(peer)} dev {NP_TUNNEL_DEV} dst {calico_address(profile, peer)[0]}"
            for peer in topo.nodes if peer.index != node.index]


def _via(topo: Topology, profile: Profile, peer: LabNode) -> str:
    if profile.forward == "bpf-tunnel":
        return f"via {np_hop(peer)} dev {NP_TUNNEL_DEV} onlink"
    if profile.forward == "overlay":
        return f"via {peer.tunnel_ip} dev {TUNNEL_DEV} onlink"
    return f"via {peer.address} dev eth0"


def _return_path_routes(topo: Topology, profile: Profile, node: LabNode) -> list[str]:
    """Tunnel mode: replies from the pod go back to the node that forwarded the request."""
    if profile.service_mode != "tunnel":
        return []
    lines = []
    for peer in topo.nodes:
        if peer.index == node.index:
            continue
        mark, table = RETURN_MARK_BASE + peer.index, 100 + peer.index
        lines += [f"rule add pref {1000 + peer.index} iif {topo.backend.host_iface} "
                  f"fwmark {mark:#x} lookup {table}",
                  f"route add default {_via(topo, profile, peer)} table {table}"]
    return lines


def pod_batch(topo: Topology, *, static_gateway: bool = True) -> str:
    """The pod's side, as the CNI plugin leaves it; the emulated lab pins the gateway's neighbour
    entry (nothing answers ARP for it there), real felix answers it."""
    pod = topo.backend
    lines = ["link set lo up", f"addr add {pod.ip}/32 dev eth0", "link set eth0 up",
             f"route add {POD_GATEWAY} dev eth0 scope link", f"route add default via {POD_GATEWAY} dev eth0"]
    if static_gateway:
        lines.append(f"neigh replace {POD_GATEWAY} lladdr {CALI_MAC} dev eth0 nud permanent")
    return "\n".join(lines) + "\n"


def forward_iface(profile: Profile) -> str:
    return {"bpf-tunnel": NP_TUNNEL_DEV, "overlay": TUNNEL_DEV}.get(profile.forward, "eth0")


def node_nft(topo: Topology, profile: Profile, node: LabNode) -> str:
    """The emulated Calico eBPF service handling, as an nftables table ``cclab``.

    bpf-tunnel (what felix does, docs/upstream-truths.md): the ingress node forwards the packet
    as it came, still addressed to itself:NodePort, through the NodePort tunnel; the backend's
    node DNATs it to the pod; in Tunnel mode the reply is reverse-NATed there and sent back
    through the tunnel to the ingress node, in DSR mode it leaves the backend's node directly.
    overlay / direct (defects): the ingress node DNATs to the pod itself and routes the packet
    through vxlan.calico or unencapsulated."""
    if profile.service_mode == "kube-proxy" or node.name in profile.bpf_unsupported_nodes:
        return ""       # kube-proxy's chains do it, or (felix fell back, kube-proxy gone) nothing
    spec, backend = topo.spec, topo.backend
    is_backend_node = node.name == topo.backend_node.name
    fwd_iface = forward_iface(profile)
    # the ports forwarded to the backend's node: the Cluster Service's (and, as a defect, the Local one's)
    ports = f"{{ {spec.node_port}, {spec.node_port_local} }}" if profile.etp_local_ignored else f"{spec.node_port}"
    np_match = f"ip daddr {node.address} tcp dport {ports}"
    raw, mangle, dnat, snat, local_in = [], [], [], [], []
    if is_backend_node:
        # externalTrafficPolicy: Local: a node with a local backend DNATs to it, no tunnel
        dnat.append(f"ip daddr {node.address} tcp dport {spec.node_port_local} dnat to {backend.ip}:{backend.port}")
    elif not profile.etp_local_ignored:
        # ... one without answers ICMP port unreachable (felix: NAT_NO_BACKEND, before policy)
        local_in.append(f"ip daddr {node.address} tcp dport {spec.node_port_local} "
                        "reject with icmp type port-unreachable")
    if not is_backend_node and (profile.forward == "bpf-tunnel" or profile.service_mode == "dsr"):
        # felix's programs act before netfilter: untracked, so no NAT (kube-proxy's either, where
        # it still runs) touches the packet on its way through, nor its reply on the way back.
        if profile.snat_forwarded:    # the defect's masquerade needs conntrack
            mangle.append(f'iifname "eth0" {np_match} meta mark set {NP_MARK:#x}')
        else:
            raw.append(f'iifname "eth0" {np_match} notrack meta mark set {NP_MARK:#x}')
            if profile.forward == "bpf-tunnel":
                raw.append(f'iifname "{NP_TUNNEL_DEV}" notrack')
    elif not is_backend_node:     # overlay / direct: DNAT here, then routed to the pod
        dnat.append(f"{np_match} dnat to {backend.ip}:{backend.port}")
    if is_backend_node:
        dnat.append(f"{np_match} dnat to {backend.ip}:{backend.port}")
        if profile.forward == "bpf-tunnel" or profile.service_mode == "dsr":
            # forwarded as it came: addressed to the ingress node's NodePort
            dnat.append(f'iifname "{fwd_iface}" tcp dport {ports} dnat to {backend.ip}:{backend.port}')
    if profile.service_mode == "tunnel" and is_backend_node:
        for peer in topo.nodes:
            if peer.index == node.index:
                continue
            mac = {"bpf-tunnel": np_tunnel_mac(peer), "overlay": peer.vtep_mac}.get(profile.forward, peer.uplink_mac)
            mangle.append(f'iifname "{fwd_iface}" ct state new ether saddr {mac} '
                          f"ct mark set {RETURN_MARK_BASE + peer.index:#x}")
        mangle.append(f'iifname "{backend.host_iface}" ct mark & 0xff00 == {RETURN_MARK_BASE:#x} '
                      f"meta mark set ct mark")
    if profile.snat_forwarded and not is_backend_node:
        # the inner source becomes the ingress node's tunnel address, as a masquerade would
        only = f"ip saddr {profile.snat_sources} " if profile.snat_sources else ""
        snat.append(f'oifname "{fwd_iface}" {only}snat to {node.tunnel_ip}' if profile.forward == "bpf-tunnel"
                    else f'oifname "{fwd_iface}" {only}ct status dnat masquerade')
    forward = []
    if (is_backend_node and profile.forward == "bpf-tunnel" and profile.pod_gso
            and pod_mtu(profile) > profile.uplink_mtu - POD_MTU_OVERHEAD["VXLAN"]):
        # felix passes the pod's TCP GSO replies over its tunnel without a too-big answer, the
        # segments shrunk to fit (tc.c ~808 @ v3.29.7; seen with real felix, no ICMP at the pod);
        # a kernel tunnel device would answer ICMP instead, so the lab has the pod's segments fit
        # from the start: the MSS the client's SYN offers it, clamped to the tunnel's room
        room = profile.uplink_mtu - POD_MTU_OVERHEAD["VXLAN"] - 40
        forward.append(f'iifname "{fwd_iface}" oifname "{backend.host_iface}" tcp flags syn '
                       f"tcp option maxseg size set {room}")
    # a firewall that drops the "fragmentation needed" answer on its way to the pod: the pod never
    # learns that its full-size packets do not fit the tunnel (a defect)
    out = ([f'oifname "{backend.host_iface}" icmp type destination-unreachable icmp code frag-needed drop']
           if profile.drop_icmp_too_big and is_backend_node else [])
    chains = [("raw_pre", "filter", "prerouting", "raw", raw),
              ("mangle_pre", "filter", "prerouting", "mangle", mangle),
              ("nodeport", "nat", "prerouting", "dstnat - 10", dnat),
              ("masq", "nat", "postrouting", "srcnat", snat),
              ("etp_local", "filter", "input", "filter", local_in),
              ("mss", "filter", "forward", "mangle", forward),
              ("icmp_out", "filter", "output", "filter", out)]
    return nft_table("ip cclab", chains)


def nft_table(family_and_name: str, chains) -> str:
    """An nftables table of base chains [(name, type, hook, priority, rules)]; empty chains are
    left out, and a table without rules is no table at all."""
    body = [f"  chain {name} {{\n    type {kind} hook {hook} priority {prio}; policy accept;\n"
            + "".join(f"    {r}\n" for r in rules) + "  }"
            for name, kind, hook, prio, rules in chains if rules]
    return f"table {family_and_name} {{\n" + "\n".join(body) + "\n}\n" if body else ""
