"""The kind, kubeconfig and ssh targets against the stand-in API server, with the real kubernetes
client, fake node-side CLIs (kubectl exec / docker exec / ssh run the node command on this
machine) and the real echo workload listening on 127.0.0.1 as the NodePort backend. Every node is
127.0.0.1 here, so the probes' TCP connections stay on this machine."""
from __future__ import annotations

import argparse
import copy
import os
import shutil
import socket
import threading
import time

import jsonschema
import pytest
import yaml

from calico_conformance.vocabulary.errors import UsageError
from calico_conformance.vocabulary.frames import CapturePoint
from calico_conformance.executors.docker import DockerExecutor
from calico_conformance.executors.kubectl import KubectlExecutor
from calico_conformance.executors.ssh import SshExecutor
from calico_conformance import clusterfacts as k8s_facts
from calico_conformance.support import calico_version
from calico_conformance.targets import kind as kind_target
from calico_conformance.targets import kubeconfig as kubeconfig_target
from calico_conformance.targets import module
from calico_conformance.targets import ssh as ssh_target
from calico_conformance.vocabulary.errors import TargetError
from calico_conformance.workloads.echo import EchoServer
from tests.apiserver.fixtures import Options, seeds, sims
from tests.test_kind_config import SCHEMA as KIND_SCHEMA

NEEDS_CAPTURE = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump"),
                                   reason="capturing on lo needs root and tcpdump")


@pytest.fixture(autouse=True)
def single_process(monkeypatch):
    """Names here are the single-process ones even when these tests run under xdist."""
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)


@pytest.fixture
def echo():
    sock = socket.create_server(("127.0.0.1", 0))
    server = EchoServer(sock, hostname="cc-echo")
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield sock.getsockname()[1]
    server.shutdown()
    server.server_close()


def calico_objects(*, mode="DSR") -> list[dict]:
    objs = [o for o in seeds.operator_objects() if o["kind"] in ("Namespace", "CustomResourceDefinition")]
    objs += [{"apiVersion": "operator.tigera.io/v1", "kind": "Installation", "metadata": {"name": "default"},
              "spec": {"calicoNetwork": {"linuxDataplane": "BPF"}}, "status": {"calicoVersion": "v3.29.1"}},
             {"apiVersion": "crd.projectcalico.org/v1", "kind": "FelixConfiguration", "metadata": {"name": "default"},
              "spec": {"bpfEnabled": True, "bpfExternalServiceMode": mode, "vxlanPort": 4790, "vxlanVNI": 4097,
                       "bpfKubeProxyIptablesCleanupEnabled": False}},
             seeds.ns("calico-system"),
             {"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "calico-node", "namespace": "calico-system"},
              "spec": {"template": {"spec": {"containers": [{"name": "calico-node", "image": "docker.io/calico/node:v3.29.1"}]}}}}]
    return objs


@pytest.fixture
def cluster(apiserver, kubeconfig, fakebin, echo):
    apiserver.seed(*seeds.kind(ip_prefix="127.0.0"), *calico_objects())
    sims.kubelet(apiserver)
    sims.services(apiserver, node_port=echo)
    return apiserver


def only_suite_namespace_was_written(apiserver, ns="calico-conformance") -> list[str]:
    bad = []
    for r in apiserver.writes():
        inside = r.path.startswith(f"/api/v1/namespaces/{ns}/") or r.path == f"/api/v1/namespaces/{ns}"
        creates_ns = r.method == "POST" and r.path == "/api/v1/namespaces" and r.body["metadata"]["name"] == ns
        if not (inside or creates_ns):
            bad.append(f"{r.method} {r.path}")
    return bad


def test_kubeconfig_target_is_read_only_and_gives_everything_a_check_needs(cluster, kubeconfig, echo):
    target = kubeconfig_target.create(Options(kubeconfig=str(kubeconfig)))
    try:
        facts = target.facts()
        assert (facts.target, facts.calico_version, facts.kubernetes_version, facts.distribution, facts.datastore) == \
            ("kubeconfig", "v3.29.1", "v1.31.2", "kind", "kubernetes")
        assert (facts.felix.bpf_enabled, facts.felix.external_service_mode, facts.felix.vxlan_port,
                facts.felix.vxlan_vni, facts.felix.kube_proxy_iptables_cleanup) == (True, "DSR", 4790, 4097, False)
        assert [(n.name, n.kernel, n.arch) for n in facts.nodes][0] == ("cc-control-plane", "6.8.0-47-generic", "amd64")

        nodes = target.nodes()
        assert [n.name for n in nodes] == ["cc-control-plane", "cc-worker", "cc-worker2"]
        assert all(isinstance(n.executor, KubectlExecutor) and n.uplink == "lo" and n.address == "127.0.0.1"
                   for n in nodes)
        agents = [p for p in cluster.all("v1", "Pod") if p["metadata"]["name"].startswith("cc-agent-")]
        assert {p["spec"]["nodeName"] for p in agents} == {n.name for n in nodes}
        assert all(p["spec"]["hostNetwork"] and p["spec"]["containers"][0]["securityContext"]["privileged"]
                   for p in agents)

        svc = target.nodeport_service()
        assert (svc.node_port, svc.backend_ip, svc.backend_node, svc.backend_host_iface, svc.protocol) == \
            (echo, "127.0.0.1", "cc-worker2", "lo", "TCP")
        pod = cluster.get("v1", "Pod", "cc-echo", "calico-conformance")
        assert pod["spec"]["nodeName"] == "cc-worker2"
        assert pod["spec"]["containers"][0]["command"][:2] == ["python3", "/echo/echo.py"]
        assert "class EchoHandler" in cluster.get("v1", "ConfigMap", "cc-echo", "calico-conformance")["data"]["echo.py"]

        exchange = target.external_client().http_get(nodes[0].address, svc.node_port)
        assert exchange.ok and exchange.reported_client == "127.0.0.1" and exchange.remote_port == echo

        kinds = {(o["kind"], o["metadata"]["name"]) for o in target.snapshot()}
        assert {("Node", "cc-worker"), ("DaemonSet", "calico-node"), ("Installation", "default"),
                ("FelixConfiguration", "default"), ("Service", "kubernetes")} <= kinds
    finally:
        target.close()
    target.close()                                                  # safe twice
    assert cluster.get("v1", "Namespace", "calico-conformance") is None
    assert only_suite_namespace_was_written(cluster) == []


@NEEDS_CAPTURE
def test_capture_on_nodes_through_kubectl_exec(cluster, kubeconfig, echo):
    target = kubeconfig_target.create(Options(kubeconfig=str(kubeconfig)))
    try:
        node = target.nodes()[1]
        capture = target.start_capture([CapturePoint(node.name, node.uplink)])
        exchange = target.external_client().http_get(node.address, target.nodeport_service().node_port)
        time.sleep(0.2)
        frames = capture.stop()[CapturePoint(node.name, "lo")]
        assert exchange.ok
        sport = exchange.local_port.to_bytes(2, "big")
        assert any(sport in f.data[34:38] for f in frames)      # the probe's own connection was captured
    finally:
        target.close()


def test_create_works_with_a_pytest_config(cluster, kubeconfig, pytestconfig):
    """The plugin passes pytest's config: every option our modules read exists there."""
    config = copy.copy(pytestconfig)
    config.option = argparse.Namespace(**{**vars(pytestconfig.option), "kubeconfig": str(kubeconfig),
                                          "operator_manifest": str(seeds.OPERATOR_MANIFEST), "workload_timeout": 5.0})
    target = module("kubeconfig").create(config)
    try:
        assert target.facts().distribution == "kind" and len(target.nodes()) == 3
    finally:
        target.close()
    assert only_suite_namespace_was_written(cluster) == []


def test_dsr_without_install_is_refused_before_anything(apiserver, kubeconfig):
    with pytest.raises(UsageError, match="--dsr changes the cluster's FelixConfiguration; add --install"):
        kubeconfig_target.create(Options(kubeconfig=str(kubeconfig), dsr=True))
    assert apiserver.requests == []


def test_kubeconfig_target_with_install_and_dsr_reverts_at_close(apiserver, kubeconfig, fakebin, echo):
    apiserver.seed(*seeds.kubeadm(ips=("127.0.0.1",) * 3))
    sims.all_of(apiserver, reads=1)
    apiserver._reactors = [r for r in apiserver._reactors if r[1] != "Service"]
    sims.services(apiserver, node_port=echo)
    ds_before = apiserver.get("apps/v1", "DaemonSet", "kube-proxy", "kube-system")["spec"]
    target = kubeconfig_target.create(Options(kubeconfig=str(kubeconfig), install=True, dsr=True))
    try:
        assert target.distribution == "kubeadm"
        assert target.facts().felix.external_service_mode == "DSR"
        assert target.facts().calico_version == "v3.29.1"
        assert target.external_client().http_get("127.0.0.1", target.nodeport_service().node_port).ok
    finally:
        target.close()
    assert apiserver.get("operator.tigera.io/v1", "Installation", "default") is None
    assert apiserver.get("apps/v1", "DaemonSet", "kube-proxy", "kube-system")["spec"] == ds_before


def test_kind_target_creates_installs_runs_and_deletes(apiserver, kubeconfig, fakebin, echo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FAKE_KIND_KUBECONFIG", str(kubeconfig))
    apiserver.seed(*seeds.kind(ip_prefix="127.0.0"))
    sims.all_of(apiserver, reads=1)
    apiserver._reactors = [r for r in apiserver._reactors if r[1] != "Service"]
    sims.services(apiserver, node_port=echo)
    opts = Options(cluster_name="cc", kind_load_image=["python:3.12-alpine"], api_server="cc-control-plane.test:6443")
    target = kind_target.create(opts)
    try:
        config = yaml.safe_load((tmp_path / "kind-state" / "cc.yaml").read_text())
        jsonschema.validate(config, KIND_SCHEMA)
        assert config["networking"]["disableDefaultCNI"] and config["networking"]["kubeProxyMode"] == "none"
        inst = apiserver.get("operator.tigera.io/v1", "Installation", "default")
        assert inst["spec"]["calicoNetwork"]["ipPools"][0]["cidr"] == config["networking"]["podSubnet"]
        assert target.distribution == "kind" and target.facts().calico_version == "v3.29.1"
        assert all(isinstance(n.executor, DockerExecutor) and n.uplink == "lo" for n in target.nodes())
        assert target.external_client().http_get("127.0.0.1", target.nodeport_service().node_port).reported_client \
            == "127.0.0.1"
        calls = fakebin.calls("kind")
        assert ["load", "docker-image", "--name", "cc", "python:3.12-alpine"] in calls
        assert any(c[:2] == ["create", "cluster"] and "--wait" in c for c in calls)
        assert ["exec", "-i", "cc-worker2", "ip", "-o", "route", "get", "127.0.0.1"] in fakebin.calls("docker")
    finally:
        target.close()
    assert fakebin.calls("kind")[-1][:4] == ["delete", "cluster", "--name", "cc"]
    assert not (tmp_path / "kind-state" / "cc.yaml").exists()


def test_kind_target_reuses_a_cluster_with_calico_and_keeps_it(apiserver, kubeconfig, fakebin, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FAKE_KIND_KUBECONFIG", str(kubeconfig))
    (tmp_path / "kind-state").mkdir()
    (tmp_path / "kind-state" / "cc.yaml").write_text("kind: Cluster\n")
    apiserver.seed(*seeds.kind(ip_prefix="127.0.0"), *calico_objects(mode="Tunnel"))
    target = kind_target.create(Options(cluster_name="cc"))
    target.close()
    assert not [c for c in fakebin.calls("kind") if c[0] in ("create", "delete")]
    assert only_suite_namespace_was_written(apiserver) == []


def test_ssh_target_runs_node_commands_over_ssh(cluster, kubeconfig, tmp_path, echo, fakebin):
    inv = tmp_path / "inventory.yaml"
    inv.write_text(yaml.safe_dump({
        "kubeconfig": str(kubeconfig),
        "defaults": {"user": "root", "options": {"StrictHostKeyChecking": "accept-new"}},
        "nodes": [{"name": "cc-control-plane", "host": "cp.example"}, {"name": "cc-worker"},
                  {"name": "cc-worker2", "host": "w2.example", "user": "core", "sudo": False}],
        "client": {"host": "client.example", "address": "127.0.0.1"}}))
    target = ssh_target.create(Options(inventory=str(inv)))
    try:
        nodes = target.nodes()
        assert all(isinstance(n.executor, SshExecutor) for n in nodes)
        assert [n.executor.host for n in nodes] == ["cp.example", "127.0.0.1", "w2.example"]   # InternalIP default
        assert not [p for p in cluster.all("v1", "Pod") if p["metadata"]["name"].startswith("cc-agent-")]
        exchange = target.external_client().http_get("127.0.0.1", target.nodeport_service().node_port)
        assert exchange.ok and exchange.reported_client == "127.0.0.1"
        client_call = [c for c in fakebin.calls("ssh") if "client.example" in c][-1]
        assert client_call[-1].startswith("python3 - 127.0.0.1 ")
        assert any("w2.example" in c and "core" in c for c in fakebin.calls("ssh"))
    finally:
        target.close()
    assert only_suite_namespace_was_written(cluster) == []


@pytest.mark.parametrize("content,message", [
    (None, "--target ssh needs --inventory FILE"),
    ("nodes: [", "is not valid YAML"),
    ("nodes: []", "needs a `nodes:` list"),
    ("nodes: [{host: a}]", "nodes[0] needs a `name`"),
    ("nodes: [{name: a, hostname: b}]", "nodes[0] has unknown keys ['hostname']"),
])
def test_bad_inventories_are_one_line_errors(tmp_path, content, message):
    path = None
    if content is not None:
        path = tmp_path / "inv.yaml"
        path.write_text(content)
    with pytest.raises(UsageError, match=re_escape(message)):
        ssh_target.create(Options(inventory=str(path) if path else None))


def test_inventory_naming_unknown_nodes(cluster, kubeconfig, tmp_path):
    inv = tmp_path / "inv.yaml"
    inv.write_text(yaml.safe_dump({"kubeconfig": str(kubeconfig), "nodes": [{"name": "node-zz"}]}))
    with pytest.raises(UsageError, match="names nodes the cluster does not have: node-zz; the cluster's nodes are: "
                                         "cc-control-plane, cc-worker, cc-worker2"):
        ssh_target.create(Options(inventory=str(inv)))


def test_backend_node_must_exist(cluster, kubeconfig):
    target = kubeconfig_target.create(Options(kubeconfig=str(kubeconfig), backend_node="nope"))
    try:
        with pytest.raises(TargetError, match="--backend-node nope: no such node; nodes are: cc-control-plane"):
            target.nodeport_service()
    finally:
        target.close()


def test_pod_that_never_runs_names_the_image_problem(apiserver, kubeconfig, fakebin):
    apiserver.seed(*seeds.kind(ip_prefix="127.0.0"))
    target = kubeconfig_target.create(Options(kubeconfig=str(kubeconfig), workload_timeout=0.5))
    try:
        with pytest.raises(TargetError, match=r"timed out after 0.5 s waiting for pod calico-conformance/cc-agent-"
                                              r"cc-control-plane: Pending; check the image can be pulled"):
            target.nodes()
    finally:
        target.close()


@pytest.mark.parametrize("image,tag", [("docker.io/calico/node:v3.29.1", "v3.29.1"),
                                       ("quay.io/calico/node:v3.28.2@sha256:abc", "v3.28.2"),
                                       ("registry:5000/calico/node:v3.27.0", "v3.27.0"), ("calico/node", None)])
def test_calico_version_from_the_image_tag(image, tag):
    ds = {"spec": {"template": {"spec": {"containers": [{"name": "calico-node", "image": image}]}}}}
    assert calico_version.full_version(k8s_facts.calico_objects(None, None, ds)) == tag


def re_escape(text: str) -> str:
    import re
    return re.escape(text)


@NEEDS_CAPTURE
def test_the_nodeport_probe_runs_unchanged_on_a_real_cluster_target(cluster, kubeconfig, echo, tmp_path):
    """The same probe batch the checks use (calico_conformance.probes.nodeport), through this target:
    captures on the client and the nodes, connections via NodePort, ISNs found in the captures."""
    from calico_conformance.probes.nodeport import probe_nodeport
    target = kubeconfig_target.create(Options(kubeconfig=str(kubeconfig)))
    try:
        obs = probe_nodeport(target, count=2, evidence_dir=tmp_path)
    finally:
        target.close()
    assert [c.exchange.ok for c in obs.connections] == [True, True]
    assert all(c.isn is not None for c in obs.connections)
    assert obs.frames[CapturePoint("client", "lo")] and obs.pcaps
