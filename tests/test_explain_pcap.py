"""`calico-conformance explain-pcap`: tables, --frames, --json, --vxlan-port, bad files."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from scapy.layers.l2 import CookedLinuxV2, Dot1Q
from scapy.utils import wrpcap

from decode_helpers import (CLIENT, NODE1, NODE1_MAC, NODE2, NODE2_MAC, POD, gso_frame, qinq, syn,
                            synack, tcp, vxlan)
from calico_conformance.cli import main
from calico_conformance.evidence.pcap import write_pcap
from calico_conformance.vocabulary.frames import RawFrame

CLI = Path(sys.executable).with_name("calico-conformance")


@pytest.fixture
def capture(tmp_path) -> Path:
    """A NodePort handshake as node2 sees it: the SYN tunnelled from node1 (VNI 4096, udp/4789),
    the SYN-ACK back over udp/8472 with a tagged inner frame, a QinQ-tagged plain segment, a GSO
    super-frame and one truncated frame."""
    frames = [vxlan(syn()),
              vxlan(synack(tags=[Dot1Q(vlan=20)]), port=8472, outer_src=NODE2, outer_dst=NODE1,
                    src_mac=NODE2_MAC, dst_mac=NODE1_MAC),
              vxlan(tcp(flags="A", seq=1001, ack=5001)),
              tcp(flags="PA", tags=qinq(100, 20), payload=b"GET / HTTP/1.1\r\n\r\n"),
              gso_frame(9000, 0),
              bytes(vxlan(syn()))[:46]]           # cut inside the VXLAN header
    path = tmp_path / "node2-eth0.pcap"
    write_pcap(path, [RawFrame(1_700_000_000 + i / 10, bytes(f), None) for i, f in enumerate(frames)])
    return path


def explain(capsys, *argv) -> tuple[int, str, str]:
    rc = main(["explain-pcap", *map(str, argv)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_text_report_shows_header_and_flows(capsys, capture):
    rc, out, err = explain(capsys, capture)
    assert rc == 0 and err == ""
    assert f"file:        {capture}" in out
    assert "format:      pcap, link type 1 (Ethernet)" in out
    assert "frames:      6 (1 GSO super-frames, 2 with notes)" in out
    lines = out.splitlines()
    header = next(line for line in lines if line.startswith("#  ENCAP"))
    for column in ("OUTER", "VNI", "INNER", "FRAMES", "FIRST-LAST", "FLAGS", "VLAN", "GSO"):
        assert column in header
    syn_row = next(line for line in lines if line.startswith("1 "))
    assert f"{NODE1} > {NODE2} udp/4789" in syn_row and "0x1000" in syn_row
    assert f"tcp {CLIENT}:40000 > {POD}:8080" in syn_row and "S,A" in syn_row and "0-2" in syn_row
    synack_row = next(line for line in lines if "udp/8472" in line)
    assert "SA" in synack_row and "inner 802.1Q vid 20" in synack_row
    assert any("802.1ad vid 100 > 802.1Q vid 20" in line and " no " in line for line in lines)
    assert "NOTES" in out and "#5: truncated VXLAN header" in out


def test_frames_option_lists_every_frame(capsys, capture):
    rc, out, _ = explain(capsys, capture, "--frames")
    frames = out.split("FRAMES\n", 1)[1].splitlines()
    summaries = [line for line in frames if line.startswith("#")]
    assert rc == 0 and len(summaries) == 6
    assert summaries[0].startswith("#0 ") and "vni 0x1000" in summaries[0] and "[S]" in summaries[0]
    assert "(GSO)" in summaries[4] and "    note: truncated VXLAN header" in frames


def test_json_document(capsys, capture):
    rc, out, _ = explain(capsys, capture, "--json")
    doc = json.loads(out)
    assert rc == 0 and "frames" not in doc
    assert {k: doc[k] for k in ("format", "link_type", "link_type_name", "frame_count", "vxlan_ports", "mtu")} == {
        "format": "pcap", "link_type": 1, "link_type_name": "Ethernet", "frame_count": 6,
        "vxlan_ports": [4789, 8472], "mtu": 1500}
    first = doc["flows"][0]
    assert first["encapsulated"] and first["vni"] == 4096 and first["tcp_flags"] == ["S", "A"]
    assert (first["src"], first["sport"], first["dst"], first["dport"]) == (CLIENT, 40000, POD, 8080)
    _, out, _ = explain(capsys, capture, "--json", "--frames")
    frames = json.loads(out)["frames"]
    assert len(frames) == 6 and frames[0]["encap"]["vni"] == 4096 and frames[0]["tcp"]["flags"] == "S"
    assert frames[4]["gso"] is True and frames[5]["notes"][-1] == "truncated VXLAN header"
    assert frames[1]["encap"]["inner_vlan_tags"] == [{"tpid": "0x8100", "vid": 20, "pcp": 0}]
    assert frames[3]["vlan_tags"] == [{"tpid": "0x88a8", "vid": 100, "pcp": 3},
                                      {"tpid": "0x8100", "vid": 20, "pcp": 5}]


def test_json_gives_vlan_tags_as_data_outer_first_beside_the_display_strings(capsys, capture):
    _, out, _ = explain(capsys, capture, "--json")
    rows = json.loads(out)["flows"]
    qinq_row = next(r for r in rows if r["vlan_tags"])
    assert qinq_row["vlan_tags"] == ["802.1ad vid 100 > 802.1Q vid 20"]
    assert qinq_row["vlan_stacks"] == [[{"tpid": "0x88a8", "vid": 100, "pcp": 3},
                                        {"tpid": "0x8100", "vid": 20, "pcp": 5}]]
    inner = next(r for r in rows if r["inner_vlan_tags"])
    assert inner["inner_vlan_stacks"] == [[{"tpid": "0x8100", "vid": 20, "pcp": 0}]]
    assert all(r["vlan_stacks"] == [] for r in rows if not r["vlan_tags"])
    _, text, _ = explain(capsys, capture)           # the tables stay as they were
    assert "802.1ad vid 100 > 802.1Q vid 20" in text and "0x88a8" not in text


def test_vxlan_port_option(capsys, tmp_path):
    path = tmp_path / "custom.pcap"
    write_pcap(path, [RawFrame(1.0, bytes(vxlan(syn(), port=9999, vni=77)), None)])
    _, out, _ = explain(capsys, path, "--json")
    assert json.loads(out)["flows"][0]["encapsulated"] is False
    _, out, _ = explain(capsys, path, "--json", "--vxlan-port", "9999", "--vxlan-port", "4789")
    doc = json.loads(out)
    assert doc["vxlan_ports"] == [9999, 4789] and doc["flows"][0]["vni"] == 77
    with pytest.raises(SystemExit) as exc:
        main(["explain-pcap", str(path), "--vxlan-port", "70000"])
    assert exc.value.code == 2


def test_cooked_capture(capsys, tmp_path):
    path = str(tmp_path / "any.pcap")
    wrpcap(path, [CookedLinuxV2(pkttype=4, lladdrtype=1, lladdrlen=6, src=b"\x02\0\0\0\x01\x01\0\0",
                                proto=0x0800) / bytes(vxlan(syn()))[14:]])
    rc, out, _ = explain(capsys, path, "--frames")
    assert rc == 0 and "link type 276 (Linux cooked v2 (SLL2))" in out and "cooked capture" in out
    assert "#0 02:00:00:00:01:01>00:00:00:00:00:00 [VXLAN" in out


def test_empty_and_cut_off_captures(capsys, tmp_path):
    write_pcap(tmp_path / "empty.pcap", [])
    rc, out, _ = explain(capsys, tmp_path / "empty.pcap")
    assert rc == 0 and "frames:      0 " in out and "FLOWS (0)" in out
    write_pcap(tmp_path / "cut.pcap", [RawFrame(1.0, bytes(vxlan(syn())), None)])
    (tmp_path / "cut.pcap").write_bytes((tmp_path / "cut.pcap").read_bytes()[:-30])
    rc, out, _ = explain(capsys, tmp_path / "cut.pcap", "--mtu", "9000")
    assert rc == 0 and "problem:     the file ends inside frame 0 (94 of 124 bytes)" in out
    assert "mtu: 9000" in out and "#0: truncated packet: inner IPv4 total length says 60 bytes" in out


@pytest.mark.parametrize("content", [None, b"", b"\x0a\x0d\x0d\x0a garbage", b"hello world, not a pcap"])
def test_missing_or_malformed_file_exits_2_with_one_line(tmp_path, content):
    path = tmp_path / "broken.pcap"
    if content is not None:
        path.write_bytes(content)
    proc = subprocess.run([str(CLI), "explain-pcap", str(path)], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("calico-conformance: error: ")
    assert str(path) in proc.stderr
