"""The Installation (and every custom resource the installer creates) against the operator's own
CRD schema: the installer's check before it applies anything, the record of the check against
real operator releases (tests/data/installation-crd-record.yaml), and the script that writes it."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from calico_conformance.install import crd_schema, samples
from calico_conformance.support import matrix
from tests.apiserver import seeds
from tests.install_helpers import CRD_RECORD as RECORD
from tests.install_helpers import operator_crd_path, run_cli, split_stream, validate_installation

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "validate-installations.py"
MINI = seeds.OPERATOR_MANIFEST
POOL = {"name": "p", "cidr": "10.0.0.0/16", "encapsulation": "VXLAN"}


def installation(**spec) -> dict:
    return {"apiVersion": "operator.tigera.io/v1", "kind": "Installation", "metadata": {"name": "default"},
            "spec": {"calicoNetwork": {"linuxDataplane": "BPF", "ipPools": [dict(POOL)]}, **spec}}


def without_bpf(manifest: str) -> str:
    """The manifest as an operator from before eBPF mode would have it: no BPF dataplane."""
    return re.sub(r"(?m)^ *- BPF\n", "", manifest, count=1)


def mini_crd() -> crd_schema.CrdSchema:
    return crd_schema.find(seeds.operator_objects(), "operator.tigera.io/v1", "Installation")


# --- the schema check itself --------------------------------------------------------------------

SCHEMA = {"type": "object", "properties": {
    "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
    "spec": {"type": "object", "properties": {
        "hostPorts": {"type": "string", "enum": ["Enabled", "Disabled"], "nullable": True},
        "maxUnavailable": {"x-kubernetes-int-or-string": True},
        "nodeSelector": {"type": "object", "additionalProperties": {"type": "string"}},
        "pools": {"type": "array", "items": {"type": "object", "required": ["cidr"],
                                             "properties": {"cidr": {"type": "string"}}}},
        "opaque": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
        "resources": {"type": "object", "additionalProperties": {
            "type": "object", "properties": {"cpu": {"type": "string"}}}},
        "rules": {"type": "object", "x-kubernetes-validations": [{"rule": "self.a == self.b"}]}}}}}


def obj(spec: dict) -> dict:
    return {"apiVersion": "x.example.com/v1", "kind": "X", "metadata": {"name": "a", "labels": {"l": "v"}},
            "spec": spec}


def test_a_conforming_object_has_no_problems_and_the_servers_fields_are_not_pruned():
    good = obj({"hostPorts": None, "maxUnavailable": "25%", "nodeSelector": {"a": "b"}, "pools": [{"cidr": "x"}],
                "opaque": {"anything": {"goes": 1}}, "resources": {"node": {"cpu": "1"}}})
    assert crd_schema.problems(good, crd_schema.CrdSchema("xs.x.example.com", "v1", SCHEMA)) == []
    assert crd_schema.problems(obj({"maxUnavailable": 1}), crd_schema.CrdSchema("x", "v1", SCHEMA)) == []


@pytest.mark.parametrize("spec, problem", [
    ({"hostPorts": "On"}, "spec.hostPorts: 'On' is not one of ['Enabled', 'Disabled']"),
    ({"maxUnavailable": 1.5}, "spec.maxUnavailable: 1.5 is neither an integer nor a string"),
    ({"maxUnavailable": True}, "spec.maxUnavailable: True is neither an integer nor a string"),
    ({"pools": [{"cidr": "x"}, {}]}, "spec.pools[1]: 'cidr' is a required property"),
    ({"nodeSelector": {"a": 1}}, "spec.nodeSelector.a: 1 is not of type 'string'"),
    ({"pools": [{"cidr": "x", "cdir": "y"}]}, "spec.pools[0].cdir: unknown field, the API server would drop it"),
    ({"resources": {"node": {"cpus": "1"}}}, "spec.resources.node.cpus: unknown field, the API server would drop it"),
    ({"bpfEnabled": True}, "spec.bpfEnabled: unknown field, the API server would drop it"),
])
def test_each_violation_is_named_with_its_field_path(spec, problem):
    assert crd_schema.problems(obj(spec), crd_schema.CrdSchema("x", "v1", SCHEMA)) == [problem]


def test_cel_rules_are_counted_as_not_evaluated():
    assert crd_schema.unevaluated_rules(SCHEMA) == 1


def test_the_served_version_of_the_matching_group_and_kind_is_found():
    crd = {"kind": "CustomResourceDefinition", "metadata": {"name": "xs.x.example.com"},
           "spec": {"group": "x.example.com", "names": {"kind": "X"},
                    "versions": [{"name": "v1beta1", "served": False, "schema": {"openAPIV3Schema": {}}},
                                 {"name": "v1", "served": True, "schema": {"openAPIV3Schema": SCHEMA}}]}}
    found = crd_schema.find([{"kind": "ConfigMap"}, crd], "x.example.com/v1", "X")
    assert found.describe() == "CRD xs.x.example.com v1" and found.schema is SCHEMA and not found.is_open
    assert crd_schema.find([crd], "x.example.com/v1beta1", "X") is None       # not served
    assert crd_schema.find([crd], "y.example.com/v1", "X") is None
    assert crd_schema.find([crd], "x.example.com/v1", "Y") is None


def test_an_open_schema_is_recognised_so_that_nothing_claims_it_was_checked():
    crd = crd_schema.find(seeds.operator_objects(), "operator.tigera.io/v1", "APIServer")
    assert crd.is_open
    assert crd_schema.verify({"apiVersion": "operator.tigera.io/v1", "kind": "APIServer",
                              "metadata": {"name": "default"}}, seeds.operator_objects(), "m.yaml") is None


# --- the installer refuses what the operator's CRD would reject or prune ------------------------

def _manifests_dir(tmp_path, custom_resources: str, operator: Path = MINI) -> str:
    (tmp_path / "tigera-operator.yaml").write_text(operator.read_text())
    (tmp_path / "custom-resources.yaml").write_text(custom_resources)
    return str(tmp_path)


BASE_CR = (REPO / "src" / "calico_conformance" / "install" / "custom-resources-v3.29.1.yaml").read_text()


def test_the_dry_run_says_the_installation_was_validated_against_the_manifests_crd(capsys):
    rc, out, err = run_cli(capsys, "install", "--distro", "kind", "--api-server", "172.18.0.2:6443",
                           "--dry-run", "-o", "yaml", "--operator-manifest", str(MINI))
    assert rc == 0, err
    inst = next(d for d in split_stream(out) if d["body"] and d["body"]["kind"] == "Installation")
    assert f"# validated: against the operator's CRD installations.operator.tigera.io v1 in {MINI}" in inst["text"]
    api = next(d for d in split_stream(out) if d["body"] and d["body"]["kind"] == "APIServer")
    assert "# validated" not in api["text"]                 # its schema is open in the test manifest


@pytest.mark.parametrize("edit, problem", [
    (("encapsulation: VXLANCrossSubnet", "encapsulation: VXLANCrossSubnet\n      encapsulaton: VXLAN"),
     "spec.calicoNetwork.ipPools[0].encapsulaton: unknown field, the API server would drop it"),
    (("blockSize: 26", "blockSize: '26'"), "spec.calicoNetwork.ipPools[0].blockSize: '26' is not of type 'integer'"),
    (("spec:\n", "spec:\n  kubernetesProvider: Kind\n"), "spec.kubernetesProvider: 'Kind' is not one of"),
])
def test_custom_resources_the_crd_rejects_stop_the_install_in_one_line(capsys, tmp_path, edit, problem):
    cr = BASE_CR.replace(*edit, 1)
    assert cr != BASE_CR
    rc, out, err = run_cli(capsys, "install", "--distro", "kind", "--api-server", "172.18.0.2:6443", "--dry-run",
                           "--calico-manifests", _manifests_dir(tmp_path, cr))
    assert rc == 2 and out == ""
    assert err.count("\n") == 1 and "the Installation does not validate against the operator's CRD " \
        "installations.operator.tigera.io v1" in err and problem in err, err


def test_an_operator_from_before_ebpf_mode_is_refused_before_anything_is_applied(capsys, tmp_path):
    # An operator whose Installation has no BPF dataplane: the manifest does not fit the document.
    old = tmp_path / "old-operator.yaml"
    old.write_text(without_bpf(MINI.read_text()))
    rc, _, err = run_cli(capsys, "install", "--distro", "kind", "--api-server", "172.18.0.2:6443", "--dry-run",
                         "--operator-manifest", str(old))
    assert rc == 2 and "spec.calicoNetwork.linuxDataplane: 'BPF' is not one of ['Iptables', 'VPP', 'Nftables']" \
        in err, err


def test_an_operator_manifest_without_crds_is_not_claimed_as_validated(capsys, tmp_path):
    # Newer releases ship the CRDs in a separate operator-crds.yaml.
    split = tmp_path / "tigera-operator.yaml"
    split.write_text(yaml.safe_dump_all([o for o in seeds.operator_objects()
                                         if o["kind"] != "CustomResourceDefinition"]))
    rc, out, err = run_cli(capsys, "install", "--distro", "kind", "--api-server", "172.18.0.2:6443",
                           "--dry-run", "-o", "yaml", "--operator-manifest", str(split))
    assert rc == 0, err
    assert "kind: Installation" in out and "# validated" not in out


# --- the record of the check against real operator releases -------------------------------------

def test_every_object_the_installer_prints_is_one_that_was_checked_against_the_real_crds():
    now = {key: samples.digest(o) for key, o in samples.rendered().items()}
    changed = sorted(k for k in now if RECORD["samples"].get(k) != now[k])
    assert not changed and set(now) == set(RECORD["samples"]), (
        f"changed since {RECORD['checked_on']}: {changed or sorted(set(now) ^ set(RECORD['samples']))}; run "
        "scripts/validate-installations.py against the operator releases' CRDs with --record "
        "tests/data/installation-crd-record.yaml (docs/real-clusters.md says how)")


def test_the_record_covers_the_documents_release_and_every_newer_matrix_row():
    rows = [r for r in matrix.load().versions if tuple(map(int, r[1:].split("."))) >= (3, 29)]
    recorded = " ".join(r["release"] for r in RECORD["releases"])
    assert "Calico v3.29.1 " in recorded                       # the manifests the newer document links
    for row in rows:
        assert f"Calico {row}." in recorded, row
    for release in RECORD["releases"]:
        assert release["checked"] == ["APIServer", "FelixConfiguration", "Installation"]
        assert release["not_checked"] == [] and release["cel_rules_not_evaluated"] >= 0
        assert release["result"] == f"{len(RECORD['samples'])} objects of {len(samples.SAMPLES)} samples valid"
        assert all(len(sha) == 64 for sha in release["files"].values())


def test_every_sample_validates_against_the_test_manifests_subset_schema():
    for key, o in samples.rendered().items():
        if o["kind"] == "Installation":
            assert crd_schema.problems(o, mini_crd()) == [], key
            validate_installation(o)        # and against the real CRD when one is given


@pytest.mark.skipif(not operator_crd_path(), reason="skipped, because no operator Installation CRD is given "
                    "(CC_OPERATOR_INSTALLATION_CRD or shared/crds/operator.tigera.io_installations.yaml)")
def test_every_sample_validates_against_the_given_real_crd():
    proc = subprocess.run([sys.executable, str(SCRIPT), f"given={operator_crd_path()}"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# --- the script that writes the record -----------------------------------------------------------

def run_script(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_the_script_checks_every_sample_and_writes_a_record_the_tests_accept(tmp_path):
    record = tmp_path / "record.yaml"
    proc = run_script(f"test manifest={MINI}", "--record", str(record))
    assert proc.returncode == 0, proc.stderr
    kinds = [key.split("/")[1] for key in samples.rendered()]
    assert proc.stdout.count(" valid\n") == kinds.count("Installation") == len(samples.SAMPLES)
    # the test manifest's APIServer and FelixConfiguration schemas are open: nothing to check them by
    assert proc.stdout.count("not checked (no schema for it given)") == len(kinds) - len(samples.SAMPLES)
    written = yaml.safe_load(record.read_text())
    assert written["samples"] == RECORD["samples"]
    assert written["releases"][0]["checked"] == ["Installation"] and written["releases"][0]["not_checked"] == \
        ["APIServer", "FelixConfiguration"]


def test_the_script_fails_and_writes_nothing_when_a_sample_is_invalid(tmp_path):
    old = tmp_path / "old.yaml"
    old.write_text(without_bpf(MINI.read_text()))
    record = tmp_path / "record.yaml"
    proc = run_script(f"old={old}", "--record", str(record))
    assert proc.returncode == 1 and not record.exists()
    assert proc.stdout.count("INVALID: spec.calicoNetwork.linuxDataplane: 'BPF' is not one of") == \
        len(samples.SAMPLES)


@pytest.mark.parametrize("arg, message", [
    ("no-label-here", "give LABEL=PATH[,PATH]"),
    ("x=/nonexistent.yaml", "/nonexistent.yaml: no such file"),
    (f"x={REPO / 'tox.ini'}", "is not valid YAML"),
    (f"x={REPO / 'src' / 'calico_conformance' / 'install' / 'custom-resources-v3.29.1.yaml'}", "holds no CustomResourceDefinition"),
])
def test_the_script_rejects_bad_input_in_one_line(arg, message):
    proc = run_script(arg)
    assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1, proc.stderr


# --- the FelixConfiguration fields the plan sets, against Calico's own CRD -----------------------

FELIX_SCHEMA = {"type": "object", "properties": {
    "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "metadata": {"type": "object"},
    "spec": {"type": "object", "properties": {
        "bpfExternalServiceMode": {"type": "string", "pattern": "^(?i)(Tunnel|DSR)?$"},
        "bpfKubeProxyIptablesCleanupEnabled": {"type": "boolean"}}}}}


def manifest_with_felix_schema(tmp_path, schema: dict) -> str:
    objs = seeds.operator_objects()
    for o in objs:
        if o["kind"] == "CustomResourceDefinition" and o["metadata"]["name"].startswith("felixconfigurations."):
            o["spec"]["versions"][0]["schema"]["openAPIV3Schema"] = schema
    path = tmp_path / "tigera-operator.yaml"
    path.write_text(yaml.safe_dump_all(objs))
    return str(path)


@pytest.mark.parametrize("pattern, value, ok", [
    ("^(?i)(Tunnel|DSR)?$", "dsr", True), ("^(?i)(Tunnel|DSR)?$", "", True), ("^(?i)(Tunnel|DSR)?$", "Dsr2", False),
    ("^(?i)(Accept|Return)?$", "return", True), ("(?i)^abc$", "ABC", True), ("^[a-z]+$", "ABC", False),
])
def test_go_patterns_with_a_flag_after_the_anchor_match_as_in_go(pattern, value, ok):
    assert bool(crd_schema.go_pattern(pattern).search(value)) is ok


def test_the_felix_patches_are_validated_against_calicos_felixconfiguration_crd(capsys, tmp_path):
    manifest = manifest_with_felix_schema(tmp_path, FELIX_SCHEMA)
    rc, out, err = run_cli(capsys, "install", "--distro", "aks", "--api-server", "c1.hcp.westeurope.azmk8s.io:443",
                           "--dsr", "--dry-run", "-o", "yaml", "--operator-manifest", manifest)
    assert rc == 0, err
    felix = [d for d in split_stream(out) if d["body"] and d["body"]["kind"] == "FelixConfiguration"]
    assert [d["body"]["spec"] for d in felix] == [{"bpfKubeProxyIptablesCleanupEnabled": False},
                                                  {"bpfExternalServiceMode": "DSR"}]
    for doc in felix:
        assert "# validated: against the operator's CRD felixconfigurations.crd.projectcalico.org v1" in doc["text"]


def test_dsr_on_a_calico_whose_felix_does_not_know_it_is_refused(capsys, tmp_path):
    older = json.loads(json.dumps(FELIX_SCHEMA))
    del older["properties"]["spec"]["properties"]["bpfExternalServiceMode"]
    rc, _, err = run_cli(capsys, "install", "--distro", "kubeadm", "--api-server", "lb.example.com:6443", "--dsr",
                         "--dry-run", "--operator-manifest", manifest_with_felix_schema(tmp_path, older))
    assert rc == 2 and err.count("\n") == 1
    assert "the FelixConfiguration does not validate against the operator's CRD felixconfigurations." \
           "crd.projectcalico.org v1" in err and "spec.bpfExternalServiceMode: unknown field" in err, err


# --- the switch-over patch against the CRD the cluster already serves -----------------------------

def _existing_calico(apiserver, *, served_bpf: bool) -> None:
    objs = seeds.kubeadm() + seeds.calico_iptables()
    if not served_bpf:      # an operator from before eBPF mode serves an Installation without BPF
        for obj in objs:
            if obj.get("kind") == "CustomResourceDefinition" and obj["metadata"]["name"].startswith("installations."):
                schema = obj["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
                schema["properties"]["spec"]["properties"]["calicoNetwork"]["properties"]["linuxDataplane"][
                    "enum"] = ["Iptables"]
    apiserver.seed(*objs)


def test_the_switch_over_is_checked_against_the_crd_the_cluster_serves(apiserver, kubeconfig, capsys):
    _existing_calico(apiserver, served_bpf=True)
    rc, out, err = run_cli(capsys, "install", "--kubeconfig", str(kubeconfig), "--dry-run", "-o", "yaml",
                           "--operator-manifest", str(MINI))
    assert rc == 0, err
    switch = next(d for d in split_stream(out) if d["comments"]["step"].startswith("installation"))
    assert "# validated: the patched Installation against the CRD installations.operator.tigera.io v1 this " \
           "cluster serves" in switch["text"]
    assert apiserver.writes() == []


def test_a_switch_over_the_served_crd_rejects_is_refused_before_any_write(apiserver, kubeconfig, capsys):
    _existing_calico(apiserver, served_bpf=False)
    rc, out, err = run_cli(capsys, "install", "--kubeconfig", str(kubeconfig), "--operator-manifest", str(MINI))
    assert rc == 2 and out == "" and err.count("\n") == 1, err
    assert "the switch-over patch does not fit the CRD installations.operator.tigera.io v1 this cluster serves: " \
           "spec.calicoNetwork.linuxDataplane: 'BPF' is not one of ['Iptables']" in err
    assert "upgrade the Tigera operator" in err and apiserver.writes() == []
