"""``calico-conformance selftest``: the suite against every reference-lab profile, to prove that
it catches every defect it is built to catch and raises no false red.

Expected verdicts come from the profiles themselves (``lab/profiles.py``): on each profile the
checks named in its ``breaks`` must fail, and every other check must pass or be skipped with a
reason. The profile list is read when the command runs, so a new profile is tested as soon as it
exists. Every profile runs in this one process (pytest in-process, scapy and the checks imported
once), one lab after another, each torn down before the next.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from calico_conformance.lab import profiles
from calico_conformance.paths import plugin_args, suite_dir
from calico_conformance.targets.lab import felix_tag
from calico_conformance.vocabulary.errors import UsageError

NAME = "selftest"
HELP = ("run the suite against every lab profile and show that each defect is caught and no "
        "conformant profile goes red (exit 0 all as expected, 1 a defect missed or a false red, "
        "2 usage error)")

PASSING = ("passed", "skipped")


def configure(parser) -> None:
    parser.add_argument("--profile", action="append", metavar="NAME",
                        help="only this profile; repeat for several (default: every profile, "
                             "`calico-conformance run --lab-dataplane list`)")
    parser.add_argument("--calico-version", metavar="TAG",
                        help="the felix the real-felix profiles (calico-*) run: v3.29.7 (default) or v3.31.7; "
                             "they need `calico-conformance lab build felix`, and say so when it is missing")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON document")
    parser.add_argument("--logs", metavar="DIR",
                        help="keep each profile's pytest output and captures in DIR/PROFILE/ "
                             "(default: a temporary folder, removed at the end)")


@dataclass
class Result:
    """One profile's run, judged against what the profile is built to break."""
    profile: str
    breaks: tuple[str, ...]
    verdicts: dict[str, str] = field(default_factory=dict)      # check ID -> passed/failed/skipped/error
    reasons: dict[str, str] = field(default_factory=dict)       # check ID -> skip reason
    unavailable: str = ""                                       # why the profile could not run
    seconds: float = 0.0

    @property
    def missed(self) -> list[str]:
        """Defects the profile is built to show that no check reported."""
        return [cid for cid in self.breaks if self.verdicts.get(cid) != "failed"]

    @property
    def false_red(self) -> list[str]:
        """Checks that failed (or errored) where the profile breaks nothing of theirs."""
        return sorted(cid for cid, v in self.verdicts.items() if cid not in self.breaks and v not in PASSING)

    @property
    def silent_skips(self) -> list[str]:
        return sorted(cid for cid, v in self.verdicts.items() if v == "skipped" and not self.reasons.get(cid))

    @property
    def ok(self) -> bool:
        return bool(self.unavailable) or not (self.missed or self.false_red or self.silent_skips
                                              or not self.verdicts)

    @property
    def caught(self) -> str:
        if self.unavailable:
            return "n/a"
        if not self.breaks:
            return "-" if self.ok else "FALSE RED"
        if self.missed:
            return "NO"
        return "yes" if self.ok else "yes, FALSE RED"

    def expected(self) -> str:
        return f"fail {', '.join(self.breaks)}; rest pass/skip" if self.breaks else "all pass/skip"

    def actual(self) -> str:
        if self.unavailable:
            return f"not run: {self.unavailable}"
        if not self.verdicts:
            return "no checks ran"
        counts = {v: sum(1 for x in self.verdicts.values() if x == v) for v in ("passed", "skipped", "failed", "error")}
        text = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
        red = sorted(cid for cid, v in self.verdicts.items() if v not in PASSING)
        return text + (f": {', '.join(red)}" if red else "")

    def as_json(self) -> dict:
        return {"profile": self.profile, "breaks": list(self.breaks), "verdicts": self.verdicts,
                "missed": self.missed, "false_red": self.false_red, "silent_skips": self.silent_skips,
                "unavailable": self.unavailable or None, "caught": self.caught, "ok": self.ok,
                "seconds": round(self.seconds, 2)}


def judge(profile: str, verdicts: dict[str, str], reasons: dict[str, str] | None = None, *,
          felix_tag: str | None = None) -> Result:
    """``verdicts`` (check ID -> outcome) of one run of ``profile``, against what it breaks (with
    real felix, what it breaks at that felix's version)."""
    return Result(profile, tuple(profiles.get(profile).breaks_with(felix_tag)), dict(verdicts), dict(reasons or {}))


class _Collector:
    """Each check's outcome, by check ID, as pytest reports it (a pytest plugin object)."""
    _RANK = {"skipped": 0, "passed": 1, "failed": 2, "error": 3}

    def __init__(self):
        self.verdicts: dict[str, str] = {}
        self.reasons: dict[str, str] = {}
        self.usage_error = ""

    def pytest_runtest_logreport(self, report):
        cid = dict(report.user_properties).get("check_id") or report.nodeid
        if report.when == "call":
            outcome = report.outcome
        elif report.failed:
            outcome = "error"
        elif report.skipped:
            outcome = "skipped"
        else:
            return
        if outcome == "skipped":
            longrepr = report.longrepr
            self.reasons[cid] = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr or "")
        # one check ID can stand for several tests (parametrized): the worst outcome stands
        if self._RANK[outcome] >= self._RANK.get(self.verdicts.get(cid, "skipped"), 0) or cid not in self.verdicts:
            self.verdicts[cid] = outcome


def run_profile(profile: str, logs: Path, calico_version: str | None = None) -> Result:
    """The suite against one profile, in this process; its output goes to logs/PROFILE/pytest.log."""

    out_dir = logs / profile
    out_dir.mkdir(parents=True, exist_ok=True)
    collector = _Collector()
    args = [*plugin_args(), "-p", "no:cacheprovider", "-q", "-rfEs", "-W", "ignore::DeprecationWarning",
            f"--lab-dataplane={profile}", f"--evidence-dir={out_dir / 'evidence'}", str(suite_dir())]
    if calico_version and profiles.get(profile).real_felix:
        args.insert(-1, f"--calico-version={calico_version}")
    buffer = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
        code = pytest.main(args, plugins=[collector])
    seconds = time.perf_counter() - started
    text = buffer.getvalue()
    (out_dir / "pytest.log").write_text(text)
    tag = felix_tag(calico_version) if profiles.get(profile).real_felix else None
    result = judge(profile, collector.verdicts, collector.reasons, felix_tag=tag)
    result.seconds = seconds
    if "KeyboardInterrupt" in text:      # Ctrl-C or SIGTERM: pytest tore the lab down; stop here
        raise KeyboardInterrupt("selftest interrupted")
    if int(code) in (2, 3, 4) and not collector.verdicts:
        # the profile could not be brought up here (e.g. real binaries not built): say why
        errors = [line for line in text.splitlines() if line.startswith("ERROR")]
        result.unavailable = (errors[-1].split("calico-conformance: ", 1)[-1] if errors
                              else f"pytest exit {int(code)}")[:200]
    return result


def run(args) -> int:
    if os.geteuid() != 0:
        raise UsageError("selftest builds reference labs (network namespaces), which needs root; "
                         "run it as root")
    names = args.profile or list(profiles.PROFILES)
    for name in names:
        profiles.get(name)           # an unknown name fails before any lab is built
    keep = Path(args.logs) if args.logs else None
    results = []
    with contextlib.ExitStack() as stack:
        logs = keep or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="cc-selftest-")))
        started = time.perf_counter()
        for name in names:
            result = run_profile(name, logs, args.calico_version)
            results.append(result)
            if not args.json:
                print(f"  {name}: {result.caught} ({result.seconds:.1f} s)", file=sys.stderr, flush=True)
            if not result.ok and keep is None:
                _show_failures(logs / name / "pytest.log")
        total = time.perf_counter() - started
    if args.json:
        print(json.dumps({"ok": all(r.ok for r in results), "seconds": round(total, 2),
                          "profiles": [r.as_json() for r in results]}, indent=2))
    else:
        print(table(results))
        print(summary_line(results, total))
        if keep:
            print(f"logs and captures: {keep}")
    return 0 if all(r.ok for r in results) else 1


def table(results: list[Result]) -> str:
    rows = [["PROFILE", "EXPECTED", "ACTUAL", "CAUGHT"]]
    rows += [[r.profile, r.expected(), r.actual(), r.caught] for r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row[:3], widths)) + "  " + row[3] for row in rows]
    for r in results:
        for what, ids in (("missed", r.missed), ("false red", r.false_red), ("skipped without a reason", r.silent_skips)):
            if ids and not r.unavailable:
                lines.append(f"{r.profile}: {what}: {', '.join(ids)}")
    return "\n".join(lines)


def summary_line(results: list[Result], seconds: float) -> str:
    ran = [r for r in results if not r.unavailable]
    defects = [r for r in ran if r.breaks]
    caught = [r for r in defects if not r.missed]
    false_red = [r for r in ran if r.false_red]
    not_run = len(results) - len(ran)
    verdict = "OK" if all(r.ok for r in results) else "FAILED"
    return (f"selftest {verdict}: {len(ran)} profiles run in {seconds:.1f} s; {len(caught)} of "
            f"{len(defects)} defect profiles caught; {len(false_red)} with a false red"
            + (f"; {not_run} not available here" if not_run else ""))


def _show_failures(log: Path) -> None:
    try:
        lines = log.read_text().splitlines()
    except OSError:
        return
    for line in [ln for ln in lines if ln.startswith(("FAILED", "ERROR"))][:10]:
        print(f"    {line[:300]}", file=sys.stderr)
