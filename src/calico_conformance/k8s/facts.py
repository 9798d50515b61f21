"""Cluster facts from API objects (pure functions over dicts, so they are tested on seeds):
Calico version, Kubernetes version, datastore, Felix settings, per-node kernel and arch."""
from __future__ import annotations

from calico_conformance.support import calico_version
from calico_conformance.support.inventory import Inventory
from calico_conformance.targets.base import ClusterFacts, FelixSettings, NodeFacts


def _containers(workload: dict | None) -> list[dict]:
    return ((((workload or {}).get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []


def calico_objects(installation: dict | None, cluster_information: dict | None,
                   calico_node: dict | None) -> Inventory:
    """The objects the support detector reads the running Calico version from."""
    inv = Inventory(origin="the API")
    for obj, kind in ((installation, "Installation"), (cluster_information, "calico/ClusterInformation"),
                      (calico_node, "DaemonSet")):
        if obj:
            inv.add(obj, "the API", kind=kind)
    return inv


def datastore(installation: dict | None, calico_node: dict | None) -> str | None:
    for c in _containers(calico_node):
        for env in c.get("env") or []:
            if env.get("name") == "DATASTORE_TYPE":
                return "etcd" if env.get("value", "").startswith("etcd") else "kubernetes"
    return "kubernetes" if installation else None


def felix_settings(felix: dict | None, installation: dict | None) -> FelixSettings:
    spec = (felix or {}).get("spec") or {}
    bpf = spec.get("bpfEnabled")
    if bpf is None and installation is not None:
        bpf = ((installation.get("spec") or {}).get("calicoNetwork") or {}).get("linuxDataplane") == "BPF"
    cleanup = spec.get("bpfKubeProxyIptablesCleanupEnabled")
    return FelixSettings(bpf_enabled=bpf,
                         external_service_mode=spec.get("bpfExternalServiceMode") or "Tunnel",
                         kube_proxy_iptables_cleanup=True if cleanup is None else bool(cleanup),
                         vxlan_port=int(spec.get("vxlanPort") or 4789),
                         vxlan_vni=int(spec.get("vxlanVNI") or 4096))


def node_facts(node: dict) -> NodeFacts:
    info = (node.get("status") or {}).get("nodeInfo") or {}
    return NodeFacts(node["metadata"]["name"], info.get("kernelVersion", ""), info.get("architecture", ""),
                     info.get("osImage", ""))


def gather(kube, *, target: str, distribution: str | None) -> ClusterFacts:
    installation = kube.get("operator.tigera.io/v1", "Installation", "default")
    calico_node = (kube.get("apps/v1", "DaemonSet", "calico-node", "calico-system")
                   or kube.get("apps/v1", "DaemonSet", "calico-node", "kube-system"))
    info = kube.get("crd.projectcalico.org/v1", "ClusterInformation", "default")
    felix = kube.get("crd.projectcalico.org/v1", "FelixConfiguration", "default")
    return ClusterFacts(
        target=target,
        calico_version=calico_version.full_version(calico_objects(installation, info, calico_node)),
        kubernetes_version=kube.version().get("gitVersion"),
        distribution=distribution,
        datastore=datastore(installation, calico_node),
        felix=felix_settings(felix, installation),
        nodes=tuple(node_facts(n) for n in kube.list("v1", "Node")))
