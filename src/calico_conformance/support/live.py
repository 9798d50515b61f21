"""Live mode: read what the detectors need from a running cluster (read-only GETs/LISTs through
fixtures.k8s). ConfigMaps are read only where Calico and kube-proxy keep theirs; Secrets never."""
from __future__ import annotations

from calico_conformance.k8s import connect
from calico_conformance.k8s.resources import known
from calico_conformance.support import kinds
from calico_conformance.support.inventory import Inventory
from calico_conformance.vocabulary.errors import TargetError

# (apiVersion, kind, namespace or None for all)
RESOURCES = (
    ("v1", "Node", None), ("v1", "Pod", None), ("v1", "Service", None),
    ("v1", "ConfigMap", "kube-system"), ("v1", "ConfigMap", "tigera-operator"),
    ("apps/v1", "DaemonSet", None), ("apps/v1", "Deployment", "tigera-operator"),
    ("networking.k8s.io/v1", "NetworkPolicy", None),
    ("operator.tigera.io/v1", "Installation", None),
    ("crd.projectcalico.org/v1", "FelixConfiguration", None),
    ("crd.projectcalico.org/v1", "IPPool", None),
    ("crd.projectcalico.org/v1", "ClusterInformation", None),
    ("crd.projectcalico.org/v1", "GlobalNetworkPolicy", None),
    ("crd.projectcalico.org/v1", "NetworkPolicy", None),
    ("crd.projectcalico.org/v1", "HostEndpoint", None),
    ("crd.projectcalico.org/v1", "Profile", None),
)


def read_cluster(kubeconfig: str | None, context: str | None) -> Inventory:
    """An Inventory of the cluster. A missing kubeconfig or an unreachable API is a UsageError
    (calico_conformance.k8s raises TargetError); a resource that cannot be listed is a warning."""

    kube = connect(kubeconfig, context)
    return read_inventory(kube, f"live: {kube.host}" + (f" (context {context})" if context else ""))


def read_inventory(kube, origin: str) -> Inventory:
    """The Inventory through an open connection (the installer's, before it changes anything)."""

    inv = Inventory(origin=origin)
    for api_version, kind, namespace in RESOURCES:
        qkind = kinds.qualify(kind, api_version, {})
        what = f"{kind} ({api_version}{', namespace ' + namespace if namespace else ''})"
        try:
            # A kind the cluster does not serve (no CRD) cannot have objects: "none".
            if not known(api_version, kind) and not kube.served(api_version, kind):
                inv.listed.add(qkind)
                continue
            items = kube.list(api_version, kind, namespace)
        except TargetError as exc:
            inv.warn(f"cannot list {what}: {exc}; the entries that need it stay unknown")
            continue
        inv.listed.add(qkind)
        for item in items:
            inv.add(item, "the API")
    return inv
