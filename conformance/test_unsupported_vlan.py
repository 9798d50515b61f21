"""Tagged VLAN devices are unsupported in eBPF mode (both documents)."""
import pytest

from calico_conformance.probes import links, vlan
from calico_conformance.probes.verdict import Row, verify
from calico_conformance.support import versions


@pytest.mark.check("EBPF-UNSUPPORTED-VLAN")
def test_no_tagged_vlan_devices_on_nodes(request, target, facts, evidence):
    """v3.29 and older, "Not supported: ... Tagged VLAN devices." Felix copes with a VLAN device
    from v3.30, and on v3.29 where bpfDataIfacePattern picks it over its parent (links.py)."""
    version = versions.parse(request.config.getoption("calico_version") or facts.calico_version)
    scans = [links.scan(node) for node in target.nodes()]
    failed = vlan.unreadable(scans)
    if failed:
        pytest.skip(f"cannot list {failed.node}'s interfaces, because {failed.error}")
    obs = vlan.probe_vlan(target, scans)
    rows = []
    for scan in obs.scans:
        for (device, parent), shown in zip(scan.vlans, scan.vlan_devices):
            why = links.vlan_workable(device, parent, version, facts.felix.bpf_data_iface_pattern)
            rows.append(Row(scan.node, "no VLAN device felix cannot handle", f"{shown}" + (f": {why}" if why else ""),
                            why is not None, "ip -d -j link show"))
        if not scan.vlans:
            rows.append(Row(scan.node, "no VLAN device felix cannot handle", "none", True, "ip -d -j link show"))
        if scan.down():
            evidence.text("interfaces not captured", f"{scan.node}: {', '.join(scan.down())} "
                          "(down: nothing to see, and tcpdump refuses an interface that is down)")
        if obs.client_node is not None and scan.node == obs.client_node.name:
            evidence.text("capture not proven alive", f"{scan.node}: the client runs on this node, so "
                          "no control connection crosses its uplink; its interfaces were not judged")
            continue
        node = obs.nodes[scan.node]
        seen_control = obs.control_frames(scan.node)
        rows.append(Row(scan.node, "capture alive (the control connection's frames seen)",
                        f"{len(seen_control)} frames to {node.address}", bool(seen_control),
                        f"{scan.node}/{node.uplink}"))
        macs = scan.macs()
        for point in obs.points_of(scan.node):
            tagged = links.tagged_frames_for(obs.frames.get(point, []), macs)
            seen = (f"{len(tagged)} tagged frames, e.g. {tagged[0].summary()}" if tagged else "none")
            rows.append(Row(scan.node, "no 802.1Q/802.1ad-tagged frames arriving", seen, not tagged, str(point)))
    verify(rows, claim="No tagged VLAN set-up on the nodes", evidence=evidence)
