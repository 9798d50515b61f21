"""`calico-conformance install --dry-run -o yaml`: every object and patch, in order, for every
distribution; each cites a statement that is really in the document; the Installation validates
against the operator's CRD schema; bad input gets one line. No cluster is used (or, with a
kubeconfig, nothing is written)."""
from __future__ import annotations

import pytest

from tests.apiserver.fixtures import seeds
from tests.install_helpers import (cited_text_is_in_document, documents, run_cli, split_stream,
                                   validate_installation)

MANIFEST = str(seeds.OPERATOR_MANIFEST)
DISTROS = {"kubeadm": ["--api-server", "lb.example.com:6443"], "generic": ["--api-server", "lb.example.com:6443"],
           "kind": ["--api-server", "172.18.0.2:6443"], "kops": ["--api-server", "api.internal.c1.example.com:443"],
           "openshift": ["--api-server", "api.ocp1.example.com:6443"],
           "eks": ["--api-server", f"{seeds.EKS_HOST}:443"], "aks": ["--api-server", f"{seeds.AKS_HOST}:443"],
           "mke": []}


def dry_run(capsys, distro, *extra):
    rc, out, err = run_cli(capsys, "install", "--distro", distro, "--dry-run", "-o", "yaml",
                           "--operator-manifest", MANIFEST, *DISTROS.get(distro, []), *extra)
    assert rc == 0, err
    return split_stream(out)


def steps(docs):
    return [d["comments"]["step"].split(": ")[0] for d in docs]


@pytest.mark.parametrize("distro", sorted(DISTROS))
def test_every_distro_prints_every_step_in_order_with_real_citations(capsys, distro):
    docs = dry_run(capsys, distro)
    order = steps(docs)
    # ConfigMap before the operator, operator before the Installation, wait before kube-proxy.
    assert order[:2] == ["namespace", "endpoint-configmap"]
    assert order.index("endpoint-configmap") < order.index("operator") < order.index("installation") \
        < order.index("apiserver") < order.index("wait") < order.index("kube-proxy")
    texts = documents()
    for doc in docs:
        assert doc["cites"], f"no citation: {doc['text']}"
        for cite in doc["cites"]:
            assert cited_text_is_in_document(cite, texts), f"not in the document: {cite}"
    inst = next(d["body"] for d in docs if d["body"] and d["body"]["kind"] == "Installation")
    validate_installation(inst)
    assert inst["spec"]["calicoNetwork"]["linuxDataplane"] == "BPF"
    assert inst["spec"]["calicoNetwork"]["ipPools"] == [{"name": "default-ipv4-ippool", "blockSize": 26,
                                                         "cidr": "192.168.0.0/16", "encapsulation": "VXLAN",
                                                         "natOutgoing": "Enabled", "nodeSelector": "all()"}]
    # every object of the operator manifest is printed, in the manifest's order
    created = [d["body"]["metadata"]["name"] for d in docs if d["comments"]["step"].split(": ")[0] == "operator"
               and d["body"]]
    assert created == [o["metadata"]["name"] for o in seeds.operator_objects()[1:]]


def _doc(docs, step):
    return next(d for d in docs if d["comments"]["step"].split(": ")[0] == step)


def test_mke_needs_no_cluster_and_no_address(capsys):
    cm = _doc(dry_run(capsys, "mke"), "endpoint-configmap")["body"]
    assert cm["data"] == {"KUBERNETES_SERVICE_HOST": "proxy.local", "KUBERNETES_SERVICE_PORT": "6444"}
    assert cm["metadata"] == {"name": "kubernetes-services-endpoint", "namespace": "tigera-operator"}


@pytest.mark.parametrize("distro", ["eks", "kops"])
def test_aws_dns_patch_on_eks_and_kops(capsys, distro):
    docs = dry_run(capsys, distro)
    dns = _doc(docs, "aws-dns")
    assert dns["comments"]["action"] == "patch (strategic) apps/v1 Deployment tigera-operator/tigera-operator"
    assert dns["body"]["spec"] == {"template": {"spec": {"dnsConfig": {"nameservers": ["169.254.169.253"]}}}}
    assert steps(docs).index("operator") < steps(docs).index("aws-dns") < steps(docs).index("installation")


@pytest.mark.parametrize("distro", ["kubeadm", "kind", "openshift", "aks", "mke"])
def test_no_aws_dns_patch_elsewhere(capsys, distro):
    assert "aws-dns" not in steps(dry_run(capsys, distro))


def test_kube_proxy_per_distribution(capsys):
    kubeadm = _doc(dry_run(capsys, "kubeadm"), "kube-proxy")
    assert kubeadm["body"]["spec"] == {"template": {"spec": {"nodeSelector": {"non-calico": "true"}}}}
    assert kubeadm["comments"]["kubectl"] == ("kubectl patch daemonset -n kube-system kube-proxy --type strategic "
                                              "-p '{\"spec\":{\"template\":{\"spec\":{\"nodeSelector\":{\"non-calico\":\"true\"}}}}}'")
    eks = dry_run(capsys, "eks")
    assert _doc(eks, "kube-proxy")["body"]["spec"]["template"]["spec"]["nodeSelector"] == {"non-calico": "true"}
    assert "kube-proxy-config" in _doc(eks, "kube-proxy-ipvs")["comments"]["condition"]
    ocp = _doc(dry_run(capsys, "openshift"), "kube-proxy")
    assert ocp["comments"]["action"] == "patch (merge) operator.openshift.io/v1 Network cluster"
    assert ocp["body"]["spec"] == {"deployKubeProxy": False}
    aks = _doc(dry_run(capsys, "aks"), "kube-proxy")
    assert aks["body"] == {"apiVersion": "projectcalico.org/v3", "kind": "FelixConfiguration",
                           "metadata": {"name": "default"}, "spec": {"bpfKubeProxyIptablesCleanupEnabled": False}}
    for distro in ("kops", "mke"):
        note = _doc(dry_run(capsys, distro), "kube-proxy")
        assert note["body"] is None and note["comments"]["action"].startswith("none (guidance)")


def test_bottlerocket_dsr_registry_dual_stack(capsys):
    docs = dry_run(capsys, "eks", "--bottlerocket", "--dsr", "--registry", "mirror.internal:5000",
                   "--pod-cidr", "192.168.0.0/16", "--pod-cidr", "fd00:10:244::/56")
    inst = _doc(docs, "installation")["body"]
    validate_installation(inst)
    assert inst["spec"]["flexVolumePath"] == "/var/lib/kubelet/plugins"
    assert inst["spec"]["registry"] == "mirror.internal:5000"
    assert [(p["cidr"], p["encapsulation"], p["blockSize"]) for p in inst["spec"]["calicoNetwork"]["ipPools"]] == \
        [("192.168.0.0/16", "VXLAN", 26), ("fd00:10:244::/56", "VXLAN", 122)]
    assert any("flexVolumePath" in c for c in _doc(docs, "installation")["cites"])
    assert _doc(docs, "dsr")["body"]["spec"] == {"bpfExternalServiceMode": "DSR"}
    assert steps(docs)[-1] == "dsr"


@pytest.mark.parametrize("encapsulation", ["VXLAN", "VXLANCrossSubnet", "IPIP", "IPIPCrossSubnet", "None"])
def test_every_pool_encapsulation_calico_accepts_is_installed(capsys, encapsulation):
    """eBPF mode forwards NodePort traffic in its own VXLAN whatever the pool uses (truth row
    nodeport-any-pool): the installer takes every encapsulation the Installation CRD takes."""
    docs = dry_run(capsys, "kubeadm", "--encapsulation", encapsulation)
    inst = _doc(docs, "installation")["body"]
    validate_installation(inst)
    assert {p["encapsulation"] for p in inst["spec"]["calicoNetwork"]["ipPools"]} == {encapsulation}


def test_ipip_is_refused_for_an_ipv6_pool(capsys):
    rc, out, err = run_cli(capsys, "install", "--distro", "kubeadm", "--dry-run", "--encapsulation", "IPIP",
                           "--pod-cidr", "fd00:10:244::/56")
    assert rc == 2 and "IPIP is not supported for IPv6 pools" in err and len(err.strip().splitlines()) == 1


def test_bottlerocket_is_eks_only(capsys):
    rc, out, err = run_cli(capsys, "install", "--distro", "kubeadm", "--dry-run", "--bottlerocket",
                           "--operator-manifest", MANIFEST, *DISTROS["kubeadm"])
    assert rc == 2 and "--bottlerocket applies to EKS only" in err


@pytest.mark.parametrize("argv,message", [
    (["--distro", "talos"], "unknown distribution 'talos'; choose one of: kubeadm, generic, kind, kops, openshift, eks, aks, mke"),
    (["--distro", "gke"], 'doc: v3.29 "GKE. This is because of an incompatibility with the GKE CNI plugin."'),
    (["--distro", "rke"], "eBPF mode cannot be enabled at install time because RKE doesn't provide a stable address"),
    (["--distro", "kubeadm"], "the API server address is found from the cluster; for a dry-run without a cluster "
                              "pass --api-server HOST:PORT"),
    (["--distro", "kubeadm", "--api-server", "10.96.0.1:443"], "is inside the Service network 10.96.0.0/12 (a ClusterIP)"),
    (["--distro", "kubeadm", "--api-server", "192.168.3.4:6443"], "is inside the pod network 192.168.0.0/16"),
    (["--distro", "kubeadm", "--api-server", "127.0.0.1:6443"], "is a loopback/unspecified address"),
    (["--distro", "eks", "--api-server", "kubernetes.default.svc:443"], "is the `kubernetes` Service name"),
    (["--distro", "kubeadm", "--api-server", "lb.example.com"], "is not HOST:PORT"),
    (["--distro", "mke", "--operator-manifest", "/no/such/file.yaml"], "cannot read /no/such/file.yaml"),
    (["--distro", "mke", "--calico-manifests", "/no/such/dir"], "cannot read /no/such/dir/tigera-operator.yaml"),
    ([], "--distro is needed without a cluster"),
])
def test_bad_input_is_one_line(capsys, argv, message):
    full = ["install", "--dry-run", "-o", "yaml", *argv]
    if "--operator-manifest" not in argv and "--calico-manifests" not in argv:
        full += ["--operator-manifest", MANIFEST]
    rc, out, err = run_cli(capsys, *full)
    assert rc == 2 and out == ""
    assert err.startswith("calico-conformance: error: ") and err.count("\n") == 1
    assert message in err


def test_unreachable_manifest_url_in_dry_run_is_listed_as_one_step(capsys):
    rc, out, err = run_cli(capsys, "install", "--distro", "mke", "--dry-run", "-o", "yaml",
                           "--operator-manifest", "http://127.0.0.1:9/tigera-operator.yaml")
    assert rc == 0 and "dry-run: cannot fetch http://127.0.0.1:9/tigera-operator.yaml" in err
    note = _doc(split_stream(out), "operator")
    assert "pass --operator-manifest PATH to list them" in note["comments"]["action"]


def test_air_gapped_manifest_directory(capsys, tmp_path):
    (tmp_path / "tigera-operator.yaml").write_text(seeds.OPERATOR_MANIFEST.read_text())
    (tmp_path / "custom-resources.yaml").write_text(
        "apiVersion: operator.tigera.io/v1\nkind: Installation\nmetadata: {name: default}\n"
        "spec: {variant: Calico, calicoNetwork: {ipPools: [{name: p, cidr: 10.1.0.0/16, blockSize: 24}]}}\n")
    rc, out, err = run_cli(capsys, "install", "--distro", "mke", "--dry-run", "-o", "yaml",
                           "--calico-manifests", str(tmp_path))
    assert rc == 0, err
    docs = split_stream(out)
    inst = _doc(docs, "installation")["body"]
    validate_installation(inst)
    assert inst["spec"]["variant"] == "Calico" and inst["spec"]["calicoNetwork"]["ipPools"][0]["blockSize"] == 24
    assert "apiserver" not in steps(docs)         # that custom-resources.yaml has no APIServer


def test_text_output_lists_steps(capsys):
    rc, out, err = run_cli(capsys, "install", "--distro", "mke", "--dry-run", "--operator-manifest", MANIFEST)
    assert rc == 0 and " 1. [namespace] create" in out and 'doc: v3.29 "KUBERNETES_SERVICE_HOST must be set' in out


def test_dry_run_against_a_cluster_reads_but_never_writes(capsys, apiserver, kubeconfig):
    apiserver.seed(*seeds.kubeadm(mode="ipvs"))
    rc, out, err = run_cli(capsys, "install", "--dry-run", "-o", "yaml", "--kubeconfig", str(kubeconfig),
                           "--operator-manifest", MANIFEST)
    assert rc == 0, err
    assert apiserver.writes() == []
    docs = split_stream(out)
    assert _doc(docs, "endpoint-configmap")["body"]["data"]["KUBERNETES_SERVICE_HOST"] == "cp.example.internal"
    ipvs = _doc(docs, "kube-proxy-ipvs")
    assert ipvs["comments"]["then"] == "rollout restart apps/v1 DaemonSet kube-system/kube-proxy"
    assert "\nmode: iptables\n" in ipvs["body"]["data"]["config.conf"]
