"""The installer holds a live cluster to the support matrix of the release it installs before the
first write: unsupported set-ups stop it in one line (nothing written), --ignore-preflight installs
anyway saying what it ignores, a dry-run reports and goes on. Against the API stand-in."""
from __future__ import annotations

import copy

import pytest

from calico_conformance.vocabulary.errors import UsageError
from calico_conformance.install import flow, gate
from calico_conformance.install.plan import InstallOptions
from calico_conformance.install.run import Installer
from calico_conformance.k8s import connect
from calico_conformance.support import matrix
from tests.apiserver.fixtures import seeds, sims
from tests.install_helpers import run_cli

MANIFEST = str(seeds.OPERATOR_MANIFEST)


def old_kernel_kubeadm() -> list[dict]:
    """kubeadm on Ubuntu 18.04 (kernel 4.15): below every version's minimum."""
    objs = seeds.kubeadm()
    for obj in objs:
        if obj["kind"] == "Node":
            obj["status"]["nodeInfo"].update(kernelVersion="4.15.0-213-generic", osImage="Ubuntu 18.04.6 LTS")
    return objs


def plan_for(kube, warnings, **opts):
    options = InstallOptions(operator_manifest=MANIFEST, configmap_wait_s=0, timeout_s=10, **opts)
    return flow.make_plan(options, kube, warn=warnings.append)


def test_a_supported_cluster_installs_without_a_word_from_preflight(apiserver, kubeconfig):
    apiserver.seed(*seeds.kubeadm())
    warnings = []
    plan_for(connect(str(kubeconfig)), warnings)
    assert not any("preflight" in w and "does not support" in w for w in warnings), warnings


def test_an_unsupported_cluster_is_refused_before_the_first_write(apiserver, kubeconfig):
    apiserver.seed(*old_kernel_kubeadm())
    with pytest.raises(UsageError) as err:
        plan_for(connect(str(kubeconfig)), [])
    message = str(err.value)
    assert "\n" not in message
    # the row is the release's (the test manifest runs tigera/operator v1.36.2, i.e. Calico v3.29)
    assert message.startswith("not installing: Calico v3.29 does not support this cluster in eBPF mode: SUP-KERNEL")
    assert "4.15.0-213-generic" in message and "--ignore-preflight installs anyway" in message
    assert apiserver.writes() == []


def test_ignore_preflight_installs_and_says_what_it_ignored(apiserver, kubeconfig):
    apiserver.seed(*old_kernel_kubeadm())
    sims.all_of(apiserver, reads=2)
    kube, warnings = connect(str(kubeconfig)), []
    _, plan = plan_for(kube, warnings, ignore_preflight=True)
    Installer(kube, progress=lambda _: None, interval=0.01).apply(plan)
    assert apiserver.get("operator.tigera.io/v1", "Installation", "default")["spec"]["calicoNetwork"][
        "linuxDataplane"] == "BPF"
    assert any(w.startswith("preflight: Calico v3.29 does not support this cluster") and "SUP-KERNEL" in w
               and w.endswith("(ignored: --ignore-preflight)") for w in warnings), warnings


def test_a_dry_run_reports_the_finding_and_prints_the_plan(apiserver, kubeconfig, capsys):
    apiserver.seed(*old_kernel_kubeadm())
    rc, out, err = run_cli(capsys, "install", "--kubeconfig", str(kubeconfig), "--dry-run",
                           "--operator-manifest", MANIFEST)
    assert rc == 0 and "[installation] create" in out
    assert "SUP-KERNEL" in err and "(a real install would stop here)" in err
    assert apiserver.writes() == []


def test_the_cli_refuses_in_one_line(apiserver, kubeconfig, capsys):
    apiserver.seed(*old_kernel_kubeadm())
    rc, out, err = run_cli(capsys, "install", "--kubeconfig", str(kubeconfig), "--operator-manifest", MANIFEST)
    assert rc == 2 and out == "" and err.count("\n") == 1 and "not installing: Calico v3.29" in err, err
    assert apiserver.writes() == []


def _with_operator_image(image: str) -> list[dict]:
    objs = copy.deepcopy(seeds.operator_objects())
    for obj in objs:
        if obj["kind"] == "Deployment":
            obj["spec"]["template"]["spec"]["containers"][0]["image"] = image
    return objs


@pytest.mark.parametrize("image, row, source", [
    ("quay.io/tigera/operator:v1.36.2", "v3.29", "detected"),
    ("quay.io/tigera/operator:v1.40.15", "v3.31", "detected"),
    ("registry.example.internal:5000/tigera/operator:v1.38.0", "v3.30", "detected"),
    ("quay.io/tigera/operator@sha256:" + "a" * 64, "v3.31", "default"),
])
def test_the_release_row_comes_from_the_manifests_operator_image(image, row, source):
    choice = gate.release_version(_with_operator_image(image), matrix.load())
    assert (choice.row, choice.source) == (row, source), choice.describe()


def test_the_same_cluster_is_held_to_each_releases_own_rules(apiserver, kubeconfig):
    # RHEL 8.2's 4.18.0-193 kernel: enough for v3.29, below v3.31's 4.18.0-305 (release notes).
    objs = seeds.kubeadm()
    for obj in objs:
        if obj["kind"] == "Node":
            obj["status"]["nodeInfo"].update(kernelVersion="4.18.0-193.el8.x86_64",
                                             osImage="Red Hat Enterprise Linux 8.2 (Ootpa)")
    apiserver.seed(*objs)
    inv = gate.read(connect(str(kubeconfig)))
    v329 = gate.assess(inv, _with_operator_image("quay.io/tigera/operator:v1.36.2"))
    v331 = gate.assess(inv, _with_operator_image("quay.io/tigera/operator:v1.40.15"))
    assert v329.finding("SUP-KERNEL").severity != "unsupported"
    assert v331.finding("SUP-KERNEL").severity == "unsupported"


def test_the_suites_install_option_reaches_the_installer():
    from calico_conformance.targets.clustersetup import install_options
    from tests.apiserver.fixtures import Options
    assert install_options(Options(ignore_preflight=True)).ignore_preflight is True
    assert install_options(Options()).ignore_preflight is False


def test_what_the_install_sets_right_is_not_held_against_the_cluster(apiserver, kubeconfig):
    # EKS before the install: no endpoint ConfigMap, no AWS DNS on an operator, kube-proxy running.
    assert gate.RESOLVED_BY_INSTALL <= {e.id for e in matrix.load().entries}
    apiserver.seed(*seeds.eks())
    warnings = []
    plan_for(connect(str(kubeconfig)), warnings, api_server=f"{seeds.EKS_HOST}:443")
    assert not [w for w in warnings if any(i + " " in w for i in gate.RESOLVED_BY_INSTALL)], warnings
