"""Releases from Calico v3.30 ship the operator's CRDs apart (operator-crds.yaml): the installer
applies them first, from --operator-crds or from --calico-manifests DIR, and checks the
Installation against them; against the API stand-in the CRDs are created before the operator."""
from __future__ import annotations

import yaml

from calico_conformance.install import flow
from calico_conformance.install.plan import InstallOptions
from calico_conformance.install.run import Installer
from calico_conformance.k8s import connect
from tests.apiserver.fixtures import seeds, sims
from tests.install_helpers import run_cli, split_stream

CR = seeds.OPERATOR_MANIFEST.parents[2] / "src" / "calico_conformance" / "install" / "custom-resources-v3.29.1.yaml"


def split_release(directory):
    """A v3.30-style release directory: operator-crds.yaml, tigera-operator.yaml without CRDs."""
    objs = seeds.operator_objects()
    crds = [o for o in objs if o["kind"] == "CustomResourceDefinition"]
    rest = [o for o in objs if o["kind"] != "CustomResourceDefinition"]
    directory.mkdir(exist_ok=True)
    (directory / "operator-crds.yaml").write_text(yaml.safe_dump_all(crds))
    (directory / "tigera-operator.yaml").write_text(yaml.safe_dump_all(rest))
    (directory / "custom-resources.yaml").write_text(CR.read_text())
    return directory, [o["metadata"]["name"] for o in crds], [o["metadata"]["name"] for o in rest]


def created_names(docs) -> list[str]:
    return [d["body"]["metadata"]["name"] for d in docs
            if d["comments"]["step"].split(": ")[0] == "operator" and d["body"]]


def test_a_release_directory_with_operator_crds_applies_them_first_and_validates_against_them(capsys, tmp_path):
    directory, crds, rest = split_release(tmp_path / "v3.30")
    rc, out, err = run_cli(capsys, "install", "--distro", "kind", "--api-server", "172.18.0.2:6443",
                           "--dry-run", "-o", "yaml", "--calico-manifests", str(directory))
    assert rc == 0, err
    docs = split_stream(out)
    assert created_names(docs) == crds + rest[1:]          # the Namespace is step 1, before the ConfigMap
    inst = next(d for d in docs if d["body"] and d["body"]["kind"] == "Installation")
    assert f"in {directory}/operator-crds.yaml + {directory}/tigera-operator.yaml" in inst["text"]
    assert "# validated: against the operator's CRD installations.operator.tigera.io v1" in inst["text"]


def test_operator_crds_can_be_given_on_their_own(capsys, tmp_path):
    directory, crds, rest = split_release(tmp_path / "v3.30")
    rc, out, err = run_cli(capsys, "install", "--distro", "kind", "--api-server", "172.18.0.2:6443",
                           "--dry-run", "-o", "yaml", "--operator-crds", str(directory / "operator-crds.yaml"),
                           "--operator-manifest", str(directory / "tigera-operator.yaml"))
    assert rc == 0, err
    assert created_names(split_stream(out)) == crds + rest[1:]


def test_a_missing_operator_crds_file_is_one_line(capsys, tmp_path):
    rc, out, err = run_cli(capsys, "install", "--distro", "kind", "--api-server", "172.18.0.2:6443", "--dry-run",
                           "--operator-crds", str(tmp_path / "nope.yaml"))
    assert rc == 2 and out == "" and err.count("\n") == 1 and "nope.yaml" in err, err


def test_against_the_stand_in_the_crds_exist_before_the_operator_runs(apiserver, kubeconfig, tmp_path):
    apiserver.seed(*seeds.kubeadm())
    sims.all_of(apiserver, reads=2)
    directory, crds, _ = split_release(tmp_path / "v3.30")
    kube = connect(str(kubeconfig))
    _, plan = flow.make_plan(InstallOptions(calico_manifests=str(directory), configmap_wait_s=0, timeout_s=10), kube)
    Installer(kube, progress=lambda _: None, interval=0.01).apply(plan)
    posts = [r.path for r in apiserver.writes() if r.method == "POST"]
    crd_posts = [i for i, p in enumerate(posts) if p == "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"]
    assert len(crd_posts) == len(crds)
    assert max(crd_posts) < posts.index("/apis/apps/v1/namespaces/tigera-operator/deployments")
    assert apiserver.get("operator.tigera.io/v1", "Installation", "default")["spec"]["calicoNetwork"][
        "linuxDataplane"] == "BPF"


def test_a_v3_29_directory_whose_operator_manifest_repeats_the_crds_applies_each_once(capsys, tmp_path):
    # v3.29.1 ships operator-crds.yaml and still has the same CRDs in tigera-operator.yaml.
    directory, crds, rest = split_release(tmp_path / "v3.29")
    (directory / "tigera-operator.yaml").write_text(seeds.OPERATOR_MANIFEST.read_text())
    rc, out, err = run_cli(capsys, "install", "--distro", "kind", "--api-server", "172.18.0.2:6443",
                           "--dry-run", "-o", "yaml", "--calico-manifests", str(directory))
    assert rc == 0, err
    assert created_names(split_stream(out)) == crds + rest[1:]      # the CRDs once, from operator-crds.yaml


GOLDMANE_CRD = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                "metadata": {"name": "goldmanes.operator.tigera.io"},
                "spec": {"group": "operator.tigera.io", "scope": "Cluster",
                         "names": {"kind": "Goldmane", "listKind": "GoldmaneList", "plural": "goldmanes",
                                   "singular": "goldmane"},
                         "versions": [{"name": "v1", "served": True, "storage": True, "schema": {
                             "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}]}}


def test_a_v3_30_custom_resource_of_a_new_kind_is_created_and_uninstalled(apiserver, kubeconfig, tmp_path):
    # v3.30's custom-resources.yaml adds Goldmane and Whisker, kinds its operator-crds.yaml defines.
    from calico_conformance.install.run import uninstall
    apiserver.seed(*seeds.kubeadm())
    sims.all_of(apiserver, reads=2)
    directory, _, _ = split_release(tmp_path / "v3.30")
    crds = yaml.safe_load_all((directory / "operator-crds.yaml").read_text())
    (directory / "operator-crds.yaml").write_text(yaml.safe_dump_all([*crds, GOLDMANE_CRD]))
    (directory / "custom-resources.yaml").write_text(
        CR.read_text() + "---\napiVersion: operator.tigera.io/v1\nkind: Goldmane\nmetadata: {name: default}\n")
    kube = connect(str(kubeconfig))
    _, plan = flow.make_plan(InstallOptions(calico_manifests=str(directory), configmap_wait_s=0, timeout_s=10), kube)
    assert [op.title for op in plan if op.step == "custom-resources"] == ["Goldmane default"]
    Installer(kube, progress=lambda _: None, interval=0.01).apply(plan)
    assert apiserver.get("operator.tigera.io/v1", "Goldmane", "default") is not None
    uninstall(kube, progress=lambda _: None)
    assert apiserver.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", "goldmanes.operator.tigera.io") is None
