"""The tagged-VLAN probe: every node's link list, and a capture on every interface that is up
while one control connection per node crosses its uplink (so a capture that saw nothing is
known to have been alive), decoded for the check to look for tagged frames arriving."""
from __future__ import annotations

import time
from dataclasses import dataclass

from calico_conformance.evidence.decode import decode_frames
from calico_conformance.probes import links
from calico_conformance.probes.nodeport import client_node
from calico_conformance.targets.base import Node, Target
from calico_conformance.vocabulary.frames import CapturePoint, DecodedFrame

CLOSED_PORT = 1   # a node answers a SYN to it with a reset: enough for the control
LISTEN_S = 0.1    # long enough to catch a trunk's routine tagged broadcast (ARP, STP)


@dataclass
class VlanObservation:
    nodes: dict[str, Node]
    scans: list[links.NodeLinks]
    points: list[CapturePoint]                       # every interface that is up, per node
    frames: dict[CapturePoint, list[DecodedFrame]]
    client_node: Node | None                         # the node the client runs on, if it does

    def points_of(self, node: str) -> list[CapturePoint]:
        return [p for p in self.points if p.node == node]

    def control_frames(self, node: str) -> list[DecodedFrame]:
        """The control connection's frames arriving at ``node``'s uplink: the capture was alive."""
        n = self.nodes[node]
        uplink = CapturePoint(node, n.uplink)
        return [f for f in self.frames.get(uplink, []) if f.l3_dst == n.address and f.direction != "out"]


def unreadable(scans: list[links.NodeLinks]) -> links.NodeLinks | None:
    return next((s for s in scans if s.error), None)


def probe_vlan(target: Target, scans: list[links.NodeLinks]) -> VlanObservation:
    nodes = {n.name: n for n in target.nodes()}
    points = [CapturePoint(s.node, name) for s in scans for name in s.names() if name not in s.down()]
    capture = target.start_capture(points)
    own = client_node(target)
    try:
        # The control: one connection to each node, which its uplink capture must see. A client
        # on a node would have its NodePort connections load-balanced at connect() (straight to
        # the pod), so it knocks on a closed port instead; its own node's uplink cannot be
        # proven alive from it.
        client, port = target.external_client(), target.nodeport_service().node_port
        for node in nodes.values():
            if own is None or node.name != own.name:
                client.http_get(node.address, port if own is None else CLOSED_PORT, timeout=1.0)
        time.sleep(LISTEN_S)
    finally:
        captured = capture.stop()
    frames = {p: decode_frames(captured.get(p, []), point=p) for p in points}
    return VlanObservation(nodes, scans, points, frames, own)
