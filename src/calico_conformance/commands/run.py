"""`calico-conformance run`: the conformance suite with reports, i.e. pytest with good defaults,
one run per reports directory, and one verdict that the exit code, summary.json, report.html,
junit.xml and the bundle agree on, whatever happens (a selection, a failed start, a late signal)."""
from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import pytest

from calico_conformance import suite_options, targets
from calico_conformance.atomic import write_atomic
from calico_conformance.commands import certify
from calico_conformance.paths import plugin_args, suite_dir
from calico_conformance.record import placeholder
from calico_conformance.report.bundle import check_destination, write_bundle
from calico_conformance.reports_dir import ReportsLock, clear_reports
from calico_conformance.suite_options import check_report_files, check_reports_dir
from calico_conformance.vocabulary import exitcodes
from calico_conformance.vocabulary.errors import UsageError

NAME = "run"
HELP = "run the conformance suite and write JUnit + HTML reports (any pytest option works too)"
PASSTHROUGH = True      # the CLI hands over argv untouched: these are pytest's options


USAGE = """usage: calico-conformance run [SUITE OPTIONS] [PYTEST OPTIONS]

Runs the conformance checks against a target and writes reports/junit.xml,
reports/report.html (self-contained), reports/summary.json (one record: facts,
every check's verdict, the overall verdict) and reports/evidence/ (captures).

Common options:
  --target NAME            lab (default: the reference lab on this host), kind, kubeconfig, ssh
  --lab-dataplane NAME     the lab's dataplane; `--lab-dataplane list` lists them. calico-ebpf,
                           calico-ebpf-dsr, calico-ebpf-after-kube-proxy and calico-iptables run
                           real felix built from Calico's source (built on first use, then cached;
                           `calico-conformance lab build --help`); the others emulate Calico
  --lab-inject PROGRAM     run PROGRAM (a shell command line) with the lab as JSON on stdin
  --calico-version V       hold the cluster to the documents of this Calico version; with a
                           real-felix profile, also the felix that runs (v3.29.7, v3.31.7)
  --check ID               run only this check (repeat, or ID,ID); -k matches check IDs too.
                           A selection is a partial run (exit 6), never a certification
  --reports-dir DIR        where reports go (default: reports); one run at a time per directory
  --bundle DIR|FILE.tar.gz also write the certification bundle (reports, captures, node facts,
                           Felix settings, suite version and options, SUMMARY.md), secrets removed;
                           a new path, or an earlier bundle to replace
  --quiet                  print only the verdict line
  --kernel K[,K...]        run inside VMs booted with these kernels (5.10, 6.1, 6.12, a .deb,
                           a directory), one after another; `calico-conformance certify --help`
  -v                       pytest's own output (one line per test, tracebacks)
  -k EXPR, -n auto, ...    any pytest option (selection, xdist workers, ...)
  --help-all               every option, with pytest's own

Exit codes (the same with and without -n; summary.json says the same in `verdict`/`exit_code`):
  0   conformant: every check of the suite ran and passed, or does not apply to this
      cluster and says why (DSR not configured, an IPv4-only cluster)
  1   not conformant: a check failed (whatever was selected)
  2   usage or environment error: bad option, not root, unreachable target, reports
      directory in use, a real component that cannot be built; the run did not start
      (summary.json: incomplete, "did not start")
  3   unsupported cluster: only support-matrix (SUP-*) checks failed
  4   incomplete: a check could not be judged (it could not see: a client on a node,
      unreadable logs) or checks never ran
  6   partial: only a selection of the checks ran (-k, -m, --check, --deselect, a path);
      their outcomes are in the reports, left_out names the rest
  130 interrupted: Ctrl-C or SIGTERM before the verdict was written (summary.json:
      interrupted, with why); a signal after it leaves the verdict and its exit code
"""


def configure(parser):   # only for `calico-conformance --help`; argv goes to pytest untouched
    pass


def _take(args: list[str], name: str) -> str | None:
    """Remove `name VALUE` / `name=VALUE` from args; its value."""
    for i, arg in enumerate(args):
        if arg == name:
            if i + 1 >= len(args) or args[i + 1].startswith("-"):
                raise UsageError(f"{name} needs a value")
            value = args[i + 1]
            del args[i:i + 2]
            return value
        if arg.startswith(name + "="):
            del args[i]
            return arg.split("=", 1)[1]
    return None


def _verbose(args: list[str]) -> bool:
    return any(a in ("-v", "-vv", "-vvv", "--verbose") for a in args)


def split_args(argv: list[str]) -> tuple[list[str], Path, str | None, str]:
    """(pytest's argv, the reports directory, the bundle destination, console mode)."""
    args = list(argv)
    reports = Path(_take(args, "--reports-dir") or "reports")
    bundle = _take(args, "--bundle")
    mode = "lines"
    for quiet in ("--quiet", "-q"):
        while quiet in args:
            args.remove(quiet)
            mode = "quiet"
    if _verbose(args):
        mode = "off"
    return args, reports, bundle, mode


def _pytest_args(args: list[str], paths: list[str], reports: Path, mode: str) -> list[str]:
    # The plugin by name (a no-op where its pytest11 entry point already loaded it), and the
    # settings pyproject.toml gives a clone: an installed copy runs from anywhere, with no ini file.
    # hypothesis (a test dependency) autoloads a pytest plugin the checks never use: ~0.3 s.
    defaults = ["-p", "no:cacheprovider", "-p", "no:hypothesispytest", *plugin_args(),
                "-o", "junit_family=xunit1", "-o", "render_collapsed=none",
                "-W", "ignore::DeprecationWarning:scapy.*"]
    if mode == "off":
        defaults += ["-rfEs"]
    else:
        # our console prints a line per check; pytest keeps its closing count line only
        defaults += ["-q", "--tb=no", "-rN", "-p", "no:warnings", f"--cc-console={mode}"]
        if mode == "quiet":
            defaults += ["-q"]
    defaults += [f"--summary-json={reports / 'summary.json'}", f"--report-html={reports / 'report.html'}",
                 f"--report-junit={reports / 'junit.xml'}"]
    if not any(a.startswith("--evidence-dir") for a in args):
        defaults.append(f"--evidence-dir={reports / 'evidence'}")
    if any(a.startswith("--html") for a in args) and "--self-contained-html" not in args:
        defaults.append("--self-contained-html")      # pytest-html on request, still one file
    if not paths:       # checks named by path (conformance/test_kube_proxy.py) replace the whole suite
        defaults.append(str(suite_dir()))
    return defaults + args


def _evidence_dir(args: list[str]) -> Path | None:
    given = next((a.split("=", 1)[1] for a in args if a.startswith("--evidence-dir=")), None)
    return Path(given) if given else None


def _final_record(reports: Path) -> dict:
    try:
        rec = json.loads((reports / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
    return rec if rec.get("final") and rec.get("exit_code") is not None else {}


def _finish_unstarted(reports: Path, why: str, code: int) -> None:
    """A run that ended before pytest wrote its record: say so, never leave an earlier verdict."""
    if _final_record(reports):
        return
    rec = placeholder(why, exit_code=code)
    if code == exitcodes.INTERRUPTED:
        rec["verdict"], rec["verdict_means"] = "interrupted", "the run was stopped before every check ran"
    write_atomic(reports / "summary.json", json.dumps(rec, indent=2) + "\n")
    (reports / "report.html").unlink(missing_ok=True)
    (reports / "junit.xml").unlink(missing_ok=True)


def run(argv: list[str]) -> int:
    if "-h" in argv or "--help" in argv:
        print(USAGE)
        return 0
    if "--help-all" in argv:
        return int(pytest.main(["-p", "calico_conformance.plugin", "--help"]))
    if certify.wants_kernel(argv):      # the same run inside VMs booted with other kernels (commands/certify.py)
        return certify.run(argv)
    try:
        args, reports, bundle, mode = split_args(argv)
        check_reports_dir(reports)
        lock = ReportsLock(reports).acquire()
    except UsageError as exc:
        print(f"calico-conformance: error: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    try:
        try:
            options = suite_options.parse(args)      # a bad value is one line, not pytest's usage text
            info = targets.info_request(options.getoption("target"), options)
            if info:                                 # a listing (`--lab-dataplane list`), not a run
                print(info)
                return 0
            _prepare(options)
            targets.check(options.getoption("target"), options)   # root, tools, the target's own options
            check_report_files(args)
            if bundle:
                check_destination(Path(bundle))      # refused now, not after the whole run
        except UsageError as exc:
            print(f"calico-conformance: error: {exc}", file=sys.stderr)
            clear_reports(reports, _evidence_dir(args))     # an earlier run's verdict must not stand
            _finish_unstarted(reports, f"the run did not start: {exc}", exitcodes.USAGE)
            return exitcodes.USAGE
        return _run_locked(args, options.paths, reports, bundle, mode)
    except KeyboardInterrupt:
        rec = _final_record(reports)
        if rec:      # the verdict was written before the signal: it stands, with its exit code
            print(f"calico-conformance: interrupted after the verdict was written; it stands "
                  f"({rec['verdict']}, exit {rec['exit_code']})", file=sys.stderr)
            return int(rec["exit_code"])
        _finish_unstarted(reports, "interrupted by Ctrl-C (SIGINT) while the run was starting", exitcodes.INTERRUPTED)
        print("calico-conformance: verdict: INTERRUPTED - while starting (exit 130)", file=sys.stderr)
        return exitcodes.INTERRUPTED
    finally:
        lock.release()


def _prepare(options) -> None:
    """Build what the target runs before its first run here (the lab's real components)."""
    say = lambda line: print(f"calico-conformance: build: {line}", file=sys.stderr, flush=True)
    targets.prepare(options.getoption("target"), options, say)


def _run_locked(args, paths: list[str], reports: Path, bundle: str | None, mode: str) -> int:
    clear_reports(reports, _evidence_dir(args))
    write_atomic(reports / "summary.json",
                 json.dumps(placeholder("the run has not finished (it is running, or it was killed)"), indent=2) + "\n")
    # SIGTERM before pytest installs its own handler is an interruption too, not a silent death.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt("SIGTERM")))
    code = int(pytest.main(_pytest_args(args, paths, reports, mode)))
    rec = _final_record(reports)
    if rec:          # the record's exit code is the verdict's (pytest's own 4 means a usage error)
        code = int(rec["exit_code"])
    elif code == pytest.ExitCode.USAGE_ERROR:
        code = exitcodes.USAGE
    if code == pytest.ExitCode.NO_TESTS_COLLECTED and not rec:
        print("calico-conformance: error: no checks were collected (check -k / --check / paths)", file=sys.stderr)
        code = exitcodes.USAGE
    if code == exitcodes.USAGE:
        _finish_unstarted(reports, "the run did not start: usage or environment error (see the error "
                                   "message; exit 2)", exitcodes.USAGE)
    else:
        _finish_unstarted(reports, f"the run ended without a verdict (pytest exit {code})", code)
    if bundle and rec:
        try:
            print(f"calico-conformance: bundle: {write_bundle(reports, Path(bundle))}")
        except OSError as exc:
            print(f"calico-conformance: error: cannot write the bundle {bundle}: {exc.strerror}; the verdict "
                  f"stands in {reports}", file=sys.stderr)
    return code
