"""Lab profile ``kube-proxy-real``: real kube-proxy v1.30 (iptables mode) on every lab node,
against a real etcd + kube-apiserver made for the run. What a cluster would hold for the lab's
NodePort service is written through the API (Nodes, a selector-less NodePort Service and its
EndpointSlice naming the lab's backend pod); kube-proxy turns it into its own iptables rules in
each node's namespace. It runs beside the lab's emulated plumbing (overlay routes through
vxlan.calico), replacing only the emulated kube-proxy chains."""
from __future__ import annotations

import base64
import time
from pathlib import Path

import yaml

from calico_conformance import processes
from calico_conformance.executor import NetnsExecutor
from calico_conformance.lab.topology import Topology
from calico_conformance.realk8s import apply, versions
from calico_conformance.realk8s.cache import Cache, root
from calico_conformance.realk8s.controlplane import ControlPlane, ControlPlaneError
from calico_conformance.realk8s.forward import NetnsForwarder
from calico_conformance.vocabulary.errors import UsageError

NAMESPACE = "calico-conformance"
SERVICE = "backend"
SERVICE_LOCAL = "backend-local"
NODE_API_PORT = 6443          # where each node reaches the API server, on its own loopback
CLUSTER_CIDR = "10.244.0.0/16"


def cluster_objects(topo: Topology) -> list[dict]:
    """Nodes as a kubelet registers them, the NodePort Service and the EndpointSlice the
    EndpointSlice controller would write for the lab's backend pod."""
    objs: list[dict] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}]
    for n in topo.nodes:
        objs.append({"apiVersion": "v1", "kind": "Node",
                     "metadata": {"name": n.name, "labels": {"kubernetes.io/hostname": n.name,
                                                             "kubernetes.io/os": "linux"}},
                     "spec": {"podCIDR": n.pod_cidr, "podCIDRs": [n.pod_cidr]},
                     "status": {"addresses": [{"type": "InternalIP", "address": n.address},
                                              {"type": "Hostname", "address": n.name}]}})
    b, spec = topo.backend, topo.spec
    # the Cluster Service and an externalTrafficPolicy: Local one, both in front of the backend pod
    for name, policy, node_port in ((SERVICE, "Cluster", spec.node_port),
                                    (SERVICE_LOCAL, "Local", spec.node_port_local)):
        objs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NAMESPACE},
                     "spec": {"type": "NodePort", "externalTrafficPolicy": policy,
                              "ports": [{"name": "http", "protocol": "TCP", "port": b.port, "targetPort": b.port,
                                         "nodePort": node_port}]}})
        objs.append({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                     "metadata": {"name": f"{name}-lab", "namespace": NAMESPACE,
                                  "labels": {"kubernetes.io/service-name": name,
                                             "endpointslice.kubernetes.io/managed-by": "calico-conformance"}},
                     "addressType": "IPv4",
                     "endpoints": [{"addresses": [b.ip], "nodeName": b.node,
                                    "conditions": {"ready": True, "serving": True, "terminating": False}}],
                     "ports": [{"name": "http", "protocol": "TCP", "port": b.port}]})
    return objs


def kube_proxy_config(node_name: str, kubeconfig: Path) -> dict:
    return {"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "hostnameOverride": node_name, "mode": "iptables", "clusterCIDR": CLUSTER_CIDR,
            "healthzBindAddress": "127.0.0.1:10256", "metricsBindAddress": "127.0.0.1:10249",
            # nf_conntrack_max is not per namespace: leave the host's conntrack settings alone
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"}}


class RealKubeProxy:
    def __init__(self, topo: Topology, *, cache: Cache | None = None, sync_timeout: float = 90.0):
        self.topo, self.sync_timeout = topo, sync_timeout
        self.cache = cache or Cache(root())
        self.cp: ControlPlane | None = None
        self.forwarders: list[NetnsForwarder] = []
        self.proxies: list[processes.Process] = []
        self.timings: dict = {}

    def binary(self) -> str:
        path = self.cache.binary("kube-proxy", versions.KUBERNETES)
        if not path.is_file():
            raise UsageError(f"kube-proxy is not built in {self.cache.root}; run `calico-conformance lab build` "
                             "(lab dataplane kube-proxy-real, docs/real-calico.md)")
        return str(path)

    def start(self) -> None:
        t0 = time.monotonic()
        kube_proxy = self.binary()
        processes.handle_signals()
        self.cp = ControlPlane()
        self.cp.start()
        self.timings["control_plane_ready_s"] = round(time.monotonic() - t0, 2)
        apply.apply_all(apply.client(self.cp.kubeconfig), cluster_objects(self.topo))
        kubeconfig = self._node_kubeconfig()
        for node in self.topo.nodes:
            self.forwarders.append(NetnsForwarder(node.netns, NODE_API_PORT, self.cp.api_port).start())
            config = self.cp.dir / f"kube-proxy-{node.name}.yaml"
            config.write_text(yaml.safe_dump(kube_proxy_config(node.name, kubeconfig)))
            self.proxies.append(processes.Process(
                f"kube-proxy-{node.name}", NetnsExecutor(node.netns).wrap([kube_proxy, "--config", str(config)]),
                self.cp.dir / f"kube-proxy-{node.name}.log"))
        self._wait_synced()
        self.timings["kube_proxy_synced_s"] = round(time.monotonic() - t0, 2)

    def _node_kubeconfig(self) -> Path:
        c = self.cp.dir / "pki"
        b64 = lambda name: base64.b64encode((c / name).read_bytes()).decode()
        path = self.cp.dir / "kube-proxy.kubeconfig"
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "lab",
            "clusters": [{"name": "lab", "cluster": {"server": f"https://127.0.0.1:{NODE_API_PORT}",
                                                     "certificate-authority-data": b64("ca.crt")}}],
            "users": [{"name": "kube-proxy", "user": {"client-certificate-data": b64("kube-proxy.crt"),
                                                        "client-key-data": b64("kube-proxy.key")}}],
            "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "kube-proxy"}}]}))
        path.chmod(0o600)
        return path

    def _synced(self, netns: str) -> bool:
        out = NetnsExecutor(netns).run(["iptables-save", "-t", "nat"], timeout=20).stdout
        ports = (self.topo.spec.node_port, self.topo.spec.node_port_local)
        return all(any(line.startswith("-A KUBE-NODEPORTS") and f"--dport {port}" in line
                       for line in out.splitlines()) for port in ports)

    def _wait_synced(self) -> None:
        deadline = time.monotonic() + self.sync_timeout
        pending = {n.netns: p for n, p in zip(self.topo.nodes, self.proxies)}
        while pending and time.monotonic() < deadline:
            for ns, proc in list(pending.items()):
                if not proc.alive():
                    raise ControlPlaneError(f"{proc.name} exited {proc.proc.returncode}: {proc.last_log_line()}")
                if self._synced(ns):
                    del pending[ns]
            if pending:
                time.sleep(0.3)
        if pending:
            proc = next(iter(pending.values()))
            raise ControlPlaneError(f"{proc.name} did not program NodePort {self.topo.spec.node_port} within "
                                    f"{self.sync_timeout:g} s: {proc.last_log_line()}")

    def stop(self) -> None:
        for proc in self.proxies:
            proc.stop(timeout=5.0)
        self.proxies = []
        for fwd in self.forwarders:
            fwd.stop()
        self.forwarders = []
        if self.cp is not None:
            self.cp.stop()
            self.cp = None
