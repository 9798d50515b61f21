#!/usr/bin/env python3
"""No flakes: run the suite N times as users do and count the runs whose verdicts disagree.

    .venv/bin/python scripts/soak.py [--runs N] [--profile NAME]... [--modes plain,n2,load] [--json FILE]

Each run is `calico-conformance run --lab-dataplane PROFILE` in a fresh process with its own
reports folder. Modes: `plain` (one process, -n 0), `n2` (two xdist workers, -n 2), `load` (one
process while busy-loop processes keep every CPU loaded, at the lowest priority). A run
*disagrees* when any check's verdict differs from what the profile is built to give (the
selftest's rule: the checks in the profile's `breaks` fail, every other passes or is skipped),
or when its exit code is not the one those verdicts call for. The script prints every
disagreement and a table of runs and disagreements per mode and profile; it exits 0 when there
are none, 1 otherwise, 2 without root. Every run's lab is torn down by the run; the script sweeps
the namespaces of any run it had to kill. CPU is shared: the default is 5 runs per mode.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

MODES = {"plain": [], "n2": ["-n", "2"], "load": []}


def cli() -> list[str]:
    script = Path(sys.executable).parent / "calico-conformance"
    return [str(script)] if script.exists() else [sys.executable, "-m", "calico_conformance.cli"]


def verdicts(junit: Path) -> dict[str, str]:
    """{check ID: passed | failed | skipped | error}; the worst of a check's tests stands."""
    rank = {"skipped": 0, "passed": 1, "failed": 2, "error": 3}
    out: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        cid = props.get("check_id") or case.get("name")
        v = ("failed" if case.find("failure") is not None else "error" if case.find("error") is not None
             else "skipped" if case.find("skipped") is not None else "passed")
        if cid not in out or rank[v] > rank[out[cid]]:
            out[cid] = v
    return out


def _burn() -> None:
    os.nice(19)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        pass


@contextlib.contextmanager
def cpu_load(on: bool):
    """Busy loops on every CPU at nice 19: the suite's timing waits must hold on a busy host."""
    procs = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(os.cpu_count() or 1)] if on else []
    for p in procs:
        p.start()
    try:
        yield
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.join(5)


def one_run(profile: str, mode: str, scratch: Path, n: int) -> dict:
    from calico_conformance.commands.selftest import judge
    reports = scratch / f"{mode}-{profile}-{n}"
    argv = [*cli(), "run", "--reports-dir", str(reports), f"--lab-dataplane={profile}", *MODES[mode]]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=300)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        raise
    wall = time.perf_counter() - started
    junit = reports / "junit.xml"
    seen = verdicts(junit) if junit.exists() else {}
    result = judge(profile, seen)
    # run's exit codes: 1 a check failed, 3 only support-matrix (SUP-*) checks failed, 0 none
    want_code = 0 if not result.breaks else 3 if all(c.startswith("SUP-") for c in result.breaks) else 1
    problems = []
    if not seen:
        problems.append(f"no verdicts (exit {proc.returncode})")
    problems += [f"{cid} {seen.get(cid, 'not run')}, expected failed" for cid in result.missed]
    problems += [f"{cid} {seen[cid]}, expected passed or skipped" for cid in result.false_red]
    if seen and proc.returncode != want_code:
        problems.append(f"exit {proc.returncode}, expected {want_code}")
    return {"profile": profile, "mode": mode, "run": n, "wall_s": round(wall, 2), "exit": proc.returncode,
            "verdicts": seen, "problems": problems, "tail": "" if not problems else out[-1500:]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per mode and profile (default: 5)")
    parser.add_argument("--profile", action="append", help="lab profile; repeat for several (default: ebpf-tunnel)")
    parser.add_argument("--modes", default="plain,n2,load", help="comma-separated: plain, n2, load (default: all)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every run as JSON")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("soak.py: the reference lab needs root; run as root", file=sys.stderr)
        return 2
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = [m for m in modes if m not in MODES]
    if unknown or args.runs < 1:
        print(f"soak.py: modes are {', '.join(MODES)} and --runs at least 1 (got {unknown or args.runs})",
              file=sys.stderr)
        return 2
    from calico_conformance.vocabulary.errors import UsageError
    from calico_conformance.lab import profiles, sweeper
    names = args.profile or ["ebpf-tunnel"]
    try:
        for name in names:
            profiles.get(name)
    except UsageError as exc:
        print(f"soak.py: {exc}", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    runs: list[dict] = []
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="cc-soak-") as tmp:
            for mode in modes:
                with cpu_load(mode == "load"):
                    for profile in names:
                        for n in range(args.runs):
                            r = one_run(profile, mode, Path(tmp), n)
                            runs.append(r)
                            mark = "ok" if not r["problems"] else "DISAGREES: " + "; ".join(r["problems"])
                            print(f"{mode:5} {profile} #{n + 1}: {r['wall_s']:.2f} s exit {r['exit']} {mark}",
                                  flush=True)
                            if r["problems"]:
                                print("    " + r["tail"].replace("\n", "\n    "), flush=True)
    except KeyboardInterrupt:
        print("soak.py: interrupted", file=sys.stderr)
        return 130
    finally:
        sweeper.sweep_stale()
    print(f"\nsoak: {len(runs)} runs in {time.perf_counter() - started:.1f} s")
    print(f"  {'mode':6} {'profile':28} {'runs':>5} {'disagreements':>14} {'median wall':>12}")
    for mode in modes:
        for profile in names:
            these = [r for r in runs if r["mode"] == mode and r["profile"] == profile]
            walls = sorted(r["wall_s"] for r in these)
            bad = sum(1 for r in these if r["problems"])
            print(f"  {mode:6} {profile:28} {len(these):>5} {bad:>14} {walls[len(walls) // 2]:>10.2f} s")
    disagreements = sum(1 for r in runs if r["problems"])
    print(f"runs: {len(runs)}  disagreements: {disagreements}")
    if args.json:
        args.json.write_text(json.dumps({"runs": runs, "disagreements": disagreements}, indent=2) + "\n")
    return 0 if disagreements == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
