"""The kind target's cluster config validates against kind's v1alpha4 config API (a JSON schema
of the fields kind documents, unknown fields rejected), and the kind target's preconditions fail
with one line each: no kind, no docker, a docker client without an engine (as on this machine)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from calico_conformance.targets import kind as kind_target
from calico_conformance.vocabulary.errors import TargetError
from calico_conformance.targets.kindcluster import cluster_config, dump, find_tools
from tests.apiserver.fixtures import Options

SCHEMA = json.loads((Path(__file__).parent / "schemas" / "kind-v1alpha4.schema.json").read_text())


def validate(text: str) -> dict:
    config = yaml.safe_load(text)
    jsonschema.validate(config, SCHEMA)
    return config


def test_default_config_is_valid_and_says_what_the_issue_asks():
    config = validate(dump(kind_target.config_for(Options(), "cc")))
    net = config["networking"]
    assert net["disableDefaultCNI"] is True and net["kubeProxyMode"] == "none"
    assert net["podSubnet"] == "192.168.0.0/16"          # = the Installation's IP pool
    assert [n["role"] for n in config["nodes"]] == ["control-plane", "worker", "worker"]


@pytest.mark.parametrize("values,check", [
    ({"ip_family": "ipv6"}, lambda c: c["networking"]["podSubnet"] == "fd00:10:244::/56"),
    ({"ip_family": "dual"}, lambda c: c["networking"]["podSubnet"] == "192.168.0.0/16,fd00:10:244::/56"),
    ({"kind_workers": 0}, lambda c: len(c["nodes"]) == 1),
    ({"kind_kube_proxy": "ipvs"}, lambda c: c["networking"]["kubeProxyMode"] == "ipvs"),
    ({"kind_node_image": "kindest/node:v1.31.2"}, lambda c: {n["image"] for n in c["nodes"]} == {"kindest/node:v1.31.2"}),
    ({"kind_image": "kindest/node:v1.30.6"}, lambda c: c["nodes"][0]["image"] == "kindest/node:v1.30.6"),
    ({"pod_cidr": ["10.244.0.0/16"]}, lambda c: c["networking"]["podSubnet"] == "10.244.0.0/16"),
], ids=["ipv6", "dual", "single-node", "kube-proxy-ipvs", "node-image", "pytest-kind-image", "pod-cidr"])
def test_variants_are_valid(values, check):
    assert check(validate(dump(kind_target.config_for(Options(**values), "cc"))))


def test_the_schema_catches_what_kind_would_reject():
    bad = cluster_config(name="cc")
    bad["networking"]["kubeProxyMode"] = "userspace"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)
    bad = cluster_config(name="cc")
    bad["networking"]["disableDefaultCni"] = True          # wrong case: kind would refuse the field
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, SCHEMA)


@pytest.mark.parametrize("kwargs,message", [
    ({"ip_family": "ipv5"}, "--ip-family ipv5: choose ipv4, ipv6 or dual"),
    ({"kube_proxy_mode": "userspace"}, "--kind-kube-proxy userspace"),
    ({"workers": 12}, "--kind-workers 12: choose 0 to 9"),
])
def test_bad_options_are_one_line_errors(kwargs, message):
    with pytest.raises(TargetError, match=message):
        cluster_config(name="cc", **kwargs)


def test_missing_kind_binary(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TargetError, match=r"needs the `kind` binary, which is not on PATH; install kind") as err:
        kind_target.create(Options())
    assert "\n" not in str(err.value)


def test_missing_docker(monkeypatch, tmp_path):
    (tmp_path / "kind").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "kind").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TargetError, match=r"needs Docker, and `docker` is not on PATH"):
        find_tools()


@pytest.mark.skipif(not shutil.which("docker"), reason="no docker client on this machine")
def test_docker_client_without_engine(monkeypatch, tmp_path):
    """This build machine has the docker client but no engine: the real client says so."""
    (tmp_path / "kind").write_text("#!/bin/sh\nexit 0\n")
    (tmp_path / "kind").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{Path(shutil.which('docker')).parent}")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(TargetError, match=r"needs a running Docker engine, and `docker info` failed: .*start Docker"):
        find_tools()


def test_fake_engine_down_is_reported(fakebin, monkeypatch):
    monkeypatch.setenv("FAKE_DOCKER_ENGINE", "down")
    with pytest.raises(TargetError, match="Cannot connect to the Docker daemon"):
        find_tools()
    monkeypatch.setenv("FAKE_DOCKER_ENGINE", "up")
    assert find_tools().endswith("/kind")
