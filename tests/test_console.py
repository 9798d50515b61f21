"""The console of `calico-conformance run`: a line per check with its ID and verdict, progress on
the long phases, the verdict line last; `--quiet` only the verdict line; `-v` pytest's own output.
And the one exit code not covered elsewhere: 3 for an unsupported cluster."""
import json
import re
import subprocess
import sys

from calico_conformance import catalog
from suite_runner import REPO, needs_root, check_count

CLI = [sys.executable, "-m", "calico_conformance.cli"]


def run(reports, *args):
    return subprocess.run([*CLI, "run", "--reports-dir", str(reports), *args], cwd=REPO, capture_output=True,
                          text=True, timeout=180)


@needs_root
def test_a_line_per_check_with_its_id_then_the_verdict(tmp_path):
    proc = run(tmp_path, "--lab-dataplane", "defect-snat")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    verdict_lines = [line for line in lines if line.startswith(("PASS ", "FAIL ", "SKIP "))]
    ids = [line.split()[1] for line in verdict_lines]
    assert len(ids) == check_count() and set(catalog.load()) <= set(ids)
    fail = next(i for i, line in enumerate(lines) if line.startswith("FAIL  EBPF-SOURCE-IP"))
    assert lines[fail + 1].strip().startswith("why: ") and "expectations WRONG" in lines[fail + 1]
    assert lines[fail + 2].strip().startswith("what to do: Something SNATs")
    skip = next(i for i, line in enumerate(lines) if line.startswith("SKIP  EBPF-DSR-DIRECT-RETURN"))
    assert lines[skip + 1].strip().startswith("not configured: bpfExternalServiceMode is Tunnel")
    assert any("building target lab" in line for line in lines) and any("probing NodePort" in line for line in lines)
    last = [line for line in lines if line.startswith("calico-conformance: verdict:")]
    assert last == [f"calico-conformance: verdict: NOT CONFORMANT - 1 of {check_count()} checks failed: EBPF-SOURCE-IP "
                    "(exit 1)"]
    assert lines[-1] == last[0], "the verdict, naming the failed checks, is the last line"
    assert "metadata:" not in proc.stdout and "PASSED" not in proc.stdout and "Traceback" not in proc.stdout
    assert re.search(r"^1 failed, \d+ passed, \d+ skipped in", proc.stdout, re.M)   # pytest's count, for CI log readers


@needs_root
def test_quiet_prints_the_verdict_line_only(tmp_path):
    proc = run(tmp_path, "--quiet")
    assert proc.returncode == 0
    shown = [line for line in proc.stdout.splitlines() if line.strip()]
    assert shown[0].startswith("calico-conformance: verdict: CONFORMANT") and len(shown) <= 2, shown


@needs_root
def test_verbose_is_pytest_s_own_output(tmp_path):
    proc = run(tmp_path, "-v", "-k", "kube_proxy")
    assert proc.returncode == 6           # a selection: partial
    assert "conformance/test_kube_proxy.py::test_kube_proxy_rules_absent_or_tolerated PASSED" in proc.stdout
    assert "calico-conformance: verdict: PARTIAL" in proc.stdout


@needs_root
def test_an_unsupported_cluster_exits_3(tmp_path):
    windows = REPO / "tests" / "data" / "snapshots" / "aks-windows-mixed.json"
    proc = run(tmp_path, f"--lab-objects={windows}")
    rec = json.loads((tmp_path / "summary.json").read_text())
    failed = [c["id"] for c in rec["checks"] if c["outcome"] == "failed"]
    assert failed and all(cid.startswith("SUP-") for cid in failed), failed
    assert (proc.returncode, rec["verdict"], rec["exit_code"]) == (3, "unsupported", 3), proc.stdout[-1500:]
    assert "verdict: UNSUPPORTED" in proc.stdout
