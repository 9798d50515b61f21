"""scripts/benchmark.py measures (it never gates): a --quick run exits 0, prints the summary of
every goal, and writes every figure to --json as a positive number."""
import json
import os
import subprocess
import sys

import pytest

from suite_runner import REPO, needs_root

SCRIPT = REPO / "scripts" / "benchmark.py"
GOAL_METRICS = {"suite_s", "suite_n2_s", "bringup_s", "bringup_slowest_s", "connection_s",
                "batch_connection_s", "memory_mb", "memory_n2_mb"}


@needs_root
def test_quick_benchmark_prints_summary_and_writes_positive_figures(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--json", str(out)], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    summary = proc.stdout.split("== SUMMARY", 1)
    assert len(summary) == 2, proc.stdout[-2000:]
    assert "measured" in summary[1] and "ratio" in summary[1]
    assert sum(line.rstrip().endswith((" OK", " OVER")) for line in summary[1].splitlines()) == len(GOAL_METRICS)

    figures = json.loads(out.read_text())
    metrics = figures["metrics"]
    assert GOAL_METRICS <= {k for k, m in metrics.items() if m["goal"]}
    bad = {k: m["value"] for k, m in metrics.items()
           if not isinstance(m["value"], (int, float)) or not m["value"] > 0}
    assert not bad, f"figures that are not positive numbers: {bad}"


def test_benchmark_without_root_exits_2_with_one_line():
    # As root, a fresh user namespace (`unshare -U`) makes the script's euid unprivileged.
    prefix = ["unshare", "-U"] if os.geteuid() == 0 else []
    proc = subprocess.run([*prefix, sys.executable, str(SCRIPT), "--quick"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    if prefix and "unshare failed" in proc.stderr:
        pytest.skip(f"cannot make a user namespace here: {proc.stderr.strip()}")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1 and "root" in proc.stderr
