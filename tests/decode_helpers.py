"""Realistic frames for the decoder tests, built with scapy (explicit MACs: no route look-ups)."""
from __future__ import annotations

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

NODE1_MAC, NODE2_MAC = "02:00:00:00:01:01", "02:00:00:00:02:01"
POD_MAC, GW_MAC = "02:00:0a:f4:02:05", "ee:ee:ee:ee:ee:ee"
CLIENT, NODE1, NODE2, POD = "172.31.0.100", "172.31.0.11", "172.31.0.12", "10.244.2.5"
CLIENT6, NODE1_6, NODE2_6, POD6 = "fd00:31::100", "fd00:31::11", "fd00:31::12", "fd00:244:2::5"
TCP_OPTS = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 0)), ("NOP", None), ("WScale", 7)]


def ip(src: str, dst: str, **kw):
    return IPv6(src=src, dst=dst, **kw) if ":" in src else IP(src=src, dst=dst, **kw)


def tcp(src=CLIENT, dst=POD, sport=40000, dport=8080, flags="S", *, seq=1000, ack=0, payload=b"",
        src_mac=NODE1_MAC, dst_mac=POD_MAC, ip_kw=None, tcp_kw=None, tags=()):
    """An Ethernet frame with a TCP segment; ``tags`` are scapy VLAN layers, outer-first."""
    frame = Ether(src=src_mac, dst=dst_mac)
    for tag in tags:
        frame = frame / tag
    opts = TCP_OPTS if "S" in flags else []
    frame = frame / ip(src, dst, **(ip_kw or {})) / TCP(sport=sport, dport=dport, flags=flags, seq=seq,
                                                         ack=ack, options=opts, **(tcp_kw or {}))
    return frame / Raw(payload) if payload else frame


def syn(**kw):
    return tcp(flags="S", **kw)


def synack(**kw):
    kw = {"src": POD, "dst": CLIENT, "sport": 8080, "dport": 40000, "seq": 5000, "ack": 1001,
          "src_mac": POD_MAC, "dst_mac": GW_MAC, **kw}
    return tcp(flags="SA", **kw)


def vxlan(inner, *, port=4789, vni=4096, outer_src=NODE1, outer_dst=NODE2, sport=49152, tags=(),
          src_mac=NODE1_MAC, dst_mac=NODE2_MAC, outer_ip_kw=None):
    """``inner`` (an Ethernet frame) tunnelled from node1 to node2 as Calico's VXLAN does."""
    frame = Ether(src=src_mac, dst=dst_mac)
    for tag in tags:
        frame = frame / tag
    return (frame / ip(outer_src, outer_dst, **(outer_ip_kw or {})) / UDP(sport=sport, dport=port)
            / VXLAN(flags=0x08, vni=vni) / inner)


def qinq(outer_vid=100, inner_vid=20):
    return (Dot1AD(vlan=outer_vid, prio=3), Dot1Q(vlan=inner_vid, prio=5))


def gso_frame(size=9000, ip_len=0, *, v6=False, encap=False) -> bytes:
    """A TSO super-frame as captured on a transmit path: one ``size``-byte TCP payload, the IP
    length field set to ``ip_len`` (0 as in BIG TCP/TSO, or a wrong value), checksums unset."""
    src, dst = (CLIENT6, POD6) if v6 else (CLIENT, POD)
    ip_kw = {"plen": ip_len} if v6 else {"len": ip_len, "chksum": 0}
    inner = tcp(src, dst, flags="PA", seq=7000, ack=9000, payload=b"x" * size, ip_kw=ip_kw,
                tcp_kw={"chksum": 0})
    return bytes(vxlan(inner, outer_ip_kw={"len": ip_len}) if encap else inner)
