"""`calico-conformance selftest`: every profile's defect caught, no false red, judged from the
profiles' own `breaks`; a missed defect or a false red fails it."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from calico_conformance.commands.selftest import judge, summary_line, table
from calico_conformance.lab import profiles
from suite_runner import REPO, needs_root
from unprivileged import run_as_nobody

CLI = [sys.executable, "-m", "calico_conformance.cli"]


def selftest(*args, timeout=300):
    return subprocess.run([*CLI, "selftest", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def snat_run():
    """One real run of a defect profile, as the selftest reports it."""
    if os.geteuid() != 0:
        pytest.skip("the lab needs root")
    proc = selftest("--profile", "defect-snat", "--profile", "ebpf-tunnel", "--json")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return {p["profile"]: p for p in json.loads(proc.stdout)["profiles"]}


@needs_root
def test_a_defect_profile_is_caught_and_a_conformant_one_stays_green(snat_run):
    snat, tunnel = snat_run["defect-snat"], snat_run["ebpf-tunnel"]
    assert snat["verdicts"]["EBPF-SOURCE-IP"] == "failed" and snat["caught"] == "yes" and snat["ok"]
    assert tunnel["caught"] == "-" and tunnel["ok"] and not tunnel["false_red"]
    assert all(v in ("passed", "skipped") for v in tunnel["verdicts"].values())
    assert len(tunnel["verdicts"]) > 10          # the support-matrix checks too, not only the six


@needs_root
def test_the_same_verdicts_under_the_wrong_expectations_fail_the_selftest(snat_run):
    verdicts = snat_run["defect-snat"]["verdicts"]
    as_if_conformant = judge("ebpf-tunnel", verdicts)
    assert not as_if_conformant.ok and as_if_conformant.false_red == ["EBPF-SOURCE-IP"]
    assert as_if_conformant.caught == "FALSE RED"
    as_if_vni_defect = judge("defect-vxlan-vni", verdicts)
    assert not as_if_vni_defect.ok and as_if_vni_defect.missed == ["EBPF-NODEPORT-VXLAN"]
    assert as_if_vni_defect.caught == "NO"
    text = table([as_if_conformant, as_if_vni_defect])
    assert "ebpf-tunnel: false red: EBPF-SOURCE-IP" in text and "defect-vxlan-vni: missed: EBPF-NODEPORT-VXLAN" in text
    assert summary_line([as_if_conformant, as_if_vni_defect], 1.0).startswith("selftest FAILED")


def test_a_skip_without_a_reason_and_an_error_are_not_green():
    breaks = profiles.get("defect-snat").breaks
    result = judge("defect-snat", {**{cid: "failed" for cid in breaks}, "SUP-X": "skipped", "SUP-Y": "error"},
                   reasons={"SUP-X": ""})
    assert result.silent_skips == ["SUP-X"] and result.false_red == ["SUP-Y"] and not result.ok


def test_no_checks_at_all_is_not_green():
    assert not judge("ebpf-tunnel", {}).ok


def test_every_profile_declares_only_checks_the_catalog_knows():
    from calico_conformance import catalog
    from calico_conformance.support import matrix
    known = set(catalog.load()) | {e.id for e in matrix.load().entries}   # EBPF-* and SUP-*
    for p in profiles.PROFILES.values():
        assert set(p.breaks) <= known, (p.name, p.breaks)


@needs_root
def test_selftest_prints_the_table_and_exits_0_when_all_is_caught():
    proc = selftest("--profile", "defect-vxlan-vni", "--profile", "ebpf-dsr")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["PROFILE", "EXPECTED", "ACTUAL", "CAUGHT"]
    assert any(line.startswith("defect-vxlan-vni") and line.endswith("yes") for line in lines)
    assert any(line.startswith("ebpf-dsr") and line.rstrip().endswith("-") for line in lines)
    assert "selftest OK: 2 profiles run" in proc.stdout and "1 of 1 defect profiles caught" in proc.stdout


def test_an_unknown_profile_is_one_line():
    proc = selftest("--profile", "nope")
    assert proc.returncode == 2 and "unknown lab dataplane 'nope'" in proc.stderr
    assert proc.stderr.count("\n") == 1


@needs_root
def test_selftest_without_root_is_one_line():
    home = Path(tempfile.mkdtemp(prefix="cc-selftest-"))
    home.chmod(0o777)
    try:
        proc = run_as_nobody([*CLI, "selftest"], repo=REPO, cwd=home, env={**os.environ, "HOME": str(home)},
                             timeout=60)
        assert proc.returncode == 2 and "needs root" in proc.stderr and proc.stderr.count("\n") == 1
    finally:
        shutil.rmtree(home, ignore_errors=True)
