"""What every target gives the checks. Checks never learn what kind of target they run against.

A target is a cluster plus an external client: the lab (network namespaces on this host), a kind
cluster, an existing cluster from a kubeconfig, or VMs over SSH. Each implements ``Target``.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Protocol, Sequence

from calico_conformance.executor import Executor
from calico_conformance.vocabulary.errors import TargetError
from calico_conformance.vocabulary.exchange import HttpExchange
from calico_conformance.vocabulary.facts import ClusterFacts
from calico_conformance.vocabulary.frames import CapturePoint, RawFrame


@dataclass(frozen=True)
class Node:
    name: str
    address: str             # the node's InternalIP, where NodePort traffic is sent
    executor: Executor
    uplink: str              # the interface that carries node-to-node and client traffic
    tunnel_iface: str = "vxlan.calico"
    address6: str | None = None   # the node's IPv6 InternalIP on a dual-stack cluster
    # Calico's own address for the node (annotation projectcalico.org/IPv4Address, no prefix
    # length): felix routes to it, and its BPF NodePort tunnel is addressed to it; a multi-NIC
    # node's may differ from its InternalIP (felix/calc/l3_route_resolver.go::OnResourceUpdate).
    calico_address: str | None = None
    calico_address6: str | None = None

    @property
    def felix_address(self) -> str:
        """The address felix's BPF programs use for this node: Calico's, else the InternalIP."""
        return self.calico_address or self.address

    @property
    def felix_address6(self) -> str | None:
        return self.calico_address6 or self.address6


@dataclass(frozen=True)
class NodePortService:
    """A NodePort service in front of one backend pod pinned to ``backend_node``."""
    namespace: str
    name: str
    node_port: int
    protocol: str            # "TCP"
    backend_ip: str
    backend_port: int
    backend_node: str
    backend_host_iface: str  # the backend pod's interface on its node's side (cali*)
    extra_ports: tuple[tuple[int, str], ...] = ()   # other (port, protocol) pairs it exposes
    backend_ip6: str | None = None                  # the backend's IPv6 address (dual-stack)
    local_node_port: int | None = None   # a second Service's, externalTrafficPolicy: Local, same backend


class Client(Protocol):
    name: str
    address: str
    address6: str | None     # for IPv6 NodePort probes on dual-stack clusters

    def http_get(self, host: str, port: int, *, timeout: float = 2.0, path: str = "/") -> HttpExchange: ...


class Capture(Protocol):
    def stop(self) -> dict[CapturePoint, list[RawFrame]]: ...


class Target(abc.ABC):
    """The cluster under test. Implementations: calico_conformance.targets.<name>."""

    name: str = "?"

    @abc.abstractmethod
    def facts(self) -> ClusterFacts: ...

    @abc.abstractmethod
    def nodes(self) -> Sequence[Node]: ...

    @abc.abstractmethod
    def external_client(self) -> Client: ...

    @abc.abstractmethod
    def nodeport_service(self) -> NodePortService: ...

    @abc.abstractmethod
    def start_capture(self, points: Sequence[CapturePoint]) -> Capture:
        """Start capturing on every point at once; ``stop()`` returns the frames of each."""

    def snapshot(self) -> list[dict]:
        """Kubernetes-style objects (Nodes, DaemonSets, ConfigMaps, Calico resources) for the
        unsupported-set-up detection. Targets without an API return what they can describe."""
        return []

    def felix_logs(self) -> dict[str, str] | None:
        """Each node's felix (calico-node) log, by node name, or None where the target cannot
        read them. A node missing from the dict has no log to give."""
        return None

    def node(self, name: str) -> Node:
        for node in self.nodes():
            if node.name == name:
                return node
        raise TargetError(f"no node named {name!r} in target {self.name}")

    def close(self) -> None:
        """Remove everything the target created. Safe to call twice."""
