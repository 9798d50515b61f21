"""The text the lab feeds to ``ip -batch``, ``nft -f`` and ``iptables-restore`` for each namespace.

Pure functions of (topology, profile): no side effects, so they are easy to read and test.
"""
from __future__ import annotations

from calico_conformance.lab.profiles import Profile
from calico_conformance.lab.topology import CLIENT_IP, POD_GATEWAY, LabNode, Topology

CALI_MAC = "ee:ee:ee:ee:ee:ee"       # Calico's host-side MAC on every cali* interface
TUNNEL_DEV = "vxlan.calico"
TRUNK_VID = 100
RETURN_MARK_BASE = 0x100            # tunnel mode: ct mark 0x100+i = "forwarded to us by node i"
DSR_MARK = 0x200
DSR_TABLE = 200


def wire_vxlan(topo: Topology, profile: Profile) -> tuple[int, int]:
    """(UDP port, VNI) the VXLAN devices really use."""
    return (profile.wire_vxlan_port or topo.spec.vxlan_port,
            profile.wire_vxlan_vni or topo.spec.vxlan_vni)


def fabric_batch(topo: Topology, profile: Profile) -> str:
    lines = ["link set lo up", "link add br0 type bridge", "link set br0 up"]
    ends = [("client", topo.client_ns, topo.client_mac)]
    ends += [(n.name, n.netns, n.uplink_mac) for n in topo.nodes]
    for name, netns, mac in ends:
        lines += [f"link add p-{name} type veth peer name eth0 netns {netns} address {mac}",
                  f"link set p-{name} master br0", f"link set p-{name} up"]
    if profile.tagged_vlan_trunk:
        node = topo.backend_node
        lines += [f"link add trunk-{node.name} type veth peer name eth1 netns {node.netns}",
                  f"link set trunk-{node.name} up"]
    return "\n".join(lines) + "\n"


def _neighbours(topo: Topology, me: str) -> list[str]:
    entries = [(CLIENT_IP, topo.client_mac)] + [(n.address, n.uplink_mac) for n in topo.nodes]
    return [f"neigh replace {ip} lladdr {mac} dev eth0 nud permanent"
            for ip, mac in entries if ip != me]


def client_batch(topo: Topology) -> str:
    lines = ["link set lo up", f"addr add {CLIENT_IP}/24 dev eth0", "link set eth0 up"]
    lines += _neighbours(topo, CLIENT_IP)
    return "\n".join(lines) + "\n"


def node_batch(topo: Topology, profile: Profile, node: LabNode) -> str:
    port, vni = wire_vxlan(topo, profile)
    lines = ["link set lo up", f"addr add {node.address}/24 dev eth0", "link set eth0 up"]
    lines += _neighbours(topo, node.address)
    if profile.forward == "vxlan":
        lines += [f"link add {TUNNEL_DEV} type vxlan id {vni} dstport {port} local {node.address} "
                  f"dev eth0 nolearning",
                  f"link set {TUNNEL_DEV} address {node.vtep_mac}",
                  f"addr add {node.tunnel_ip}/32 dev {TUNNEL_DEV}",
                  f"link set {TUNNEL_DEV} up"]
    for peer in topo.nodes:
        if peer is node or peer.index == node.index:
            continue
        if profile.forward == "vxlan":
            lines += [f"neigh replace {peer.tunnel_ip} lladdr {peer.vtep_mac} dev {TUNNEL_DEV} nud permanent",
                      f"route add {peer.pod_cidr} via {peer.tunnel_ip} dev {TUNNEL_DEV} onlink"]
        else:
            lines.append(f"route add {peer.pod_cidr} via {peer.address} dev eth0")
    if node.name == topo.backend_node.name:
        pod = topo.backend
        lines += [f"link add {pod.host_iface} address {CALI_MAC} type veth peer name eth0 "
                  f"netns {pod.netns} address {pod.mac}",
                  f"link set {pod.host_iface} up",
                  f"route add {pod.ip}/32 dev {pod.host_iface} scope link",
                  f"neigh replace {pod.ip} lladdr {pod.mac} dev {pod.host_iface} nud permanent"]
        lines += _return_path_routes(topo, profile, node)
    if profile.service_mode == "dsr" and node.name != topo.backend_node.name:
        # Forward NodePort packets for our own address untouched: the fwmark rule must be seen
        # before the local table, so the local rule moves behind it (LAB-NOTES). Scoped to
        # eth0: the VXLAN device's own outer packet keeps the mark and must not loop back in.
        lines += [f"rule add pref 1000 iif eth0 fwmark {DSR_MARK:#x} lookup {DSR_TABLE}",
                  "rule add pref 1001 lookup local", "rule del pref 0 lookup local",
                  f"route add default {_via(topo, profile, topo.backend_node)} table {DSR_TABLE}"]
    return "\n".join(lines) + "\n"


def _via(topo: Topology, profile: Profile, peer: LabNode) -> str:
    if profile.forward == "vxlan":
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


def pod_batch(topo: Topology) -> str:
    pod = topo.backend
    return "\n".join([
        "link set lo up", f"addr add {pod.ip}/32 dev eth0", "link set eth0 up",
        f"route add {POD_GATEWAY} dev eth0 scope link",
        f"route add default via {POD_GATEWAY} dev eth0",
        f"neigh replace {POD_GATEWAY} lladdr {CALI_MAC} dev eth0 nud permanent",
    ]) + "\n"


def node_nft(topo: Topology, profile: Profile, node: LabNode) -> str:
    """The emulated Calico eBPF service handling, as an nftables table ``cclab``."""
    if profile.service_mode == "kube-proxy":
        return ""
    spec, backend = topo.spec, topo.backend
    is_backend_node = node.name == topo.backend_node.name
    fwd_iface = TUNNEL_DEV if profile.forward == "vxlan" else "eth0"
    raw, mangle, dnat, snat = [], [], [], []
    if profile.service_mode == "dsr" and not is_backend_node:
        raw.append(f"ip daddr {node.address} tcp dport {spec.node_port} notrack "
                   f"meta mark set {DSR_MARK:#x}")
    elif profile.service_mode == "dsr":
        dnat.append(f'iifname "{fwd_iface}" tcp dport {spec.node_port} '
                    f"dnat to {backend.ip}:{backend.port}")
    if profile.service_mode == "tunnel" or is_backend_node:
        dnat.append(f"ip daddr {node.address} tcp dport {spec.node_port} "
                    f"dnat to {backend.ip}:{backend.port}")
    if profile.service_mode == "tunnel" and is_backend_node:
        for peer in topo.nodes:
            if peer.index == node.index:
                continue
            mac = peer.vtep_mac if profile.forward == "vxlan" else peer.uplink_mac
            mangle.append(f'iifname "{fwd_iface}" ct state new ether saddr {mac} '
                          f"ct mark set {RETURN_MARK_BASE + peer.index:#x}")
        mangle.append(f'iifname "{backend.host_iface}" ct mark & 0xff00 == {RETURN_MARK_BASE:#x} '
                      f"meta mark set ct mark")
    if profile.snat_forwarded:
        snat.append(f'oifname "{fwd_iface}" ct status dnat masquerade')
    chains = [("raw_pre", "filter", "prerouting", "raw", raw),
              ("mangle_pre", "filter", "prerouting", "mangle", mangle),
              ("nodeport", "nat", "prerouting", "dstnat - 10", dnat),
              ("masq", "nat", "postrouting", "srcnat", snat)]
    return nft_table("ip cclab", chains)


def nft_table(family_and_name: str, chains) -> str:
    """An nftables table of base chains [(name, type, hook, priority, rules)]; empty chains are
    left out, and a table without rules is no table at all."""
    body = [f"  chain {name} {{\n    type {kind} hook {hook} priority {prio}; policy accept;\n"
            + "".join(f"    {r}\n" for r in rules) + "  }"
            for name, kind, hook, prio, rules in chains if rules]
    return f"table {family_and_name} {{\n" + "\n".join(body) + "\n}\n" if body else ""


# kube-proxy's iptables-save output for one NodePort service, as kube-proxy 1.31 writes it.
_SVC, _SEP = "KUBE-SVC-CCL4BACKEND0000", "KUBE-SEP-CCL4BACKEND0000"
_EXT = "KUBE-EXT-CCL4BACKEND0000"


def kube_proxy_iptables(topo: Topology, mode: str) -> str:
    if mode == "none":
        return ""
    spec, backend = topo.spec, topo.backend
    svc = "calico-conformance/backend:http"
    chains = ["KUBE-MARK-MASQ", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-SERVICES", _EXT, _SEP, _SVC]
    nat = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
           ":POSTROUTING ACCEPT [0:0]"] + [f":{c} - [0:0]" for c in chains]
    if mode == "active":   # leftover chains are no longer jumped to
        nat += ['-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
                '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
                '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING']
    nat += [
        "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
        f'-A KUBE-NODEPORTS -p tcp -m comment --comment "{svc}" -m tcp --dport {spec.node_port} -j {_EXT}',
        "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
        "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
        '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
        "-j MASQUERADE --random-fully",
        f'-A {_EXT} -m comment --comment "masquerade traffic for {svc} external destinations" '
        "-j KUBE-MARK-MASQ",
        f"-A {_EXT} -j {_SVC}",
        f'-A {_SEP} -p tcp -m comment --comment "{svc}" -m tcp -j DNAT --to-destination '
        f"{backend.ip}:{backend.port}",
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be '
        'the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
        f'-A {_SVC} -m comment --comment "{svc} -> {backend.ip}:{backend.port}" -j {_SEP}',
        "COMMIT",
    ]
    filt = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
            ":KUBE-FORWARD - [0:0]"]
    if mode == "active":
        filt.append('-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD')
    filt += ['-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" '
             "-m mark --mark 0x4000/0x4000 -j ACCEPT", "COMMIT"]
    return "\n".join(nat + filt) + "\n"
