"""What the installer needs to know about the cluster, read once (a dozen GETs, no writes).

Offline (a dry-run without a cluster) the view is ``ClusterView.offline()``: a fresh cluster with
kube-proxy in a DaemonSet, no Calico, nothing known about addresses.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import yaml

from calico_conformance.install import data


@dataclass
class ClusterView:
    offline: bool = False
    kubeconfig_host: str | None = None
    nodes: list[dict] = field(default_factory=list)
    kubeadm_config: dict | None = None            # kube-system/kubeadm-config ClusterConfiguration
    openshift_infrastructure: dict | None = None
    service_ips: dict[str, str] = field(default_factory=dict)   # clusterIP -> "ns/name"
    pod_ips: dict[str, str] = field(default_factory=dict)       # podIP -> "ns/name" (not hostNetwork)
    pod_cidrs: list[str] = field(default_factory=list)          # Node spec.podCIDRs
    installation: dict | None = None
    installation_crd: dict | None = None          # the CRD the cluster serves it by (switch-over only)
    apiserver: dict | None = None
    operator_deployment: dict | None = None
    endpoint_configmap: dict | None = None
    calico_without_operator: bool = False
    kube_proxy_ds: dict | None = None
    kube_proxy_config: dict | None = None         # the ConfigMap named by the distro's data
    aws_node: bool = False
    # FelixConfiguration is patched through the Calico API server (what `kubectl patch
    # felixconfiguration` reaches once the APIServer resource is installed); run.py falls back to the
    # CRD when that API is not served.
    felix_api: str = "projectcalico.org/v3"
    openshift_network: dict | None = None

    @classmethod
    def offline_view(cls) -> "ClusterView":
        return cls(offline=True)

    @property
    def bottlerocket(self) -> bool:
        return any("bottlerocket" in (n.get("status", {}).get("nodeInfo", {}).get("osImage", "")).lower()
                   for n in self.nodes)

    def kube_proxy_mode(self, key: str) -> str | None:
        """kube-proxy's configured mode ("" means the default, iptables), None if unknown."""
        if not self.kube_proxy_config:
            return None
        text = (self.kube_proxy_config.get("data") or {}).get(key)
        if text is None:
            return None
        try:
            return (yaml.safe_load(text) or {}).get("mode") or ""
        except yaml.YAMLError:
            return None


def _listed(kube, inv, kind: str) -> list[dict]:
    """All objects of a core kind: from the inventory the installer already read, else a LIST."""
    if inv is not None and inv.has(kind):
        return [o.raw for o in inv.of(kind)]
    return kube.list("v1", kind)


def read(kube, distro, inv=None) -> ClusterView:
    """``inv``: the support-matrix read of the same cluster (calico_conformance.install.gate.read), whose
    Nodes, Services and Pods are reused rather than listed again."""
    d = data.defaults()
    ns = d["operator_namespace"]
    view = ClusterView(kubeconfig_host=kube.host)
    view.nodes = _listed(kube, inv, "Node")
    for node in view.nodes:
        spec = node.get("spec") or {}
        view.pod_cidrs += spec.get("podCIDRs") or ([spec["podCIDR"]] if spec.get("podCIDR") else [])
    cm = kube.get("v1", "ConfigMap", "kubeadm-config", "kube-system")
    if cm:
        try:
            view.kubeadm_config = yaml.safe_load((cm.get("data") or {}).get("ClusterConfiguration", "")) or {}
        except yaml.YAMLError:
            view.kubeadm_config = {}
    if distro.name == "openshift":
        view.openshift_infrastructure = kube.get("config.openshift.io/v1", "Infrastructure", "cluster")
        view.openshift_network = kube.get("operator.openshift.io/v1", "Network", "cluster")
    for svc in _listed(kube, inv, "Service"):
        for ip in (svc.get("spec") or {}).get("clusterIPs") or [svc.get("spec", {}).get("clusterIP")]:
            if ip and ip != "None":
                view.service_ips[ip] = f"{svc['metadata']['namespace']}/{svc['metadata']['name']}"
    for pod in _listed(kube, inv, "Pod"):
        if (pod.get("spec") or {}).get("hostNetwork"):
            continue
        for entry in (pod.get("status") or {}).get("podIPs") or []:
            view.pod_ips[entry["ip"]] = f"{pod['metadata']['namespace']}/{pod['metadata']['name']}"
    view.installation = kube.get("operator.tigera.io/v1", "Installation", "default")
    if view.installation is not None:
        view.installation_crd = kube.get("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                                         "installations.operator.tigera.io")
    view.apiserver = kube.get("operator.tigera.io/v1", "APIServer", "default")
    view.operator_deployment = kube.get("apps/v1", "Deployment", d["operator_deployment"], ns)
    view.endpoint_configmap = kube.get("v1", "ConfigMap", d["endpoint_configmap"], ns)
    view.calico_without_operator = (view.installation is None and
                                    kube.get("apps/v1", "DaemonSet", "calico-node", "kube-system") is not None)
    kp = distro.kube_proxy
    if kp.get("daemonset"):
        view.kube_proxy_ds = kube.get("apps/v1", "DaemonSet", kp["daemonset"]["name"], kp["daemonset"]["namespace"])
    if kp.get("configmap"):
        view.kube_proxy_config = kube.get("v1", "ConfigMap", kp["configmap"]["name"], kp["configmap"]["namespace"])
    view.aws_node = kube.get("apps/v1", "DaemonSet", "aws-node", "kube-system") is not None
    return view
