"""Tagged VLAN devices are unsupported in eBPF mode (both documents)."""
import time

import pytest

from calico_conformance.evidence.decode import decode_frames
from calico_conformance.probes import links
from calico_conformance.probes.nodeport import client_node
from calico_conformance.probes.verdict import Row, verify
from calico_conformance.support import versions
from calico_conformance.vocabulary.frames import CapturePoint

CLOSED_PORT = 1   # a node answers a SYN to it with a reset: enough for the control
LISTEN_S = 0.1   # long enough to catch a trunk's routine tagged broadcast (ARP, STP)


@pytest.mark.check("EBPF-UNSUPPORTED-VLAN")
def test_no_tagged_vlan_devices_on_nodes(request, target, facts, evidence):
    """v3.29 and older, "Not supported: ... Tagged VLAN devices." Felix copes with a VLAN device
    from v3.30, and on v3.29 where bpfDataIfacePattern picks it over its parent (links.py)."""
    version = versions.parse(request.config.getoption("calico_version") or facts.calico_version)
    scans = [links.scan(node) for node in target.nodes()]
    failed = [s for s in scans if s.error]
    if failed:
        pytest.skip(f"cannot list {failed[0].node}'s interfaces, because {failed[0].error}")
    nodes = {n.name: n for n in target.nodes()}
    points = [CapturePoint(s.node, name) for s in scans for name in s.names() if name not in s.down()]
    capture = target.start_capture(points)
    try:
        # The control: one connection to each node, which its uplink capture must see, so a
        # dead capture never reads as "no tagged frames". A client on a node would have its
        # NodePort connections load-balanced at connect() (straight to the pod), so it knocks on
        # a closed port instead; its own node's uplink cannot be proven alive from it.
        client, port = target.external_client(), target.nodeport_service().node_port
        own = client_node(target)
        for node in nodes.values():
            if own is None or node.name != own.name:
                client.http_get(node.address, port if own is None else CLOSED_PORT, timeout=1.0)
        time.sleep(LISTEN_S)
    finally:
        captured = capture.stop()
    rows = []
    for scan in scans:
        node = nodes[scan.node]
        for (device, parent), shown in zip(scan.vlans, scan.vlan_devices):
            why = links.vlan_workable(device, parent, version, facts.felix.bpf_data_iface_pattern)
            rows.append(Row(scan.node, "no VLAN device felix cannot handle", f"{shown}" + (f": {why}" if why else ""),
                            why is not None, "ip -d -j link show"))
        if not scan.vlans:
            rows.append(Row(scan.node, "no VLAN device felix cannot handle", "none", True, "ip -d -j link show"))
        if scan.down():
            evidence.text("interfaces not captured", f"{scan.node}: {', '.join(scan.down())} "
                          "(down: nothing to see, and tcpdump refuses an interface that is down)")
        if own is not None and scan.node == own.name:
            evidence.text("capture not proven alive", f"{scan.node}: the client runs on this node, so "
                          "no control connection crosses its uplink; its interfaces were not judged")
            continue
        uplink = CapturePoint(scan.node, node.uplink)
        seen_control = [f for f in decode_frames(captured.get(uplink, []), point=uplink)
                        if f.l3_dst == node.address and f.direction != "out"]
        rows.append(Row(scan.node, "capture alive (the control connection's frames seen)",
                        f"{len(seen_control)} frames to {node.address}", bool(seen_control), str(uplink)))
        macs = scan.macs()
        for point in (p for p in points if p.node == scan.node):
            tagged = links.tagged_frames_for(decode_frames(captured.get(point, []), point=point), macs)
            seen = (f"{len(tagged)} tagged frames, e.g. {tagged[0].summary()}" if tagged else "none")
            rows.append(Row(scan.node, "no 802.1Q/802.1ad-tagged frames arriving", seen, not tagged, str(point)))
    evidence.verdict("verdict", verify(rows, claim="No tagged VLAN set-up on the nodes"))
