"""The verdict people gate on is never wrong: summary.json, report.html, junit.xml and the exit code
agree; an interrupted run says so (with and without -n); a failed start leaves nothing stale that
could be read as this run's; two runs cannot share one reports directory."""
import json
import os
import subprocess
import sys
import time

import pytest

from suite_runner import REPO, html_verdict, needs_root, verdicts, with_ctrl_c

CLI = [sys.executable, "-m", "calico_conformance.cli"]
TESTS = REPO / "tests"


def run(reports, *args, env=None, timeout=120):
    return subprocess.run([*CLI, "run", "--reports-dir", str(reports), *args], cwd=REPO, text=True,
                          capture_output=True, timeout=timeout, env={**os.environ, **(env or {})},
                          preexec_fn=with_ctrl_c)


def record(reports):
    path = reports / "summary.json"
    return json.loads(path.read_text()) if path.exists() else None


def gate_passes(reports) -> bool:
    """The README's gate: jq -e '.verdict == "conformant"' reports/summary.json"""
    rec = record(reports)
    return bool(rec) and rec.get("verdict") == "conformant"


@needs_root
@pytest.mark.parametrize("signame", ["INT", "TERM"])
@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["serial", "xdist"])
def test_an_interrupted_run_says_interrupted_everywhere(tmp_path, signame, workers):
    proc = run(tmp_path, "-p", "interrupt_plugin", *workers,
               env={"PYTHONPATH": str(TESTS), "CC_TEST_INTERRUPT_AFTER": "3", "CC_TEST_INTERRUPT_SIGNAL": signame})
    rec = record(tmp_path)
    assert proc.returncode == 130, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert rec["verdict"] == "interrupted" and not gate_passes(tmp_path)
    assert ("SIGTERM" if signame == "TERM" else "Ctrl-C") in rec["why"], rec["why"]
    assert rec["counts"]["not_run"] > 0 and rec["exit_code"] == 130
    assert html_verdict(tmp_path) == "interrupted"
    assert "verdict: interrupted" in proc.stdout.lower()
    assert not list(tmp_path.glob(".*.tmp*")), "no temp files left behind"


@needs_root
def test_a_failed_start_never_leaves_an_earlier_conformant_record(tmp_path):
    proc = run(tmp_path)
    assert proc.returncode == 0 and gate_passes(tmp_path) and html_verdict(tmp_path) == "conformant"
    for args in (["--target", "no-such"], ["--lab-nodes", "1"], ["--lab-inject=exit 3"]):
        proc = run(tmp_path, *args)
        assert proc.returncode == 2, (args, proc.stdout, proc.stderr)
        rec = record(tmp_path)
        assert rec["verdict"] == "incomplete" and "did not start" in rec["why"], (args, rec)
        assert html_verdict(tmp_path) in (None, "incomplete"), args
        assert not (tmp_path / "junit.xml").exists() or verdicts(tmp_path / "junit.xml") == {}, args
        assert not list((tmp_path / "evidence").glob("**/*.pcap")), "old captures are gone"


@needs_root
def test_ctrl_c_at_start_up_is_interrupted_not_stale(tmp_path):
    assert run(tmp_path).returncode == 0
    for workers in ([], ["-n", "2"]):
        # The injector runs while the lab is being built: it sends the run a real SIGINT.
        proc = run(tmp_path, "--lab-inject=kill -INT $PPID; sleep 5", *workers)
        assert proc.returncode == 130, (workers, proc.stdout[-1500:], proc.stderr[-1500:])
        rec = record(tmp_path)
        assert rec["verdict"] == "interrupted" and not gate_passes(tmp_path), rec
        assert html_verdict(tmp_path) in (None, "interrupted")


@needs_root
def test_two_runs_cannot_share_one_reports_directory(tmp_path):
    first = subprocess.Popen([*CLI, "run", "--reports-dir", str(tmp_path), "--lab-inject=sleep 4"],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while not (tmp_path / ".lock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        second = run(tmp_path, "-k", "kube_proxy")
        assert second.returncode == 2
        lines = [line for line in second.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and f"in use by run pid {first.pid}" in lines[0], second.stderr
        assert "Traceback" not in second.stdout + second.stderr
    finally:
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out[-1500:] + err[-1500:]
    assert gate_passes(tmp_path) and not (tmp_path / ".lock").exists()


@needs_root
def test_exit_code_summary_html_and_junit_agree_with_and_without_xdist(tmp_path):
    for name, args, code, verdict in [("ok", [], 0, "conformant"),
                                      ("defect", ["--lab-dataplane", "defect-snat"], 1, "not conformant"),
                                      ("partial", ["-k", "test_dsr"], 6, "partial"),
                                      ("blind", ["--lab-client", "node1"], 4, "incomplete")]:
        for workers in ([], ["-n", "2"]):
            reports = tmp_path / f"{name}{len(workers)}"
            proc = run(reports, *args, *workers)
            rec = record(reports)
            assert (proc.returncode, rec["verdict"], rec["exit_code"]) == (code, verdict, code), \
                (name, workers, proc.stdout[-1500:], proc.stderr[-1500:])
            assert html_verdict(reports) == verdict
            seen = verdicts(reports / "junit.xml")
            assert seen == {c["id"]: c["outcome"] for c in rec["checks"]}


@needs_root
def test_xdist_links_every_capture_of_every_worker_and_leaves_nothing_in_the_cwd(tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    reports = tmp_path / "reports"
    proc = subprocess.run([*CLI, "run", "--reports-dir", str(reports), "-n", "2"], cwd=cwd, text=True,
                          capture_output=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    assert sorted(p.name for p in cwd.iterdir()) == [], "nothing written outside the reports directory"
    html = (reports / "report.html").read_text()
    pcaps = sorted(p.relative_to(reports).as_posix() for p in reports.glob("evidence/**/*.pcap"))
    assert pcaps and all(f'href="{p}"' in html for p in pcaps), pcaps
