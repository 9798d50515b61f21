"""The suite as users run it: `calico-conformance run`, its reports, its errors, xdist."""
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from calico_conformance import catalog
from calico_conformance.lab import profiles
from unprivileged import run_as_nobody
from suite_runner import REPO, needs_root, verdicts

CLI = [sys.executable, "-m", "calico_conformance.cli"]


def cli(*args, timeout=120, **kw):
    return subprocess.run([*CLI, *args], cwd=REPO, capture_output=True, text=True, timeout=timeout, **kw)


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    reports = tmp_path_factory.mktemp("reports")
    proc = cli("run", "--reports-dir", str(reports))
    return proc, reports


def test_default_run_passes_and_writes_both_reports(default_run):
    proc, reports = default_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (reports / "junit.xml").is_file() and (reports / "report.html").is_file()
    assert sorted((reports / "evidence").glob("*.pcap")), "captures are kept as evidence"
    assert "It checks the conformance suite itself, not Calico." in proc.stdout


def test_junit_carries_check_ids_statements_and_target_facts(default_run):
    _, reports = default_run
    root = ET.parse(reports / "junit.xml").getroot()
    suite_props = {p.get("name"): p.get("value") for p in root.find("testsuite").find("properties")}
    assert suite_props["target"] == "lab" and suite_props["lab_profile"] == "ebpf-tunnel"
    assert suite_props["felix.vxlan_port"] == "4789"
    assert "checks the conformance suite itself, not Calico" in suite_props["lab_notice"]
    assert set(verdicts(reports / "junit.xml")) >= set(catalog.load())
    # one testcase per check, named by its ID; what it verifies in its output
    for case in root.iter("testcase"):
        if case.get("name") in catalog.load():
            assert "verifies: [" in case.find("system-out").text, case.get("name")


def test_html_report_is_self_contained_and_explains_each_verdict(default_run):
    _, reports = default_run
    html = (reports / "report.html").read_text()
    assert "Reference lab run." in html and "Target facts" in html
    assert "evidence/node1-eth0.pcap" in html           # links to the captures
    assert "VXLAN" in html and "expected" in html      # decoded flows and the verdict table
    assert '<link rel="stylesheet"' not in html         # no external assets


def test_lab_dataplane_list_names_every_profile():
    proc = cli("run", "--lab-dataplane", "list")
    assert proc.returncode == 0
    for name in profiles.PROFILES:
        assert name in proc.stdout


@pytest.mark.parametrize("args, message", [
    (["--lab-dataplane", "no-such"], "unknown lab dataplane 'no-such'"),
    (["--target", "no-such"], "unknown target 'no-such'"),
    (["--lab-nodes", "1"], "--lab-nodes 1: the lab needs 2 to 9 nodes"),
])
def test_bad_input_is_one_clear_line(args, message, tmp_path):
    proc = cli("run", "--reports-dir", str(tmp_path), *args)
    assert proc.returncode == 2
    assert message in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


@needs_root
def test_option_values_are_not_taken_for_test_paths(tmp_path):
    inject = tmp_path / "inject.sh"
    inject.write_text("#!/bin/sh\ncat > /dev/null\n")
    inject.chmod(0o755)
    proc = cli("run", "--reports-dir", str(tmp_path), "--lab-inject", str(inject), "-k", "kube_proxy")
    assert proc.returncode == 6, proc.stdout + proc.stderr      # a selection: partial
    assert "EBPF-NO-KUBE-PROXY" in proc.stdout and "tests/" not in proc.stdout


@needs_root
def test_a_failing_injector_is_a_usage_error_of_the_run(tmp_path):
    proc = cli("run", "--reports-dir", str(tmp_path), "--lab-inject=exit 3")
    assert proc.returncode == 2
    assert "--lab-inject program `exit 3` failed (exit 3)" in proc.stderr


@pytest.mark.parametrize("args, message", [
    (["--target", "kubeconfig", "--kubeconfig", "/nonexistent"], "kubeconfig /nonexistent does not exist"),
    (["--target", "kind", "--kind-bin", "/nonexistent/kind"], "kind"),
])
def test_xdist_runs_refuse_bad_targets_before_workers_start(args, message, tmp_path):
    proc = cli("run", "--reports-dir", str(tmp_path), "-n", "2", *args)
    assert proc.returncode == 2
    assert message in proc.stderr and "crashed" not in proc.stdout


@needs_root
def test_without_root_the_lab_says_so_in_one_line():
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is needed to drop root")
    import tempfile
    tmp_path = __import__("pathlib").Path(tempfile.mkdtemp(prefix="cc-nonroot-"))
    tmp_path.chmod(0o777)   # the unprivileged run writes its reports here
    try:
        _run_unprivileged(tmp_path)
    finally:
        shutil.rmtree(tmp_path, ignore_errors=True)


def _run_unprivileged(tmp_path):
    proc = run_as_nobody([*CLI, "run", "--reports-dir", str(tmp_path), "-p", "no:cacheprovider"],
                         repo=REPO, cwd=REPO, timeout=60, env={**os.environ, "HOME": str(tmp_path)})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "the reference lab needs root" in proc.stdout + proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr


@needs_root
def test_xdist_workers_get_separate_labs(tmp_path):
    proc = cli("run", "--reports-dir", str(tmp_path), "-n", "2", "--lab-dataplane", "ebpf-dsr")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    seen = verdicts(tmp_path / "junit.xml")
    expected = {cid: "passed" for cid in catalog.load()} | {"EBPF-IPV6-NODEPORT": "skipped"}  # IPv4-only
    assert {cid: seen[cid] for cid in catalog.load()} == expected
    root = ET.parse(tmp_path / "junit.xml").getroot()
    names = {p.get("name") for p in root.find("testsuite").find("properties")}
    assert "target" in names, "facts reach the JUnit file from xdist workers too"


def test_catalog_doc_is_up_to_date():
    assert (REPO / "docs" / "checks.md").read_text() == catalog.markdown(catalog.load()), \
        "regenerate with: calico-conformance catalog --markdown > docs/checks.md"


def test_every_check_has_a_catalog_entry():
    import re
    source = "\n".join(p.read_text() for p in (REPO / "conformance").glob("test_*.py"))
    marked = set(re.findall(r'@pytest\.mark\.check\("(EBPF-[A-Z0-9-]+)"\)', source))
    assert marked <= set(catalog.load()), sorted(marked - set(catalog.load()))


def test_every_catalog_check_has_exactly_one_test():
    import re
    source = "\n".join(p.read_text() for p in (REPO / "conformance").glob("test_*.py"))
    for cid, check in catalog.load().items():
        assert len(re.findall(rf'@pytest\.mark\.check\("{cid}"\)', source)) == 1, cid
        assert f"def {check.test}(" in source, check.test
