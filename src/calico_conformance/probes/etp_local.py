"""The externalTrafficPolicy: Local probe: connections from the external client to the Local
Service's NodePort on the backend's own node (it must serve them, keeping the client's address)
and on a node without a backend (it must not forward them: felix answers ICMP port unreachable),
with captures on both nodes' uplinks to see whether anything was forwarded.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from calico_conformance.evidence.decode import decode_frames, flows
from calico_conformance.evidence.pcap import write_point_pcaps
from calico_conformance.probes.nodeport import pick_ingress, route_iface
from calico_conformance.targets.base import Node, NodePortService, Target
from calico_conformance.vocabulary.exchange import HttpExchange
from calico_conformance.vocabulary.frames import CapturePoint, DecodedFrame

ICMP = 1


@dataclass
class EtpLocalObservation:
    service: NodePortService
    client_address: str
    ingress: Node                        # has no backend
    backend_node: Node                   # hosts the only backend
    at_backend_node: list[HttpExchange]
    at_ingress: list[HttpExchange]
    frames: dict[CapturePoint, list[DecodedFrame]]
    pcaps: dict[CapturePoint, Path] = field(default_factory=dict)
    elapsed_s: float = 0.0
    ingress_tunnel_iface: str = ""        # where the ingress node routes the backend's node (a NIC of its own)

    @property
    def port(self) -> int:
        return self.service.local_node_port

    @property
    def ingress_uplink(self) -> CapturePoint:
        return CapturePoint(self.ingress.name, self.ingress.uplink)

    @property
    def ingress_tunnel(self) -> CapturePoint:
        return CapturePoint(self.ingress.name, self.ingress_tunnel_iface or self.ingress.uplink)

    @property
    def backend_uplink(self) -> CapturePoint:
        return CapturePoint(self.backend_node.name, self.backend_node.uplink)

    def arrived(self, exchange: HttpExchange) -> list[DecodedFrame]:
        """This connection's SYN arriving at the ingress node: the proof that the node was asked,
        beside which "not forwarded" and "not served" mean something."""
        return [f for f in self.frames.get(self.ingress_uplink, [])
                if f.direction != "out" and f.tcp is not None and f.tcp.is_syn and not f.encapsulated
                and f.tcp.sport == exchange.local_port and f.tcp.dport == self.port]

    def forwarded(self, exchange: HttpExchange) -> list[DecodedFrame]:
        """Frames of this connection's SYN leaving the ingress node again (encapsulated or not),
        on its uplink or where it routes the backend's node."""
        leaving = [f for p in dict.fromkeys([self.ingress_uplink, self.ingress_tunnel]) for f in self.frames.get(p, [])]
        return [f for f in leaving
                if f.direction == "out" and f.tcp is not None and f.tcp.is_syn
                and f.tcp.sport == exchange.local_port and f.l3_dst != self.client_address]

    def icmp_to_client(self) -> list[DecodedFrame]:
        return [f for f in self.frames.get(self.ingress_uplink, [])
                if f.direction == "out" and f.ip_proto == ICMP and f.l3_dst == self.client_address]

    def flow_table(self, point: CapturePoint) -> list[dict]:
        return flows(self.frames.get(point, []))


def probe_etp_local(target: Target, *, count: int = 2, timeout: float = 1.0,
                    evidence_dir: Path | None = None) -> EtpLocalObservation | None:
    """None where the target has no externalTrafficPolicy: Local Service."""
    started = time.perf_counter()
    service = target.nodeport_service()
    if not service.local_node_port:
        return None
    ingress = pick_ingress(target, service)
    backend_node = target.node(service.backend_node)
    client = target.external_client()
    tunnel = route_iface(ingress, backend_node.felix_address)
    points = list(dict.fromkeys([CapturePoint(ingress.name, ingress.uplink), CapturePoint(ingress.name, tunnel),
                                 CapturePoint(backend_node.name, backend_node.uplink)]))
    capture = target.start_capture(points)
    try:
        local = [client.http_get(backend_node.address, service.local_node_port, timeout=timeout)
                 for _ in range(count)]
        remote = [client.http_get(ingress.address, service.local_node_port, timeout=timeout)
                  for _ in range(count)]
    finally:
        raw = capture.stop()
    decoded = {p: decode_frames(frames, point=p) for p, frames in raw.items()}
    pcaps = write_point_pcaps(evidence_dir, raw, "-etp-local")
    return EtpLocalObservation(service, client.address, ingress, backend_node, local, remote, decoded, pcaps,
                               time.perf_counter() - started, ingress_tunnel_iface=tunnel)
