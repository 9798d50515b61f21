"""Captured frames -> ``DecodedFrame``: Ethernet, VLAN stacks, IPv4/IPv6, VXLAN, TCP/UDP/SCTP ports.

Headers are read with ``struct`` at fixed offsets rather than by full scapy dissection: scapy takes
~0.4 ms per VXLAN frame (seven layers, over the 0.3 ms budget) and trims packets to their length
fields, which GSO super-frames get wrong. scapy's TCP definition still names the flags, so they read
exactly like ``str(pkt[TCP].flags)``. Checksums are never verified (tx offload leaves them unset).
Nothing here raises on bad input: what could not be read becomes a note on the frame.
"""
from __future__ import annotations

import socket
import struct
from dataclasses import replace
from functools import lru_cache
from typing import Iterable

from calico_conformance.evidence.pcap import read_capture
from calico_conformance.vocabulary.frames import CapturePoint, DecodedFrame, Encapsulation, TcpSegment, VlanTag

DEFAULT_VXLAN_PORTS = (4789, 8472)   # Calico/IANA and the Linux/flannel default
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
ETH_IPV4, ETH_IPV6, ETH_ARP = 0x0800, 0x86DD, 0x0806
PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 47: "gre", 50: "esp", 58: "icmp6", 132: "sctp"}
_IPV6_EXT = (0, 43, 60)      # hop-by-hop, routing, destination options: (len + 1) * 8 bytes
_MAX_TUNNELS = 3             # VXLAN in VXLAN in VXLAN is already absurd

_u16 = struct.Struct("!H").unpack_from
_eth = struct.Struct("!6s6sH").unpack_from
_vlan = struct.Struct("!HH").unpack_from
_ipv4 = struct.Struct("!BxHxxHxB").unpack_from      # version/ihl, total length, frag, protocol
_ipv6 = struct.Struct("!4xHB").unpack_from          # payload length, next header
_ports = struct.Struct("!HH").unpack_from
_tcp = struct.Struct("!HHIIBB").unpack_from
_vxlan = struct.Struct("!B3xI").unpack_from
_ntop = socket.inet_ntop
_AF4, _AF6 = socket.AF_INET, socket.AF_INET6


@lru_cache(maxsize=None)
def tcp_flag_letters(bits: int) -> str:
    """scapy's letters for a 9-bit TCP flags value ("S", "SA", "PA", ...)."""
    from scapy.fields import FlagValue
    from scapy.layers.inet import TCP
    names = next(f.names for f in TCP.fields_desc if f.name == "flags")
    return str(FlagValue(bits, names))


class _State:
    """What has been read so far; the innermost packet overwrites the L3/L4 fields."""
    __slots__ = ("notes", "vxlan_ports", "mtu", "gso", "encap", "l3_proto", "l3_src", "l3_dst",
                 "ip_proto", "sport", "dport", "tcp")

    def __init__(self, vxlan_ports, mtu):
        self.notes: list[str] = []
        self.vxlan_ports = vxlan_ports
        self.mtu = mtu
        self.gso = False
        self.encap: Encapsulation | None = None
        self.l3_proto = self.l3_src = self.l3_dst = ""
        self.ip_proto = 0
        self.sport = self.dport = None
        self.tcp: TcpSegment | None = None


def decode_frame(data: bytes, *, index: int = 0, time: float = 0.0, point: CapturePoint | None = None,
                 direction: str | None = None, vxlan_ports=DEFAULT_VXLAN_PORTS,
                 mtu: int = 1500) -> DecodedFrame:
    """Decode one Ethernet frame. Never raises: unreadable parts become ``notes``."""
    data = bytes(data)
    st = _State(vxlan_ports, mtu)
    src = dst = ""
    tags: tuple[VlanTag, ...] = ()
    ethertype = 0
    try:
        eth = _ethernet(data, 0, len(data), st)
        if eth:
            dst, src, tags, ethertype, off = eth
            if off is not None:
                _l3(data, off, len(data), ethertype, st, 0)
        elif len(data) >= 12:
            dst, src = data[0:6].hex(":"), data[6:12].hex(":")
    except Exception as exc:   # a decoder bug must cost a note, never the frame or the run
        st.notes.append(f"decoder error: {type(exc).__name__}: {exc}")
    return DecodedFrame(
        index=index, time=time, length=len(data), src_mac=src, dst_mac=dst, point=point,
        direction=direction, vlan_tags=tags, ethertype=ethertype, encap=st.encap,
        l3_proto=st.l3_proto, l3_src=st.l3_src, l3_dst=st.l3_dst, ip_proto=st.ip_proto, tcp=st.tcp,
        gso=st.gso, notes=tuple(st.notes), l4_sport=st.sport, l4_dport=st.dport)


def decode_frames(frames: Iterable, *, point: CapturePoint | None = None,
                  vxlan_ports=DEFAULT_VXLAN_PORTS, mtu: int = 1500) -> list[DecodedFrame]:
    """Decode ``RawFrame``s (time, data, direction) in order; ``index`` is the position."""
    return [decode_frame(f.data, index=i, time=f.time, point=point, direction=f.direction,
                         vxlan_ports=vxlan_ports, mtu=mtu)
            for i, f in enumerate(frames)]


def decode_capture(capture, *, point: CapturePoint | None = None, vxlan_ports=DEFAULT_VXLAN_PORTS,
                   mtu: int = 1500) -> list[DecodedFrame]:
    """Decode a ``calico_conformance.evidence.pcap.PcapFile``, noting frames cut short by the snap length."""
    decoded = decode_frames(capture.frames, point=point, vxlan_ports=vxlan_ports, mtu=mtu)
    for i, missing in enumerate(capture.missing_bytes):
        if missing > 0:
            frame = decoded[i]
            decoded[i] = replace(frame, notes=frame.notes + (
                f"snap length: {missing} bytes of this frame were not captured",))
    return decoded


def decode_pcap(path, *, point: CapturePoint | None = None, vxlan_ports=DEFAULT_VXLAN_PORTS,
                mtu: int = 1500) -> list[DecodedFrame]:
    """Decode a pcap or pcapng file (Ethernet, Linux cooked SLL/SLL2, raw IP).
    Raises ``UsageError`` if the file is missing or not a capture."""
    return decode_capture(read_capture(path), point=point, vxlan_ports=vxlan_ports, mtu=mtu)


# --- layers: each reads data[off:end] and records into st -------------------------------------

def _ethernet(data, off, end, st):
    """-> (dst, src, vlan tags, ethertype, payload offset or None if a tag is cut), or None if
    the Ethernet header itself is cut."""
    if end - off < 14:
        st.notes.append("truncated Ethernet header")
        return None
    dst, src, ethertype = _eth(data, off)
    off += 14
    tags = []
    while ethertype in VLAN_TPIDS:
        if end - off < 4:
            st.notes.append("truncated VLAN tag")
            return dst.hex(":"), src.hex(":"), tuple(tags), 0, None
        tci, inner_type = _vlan(data, off)
        tags.append(VlanTag(ethertype, tci & 0xFFF, tci >> 13))
        ethertype = inner_type
        off += 4
    return dst.hex(":"), src.hex(":"), tuple(tags), ethertype, off


def _l3(data, off, end, ethertype, st, depth):
    if ethertype == ETH_IPV4:
        _ip4(data, off, end, st, depth)
    elif ethertype == ETH_IPV6:
        _ip6(data, off, end, st, depth)
    elif ethertype == ETH_ARP:
        _arp(data, off, end, st)
    elif ethertype < 0x600:
        st.notes.append("802.3 length field (LLC frame) not decoded")
    else:
        st.notes.append(f"ethertype 0x{ethertype:04x} not decoded")


def _ip4(data, off, end, st, depth):
    st.l3_proto = "ipv4"
    if end - off < 20:
        st.notes.append("truncated IPv4 header")
        return
    vihl, total, frag, proto = _ipv4(data, off)
    st.l3_src, st.l3_dst = _ntop(_AF4, data[off + 12:off + 16]), _ntop(_AF4, data[off + 16:off + 20])
    st.ip_proto = proto
    ihl = (vihl & 15) * 4
    if vihl >> 4 != 4 or ihl < 20 or off + ihl > end:
        st.notes.append(f"bad IPv4 header (version {vihl >> 4}, header length {ihl})")
        return
    end = _packet_end(off, total, end, st, depth, "IPv4 total length", ihl)
    if frag & 0x1FFF:
        st.notes.append(f"IPv4 fragment at offset {(frag & 0x1FFF) * 8}")
        return
    _l4(data, off + ihl, end, proto, st, depth)


def _ip6(data, off, end, st, depth):
    st.l3_proto = "ipv6"
    if end - off < 40:
        st.notes.append("truncated IPv6 header")
        return
    plen, nh = _ipv6(data, off)
    st.l3_src, st.l3_dst = _ntop(_AF6, data[off + 8:off + 24]), _ntop(_AF6, data[off + 24:off + 40])
    st.ip_proto = nh
    # payload length 0 behind a hop-by-hop header is a jumbogram: BIG TCP GSO on Linux
    declared = 0 if plen == 0 and nh == 0 else 40 + plen
    end = _packet_end(off, declared, end, st, depth, "IPv6 length", 40)
    pos = off + 40
    while nh in _IPV6_EXT or nh == 44:
        if end - pos < 8:
            st.notes.append("truncated IPv6 extension header")
            # as scapy reads a cut chain: a header whose next-header and length bytes are
            # there names what follows it; else the chain ends at this header's own type
            st.ip_proto = data[pos] if end - pos >= 2 else nh
            return
        if nh == 44:
            if _u16(data, pos + 2)[0] & 0xFFF8:
                st.notes.append("IPv6 fragment (not the first)")
                st.ip_proto = data[pos]
                return
            nh, pos = data[pos], pos + 8
        else:
            nh, pos = data[pos], pos + (data[pos + 1] + 1) * 8
    st.ip_proto = nh
    _l4(data, pos, end, nh, st, depth)


def _packet_end(start, declared, end, st, depth, label, header_len):
    """Where an IP packet ends. Its length field, unless GSO or a short capture makes the bytes
    present the only truth; a longer frame than declared is Ethernet padding."""
    present = end - start
    label = f"inner {label}" if depth else label
    if depth == 0 and present > st.mtu:
        st.gso = True
        st.notes.append(f"GSO super-frame: {present}-byte IP packet, MTU {st.mtu}")
    if declared == 0:
        st.gso = True
        st.notes.append(f"{label} 0 (GSO/TSO): using the {present} bytes captured")
        return end
    if declared == present:
        return end
    if declared < header_len:
        st.notes.append(f"{label} {declared} is shorter than the header: using the bytes present")
        return end
    if st.gso:
        st.notes.append(f"{label} says {declared} bytes but {present} are present (GSO): "
                        "using the bytes present")
        return end
    if declared > present:
        st.notes.append(f"truncated packet: {label} says {declared} bytes, {present} captured")
        return end
    return start + declared


def _l4(data, off, end, proto, st, depth):
    if proto == 6:
        _tcp_segment(data, off, end, st)
    elif proto in (17, 132):    # UDP and SCTP both start with the two ports
        if end - off < (8 if proto == 17 else 12):
            st.notes.append(f"truncated {PROTO_NAMES[proto].upper()} header")
            if proto == 17 or end - off < 4:
                return
        st.sport, st.dport = _ports(data, off)
        if proto == 17 and st.dport in st.vxlan_ports:
            _vxlan_frame(data, off + 8, end, st, depth)


def _tcp_segment(data, off, end, st):
    if end - off < 20:
        st.notes.append("truncated TCP header")
        if end - off >= 4:
            st.sport, st.dport = _ports(data, off)
        return
    sport, dport, seq, ack, offset_byte, flag_byte = _tcp(data, off)
    hlen = (offset_byte >> 4) * 4
    if hlen < 20:
        st.notes.append(f"bad TCP data offset {hlen}")
        hlen = 20
    elif off + hlen > end:
        st.notes.append("truncated TCP options")
    st.sport, st.dport = sport, dport
    flags = tcp_flag_letters(((offset_byte & 1) << 8) | flag_byte)
    st.tcp = TcpSegment(st.l3_src, sport, st.l3_dst, dport, flags, seq, ack, max(0, end - off - hlen))


def _vxlan_frame(data, off, end, st, depth):
    if end - off < 8:
        st.notes.append("truncated VXLAN header")
        return
    flags, vni_word = _vxlan(data, off)
    if not flags & 0x08:
        st.notes.append("VXLAN header without the I (valid VNI) flag")
    if depth + 1 >= _MAX_TUNNELS:
        st.notes.append("VXLAN nested too deep: inner frame not decoded")
        return
    udp_checksum = _u16(data, off - 2)[0]      # the last field of the UDP header before us
    eth = _ethernet(data, off + 8, end, st)
    inner_dst, inner_src, inner_tags, ethertype, off = eth or ("", "", (), 0, None)
    if st.encap is None:
        st.encap = Encapsulation("vxlan", st.l3_src, st.l3_dst, st.sport, st.dport, vni_word >> 8,
                                 inner_src, inner_dst, inner_tags,
                                 udp_checksum=udp_checksum)
    else:
        st.notes.append(f"VXLAN inside VXLAN (vni {vni_word >> 8:#x}); encap shows the outermost")
    # the inner packet replaces the outer one as "innermost"
    st.l3_proto = st.l3_src = st.l3_dst = ""
    st.ip_proto, st.sport, st.dport = 0, None, None
    if off is not None:
        _l3(data, off, end, ethertype, st, depth + 1)


def _arp(data, off, end, st):
    st.l3_proto = "arp"
    if end - off < 28:
        st.notes.append("truncated ARP packet")
    elif data[off:off + 6] != b"\x00\x01\x08\x00\x06\x04":   # Ethernet/IPv4 ARP
        st.notes.append("ARP for other than Ethernet/IPv4 not decoded")
    else:
        st.l3_src = _ntop(_AF4, data[off + 14:off + 18])
        st.l3_dst = _ntop(_AF4, data[off + 24:off + 28])


# --- flows: the grouped view for explain-pcap and the HTML report ------------------------------

def flows(frames: list[DecodedFrame]) -> list[dict]:
    """One row per (outer VXLAN flow and VNI, innermost 5-tuple), in order of first frame.

    Keys: encapsulated, outer_src, outer_dst, udp_dport, vni (None when not encapsulated),
    ethertype, l3_proto, src, sport, dst, dport, ip_proto, proto (name), frames, first, last,
    tcp_flags, payload_bytes, vlan_tags, inner_vlan_tags, vlan_stacks, inner_vlan_stacks,
    gso_frames, directions, points. ``vlan_tags`` holds one display string per distinct tag stack;
    ``vlan_stacks`` the same stacks as data, outer tag first (``VlanTag.as_json``).
    """
    rows: dict[tuple, dict] = {}
    for f in frames:
        e = f.encap
        outer = (e.outer_src, e.outer_dst, e.udp_dport, e.vni) if e else (None, None, None, None)
        key = (e is not None, *outer, f.ethertype, f.l3_proto, f.l3_src, f.l4_sport, f.l3_dst,
               f.l4_dport, f.ip_proto)
        row = rows.get(key)
        if row is None:
            row = rows[key] = {
                "encapsulated": e is not None, "outer_src": outer[0], "outer_dst": outer[1],
                "udp_dport": outer[2], "vni": outer[3], "ethertype": f.ethertype,
                "l3_proto": f.l3_proto, "src": f.l3_src, "sport": f.l4_sport, "dst": f.l3_dst,
                "dport": f.l4_dport, "ip_proto": f.ip_proto, "proto": _proto_name(f),
                "frames": 0, "first": f.index, "last": f.index, "tcp_flags": [],
                "payload_bytes": 0, "vlan_tags": [], "inner_vlan_tags": [], "vlan_stacks": [],
                "inner_vlan_stacks": [], "gso_frames": 0,
                "directions": [], "points": []}
        row["frames"] += 1
        row["first"], row["last"] = min(row["first"], f.index), max(row["last"], f.index)
        row["gso_frames"] += f.gso
        if f.tcp:
            row["payload_bytes"] += f.tcp.payload_len
            _add(row["tcp_flags"], f.tcp.flags)
        _add(row["vlan_tags"], _tag_stack(f.vlan_tags))
        _add(row["inner_vlan_tags"], _tag_stack(e.inner_vlan_tags) if e else "")
        _add(row["vlan_stacks"], [t.as_json() for t in f.vlan_tags])
        _add(row["inner_vlan_stacks"], [t.as_json() for t in e.inner_vlan_tags] if e else [])
        _add(row["directions"], f.direction or "")
        _add(row["points"], str(f.point) if f.point else "")
    return list(rows.values())


def _add(seen: list, value) -> None:
    if value and value not in seen:
        seen.append(value)


def _tag_stack(tags) -> str:
    return " > ".join(str(t) for t in tags)


def _proto_name(f: DecodedFrame) -> str:
    if f.l3_proto in ("ipv4", "ipv6"):
        return PROTO_NAMES.get(f.ip_proto, f"proto {f.ip_proto}")
    return f.l3_proto or (f"ethertype 0x{f.ethertype:04x}" if f.ethertype else "undecoded")
