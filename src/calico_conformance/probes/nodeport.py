"""The NodePort probe batch: real connections from the external client to NodePort on a node
that does not host the backend, with captures running on the client, the ingress node, the
backend's node and the backend pod's host interface.

One capture across the whole batch, demultiplexed afterwards by the TCP initial sequence number:
NAT rewrites addresses and ports but never the sequence number, so a connection can be followed
across every hop, through SNAT, DNAT and VXLAN, without guessing.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from calico_conformance.evidence.decode import decode_frames, flows
from calico_conformance.evidence.pcap import write_point_pcaps
from calico_conformance.targets.base import Node, NodePortService, Target
from calico_conformance.vocabulary.errors import ExecutorError, TargetError
from calico_conformance.vocabulary.exchange import HttpExchange
from calico_conformance.vocabulary.frames import CapturePoint, DecodedFrame
from calico_conformance.workloads.synprobe import CraftedSyn

# Tens of full-size segments at any common MTU; an MTU that leaves no room for VXLAN loses them.
LARGE_REPLY_BYTES = 32768


@dataclass
class ProbedConnection:
    """A kernel connection (``exchange`` with the workload's answer) or a scapy-crafted handshake
    (``crafted``: port and ISN chosen before sending, no workload answer)."""
    exchange: HttpExchange | None = None
    crafted: CraftedSyn | None = None
    isn: int | None = None            # the SYN's sequence number, from the ingress capture

    @property
    def label(self) -> str:
        if self.crafted:
            return f"{self.crafted.src}:{self.crafted.sport} (scapy SYN)"
        return f"{self.exchange.local_ip}:{self.exchange.local_port}"

    @property
    def sport(self) -> int:
        return self.crafted.sport if self.crafted else self.exchange.local_port

    @property
    def failed(self) -> bool:
        return self.exchange is not None and not self.exchange.ok


@dataclass
class NodePortObservation:
    service: NodePortService
    client_address: str
    ingress: Node
    backend_node: Node
    connections: list[ProbedConnection]
    frames: dict[CapturePoint, list[DecodedFrame]]
    pcaps: dict[CapturePoint, Path] = field(default_factory=dict)
    elapsed_s: float = 0.0
    large: ProbedConnection | None = None    # the large-reply connection (GET /?pad=N)
    # Where each node sends the other's traffic (the route to its Calico address), which felix's
    # FIB lookup picks for the tunnel: the uplink on a one-NIC node, another NIC where Calico's
    # address lives elsewhere (docs/upstream-truths.md, nodeport-fib-egress)
    ingress_tunnel_iface: str = ""
    backend_tunnel_iface: str = ""

    def point(self, node: Node | str, iface: str) -> CapturePoint:
        return CapturePoint(node if isinstance(node, str) else node.name, iface)

    @property
    def ingress_uplink(self) -> CapturePoint:
        return self.point(self.ingress, self.ingress.uplink)

    @property
    def backend_uplink(self) -> CapturePoint:
        return self.point(self.backend_node, self.backend_node.uplink)

    @property
    def ingress_tunnel(self) -> CapturePoint:
        """Where the ingress node sends the tunnel to the backend's node."""
        return self.point(self.ingress, self.ingress_tunnel_iface or self.ingress.uplink)

    @property
    def backend_tunnel(self) -> CapturePoint:
        """Where the backend's node sends the tunnel back (Tunnel mode replies)."""
        return self.point(self.backend_node, self.backend_tunnel_iface or self.backend_node.uplink)

    @property
    def backend_iface(self) -> CapturePoint:
        return self.point(self.backend_node, self.service.backend_host_iface)

    def at(self, point: CapturePoint) -> list[DecodedFrame]:
        return self.frames.get(point, [])

    def tcp_frames(self, point: CapturePoint, conn: ProbedConnection, *, synack: bool = False,
                   direction: str | None = None) -> list[DecodedFrame]:
        """Frames at ``point`` that belong to ``conn``: its SYN (seq = ISN) or SYN-ACK (ack = ISN+1)."""
        if conn.isn is None:
            return []
        found = []
        for f in self.at(point):
            if f.tcp is None or (direction and f.direction != direction):
                continue
            if synack and f.tcp.is_synack and f.tcp.ack == (conn.isn + 1) % 2**32:
                found.append(f)
            elif not synack and f.tcp.is_syn and f.tcp.seq == conn.isn:
                found.append(f)
        return found

    def flow_table(self, point: CapturePoint) -> list[dict]:
        return flows(self.at(point))


def ipv6_ready(target: Target) -> str | None:
    """Why an IPv6 NodePort probe cannot run on this target, or None if it can."""
    service = target.nodeport_service()
    client = target.external_client()
    if not service.backend_ip6:
        return "the backend has no IPv6 address (an IPv4-only cluster)"
    if not getattr(client, "address6", None):
        return "the external client has no IPv6 address"
    if not pick_ingress(target, service).address6:
        return "the nodes have no IPv6 address"
    return None


def client_node(target: Target) -> Node | None:
    """The cluster node the client runs on (its addresses are the node's), or None."""
    client = target.external_client()
    mine = {a for a in (client.address, getattr(client, "address6", None)) if a}
    return next((node for node in target.nodes()
                 if mine & {node.address, node.address6, node.calico_address, node.calico_address6}), None)


def client_on_node(target: Target) -> str | None:
    """Why NodePort forwarding cannot be seen from this client, if it runs on a cluster node:
    Calico's connect-time load balancing (bpfConnectTimeLoadBalancing, default TCP from v3.27,
    on for every protocol before) resolves a node process's connect() to a NodePort at the
    socket, straight to the pod, so there is no NodePort hop, no tunnel, and the pod sees the
    node's own (or tunnel) address (docs/upstream-truths.md, row connect-time-lb)."""
    node = client_node(target)
    if node is None:
        return None
    return (f"the client ({target.external_client().address}) is cluster node {node.name}: Calico's "
            "connect-time load balancing sends its NodePort connections straight to the pod, so "
            "NodePort forwarding and the client's own address cannot be seen from it; run the suite "
            "from a machine outside the cluster")


def route_iface(node: Node, destination: str | None) -> str:
    """The interface ``node`` routes ``destination`` through (the kernel's FIB, as felix's
    bpf_fib_lookup asks it), or the node's uplink where that cannot be read."""
    if not destination:
        return node.uplink
    try:
        result = node.executor.run(["ip", "-o", "route", "get", destination], timeout=20)
    except ExecutorError:
        return node.uplink
    fields = result.stdout.split()
    return fields[fields.index("dev") + 1] if result.succeeded and "dev" in fields else node.uplink


def pick_ingress(target: Target, service: NodePortService) -> Node:
    for node in target.nodes():
        if node.name != service.backend_node:
            return node
    raise TargetError("NodePort checks need a node that does not host the backend; the target "
                      "has only one node")


def probe_nodeport(target: Target, *, count: int = 3, crafted: int = 1, family: int = 4,
                   evidence_dir: Path | None = None, vxlan_ports=None,
                   large_reply: int = LARGE_REPLY_BYTES) -> NodePortObservation:
    """``count`` kernel connections with an HTTP GET, plus ``crafted`` scapy handshakes where the
    target's client can send them (IPv4), plus one GET for a reply of ``large_reply`` bytes
    (0: none). ``family=6`` probes the IPv6 NodePort of a dual-stack cluster; the caller checks
    first that the target has one (``ipv6_ready``)."""
    started = time.perf_counter()
    service = target.nodeport_service()
    ingress = pick_ingress(target, service)
    backend_node = target.node(service.backend_node)
    client = target.external_client()
    if family == 6:
        ingress_ip, client_ip, crafted = ingress.address6, client.address6, 0
        ingress_tunnel = route_iface(ingress, backend_node.felix_address6)
        backend_tunnel = route_iface(backend_node, ingress.felix_address6)
    else:
        ingress_ip, client_ip = ingress.address, client.address
        ingress_tunnel = route_iface(ingress, backend_node.felix_address)
        backend_tunnel = route_iface(backend_node, ingress.felix_address)
    points = list(dict.fromkeys([CapturePoint(ingress.name, ingress.uplink), CapturePoint(ingress.name, ingress_tunnel),
                                 CapturePoint(backend_node.name, backend_node.uplink),
                                 CapturePoint(backend_node.name, backend_tunnel),
                                 CapturePoint(backend_node.name, service.backend_host_iface)]))
    client_point = getattr(target, "client_capture_point", lambda: None)()
    if client_point:
        points.insert(0, client_point)
    capture = target.start_capture(points)
    try:
        send_syn = getattr(client, "send_syn", None)
        syns = [send_syn(ingress_ip, service.node_port) for _ in range(crafted)] if send_syn else []
        exchanges = [client.http_get(ingress_ip, service.node_port) for _ in range(count)]
        large = client.http_get(ingress_ip, service.node_port, path=f"/?pad={large_reply}") if large_reply else None
    finally:
        raw = capture.stop()

    kwargs = {"vxlan_ports": vxlan_ports} if vxlan_ports else {}
    decoded = {p: decode_frames(frames, point=p, **kwargs) for p, frames in raw.items()}
    pcaps = write_point_pcaps(evidence_dir, raw, "-ipv6" if family == 6 else "")
    obs = NodePortObservation(service, client_ip, ingress, backend_node,
                              [ProbedConnection(exchange=x) for x in exchanges]
                              + [ProbedConnection(crafted=syn, isn=syn.isn) for syn in syns], decoded, pcaps,
                              large=ProbedConnection(exchange=large) if large else None,
                              ingress_tunnel_iface=ingress_tunnel, backend_tunnel_iface=backend_tunnel)
    _find_isns(obs)
    obs.elapsed_s = time.perf_counter() - started
    return obs


def _find_isns(obs: NodePortObservation) -> None:
    """The ISN of each connection, from its SYN as it entered the ingress node (or left the client)."""
    candidates = obs.at(obs.ingress_uplink) + [f for p, fs in obs.frames.items() if p.node == "client" for f in fs]
    for conn in obs.connections + ([obs.large] if obs.large else []):
        if conn.isn is not None:
            continue
        for f in candidates:
            t = f.tcp
            if (t and t.is_syn and not f.encapsulated and t.src == obs.client_address
                    and t.sport == conn.sport and t.dport == obs.service.node_port):
                conn.isn = t.seq
                break
