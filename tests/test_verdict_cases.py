"""The verdict nobody can misread (issue 20): each way a run once read as "conformant" when it was
not is reproduced here, and now gives the verdict it should, the same in the exit code,
summary.json, report.html, junit.xml, the bundle and the console's last line."""
import json
import os
import re
import subprocess
import sys
import tarfile

import pytest

from calico_conformance import catalog
from calico_conformance.lab import profiles
from calico_conformance.support import matrix
from calico_conformance.vocabulary import exitcodes
from suite_runner import REPO, html_verdict, junit_verdict, needs_root, verdicts, with_ctrl_c

CLI = [sys.executable, "-m", "calico_conformance.cli"]
TESTS = REPO / "tests"


def run(reports, *args, env=None, timeout=180, cwd=REPO):
    return subprocess.run([*CLI, "run", "--reports-dir", str(reports), *args], cwd=cwd, text=True,
                          capture_output=True, timeout=timeout, env={**os.environ, **(env or {})},
                          preexec_fn=with_ctrl_c)


def record(reports) -> dict:
    return json.loads((reports / "summary.json").read_text())


def last_line(proc) -> str:
    return [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()][-1]


def every_check_id() -> set[str]:
    return set(catalog.load()) | {e.id for e in matrix.load().entries}


def assert_one_verdict(proc, reports, verdict: str, code: int):
    """Exit code, summary.json, report.html, junit.xml and the console agree on ``verdict``."""
    rec = record(reports)
    assert (proc.returncode, rec["verdict"], rec["exit_code"]) == (code, verdict, code), \
        proc.stdout[-2500:] + proc.stderr[-2500:]
    assert html_verdict(reports) == verdict
    assert junit_verdict(reports) == verdict
    assert f"verdict: {verdict.upper()}" in proc.stdout + proc.stderr
    return rec


# ---- partial is not conformant ------------------------------------------------------------

@needs_root
def test_a_selection_of_checks_is_partial_never_conformant(tmp_path):
    """Was: `--lab-dataplane kube-proxy -k support_matrix --bundle b` exited 0, CONFORMANT, a green
    banner, a checkmark in SUMMARY.md, on a cluster that is not even in eBPF mode."""
    reports, bundle = tmp_path / "reports", tmp_path / "bundle"
    proc = run(reports, "--lab-dataplane", "kube-proxy", "-k", "support_matrix", "--bundle", str(bundle))
    rec = assert_one_verdict(proc, reports, "partial", exitcodes.PARTIAL)
    left_out = set(rec["left_out"])
    assert set(catalog.load()) <= left_out, "every packet check is named as left out"
    assert "left out" in rec["why"] and "-k" in rec["why"]
    summary_md = (bundle / "SUMMARY.md").read_text()
    assert "\u2705" not in summary_md and "not a certification" in summary_md
    assert json.loads((bundle / "summary.json").read_text())["verdict"] == "partial"


@needs_root
def test_checks_are_selected_by_their_ids(tmp_path):
    proc = run(tmp_path, "--check", "EBPF-SOURCE-IP", "--check", "EBPF-NO-KUBE-PROXY")
    rec = assert_one_verdict(proc, tmp_path, "partial", exitcodes.PARTIAL)
    assert sorted(c["id"] for c in rec["checks"]) == ["EBPF-NO-KUBE-PROXY", "EBPF-SOURCE-IP"]
    proc = run(tmp_path, "-k", "EBPF-NODEPORT-VXLAN or SUP-KERNEL")
    rec = assert_one_verdict(proc, tmp_path, "partial", exitcodes.PARTIAL)
    # -k matches as pytest does, by substring: SUP-KERNEL-CONFIG too
    assert sorted(c["id"] for c in rec["checks"]) == ["EBPF-NODEPORT-VXLAN", "SUP-KERNEL", "SUP-KERNEL-CONFIG"]


def test_an_unknown_check_id_is_a_usage_error(tmp_path):
    proc = run(tmp_path, "--check", "EBPF-SORCE-IP")
    assert proc.returncode == exitcodes.USAGE
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "EBPF-SOURCE-IP" in lines[0], proc.stderr


@needs_root
def test_deselect_takes_a_node_id_and_the_suite_still_runs(tmp_path):
    """Was: `--deselect conformance/test_nodeport.py` was taken for the suite's path, pytest fell back
    to tests/, and the project's own unit tests were reported as checks: CONFORMANT."""
    proc = run(tmp_path, "--deselect", "conformance/test_nodeport.py")
    rec = assert_one_verdict(proc, tmp_path, "partial", exitcodes.PARTIAL)
    ran = {c["id"] for c in rec["checks"]}
    assert ran <= every_check_id(), f"only the suite's checks are reported: {sorted(ran - every_check_id())}"
    assert {"EBPF-NODEPORT-VXLAN", "EBPF-SOURCE-IP", "EBPF-DSR-DIRECT-RETURN"} <= set(rec["left_out"])
    assert "EBPF-NO-KUBE-PROXY" in ran


def test_a_path_outside_the_suite_is_refused(tmp_path):
    proc = run(tmp_path, "tests/test_decode.py")
    assert proc.returncode == exitcodes.USAGE and "Traceback" not in proc.stderr
    assert "not one of the suite's checks" in proc.stderr


# ---- evidence that cannot vouch is not green -------------------------------------------------

# The fabric drops what the client sends to node1's externalTrafficPolicy: Local NodePort: a host
# firewall in front of the node. node1's capture never sees the SYN.
FABRIC_DROPS_ETP = """#!/bin/sh
set -e
ns=$(python3 -c "import json,sys; print(json.load(sys.stdin)['fabric']['netns'])")
ip netns exec "$ns" nft -f - <<EOF
table bridge cc-firewall {
  chain forward { type filter hook forward priority 0; policy accept;
    ip daddr 172.31.0.11 tcp dport 30081 drop
  }
}
EOF
"""


def _fabric_injector(tmp_path, script_text: str) -> str:
    script = tmp_path / "firewall.sh"
    script.write_text(script_text)
    script.chmod(0o755)
    return str(script)


@needs_root
def test_a_firewall_in_front_of_a_node_cannot_vouch_for_etp_local(tmp_path):
    """Was: on defect-etp-local-ignored, with the fabric dropping the Local NodePort to the ingress
    node, EBPF-ETP-LOCAL passed ("dropped without an answer: kube-proxy's way") although node1's
    capture never saw the SYN."""
    proc = run(tmp_path, "--lab-dataplane", "defect-etp-local-ignored",
               f"--lab-inject={_fabric_injector(tmp_path, FABRIC_DROPS_ETP)}")
    rec = record(tmp_path)
    etp = next(c for c in rec["checks"] if c["id"] == "EBPF-ETP-LOCAL")
    assert etp["outcome"] != "passed", etp
    assert "never reached node1" in etp["reason"] or "not judged" in etp["reason"], etp["reason"]
    assert rec["verdict"] != "conformant" and proc.returncode != 0


# ---- one verdict, whatever happens -----------------------------------------------------------

@needs_root
@pytest.mark.parametrize("at", ["last-check", "sessionfinish", "unconfigure"])
def test_a_late_signal_leaves_one_verdict(tmp_path, at):
    """Was: a run interrupted about a second in exited 130 while summary.json said conformant with
    exit_code 0, and report.html and junit.xml were missing."""
    proc = run(tmp_path, "-p", "interrupt_plugin",
               env={"PYTHONPATH": str(TESTS), "CC_TEST_INTERRUPT_AT": at, "CC_TEST_INTERRUPT_SIGNAL": "INT"})
    rec = record(tmp_path)
    assert proc.returncode == rec["exit_code"], (at, proc.returncode, rec["verdict"], proc.stderr[-2000:])
    assert html_verdict(tmp_path) == rec["verdict"] and junit_verdict(tmp_path) == rec["verdict"]
    assert "Traceback" not in proc.stdout + proc.stderr


@needs_root
@pytest.mark.parametrize("profile", [p for p in profiles.PROFILES if p.startswith("defect-")])
def test_workers_give_the_same_reasons_evidence_and_paths(tmp_path, profile):
    """Was: with -n 2 every failure's reason was the worker banner ("[gw0] linux -- Python ...")."""
    serial = run(tmp_path / "serial", "--lab-dataplane", profile)
    workers = run(tmp_path / "xdist", "--lab-dataplane", profile, "-n", "2")
    a, b = record(tmp_path / "serial"), record(tmp_path / "xdist")
    assert serial.returncode == workers.returncode == a["exit_code"] == b["exit_code"]
    for x, y in zip(sorted(a["checks"], key=lambda c: c["id"]), sorted(b["checks"], key=lambda c: c["id"])):
        assert (x["id"], x["outcome"]) == (y["id"], y["outcome"])
        assert not re.search(r"\[gw\d+\]", y.get("reason", "")), y["reason"]
        assert _steady(x.get("reason", "")) == _steady(y.get("reason", "")), x["id"]
        assert [e["title"] for e in x.get("evidence", [])] == [e["title"] for e in y.get("evidence", [])], x["id"]
        assert bool(x.get("path")) == bool(y.get("path")), x["id"]


def _steady(text: str) -> str:
    """A reason without what differs between any two runs (ports, sequence numbers, times, byte counts,
    checksums in hex)."""
    return re.sub(r"\d+(\.\d+)?", "N", re.sub(r"\b0x[0-9a-f]+\b", "0xN", text))


# ---- a gate CI can use -----------------------------------------------------------------------

def _summary(tmp_path, name, checks, verdict="conformant"):
    path = tmp_path / name
    path.mkdir()
    (path / "summary.json").write_text(json.dumps({"verdict": verdict, "checks": [
        {"id": cid, "outcome": outcome, "reason": ""} for cid, outcome in checks.items()]}))
    return str(path)


def test_compare_exits_non_zero_when_a_check_got_worse(tmp_path):
    a = _summary(tmp_path, "a", {"EBPF-SOURCE-IP": "passed", "EBPF-NO-KUBE-PROXY": "passed"})
    b = _summary(tmp_path, "b", {"EBPF-SOURCE-IP": "failed", "EBPF-NO-KUBE-PROXY": "passed"}, "not conformant")
    c = _summary(tmp_path, "c", {"EBPF-SOURCE-IP": "passed", "EBPF-NO-KUBE-PROXY": "passed"})
    worse = subprocess.run([*CLI, "report", "--compare", a, b], capture_output=True, text=True, timeout=60)
    assert worse.returncode == 1 and "worse" in worse.stdout.lower(), worse.stdout
    same = subprocess.run([*CLI, "report", "--compare", a, c], capture_output=True, text=True, timeout=60)
    assert same.returncode == 0, same.stdout
    better = subprocess.run([*CLI, "report", "--compare", b, a], capture_output=True, text=True, timeout=60)
    assert better.returncode == 0, better.stdout


@pytest.mark.parametrize("damage", ["truncated-tar", "not-json", "empty-file", "json-list"])
def test_compare_reads_a_damaged_bundle_with_one_line(tmp_path, damage):
    good = _summary(tmp_path, "good", {"EBPF-SOURCE-IP": "passed"})
    bad = tmp_path / ("bad.tar.gz" if damage == "truncated-tar" else "bad.json")
    if damage == "truncated-tar":
        with tarfile.open(tmp_path / "whole.tar.gz", "w:gz") as tar:
            tar.add(f"{good}/summary.json", arcname="summary.json")
        bad.write_bytes((tmp_path / "whole.tar.gz").read_bytes()[:40])
    else:
        bad.write_text({"not-json": "{not json", "empty-file": "", "json-list": "[1, 2]"}[damage])
    proc = subprocess.run([*CLI, "report", "--compare", good, str(bad)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == exitcodes.USAGE and "Traceback" not in proc.stderr
    assert len([ln for ln in proc.stderr.splitlines() if ln.strip()]) == 1, proc.stderr


@needs_root
def test_a_bundle_path_that_is_taken_is_refused_before_the_run(tmp_path):
    """Was: a file there ran the whole suite, printed CONFORMANT, then exited 2; a folder of other
    files got a certification bundle mixed with its stale files."""
    taken_file = tmp_path / "notes.txt"
    taken_file.write_text("mine")
    crowded = tmp_path / "crowded"
    crowded.mkdir()
    (crowded / "old-report.html").write_text("stale")
    for dest in (taken_file, crowded):
        proc = run(tmp_path / "reports", "--bundle", str(dest))
        assert proc.returncode == exitcodes.USAGE, proc.stdout[-1500:]
        assert "CONFORMANT" not in proc.stdout + proc.stderr and "building target" not in proc.stdout
        assert len([ln for ln in proc.stderr.splitlines() if ln.strip()]) == 1
    assert taken_file.read_text() == "mine" and sorted(p.name for p in crowded.iterdir()) == ["old-report.html"]


# ---- causes, not symptoms ----------------------------------------------------------------

@needs_root
def test_dependent_failures_name_their_cause(tmp_path):
    """BPF is not active on node1, so NodePort through it is refused and the source IP cannot be
    seen: those failures say so, instead of advising to look for SNAT."""
    run(tmp_path, "--lab-dataplane", "defect-bpf-fallback-node")
    checks = {c["id"]: c for c in record(tmp_path)["checks"]}
    for cid in ("EBPF-NODEPORT-VXLAN", "EBPF-SOURCE-IP"):
        assert checks[cid]["outcome"] == "failed"
        assert "caused by EBPF-BPF-ACTIVE on node1" in checks[cid]["reason"], checks[cid]["reason"]
        assert "SNAT" not in checks[cid].get("remediation", ""), checks[cid]["remediation"]


# ---- usage errors are usage errors -------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["--calico-version", "banana"], "--calico-version banana"),
    (["--lab-dataplan", "kube-proxy"], "--lab-dataplane"),
    (["--lab-nodes", "abc"], "--lab-nodes"),
])
def test_a_usage_error_is_one_line_and_exit_2(tmp_path, args, words):
    proc = run(tmp_path, *args)
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert proc.returncode == exitcodes.USAGE, lines
    assert len(lines) == 1 and words in lines[0], lines
    assert "usage:" not in lines[0]


@needs_root
def test_the_console_names_the_failed_checks_last_and_only_written_reports(tmp_path):
    proc = run(tmp_path, "--lab-dataplane", "defect-snat")
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.strip()]
    assert "EBPF-SOURCE-IP" in lines[-1] and "NOT CONFORMANT" in lines[-1], lines[-3:]
    assert len(lines) == len(set(lines)) or all(lines.count(ln) == 1 for ln in lines if ln.startswith(("report:", "summary:", "junit:")))
    for line in lines:
        if line.startswith(("report: ", "summary: ", "junit: ")):
            assert os.path.exists(line.split(": ", 1)[1]), line
