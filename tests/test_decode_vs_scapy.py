"""The fast hand-written decoder (evidence/decode.py) against scapy's own dissectors (Ether,
Dot1Q/Dot1AD, IP/IPv6, UDP, VXLAN, TCP, SCTP, ARP), frame by frame, on every capture the project
holds (tests/data/**/*.pcap*), on captures made here with scapy (every layer, VXLAN with Calico's
NodePort VNI 0xca11c0 on 4789, QinQ, IPv6 and its extension headers, every truncation of several
frames), and on every capture a lab run writes.

scapy is the reference; the test reads scapy's layers into the fields a ``DecodedFrame`` has.
Where the two are meant to differ, the test says so: a GSO super-frame's payload length (scapy
trims the packet to its IP length field, which GSO leaves 0 or wrong), the ports of a TCP or SCTP
header cut short (the decoder keeps them, scapy gives up on the whole header), and the pre-standard
QinQ TPID 0x9100, which scapy leaves undecoded and the test reads as 802.1Q, as libpcap does.
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_RR
from scapy.layers.inet6 import (IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop,
                                IPv6ExtHdrRouting)
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.layers.sctp import SCTP, SCTPChunkInit
from scapy.layers.vxlan import VXLAN
from scapy.packet import Padding, Raw

from decode_helpers import (CLIENT, CLIENT6, NODE1, NODE1_6, NODE1_MAC, NODE2, NODE2_6, NODE2_MAC, POD, POD6,
                            POD_MAC, gso_frame, qinq, syn, synack, tcp, vxlan)
from calico_conformance.evidence.decode import DEFAULT_VXLAN_PORTS, decode_frame
from calico_conformance.evidence.pcap import read_capture, write_pcap
from calico_conformance.vocabulary.frames import RawFrame
from suite_runner import REPO, needs_root


CALICO_NODEPORT_VNI = 0xCA11C0      # CALI_VXLAN_VNI, felix/bpf-gpl/nat.h
_IPV6_EXT = (IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPv6ExtHdrDestOpt)


# ---- scapy's reading, in the decoder's terms ---------------------------------------------------

def scapy_view(data: bytes, ports=DEFAULT_VXLAN_PORTS) -> dict:
    """What scapy's dissectors say about a frame, as the fields a DecodedFrame has."""
    view = {"src_mac": "", "dst_mac": "", "vlan_tags": (), "ethertype": 0, "encap": None,
            "l3_proto": "", "l3_src": "", "l3_dst": "", "ip_proto": 0, "l4": None, "tcp": None}
    if len(data) < 14:       # scapy cannot make an Ethernet layer of it at all
        if len(data) >= 12:
            view["dst_mac"], view["src_mac"] = data[0:6].hex(":"), data[6:12].hex(":")
        return view
    pkt = Ether(data)
    view["src_mac"], view["dst_mac"] = pkt.src.lower(), pkt.dst.lower()
    tags, ethertype, layer = _tags(pkt)
    view["vlan_tags"], view["ethertype"] = tags, ethertype
    if layer is not None:
        _l3(layer, ethertype, view, ports, 0)
    return view


def _tags(eth):
    """-> (tags outer-first as (tpid, vid, pcp), ethertype after them or 0 if a tag is cut,
    the layer after them or None)."""
    tags, ethertype, layer = [], eth.type, eth.payload
    while ethertype in (0x8100, 0x88A8, 0x9100):
        if ethertype == 0x9100 and type(layer) is Raw and len(layer.load) >= 4:
            # libpcap and Wireshark read the pre-standard QinQ TPID as a tag; scapy leaves it
            # Raw (binding it would change how scapy builds every tag, in every test)
            layer = Dot1Q(layer.load)
        if not isinstance(layer, Dot1Q):      # Dot1AD is a Dot1Q; a cut tag is Raw
            return tuple(tags), 0, None
        tags.append((ethertype, layer.vlan, layer.prio))
        ethertype, layer = layer.type, layer.payload
    return tuple(tags), ethertype, layer


def _l3(layer, ethertype, view, ports, depth):
    if ethertype == 0x0800:
        view["l3_proto"] = "ipv4"
        if not isinstance(layer, IP):          # header cut short: scapy leaves it Raw
            return
        view["l3_src"], view["l3_dst"], view["ip_proto"] = layer.src, layer.dst, layer.proto
        if layer.frag:
            return
        _l4(layer.payload, layer.proto, view, ports, depth, layer)
    elif ethertype == 0x86DD:
        view["l3_proto"] = "ipv6"
        if not isinstance(layer, IPv6):
            return
        view["l3_src"], view["l3_dst"] = layer.src, layer.dst
        nh, inner = layer.nh, layer.payload
        while isinstance(inner, (*_IPV6_EXT, IPv6ExtHdrFragment)):
            if isinstance(inner, IPv6ExtHdrFragment) and inner.offset:
                view["ip_proto"] = inner.nh
                return
            nh, inner = inner.nh, inner.payload
        view["ip_proto"] = nh
        _l4(inner, nh, view, ports, depth, layer)
    elif ethertype == 0x0806:
        view["l3_proto"] = "arp"
        if isinstance(layer, ARP) and (layer.hwtype, layer.ptype, layer.hwlen, layer.plen) == (1, 0x800, 6, 4):
            view["l3_src"], view["l3_dst"] = layer.psrc, layer.pdst


def _l4(layer, proto, view, ports, depth, ip_layer):
    if proto == 6 and isinstance(layer, TCP):
        payload = sum(len(p.load) for p in layer.payload.iterpayloads()
                      if isinstance(p, Raw) and not isinstance(p, Padding))
        view["l4"] = (layer.sport, layer.dport)
        view["tcp"] = (layer.sport, layer.dport, str(layer.flags), layer.seq, layer.ack, payload)
    elif proto == 132 and isinstance(layer, SCTP):
        view["l4"] = (layer.sport, layer.dport)
    elif proto == 17 and isinstance(layer, UDP):
        view["l4"] = (layer.sport, layer.dport)
        if layer.dport in ports and isinstance(layer.payload, VXLAN) and depth + 1 < 3:
            _vxlan(layer.payload, view, ports, depth, ip_layer, layer)


def _vxlan(vx, view, ports, depth, ip_layer, udp):
    inner = vx.payload
    if isinstance(inner, Ether):
        tags, ethertype, l3 = _tags(inner)
        macs = (inner.src.lower(), inner.dst.lower())
    else:                                      # the inner Ethernet header is cut
        tags, ethertype, l3, macs = (), 0, None, ("", "")
    if view["encap"] is None:
        view["encap"] = (ip_layer.src, ip_layer.dst, udp.sport, udp.dport, vx.vni, *macs, tags, udp.chksum)
    for key in ("l3_proto", "l3_src", "l3_dst"):
        view[key] = ""
    view["ip_proto"], view["l4"], view["tcp"] = 0, None, None
    if l3 is not None:
        _l3(l3, ethertype, view, ports, depth + 1)


def decoder_view(data: bytes, ports=DEFAULT_VXLAN_PORTS) -> tuple[dict, object]:
    f = decode_frame(data, vxlan_ports=ports)
    e = f.encap
    view = {"src_mac": f.src_mac, "dst_mac": f.dst_mac,
            "vlan_tags": tuple((t.tpid, t.vid, t.pcp) for t in f.vlan_tags), "ethertype": f.ethertype,
            "encap": None if e is None else (e.outer_src, e.outer_dst, e.udp_sport, e.udp_dport, e.vni,
                                             e.inner_src_mac, e.inner_dst_mac,
                                             tuple((t.tpid, t.vid, t.pcp) for t in e.inner_vlan_tags),
                                             e.udp_checksum),
            "l3_proto": f.l3_proto, "l3_src": f.l3_src, "l3_dst": f.l3_dst, "ip_proto": f.ip_proto,
            "l4": None if f.l4_sport is None else (f.l4_sport, f.l4_dport),
            "tcp": None if f.tcp is None else (f.tcp.sport, f.tcp.dport, f.tcp.flags, f.tcp.seq, f.tcp.ack,
                                               f.tcp.payload_len)}
    return view, f


def with_true_lengths(data: bytes, frame) -> bytes:
    """A GSO super-frame with its IP (and VXLAN's UDP) length fields set to the bytes present,
    as the segments it stands for would carry them: what scapy needs to read all of it."""
    buf = bytearray(data)

    def fix_ip(off: int) -> int:
        """Patch the IP header at ``off``; -> where its payload starts."""
        if buf[off] >> 4 == 4:
            struct.pack_into("!H", buf, off + 2, min(len(buf) - off, 0xFFFF))
            return off + (buf[off] & 15) * 4
        struct.pack_into("!H", buf, off + 4, min(len(buf) - off - 40, 0xFFFF))
        return off + 40

    ip_off = 14 + 4 * len(frame.vlan_tags)
    payload = fix_ip(ip_off)
    if frame.encap is not None:
        struct.pack_into("!H", buf, payload + 4, min(len(buf) - payload, 0xFFFF))
        fix_ip(payload + 8 + 8 + 14 + 4 * len(frame.encap.inner_vlan_tags))
    return bytes(buf)


def disagreement(data: bytes) -> str:
    """"" where the decoder and scapy agree on ``data``, else what differs."""
    ours, frame = decoder_view(data)
    # meant: the decoder does not trust a GSO super-frame's length fields; scapy is given true ones
    ref = scapy_view(with_true_lengths(data, frame) if frame.gso else data)
    notes = " ".join(frame.notes)
    if ref["l4"] is None and ("truncated TCP header" in notes or "truncated SCTP header" in notes):
        ours["l4"] = None                                    # meant: the ports of a cut header are kept
    diff = {k: (ours[k], ref[k]) for k in ref if ours[k] != ref[k]}
    return "" if not diff else f"{diff} (notes: {list(frame.notes)})"


# ---- captures ------------------------------------------------------------------------------------

def _frames_made_here() -> list[bytes]:
    """Every layer the decoder reads, each alone and in combination."""
    inner_syn = syn(dst=POD)
    frames = [
        syn(), synack(), tcp(flags="PA", payload=b"GET / HTTP/1.1\r\n\r\n"), tcp(flags="FA"), tcp(flags="R"),
        tcp(flags="A", payload=b"x"),                        # a 55-byte frame: Ethernet padding follows
        bytes(tcp(flags="A")) + b"\x00" * 6,                 # padded to 60 bytes as on the wire
        syn(tags=[Dot1Q(vlan=100, prio=3)]), syn(tags=qinq(200, 20)),
        syn(tags=[Dot1AD(vlan=200), Dot1Q(vlan=20), Dot1Q(vlan=30)]),
        bytes(Ether(src=NODE1_MAC, dst=POD_MAC, type=0x9100) / Dot1Q(vlan=300) / IP(src=CLIENT, dst=POD) / TCP()),
        syn(src=CLIENT6, dst=POD6), synack(src=POD6, dst=CLIENT6),
        Ether(src=NODE1_MAC, dst=POD_MAC) / IPv6(src=CLIENT6, dst=POD6) / IPv6ExtHdrHopByHop()
        / IPv6ExtHdrDestOpt() / TCP(dport=8080, flags="S"),
        Ether(src=NODE1_MAC, dst=POD_MAC) / IPv6(src=CLIENT6, dst=POD6) / IPv6ExtHdrRouting() / UDP(dport=53),
        Ether(src=NODE1_MAC, dst=POD_MAC) / IPv6(src=CLIENT6, dst=POD6) / IPv6ExtHdrFragment(offset=0, m=1, nh=6)
        / TCP(dport=8080, flags="S"),
        Ether(src=NODE1_MAC, dst=POD_MAC) / IPv6(src=CLIENT6, dst=POD6) / IPv6ExtHdrFragment(offset=100, nh=6)
        / Raw(b"y" * 40),
        Ether(src=NODE1_MAC, dst=POD_MAC) / IP(src=CLIENT, dst=POD, flags="MF") / TCP(dport=8080) / Raw(b"z" * 64),
        Ether(src=NODE1_MAC, dst=POD_MAC) / IP(src=CLIENT, dst=POD, frag=185, proto=6) / Raw(b"z" * 64),
        Ether(src=NODE1_MAC, dst=POD_MAC) / IP(src=CLIENT, dst=POD, options=[IPOption_RR()]) / TCP(dport=8080),
        Ether(src=NODE1_MAC, dst=POD_MAC) / IP(src=CLIENT, dst=POD) / UDP(sport=5353, dport=53) / Raw(b"q" * 12),
        Ether(src=NODE1_MAC, dst=POD_MAC) / IP(src=CLIENT, dst=POD) / ICMP(),
        Ether(src=NODE1_MAC, dst=POD_MAC) / IP(src=CLIENT, dst=POD) / SCTP(sport=5000, dport=30080) / SCTPChunkInit(),
        Ether(src=NODE1_MAC, dst=POD_MAC) / IPv6(src=CLIENT6, dst=POD6) / SCTP(sport=5000, dport=30080),
        Ether(src=NODE1_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=NODE1, pdst=NODE2, hwsrc=NODE1_MAC),
        Ether(src=NODE1_MAC, dst="01:80:c2:00:00:0e", type=0x88CC) / Raw(b"\x02\x07\x04" + b"\x00" * 20),
        # Calico's NodePort tunnel: VNI 0xca11c0 on 4789, UDP checksum 0, node to node
        vxlan(inner_syn, vni=CALICO_NODEPORT_VNI), vxlan(synack(), vni=CALICO_NODEPORT_VNI, outer_src=NODE2,
                                                          outer_dst=NODE1, src_mac=NODE2_MAC, dst_mac=NODE1_MAC),
        vxlan(inner_syn, vni=4096), vxlan(inner_syn, port=8472, vni=1),
        vxlan(synack(tags=[Dot1Q(vlan=20)]), vni=CALICO_NODEPORT_VNI),
        vxlan(inner_syn, tags=qinq(100, 20), vni=CALICO_NODEPORT_VNI),
        vxlan(syn(src=CLIENT6, dst=POD6), outer_src=NODE1_6, outer_dst=NODE2_6, vni=CALICO_NODEPORT_VNI),
        vxlan(vxlan(inner_syn, vni=7), vni=CALICO_NODEPORT_VNI),
        vxlan(vxlan(vxlan(inner_syn, vni=8), vni=7), vni=6),          # past the decoder's nesting limit
        Ether(src=NODE1_MAC, dst=NODE2_MAC) / IP(src=NODE1, dst=NODE2) / UDP(sport=4789, dport=40000)
        / VXLAN(vni=5) / inner_syn,                                   # VXLAN by source port only: not a tunnel
        gso_frame(9000, 0), gso_frame(9000, 1500), gso_frame(9000, 0, v6=True), gso_frame(9000, 0, encap=True),
    ]
    frames = [bytes(f) for f in frames]
    # the UDP checksum as Calico's BPF programs send it (0) and as the kernel does (set)
    zero = Ether(bytes(vxlan(inner_syn, vni=CALICO_NODEPORT_VNI)))
    zero[UDP].chksum = 0
    frames.append(bytes(zero))
    # every truncation of a few frames that cross every layer
    for whole in (bytes(vxlan(synack(tags=[Dot1Q(vlan=20)]), tags=qinq(), vni=CALICO_NODEPORT_VNI)),
                  bytes(vxlan(syn(src=CLIENT6, dst=POD6), outer_src=NODE1_6, outer_dst=NODE2_6)),
                  frames[13], frames[23]):
        frames += [whole[:n] for n in range(len(whole))]
    return frames


def _held_captures() -> list[Path]:
    return sorted(p for p in (REPO / "tests" / "data").rglob("*") if p.suffix in (".pcap", ".pcapng", ".gz")
                  and ".pcap" in p.name)


def _check_all(frames: list[bytes], where: str) -> None:
    bad = [f"{where} frame {i}: {why}" for i, data in enumerate(frames) if (why := disagreement(data))]
    assert not bad, f"{len(bad)} of {len(frames)} frames disagree; first:\n" + "\n".join(bad[:5])


def test_the_decoder_agrees_with_scapy_on_frames_of_every_layer(tmp_path):
    frames = _frames_made_here()
    path = tmp_path / "made.pcap"           # through a pcap file, as evidence travels
    write_pcap(path, [RawFrame(1.0 + i, f, None) for i, f in enumerate(frames)])
    _check_all([f.data for f in read_capture(path).frames], "made.pcap")
    assert len(frames) > 400


def test_the_reference_sees_calicos_nodeport_tunnel_as_the_decoder_does():
    """The tunnel fields the checks judge, spelled out once: VNI 0xca11c0, udp/4789, checksum 0."""
    zero = Ether(bytes(vxlan(syn(), vni=CALICO_NODEPORT_VNI)))
    zero[UDP].chksum = 0
    ours, frame = decoder_view(bytes(zero))
    assert ours == scapy_view(bytes(zero))
    assert (frame.encap.vni, frame.encap.udp_dport, frame.encap.udp_checksum) == (13242816, 4789, 0)
    assert (frame.encap.outer_src, frame.encap.outer_dst, frame.tcp.dst) == (NODE1, NODE2, POD)


@pytest.mark.parametrize("path", _held_captures() or [None], ids=lambda p: p.name if p else "none")
def test_the_decoder_agrees_with_scapy_on_every_capture_the_project_holds(path):
    if path is None:
        pytest.skip("tests/data holds no captures")
    _check_all([f.data for f in read_capture(path).frames], path.name)


@needs_root
@pytest.mark.parametrize("profile", ["ebpf-tunnel", "ebpf-dual-stack", "defect-tagged-vlan"])
def test_the_decoder_agrees_with_scapy_on_every_capture_a_lab_run_writes(profile, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "calico_conformance.cli", "run", "--reports-dir",
                           str(tmp_path), f"--lab-dataplane={profile}", "-q"],
                          cwd=REPO, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "PYTEST_XDIST_WORKER": ""})
    captures = sorted((tmp_path / "evidence").rglob("*.pcap"))
    assert captures, proc.stdout[-2000:] + proc.stderr[-2000:]
    total = 0
    for path in captures:
        frames = [f.data for f in read_capture(path).frames]
        total += len(frames)
        _check_all(frames, f"{profile}: {path.relative_to(tmp_path)}")
    assert total > 50
