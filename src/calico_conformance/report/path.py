"""The path one probed NodePort connection took, from the decoded captures: what each capture point
(client, ingress node uplink, backend node uplink, backend pod's interface) saw of its SYN and its
SYN-ACK, and whether the reply came back through the tunnel or left the backend's node directly.
A JSON-ready dict for summary.json; report/svg.py draws it."""
from __future__ import annotations

from pathlib import Path


def _frame_text(f) -> str:
    what = "SYN-ACK" if f.tcp.is_synack else "SYN"
    text = f"{what} {f.tcp.src}:{f.tcp.sport} > {f.tcp.dst}:{f.tcp.dport}"
    if f.encap is not None:
        e = f.encap
        text += f" in VXLAN {e.outer_src} > {e.outer_dst} udp/{e.udp_dport} vni {e.vni:#x}"
    tags = [str(t) for t in f.vlan_tags]
    if tags:
        text += f" (VLAN {' '.join(tags)})"
    return text + (f" [{f.direction}]" if f.direction else "")


def _role(obs, point) -> str:
    if point.node == "client" or point.node not in (obs.ingress.name, obs.backend_node.name):
        return "client"
    if point == obs.ingress_uplink:
        return "ingress"
    if point == obs.backend_iface:
        return "pod"
    if point == obs.backend_uplink:
        return "backend"
    if point == getattr(obs, "ingress_tunnel", None):      # another NIC than the uplink carries the tunnel
        return "ingress tunnel"
    if point == getattr(obs, "backend_tunnel", None):
        return "backend tunnel"
    return "other"


def _side(line: str) -> str:
    """Which way a WRONG verdict line broke: the reply (SYN-ACK, reply bytes) or the request."""
    return "reply" if any(w in line for w in ("SYN-ACK", "reply", "bytes arrived")) else "request"


def describe(obs, verdict_text: str = "") -> dict | None:
    """The first followed connection (a kernel one if any), hop by hop. ``verdict_text`` is the
    check's verdict table: a capture point named on a WRONG line is where an expectation broke."""
    conns = [c for c in obs.connections if c.isn is not None]
    if not conns:
        return None
    conn = next((c for c in conns if c.exchange is not None), conns[0])
    wrong = [line for line in verdict_text.splitlines() if line.lstrip().startswith("WRONG")]
    wrong = [line for line in wrong if conn.label in line] or wrong     # this connection's, if named
    hops = []
    for point in obs.frames:
        syn = obs.tcp_frames(point, conn)
        synack = obs.tcp_frames(point, conn, synack=True)
        hops.append({
            "point": str(point), "role": _role(obs, point),
            "frames": len(obs.at(point)),
            "syn": [_frame_text(f) for f in syn[:2]],
            "synack": [_frame_text(f) for f in synack[:2]],
            "syn_encapsulated": any(f.encapsulated for f in syn if f.direction != "in"),
            "synack_encapsulated": any(f.encapsulated for f in synack if f.direction != "in"),
            "synack_out": any(f.direction == "out" for f in synack),
            "broken": [line.strip() for line in wrong if f" {point} " in f" {line} "][:3],
            "broken_side": sorted({_side(line) for line in wrong if f" {point} " in f" {line} "}),
            "capture": str(Path(obs.pcaps[point]).resolve()) if point in obs.pcaps else None,
        })
    backend = next((h for h in hops if h["role"] == "backend"), None)
    ingress = next((h for h in hops if h["role"] == "ingress"), None)
    at_ingress = [h for h in hops if h["role"] in ("ingress", "ingress tunnel")]
    direct = bool(backend and backend["synack_out"] and not backend["synack_encapsulated"])
    via_ingress = bool(ingress and ingress["synack_out"])
    # what the request left the ingress node in: felix's NodePort tunnel, the overlay, or nothing
    leaving = [f for p in obs.frames if p.node == obs.ingress.name for f in obs.tcp_frames(p, conn)
               if f.direction == "out" and f.encapsulated]
    return {
        "connection": conn.label, "client": obs.client_address,
        "ingress": {"name": obs.ingress.name, "address": obs.ingress.address},
        "backend_node": {"name": obs.backend_node.name, "address": obs.backend_node.address},
        "pod": {"address": getattr(obs.service, "backend_ip", ""), "iface": obs.service.backend_host_iface},
        "node_port": obs.service.node_port,
        "tunnelled": any(h["syn_encapsulated"] for h in at_ingress),
        "tunnel_vni": leaving[0].encap.vni if leaving else None,
        "reply": "direct" if direct and not via_ingress else "via ingress" if via_ingress else "unseen",
        "hops": hops,
    }
