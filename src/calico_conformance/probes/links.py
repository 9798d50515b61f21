"""Tagged VLAN set-ups on a node: VLAN devices in its link list, and tagged frames on its wire
addressed to it (a trunk that delivers the node's traffic tagged)."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from calico_conformance.targets.base import Node
from calico_conformance.upstream import BPF_DATA_IFACE_PATTERN
from calico_conformance.vocabulary.errors import ExecutorError
from calico_conformance.vocabulary.frames import DecodedFrame

BROADCAST = "ff:ff:ff:ff:ff:ff"


@dataclass
class NodeLinks:
    node: str
    interfaces: list[dict] = field(default_factory=list)   # ip -j link entries
    vlan_devices: list[str] = field(default_factory=list)  # "eth1.100 (vid 100 on eth1)"
    vlans: list[tuple[str, str]] = field(default_factory=list)  # (device, parent)
    error: str | None = None

    def macs(self) -> set[str]:
        return {i.get("address", "").lower() for i in self.interfaces if i.get("address")}

    def names(self) -> list[str]:
        return [i["ifname"] for i in self.interfaces if i.get("ifname") and i["ifname"] != "lo"]

    def down(self) -> list[str]:
        """Interfaces that are administratively down: nothing to capture there (tcpdump refuses)."""
        return [i["ifname"] for i in self.interfaces if i.get("ifname") in self.names()
                and "UP" not in (i.get("flags") or [])]


def scan(node: Node) -> NodeLinks:
    found = NodeLinks(node.name)
    try:
        result = node.executor.run(["ip", "-d", "-j", "link", "show"], timeout=20)
    except ExecutorError as exc:
        found.error = str(exc)
        return found
    if not result.succeeded:
        found.error = result.describe()
        return found
    try:
        found.interfaces = json.loads(result.stdout or "[]")
    except ValueError:
        found.error = f"`ip -d -j link show` on {node.name} printed no JSON"
        return found
    for link in found.interfaces:
        info = link.get("linkinfo") or {}
        if info.get("info_kind") == "vlan":
            data = info.get("info_data") or {}
            found.vlan_devices.append(f"{link.get('ifname')} (vid {data.get('id', '?')} "
                                      f"{data.get('protocol', '802.1Q')} on {link.get('link', '?')})")
            found.vlans.append((link.get("ifname", ""), link.get("link", "")))
    return found


def tagged_frames_for(frames: list[DecodedFrame], node_macs: set[str]) -> list[DecodedFrame]:
    """Tagged frames arriving for this node: to one of its MACs, or broadcast."""
    return [f for f in frames if f.vlan_tags and f.direction != "out"
            and (f.dst_mac.lower() in node_macs or f.dst_mac.lower() == BROADCAST)]


def vlan_workable(device: str, parent: str, version: tuple[int, int] | None,
                  data_iface_pattern: str | None) -> str | None:
    """Why felix copes with this VLAN device, or None where it does not (docs/upstream-truths.md,
    vlan-*): from v3.30 felix attaches its programs to the root of each device tree, so a VLAN
    device gets them and its parent only XDP (felix/dataplane/linux/bpf_ep_mgr.go::bpfIfaceTrees,
    #9498); before, every matching name gets full programs and tagged packets are dropped on the
    parent, unless bpfDataIfacePattern takes the VLAN device and leaves its parent out (the
    maintainers' advice in projectcalico/calico#9401)."""
    if version is not None and version >= (3, 30):
        # ... provided felix takes the VLAN device at all: its name must match bpfDataIfacePattern
        pattern = data_iface_pattern or BPF_DATA_IFACE_PATTERN[(3, 30)]
        try:
            taken = re.search(pattern, device)
        except re.error:
            return None
        if taken:
            return ("workable from v3.30: felix attaches to the root of the device tree (the VLAN device, "
                    f"which bpfDataIfacePattern {pattern!r} takes)")
        return None
    if data_iface_pattern:
        try:
            rx = re.compile(data_iface_pattern)
        except re.error:
            return None
        if rx.search(device) and not rx.search(parent):
            return (f"workable: bpfDataIfacePattern {data_iface_pattern!r} takes {device} and "
                    f"leaves its parent {parent} out")
    return None
