"""Which Kubernetes distribution a node belongs to, from what its Node object shows. The installer
decides with it too (calico_conformance.install.detect): the names it shares with distros.yaml mean the same.

Checked most specific first: kOps and Karpenter nodes also carry an ``aws://`` providerID, kind
nodes also carry kubeadm's annotation, RKE2 nodes also look like k3s.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable

from calico_conformance.support.inventory import Inventory, Obj

TITLES = {
    "openshift": "OpenShift", "mke": "MKE", "rke2": "RKE2", "k3s": "k3s", "rke": "RKE",
    "kind": "kind", "gke": "GKE", "aks": "AKS", "kops": "kOps", "eks": "EKS",
    "kubeadm": "kubeadm", "generic": "Generic (not recognised)",
}
# Named as supported by the documents ("Generic or kubeadm", kOps, OpenShift, EKS, AKS; MKE has
# its own versioned entry). kind clusters are built by kubeadm.
LISTED = ("kubeadm", "kind", "kops", "openshift", "eks", "aks")


def _has_prefix(keys, *prefixes: str) -> str | None:
    for key in keys:
        if key.startswith(prefixes):
            return key
    return None


def _openshift(n: Obj, lab, ann, pid, info):
    if "node.openshift.io/os_id" in lab:
        return f"label node.openshift.io/os_id={lab['node.openshift.io/os_id']}"
    key = _has_prefix(ann, "machineconfiguration.openshift.io/")
    return f"annotation {key}" if key else None


def _mke(n, lab, ann, pid, info):
    key = _has_prefix(lab, "com.docker.ucp.") or _has_prefix(ann, "com.docker.ucp.")
    return f"label {key}" if key else None


def _rke2(n, lab, ann, pid, info):
    if lab.get("node.kubernetes.io/instance-type") == "rke2":
        return "label node.kubernetes.io/instance-type=rke2"
    key = _has_prefix(ann, "rke2.io/")
    if key:
        return f"annotation {key}"
    return "kubeletVersion " + info if "+rke2" in info else None


def _k3s(n, lab, ann, pid, info):
    if lab.get("node.kubernetes.io/instance-type") == "k3s":
        return "label node.kubernetes.io/instance-type=k3s"
    key = _has_prefix(ann, "k3s.io/") or _has_prefix(lab, "k3s.io/")
    if key:
        return f"annotation {key}"
    return f"providerID {pid}" if pid.startswith("k3s://") else None


def _rke(n, lab, ann, pid, info):
    key = _has_prefix(ann, "rke.cattle.io/") or _has_prefix(lab, "rke.cattle.io/")
    return f"annotation {key}" if key else None


def _kind(n, lab, ann, pid, info):
    if pid.startswith("kind://"):
        return f"providerID {pid}"
    return f"node name {n.name}" if n.name.endswith("-control-plane") and n.name.startswith("kind") else None


def _gke(n, lab, ann, pid, info):
    key = _has_prefix(lab, "cloud.google.com/gke-")
    if key:
        return f"label {key}"
    return f"kubeletVersion {info}" if "-gke." in info else None


def _aks(n, lab, ann, pid, info):
    key = _has_prefix(lab, "kubernetes.azure.com/")
    return f"label {key}" if key else None


def _kops(n, lab, ann, pid, info):
    key = _has_prefix(lab, "kops.k8s.io/")
    return f"label {key}" if key else None


def _eks(n, lab, ann, pid, info):
    key = _has_prefix(lab, "eks.amazonaws.com/", "karpenter.sh/", "karpenter.k8s.aws/")
    if key:
        return f"label {key}"
    if "-eks-" in info:
        return f"kubeletVersion {info}"
    return None


def _kubeadm(n, lab, ann, pid, info):
    key = _has_prefix(ann, "kubeadm.alpha.kubernetes.io/")
    return f"annotation {key}" if key else None


RECOGNISERS: tuple[tuple[str, Callable], ...] = (
    ("openshift", _openshift), ("mke", _mke), ("rke2", _rke2), ("k3s", _k3s), ("rke", _rke),
    ("kind", _kind), ("gke", _gke), ("aks", _aks), ("kops", _kops), ("eks", _eks),
    ("kubeadm", _kubeadm),
)


def node_distribution(node: Obj) -> tuple[str, str]:
    """(distribution, the evidence) for one Node; ("generic", ...) when nothing matches."""
    lab, ann = node.labels, node.annotations
    pid = node.get("spec.providerID")
    pid = pid if isinstance(pid, str) else ""
    info = node.get("status.nodeInfo.kubeletVersion")
    info = info if isinstance(info, str) else ""
    for name, recognise in RECOGNISERS:
        why = recognise(node, lab, ann, pid, info)
        if why:
            return name, why
    return "generic", "no distribution-specific label, annotation or providerID"


@dataclass(frozen=True)
class Distribution:
    name: str                          # the cluster's: most common among its nodes
    nodes: dict[str, tuple[str, str]]  # node -> (distribution, evidence)

    @property
    def title(self) -> str:
        return TITLES.get(self.name, self.name)

    def nodes_of(self, *names: str) -> dict[str, str]:
        return {n: why for n, (d, why) in self.nodes.items() if d in names}

    def as_dict(self) -> dict:
        return {"name": self.name, "title": self.title,
                "nodes": {n: {"distribution": d, "evidence": why} for n, (d, why) in self.nodes.items()}}


def recognise(inv: Inventory) -> Distribution | None:
    """None when the inventory has no Nodes to look at."""
    nodes = inv.of("Node")
    if not nodes:
        return None
    per_node = {n.name: node_distribution(n) for n in nodes}
    if inv.named("ConfigMap", "kubeadm-config", "kube-system"):
        # Newer kubeadm no longer annotates nodes; its ConfigMap still says who built the cluster.
        per_node = {n: (("kubeadm", "ConfigMap kube-system/kubeadm-config") if d == "generic" else (d, why))
                    for n, (d, why) in per_node.items()}
    counts = Counter(d for d, _ in per_node.values())
    # A recognised distribution beats "generic" nodes it could not label (e.g. a bare worker).
    ranked = sorted(counts.items(), key=lambda kv: (kv[0] == "generic", -kv[1]))
    return Distribution(ranked[0][0], per_node)
