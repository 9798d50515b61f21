"""`calico-conformance run --bundle`: the certification bundle (reports, captures, node facts, Felix
settings, suite version and options, a PR-comment summary), with no secrets in it even when the
run's options and errors carry them; `calico-conformance report --compare A B`."""
import json
import subprocess
import sys
import tarfile

import pytest

from suite_runner import REPO, needs_root, check_count

CLI = [sys.executable, "-m", "calico_conformance.cli"]
TOKEN = "PLANTED-TOKEN-7f3a9c"
URL_PASSWORD = "PLANTED-URLPASS-51d2"
CERT = "MIIBPLANTEDCERTIFICATEBODYc0ffee"
KUBE_TOKEN = "PLANTED-KUBECONFIG-TOKEN-9e8d"
KUBE_KEY = "UExBTlRFRC1DTElFTlQtS0VZ"
ERROR_PASSWORD = "PLANTED-ERRPASS-33aa"
PLANTED = (TOKEN, URL_PASSWORD, CERT, KUBE_TOKEN, KUBE_KEY, ERROR_PASSWORD)
KUBECONFIG = f"""apiVersion: v1
kind: Config
clusters:
- name: prod
  cluster: {{server: "https://10.0.0.1:6443", certificate-authority-data: {KUBE_KEY}}}
users:
- name: admin
  user: {{token: {KUBE_TOKEN}, client-key-data: {KUBE_KEY}}}
contexts:
- name: prod
  context: {{cluster: prod, user: admin}}
current-context: prod
"""
BUNDLE_FILES = {"summary.json", "report.html", "junit.xml", "SUMMARY.md", "nodes.json", "felix.json", "suite.json"}


def cli(*args, timeout=180):
    return subprocess.run([*CLI, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


def tar_texts(path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    import os
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    tmp = tmp_path_factory.mktemp("bundles")
    kubeconfig = tmp / "kubeconfig"
    kubeconfig.write_text(KUBECONFIG)
    secret_inject = (f"cat >/dev/null; : token={TOKEN} "
                     f"'-----BEGIN CERTIFICATE-----\n{CERT}\n-----END CERTIFICATE-----'")
    good = cli("run", "--reports-dir", str(tmp / "a"), "--bundle", str(tmp / "a.tar.gz"),
               "--kubeconfig", str(kubeconfig), f"--lab-inject={secret_inject}",
               "--release-url", f"https://admin:{URL_PASSWORD}@mirror.example/calico/{{version}}")
    bad = cli("run", "--reports-dir", str(tmp / "b"), "--bundle", str(tmp / "b-bundle"),
              "--lab-dataplane", "defect-snat")
    return tmp, good, bad


def test_the_bundle_holds_every_part(bundles):
    tmp, good, _ = bundles
    assert good.returncode == 0, good.stdout[-1500:] + good.stderr[-1500:]
    files = tar_texts(tmp / "a.tar.gz")
    assert BUNDLE_FILES <= set(files), sorted(files)
    assert any(name.startswith("evidence/") and name.endswith(".pcap") for name in files)
    rec = json.loads(files["summary.json"])
    assert rec["verdict"] == "conformant" and len(rec["checks"]) == check_count()
    for check in rec["checks"]:
        assert {"id", "outcome", "duration_s", "statements", "promise"} <= set(check), check["id"]
        assert check["statements"] and all(s["doc"] and s["versions"] and s["statement"] for s in check["statements"])
        if check["outcome"] == "passed":
            assert check.get("evidence"), f"{check['id']} passed with no evidence"
    assert json.loads(files["nodes.json"])[0]["kernel"]
    assert json.loads(files["felix.json"])["vxlan_port"] == "4789"
    suite = json.loads(files["suite.json"])
    assert suite["version"] and "--kubeconfig" in suite["options"]
    md = files["SUMMARY.md"].decode()
    assert md.startswith("### ") and "**conformant**" in md and "Reference lab run." in md
    # the report inside the bundle links captures inside the bundle, by relative paths
    html = files["report.html"].decode()
    assert 'href="evidence/' in html and str(tmp / "a") not in html


def test_no_secret_reaches_the_bundle_or_the_reports(bundles):
    tmp, good, _ = bundles
    found = {name: [s for s in PLANTED if s.encode() in body] for name, body in tar_texts(tmp / "a.tar.gz").items()}
    assert not any(found.values()), found
    for path in (tmp / "a").rglob("*"):
        if path.is_file():
            body = path.read_bytes()
            assert not [s for s in PLANTED if s.encode() in body], path
    suite = json.loads(tar_texts(tmp / "a.tar.gz")["suite.json"])
    assert any("REDACTED@mirror.example" in o for o in suite["options"])   # masked, still readable


def test_an_injector_s_error_with_a_password_is_redacted_in_the_record(tmp_path):
    import os
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    proc = cli("run", "--reports-dir", str(tmp_path), "--bundle", str(tmp_path / "b"),
               f"--lab-inject=echo 'password={ERROR_PASSWORD}' >&2; exit 3")
    assert proc.returncode == 2
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert ERROR_PASSWORD.encode() not in path.read_bytes(), path


def test_compare_shows_what_changed_check_by_check(bundles):
    tmp, _, bad = bundles
    assert bad.returncode == 1 and (tmp / "b-bundle" / "SUMMARY.md").is_file()
    assert "EBPF-SOURCE-IP" in (tmp / "b-bundle" / "SUMMARY.md").read_text()
    proc = cli("report", "--compare", str(tmp / "a.tar.gz"), str(tmp / "b-bundle"))
    assert proc.returncode == 1, proc.stderr      # a check got worse: the regression gate fails
    out = proc.stdout
    assert "A: " in out and ": conformant" in out and ": not conformant" in out
    assert "lab_profile" in out and "ebpf-tunnel -> defect-snat" in out
    line = next(line for line in out.splitlines() if line.strip().startswith("EBPF-SOURCE-IP"))
    assert "passed -> failed" in line and "WORSE" in line
    assert out.strip().splitlines()[-1] == "worse from A to B: EBPF-SOURCE-IP"
    diff = json.loads(cli("report", "--compare", str(tmp / "a.tar.gz"), str(tmp / "b-bundle"), "-o", "json").stdout)
    assert {c["id"]: (c["a"], c["b"]) for c in diff["checks"]}["EBPF-SOURCE-IP"] == ("passed", "failed")
    assert diff["worse"] == ["EBPF-SOURCE-IP"]


def test_compare_of_something_that_is_not_a_bundle_is_one_line(tmp_path):
    proc = cli("report", "--compare", str(tmp_path / "nope"), str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "cannot read a run's summary.json" in proc.stderr
