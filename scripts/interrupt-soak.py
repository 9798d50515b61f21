#!/usr/bin/env python3
"""Nothing left behind, ever: interrupt suite runs at random points and count what they leave.

    .venv/bin/python scripts/interrupt-soak.py [--runs N] [--seed S] [--profile NAME]... [--json FILE]

Each iteration starts `calico-conformance run` in its own session and, at a random point of one
of its phases, sends SIGINT, SIGTERM or SIGKILL to its whole process group (as a terminal's
Ctrl-C, CI's cancel or the OOM killer would). The phases are found from the run itself, not
guessed from the clock:

  bring-up   the first of the run's lab namespaces (cclab-<pid>-...) has appeared
  probing    the first check's verdict line has been printed
  teardown   the last check's verdict line ([100%]) has been printed: the lab is being torn down
  reporting  the last verdict is out and the lab's namespaces are gone: reports are being written

After a SIGKILL the next run is started right away (its start sweeps what the killed one left,
as the README promises); leftovers are counted after that next run. After every iteration the
script counts what the interrupted runs left: network namespaces named after their pids
(`ip netns`), mounts of those namespaces (/proc/mounts), veth interfaces in the root namespace
beyond those present at the start, processes still in the runs' sessions, and files left in the
private TMPDIR each run is given (and in /tmp, files naming a run's pid). It prints one line per
iteration and the totals, and exits 0 when nothing was left, 1 otherwise, 2 without root. CPU is
shared: the default is 5 iterations.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

PHASES = ("bring-up", "probing", "teardown", "reporting")
SIGNALS = {"SIGINT": signal.SIGINT, "SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}
_VERDICT = re.compile(r"\b(PASSED|FAILED|SKIPPED|ERROR)\b")


def cli() -> list[str]:
    script = Path(sys.executable).parent / "calico-conformance"
    return [str(script)] if script.exists() else [sys.executable, "-m", "calico_conformance.cli"]


# ---- what is left ----------------------------------------------------------------------------

def namespaces_of(pids: set[int]) -> list[str]:
    try:
        names = os.listdir("/run/netns")
    except FileNotFoundError:
        return []
    return sorted(n for n in names if any(n.startswith(f"cclab-{pid}-") for pid in pids))


def mounts_of(pids: set[int]) -> list[str]:
    with open("/proc/mounts") as f:
        return [line.split()[1] for line in f if any(f"cclab-{pid}-" in line for pid in pids)]


def root_veths() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True, text=True).stdout
    return {line.split(":", 2)[1].strip().split("@")[0] for line in out.splitlines() if ":" in line}


def processes_in(sessions: set[int]) -> list[str]:
    """Processes still in a run's session (the run was started with start_new_session)."""
    left = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            sid = int(fields[3])
            if sid in sessions and fields[0] != "Z":
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
                left.append(f"{entry} {cmdline[:80]}")
        except (OSError, IndexError, ValueError):
            continue
    return left


def tmp_files(private: list[Path], pids: set[int]) -> list[str]:
    left = [str(p) for d in private if d.exists() for p in d.rglob("*")]
    try:
        left += [f"/tmp/{n}" for n in os.listdir("/tmp") if any(re.search(rf"(?<!\d){pid}(?!\d)", n) for pid in pids)]
    except OSError:
        pass
    return sorted(left)


# ---- one run, interrupted ------------------------------------------------------------------------

class Run:
    def __init__(self, profile: str, scratch: Path, n: int):
        self.tmpdir = scratch / f"tmp-{n}"
        self.tmpdir.mkdir()
        self.reports = scratch / f"reports-{n}"
        env = {**os.environ, "TMPDIR": str(self.tmpdir), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen([*cli(), "run", "--reports-dir", str(self.reports),
                                      f"--lab-dataplane={profile}", "-v"], cwd=REPO, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.pid = self.proc.pid
        self.output = b""
        self.verdicts = 0

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if ready:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            self.output += chunk
            self.verdicts = len(_VERDICT.findall(self.output.decode(errors="replace")))

    def reached(self, phase: str) -> bool:
        text = self.output.decode(errors="replace")
        if phase == "bring-up":
            return bool(namespaces_of({self.pid}))
        if phase == "probing":
            return self.verdicts > 0
        if phase == "teardown":
            return "[100%]" in text
        # reporting: the last verdict is out and the lab is gone, while the process goes on
        return "[100%]" in text and not namespaces_of({self.pid})

    def wait_for(self, phase: str, deadline: float) -> bool:
        while time.monotonic() < deadline:
            if self.reached(phase):
                return True
            if self.proc.poll() is not None:
                self._read(0)
                return self.reached(phase)
            self._read(0.002 if phase == "bring-up" else 0.02)
        return False

    def finish(self, timeout: float = 60) -> int:
        end = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < end:
            self._read(0.05)
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait()
        with contextlib.suppress(OSError):
            self.output += self.proc.stdout.read()
        self.proc.stdout.close()
        return self.proc.returncode


def iteration(rng: random.Random, profile: str, scratch: Path, n: int) -> dict:
    phase, sig = rng.choice(PHASES), rng.choice(list(SIGNALS))
    run = Run(profile, scratch, n)
    reached = run.wait_for(phase, time.monotonic() + 60)
    delay = rng.uniform(0, 0.03 if phase == "bring-up" else 0.15)
    time.sleep(delay)
    ended_before = run.proc.poll() is not None
    if not ended_before:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(run.pid, SIGNALS[sig])
    code = run.finish()
    runs = [run]
    if sig == "SIGKILL":     # the next run sweeps what a SIGKILLed one left
        follow = Run(profile, scratch, n + 10_000)
        follow.finish(120)
        runs.append(follow)
    pids = {r.pid for r in runs}
    time.sleep(0.2)          # let the kernel finish deleting what a run deleted
    return {"phase": phase, "signal": sig, "reached": reached, "delay_ms": round(delay * 1000),
            "ended_before_signal": ended_before, "exit": code, "pid": run.pid,
            "left": {"namespaces": namespaces_of(pids), "mounts": mounts_of(pids),
                     "processes": processes_in(pids), "files": tmp_files([r.tmpdir for r in runs], pids)},
            "tail": run.output.decode(errors="replace")[-600:]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="interrupted runs (default: 5)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (default: printed, from the clock)")
    parser.add_argument("--profile", action="append", help="lab profile(s) to draw from (default: ebpf-tunnel)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write every iteration as JSON")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("interrupt-soak.py: the reference lab needs root; run as root", file=sys.stderr)
        return 2
    from calico_conformance.lab import profiles, sweeper
    names = args.profile or ["ebpf-tunnel"]
    for name in names:
        if name not in profiles.PROFILES:
            print(f"interrupt-soak.py: unknown profile {name!r}; see `calico-conformance run --lab-dataplane list`",
                  file=sys.stderr)
            return 2
    seed = args.seed if args.seed is not None else int(time.time())
    rng = random.Random(seed)
    print(f"interrupt-soak: {args.runs} runs, seed {seed}, profiles {', '.join(names)}")
    veths_before = root_veths()
    results: list[dict] = []
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    scratch = Path(tempfile.mkdtemp(prefix="cc-interrupt-soak-"))
    try:
        for n in range(args.runs):
            r = iteration(rng, rng.choice(names), scratch, n)
            r["left"]["veths"] = sorted(root_veths() - veths_before)
            results.append(r)
            left = {k: v for k, v in r["left"].items() if v}
            when = f"at {r['phase']}" + ("" if r["reached"] else " (never reached)") + f" +{r['delay_ms']} ms"
            if r["ended_before_signal"]:
                when += " (the run had already ended)"
            print(f"#{n + 1:<3} {r['signal']:7} {when:48} exit {r['exit']:<4} "
                  + ("nothing left" if not left else f"LEFT: {left}"), flush=True)
    except KeyboardInterrupt:
        print("interrupt-soak.py: interrupted", file=sys.stderr)
        return 130
    finally:
        # our own mess, whatever happened: runs we started and killed, their folders
        sweeper.delete(namespaces_of({r["pid"] for r in results}))
        shutil.rmtree(scratch, ignore_errors=True)
    totals = {k: sum(len(r["left"][k]) for r in results) for k in ("namespaces", "mounts", "veths", "processes", "files")}
    dirty = sum(1 for r in results if any(r["left"].values()))
    by = {f"{p}/{s}": sum(1 for r in results if r["phase"] == p and r["signal"] == s)
          for p in PHASES for s in SIGNALS}
    print(f"\ninterrupted runs: {len(results)}  with leftovers: {dirty}  "
          + "  ".join(f"{k}: {v}" for k, v in totals.items()))
    print("phase/signal drawn: " + ", ".join(f"{k} {v}" for k, v in by.items() if v))
    if args.json:
        args.json.write_text(json.dumps({"seed": seed, "results": results, "totals": totals}, indent=2) + "\n")
    return 0 if dirty == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
