"""From Calico v3.31 the Installation can hand two of the document's steps to the operator:
`bpfNetworkBootstrap: Enabled` (the operator finds the API server; its CRD forbids the ConfigMap at
the same time) and `kubeProxyManagement: Enabled` (the operator disables kube-proxy). Custom
resources that set them get neither the ConfigMap nor the kube-proxy patch; statements quoted from
the CRD are held to the record of the check against the real v3.31 CRD."""
from __future__ import annotations

import copy

import yaml

from calico_conformance.install import data
from tests.apiserver.fixtures import seeds
from tests.install_helpers import CRD_RECORD as RECORD
from tests.install_helpers import run_cli, split_stream

CR = seeds.OPERATOR_MANIFEST.parents[2] / "src" / "calico_conformance" / "install" / "custom-resources-v3.29.1.yaml"
V331_FIELDS = {"bpfNetworkBootstrap": {"type": "string", "enum": ["Disabled", "Enabled"]},
               "kubeProxyManagement": {"type": "string", "enum": ["Disabled", "Enabled"]}}


def release_dir(tmp_path, *, v331_crd: bool = True, **fields) -> str:
    """tigera-operator.yaml (its Installation CRD knowing the v3.31 fields or not) and
    custom-resources.yaml setting ``fields`` in calicoNetwork."""
    objs = copy.deepcopy(seeds.operator_objects())
    if v331_crd:
        for obj in objs:
            if obj["kind"] == "CustomResourceDefinition" and obj["metadata"]["name"].startswith("installations."):
                network = obj["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"][
                    "properties"]["calicoNetwork"]
                network["properties"].update(V331_FIELDS)
    (tmp_path / "tigera-operator.yaml").write_text(yaml.safe_dump_all(objs))
    crs = list(yaml.safe_load_all(CR.read_text()))
    crs[0]["spec"]["calicoNetwork"].update(fields)
    (tmp_path / "custom-resources.yaml").write_text(yaml.safe_dump_all(crs))
    return str(tmp_path)


def steps(out: str) -> dict[str, list[dict]]:
    by_step: dict[str, list[dict]] = {}
    for doc in split_stream(out):
        by_step.setdefault(doc["comments"]["step"].split(": ")[0], []).append(doc)
    return by_step


def test_bootstrap_and_kube_proxy_management_leave_both_steps_to_the_operator(capsys, tmp_path):
    directory = release_dir(tmp_path, bpfNetworkBootstrap="Enabled", kubeProxyManagement="Enabled")
    # kubeadm without --api-server: no address is needed when the operator bootstraps it
    rc, out, err = run_cli(capsys, "install", "--distro", "kubeadm", "--dry-run", "-o", "yaml",
                           "--calico-manifests", directory)
    assert rc == 0, err
    by_step = steps(out)
    assert "namespace" not in by_step and "restart-operator" not in by_step
    [endpoint] = by_step["endpoint-configmap"]
    assert endpoint["body"] is None and "bootstrapped by the operator" in endpoint["text"]
    assert data.statement("bpf-network-bootstrap").cite() in endpoint["cites"]
    # the manifest's own Namespace is created with the operator, first
    assert by_step["operator"][0]["body"]["kind"] == "Namespace"
    [kube_proxy] = by_step["kube-proxy"]
    assert kube_proxy["body"] is None and "disabled by the operator" in kube_proxy["text"]
    assert data.statement("kube-proxy-management").cite() in kube_proxy["cites"]
    assert "kube-proxy-ipvs" not in by_step
    inst = by_step["installation"][0]["body"]
    assert inst["spec"]["calicoNetwork"]["bpfNetworkBootstrap"] == "Enabled"
    assert inst["spec"]["calicoNetwork"]["linuxDataplane"] == "BPF"


def test_only_bootstrap_keeps_the_documents_kube_proxy_step(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "install", "--distro", "kubeadm", "--dry-run", "-o", "yaml",
                           "--calico-manifests", release_dir(tmp_path, bpfNetworkBootstrap="Enabled"))
    assert rc == 0, err
    [kube_proxy] = steps(out)["kube-proxy"]
    assert kube_proxy["body"]["spec"]["template"]["spec"]["nodeSelector"] == {"non-calico": "true"}


def test_bootstrap_with_an_existing_endpoint_configmap_is_refused_before_any_write(apiserver, kubeconfig, capsys,
                                                                                   tmp_path):
    apiserver.seed(*seeds.kubeadm(), {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "tigera-operator"}},
                   {"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "kubernetes-services-endpoint", "namespace": "tigera-operator"},
                    "data": {"KUBERNETES_SERVICE_HOST": "cp.example.internal", "KUBERNETES_SERVICE_PORT": "6443"}})
    rc, out, err = run_cli(capsys, "install", "--kubeconfig", str(kubeconfig),
                           "--calico-manifests", release_dir(tmp_path, bpfNetworkBootstrap="Enabled"))
    assert rc == 2 and out == "" and err.count("\n") == 1, err
    assert "ConfigMap tigera-operator/kubernetes-services-endpoint exists" in err
    assert "It is invalid to use both the ConfigMap" in err and apiserver.writes() == []


def test_an_operator_from_before_v3_31_does_not_know_the_fields(capsys, tmp_path):
    rc, _, err = run_cli(capsys, "install", "--distro", "kind", "--api-server", "172.18.0.2:6443", "--dry-run",
                         "--calico-manifests", release_dir(tmp_path, v331_crd=False, kubeProxyManagement="Enabled"))
    assert rc == 2 and "spec.calicoNetwork.kubeProxyManagement: unknown field, the API server would drop it" in err


def test_statements_quoted_from_a_crd_stand_word_for_word_in_that_release_and_not_before():
    quoted = {sid: e for sid, e in data.raw()["statements"].items() if str(e["doc"]).startswith("crd-")}
    assert set(quoted) == {"bpf-network-bootstrap", "kube-proxy-management"}
    for sid, entry in quoted.items():
        version = entry["doc"].removeprefix("crd-")                       # v3.31
        for release in RECORD["releases"]:
            named = release["release"].split()[1]                         # v3.31.7
            newer = tuple(map(int, named[1:].split(".")[:2])) >= tuple(map(int, version[1:].split(".")))
            assert (sid in release["statements_found"]) is newer, (sid, release["release"])
