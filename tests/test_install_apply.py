"""The installer against a real HTTP server standing in for the API server: the official Python
client and the real kubectl talk to it. Each distribution's steps change what the document says,
wait for TigeraStatus, and `uninstall` puts every change back."""
from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from calico_conformance.vocabulary.errors import UsageError
from calico_conformance.install import flow
from calico_conformance.install.detect import detect_from_cluster
from calico_conformance.install.ledger import Ledger
from calico_conformance.install.plan import InstallOptions
from calico_conformance.install.run import Installer, uninstall
from calico_conformance.k8s import connect
from calico_conformance.redact import redact_kubeconfig, redact_text
from calico_conformance.vocabulary.errors import TargetError
from tests.apiserver.fixtures import FakeApiServer, seeds, sims, write_kubeconfig
from tests.install_helpers import validate_installation

MANIFEST = str(seeds.OPERATOR_MANIFEST)
ROOT = Path(__file__).resolve().parents[1]


def install(kube, lines=None, **opts):
    opts.setdefault("operator_manifest", MANIFEST)
    opts.setdefault("configmap_wait_s", 0)
    opts.setdefault("timeout_s", 10)
    distro, plan = flow.make_plan(InstallOptions(**opts), kube)
    Installer(kube, progress=(lines.append if lines is not None else (lambda _: None)), interval=0.01).apply(plan)
    return distro, plan


def kubectl(kubeconfig, *args) -> str:
    if not shutil.which("kubectl"):
        pytest.skip("kubectl is not installed: the cross-check with the real kubectl cannot run")
    proc = subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_kubeadm_install_then_uninstall_round_trip(apiserver, kubeconfig):
    apiserver.seed(*seeds.kubeadm())
    sims.all_of(apiserver, reads=3)
    before = set(apiserver.objects)
    kube_proxy_before = apiserver.get("apps/v1", "DaemonSet", "kube-proxy", "kube-system")["spec"]
    kube = connect(str(kubeconfig))
    lines = []
    distro, plan = install(kube, lines)
    assert distro == "kubeadm"                                    # detected (kubeadm-config)
    cm = apiserver.get("v1", "ConfigMap", "kubernetes-services-endpoint", "tigera-operator")
    assert cm["data"] == {"KUBERNETES_SERVICE_HOST": "cp.example.internal", "KUBERNETES_SERVICE_PORT": "6443"}
    inst = apiserver.get("operator.tigera.io/v1", "Installation", "default")
    validate_installation(inst)
    assert inst["spec"]["calicoNetwork"]["linuxDataplane"] == "BPF"
    assert apiserver.get("operator.tigera.io/v1", "APIServer", "default")
    ds = apiserver.get("apps/v1", "DaemonSet", "kube-proxy", "kube-system")
    assert ds["spec"]["template"]["spec"]["nodeSelector"] == {"kubernetes.io/os": "linux", "non-calico": "true"}
    # progress: each step, then the TigeraStatus states as they changed, with elapsed/limit
    assert any("step 1/" in line and "[namespace]" in line for line in lines)
    waits = [line for line in lines if "waiting for TigeraStatus" in line]
    assert "apiserver=Progressing calico=Progressing" in waits[0] and "s / 10 s)" in waits[0]
    assert "apiserver=Available calico=Available" in waits[-1]
    # the ConfigMap was created before the operator's Deployment
    creates = [r.path for r in apiserver.writes() if r.method == "POST"]
    assert creates.index("/api/v1/namespaces/tigera-operator/configmaps") < \
        creates.index("/apis/apps/v1/namespaces/tigera-operator/deployments")
    # kubectl, an independent client, sees the same state
    assert kubectl(kubeconfig, "get", "installation.operator.tigera.io", "default", "-o",
                   "jsonpath={.spec.calicoNetwork.linuxDataplane}") == "BPF"
    assert "non-calico" in kubectl(kubeconfig, "get", "ds", "-n", "kube-system", "kube-proxy", "-o",
                                   "jsonpath={.spec.template.spec.nodeSelector}")
    assert len(Ledger.load(kube).entries) == len([op for op in plan if op.action in ("create", "patch")])

    lines.clear()
    uninstall(kube, progress=lines.append, interval=0.01)
    assert apiserver.get("apps/v1", "DaemonSet", "kube-proxy", "kube-system")["spec"] == kube_proxy_before
    assert apiserver.get("operator.tigera.io/v1", "Installation", "default") is None
    assert apiserver.get("v1", "Namespace", "tigera-operator") is None
    assert not [k for k in apiserver.objects if k[0] == "apiextensions.k8s.io"]
    assert before <= set(apiserver.objects)
    assert lines[-1].startswith("uninstalled: ")


def test_ipvs_is_switched_to_iptables_first_and_restored(apiserver, kubeconfig):
    apiserver.seed(*seeds.kubeadm(mode="ipvs"))
    sims.all_of(apiserver, reads=1)
    original = apiserver.get("v1", "ConfigMap", "kube-proxy", "kube-system")["data"]["config.conf"]
    kube = connect(str(kubeconfig))
    install(kube)
    text = apiserver.get("v1", "ConfigMap", "kube-proxy", "kube-system")["data"]["config.conf"]
    assert yaml.safe_load(text)["mode"] == "iptables"
    assert text.replace("mode: iptables", "mode: ipvs") == original       # nothing else touched
    ds = apiserver.get("apps/v1", "DaemonSet", "kube-proxy", "kube-system")
    assert "kubectl.kubernetes.io/restartedAt" in ds["spec"]["template"]["metadata"]["annotations"]
    patches = [r.path.rsplit("/", 1)[1] for r in apiserver.writes() if r.method == "PATCH"]
    assert patches.index("kube-proxy") < len(patches) - 1                 # the ConfigMap before the DaemonSet
    uninstall(kube, progress=lambda _: None, interval=0.01)
    assert apiserver.get("v1", "ConfigMap", "kube-proxy", "kube-system")["data"]["config.conf"] == original


def test_eks_bottlerocket_through_the_eks_endpoint(apiserver, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    apiserver.seed(*seeds.eks(bottlerocket=True))
    sims.all_of(apiserver, reads=1)
    kc = write_kubeconfig(tmp_path / "eks", apiserver, server_url=f"https://{seeds.EKS_HOST}")
    kube = connect(str(kc))
    distro, _ = install(kube)
    assert distro == "eks"
    cm = apiserver.get("v1", "ConfigMap", "kubernetes-services-endpoint", "tigera-operator")
    assert cm["data"] == {"KUBERNETES_SERVICE_HOST": seeds.EKS_HOST, "KUBERNETES_SERVICE_PORT": "443"}
    dep = apiserver.get("apps/v1", "Deployment", "tigera-operator", "tigera-operator")
    assert dep["spec"]["template"]["spec"]["dnsConfig"] == {"nameservers": ["169.254.169.253"]}
    inst = apiserver.get("operator.tigera.io/v1", "Installation", "default")
    validate_installation(inst)
    assert inst["spec"]["flexVolumePath"] == "/var/lib/kubelet/plugins"
    assert "ipPools" not in inst["spec"]["calicoNetwork"]                 # AWS VPC CNI (aws-node) gives pod IPs
    assert apiserver.get("apps/v1", "DaemonSet", "kube-proxy", "kube-system")["spec"]["template"]["spec"][
        "nodeSelector"]["non-calico"] == "true"
    assert kubectl(kc, "get", "cm", "-n", "tigera-operator", "kubernetes-services-endpoint", "-o",
                   "jsonpath={.data.KUBERNETES_SERVICE_HOST}") == seeds.EKS_HOST


def test_aks_keeps_kube_proxy_and_tells_felix_not_to_clean_up(apiserver, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    apiserver.seed(*seeds.aks())
    sims.all_of(apiserver, reads=1)
    kube = connect(str(write_kubeconfig(tmp_path / "aks", apiserver, server_url=f"https://{seeds.AKS_HOST}:443")))
    assert install(kube)[0] == "aks"
    assert apiserver.get("v1", "ConfigMap", "kubernetes-services-endpoint", "tigera-operator")["data"][
        "KUBERNETES_SERVICE_HOST"] == seeds.AKS_HOST
    felix = apiserver.get("crd.projectcalico.org/v1", "FelixConfiguration", "default")
    assert felix["spec"]["bpfKubeProxyIptablesCleanupEnabled"] is False
    assert "non-calico" not in apiserver.get("apps/v1", "DaemonSet", "kube-proxy", "kube-system")["spec"][
        "template"]["spec"]["nodeSelector"]
    patched = [r for r in apiserver.writes() if "felixconfigurations" in r.path and r.method == "PATCH"]
    assert patched and patched[0].path.startswith("/apis/projectcalico.org/v3/")   # through the Calico API server
    uninstall(kube, progress=lambda _: None, interval=0.01)


def test_openshift_address_and_network_operator(apiserver, kubeconfig):
    apiserver.seed(*seeds.openshift())
    sims.all_of(apiserver, reads=1)
    kube = connect(str(kubeconfig))
    assert install(kube)[0] == "openshift"
    assert apiserver.get("v1", "ConfigMap", "kubernetes-services-endpoint", "tigera-operator")["data"] == {
        "KUBERNETES_SERVICE_HOST": "api.ocp1.example.com", "KUBERNETES_SERVICE_PORT": "6443"}
    assert apiserver.get("operator.openshift.io/v1", "Network", "cluster")["spec"]["deployKubeProxy"] is False
    uninstall(kube, progress=lambda _: None, interval=0.01)
    assert "deployKubeProxy" not in apiserver.get("operator.openshift.io/v1", "Network", "cluster")["spec"]


def test_existing_calico_gets_the_switch_over_patch_and_a_late_configmap_restarts_the_operator(apiserver, kubeconfig):
    apiserver.seed(*seeds.kubeadm(), *seeds.calico_iptables())
    sims.all_of(apiserver, reads=1)
    kube = connect(str(kubeconfig))
    lines = []
    install(kube, lines)
    assert apiserver.get("v1", "Pod", "tigera-operator-5fb55776df-7xk2p", "tigera-operator") is None   # restarted
    assert any("deleted pod tigera-operator/tigera-operator-5fb55776df-7xk2p" in line for line in lines)
    net = apiserver.get("operator.tigera.io/v1", "Installation", "default")["spec"]["calicoNetwork"]
    assert net["linuxDataplane"] == "BPF" and "hostPorts" not in net
    assert any("exists: left as it is" in line for line in lines)
    switch = [r for r in apiserver.writes() if r.path.endswith("/installations/default")]
    assert switch[0].content_type == "application/merge-patch+json"
    assert switch[0].body == {"spec": {"calicoNetwork": {"linuxDataplane": "BPF", "hostPorts": None}}}
    uninstall(kube, progress=lambda _: None, interval=0.01)
    net = apiserver.get("operator.tigera.io/v1", "Installation", "default")["spec"]["calicoNetwork"]
    assert net["linuxDataplane"] == "Iptables" and net["hostPorts"] == "Enabled"
    assert apiserver.get("v1", "ConfigMap", "kubernetes-services-endpoint", "tigera-operator") is None
    assert apiserver.get("apps/v1", "Deployment", "tigera-operator", "tigera-operator")   # not ours: kept


def test_the_documents_own_kubectl_commands_give_the_same_objects(apiserver, kubeconfig, tmp_path):
    """Our patches equal `kubectl patch ...` exactly as the document writes them."""
    apiserver.seed(*seeds.kubeadm(), *seeds.calico_iptables(operator_pod=False))
    sims.all_of(apiserver, reads=1)
    install(connect(str(kubeconfig)))
    other = FakeApiServer().start()
    try:
        other.seed(*seeds.kubeadm(), *seeds.calico_iptables(operator_pod=False))
        kc = write_kubeconfig(tmp_path / "other", other)
        kubectl(kc, "patch", "ds", "-n", "kube-system", "kube-proxy", "-p",
                '{"spec":{"template":{"spec":{"nodeSelector":{"non-calico": "true"}}}}}')
        kubectl(kc, "patch", "installation.operator.tigera.io", "default", "--type", "merge", "-p",
                '{"spec":{"calicoNetwork":{"linuxDataplane":"BPF", "hostPorts":null}}}')
        for args in (("apps/v1", "DaemonSet", "kube-proxy", "kube-system"), ("operator.tigera.io/v1", "Installation", "default")):
            assert apiserver.get(*args)["spec"] == other.get(*args)["spec"]
    finally:
        other.stop()


def test_degraded_component_is_named_at_the_timeout(apiserver, kubeconfig):
    apiserver.seed(*seeds.kubeadm())
    sims.all_of(apiserver, reads=1, degraded="calico")
    with pytest.raises(TargetError) as err:
        install(connect(str(kubeconfig)), timeout_s=0.3)
    assert str(err.value).startswith("Calico did not become Available within 0.3 s: calico: Degraded - "
                                     "Pod calico-system/calico-node-x2x9q has crash looping container")


def test_no_operator_no_tigerastatus(apiserver, kubeconfig):
    apiserver.seed(*seeds.kubeadm())
    sims.kubelet(apiserver)
    with pytest.raises(TargetError, match=r"no TigeraStatus appeared within 0.2 s: is the operator running\?"):
        install(connect(str(kubeconfig)), timeout_s=0.2)


@pytest.mark.parametrize("seed,expected", [(seeds.kubeadm, "kubeadm"), (seeds.eks, "eks"), (seeds.aks, "aks"),
                                           (seeds.openshift, "openshift"), (seeds.kind, "kind")])
def test_distribution_is_detected_from_the_nodes(apiserver, kubeconfig, seed, expected):
    apiserver.seed(*seed())
    assert detect_from_cluster(connect(str(kubeconfig))) == expected


@pytest.mark.parametrize("seed,message", [
    (seeds.gke, "this looks like a GKE cluster, where the installer will not enable eBPF mode: doc: v3.29 \"GKE."),
    (seeds.rke, "RKE: eBPF mode cannot be enabled at install time because RKE doesn't provide a stable address for "
                "the API server. However, by following these instructions, it can be enabled as a post-install step."),
])
def test_unsupported_distributions_are_refused_with_the_documents_reason(apiserver, kubeconfig, seed, message):
    apiserver.seed(*seed())
    with pytest.raises(TargetError) as err:
        install(connect(str(kubeconfig)))
    assert message in str(err.value)
    assert apiserver.writes() == []


def test_kind_uses_the_control_plane_node(apiserver, kubeconfig):
    apiserver.seed(*seeds.kind())
    _, plan = flow.make_plan(InstallOptions(operator_manifest=MANIFEST), connect(str(kubeconfig)))
    cm = next(op.obj for op in plan if op.step == "endpoint-configmap")
    assert cm["data"] == {"KUBERNETES_SERVICE_HOST": "172.18.0.1", "KUBERNETES_SERVICE_PORT": "6443"}
    assert [op.action for op in plan if op.step == "kube-proxy"] == ["note"]     # kind without kube-proxy


@pytest.mark.parametrize("api_server,message", [
    ("192.168.10.2:6443", "is the IP of pod kube-system/coredns-7c65d6cfc9-abcde"),
    ("10.96.0.1:443", "is the ClusterIP of the `kubernetes` Service"),
    ("10.96.0.10:53", "is the ClusterIP of Service kube-system/kube-dns"),
    ("192.168.1.77:6443", "is inside the pod network 192.168.0.0/16"),
])
def test_unstable_addresses_are_refused_with_cluster_knowledge(apiserver, kubeconfig, api_server, message):
    apiserver.seed(*seeds.kubeadm())
    with pytest.raises(UsageError, match=message):
        flow.make_plan(InstallOptions(operator_manifest=MANIFEST, api_server=api_server), connect(str(kubeconfig)))


def test_kubeadm_without_a_control_plane_endpoint_asks_for_one(apiserver, kubeconfig):
    apiserver.seed(*seeds.kubeadm(endpoint=None))
    with pytest.raises(UsageError, match=r"pass --api-server HOST:PORT \(the control-plane node's InternalIP is "
                                         r"10.0.0.10; use it only if it is static\)"):
        flow.make_plan(InstallOptions(operator_manifest=MANIFEST), connect(str(kubeconfig)))


def test_calico_without_the_operator_is_left_alone(apiserver, kubeconfig):
    apiserver.seed(*seeds.kubeadm(), {"apiVersion": "apps/v1", "kind": "DaemonSet",
                                      "metadata": {"name": "calico-node", "namespace": "kube-system"}, "spec": {}})
    with pytest.raises(UsageError, match="without the Tigera operator"):
        flow.make_plan(InstallOptions(operator_manifest=MANIFEST), connect(str(kubeconfig)))


def test_uninstall_without_a_ledger(apiserver, kubeconfig):
    apiserver.seed(*seeds.kubeadm())
    with pytest.raises(TargetError, match="nothing to uninstall: no tigera-operator/calico-conformance-install ledger"):
        uninstall(connect(str(kubeconfig)))


# ---- connection errors, and secrets ------------------------------------------------------------

def test_connection_errors_say_what_to_do(apiserver, kubeconfig, tmp_path):
    with pytest.raises(TargetError, match=r"kubeconfig /nope/config does not exist; give the path of a kubeconfig file"):
        connect("/nope/config")
    kc = write_kubeconfig(tmp_path / "two", apiserver, extra_contexts=("prod",))
    with pytest.raises(TargetError, match=r"context 'staging' is not in .*; choose one of: stand-in, prod with --context"):
        connect(str(kc), "staging")
    dead = FakeApiServer().start()
    dead.stop()
    with pytest.raises(TargetError, match=r"cannot reach the API server at https://127.0.0.1:\d+ to read /version: .*"
                                          r"is the cluster up, and are --kubeconfig and --context right\?"):
        connect(str(write_kubeconfig(tmp_path / "dead", dead)))
    bad = write_kubeconfig(tmp_path / "bad", apiserver, token="wrong-token-value")
    with pytest.raises(TargetError, match=r"the API server refused to read /version \(401 Unauthorized\); check the "
                                          r"kubeconfig's credentials") as err:
        connect(str(bad))
    assert "wrong-token-value" not in str(err.value)


def test_cli_install_and_uninstall_never_print_the_token(apiserver, kubeconfig):
    apiserver.seed(*seeds.kubeadm())
    sims.all_of(apiserver, reads=1)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(kubeconfig.parent)}
    outputs = []
    for argv in (["install", "--kubeconfig", str(kubeconfig), "--operator-manifest", MANIFEST, "--configmap-wait", "0"],
                 ["install", "--dry-run", "-o", "yaml", "--kubeconfig", str(kubeconfig), "--operator-manifest", MANIFEST],
                 ["uninstall", "--kubeconfig", str(kubeconfig)]):
        proc = subprocess.run([sys.executable, "-m", "calico_conformance.cli", *argv], capture_output=True, text=True,
                              timeout=60, cwd=ROOT, env=env)
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout + proc.stderr)
    assert "install: step 1/" in outputs[0] and "uninstalled:" in outputs[2]
    for out in outputs:
        assert apiserver.token not in out
    assert apiserver.token not in json.dumps([r.body for r in apiserver.requests])


def test_redaction_of_kubeconfigs_and_text(kubeconfig):
    config = yaml.safe_load(kubeconfig.read_text())
    config["clusters"][0]["cluster"]["certificate-authority-data"] = "LS0tLS1CRUdJTi"
    config["users"][0]["user"].update({"client-key-data": "S0VZ", "client-certificate-data": "Q0VSVA=="})
    config["users"].append({"name": "oidc", "user": {"auth-provider": {"name": "oidc", "config": {
        "id-token": "eyJhbGciOi.x.y", "refresh-token": "r3fr3sh", "client-secret": "s3cr3t"}}}})
    config["users"].append({"name": "exec", "user": {"exec": {"command": "aws", "args": ["--token", "abc"],
                                                              "env": [{"name": "AWS_SECRET", "value": "v"}]}}})
    original = copy.deepcopy(config)
    clean = json.dumps(redact_kubeconfig(config))
    for secret in ("cc-test-token-s3cr3t-do-not-print", "LS0tLS1CRUdJTi", "S0VZ", "Q0VSVA==", "eyJhbGciOi.x.y",
                   "r3fr3sh", "s3cr3t", '"v"'):
        assert secret not in clean
    assert config == original                                        # a copy; the input is untouched
    assert "aws" in clean and "stand-in" in clean                     # the rest stays readable
    text = redact_text("GET /api Authorization: Bearer abc.def-ghi\ntoken: xyz\n--token=qq client-key-data: Zm9v")
    assert "abc.def-ghi" not in text and "xyz" not in text and "qq" not in text and "Zm9v" not in text
    assert redact_text(yaml.safe_dump(original)).count("REDACTED") >= 5
