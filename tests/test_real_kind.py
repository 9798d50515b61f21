"""Opt-in: the kind target against a REAL kind cluster (Docker, kind and network access to pull
images, or images pre-loaded). Skipped unless CC_REAL_KIND=1; see docs/real-clusters.md.

    CC_REAL_KIND=1 [CC_CALICO_VERSION=v3.31.7] .venv/bin/pytest tests/test_real_kind.py -p no:randomly -s
"""
from __future__ import annotations

import os
import shutil

import pytest

from calico_conformance.targets import kind as kind_target
from tests.apiserver.fixtures import Options

pytestmark = pytest.mark.skipif(
    os.environ.get("CC_REAL_KIND") != "1" or not (shutil.which("kind") and shutil.which("docker")),
    reason="real kind runs are opt-in (CC_REAL_KIND=1) and need kind and Docker")


def test_real_kind_cluster_with_calico_ebpf(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    opts = Options(cluster_name=os.environ.get("CC_KIND_CLUSTER", "cc-selftest"),
                   operator_manifest=os.environ.get("CC_OPERATOR_MANIFEST"),
                   calico_version=os.environ.get("CC_CALICO_VERSION"),      # e.g. v3.31.7; default v3.29.1
                   install_timeout=900.0,
                   workload_timeout=300.0, node_exec="pod", keep_cluster=os.environ.get("CC_KEEP") == "1")
    target = kind_target.create(opts)
    try:
        facts = target.facts()
        assert facts.calico_version and facts.felix.bpf_enabled
        svc = target.nodeport_service()
        ingress = next(n for n in target.nodes() if n.name != svc.backend_node)
        exchange = target.external_client().http_get(ingress.address, svc.node_port, timeout=5)
        assert exchange.ok, exchange.error
    finally:
        target.close()
