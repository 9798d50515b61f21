"""The evidence decoder on realistic frames: VXLAN, VLAN stacks, IPv6, GSO, damage, capture files."""
from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop, Jumbo
from scapy.layers.l2 import ARP, CookedLinux, CookedLinuxV2, Dot1Q, Ether
from scapy.packet import Raw
from scapy.utils import PcapNgWriter, wrpcap

from decode_helpers import (CLIENT, CLIENT6, NODE1, NODE1_6, NODE1_MAC, NODE2, NODE2_6,
                            NODE2_MAC, POD, POD6, POD_MAC, gso_frame, qinq, syn, synack, tcp, vxlan)
from calico_conformance.vocabulary.errors import UsageError
from calico_conformance.evidence.decode import (DEFAULT_VXLAN_PORTS, decode_frame, decode_frames, decode_pcap,
                                      flows)
from calico_conformance.vocabulary.frames import CapturePoint, Encapsulation, VlanTag
from calico_conformance.evidence.pcap import read_capture, read_pcap, write_pcap
from calico_conformance.vocabulary.frames import RawFrame


def decode(pkt, **kw):
    return decode_frame(bytes(pkt), **kw)


# --- VXLAN ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("port", [4789, 8472])
def test_vxlan_handshake_on_both_default_ports(port):
    out = decode(vxlan(syn(), port=port))
    back = decode(vxlan(synack(), port=port, outer_src=NODE2, outer_dst=NODE1, sport=50000,
                        src_mac=NODE2_MAC, dst_mac=NODE1_MAC))
    checksum = out.encap.udp_checksum      # scapy's, computed; Calico's BPF programs send 0
    assert out.encap == Encapsulation("vxlan", NODE1, NODE2, 49152, port, 4096, NODE1_MAC, POD_MAC,
                                      udp_checksum=checksum) and checksum
    assert (out.src_mac, out.dst_mac, out.ethertype) == (NODE1_MAC, NODE2_MAC, 0x0800)
    assert (out.l3_proto, out.l3_src, out.l3_dst, out.ip_proto) == ("ipv4", CLIENT, POD, 6)
    assert (out.l4_sport, out.l4_dport) == (40000, 8080)
    assert out.tcp.flags == "S" and out.tcp.is_syn and out.tcp.seq == 1000 and out.tcp.payload_len == 0
    assert back.tcp.flags == "SA" and back.tcp.is_synack and back.tcp.ack == 1001
    assert (back.encap.outer_src, back.encap.udp_sport, back.l3_src) == (NODE2, 50000, POD)
    assert not out.notes and not back.notes and not out.gso
    assert f"udp/{port} vni 0x1000" in out.summary() and "[S]" in out.summary()


def test_default_ports_and_custom_vxlan_port():
    assert DEFAULT_VXLAN_PORTS == (4789, 8472)
    frame = bytes(vxlan(syn(), port=4790))
    plain = decode_frame(frame)
    assert plain.encap is None and plain.l3_src == NODE1 and (plain.ip_proto, plain.l4_dport) == (17, 4790)
    assert decode_frame(frame, vxlan_ports=(4790,)).encap.udp_dport == 4790


@pytest.mark.parametrize("vni", [1, 7, 4096, 0xFFFFFF])
def test_vni(vni):
    assert decode(vxlan(syn(), vni=vni)).encap.vni == vni


def test_vxlan_without_valid_vni_flag_is_noted_but_decoded():
    data = bytearray(bytes(vxlan(syn())))
    data[14 + 20 + 8] = 0      # VXLAN flags
    out = decode_frame(bytes(data))
    assert out.encap.vni == 4096 and out.tcp.flags == "S"
    assert any("I (valid VNI) flag" in n for n in out.notes)


# --- VLAN tags -----------------------------------------------------------------------------------

def test_single_8021q_tag():
    out = decode(tcp(tags=[Dot1Q(vlan=42, prio=6)]))
    assert out.vlan_tags == (VlanTag(0x8100, 42, 6),) and out.ethertype == 0x0800
    assert out.tcp.flags == "S" and "802.1Q vid 42" in out.summary()


def test_qinq_8021ad_then_8021q():
    out = decode(tcp(tags=qinq(100, 20)))
    assert out.vlan_tags == (VlanTag(0x88A8, 100, 3), VlanTag(0x8100, 20, 5))
    assert out.tcp.dport == 8080 and str(out.vlan_tags[0]) == "802.1ad vid 100"


def test_qinq_with_0x9100_tpid():
    frame = Ether(src=NODE1_MAC, dst=NODE2_MAC, type=0x9100) / Dot1Q(vlan=300, type=0x8100) / Dot1Q(vlan=7)
    out = decode(frame / IP(src=CLIENT, dst=POD) / TCP(flags="A"))
    assert out.vlan_tags == (VlanTag(0x9100, 300), VlanTag(0x8100, 7))
    assert out.tcp.flags == "A"


def test_tagged_inner_frame_inside_tagged_vxlan():
    out = decode(vxlan(tcp(tags=[Dot1Q(vlan=20)]), tags=[Dot1Q(vlan=10)], port=8472))
    assert out.vlan_tags == (VlanTag(0x8100, 10),)
    assert out.encap.inner_vlan_tags == (VlanTag(0x8100, 20),)
    assert out.tcp.src == CLIENT and "inner 802.1Q vid 20" in out.summary()


# --- IPv6 ----------------------------------------------------------------------------------------

def test_ipv6_outer_ipv4_inner():
    out = decode(vxlan(syn(), outer_src=NODE1_6, outer_dst=NODE2_6))
    assert out.ethertype == 0x86DD and out.encap.outer_src == NODE1_6 and out.encap.outer_dst == NODE2_6
    assert (out.l3_proto, out.l3_src, out.tcp.flags) == ("ipv4", CLIENT, "S")


def test_ipv6_inner_and_outer():
    out = decode(vxlan(synack(src=POD6, dst=CLIENT6), outer_src=NODE2_6, outer_dst=NODE1_6))
    assert (out.l3_proto, out.l3_src, out.l3_dst, out.ip_proto) == ("ipv6", POD6, CLIENT6, 6)
    assert out.tcp.flags == "SA" and out.tcp.src == POD6 and not out.notes


def test_ipv6_extension_header_before_tcp():
    pkt = (Ether(src=NODE1_MAC, dst=NODE2_MAC) / IPv6(src=CLIENT6, dst=POD6) / IPv6ExtHdrHopByHop()
           / TCP(sport=1, dport=2, flags="PA") / Raw(b"hello"))
    out = decode(pkt)
    assert out.ip_proto == 6 and out.tcp.flags == "PA" and out.tcp.payload_len == 5


# --- GSO super-frames, offloaded checksums, padding ----------------------------------------------

def test_gso_ipv4_total_length_zero():
    out = decode_frame(gso_frame(9000, 0))
    assert out.gso and out.tcp.payload_len == 9000 and out.tcp.flags == "PA"
    assert any("total length 0" in n for n in out.notes) and "(GSO)" in out.summary()


def test_gso_ipv4_length_disagrees_with_frame():
    out = decode_frame(gso_frame(9000, 1500))
    assert out.gso and out.tcp.payload_len == 9000
    assert any("says 1500 bytes" in n for n in out.notes)


def test_gso_inside_vxlan():
    out = decode_frame(gso_frame(20000, 1500, encap=True))
    assert out.gso and out.encap.vni == 4096 and out.tcp.payload_len == 20000


def test_gso_ipv6_jumbogram():
    pkt = (Ether(src=NODE1_MAC, dst=NODE2_MAC) / IPv6(src=CLIENT6, dst=POD6, plen=0)
           / IPv6ExtHdrHopByHop(nh=6, options=[Jumbo(jumboplen=70020)])
           / TCP(flags="A", chksum=0) / Raw(b"y" * 70000))
    out = decode(pkt)
    assert out.gso and out.tcp.payload_len == 70000 and out.l3_src == CLIENT6


def test_mtu_decides_what_is_a_super_frame():
    jumbo = bytes(tcp(flags="PA", payload=b"z" * 8000))
    assert decode_frame(jumbo).gso
    out = decode_frame(jumbo, mtu=9000)
    assert not out.gso and out.tcp.payload_len == 8000 and not out.notes


def test_bad_checksums_are_ignored_silently():
    pkt = tcp(flags="PA", payload=b"data", ip_kw={"chksum": 0xDEAD}, tcp_kw={"chksum": 0})
    out = decode(vxlan(pkt, outer_ip_kw={"chksum": 1}))
    assert out.tcp.payload_len == 4 and out.tcp.flags == "PA" and not out.notes


def test_ethernet_padding_is_not_payload():
    frame = bytes(tcp(flags="A")).ljust(60, b"\x00")
    out = decode_frame(frame)
    assert out.length == 60 and out.tcp.payload_len == 0 and not out.gso and not out.notes


def test_payload_length_of_a_normal_segment():
    out = decode(synack(payload=b"x" * 1000))
    assert out.tcp.payload_len == 1000 and not out.gso


# --- damage: never raise, say what was cut -------------------------------------------------------

@pytest.mark.parametrize("cut, note", [
    (0, "truncated Ethernet header"), (13, "truncated Ethernet header"),
    (14 + 10, "truncated IPv4 header"), (14 + 20 + 4, "truncated UDP header"),
    (14 + 28 + 4, "truncated VXLAN header"), (14 + 36 + 10, "truncated Ethernet header"),
    (14 + 36 + 14 + 30, "truncated TCP header"), (14 + 36 + 14 + 20 + 30, "truncated TCP options"),
])
def test_truncated_vxlan_frame_says_where(cut, note):
    out = decode_frame(bytes(vxlan(syn()))[:cut])
    assert any(note in n for n in out.notes), out.notes
    assert out.length == cut


def test_truncated_at_every_length_never_raises():
    for frame in (vxlan(syn(tags=qinq())), vxlan(synack(src=POD6, dst=CLIENT6), outer_src=NODE1_6,
                                                     outer_dst=NODE2_6), tcp(tags=[Dot1Q(vlan=5)])):
        data = bytes(frame)
        for cut in range(len(data)):
            out = decode_frame(data[:cut])
            assert not any("decoder error" in n for n in out.notes), (cut, out.notes)


def test_truncated_capture_keeps_addresses_and_notes_short_packet():
    out = decode_frame(bytes(tcp(flags="PA", payload=b"x" * 1000))[:200])
    assert out.l3_src == CLIENT and out.tcp.payload_len == 200 - 54
    assert any("truncated packet" in n for n in out.notes)


def test_garbage_and_mutations_never_raise():
    rng = random.Random(7)
    seeds = [bytes(vxlan(syn(tags=qinq()))), bytes(vxlan(synack(src=POD6, dst=CLIENT6))), gso_frame(3000)]
    for i in range(3000):
        if i % 3 == 0:
            data = rng.randbytes(rng.randrange(0, 200))
        else:
            data = bytearray(rng.choice(seeds))
            for _ in range(rng.randrange(1, 8)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        out = decode_frame(bytes(data))
        assert not any("decoder error" in n for n in out.notes), (data.hex(), out.notes)


# --- other frame kinds ---------------------------------------------------------------------------

def test_arp_udp_fragment_and_unknown_ethertype():
    arp = decode(Ether(src=NODE1_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=NODE1, pdst=NODE2))
    assert (arp.l3_proto, arp.l3_src, arp.l3_dst, arp.ethertype) == ("arp", NODE1, NODE2, 0x0806)
    dns = decode(Ether(src=NODE1_MAC, dst=NODE2_MAC) / IP(src=CLIENT, dst=POD) / UDP(sport=5353, dport=53))
    assert (dns.ip_proto, dns.l4_sport, dns.l4_dport, dns.tcp) == (17, 5353, 53, None)
    frag = decode(Ether(src=NODE1_MAC, dst=NODE2_MAC) / IP(src=CLIENT, dst=POD, frag=185, proto=6) / Raw(b"x" * 40))
    assert frag.tcp is None and any("fragment at offset 1480" in n for n in frag.notes)
    lldp = decode_frame(bytes(Ether(src=NODE1_MAC, dst=NODE2_MAC, type=0x88CC) / Raw(b"x" * 46)))
    assert lldp.l3_proto == "" and any("0x88cc" in n for n in lldp.notes)


def test_agrees_with_scapy_dissection():
    """Differential check: scapy's own dissection of well-formed frames gives the same answers."""
    corpus = [vxlan(syn()), vxlan(synack(payload=b"abc")), tcp(flags="FA", seq=2**32 - 1, ack=77),
              tcp(flags="R"), tcp(flags="SECN"), tcp(flags="PAU", tags=qinq()),
              vxlan(tcp(CLIENT6, POD6, flags="SEC"), outer_src=NODE1_6, outer_dst=NODE2_6),
              synack(payload=b"x" * 1400)]
    for pkt in corpus:
        data = bytes(pkt)
        ours, theirs = decode_frame(data), Ether(data)
        inner_ip = [layer for layer in theirs.iterpayloads() if isinstance(layer, (IP, IPv6))][-1]
        seg = theirs[TCP]
        assert (ours.src_mac, ours.dst_mac) == (theirs.src, theirs.dst)
        assert (ours.l3_src, ours.l3_dst) == (inner_ip.src, inner_ip.dst)
        assert ours.tcp.flags == str(seg.flags)
        assert (ours.tcp.sport, ours.tcp.dport, ours.tcp.seq, ours.tcp.ack) == (seg.sport, seg.dport, seg.seq, seg.ack)
        assert ours.tcp.payload_len == len(seg.payload.load if seg.payload else b"")


# --- frames, flows -------------------------------------------------------------------------------

def test_decode_frames_keeps_time_direction_point_and_index():
    point = CapturePoint("node2", "eth0")
    raws = [RawFrame(100.5, bytes(vxlan(syn())), "in"), RawFrame(100.6, bytes(synack()), "out")]
    out = decode_frames(raws, point=point)
    assert [(f.index, f.time, f.direction, f.point) for f in out] == [(0, 100.5, "in", point), (1, 100.6, "out", point)]
    assert out[0].summary().startswith("#0 node2/eth0 in ")


def test_flows_groups_by_outer_flow_vni_and_inner_five_tuple():
    frames = [vxlan(syn()), vxlan(syn()), synack(tags=[Dot1Q(vlan=9)]),
              vxlan(tcp(flags="A", seq=1001, ack=5001)), vxlan(syn(), vni=7), gso_frame(5000)]
    rows = flows(decode_frames([RawFrame(float(i), bytes(f), None) for i, f in enumerate(frames)]))
    assert len(rows) == 4
    first, reply, other_vni, gso = rows
    assert (first["encapsulated"], first["outer_src"], first["udp_dport"], first["vni"]) == (True, NODE1, 4789, 4096)
    assert (first["src"], first["sport"], first["dst"], first["dport"], first["proto"]) == (CLIENT, 40000, POD, 8080, "tcp")
    assert (first["frames"], first["first"], first["last"], first["tcp_flags"]) == (3, 0, 3, ["S", "A"])
    assert reply["encapsulated"] is False and reply["vni"] is None and reply["vlan_tags"] == ["802.1Q vid 9"]
    assert reply["tcp_flags"] == ["SA"]
    assert other_vni["vni"] == 7 and other_vni["frames"] == 1
    assert gso["gso_frames"] == 1 and gso["payload_bytes"] == 5000


# --- capture files -------------------------------------------------------------------------------

def test_write_and_read_pcap_round_trip(tmp_path):
    raws = [RawFrame(1_700_000_000.123456, bytes(vxlan(syn())), "out"),
            RawFrame(1_700_000_000.5, gso_frame(70000), None)]     # bigger than 64 KiB
    path = tmp_path / "deep" / "dir" / "x.pcap"
    write_pcap(path, raws)
    back = read_pcap(path)
    assert [f.data for f in back] == [f.data for f in raws]
    assert [round(f.time, 6) for f in back] == [1_700_000_000.123456, 1_700_000_000.5]
    assert decode_pcap(path)[1].tcp.payload_len == 70000
    write_pcap(tmp_path / "empty.pcap", [])
    assert read_pcap(tmp_path / "empty.pcap") == []


def test_pcapng_with_directions(tmp_path):
    path = str(tmp_path / "x.pcapng")
    with PcapNgWriter(path) as writer:
        for i, (pkt, direction) in enumerate([(vxlan(syn(), port=8472), 2), (synack(), 1)]):
            pkt.time, pkt.direction = 1000.0 + i, direction
            writer.write(pkt)
    capture = read_capture(path)
    assert (capture.format, capture.link_type) == ("pcapng", 1)
    frames = decode_pcap(path, point=CapturePoint("node1", "eth0"))
    assert [(f.direction, f.time) for f in frames] == [("out", 1000.0), ("in", 1001.0)]
    assert frames[0].encap.udp_dport == 8472 and frames[1].tcp.flags == "SA"


@pytest.mark.parametrize("layer, link_type", [(CookedLinux, 113), (CookedLinuxV2, 276)])
@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_linux_cooked_captures(tmp_path, layer, link_type, fmt):
    """`tcpdump -i any` writes SLL (or SLL2): packet type 4 is outgoing, 0 is to this host."""
    path = str(tmp_path / f"any.{fmt}")
    out_pkt = layer(pkttype=4, lladdrtype=1, lladdrlen=6, src=bytes.fromhex("020000000101") + b"\0\0",
                    proto=0x0800) / bytes(vxlan(syn()))[14:]
    in_pkt = layer(pkttype=0, lladdrtype=1, lladdrlen=6, src=bytes.fromhex("020000000201") + b"\0\0",
                   proto=0x8100) / Dot1Q(vlan=3, type=0x0800) / bytes(synack())[14:]
    if fmt == "pcap":
        wrpcap(path, [out_pkt, in_pkt])
    else:
        with PcapNgWriter(path) as writer:
            writer.write([out_pkt, in_pkt])
    assert read_capture(path).link_type == link_type
    sent, received = decode_pcap(path)
    assert (sent.direction, sent.src_mac, sent.dst_mac) == ("out", NODE1_MAC, "00:00:00:00:00:00")
    assert sent.encap.vni == 4096 and sent.tcp.flags == "S"
    assert (received.direction, received.src_mac, received.vlan_tags) == ("in", NODE2_MAC, (VlanTag(0x8100, 3),))
    assert received.tcp.flags == "SA"


def test_raw_ip_capture(tmp_path):
    path = str(tmp_path / "raw.pcap")
    wrpcap(path, [bytes(IP(src=CLIENT, dst=POD) / TCP(flags="S"))], linktype=101)
    (out,) = decode_pcap(path)
    assert out.l3_src == CLIENT and out.tcp.flags == "S"


def test_snap_length_and_cut_off_file_are_reported(tmp_path):
    path = tmp_path / "snap.pcap"
    data = bytes(synack(payload=b"x" * 1000))
    wrpcap(str(path), [Ether(data[:96])], snaplen=96)
    with open(path, "r+b") as f:        # record the real wire length, as tcpdump -s 96 does
        f.seek(24 + 12)
        f.write(len(data).to_bytes(4, "little"))
    (out,) = decode_pcap(path)
    assert out.tcp.flags == "SA" and any("snap length" in n for n in out.notes)
    good = bytes(vxlan(syn()))
    write_pcap(tmp_path / "cut.pcap", [RawFrame(1.0, good, None), RawFrame(2.0, good, None)])
    whole = (tmp_path / "cut.pcap").read_bytes()
    (tmp_path / "cut.pcap").write_bytes(whole[:-20])
    capture = read_capture(tmp_path / "cut.pcap")
    assert len(capture.frames) == 2 and capture.frames[0].data == good
    assert any("ends inside frame 1" in p for p in capture.problems)
    ng = str(tmp_path / "cut.pcapng")
    with PcapNgWriter(ng) as writer:
        writer.write([Ether(good), Ether(good)])
    with open(ng, "r+b") as f:
        f.truncate(len(open(ng, "rb").read()) - 10)
    capture = read_capture(ng)
    assert len(capture.frames) == 1 and any("could not be read" in p for p in capture.problems)


@pytest.mark.parametrize("content", [b"", b"not a capture at all\n", b"\xd4\xc3\xb2\xa1\x02\x00"])
def test_malformed_or_missing_files_raise_usage_error(tmp_path, content):
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    with pytest.raises(UsageError, match="bad.pcap: not a readable pcap"):
        read_pcap(path)
    with pytest.raises(UsageError, match="no such capture file"):
        decode_pcap(tmp_path / "missing.pcap")


def test_unsupported_link_type(tmp_path):
    path = str(tmp_path / "wifi.pcap")
    wrpcap(path, [b"x" * 30], linktype=105)
    with pytest.raises(UsageError, match="link type 105 is not supported"):
        read_pcap(path)


# --- speed ---------------------------------------------------------------------------------------

def test_decode_speed_is_well_under_budget():
    frames = [bytes(vxlan(syn())), bytes(vxlan(synack(src=POD6, dst=CLIENT6), tags=qinq())),
              bytes(tcp(flags="A")), gso_frame(9000)] * 100
    decode_frames([RawFrame(0.0, f, None) for f in frames[:4]])       # warm the flag-name cache
    start = time.perf_counter()
    decode_frames([RawFrame(0.0, f, None) for f in frames])
    per_frame = (time.perf_counter() - start) / len(frames)
    print(f"decode: {per_frame * 1e6:.1f} us/frame")
    assert per_frame < 0.3e-3


# --- a real capture: kernel TCP across a veth pair, offloads on -----------------------------------

@pytest.fixture
def veth_pair():
    """Two namespaces joined by a veth pair; removed whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("needs root to create network namespaces")
    if not shutil.which("tcpdump") or not shutil.which("ip"):
        pytest.skip("needs tcpdump and ip (iproute2) installed")
    tag = f"cctest-{os.getpid()}"
    ns_a, ns_b, if_a, if_b = f"{tag}-a", f"{tag}-b", f"{tag}a"[:15], f"{tag}b"[:15]
    run = lambda *argv: subprocess.run(argv, check=True, capture_output=True, timeout=10)   # noqa: E731
    try:
        run("ip", "netns", "add", ns_a)
        run("ip", "netns", "add", ns_b)
        run("ip", "link", "add", if_a, "netns", ns_a, "type", "veth", "peer", "name", if_b, "netns", ns_b)
        for ns, ifname, addr in ((ns_a, if_a, "10.199.0.1/24"), (ns_b, if_b, "10.199.0.2/24")):
            run("ip", "-n", ns, "addr", "add", addr, "dev", ifname)
            run("ip", "-n", ns, "link", "set", ifname, "up")
        yield ns_a, ns_b, if_a
    finally:
        for ns in (ns_a, ns_b):
            subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)


def test_real_capture_of_kernel_tcp_with_offloads_on(veth_pair, tmp_path):
    from calico_conformance import netns
    ns_a, ns_b, if_a = veth_pair
    path = tmp_path / "veth.pcap"
    # --immediate-mode: without it libpcap hands packets over only when a ring block times out
    dump = subprocess.Popen(["ip", "netns", "exec", ns_a, "tcpdump", "-i", if_a, "-w", str(path), "-U",
                             "--immediate-mode", "-n", "-Z", "root", "tcp"],
                            stderr=subprocess.PIPE, text=True)
    try:
        line = dump.stderr.readline()
        assert "listening on" in line, line
        server = netns.socket_in(ns_b, socket.AF_INET, socket.SOCK_STREAM)
        server.bind(("10.199.0.2", 8080))
        server.listen()
        received = bytearray()

        def serve():
            conn, _ = server.accept()
            with conn:
                while chunk := conn.recv(65536):
                    received.extend(chunk)
        thread = threading.Thread(target=serve)
        thread.start()
        with netns.socket_in(ns_a, socket.AF_INET, socket.SOCK_STREAM) as client:
            client.settimeout(5)
            client.connect(("10.199.0.2", 8080))
            client.sendall(os.urandom(65536))
        thread.join(5)
        server.close()
        assert len(received) == 65536
        time.sleep(0.2)        # let tcpdump write the last segments
    finally:
        dump.send_signal(signal.SIGINT)
        dump.communicate(timeout=10)
    frames = decode_pcap(path, point=CapturePoint("a", if_a))
    to_server = [f for f in frames if f.tcp and f.tcp.dport == 8080]
    assert to_server[0].tcp.is_syn
    assert any(f.tcp.is_synack for f in frames if f.tcp and f.tcp.sport == 8080)
    payload = {f.tcp.seq: f.tcp.payload_len for f in to_server if f.tcp.payload_len}
    assert sum(payload.values()) == 65536          # every byte accounted for, super-frames included
    assert any(f.gso for f in to_server), "expected GSO super-frames with offloads on"
    syn_frame = Ether(read_pcap(path)[0].data)          # tx checksum offload: left unfinished
    captured_sum = syn_frame[TCP].chksum
    del syn_frame[TCP].chksum
    assert Ether(bytes(syn_frame))[TCP].chksum != captured_sum
    assert not any("decoder error" in n for f in frames for n in f.notes)
