"""The probed NodePort path as an inline SVG (no scripts, no external files): client -> ingress node
-> tunnel -> backend node -> pod, the reply path (back through the tunnel, or directly from the
backend's node under DSR), a marker per capture point (green: saw the connection, grey: saw nothing
of it, red: an expectation broke there)."""
from __future__ import annotations

from markupsafe import Markup, escape

from calico_conformance.upstream import BPF_NODEPORT_VNI

W, H = 960, 250
BOX_W, BOX_H, TOP = 150, 60, 95
XS = {"client": 40, "ingress": 285, "backend": 530, "pod": 775}
GREEN, GREY, RED, INK = "#1a7f37", "#8c959f", "#cf222e", "#1f2328"


def _box(role: str, title: str, sub: str) -> str:
    x = XS[role]
    return (f'<rect x="{x}" y="{TOP}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="#f6f8fa" stroke="{INK}"/>'
            f'<text x="{x + BOX_W / 2}" y="{TOP + 24}" text-anchor="middle" font-weight="bold">{escape(title)}</text>'
            f'<text x="{x + BOX_W / 2}" y="{TOP + 44}" text-anchor="middle" font-size="11">{escape(sub)}</text>')


def _arrow(x1, y1, x2, y2, colour, label="", label_y=None, dashed=False) -> str:
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    out = (f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{colour}" stroke-width="2"{dash} '
           f'marker-end="url(#cc-head-{colour[1:]})"/>')
    if label:
        ly = label_y if label_y is not None else y1 - 6
        out += (f'<text x="{(x1 + x2) / 2}" y="{ly}" text-anchor="middle" font-size="11" fill="{colour}">'
                f'{escape(label)}</text>')
    return out


def _marker(x, y, hop: dict) -> str:
    colour = RED if hop["broken"] else GREEN if (hop["syn"] or hop["synack"]) else GREY
    mark = "\u2717" if hop["broken"] else "\u25cf"
    return (f'<g><title>{escape(hop["point"])}: {escape("; ".join(hop["syn"] + hop["synack"]) or "saw nothing of it")}'
            f'</title><circle cx="{x}" cy="{y}" r="7" fill="{colour}"/>'
            f'<text x="{x}" y="{y + 4}" text-anchor="middle" font-size="10" fill="#fff">{mark}</text></g>')


def draw(path: dict) -> Markup:
    hops = {h["role"]: h for h in path.get("hops", [])}
    ingress, backend = path["ingress"], path["backend_node"]
    req_y, rep_y = TOP + 20, TOP + 42
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" role="img" class="cc-path" '
             f'font-family="sans-serif" font-size="12" width="100%">',
             f'<title>Probed path of connection {escape(path["connection"])}</title><defs>']
    for colour in (GREEN, GREY, RED, INK):
        parts.append(f'<marker id="cc-head-{colour[1:]}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
                     f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>')
    parts.append("</defs>")
    parts.append(f'<text x="10" y="18" font-weight="bold">Request (SYN of {escape(path["connection"])}) above the '
                 f'boxes, reply (SYN-ACK) below; dots are capture points</text>')
    parts += [_box("client", "external client", path["client"]),
              _box("ingress", f"ingress {ingress['name']}", ingress["address"]),
              _box("backend", f"backend node {backend['name']}", backend["address"]),
              _box("pod", "backend pod", path["pod"].get("address") or path["pod"].get("iface", ""))]
    side = lambda role, which: which in hops.get(role, {}).get("broken_side", ())
    # a request arrow is red when its SYN never arrived or a request expectation broke there;
    # a reply arrow when a reply expectation broke at a point on it
    col = lambda role: RED if role in hops and (not hops[role]["syn"] or side(role, "request")) else INK
    rcol = lambda *roles: RED if any(side(r, "reply") for r in roles) else INK
    # request: client -> ingress (NodePort), ingress -> backend (tunnel), backend -> pod
    gap = lambda a, b: (XS[a] + BOX_W, XS[b])
    x1, x2 = gap("client", "ingress")
    parts.append(_arrow(x1, req_y, x2, req_y, col("ingress"), f"to NodePort :{path['node_port']}", TOP - 8))
    x1, x2 = gap("ingress", "backend")
    vni = path.get("tunnel_vni")
    if not path.get("tunnelled"):
        tunnel, colour = "NOT encapsulated", RED
    elif vni is not None and vni != BPF_NODEPORT_VNI:
        tunnel, colour = f"overlay VXLAN vni {vni:#x}, not felix's NodePort tunnel", RED
    else:
        tunnel, colour = f"felix's NodePort tunnel (VXLAN vni {BPF_NODEPORT_VNI:#x})", col("backend")
    parts.append(_arrow(x1, req_y, x2, req_y, colour, tunnel, TOP - 8))
    x1, x2 = gap("backend", "pod")
    parts.append(_arrow(x1, req_y, x2, req_y, col("pod"), "to the pod", TOP - 8))
    # reply
    reply = path.get("reply")
    x1, x2 = gap("backend", "pod")
    parts.append(_arrow(x2, rep_y, x1, rep_y, rcol("pod"), "SYN-ACK", TOP + BOX_H + 16))
    if reply == "direct":
        bx, cx, y = XS["backend"] + BOX_W / 2, XS["client"] + BOX_W / 2, TOP + BOX_H
        parts.append(f'<path d="M{bx},{y} C{bx},{y + 80} {cx},{y + 80} {cx},{y + 2}" fill="none" stroke="{rcol("backend")}" '
                     f'stroke-width="2" marker-end="url(#cc-head-{rcol("backend")[1:]})"/>')
        parts.append(f'<text x="{(bx + cx) / 2}" y="{y + 76}" text-anchor="middle" font-size="11">direct from the '
                     f'backend\u2019s node (DSR), not through {escape(ingress["name"])}</text>')
    elif reply == "via ingress":
        for a, b, text in (("ingress", "backend", "back through the tunnel"), ("client", "ingress", "to the client")):
            x1, x2 = gap(a, b)
            parts.append(_arrow(x2, rep_y, x1, rep_y, rcol(a, b), text, TOP + BOX_H + 16))
    else:
        parts.append(f'<text x="{W / 2}" y="{TOP + BOX_H + 60}" text-anchor="middle" fill="{RED}">no SYN-ACK was seen '
                     "leaving a node: the reply path is unknown</text>")
    spots = {"client": XS["client"] + BOX_W, "ingress": XS["ingress"], "backend": XS["backend"], "pod": XS["pod"]}
    for role, x in spots.items():
        if role in hops:
            parts.append(_marker(x, TOP + BOX_H / 2, hops[role]))
    broke = [h["point"] for h in path.get("hops", []) if h["broken"]]
    if broke:
        parts.append(f'<text x="10" y="{H - 8}" fill="{RED}" font-weight="bold">expectation broke at: '
                     f'{escape(", ".join(broke))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
