"""Offline snapshots: every shape `kubectl` produces, and the mess real dumps contain."""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from calico_conformance.vocabulary.errors import UsageError
from calico_conformance.support import kinds
from calico_conformance.support.snapshot import load_snapshot

SNAPS = Path(__file__).resolve().parent / "data" / "snapshots"


def census(inv) -> dict[str, int]:
    return dict(Counter(o.kind for o in inv.objects))


DUMP_KINDS = {"Node": 2, "DaemonSet": 2, "Deployment": 2, "Pod": 3, "Service": 2}


def test_a_cluster_info_dump_tree_is_read_with_kinds_from_its_lists():
    inv = load_snapshot(SNAPS / "cluster-info-dump")
    assert census(inv) == DUMP_KINDS
    assert inv.warnings == []
    # empty lists still say "none of these": events, replica sets
    assert {"Event", "ReplicaSet", "ReplicationController"} <= inv.listed
    node = inv.named("Node", "k8s-node1")
    assert node.source == "nodes.json" and node.get("status.nodeInfo.kernelVersion") == "5.15.0-94-generic"
    assert inv.named("DaemonSet", "calico-node").source == "kube-system/daemonsets.json"


def test_the_cluster_info_dump_stdout_stream_reads_the_same_and_skips_the_pod_logs():
    inv = load_snapshot(SNAPS / "cluster-info-dump.txt")
    assert census(inv) == DUMP_KINDS
    assert inv.warnings == [], "log sections (even JSON-looking lines in them) are not objects"


@pytest.mark.parametrize("name, kind, count", [
    ("eks-al2023-karpenter/nodes.json", "Node", 2),    # kubectl get nodes -o json (kind: List)
    ("eks-bottlerocket.yaml", "Node", 1),              # kubectl get nodes -o yaml
    ("aks-ubuntu2204.json", "Node", 1),                # kubectl get node NAME -o json
    ("features/operator-bpf-baseline.yaml", "calico/IPPool", 1),   # multi-document YAML
    ("messy/nodes.yaml", "Node", 3),                   # a bare list, no kind or apiVersion
])
def test_kubectl_shapes(name, kind, count):
    inv = load_snapshot(SNAPS / name)
    assert census(inv)[kind] == count


def test_a_multi_document_yaml_keeps_every_kind_and_qualifies_calico_ones():
    inv = load_snapshot(SNAPS / "features" / "operator-bpf-baseline.yaml")
    assert census(inv) == {"Installation": 1, "calico/FelixConfiguration": 1, "calico/IPPool": 1,
                           "calico/ClusterInformation": 1, "Deployment": 1, "ConfigMap": 2, "Service": 2,
                           "Pod": 1, "calico/GlobalNetworkPolicy": 1, "calico/NetworkPolicy": 1,
                           "NetworkPolicy": 1, "calico/HostEndpoint": 1}


def test_a_mixed_list_infers_missing_kinds_drops_secrets_and_names_what_it_skipped():
    inv = load_snapshot(SNAPS / "messy" / "everything.json")
    assert census(inv) == {"ConfigMap": 1, "calico/IPPool": 1, "Service": 1}
    assert "Secret" not in inv.listed
    assert not any("c2VjcmV0" in json.dumps(o.raw) for o in inv.objects)
    assert inv.warnings == [
        "everything.json: item 3 (mystery) has no kind and its shape is not one this tool knows; "
        "skipped (add kind and apiVersion)",
        "everything.json: item 4 is a str, not an object; skipped"]


def test_a_messy_directory_warns_per_file_and_field_and_keeps_the_rest():
    inv = load_snapshot(SNAPS / "messy")
    assert census(inv)["Node"] == 3
    text = "\n".join(inv.warnings)
    for expected in ("empty.yaml: empty; skipped",
                     "truncated.json: not valid JSON or YAML (line 5",
                     "notes.txt: a document is a str, not a Kubernetes object; skipped",
                     "nodes.yaml: Node node-b: field status.addresses is unreadable ('REDACTED'); ignored",
                     "nodes.yaml: Node node-c: field metadata.labels is unreadable ('<redacted>'); ignored"):
        assert expected in text


def test_kind_is_inferred_from_shape_then_file_name(tmp_path):
    (tmp_path / "globalnetworkpolicies.json").write_text(
        json.dumps({"apiVersion": "v1", "items": [], "kind": "List", "metadata": {"resourceVersion": ""}}))
    (tmp_path / "daemonsets.yaml").write_text("- metadata: {name: calico-node, namespace: kube-system}\n"
                                              "  spec: {template: {spec: {containers: []}}}\n")
    (tmp_path / "calico-node-ds.yaml").write_text("metadata: {name: x}\nspec: {weird: 1}\n")
    inv = load_snapshot(tmp_path)
    assert "calico/GlobalNetworkPolicy" in inv.listed, "an empty list named after its resource means none"
    assert census(inv) == {"DaemonSet": 1}
    assert any(w.startswith("calico-node-ds.yaml: the object (x) has no kind") for w in inv.warnings)


@pytest.mark.parametrize("obj, kind", [
    ({"status": {"nodeInfo": {"kernelVersion": "6.1"}}}, "Node"),
    ({"spec": {"containers": [{"name": "a"}]}}, "Pod"),
    ({"spec": {"replicas": 1, "template": {"spec": {}}}}, "Deployment"),
    ({"spec": {"template": {"spec": {}}}, "status": {"numberReady": 1}}, "DaemonSet"),
    ({"data": {"a": "b"}}, "ConfigMap"),
    ({"type": "Opaque", "data": {"k": "djE="}}, "Secret"),
    ({"spec": {"ports": [{"port": 80}], "clusterIP": "10.96.0.1"}}, "Service"),
    ({"spec": {"cidr": "10.0.0.0/8", "ipipMode": "Always"}}, "calico/IPPool"),
    ({"spec": {"bpfEnabled": True}}, "calico/FelixConfiguration"),
    ({"spec": {"calicoNetwork": {}}}, "Installation"),
    ({"spec": {"podSelector": {}}}, "NetworkPolicy"),
    ({"metadata": {"namespace": "a"}, "spec": {"ingress": []}}, "calico/NetworkPolicy"),
    ({"spec": {"doNotTrack": True, "selector": "all()"}}, "calico/GlobalNetworkPolicy"),
    ({"spec": {"node": "n1", "interfaceName": "eth0"}}, "calico/HostEndpoint"),
    ({"spec": {"colour": "blue"}}, None),
])
def test_shapes(obj, kind):
    assert kinds.from_shape(obj) == kind


def test_qualified_kinds_keep_calico_apart_from_kubernetes():
    assert kinds.qualify("NetworkPolicy", "networking.k8s.io/v1", {}) == "NetworkPolicy"
    assert kinds.qualify("NetworkPolicy", "crd.projectcalico.org/v1", {}) == "calico/NetworkPolicy"
    assert kinds.qualify("NetworkPolicy", "projectcalico.org/v3", {}) == "calico/NetworkPolicy"
    assert kinds.qualify("Node", "crd.projectcalico.org/v1", {}) == "calico/Node"
    assert kinds.qualify("IPPool", None, {}) == "calico/IPPool"


def test_a_json_file_holding_yaml_and_a_yaml_error_midway(tmp_path):
    (tmp_path / "nodes.json").write_text((SNAPS / "eks-bottlerocket.yaml").read_text())
    (tmp_path / "two.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n"
                                       "kind: [unclosed\n")
    inv = load_snapshot(tmp_path)
    assert census(inv) == {"Node": 1, "ConfigMap": 1}
    assert any(w.startswith("two.yaml: YAML error after 1 document(s)") for w in inv.warnings)


def test_binary_files_are_named_and_skipped(tmp_path):
    shutil.copy(SNAPS / "kind.json", tmp_path / "kind.json")
    (tmp_path / "etcd-backup.json").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\x00")
    inv = load_snapshot(tmp_path)
    assert census(inv) == {"Node": 2}
    assert inv.warnings == ["etcd-backup.json: not UTF-8 text; skipped"]


def test_nothing_usable_is_a_one_line_usage_error(tmp_path):
    (tmp_path / "notes.txt").write_text("nothing here\n")
    with pytest.raises(UsageError) as exc:
        load_snapshot(tmp_path)
    msg = str(exc.value)
    assert "\n" not in msg and f"found no Kubernetes objects in snapshot {tmp_path}" in msg
    assert "notes.txt: a document is a str" in msg
    with pytest.raises(UsageError, match="does not exist"):
        load_snapshot(tmp_path / "missing")
