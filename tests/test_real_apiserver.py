"""The project against a real kube-apiserver v1.30 and etcd (calico_conformance.realk8s), where the
other tests use the HTTP stand-in (tests/apiserver/): Calico's and the operator's real CRDs, the
installer's objects validated by the real server (server-side dry run, strict field validation),
and the kubeconfig target giving the same support-matrix verdicts on both.

Skipped, with the command that fixes it, only when the binaries are not built:
    calico-conformance lab build
"""
from __future__ import annotations

import copy
import functools
import re
import shutil
from pathlib import Path

import pytest
import yaml

from calico_conformance.cli import main as cli_main
from calico_conformance.vocabulary.errors import UsageError
from calico_conformance.install import samples
from calico_conformance.realk8s import apply, build, cache
from calico_conformance.realk8s.controlplane import Binaries, ControlPlane
from calico_conformance.realk8s.kubelet import PodStatusWriter
from tests.apiserver import seeds, sims
from tests.suite_runner import SUITE, needs_root, run_suite
from tests.test_targets_real import calico_objects

CACHE = cache.Cache(cache.root())
CRDS = build.crd_dir(CACHE)


def _missing() -> str | None:
    try:
        Binaries.from_cache(CACHE)
    except UsageError as exc:
        return str(exc)
    if not (CRDS / ".complete").exists():
        return f"Calico's CRDs are not fetched into {CACHE.root}; run `calico-conformance lab build`"
    if not shutil.which("openssl"):
        return "openssl is not installed (the run's certificates are made with it)"
    return None


pytestmark = pytest.mark.skipif(_missing() is not None, reason=f"real API server: {_missing()}")


@functools.cache
def _module_crds() -> tuple[dict, ...]:
    return tuple(apply.load_yaml_files([*sorted((CRDS / "calico").glob("*.yaml")),
                                        CRDS / "operator" / "operator-crds.yaml"]))


def module_crds() -> list[dict]:
    """Calico's CRDs (libcalico-go/config/crd) and the operator's (manifests/operator-crds.yaml)
    from github.com/projectcalico/calico@v3.28 (the module `lab build` fetched)."""
    return copy.deepcopy(list(_module_crds()))


def _control_plane_with_crds():
    with ControlPlane() as cp:
        dyn = apply.client(cp.kubeconfig)
        apply.apply_all(dyn, module_crds())
        yield cp, dyn


@pytest.fixture(scope="module")
def real():
    """Shared by the tests that only dry-run, or add what nobody else looks at."""
    yield from _control_plane_with_crds()


@pytest.fixture
def fresh():
    """A cluster of its own, for a test that compares it with another."""
    yield from _control_plane_with_crds()


def served_kinds(dyn, group: str) -> set[str]:
    """What the server's discovery says it serves in ``group``/v1 (not a cached answer)."""
    listing = dyn.request("GET", f"/apis/{group}/v1").to_dict()
    return {r["kind"] for r in listing["resources"] if "/" not in r["name"]}


def test_calicos_and_the_operators_crds_from_the_module_are_served(real):
    _, dyn = real
    crds = module_crds()
    assert len(crds) >= 30
    assert {"FelixConfiguration", "IPPool", "ClusterInformation", "BGPConfiguration"} <= \
        served_kinds(dyn, "crd.projectcalico.org")
    assert {"Installation", "APIServer", "TigeraStatus"} <= served_kinds(dyn, "operator.tigera.io")


def test_the_operator_crds_the_project_carries_are_accepted_by_a_real_server():
    """tests/data/tigera-operator-mini.yaml: what the stand-in serves, applied for real."""
    objs = seeds.operator_objects()
    with ControlPlane() as cp:
        dyn = apply.client(cp.kubeconfig)
        apply.apply_all(dyn, objs)
        assert {"Installation", "APIServer", "TigeraStatus"} <= served_kinds(dyn, "operator.tigera.io")
        inst = apply.apply(dyn, next(o for o in calico_objects() if o["kind"] == "Installation"))
        assert inst["spec"]["calicoNetwork"]["linuxDataplane"] == "BPF"


def test_every_object_the_installer_creates_passes_the_real_servers_validation(real):
    """samples.py: each distribution's Installation, APIServer and FelixConfiguration, sent with
    dryRun=All and fieldValidation=Strict to a server that serves the operator's real CRDs."""
    _, dyn = real
    refused = []
    checked = 0
    for sample in samples.SAMPLES:
        for obj in sample.objects():
            try:
                apply.apply(dyn, obj, dry_run=True)
                checked += 1
            except apply.ApplyError as exc:
                refused.append(f"{sample.name}: {exc}")
    assert refused == []
    assert checked >= 2 * len(samples.SAMPLES)
    # a dry run writes nothing
    assert dyn.resources.get(api_version="operator.tigera.io/v1", kind="Installation").get().items == []


@pytest.mark.parametrize("change,message", [
    ({"linuxDataplane": "Bogus"}, "spec.calicoNetwork.linuxDataplane: Unsupported value: \"Bogus\""),
    ({"linuxDataplan": "BPF"}, ".spec.calicoNetwork.linuxDataplan: field not declared in schema"),
])
def test_the_real_server_refuses_what_the_operators_crd_forbids(real, change, message):
    """The validation above is the server's, not a formality: a wrong enum and a misspelt field are refused."""
    _, dyn = real
    inst = copy.deepcopy(next(o for o in samples.SAMPLES[0].objects() if o["kind"] == "Installation"))
    inst["spec"]["calicoNetwork"].pop("linuxDataplane")
    inst["spec"]["calicoNetwork"].update(change)
    with pytest.raises(apply.ApplyError, match=re.escape(message)):
        apply.apply(dyn, inst, dry_run=True)


def _dry_run_documents(text: str) -> list[tuple[str, dict]]:
    """(action comment, object) for each YAML document of `install --dry-run -o yaml`."""
    out = []
    for doc in text.split("\n---\n"):
        action = next((ln[len("# action: "):] for ln in doc.splitlines() if ln.startswith("# action: ")), "")
        obj = yaml.safe_load(doc)
        if isinstance(obj, dict) and obj.get("kind"):
            out.append((action, obj))
    return out


def test_install_dry_run_output_is_accepted_by_a_real_server(real, capsys):
    """`calico-conformance install --dry-run -o yaml` with the module's own tigera-operator.yaml:
    every object it would create and the kube-proxy patch it would send pass server-side dry run."""
    cp, dyn = real
    rc = cli_main(["install", "--distro", "kubeadm", "--dry-run", "-o", "yaml", "--api-server", "lb.example.com:6443",
                   "--operator-manifest", str(CRDS / "operator" / "tigera-operator.yaml")])
    out = capsys.readouterr().out
    assert rc == 0
    docs = _dry_run_documents(out)
    creates = [obj for action, obj in docs if action.startswith("create")]
    patches = [(action, obj) for action, obj in docs if action.startswith("patch")]
    assert len(creates) >= 25 and {o["kind"] for o in creates} >= {"Namespace", "Installation", "Deployment"}
    # The namespaces exist for real (a dry run of an object in a namespace that does not exist is refused),
    # so does the kube-proxy DaemonSet the switch-over patches.
    for obj in [o for o in creates if o["kind"] == "Namespace"]:
        apply.apply(dyn, obj)
    apply.apply(dyn, _valid_daemonset(seeds.kube_proxy_daemonset()))
    refused = []
    for obj in [o for o in creates if o["kind"] != "Namespace"]:
        try:
            apply.apply(dyn, obj, dry_run=True)
        except apply.ApplyError as exc:
            refused.append(str(exc))
    assert refused == []
    assert [a.split()[1] for a, _ in patches] == ["(strategic)"]
    ds = dyn.resources.get(api_version="apps/v1", kind="DaemonSet")
    for _, obj in patches:
        patched = ds.patch(body=obj, name=obj["metadata"]["name"], namespace=obj["metadata"]["namespace"],
                           content_type="application/strategic-merge-patch+json", dry_run="All",
                           query_params=[("fieldValidation", "Strict")]).to_dict()
        # strategic merge adds the selector that matches no node beside kube-proxy's own
        assert patched["spec"]["template"]["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux", "non-calico": "true"}
    assert ds.get(name="kube-proxy", namespace="kube-system").to_dict()["spec"]["template"]["spec"]["nodeSelector"] \
        == {"kubernetes.io/os": "linux"}                 # a dry run changes nothing


def _valid_daemonset(ds: dict) -> dict:
    """The stand-in keeps a DaemonSet as given; a real server requires a selector that matches the
    template's labels, and containers with names and images."""
    ds = copy.deepcopy(ds)
    spec = ds.setdefault("spec", {})
    labels = (spec.get("selector") or {}).get("matchLabels") or {"app": ds["metadata"]["name"]}
    spec["selector"] = {"matchLabels": labels}
    tmpl = spec.setdefault("template", {})
    tmpl.setdefault("metadata", {}).setdefault("labels", {}).update(labels)
    for c in tmpl.setdefault("spec", {}).setdefault("containers", []):
        c.setdefault("name", "main")
    return ds


def _for_real(objs: list[dict]) -> list[dict]:
    """The stand-in's seed objects as a real server takes them: CRDs from the module (not the
    project's trimmed copy), DaemonSets made valid."""
    out = []
    for obj in objs:
        if obj["kind"] == "CustomResourceDefinition":
            continue
        out.append(_valid_daemonset(obj) if obj["kind"] == "DaemonSet" else obj)
    return out


def test_kubeconfig_target_gives_the_same_support_matrix_verdicts_as_on_the_stand_in(
        fresh, apiserver, kubeconfig, fakebin, pytester, monkeypatch):
    """The same cluster (kind's three nodes, Calico in eBPF mode) seeded into the stand-in and into
    the real API server; the suite's support-matrix checks, read-only through --target kubeconfig."""
    cp, dyn = fresh
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    cluster = [*seeds.kind(ip_prefix="127.0.0"), *calico_objects()]
    matrix = SUITE / "test_support_matrix.py"

    apiserver.seed(*cluster)
    sims.kubelet(apiserver)
    sims.services(apiserver)
    _, on_stand_in = run_suite(pytester, "--target", "kubeconfig", "--kubeconfig", str(kubeconfig),
                               "--workload-timeout", "20", path=matrix)

    apply.apply_all(dyn, _for_real(cluster))
    with PodStatusWriter(str(cp.kubeconfig)) as kubelet:
        result, on_real = run_suite(pytester, "--target", "kubeconfig", "--kubeconfig", str(cp.kubeconfig),
                                    "--workload-timeout", "20", path=matrix)
    assert kubelet.errors == []
    assert on_real, result.stdout.str()[-2000:]
    assert on_real == on_stand_in
    assert "passed" in on_real.values() and "error" not in on_real.values()
    # read-only: the suite's namespace was its only write, and it is being deleted
    ns = dyn.resources.get(api_version="v1", kind="Namespace").get(name="calico-conformance").to_dict()
    assert ns["status"]["phase"] == "Terminating"


KUBE_PROXY_BUILT = CACHE.has("kube-proxy", build.versions.KUBERNETES)


@needs_root
@pytest.mark.skipif(not KUBE_PROXY_BUILT, reason=f"kube-proxy is not built in {CACHE.root}; "
                                                 "run `calico-conformance lab build`")
def test_real_kube_proxy_in_the_lab_gives_the_verdicts_of_the_emulated_one(pytester):
    """--lab-dataplane kube-proxy-real: real kube-proxy v1.30 (iptables) on every lab node, fed by the
    real API server. The suite fails the source-IP and kube-proxy-absence checks (and the NodePort
    path), exactly as it does against the emulated kube-proxy profile."""
    result, real = run_suite(pytester, "--lab-dataplane=kube-proxy-real")
    assert real.get("EBPF-SOURCE-IP") == "failed", result.stdout.str()[-3000:]
    assert real.get("EBPF-NO-KUBE-PROXY") == "failed"
    # the chains the check found are kube-proxy's own, named by its hash of the service port
    result.stdout.fnmatch_lines(["*KUBE-SVC-KUYMI2MX3DPXZWN5*"])
    _, emulated = run_suite(pytester, "--lab-dataplane=kube-proxy")
    assert real == emulated


def test_lab_build_is_quick_when_warm(capsys):
    """A warm `lab build` of the Go-module components finds everything in the cache (felix, built
    from Calico's source, has its own: tests/test_realcalico_build.py)."""
    assert cli_main(["lab", "build", *build.default_components()]) == 0
    out = capsys.readouterr().out
    assert f"kube-apiserver {build.versions.KUBERNETES}: in the cache" in out
    assert "0 built" in out


def test_the_wrapper_carries_every_replace_of_kubernetes_over_as_a_published_version():
    from calico_conformance.realk8s import gotool
    from calico_conformance.realk8s.components import KUBERNETES
    record = gotool.download("test", KUBERNETES.module, KUBERNETES.version)
    upstream = gotool.replaces(Path(record["GoMod"]).read_text())
    ours = gotool.replaces(KUBERNETES.go_mod(Path(record["GoMod"]).read_text()))
    assert len(upstream) >= 30 and all(new.startswith("./staging/") for _, new, _ in upstream)
    assert ours == [(old, old, build.versions.STAGING) for old, _, _ in upstream]
