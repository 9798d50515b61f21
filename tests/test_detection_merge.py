"""The installer's distribution detection and the target facts' Calico version both come from the
support recognisers (calico_conformance.support.distro, calico_conformance.support.calico_version): the same sample
clusters, the same answers, and the cases where the old duplicates had disagreed."""
from __future__ import annotations

import copy
from pathlib import Path

import pytest

from calico_conformance.vocabulary.errors import UsageError
from calico_conformance.install import data
from calico_conformance.install.detect import detect, detect_from_cluster
from calico_conformance.k8s import connect
from calico_conformance.clusterfacts import calico_objects
from calico_conformance.support import calico_version, distro, matrix, versions
from calico_conformance.support.inventory import Inventory
from calico_conformance.support.snapshot import load_snapshot
from calico_conformance.vocabulary.errors import TargetError
from tests.apiserver.fixtures import seeds

SNAPS = Path(__file__).resolve().parent / "data" / "snapshots"
MATRIX = matrix.load()
KARPENTER_NODE = "ip-192-168-77-201.us-west-2.compute.internal"


def raw_nodes(name: str) -> list[dict]:
    return [copy.deepcopy(o.raw) for o in load_snapshot(SNAPS / name).of("Node")]


def configmap_refs(name: str) -> set[str]:
    return {f"{o.namespace}/{o.name}" for o in load_snapshot(SNAPS / name).of("ConfigMap")}


def seeded_nodes(name: str) -> list[dict]:
    """A sample's Nodes as the stand-in API server stores them."""
    return [{"apiVersion": "v1", "kind": "Node", **n} for n in raw_nodes(name)]


# ---- distributions ---------------------------------------------------------------------------

@pytest.mark.parametrize("name, expected", [
    ("aks-ubuntu2204.json", "aks"), ("aks-windows-mixed.json", "aks"), ("cluster-info-dump", "kubeadm"),
    ("eks-al2023-karpenter", "eks"), ("eks-bottlerocket.yaml", "eks"), ("gke-cos.json", "gke"),
    ("kind.json", "kind"), ("kops.json", "kops"), ("kubeadm-arm64.json", "kubeadm"), ("mke.json", "mke"),
    ("openshift-4.14-el9.json", "openshift"), ("rhel-s390x.json", "kubeadm"), ("rke.json", "rke"),
    ("messy", "kubeadm"),
    # the old installer rules called RKE2 "rke" (by its rke2.io/* annotations) and did not know k3s
    ("rke2.json", "rke2"), ("k3s.json", "k3s"),
])
def test_the_installer_names_what_the_support_recogniser_names(name, expected):
    assert detect(raw_nodes(name), configmap_refs(name)) == expected
    assert distro.recognise(load_snapshot(SNAPS / name)).name == expected


def test_every_distribution_the_installer_decides_on_is_one_the_recogniser_names():
    assert data.known_distributions() <= set(distro.TITLES) - {"generic"}
    assert data.known_distributions() == {"kubeadm", "kind", "kops", "openshift", "eks", "aks", "mke", "gke", "rke"}


def test_a_cluster_of_karpenter_nodes_only_is_eks():
    # The old rules looked for eks.amazonaws.com/* labels only, which Karpenter's nodes lack.
    nodes = [n for n in raw_nodes("eks-al2023-karpenter") if n["metadata"]["name"] == KARPENTER_NODE]
    assert detect(nodes, set()) == "eks"


def test_unrecognised_nodes_are_not_taken_for_the_generic_alias():
    nodes = [seeds.node("plain-1", "10.0.0.1"), seeds.node("plain-2", "10.0.0.2")]
    assert detect(nodes, set()) is None
    assert detect(nodes, {"kube-system/kubeadm-config"}) == "kubeadm"
    assert detect([], {"kube-system/kubeadm-config"}) is None


@pytest.mark.parametrize("name, title", [("rke2.json", "RKE2"), ("k3s.json", "k3s")])
def test_a_distribution_without_installer_steps_asks_for_distro(apiserver, kubeconfig, name, title):
    apiserver.seed(*seeded_nodes(name))
    with pytest.raises(TargetError) as err:
        detect_from_cluster(connect(str(kubeconfig)))
    assert str(err.value).startswith(f"this looks like a {title} cluster, which the documents do not name "
                                     "and the installer has no steps for; pass --distro (one of: kubeadm, generic,")


def test_nodes_nobody_recognises_leave_the_distribution_to_the_user(apiserver, kubeconfig):
    apiserver.seed(seeds.node("plain-1", "10.0.0.1"))
    with pytest.raises(TargetError, match=r"^cannot tell the cluster's distribution from its nodes; pass --distro "
                                          r"\(one of: kubeadm, generic, "):
        detect_from_cluster(connect(str(kubeconfig)))


def test_a_gke_cluster_is_refused_with_the_documents_reason(apiserver, kubeconfig):
    apiserver.seed(*seeded_nodes("gke-cos.json"))
    with pytest.raises(TargetError) as err:
        detect_from_cluster(connect(str(kubeconfig)))
    assert str(err.value) == ("this looks like a GKE cluster, where the installer will not enable eBPF mode: "
                              f"{data.statement('refuse-gke').cite()}")


def test_a_refused_distribution_given_by_name_is_refused_with_the_documents_reason():
    with pytest.raises(UsageError) as err:
        data.distro("rke")
    assert str(err.value) == f"rke: the installer will not enable eBPF mode here: {data.statement('refuse-rke').cite()}"
    assert data.distro("generic").name == "kubeadm"
    with pytest.raises(UsageError, match="unknown distribution 'rke2'"):
        data.distro("rke2")


# ---- the Calico version ------------------------------------------------------------------------

def installation(version: str) -> dict:
    return {"apiVersion": "operator.tigera.io/v1", "kind": "Installation", "metadata": {"name": "default"},
            "status": {"calicoVersion": version}}


def cluster_information(version: str) -> dict:
    return {"apiVersion": "crd.projectcalico.org/v1", "kind": "ClusterInformation", "metadata": {"name": "default"},
            "spec": {"calicoVersion": version}}


def calico_node(image: str) -> dict:
    return {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "calico-node", "namespace": "calico-system"},
            "spec": {"template": {"spec": {"containers": [{"name": "calico-node", "image": image}]}}}}


def test_mid_upgrade_the_installation_names_the_version_and_both_users_agree():
    # The operator writes the Installation's version once a rollout finished; ClusterInformation
    # already names the first upgraded node's.
    inv = calico_objects(installation("v3.28.2"), cluster_information("v3.29.1"), calico_node("calico/node:v3.29.1"))
    assert calico_version.full_version(inv) == "v3.28.2"
    assert calico_version.detect(inv, MATRIX) == ((3, 28), "Installation default (the API) status.calicoVersion=v3.28.2")
    assert calico_version.choose(MATRIX, None, inv).row == "v3.28"


@pytest.mark.parametrize("objects, expected", [
    ((None, cluster_information("3.27.4"), None), "v3.27.4"),
    ((None, None, calico_node("quay.io/calico/node:v3.26.1@sha256:abc")), "v3.26.1"),
    ((installation("not-a-version"), None, calico_node("calico/node:v3.25.0")), "v3.25.0"),
    ((None, None, calico_node("registry.example.com/mirror/kube-proxy:v1.31.0")), None),
    ((None, None, None), None),
])
def test_the_full_version_from_fields_then_the_node_image(objects, expected):
    assert calico_version.full_version(calico_objects(*objects)) == expected


def test_the_operator_image_gives_a_matrix_row_but_no_full_version():
    inv = load_snapshot(SNAPS / "features" / "operator-aws-dns.yaml")
    assert calico_version.full_version(inv) is None
    assert calico_version.detect(inv, MATRIX)[0] == (3, 29)


def test_the_snapshots_full_version_is_the_one_their_row_is_held_to():
    for name in ("cluster-info-dump", "features/etcd-manifest.yaml", "features/operator-bpf-baseline.yaml"):
        inv = load_snapshot(SNAPS / name)
        version, where = calico_version.running_version(inv)
        assert calico_version.detect(inv, MATRIX) == (versions.parse(version), where)


def test_an_empty_inventory_has_no_version():
    assert calico_version.running_version(Inventory()) is None
