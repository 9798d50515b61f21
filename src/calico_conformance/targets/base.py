"""What every target gives the checks. Checks never learn what kind of target they run against.

A target is a cluster plus an external client: the lab (network namespaces on this host), a kind
cluster, an existing cluster from a kubeconfig, or VMs over SSH. Each implements ``Target``.
"""
from __future__ import annotations

import abc
from dataclasses import asdict, dataclass, field
from typing import Protocol, Sequence

from calico_conformance.evidence.model import CapturePoint
from calico_conformance.errors import UsageError
from calico_conformance.executor import Executor


class TargetError(UsageError):
    """The target cannot be set up or reached; the message says what to do."""


@dataclass(frozen=True)
class FelixSettings:
    """The Felix configuration values the checks depend on (FelixConfiguration ``default``)."""
    bpf_enabled: bool | None = None
    external_service_mode: str = "Tunnel"        # bpfExternalServiceMode: Tunnel (default) or DSR
    kube_proxy_iptables_cleanup: bool = True     # bpfKubeProxyIptablesCleanupEnabled
    vxlan_port: int = 4789                       # vxlanPort
    vxlan_vni: int = 4096                        # vxlanVNI
    bpf_data_iface_pattern: str | None = None    # bpfDataIfacePattern (None: felix's default)
    dsr_optout_cidrs: tuple[str, ...] = ()       # bpfDSROptoutCIDRs (v3.26+): these clients get Tunnel
    # where external_service_mode came from, as felix ranks its sources: an environment variable
    # of calico-node, FelixConfiguration node.<name>, FelixConfiguration default, felix's default
    external_service_mode_source: str = "default"


@dataclass(frozen=True)
class NodeFacts:
    name: str
    kernel: str = ""
    arch: str = ""
    os_image: str = ""

    # As a flat property (JUnit, and the facts xdist workers send): "node.NAME" = this.
    def property_value(self) -> str:
        return f"kernel={self.kernel} arch={self.arch} os={self.os_image}"

    @classmethod
    def from_property(cls, key: str, value: str) -> "NodeFacts":
        kernel, _, rest = value.removeprefix("kernel=").partition(" arch=")
        arch, _, os_image = rest.partition(" os=")
        return cls(key.removeprefix("node."), kernel, arch, os_image)


@dataclass(frozen=True)
class ClusterFacts:
    target: str
    calico_version: str | None = None
    kubernetes_version: str | None = None
    distribution: str | None = None
    datastore: str | None = None                 # "kubernetes" or "etcd"
    felix: FelixSettings = field(default_factory=FelixSettings)
    nodes: tuple[NodeFacts, ...] = ()
    is_lab: bool = False
    lab_profile: str | None = None
    # Felix settings where one node's differ from ``felix`` (FelixConfiguration node.<name>)
    node_felix: tuple[tuple[str, FelixSettings], ...] = ()

    def felix_for(self, node: str) -> FelixSettings:
        """The settings felix runs with on ``node`` (per-node configuration over the global)."""
        return dict(self.node_felix).get(node, self.felix)

    def as_properties(self) -> dict[str, str]:
        """Flat, secret-free key/values for JUnit and the HTML report header."""
        props = {
            "target": self.target,
            "calico_version": self.calico_version or "unknown",
            "kubernetes_version": self.kubernetes_version or "unknown",
            "distribution": self.distribution or "unknown",
            "datastore": self.datastore or "unknown",
        }
        for key, value in asdict(self.felix).items():
            props[f"felix.{key}"] = str(value)
        for node in self.nodes:
            props[f"node.{node.name}"] = node.property_value()
        if self.is_lab:
            props["lab_profile"] = self.lab_profile or ""
            props["lab_notice"] = LAB_NOTICE
        return props


LAB_NOTICE = ("This run used the reference lab: network namespaces that emulate a dataplane. "
              "It checks the conformance suite itself, not Calico.")


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


@dataclass(frozen=True)
class HttpExchange:
    """One kernel TCP connection from the external client and what the workload answered."""
    local_ip: str
    local_port: int
    remote_ip: str
    remote_port: int
    ok: bool
    reported_client: str | None   # the source address the backend says it saw
    error: str | None
    elapsed_s: float
    path: str = "/"               # what was asked: ``/?pad=N`` asks for a reply of many packets
    received_bytes: int = 0       # what arrived of the answer (headers included), even if cut short


@dataclass(frozen=True)
class RawFrame:
    time: float
    data: bytes
    direction: str | None     # "in" / "out" as the capturing host saw it, None if unknown


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
