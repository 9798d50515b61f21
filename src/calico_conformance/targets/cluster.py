"""What the kind, kubeconfig and ssh targets share: a real cluster behind the API, the suite's own
namespace (echo backend, NodePort Service, node agents), facts, captures and snapshots. The three
differ only in how a node runs commands (``node_executor``), the external client, and set-up.

Read-only unless told: without an installer the only writes are inside the suite's namespace.
"""
from __future__ import annotations

import ipaddress
import shutil
from functools import cached_property

from calico_conformance.clusterfacts import gather
from calico_conformance.executor import LocalExecutor
from calico_conformance.k8s import wait_until
from calico_conformance.targets.base import Node, NodePortService, Target
from calico_conformance.targets.capture import NodeCapture
from calico_conformance.targets.clients import LocalClient, source_address
from calico_conformance.vocabulary.errors import ExecutorError, TargetError
from calico_conformance.vocabulary.facts import ClusterFacts
from calico_conformance.vocabulary.frames import CapturePoint
from calico_conformance.vocabulary.images import ECHO_IMAGE
from calico_conformance.workloads import pods

SNAPSHOT = [  # (apiVersion, kind, namespace or None for all/cluster-scoped, names or None for all)
    ("v1", "Node", None, None),
    ("apps/v1", "DaemonSet", "kube-system", None),
    ("apps/v1", "DaemonSet", "calico-system", None),
    ("apps/v1", "Deployment", "tigera-operator", None),
    ("v1", "ConfigMap", "kube-system", ("kube-proxy", "kube-proxy-config", "kubeadm-config")),
    ("v1", "ConfigMap", "tigera-operator", ("kubernetes-services-endpoint",)),
    ("v1", "Service", None, None),
    ("operator.tigera.io/v1", "Installation", None, None),
    ("operator.tigera.io/v1", "APIServer", None, None),
    ("operator.tigera.io/v1", "TigeraStatus", None, None),
    ("crd.projectcalico.org/v1", "FelixConfiguration", None, None),
    ("crd.projectcalico.org/v1", "IPPool", None, None),
    ("crd.projectcalico.org/v1", "ClusterInformation", None, None),
]


def _is_v6(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).version == 6
    except ValueError:
        return False


def _ipv6_of(node: dict) -> str | None:
    """A dual-stack node's IPv6 InternalIP (None on IPv4-only nodes)."""
    return next((a["address"] for a in (node.get("status") or {}).get("addresses") or []
                 if a.get("type") == "InternalIP" and _is_v6(a.get("address", ""))), None)


def calico_address(node: dict, family: str) -> str | None:
    """The address calico-node set for felix (annotation projectcalico.org/IPv4Address or
    IPv6Address, "10.0.0.11/24"), without its prefix length; None where it is not set."""
    value = ((node.get("metadata") or {}).get("annotations") or {}).get(f"projectcalico.org/{family}Address")
    return value.split("/")[0] if value else None


def internal_ip(node: dict, family: str = "ipv4") -> str | None:
    addrs = [a["address"] for a in (node.get("status") or {}).get("addresses") or [] if a.get("type") == "InternalIP"]
    want6 = family == "ipv6"
    for addr in addrs:
        try:
            if (ipaddress.ip_address(addr).version == 6) == want6:
                return addr
        except ValueError:
            continue
    return addrs[0] if addrs else None


class ClusterTarget(Target):
    def __init__(self, kube, *, name: str, namespace: str = "calico-conformance", distribution: str | None = None,
                 echo_image: str = ECHO_IMAGE, backend_node: str | None = None,
                 ip_family: str = "ipv4", client=None, workload_timeout: float = 180.0,
                 progress=None):
        self.kube, self.name, self.namespace = kube, name, namespace
        self.distribution, self.echo_image = distribution, echo_image
        self.backend_node_name, self.ip_family = backend_node, ip_family
        self.workload_timeout = workload_timeout
        self.progress = progress or (lambda line: None)
        self._client = client
        self._closers: list = []       # run newest first by close()
        self._closed = False
        self._ns_created = False

    # ---- how a node runs commands: overridden per target --------------------------------
    def node_executor(self, node: dict):
        raise NotImplementedError

    # ---- set-up helpers ------------------------------------------------------------------
    def on_close(self, fn) -> None:
        self._closers.append(fn)

    def ensure_namespace(self) -> None:
        if self._ns_created or self.kube.get("v1", "Namespace", self.namespace) is not None:
            return
        self.kube.create(pods.namespace(self.namespace))
        self._ns_created = True

    def _wait_pod(self, name: str) -> dict:
        state = {}

        def ready():
            pod = self.kube.get("v1", "Pod", name, self.namespace) or {}
            state["pod"] = pod
            st = pod.get("status") or {}
            conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
            waiting = [cs.get("state", {}).get("waiting", {}).get("reason") for cs in st.get("containerStatuses") or []]
            summary = st.get("phase", "Pending") + (f" ({', '.join(filter(None, waiting))})" if any(waiting) else "")
            return st.get("phase") == "Running" and conds.get("Ready") == "True", summary
        try:
            wait_until(ready, what=f"pod {self.namespace}/{name}", timeout=self.workload_timeout, interval=1.0,
                       progress=self.progress)
        except TargetError as exc:
            raise TargetError(f"{exc}; check the image can be pulled (air-gapped: pre-load it, see "
                              "docs/real-clusters.md)") from None
        return state["pod"]

    # ---- Target ----------------------------------------------------------------------------
    @cached_property
    def _node_objects(self) -> list[dict]:
        nodes = self.kube.list("v1", "Node")
        if not nodes:
            raise TargetError("the cluster has no nodes")
        return nodes

    def facts(self) -> ClusterFacts:
        return gather(self.kube, target=self.name, distribution=self.distribution)

    @cached_property
    def _nodes(self) -> list[Node]:
        out = []
        for obj in self._node_objects:
            name = obj["metadata"]["name"]
            address = internal_ip(obj, self.ip_family)
            if not address:
                raise TargetError(f"node {name} has no InternalIP")
            executor = self.node_executor(obj)
            out.append(Node(name=name, address=address, executor=executor, uplink=self._uplink(executor, address),
                            address6=_ipv6_of(obj), calico_address=calico_address(obj, "IPv4"),
                            calico_address6=calico_address(obj, "IPv6")))
        return out

    def nodes(self):
        return self._nodes

    @staticmethod
    def _uplink(executor, address: str) -> str:
        """The interface that holds the node's InternalIP."""
        result = executor.run(["ip", "-o", "addr", "show", "to", address], timeout=20)
        fields = result.stdout.split()
        if not result.succeeded or len(fields) < 2:
            raise TargetError(f"cannot find the interface of {address} on {executor.name}: {result.describe()}")
        return fields[1].split("@")[0]

    def external_client(self):
        if self._client is None:
            first = self._nodes[0].address if self._nodes else "127.0.0.1"
            first6 = self._nodes[0].address6 if self._nodes else None
            self._client = LocalClient(source_address(first), source_address(first6) if first6 else None)
        return self._client

    def client_capture_point(self) -> CapturePoint | None:
        """Capture on this host too when it is the client and can run tcpdump."""
        client = self.external_client()
        if not isinstance(client, LocalClient) or not shutil.which("tcpdump"):
            return None
        dest = self._nodes[0].address
        result = LocalExecutor().run(["ip", "-o", "route", "get", dest], timeout=10)
        fields = result.stdout.split()
        return CapturePoint("client", fields[fields.index("dev") + 1]) if "dev" in fields else None

    @cached_property
    def _service(self) -> NodePortService:
        self.ensure_namespace()
        names = [n["metadata"]["name"] for n in self._node_objects]
        backend = self.backend_node_name or self._default_backend()
        if backend not in names:
            raise TargetError(f"--backend-node {backend}: no such node; nodes are: {', '.join(names)}")
        for obj in pods.echo_objects(self.namespace, backend, self.echo_image):
            if self.kube.get(obj["apiVersion"], obj["kind"], obj["metadata"]["name"], self.namespace) is None:
                self.kube.create(obj)
        pod = self._wait_pod(pods.ECHO_NAME)
        pod_ip = pod["status"].get("podIP")
        svc = self.kube.get("v1", "Service", pods.ECHO_NAME, self.namespace)
        node_port = _node_port_of(svc)
        if not pod_ip or not node_port:
            raise TargetError(f"the echo backend has no pod IP or NodePort yet (pod IP {pod_ip}, NodePort {node_port})")
        node = next(n for n in self._nodes if n.name == backend)
        route = node.executor.run(["ip", "-o", "route", "get", pod_ip], timeout=20)
        fields = route.stdout.split()
        if "dev" not in fields:
            raise TargetError(f"cannot find the host-side interface of the echo pod {pod_ip} on {backend}: "
                              f"{route.describe()}")
        pod_ip6 = next((p["ip"] for p in pod["status"].get("podIPs") or [] if _is_v6(p.get("ip", ""))), None)
        local_port = _node_port_of(self.kube.get("v1", "Service", pods.ECHO_LOCAL_NAME, self.namespace))
        return NodePortService(namespace=self.namespace, name=pods.ECHO_NAME, node_port=int(node_port),
                               protocol="TCP", backend_ip=pod_ip, backend_port=pods.ECHO_PORT,
                               backend_node=backend, backend_host_iface=fields[fields.index("dev") + 1],
                               backend_ip6=pod_ip6 if pod_ip6 != pod_ip else None,
                               local_node_port=int(local_port) if local_port else None)

    def _default_backend(self) -> str:
        """The last worker (a node without the control-plane role), so another node is the ingress."""
        workers = [n["metadata"]["name"] for n in self._node_objects
                   if not {"node-role.kubernetes.io/control-plane", "node-role.kubernetes.io/master"}
                   & set((n["metadata"].get("labels") or {}))]
        return (workers or [n["metadata"]["name"] for n in self._node_objects])[-1]

    def nodeport_service(self) -> NodePortService:
        return self._service

    def start_capture(self, points):
        where = {}
        for point in points:
            if point.node == "client":
                where[point] = LocalExecutor("client")
            else:
                where[point] = self.node(point.node).executor
        try:
            return NodeCapture(where)
        except ExecutorError as exc:
            raise TargetError(f"cannot capture: {exc}") from None

    def felix_logs(self) -> dict[str, str] | None:
        """calico-node pods' logs (calico-system for the operator, kube-system for manifests)."""
        logs: dict[str, str] = {}
        for ns in ("calico-system", "kube-system"):
            for pod in self.kube.list("v1", "Pod", ns, label_selector="k8s-app=calico-node"):
                node = (pod.get("spec") or {}).get("nodeName")
                text = self.kube.pod_log(pod["metadata"]["name"], ns, container="calico-node") if node else None
                if text is not None:
                    logs[node] = text
        return logs

    def snapshot(self) -> list[dict]:
        out = []
        for api_version, kind, ns, names in SNAPSHOT:
            for obj in self.kube.list(api_version, kind, ns):
                if names is None or obj["metadata"]["name"] in names:
                    out.append(obj)
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        errors = []
        if self._ns_created:
            try:
                self.kube.delete("v1", "Namespace", self.namespace)
            except TargetError as exc:
                errors.append(str(exc))
        for fn in reversed(self._closers):
            try:
                fn()
            except Exception as exc:   # keep tearing down; report at the end
                errors.append(str(exc))
        if errors:
            raise TargetError("tear-down was incomplete: " + "; ".join(errors))


def _node_port_of(svc: dict | None) -> int | None:
    """The first NodePort a Service was given, or None (no Service, or none allocated yet)."""
    ports = ((svc or {}).get("spec") or {}).get("ports") or []
    return next((p["nodePort"] for p in ports if p.get("nodePort")), None)
