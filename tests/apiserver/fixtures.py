"""pytest fixtures around the stand-in, imported by the test modules that use them."""
from __future__ import annotations

import pytest

from tests.apiserver import seeds, sims
from tests.apiserver.fakebin import FakeBin
from tests.apiserver.kubeconfig import write_kubeconfig
from tests.apiserver.server import FakeApiServer


@pytest.fixture
def apiserver():
    server = FakeApiServer().start()
    yield server
    server.stop()


@pytest.fixture
def kubeconfig(apiserver, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))      # kubectl's discovery cache stays in the test
    monkeypatch.delenv("KUBECONFIG", raising=False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    return write_kubeconfig(tmp_path / "kubeconfig", apiserver)


@pytest.fixture
def fakebin(tmp_path, monkeypatch):
    return FakeBin(tmp_path).install(monkeypatch)


class Options:
    """A stand-in for pytest's config in unit-level target tests: getoption(name) like pytest
    (ValueError for an option nobody defined)."""

    DEFAULTS = {"kubeconfig": None, "context": None, "install": False, "keep_install": False, "distro": None,
                "api_server": None, "operator_manifest": str(seeds.OPERATOR_MANIFEST), "calico_manifests": None,
                "pod_cidr": None, "dsr": False, "install_timeout": 5.0, "namespace": "calico-conformance",
                "echo_image": "python:3.12-alpine", "node_agent_image": "nicolaka/netshoot:v0.13",
                "backend_node": None, "workload_timeout": 5.0, "inventory": None,
                "cluster_name": "cc", "keep_cluster": False, "kind_bin": None, "kind_image": None,
                "kind_node_image": None, "kind_workers": 2, "ip_family": "ipv4", "kind_kube_proxy": "none",
                "kind_load_image": None, "node_exec": "docker"}

    def __init__(self, **values):
        self.values = {**self.DEFAULTS, **values}

    def getoption(self, name):
        if name not in self.values:
            raise ValueError(f"no option named {name!r}")
        return self.values[name]


__all__ = ["apiserver", "kubeconfig", "fakebin", "Options", "seeds", "sims", "write_kubeconfig", "FakeApiServer"]
