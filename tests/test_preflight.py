"""`calico-conformance preflight`: offline and live, table and JSON, exit codes, bad input."""
from __future__ import annotations

import json
import socket
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import jsonschema
import pytest

from calico_conformance.cli import main
from calico_conformance.support.snapshot import load_snapshot
from tests.apiserver import server as standin
from tests.apiserver.kubeconfig import write_kubeconfig

SNAPS = Path(__file__).resolve().parent / "data" / "snapshots"
SCHEMA = json.loads((Path(__file__).resolve().parents[1] / "src" / "calico_conformance" / "support" /
                     "preflight.schema.json").read_text())


def preflight(capsys, *args: str) -> tuple[int, str, str]:
    rc = main(["preflight", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def preflight_json(capsys, *args: str) -> tuple[int, dict]:
    rc, out, err = preflight(capsys, *args, "--output", "json")
    assert err == ""
    doc = json.loads(out)
    jsonschema.validate(doc, SCHEMA)
    return rc, doc


def two(tmp_path: Path, *names: str) -> Path:
    """Sample files side by side in one snapshot directory."""
    for name in names:
        src = SNAPS / name
        (tmp_path / src.name).write_bytes(src.read_bytes())
    return tmp_path


# ---- offline ---------------------------------------------------------------------------------

def test_a_supported_cluster_exits_0_with_the_detected_version_and_distribution(capsys, tmp_path):
    snap = two(tmp_path, "kind.json", "features/operator-bpf-baseline.yaml")
    rc, doc = preflight_json(capsys, "--snapshot", str(snap))
    assert rc == 0 and doc["verdict"] == "supported"
    assert doc["distribution"]["name"] == "kind"
    assert doc["calico_version"]["row"] == "v3.29" and doc["calico_version"]["source"] == "detected"
    assert doc["summary"]["unsupported"] == 0
    severities = {f["id"]: f["severity"] for f in doc["findings"]}
    assert severities["SUP-KERNEL"] == "ok" and severities["SUP-DISTRO-LISTED"] == "info"


def test_an_unsupported_cluster_exits_1_and_the_table_says_why_and_what_to_do(capsys):
    rc, out, err = preflight(capsys, "--snapshot", str(SNAPS / "gke-cos.json"))
    assert rc == 1 and err == ""
    assert "verdict: UNSUPPORTED" in out and "distribution: GKE" in out
    block = out[out.index("\nUNSUPPORTED ") + 1:]
    assert "SUP-DISTRO-GKE" in block.splitlines()[0]
    flat = " ".join(out.split())          # the table wraps long lines
    assert "\u201cGKE. This is because of an incompatibility with the GKE CNI plugin.\u201d (older; rule for all versions)" in flat
    assert "do Use another distribution" in flat


def test_the_version_changes_the_verdict(capsys):
    arm = str(SNAPS / "kubeadm-arm64.json")
    rc23, doc23 = preflight_json(capsys, "--snapshot", arm, "--calico-version", "v3.23")
    rc27, doc27 = preflight_json(capsys, "--snapshot", arm, "--calico-version", "3.27.3")
    assert (rc23, doc23["verdict"], rc27, doc27["verdict"]) == (1, "unsupported", 0, "supported")
    assert doc27["calico_version"] == {**doc27["calico_version"], "row": "v3.27", "source": "given",
                                       "detail": "--calico-version 3.27.3"}
    arm64 = next(f for f in doc23["findings"] if f["id"] == "SUP-ARCH-ARM64")
    assert arm64["versions"] == "<= v3.23" and {"doc": "older", "quote": "Other processor architectures."} in arm64["citations"]


def test_no_version_in_the_cluster_means_the_newest(capsys):
    rc, doc = preflight_json(capsys, "--snapshot", str(SNAPS / "kubeadm-ubuntu2004.json"))
    assert doc["calico_version"]["row"] == "v3.31" and doc["calico_version"]["source"] == "default"
    assert rc == 1, "Ubuntu 20.04's 5.4 kernel is below v3.31's 5.10"


def test_unknown_exits_3_and_lists_what_could_not_be_read(capsys):
    rc, out, _ = preflight(capsys, "--snapshot", str(SNAPS / "messy"))
    assert rc == 3 and "verdict: UNKNOWN" in out
    assert "could not read:" in out and "truncated.json: not valid JSON or YAML" in out
    assert "c2VjcmV0" not in out, "a Secret in the dump is never echoed"


def test_a_cluster_info_dump_stream_works_offline(capsys):
    rc, doc = preflight_json(capsys, "--snapshot", str(SNAPS / "cluster-info-dump.txt"))
    assert rc == 0 and doc["distribution"]["name"] == "kubeadm" and doc["calico_version"]["row"] == "v3.26"
    assert doc["warnings"] == []


@pytest.mark.parametrize("args, message", [
    (["--calico-version", "v3.99", "--snapshot", "/nonexistent"],
     "unknown Calico version 'v3.99'; use one of v3.20, v3.21"),
    (["--snapshot", "/nonexistent/dump"], "snapshot /nonexistent/dump does not exist"),
])
def test_usage_errors_exit_2_with_one_line(capsys, args, message):
    rc, out, err = preflight(capsys, *args)
    assert rc == 2 and out == ""
    assert err.startswith("calico-conformance: error: ") and message in err and err.count("\n") == 1


def test_an_empty_snapshot_directory_is_a_usage_error(capsys, tmp_path):
    rc, _, err = preflight(capsys, "--snapshot", str(tmp_path))
    assert rc == 2 and "found no Kubernetes objects" in err and err.count("\n") == 1


def test_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        main(["preflight", "--help"])
    out = capsys.readouterr().out
    assert "1 unsupported, 3 unknown, 2 usage error" in " ".join(out.split())


# ---- live, against a real HTTP stand-in for the API server ----------------------------------

class StandIn(standin.FakeApiServer):
    """Plain HTTP: preflight's reads need no TLS, and the Python client sends its token anyway."""
    def start(self) -> "StandIn":
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (standin._Handler,), {"api": self}))
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self


@pytest.fixture
def apiserver():
    server = StandIn().start()
    yield server
    server.stop()


CRDS = ("installations.operator.tigera.io", "felixconfigurations.crd.projectcalico.org",
        "ippools.crd.projectcalico.org", "clusterinformations.crd.projectcalico.org")
SERVED = {"Node", "ConfigMap", "Service", "Deployment", "Pod", "Installation", "FelixConfiguration",
          "IPPool", "ClusterInformation"}


def seed(server, *names: str) -> None:
    server.seed(*({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
                   "metadata": {"name": crd}, "spec": {}} for crd in CRDS))
    for name in names:
        objs = [o.raw for o in load_snapshot(SNAPS / name).objects]
        server.seed(*(o for o in objs if o.get("kind") in SERVED))


def test_live_reads_the_cluster_without_writing_or_printing_the_token(capsys, apiserver, kubeconfig):
    seed(apiserver, "kind.json", "features/operator-bpf-baseline.yaml")
    rc, doc = preflight_json(capsys, "--kubeconfig", str(kubeconfig))
    assert rc == 0 and doc["verdict"] == "supported" and doc["origin"].startswith("live: http://127.0.0.1:")
    assert doc["distribution"]["name"] == "kind" and doc["calico_version"]["row"] == "v3.29"
    severities = {f["id"]: f["severity"] for f in doc["findings"]}
    # kinds the cluster does not serve (no CRD) mean "none": decided, not unknown
    assert severities["SUP-DONOTTRACK"] == "ok" and severities["SUP-LOG-ACTION"] == "ok"
    assert severities["SUP-API-ENDPOINT"] == "ok" and severities["SUP-MIXED-NODES"] == "ok"
    assert apiserver.writes() == [] and {r.method for r in apiserver.requests} == {"GET"}
    assert apiserver.token not in json.dumps(doc)


def test_live_unsupported_cluster_exits_1(capsys, apiserver, kubeconfig):
    seed(apiserver, "gke-cos.json")
    rc, out, _ = preflight(capsys, "--kubeconfig", str(kubeconfig))
    assert rc == 1 and "SUP-DISTRO-GKE" in out and apiserver.token not in out


def test_a_missing_kubeconfig_is_a_one_line_usage_error(capsys, tmp_path):
    rc, _, err = preflight(capsys, "--kubeconfig", str(tmp_path / "nope"))
    assert rc == 2 and "does not exist" in err and "pass --kubeconfig" not in err and err.count("\n") == 1


def test_an_unreachable_api_is_a_one_line_usage_error(capsys, apiserver, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]          # closed again before the client connects
    kc = write_kubeconfig(tmp_path / "kc", apiserver, server_url=None)
    kc.write_text(kc.read_text().replace(apiserver.url, f"http://127.0.0.1:{port}"))
    rc, _, err = preflight(capsys, "--kubeconfig", str(kc))
    assert rc == 2 and "cannot reach the API server" in err and err.count("\n") == 1
    assert apiserver.token not in err


def test_a_refused_token_is_a_one_line_usage_error(capsys, apiserver, tmp_path):
    kc = write_kubeconfig(tmp_path / "kc", apiserver, token="not-the-token")
    rc, _, err = preflight(capsys, "--kubeconfig", str(kc))
    assert rc == 2 and "refused" in err and "not-the-token" not in err
