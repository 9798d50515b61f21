"""Real kube-proxy v1.30 (iptables mode) on every lab node, against the lab's real API server
(lab/realapi.py). What a cluster would hold for the lab's NodePort services is written through
the API (Nodes, selector-less NodePort Services and their EndpointSlices naming the lab's backend
pod); kube-proxy turns it into its own iptables rules in each node's namespace. Profile
``kube-proxy-real`` runs it beside the lab's emulated plumbing (overlay routes through
vxlan.calico), replacing only the emulated kube-proxy chains; the real-felix profiles run it
beside felix's standard dataplane, or before felix's eBPF dataplane takes over."""
from __future__ import annotations

import time
from pathlib import Path

import yaml

from calico_conformance import processes
from calico_conformance.executor import NetnsExecutor
from calico_conformance.lab import ipv6 as lab_ipv6
from calico_conformance.lab.realapi import LabApi
from calico_conformance.lab.topology import POD_NAMESPACE as NAMESPACE, Topology
from calico_conformance.realk8s import versions
from calico_conformance.realk8s.cache import Cache, root
from calico_conformance.realk8s.controlplane import ControlPlaneError
from calico_conformance.vocabulary.errors import UsageError

SERVICE = "backend"
SERVICE_LOCAL = "backend-local"
CLUSTER_CIDR = "10.244.0.0/16"


def binary(cache: Cache) -> Path:
    path = cache.binary("kube-proxy", versions.KUBERNETES)
    if not path.is_file():
        raise UsageError(f"kube-proxy is not built in {cache.root}; run `calico-conformance lab build` "
                         "(docs/real-calico.md)")
    return path


def cluster_objects(topo: Topology, *, ipv6: bool = False) -> list[dict]:
    """Nodes as a kubelet registers them, the NodePort Service and the EndpointSlice the
    EndpointSlice controller would write for the lab's backend pod; dual-stack (``ipv6``): Nodes
    with both InternalIPs, RequireDualStack Services and an IPv6 EndpointSlice beside the IPv4 one."""
    objs: list[dict] = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}]
    for n in topo.nodes:
        cidrs = [n.pod_cidr] + ([lab_ipv6.pod_cidr(n)] if ipv6 else [])
        internal = [n.address] + ([lab_ipv6.node_ip(n)] if ipv6 else [])
        objs.append({"apiVersion": "v1", "kind": "Node",
                     "metadata": {"name": n.name, "labels": {"kubernetes.io/hostname": n.name,
                                                             "kubernetes.io/os": "linux"}},
                     "spec": {"podCIDR": n.pod_cidr, "podCIDRs": cidrs},
                     "status": {"addresses": [{"type": "InternalIP", "address": a} for a in internal]
                                + [{"type": "Hostname", "address": n.name}]}})
    b, spec = topo.backend, topo.spec
    families = [("IPv4", "lab", b.ip)] + ([("IPv6", "lab6", lab_ipv6.backend_ip(topo))] if ipv6 else [])
    # the Cluster Service and an externalTrafficPolicy: Local one, both in front of the backend pod
    for name, policy, node_port in ((SERVICE, "Cluster", spec.node_port),
                                    (SERVICE_LOCAL, "Local", spec.node_port_local)):
        service = {"type": "NodePort", "externalTrafficPolicy": policy,
                   "ports": [{"name": "http", "protocol": "TCP", "port": b.port, "targetPort": b.port,
                              "nodePort": node_port}]}
        if ipv6:
            service.update(ipFamilyPolicy="RequireDualStack", ipFamilies=[f for f, _, _ in families])
        objs.append({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NAMESPACE},
                     "spec": service})
        objs += [{"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                  "metadata": {"name": f"{name}-{suffix}", "namespace": NAMESPACE,
                               "labels": {"kubernetes.io/service-name": name,
                                          "endpointslice.kubernetes.io/managed-by": "calico-conformance"}},
                  "addressType": family,
                  "endpoints": [{"addresses": [address], "nodeName": b.node,
                                 "conditions": {"ready": True, "serving": True, "terminating": False}}],
                  "ports": [{"name": "http", "protocol": "TCP", "port": b.port}]}
                 for family, suffix, address in families]
    return objs


def kube_proxy_config(node_name: str, kubeconfig: Path) -> dict:
    return {"apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "hostnameOverride": node_name, "mode": "iptables", "clusterCIDR": CLUSTER_CIDR,
            "healthzBindAddress": "127.0.0.1:10256", "metricsBindAddress": "127.0.0.1:10249",
            # nf_conntrack_max is not per namespace: leave the host's conntrack settings alone
            "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"}}


class RealKubeProxy:
    """kube-proxy on every node, fed by ``api`` (which already holds ``cluster_objects``);
    ``start()`` returns once each has programmed both NodePorts, ``stop()`` ends them (their rules
    stay, as when kube-proxy's DaemonSet is scaled away)."""

    def __init__(self, topo: Topology, api: LabApi, *, cache: Cache | None = None, sync_timeout: float = 90.0,
                 ipv6: bool = False):
        self.topo, self.api, self.sync_timeout = topo, api, sync_timeout
        # dual-stack: synced only once the IPv6 NodePorts are programmed too
        self.saves = ("iptables-save", "ip6tables-save") if ipv6 else ("iptables-save",)
        self.cache = cache or Cache(root())
        self.proxies: list[processes.Process] = []
        self.timings: dict = {}

    def binary(self) -> str:
        return str(binary(self.cache))

    def start(self) -> None:
        t0 = time.monotonic()
        kube_proxy = self.binary()
        kubeconfig = self.api.kubeconfig("kube-proxy")
        for node in self.topo.nodes:
            config = self.api.dir / f"kube-proxy-{node.name}.yaml"
            config.write_text(yaml.safe_dump(kube_proxy_config(node.name, kubeconfig)))
            self.proxies.append(processes.Process(
                f"kube-proxy-{node.name}", NetnsExecutor(node.netns).wrap([kube_proxy, "--config", str(config)]),
                self.api.dir / f"kube-proxy-{node.name}.log"))
        self._wait_synced()
        self.timings["kube_proxy_synced_s"] = round(time.monotonic() - t0, 2)

    def _synced(self, netns: str) -> bool:
        ports = (self.topo.spec.node_port, self.topo.spec.node_port_local)
        for save in self.saves:
            out = NetnsExecutor(netns).run([save, "-t", "nat"], timeout=20).stdout
            if not all(any(line.startswith("-A KUBE-NODEPORTS") and f"--dport {port}" in line
                           for line in out.splitlines()) for port in ports):
                return False
        return True

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
