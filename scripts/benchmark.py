#!/usr/bin/env python3
"""How fast and how big the reference lab is, measured against the project's goals.

    .venv/bin/python scripts/benchmark.py [--quick] [--json FILE] [--vm | --vm-only] [--vm-kernels 5.10,6.1,6.12]
                                          [--real-felix | --real-felix-only] [--real-felix-cold-build]

Goals (developer guide): the whole lab suite under 10 s on 2 cores; lab bring-up under 1 s; a
probed connection under 10 ms median; under 500 MB of memory for a lab run. Also measured: the
selftest (every lab profile, one process), -n 2 against -n 0, and where one run's time goes
(cProfile). With --vm (or --vm-only): the suite inside a guest per kernel (`run --kernel K`): boot
to the suite's start, the suite in the guest against the same suite on the host, and the whole
certification of one kernel against its goal (under 2 minutes), under KVM where it works, else TCG.
With --real-felix: per felix version built, felix's start-to-ready on every node, the suite
against it (goal: under 60 s warm), felix's and the run's memory, `lab build felix` cached (and
into an empty cache with --real-felix-cold-build).

This script prints figures and ratios (measured / goal) and exits 0 whatever they are: speed is
measured here, never asserted in timed tests, which would flake on a busy machine. It needs root
(it builds labs in this process and runs the suite as users do); without root it exits 2.
Every lab is torn down on every exit path, Ctrl-C and SIGTERM included.
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))   # run from a checkout even where the package is not installed

from calico_conformance import netns  # noqa: E402
from calico_conformance.evidence.decode import decode_frame, decode_frames  # noqa: E402
from calico_conformance.vocabulary.frames import CapturePoint  # noqa: E402
from calico_conformance.evidence.pcap import write_pcap  # noqa: E402
from calico_conformance.lab import profiles, sweeper  # noqa: E402
from calico_conformance.lab.topology import PREFIX, LabSpec  # noqa: E402
from calico_conformance.probes.nodeport import pick_ingress, probe_nodeport  # noqa: E402
from calico_conformance.targets.lab import LabTarget  # noqa: E402
from calico_conformance.realcalico import build as felix_builds, versions as felix_versions  # noqa: E402
from calico_conformance.realk8s.cache import Cache, root as cache_root  # noqa: E402
from calico_conformance.vm import host as vm_host  # noqa: E402

GOALS = {"suite_s": 10.0, "bringup_s": 1.0, "connection_s": 0.010, "memory_mb": 500.0}
VM_GOAL_S = 120.0                   # one kernel's emulated-lab certification in a guest (docs/kernels.md)
VM_FELIX_GOAL_S = 300.0             # one kernel's real-felix certification in a guest (issue 22)
REAL_FELIX_SUITE_GOAL_S = 60.0      # the suite against real felix, warm (issue 21)
BATCH_SIZES = (0, 1, 3, 10, 30)     # 0: the batch's fixed cost alone (captures, no connection)
DEFAULT_BATCH = 3                   # the suite's --probe-connections default


@dataclass(frozen=True)
class Reps:
    lab_cycles: int
    profile_cycles: int
    gets: int
    batches: int
    decodes: int
    suite_runs: int
    imports: int


FULL = Reps(lab_cycles=20, profile_cycles=3, gets=200, batches=20, decodes=20, suite_runs=5, imports=5)
QUICK = Reps(lab_cycles=5, profile_cycles=1, gets=50, batches=3, decodes=3, suite_runs=2, imports=1)


# ---- figures ------------------------------------------------------------------------------

class Figures:
    """Every number measured: printed in sections as we go, written to --json at the end."""

    def __init__(self):
        self.metrics: dict[str, dict] = {}
        self.details: dict[str, object] = {}

    def add(self, key: str, label: str, value: float, unit: str, goal: float | None = None) -> None:
        self.metrics[key] = {"label": label, "value": value, "unit": unit, "goal": goal}


def spread(xs: list[float]) -> dict[str, float]:
    xs = sorted(xs)
    p90 = statistics.quantiles(xs, n=10, method="inclusive")[-1] if len(xs) > 1 else xs[0]
    return {"median": statistics.median(xs), "p90": p90, "max": xs[-1], "n": len(xs)}


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms" if seconds < 0.01 else f"{seconds * 1e3:.1f} ms"


def show(value: float, unit: str) -> str:
    if unit == "s":
        return ms(value) if value < 1 else f"{value:.2f} s"
    if unit == "us":
        return f"{value:.1f} µs"
    return f"{value:.0f} MB" if unit == "MB" else f"{value:g} {unit}"


def table(headers: list[str], rows: list[list]) -> None:
    cells = [headers] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for n, row in enumerate(cells):
        print("  " + "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(row, widths))))
        if n == 0:
            print("  " + "  ".join("-" * w for w in widths))


def section(title: str) -> None:
    print(f"\n== {title}", flush=True)


# ---- labs ---------------------------------------------------------------------------------

_lab_numbers = itertools.count(1)


def new_target(profile: str) -> LabTarget:
    # The run id starts with our pid, so `calico-conformance cleanup` can sweep a SIGKILLed benchmark.
    spec = LabSpec(run_id=f"{os.getpid()}-bench{next(_lab_numbers)}")
    return LabTarget(spec, profiles.get(profile))


def lab_cycle(profile: str) -> tuple[float, float]:
    """(bring-up, tear-down) seconds of one lab, as the suite's fixture does them."""
    target = new_target(profile)
    try:
        up = timed(target.up)
    finally:
        down = timed(target.close)
    return up, down


@contextlib.contextmanager
def running_lab(profile: str = profiles.DEFAULT_PROFILE):
    target = new_target(profile)
    try:
        target.up()
        yield target
    finally:
        target.close()


def remove_leftovers() -> None:
    """Belt and braces after any exit: our own namespaces, and those of suite runs we killed."""
    ours = [n for n in netns.list_all() if n.startswith(f"{PREFIX}-{os.getpid()}-")]
    sweeper.delete(ours)
    sweeper.unregister(ours)
    sweeper.sweep_stale()


def warm_imports() -> float:
    """Import now what the lab imports lazily (scapy, for the VLAN trunk's frames and for TCP flag
    names), so no single lab or batch below carries that one-time cost; section 4b shows it."""
    started = time.perf_counter()
    import scapy.layers.inet  # noqa: F401
    import scapy.layers.l2  # noqa: F401
    return time.perf_counter() - started


# ---- 1. bring-up and tear-down --------------------------------------------------------------

def bench_lab_cycles(reps: Reps, figs: Figures) -> None:
    name = profiles.DEFAULT_PROFILE
    section(f"1. Lab bring-up and tear-down: {name}, {reps.lab_cycles} cycles")
    cycles = [lab_cycle(name) for _ in range(reps.lab_cycles)]
    up, down = spread([c[0] for c in cycles]), spread([c[1] for c in cycles])
    table(["", "median", "p90", "max"],
          [[what, ms(s["median"]), ms(s["p90"]), ms(s["max"])] for what, s in
           (("bring-up  LabTarget.up()", up), ("tear-down LabTarget.close()", down))])
    figs.add("bringup_s", f"lab bring-up, {name} (median)", up["median"], "s", GOALS["bringup_s"])
    figs.add("bringup_p90_s", f"lab bring-up, {name} (p90)", up["p90"], "s")
    figs.add("teardown_s", f"lab tear-down, {name} (median)", down["median"], "s")
    figs.details["lab_cycles"] = {"bringup": up, "teardown": down}


def bench_profiles(reps: Reps, figs: Figures) -> None:
    section(f"1b. Bring-up and tear-down per emulated profile ({reps.profile_cycles} each, median; "
            "profiles with real components are measured in their own sections)")
    rows, per_profile = [], {}
    for name in (n for n, p in profiles.PROFILES.items() if not p.real_components):
        cycles = [lab_cycle(name) for _ in range(reps.profile_cycles)]
        up = statistics.median(c[0] for c in cycles)
        down = statistics.median(c[1] for c in cycles)
        per_profile[name] = {"bringup_s": up, "teardown_s": down}
        rows.append([name, ms(up), ms(down)])
    table(["profile", "bring-up", "tear-down"], rows)
    slowest = max(per_profile, key=lambda n: per_profile[n]["bringup_s"])
    figs.add("bringup_slowest_s", f"lab bring-up, slowest profile ({slowest})",
             per_profile[slowest]["bringup_s"], "s", GOALS["bringup_s"])
    figs.details["profiles"] = per_profile


# ---- 2. probed connections ------------------------------------------------------------------

def bench_connections(target: LabTarget, reps: Reps, figs: Figures) -> None:
    section(f"2. One probed connection: LabClient.http_get() to NodePort, {reps.gets} times, no capture")
    client, node = target.external_client(), target.nodes()[0]
    port = target.nodeport_service().node_port
    times = []
    for _ in range(reps.gets):
        started = time.perf_counter()
        exchange = client.http_get(node.address, port)
        times.append(time.perf_counter() - started)
        if not exchange.ok:
            print(f"  warning: a connection failed: {exchange.error}")
    s = spread(times)
    table(["", "median", "p90", "max"], [["kernel TCP + HTTP GET", ms(s["median"]), ms(s["p90"]), ms(s["max"])]])
    figs.add("connection_s", "probed connection, http_get alone (median)", s["median"], "s", GOALS["connection_s"])
    figs.add("connection_p90_s", "probed connection, http_get alone (p90)", s["p90"], "s")
    figs.details["http_get"] = s


def bench_batches(target: LabTarget, reps: Reps, figs: Figures, scratch: Path) -> None:
    section(f"2b. Probe batch probe_nodeport(count=N): 4 captures, decoding, pcaps; {reps.batches} batches each")
    medians, rows = {}, []
    for n in BATCH_SIZES:
        times = [timed(lambda: probe_nodeport(target, count=n, evidence_dir=scratch / f"n{n}"))
                 for _ in range(reps.batches)]
        s = spread(times)
        medians[n] = s["median"]
        rows.append([n, ms(s["median"]), ms(s["p90"]), ms(s["median"] / n) if n else "-"])
    table(["N", "batch median", "batch p90", "per connection"], rows)
    fixed, marginal = medians[0], _slope(medians)
    print(f"  fixed cost per batch (N=0): {ms(fixed)}; marginal cost per connection (slope, N=1..30): {ms(marginal)}")
    figs.add("batch_connection_s", f"probed connection in the default batch (N={DEFAULT_BATCH}, batch/N)",
             medians[DEFAULT_BATCH] / DEFAULT_BATCH, "s", GOALS["connection_s"])
    figs.add("batch_connection_n30_s", "probed connection in a batch of 30 (batch/N)", medians[30] / 30, "s")
    figs.add("batch_fixed_s", "probe batch fixed cost (N=0)", fixed, "s")
    figs.add("batch_marginal_s", "probe batch marginal cost per connection", marginal, "s")
    figs.details["batches"] = {str(n): t for n, t in medians.items()}


def _slope(medians: dict[int, float]) -> float:
    """Least-squares seconds per extra connection over the batches that have connections."""
    pts = [(n, t) for n, t in medians.items() if n]
    mean_n = statistics.mean(n for n, _ in pts)
    mean_t = statistics.mean(t for _, t in pts)
    return (sum((n - mean_n) * (t - mean_t) for n, t in pts)
            / sum((n - mean_n) ** 2 for n, _ in pts))


def batch_phases(target: LabTarget, n: int, out_dir: Path) -> tuple[dict[str, float], dict]:
    """probe_nodeport's steps, timed one by one (same capture points, same calls)."""
    service = target.nodeport_service()
    ingress = pick_ingress(target, service)
    backend = target.node(service.backend_node)
    points = [target.client_capture_point(), CapturePoint(ingress.name, ingress.uplink),
              CapturePoint(backend.name, backend.uplink),
              CapturePoint(backend.name, service.backend_host_iface)]
    client = target.external_client()
    laps, t0 = {}, time.perf_counter()

    def lap(name):
        nonlocal t0
        now = time.perf_counter()
        laps[name], t0 = now - t0, now

    capture = target.start_capture(points)
    lap("open captures (4 points)")
    for _ in range(n):
        client.http_get(ingress.address, service.node_port)
    lap("connections")
    raw = capture.stop()
    lap("stop captures (settle + drain)")
    for p, frames in raw.items():
        decode_frames(frames, point=p)
    lap("decode frames")
    for p, frames in raw.items():
        write_pcap(out_dir / f"{p.slug}.pcap", frames)
    lap("write pcaps")
    return laps, raw


def bench_phases(target: LabTarget, reps: Reps, figs: Figures, scratch: Path) -> dict:
    section(f"2c. Where a batch's time goes (median of {reps.batches} batches)")
    by_n, raw = {}, {}
    for n in (DEFAULT_BATCH, 30):
        runs = [batch_phases(target, n, scratch / f"phases{n}") for _ in range(reps.batches)]
        by_n[n] = {k: statistics.median(r[0][k] for r in runs) for k in runs[0][0]}
        raw = runs[-1][1]
    table(["step", f"N={DEFAULT_BATCH}", "N=30"],
          [[k, ms(by_n[DEFAULT_BATCH][k]), ms(by_n[30][k])] for k in by_n[30]])
    figs.details["batch_phases"] = {str(n): v for n, v in by_n.items()}
    return raw


# ---- 3. decoding ----------------------------------------------------------------------------

def bench_decode(raw: dict, reps: Reps, figs: Figures, scratch: Path) -> None:
    frames = [f for fs in raw.values() for f in fs]
    vxlan = [f for f in frames if decode_frame(f.data).encap]
    plain = [f for f in frames if not decode_frame(f.data).encap]
    section(f"3. Decoding and pcap writing: {len(frames)} frames of a real batch of 30, {reps.decodes} passes")
    rows = []
    for what, subset in (("decode_frames, all", frames), ("decode_frames, VXLAN", vxlan),
                         ("decode_frames, not encapsulated", plain)):
        per = statistics.median(timed(lambda: decode_frames(subset)) for _ in range(reps.decodes)) / len(subset)
        rows.append([what, len(subset), f"{per * 1e6:.1f} µs"])
        if what.endswith("all"):
            figs.add("decode_us_per_frame", "decode_frames per frame", per * 1e6, "us")
    pcap = statistics.median(timed(lambda: write_pcap(scratch / "bench.pcap", frames))
                             for _ in range(reps.decodes)) / len(frames)
    rows.append(["write_pcap", len(frames), f"{pcap * 1e6:.1f} µs"])
    figs.add("pcap_us_per_frame", "write_pcap per frame", pcap * 1e6, "us")
    table(["", "frames", "per frame"], rows)


# ---- 4. the suite as users run it -----------------------------------------------------------

def cli() -> list[str]:
    script = Path(sys.executable).parent / "calico-conformance"
    return [str(script)] if script.exists() else [sys.executable, "-m", "calico_conformance.cli"]


def tree_rss_bytes(root: int) -> int:
    """Resident memory of ``root`` and all its descendants (shared pages counted in each)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    total, todo, page = 0, [root], os.sysconf("SC_PAGE_SIZE")
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            pass
    return total


class TreeSampler(threading.Thread):
    """Peak of tree_rss_bytes, sampled every 20 ms: xdist workers are separate processes, and
    ru_maxrss only tells the largest one."""

    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root, self.peak, self._done = root, 0, threading.Event()

    def run(self):
        while not self._done.wait(0.02):
            self.peak = max(self.peak, tree_rss_bytes(self.root))

    def stop(self) -> int:
        self._done.set()
        self.join()
        return self.peak


@dataclass
class SuiteRun:
    wall_s: float
    returncode: int
    maxrss_mb: float          # the largest single process of the run (kernel's high-water mark)
    tree_peak_mb: float       # all processes of the run together, sampled
    pytest_s: float           # pytest's own session time, from junit.xml
    output: str


def run_suite(extra: list[str], reports: Path) -> SuiteRun:
    argv = [*cli(), "run", "--reports-dir", str(reports), *extra]
    log = reports.with_suffix(".log")
    reports.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        started = time.perf_counter()
        # Own session: a Ctrl-C reaches us alone, and we hand the suite exactly one SIGINT.
        proc = subprocess.Popen(argv, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        try:
            # wait4 gives this child's own rusage; RUSAGE_CHILDREN would mix all earlier runs.
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            stop_suite(proc)
            raise
        finally:
            peak = sampler.stop()
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return SuiteRun(wall, proc.returncode, usage.ru_maxrss / 1024, peak / 2**20,
                    junit_time(reports / "junit.xml"), log.read_text())


def stop_suite(proc: subprocess.Popen) -> None:
    """Interrupt a suite run as Ctrl-C in a terminal does (SIGINT to its whole process group:
    xdist workers and --lab-inject programs too), so it tears its labs down itself."""
    if proc.poll() is not None:
        return
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    sweeper.sweep_stale()    # namespaces of any of its processes that died hard


def junit_time(path: Path) -> float:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return 0.0
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    return float(suite.get("time", 0)) if suite is not None else 0.0


def bench_suite(reps: Reps, figs: Figures, scratch: Path) -> None:
    section(f"4. The whole suite: `calico-conformance run` as a subprocess ({reps.suite_runs} runs, then -n 2)")
    plain = [run_suite([], scratch / f"suite{i}") for i in range(reps.suite_runs)]
    xdist = run_suite(["-n", "2"], scratch / "suite-n2")
    rows = [[f"run #{i + 1}", *_suite_row(r)] for i, r in enumerate(plain)] + [["run -n 2", *_suite_row(xdist)]]
    table(["", "wall", "in pytest", "exit", "max RSS (1 process)", "peak RSS (all processes)"], rows)
    for r in [*plain, xdist]:
        if r.returncode != 0:
            print(f"  warning: a suite run exited {r.returncode}; its last lines:\n"
                  + "\n".join("    " + line for line in r.output.splitlines()[-5:]))
    wall = spread([r.wall_s for r in plain])
    figs.add("suite_s", "whole suite, `calico-conformance run` (median)", wall["median"], "s", GOALS["suite_s"])
    figs.add("suite_n2_s", "whole suite, `calico-conformance run -n 2`", xdist.wall_s, "s", GOALS["suite_s"])
    figs.add("suite_pytest_s", "whole suite, pytest session time (median)",
             statistics.median(r.pytest_s for r in plain), "s")
    figs.add("memory_mb", "peak memory, largest process of a run (max RSS)",
             max(r.maxrss_mb for r in plain), "MB", GOALS["memory_mb"])
    figs.add("memory_n2_mb", "peak memory, all processes of a -n 2 run (sampled RSS sum)",
             xdist.tree_peak_mb, "MB", GOALS["memory_mb"])
    figs.details["suite"] = {"wall": wall, "runs": [_suite_json(r) for r in plain], "n2": _suite_json(xdist)}
    # -n 2 against -n 0: what two workers buy on this host, and what they cost to start
    ratio = xdist.wall_s / wall["median"]
    figs.add("suite_n2_over_n0", "whole suite, wall of -n 2 / wall of -n 0", ratio, "x")
    pytest_plain = statistics.median(r.pytest_s for r in plain)
    print(f"  -n 2 vs -n 0: wall {show(xdist.wall_s, 's')} vs {show(wall['median'], 's')} ({ratio:.2f}x); "
          f"in pytest {show(xdist.pytest_s, 's')} vs {show(pytest_plain, 's')}; outside pytest (start-up, "
          f"workers' imports, reports) {show(xdist.wall_s - xdist.pytest_s, 's')} vs "
          f"{show(wall['median'] - pytest_plain, 's')}. Each worker builds its own lab and pays the "
          "imports again, so two workers only win once the checks outweigh that.")


def _suite_row(r: SuiteRun) -> list:
    return [show(r.wall_s, "s"), show(r.pytest_s, "s"), r.returncode,
            f"{r.maxrss_mb:.0f} MB", f"{r.tree_peak_mb:.0f} MB"]


def _suite_json(r: SuiteRun) -> dict:
    return {"wall_s": r.wall_s, "pytest_s": r.pytest_s, "returncode": r.returncode,
            "maxrss_mb": r.maxrss_mb, "tree_peak_mb": r.tree_peak_mb}


# ---- 4b. start-up and imports ---------------------------------------------------------------

# (metric key, label, code, module to look for in a lab run's import log). The suite's plugin is
# loaded with importlib (`-p calico_conformance.plugin`), which -X importtime does not log: it is simply "yes".
IMPORTS = [
    ("startup_python_s", "python start-up (nothing imported)", "pass", None),
    ("import_pytest_s", "import pytest", "import pytest", "pytest"),
    ("import_pytest_kind_s", "import pytest_kind (auto-loaded pytest plugin)", "import pytest_kind.cluster",
     "pytest_kind.cluster"),
    ("import_scapy_s", "import scapy.layers.inet", "import scapy.layers.inet", "scapy.layers.inet"),
    ("import_kubernetes_s", "import kubernetes", "import kubernetes", "kubernetes"),
    ("import_plugin_s", "import calico_conformance.plugin (pytest + the suite's plugin)", "import calico_conformance.plugin", "yes"),
]


def wall_of(argv: list[str], reps: int) -> float:
    return statistics.median(
        timed(lambda: subprocess.run(argv, cwd=REPO, capture_output=True, timeout=60, check=True))
        for _ in range(reps))


def lab_run_imports(scratch: Path) -> list[tuple[str, float, int]]:
    """(module, cumulative seconds, nesting) for every import of a real lab run. ``-s``: pytest
    would otherwise capture the stderr of imports made inside fixtures and checks."""
    log = scratch / "importtime.txt"
    with open(log, "w") as err:
        subprocess.run([sys.executable, "-X", "importtime", "-m", "calico_conformance.cli", "run", "-s",
                        "--reports-dir", str(scratch / "importtime")], cwd=REPO,
                       stdout=subprocess.DEVNULL, stderr=err, timeout=120)
    found = []
    for line in log.read_text().splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cumulative, name = line.split("|", 2)
            if cumulative.strip().isdigit():
                found.append((name.strip(), int(cumulative) / 1e6, len(name) - len(name.lstrip()) - 1))
    return found


def bench_imports(reps: Reps, figs: Figures, scratch: Path) -> None:
    section(f"4b. Start-up and import cost (fresh interpreter, median of {reps.imports})")
    imported = lab_run_imports(scratch)
    in_run = {name for name, _, _ in imported}
    base = wall_of([sys.executable, "-c", "pass"], reps.imports)
    rows = []
    for key, label, code, module in IMPORTS:
        wall = base if module is None else wall_of([sys.executable, "-c", code], reps.imports)
        seen = module == "yes" or module in in_run
        used = "-" if module is None else ("yes" if seen else "no")
        rows.append([label, ms(wall), ms(wall - base) if module else "-", used])
        figs.add(key, label, wall, "s")
    help_wall = wall_of([*cli(), "--help"], reps.imports)
    rows.append(["calico-conformance --help", ms(help_wall), ms(help_wall - base), "-"])
    figs.add("startup_cli_help_s", "calico-conformance --help", help_wall, "s")
    table(["", "wall", "over bare python", "in a lab run?"], rows)

    top = sorted((i for i in imported if i[2] == 0), key=lambda i: -i[1])[:10]
    print("\n  Top-level imports of a real lab run (python -X importtime, cumulative):")
    table(["module", "import time"], [[name, ms(s)] for name, s, _ in top])
    figs.details["imports_top"] = {name: s for name, s, _ in top}


# ---- 4c. where a suite run's time goes ------------------------------------------------------------

def bench_profile_run(figs: Figures, scratch: Path) -> None:
    """cProfile over one whole `calico-conformance run` (one process, -n 0): profile before
    optimising. Rows are our own functions and the few outside calls that wait."""
    section("4c. Where a suite run's time goes (cProfile of one `calico-conformance run`, cumulative)")
    import pstats
    out = scratch / "run.prof"
    subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), "-m", "calico_conformance.cli", "run",
                    "--reports-dir", str(scratch / "profiled")], cwd=REPO, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=180)
    if not out.exists():
        print("  (no profile written)")
        return
    stats = pstats.Stats(str(out))
    total = max(ct for (_, _, _, ct, _) in stats.stats.values())
    ours = sorted(((ct, tt, nc, f"{f.split('calico_conformance/')[-1]}:{fn}")
                   for (f, _, fn), (_, nc, tt, ct, _) in stats.stats.items()
                   if "calico_conformance" in f and not fn.startswith("<")), reverse=True)
    table(["function (ours)", "cumulative", "own", "calls"], [[w, ms(c), ms(t), n] for c, t, n, w in ours[:15]])
    # what the run spends waiting rather than computing (sleeps, selects, child processes)
    blocking = sorted(((tt, nc, fn) for (f, _, fn), (_, nc, tt, ct, _) in stats.stats.items()
                       if f == "~" and any(w in fn for w in ("sleep", "select", "poll", "waitpid", "acquire"))),
                      reverse=True)
    print(f"\n  Waiting, of {ms(total)} in the main thread:")
    table(["call", "own time", "calls"], [[fn, ms(t), n] for t, n, fn in blocking[:6]])
    figs.add("profiled_run_s", "one suite run under cProfile (main thread)", total, "s")
    figs.details["profile_top"] = {w: c for c, _, _, w in ours[:15]}


# ---- 5. the selftest ------------------------------------------------------------------------------

QUICK_SELFTEST = ("ebpf-tunnel", "defect-snat", "defect-tagged-vlan")


def bench_selftest(quick: bool, figs: Figures) -> None:
    names = [n for n in QUICK_SELFTEST if n in profiles.PROFILES] if quick else list(profiles.PROFILES)
    section(f"5. `calico-conformance selftest`: {len(names)} profiles in one process"
            + (" (--quick: a few)" if quick else ""))
    argv = [*cli(), "selftest", "--json", *[a for n in names for a in ("--profile", n)]]
    started = time.perf_counter()
    proc = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - started
    try:
        doc = json.loads(proc.stdout)
    except ValueError:
        print(f"  selftest gave no JSON (exit {proc.returncode}): {proc.stderr.strip()[-300:]}")
        return
    rows = sorted(doc["profiles"], key=lambda p: -p["seconds"])
    table(["profile", "seconds", "caught", "ok"], [[p["profile"], f"{p['seconds']:.2f}", p["caught"], p["ok"]]
                                                  for p in rows])
    first = doc["profiles"][0]["seconds"] if doc["profiles"] else 0.0
    rest = [p["seconds"] for p in doc["profiles"][1:]]
    print(f"  wall {show(wall, 's')} (exit {proc.returncode}); inside: {doc['seconds']:.2f} s; the first profile "
          f"{first:.2f} s carries the one-time imports (pytest, scapy, the checks); the others "
          f"{statistics.median(rest) if rest else 0:.2f} s median each")
    figs.add("selftest_s", f"selftest, {len(names)} profiles (wall)", wall, "s")
    if rest:
        figs.add("selftest_profile_s", "selftest, one profile after the first (median)", statistics.median(rest), "s")
    figs.details["selftest"] = {"wall_s": wall, "profiles": {p["profile"]: p["seconds"] for p in doc["profiles"]},
                                "ok": doc["ok"]}


# ---- 7. real felix in the lab (--real-felix) --------------------------------------------------

def _bring_ups(profile: str, build, times: int = 3) -> tuple[list, list, list, list]:
    """``times`` lab bring-ups of a real-felix profile: every node ready, each node's start to
    ready, the whole bring-up, felix's peak RSS (MB)."""
    ready, per_node, bringup, felix_rss = [], [], [], []
    for _ in range(times):
        target = LabTarget(LabSpec(run_id=f"{os.getpid()}-bench{next(_lab_numbers)}"), profiles.get(profile),
                           felix_build=build)
        try:
            bringup.append(timed(target.up))
            ready.append(target.lab.timings["felix_ready_s"])
            per_node += list(target.lab.timings["felix_ready_per_node_s"].values())
            felix_rss.append(max(target.lab.real_felix.peak_rss_kb().values()) / 1024)
        finally:
            target.close()
    return ready, per_node, bringup, felix_rss


def bench_real_felix(figs: Figures, scratch: Path, *, cold_build: bool) -> None:
    """Per felix version built: felix's start-to-ready on every node (process start to /readiness,
    routes and programs on every interface: lab/realfelix.py), the whole suite against it as a
    user runs it, its memory, and `lab build felix` warm (and cold into a scratch cache with
    --real-felix-cold-build: a new source tree, the Go caches as they are)."""
    section("7. Real felix in the lab (profile calico-ebpf): start-to-ready, the suite, memory, builds")
    store = Cache(cache_root())
    rows = []
    for tag in felix_versions.SUPPORTED:
        build = felix_builds.installed(store, tag)
        if build is None:
            print(f"  felix {tag}: not built; run `calico-conformance lab build felix --calico-version {tag}`")
            continue
        key = tag.lstrip("v").replace(".", "_")
        ready, per_node, bringup, felix_rss = _bring_ups("calico-ebpf", build)
        ready6 = _bring_ups("calico-ebpf-dual-stack", build)[0]
        run = run_suite(["--lab-dataplane", "calico-ebpf", "--calico-version", tag], scratch / f"felix-{key}")
        warm = wall_of([*cli(), "lab", "build", "felix", "--calico-version", tag], 3)
        row = [tag, show(statistics.median(per_node), "s"), show(statistics.median(ready), "s"),
               show(statistics.median(ready6), "s"), show(statistics.median(bringup), "s"), show(run.wall_s, "s"),
               run.returncode,
               f"{max(felix_rss):.0f} MB", f"{run.tree_peak_mb:.0f} MB", show(warm, "s")]
        figs.add(f"felix_{key}_ready_s", f"felix {tag}: process start to ready, one node (median)",
                 statistics.median(per_node), "s")
        figs.add(f"felix_{key}_all_ready_s", f"felix {tag}: every node ready, parallel start (median)",
                 statistics.median(ready), "s")
        figs.add(f"felix_{key}_bringup_s", f"felix {tag}: whole lab bring-up (median)", statistics.median(bringup), "s")
        figs.add(f"felix_{key}_dual_stack_ready_s", f"felix {tag}: every node ready, dual-stack (median)",
                 statistics.median(ready6), "s")
        figs.add(f"felix_{key}_suite_s", f"felix {tag}: whole suite, `run --lab-dataplane calico-ebpf`", run.wall_s,
                 "s", REAL_FELIX_SUITE_GOAL_S)
        figs.add(f"felix_{key}_rss_mb", f"felix {tag}: one felix's peak RSS", max(felix_rss), "MB")
        figs.add(f"felix_{key}_suite_memory_mb", f"felix {tag}: peak memory of the run, all processes (felix, "
                 "kube-apiserver, etcd included)", run.tree_peak_mb, "MB")
        figs.add(f"felix_{key}_build_warm_s", f"felix {tag}: `lab build felix`, cached", warm, "s")
        if cold_build:
            cold_cache = scratch / f"felix-cache-{key}"
            env = {**os.environ, "CC_CACHE_DIR": str(cold_cache)}
            cold = timed(lambda: subprocess.run([*cli(), "lab", "build", "felix", "--calico-version", tag], cwd=REPO,
                                                env=env, capture_output=True, timeout=3600, check=True))
            figs.add(f"felix_{key}_build_cold_s", f"felix {tag}: `lab build felix` into an empty cache (Go's "
                     "caches as they are)", cold, "s")
            row.append(show(cold, "s"))
        rows.append(row)
    headers = ["felix", "start to ready (node)", "all ready", "dual-stack all ready", "lab bring-up", "suite", "exit", "felix RSS",
               "run peak RSS", "build (cached)"] + (["build (empty cache)"] if cold_build else [])
    if rows:
        table(headers, rows)


# ---- 6. the suite in a guest per kernel (--vm) ----------------------------------------------------

def bench_vm(kernels: list[str], figs: Figures, scratch: Path, felix: str | None = None) -> None:
    """`calico-conformance run --kernel K` per kernel (cached after its first run: the first one
    also downloads and unpacks it, which `prepare` shows), and the same suite on the host; with
    ``felix`` (a tag), the real-felix lab (`--lab-dataplane calico-ebpf --calico-version TAG`)."""
    accel = vm_host.accelerator()
    extra = ["--lab-dataplane", "calico-ebpf", "--calico-version", felix] if felix else []
    what = f"real felix {felix}" if felix else "the suite"
    why = "" if accel.name == "kvm" else f": {accel.why}"
    section(f"{'7' if felix else '6'}. {what[0].upper() + what[1:]} in a guest, one kernel at a time: "
            f"`run --kernel K {' '.join(extra)}` ({accel.label}{why})")
    host_run = (None if felix else figs.metrics.get("suite_s", {}).get("value")) \
        or run_suite(extra, scratch / f"vm-host-{felix}").wall_s
    prefix = f"vm_felix_{felix.replace('.', '_')}_" if felix else "vm_"
    rows = []
    for kernel in kernels:
        reports = scratch / f"vm-{kernel}-{felix}"
        started = time.perf_counter()
        # Own session: a Ctrl-C reaches us alone, and stop_suite hands the run one SIGINT (it stops its guest).
        argv = [*cli(), "run", "--kernel", kernel, *extra, "--quiet", "--reports-dir", str(reports)]
        proc = subprocess.Popen(argv,
                                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        try:
            out, err = proc.communicate(timeout=1800)
        except BaseException:
            stop_suite(proc)
            raise
        wall = time.perf_counter() - started
        try:
            rec = json.loads((reports / "summary.json").read_text())
        except (OSError, ValueError):
            rec = {}
        vm = rec.get("vm") or {}
        if proc.returncode != 0 or not vm.get("suite_s"):
            print(f"  warning: kernel {kernel}: exit {proc.returncode}: {(err or out).strip()[-300:]}")
        if not vm.get("suite_s"):
            continue
        key = prefix.removeprefix("vm_") + kernel.replace(".", "_")
        rows.append([kernel, vm.get("release", "?"), show(vm["prepare_s"], "s"), show(vm["boot_s"], "s"),
                     show(vm["suite_s"], "s"), f"{vm['suite_s'] / host_run:.0f}x", show(vm["total_s"], "s"),
                     show(wall, "s"), f"{vm['qemu_max_rss_mb']:.0f} MB", rec.get("verdict", "?")])
        label = f"kernel {kernel}" + (f", real felix {felix}" if felix else "")
        figs.add(f"vm_{key}_boot_s", f"{label}: qemu start to the suite's start", vm["boot_s"], "s")
        figs.add(f"vm_{key}_suite_s", f"{label}: the suite in the guest", vm["suite_s"], "s")
        figs.add(f"vm_{key}_run_s", f"{label}: `run --kernel {kernel}`, whole (cached kernel)", wall, "s",
                 VM_FELIX_GOAL_S if felix else VM_GOAL_S)
        figs.details[f"vm_{key}"] = {**vm, "wall_s": wall, "exit": proc.returncode, "verdict": rec.get("verdict")}
    table(["kernel", "release", "prepare", "boot", "suite in guest", "vs host", "qemu total", "whole run",
           "qemu max RSS", "verdict"], rows)
    print(f"  the same suite on the host: {show(host_run, 's')} (`calico-conformance run {' '.join(extra)}`, "
          "wall); accelerator "
          f"{accel.label}, {os.cpu_count()} host CPUs")
    figs.details[f"{prefix}host_suite_s"] = host_run


# ---- summary --------------------------------------------------------------------------------

def summary(figs: Figures) -> None:
    section("SUMMARY (ratio = measured / goal; the script measures, it does not gate)")
    rows = []
    for m in figs.metrics.values():
        if m["goal"] is None:
            continue
        ratio = m["value"] / m["goal"]
        rows.append([m["label"], show(m["value"], m["unit"]), show(m["goal"], m["unit"]),
                     f"{ratio:.3f}", "OK" if ratio <= 1 else "OVER"])
    table(["metric", "measured", "goal", "ratio", "status"], rows)


def write_json(path: Path, figs: Figures, quick: bool) -> None:
    doc = {"quick": quick, "host": host(), "goals": GOALS, "metrics": figs.metrics, "details": figs.details}
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"\nfigures written to {path}")


def host() -> dict:
    return {"cpus": os.cpu_count(), "kernel": platform.release(), "python": platform.python_version()}


def _sigterm(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (CI smoke run, ~15 s)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the figures as JSON")
    parser.add_argument("--vm", action="store_true", help="also the suite in a guest per kernel (minutes each)")
    parser.add_argument("--vm-only", action="store_true", help="only the suite in a guest per kernel")
    parser.add_argument("--vm-kernels", default="5.10,6.1,6.12", metavar="K,K",
                        help="the kernels of --vm (default: 5.10,6.1,6.12)")
    parser.add_argument("--vm-felix", metavar="TAG[,TAG]", default="",
                        help="also real felix of these versions in a guest per --vm-kernels kernel (minutes each)")
    parser.add_argument("--real-felix", action="store_true",
                        help="also real felix in the lab, each version built (start-to-ready, the suite, memory, "
                             "builds; about a minute per version)")
    parser.add_argument("--real-felix-only", action="store_true", help="only the real-felix figures")
    parser.add_argument("--real-felix-cold-build", action="store_true",
                        help="with --real-felix: also `lab build felix` into an empty cache (minutes per version)")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("benchmark.py: the reference lab needs root (network namespaces, veth, VXLAN); run as root",
              file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _sigterm)     # SIGTERM tears down like Ctrl-C
    reps = QUICK if args.quick else FULL
    h = host()
    print(f"calico-conformance benchmark ({'quick' if args.quick else 'full'}): "
          f"{h['cpus']} CPUs, kernel {h['kernel']}, Python {h['python']}")
    figs = Figures()
    print(f"(scapy imported up front, once: {ms(warm_imports())}; a real run pays it in its first "
          "probe batch, or in a defect-tagged-vlan bring-up)")
    try:
        with tempfile.TemporaryDirectory(prefix="cc-bench-") as tmp:
            scratch = Path(tmp)
            if not (args.vm_only or args.real_felix_only):
                bench_lab_cycles(reps, figs)
                bench_profiles(reps, figs)
                with running_lab() as target:
                    bench_connections(target, reps, figs)
                    bench_batches(target, reps, figs, scratch)
                    raw = bench_phases(target, reps, figs, scratch)
                bench_decode(raw, reps, figs, scratch)
                bench_suite(reps, figs, scratch)
                bench_imports(reps, figs, scratch)
                bench_profile_run(figs, scratch)
                bench_selftest(args.quick, figs)
            if args.real_felix or args.real_felix_only:
                bench_real_felix(figs, scratch, cold_build=args.real_felix_cold_build)
            if args.vm or args.vm_only:
                bench_vm([k.strip() for k in args.vm_kernels.split(",") if k.strip()], figs, scratch)
            for tag in filter(None, (t.strip() for t in args.vm_felix.split(","))):
                bench_vm([k.strip() for k in args.vm_kernels.split(",") if k.strip()], figs, scratch, felix=tag)
    except KeyboardInterrupt:
        print("\nbenchmark.py: interrupted; labs torn down", file=sys.stderr)
        return 130
    finally:
        remove_leftovers()
    summary(figs)
    if args.json:
        write_json(args.json, figs, args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
