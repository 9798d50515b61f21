"""Which distribution a cluster is, for the installer. The support recogniser
(``calico_conformance.support.distro``) tells it from the Nodes and the kubeadm-config ConfigMap; its names
are the installer's (``distros.yaml``). GKE and RKE are recognised so that they can be refused with
the document's reason instead of half-installed."""
from __future__ import annotations

from calico_conformance.install import data
from calico_conformance.support import distro
from calico_conformance.support.inventory import Inventory
from calico_conformance.vocabulary.errors import TargetError

SOURCE = "the API"


def _inventory(nodes: list[dict], configmaps: set[str]) -> Inventory:
    """What the support recogniser reads: the Nodes, and ConfigMaps by name only."""
    inv = Inventory(origin=SOURCE)
    inv.listed.update({"Node", "ConfigMap"})       # listed: none of a kind means there are none
    for node in nodes:
        inv.add(node, SOURCE, kind="Node")
    for ref in configmaps:
        namespace, name = ref.split("/", 1)
        inv.add({"metadata": {"namespace": namespace, "name": name}}, SOURCE, kind="ConfigMap")
    return inv


def detect(nodes: list[dict], configmaps: set[str]) -> str | None:
    """The distribution's name, or None when nothing was recognised. ``configmaps`` holds "ns/name".
    Distributions the installer has no steps for (rke2, k3s) are named too: they describe the target."""
    return _recognised(_inventory(nodes, configmaps))


def _recognised(inv: Inventory) -> str | None:
    found = distro.recognise(inv)
    # The recogniser's "generic" means "not recognised", not distros.yaml's alias of kubeadm.
    return found.name if found is not None and found.name != "generic" else None


def _pass_distro() -> str:
    return f"pass --distro (one of: {', '.join(data.names())})"


def detect_from_cluster(kube) -> str:
    nodes = kube.list("v1", "Node")
    cms = {f"kube-system/{cm['metadata']['name']}" for cm in kube.list("v1", "ConfigMap", "kube-system")}
    return detect_from_inventory(_inventory(nodes, cms))


def detect_from_inventory(inv: Inventory) -> str:
    """The installer's distribution name for a cluster already read; refusals as one line."""
    if not inv.has("Node"):
        unread = next((w for w in inv.warnings if "Node" in w), "the Nodes were not read")
        raise TargetError(f"cannot tell the cluster's distribution: {unread}; {_pass_distro()}")
    name = _recognised(inv)
    if name is None:
        raise TargetError(f"cannot tell the cluster's distribution from its nodes; {_pass_distro()}")
    reason = data.refusal(name)
    if reason:
        raise TargetError(f"this looks like a {name.upper()} cluster, where the installer will not enable "
                          f"eBPF mode: {reason.cite()}")
    if name not in data.known_distributions():
        raise TargetError(f"this looks like a {distro.TITLES.get(name, name)} cluster, which the documents do "
                          f"not name and the installer has no steps for; {_pass_distro()}")
    return name
