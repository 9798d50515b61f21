"""reports/summary.json: one record of a run that a pipeline can gate on and a certification can
keep: the facts, every check's verdict with its reason, and the overall verdict, the same with or
without xdist, agreeing with the JUnit file."""
import json
import subprocess
import sys

from calico_conformance import catalog
from suite_runner import REPO, needs_root, verdicts


def run(tmp_path, *args):
    proc = subprocess.run([sys.executable, "-m", "calico_conformance.cli", "run", "--reports-dir", str(tmp_path), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    summary = tmp_path / "summary.json"
    return proc, (json.loads(summary.read_text()) if summary.exists() else None)


def outcomes(record) -> dict[str, str]:
    return {c["id"]: c["outcome"] for c in record["checks"]}


@needs_root
def test_a_conformant_lab_run_is_recorded_whole_and_says_it_is_a_lab(tmp_path):
    proc, record = run(tmp_path)
    assert proc.returncode == 0 and record is not None, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert record["schema"] == "calico-conformance/run/v1" and record["verdict"] == "conformant"
    assert record["lab"] is True and "checks the conformance suite itself, not Calico" in record["notice"]
    assert record["target"]["target"] == "lab" and record["target"]["felix.vxlan_port"] == "4789"
    assert [n["name"] for n in record["nodes"]] == ["node1", "node2"]
    assert all(n["kernel"] and n["arch"] and n["os_image"] for n in record["nodes"])
    # the same verdicts as the JUnit file, every catalog check among them
    assert outcomes(record) == verdicts(tmp_path / "junit.xml")
    assert set(catalog.load()) <= set(outcomes(record))
    assert record["counts"]["passed"] + record["counts"]["skipped"] == len(record["checks"])
    for check in record["checks"]:
        assert check["title"] and check["verifies"], check
        assert (check["outcome"] == "skipped") == bool(check["reason"]), check
    dsr = next(c for c in record["checks"] if c["id"] == "EBPF-DSR-DIRECT-RETURN")
    assert dsr["reason"].startswith("not configured: bpfExternalServiceMode is Tunnel")
    kernel = next(c for c in record["checks"] if c["id"] == "SUP-KERNEL")
    assert kernel["severity"] == "ok" and kernel["calico_version_row"].startswith("v3.31")
    # the HTML report opens with the same verdict
    assert "<strong>Verdict: conformant</strong>" in (tmp_path / "report.html").read_text()


@needs_root
def test_a_defect_makes_the_run_not_conformant_and_its_check_comes_first_with_the_reason(tmp_path):
    proc, record = run(tmp_path, "--lab-dataplane", "defect-snat")
    assert proc.returncode == 1 and record["verdict"] == "not conformant"
    first = record["checks"][0]
    assert first["id"] == "EBPF-SOURCE-IP" and first["outcome"] == "failed"
    assert "expectations WRONG" in first["reason"] and "saw workload reports 10.244" in first["reason"], first
    assert record["counts"]["failed"] == sum(1 for c in record["checks"] if c["outcome"] == "failed") >= 1
    html = (tmp_path / "report.html").read_text()
    assert "<strong>Verdict: not conformant</strong>" in html and f"{record['counts']['failed']} failed" in html


@needs_root
def test_a_selection_of_checks_that_could_not_run_is_partial(tmp_path):
    proc, record = run(tmp_path, "-k", "test_dsr")
    assert proc.returncode == 6 and record["verdict"] == "partial" and record["exit_code"] == 6
    assert outcomes(record) == {"EBPF-DSR-DIRECT-RETURN": "skipped"}
    assert "EBPF-NODEPORT-VXLAN" in record["left_out"] and record["selection"] == "-k 'test_dsr'"


@needs_root
def test_a_whole_run_whose_checks_could_not_see_is_incomplete(tmp_path):
    """A client on a node cannot see NodePort forwarding (connect-time load balancing): those
    checks are not judged, so the run proves nothing either way."""
    proc, record = run(tmp_path, "--lab-client", "node1")
    assert proc.returncode == 4 and record["verdict"] == "incomplete" and record["exit_code"] == 4
    assert "could not be judged" in record["why"] and "EBPF-NODEPORT-VXLAN" in record["why"] + str(record["checks"])


@needs_root
def test_xdist_writes_the_same_record(tmp_path):
    _, serial = run(tmp_path / "serial", "--lab-dataplane", "defect-no-vxlan")
    _, parallel = run(tmp_path / "parallel", "--lab-dataplane", "defect-no-vxlan", "-n", "2")
    assert outcomes(parallel) == outcomes(serial) and parallel["verdict"] == serial["verdict"] == "not conformant"
    assert parallel["nodes"] and parallel["target"]["lab_profile"] == "defect-no-vxlan"
