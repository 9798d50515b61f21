"""``calico-conformance explain-pcap FILE``: what the decoder sees in a capture, flow by flow."""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys

from calico_conformance.evidence.decode import DEFAULT_VXLAN_PORTS, decode_capture, flows
from calico_conformance.evidence.pcap import read_capture

NAME = "explain-pcap"
HELP = ("Show what the evidence decoder sees in a pcap/pcapng file: flows (outer VXLAN -> VNI -> "
        "inner 5-tuple) and, with --frames, every frame.")
_MAX_NOTES = 20   # notes listed without --frames


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE",
                        help="a .pcap or .pcapng capture (Ethernet, Linux cooked SLL/SLL2, raw IP)")
    parser.add_argument("--json", action="store_true", help="print one JSON document instead of tables")
    parser.add_argument("--frames", action="store_true", help="also list every frame, one line each")
    parser.add_argument("--vxlan-port", dest="vxlan_ports", metavar="N", type=_port, action="append",
                        help="UDP destination port carrying VXLAN; repeat for several "
                             "(default: 4789 and 8472)")
    parser.add_argument("--mtu", type=_mtu, default=1500,
                        help="IP MTU of the captured link; longer packets are GSO super-frames "
                             "(default: 1500)")


def run(args: argparse.Namespace) -> int:

    ports = tuple(args.vxlan_ports or DEFAULT_VXLAN_PORTS)
    capture = read_capture(args.file)
    frames = decode_capture(capture, vxlan_ports=ports, mtu=args.mtu)
    rows = flows(frames)
    if args.json:
        text = json.dumps(_document(capture, frames, rows, ports, args), indent=2) + "\n"
    else:
        text = _text(capture, frames, rows, ports, args)
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:   # `explain-pcap ... | head` is fine
        sys.stdout = open("/dev/null", "w")
    return 0


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value!r} is not a UDP port (1-65535)")
    return port


def _mtu(value: str) -> int:
    if not value.isdigit() or not 68 <= int(value) <= 1 << 20:
        raise argparse.ArgumentTypeError(f"{value!r} is not an IP MTU (68 or more)")
    return int(value)


def _document(capture, frames, rows, ports, args) -> dict:
    doc = {
        "file": capture.path, "format": capture.format, "link_type": capture.link_type,
        "link_type_name": capture.link_type_name, "frame_count": len(frames),
        "vxlan_ports": list(ports), "mtu": args.mtu, "problems": capture.problems, "flows": rows,
    }
    if args.frames:
        doc["frames"] = [_frame_json(f) for f in frames]
    return doc


def _frame_json(f) -> dict:
    """A DecodedFrame as a dictionary, VLAN tags as ``{"tpid": "0x8100", "vid": 20, "pcp": 0}``."""
    out = dict(dataclasses.asdict(f), summary=f.summary(), encapsulated=f.encapsulated)
    out["vlan_tags"] = [t.as_json() for t in f.vlan_tags]
    if f.encap is not None:
        out["encap"]["inner_vlan_tags"] = [t.as_json() for t in f.encap.inner_vlan_tags]
    return out


def _text(capture, frames, rows, ports, args) -> str:
    gso = sum(f.gso for f in frames)
    noted = [f for f in frames if f.notes]
    out = [f"file:        {capture.path}",
           f"format:      {capture.format}, link type {capture.link_type} ({capture.link_type_name})",
           f"frames:      {len(frames)} ({gso} GSO super-frames, {len(noted)} with notes)",
           f"vxlan ports: {', '.join(map(str, ports))}   mtu: {args.mtu}"]
    if capture.link_type in (113, 276):
        out.append("note:        cooked capture: destination MACs are not recorded (00:00:00:00:00:00)")
    out += [f"problem:     {p}" for p in capture.problems]
    out += ["", f"FLOWS ({len(rows)})"]
    out += _table(["#", "ENCAP", "OUTER", "VNI", "INNER", "FRAMES", "FIRST-LAST", "FLAGS", "VLAN", "GSO"],
                  [_flow_cells(i, r) for i, r in enumerate(rows, 1)])
    if args.frames:
        out += ["", "FRAMES"]
        for f in frames:
            out.append(f.summary())
            out += [f"    note: {n}" for n in f.notes]
    elif noted:
        out += ["", "NOTES"]
        out += [f"#{f.index}: {n}" for f in noted[:_MAX_NOTES] for n in f.notes]
        if len(noted) > _MAX_NOTES:
            out.append(f"... {len(noted) - _MAX_NOTES} more frames with notes (see --frames)")
    return "\n".join(out) + "\n"


def _flow_cells(number: int, r: dict) -> list[str]:
    outer = f"{r['outer_src']} > {r['outer_dst']} udp/{r['udp_dport']}" if r["encapsulated"] else "-"
    vlans = [f"outer {t}" if r["encapsulated"] else t for t in r["vlan_tags"]]
    vlans += [f"inner {t}" for t in r["inner_vlan_tags"]]
    return [str(number), "yes" if r["encapsulated"] else "no", outer,
            "-" if r["vni"] is None else f"{r['vni']:#x}", _inner(r), str(r["frames"]),
            f"{r['first']}-{r['last']}", ",".join(r["tcp_flags"]) or "-", "; ".join(vlans) or "-",
            str(r["gso_frames"]) if r["gso_frames"] else "-"]


def _inner(r: dict) -> str:
    if not r["src"] and not r["dst"]:
        return r["proto"]
    if r["sport"] is None:
        return f"{r['proto']} {r['src']} > {r['dst']}"
    return f"{r['proto']} {_endpoint(r['src'], r['sport'])} > {_endpoint(r['dst'], r['dport'])}"


def _endpoint(addr: str, port: int) -> str:
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def _table(headers: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(c) for c in col) for col in zip(headers, *rows)]
    return ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [headers, *rows]]
