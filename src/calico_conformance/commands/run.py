"""`calico-conformance run`: the conformance suite with reports, i.e. pytest with good defaults."""
from __future__ import annotations

import sys
from pathlib import Path

from calico_conformance.paths import suite_dir

NAME = "run"
HELP = "run the conformance suite and write JUnit + HTML reports (any pytest option works too)"
PASSTHROUGH = True      # the CLI hands over argv untouched: these are pytest's options


USAGE = """usage: calico-conformance run [SUITE OPTIONS] [PYTEST OPTIONS]

Runs the conformance checks against a target and writes reports/junit.xml,
reports/report.html (self-contained), reports/summary.json (one record: facts,
every check's verdict, the overall verdict) and reports/evidence/ (captures).

Common options:
  --target NAME            lab (default: the reference lab on this host), kind, kubeconfig, ssh
  --lab-dataplane NAME     dataplane the lab emulates; `--lab-dataplane list` lists them
  --lab-inject PROGRAM     run PROGRAM with the lab as JSON on stdin before the checks
  --calico-version V       hold the cluster to the documents of this Calico version
  --reports-dir DIR        where reports go (default: reports)
  -k EXPR, -n auto, ...    any pytest option (selection, xdist workers, ...)
  --help-all               every option, with pytest's own

Exit codes: 0 all checks passed or were skipped with a reason, 1 a check failed,
2 usage error or interrupted, 3 internal error.
"""


def configure(parser):   # only for `calico-conformance --help`; argv goes to pytest untouched
    pass


def pytest_args(argv: list[str]) -> list[str]:
    reports = Path("reports")
    args = list(argv)
    if "--reports-dir" in args:
        i = args.index("--reports-dir")
        if i + 1 >= len(args):
            from calico_conformance.errors import UsageError
            raise UsageError("--reports-dir needs a directory")
        reports = Path(args[i + 1])
        del args[i:i + 2]
    # The plugin by name (a no-op where its pytest11 entry point already loaded it), and the
    # settings pyproject.toml gives a clone: an installed copy runs from anywhere, with no ini file.
    defaults = ["-v", "-rfEs", "-p", "no:cacheprovider", "-p", "calico_conformance.plugin",
                "-o", "junit_family=xunit1", "-o", "render_collapsed=none",
                "-W", "ignore::DeprecationWarning:scapy.*"]
    if not any(a.startswith("--junitxml") or a.startswith("--junit-xml") for a in args):
        defaults.append(f"--junitxml={reports / 'junit.xml'}")
    if not any(a.startswith("--html") for a in args):
        defaults += [f"--html={reports / 'report.html'}", "--self-contained-html"]
    if not any(a.startswith("--summary-json") for a in args):
        defaults.append(f"--summary-json={reports / 'summary.json'}")
    # Checks named by path (conformance/test_x.py::test_y) replace the whole suite; any other
    # word is some option's value (`--lab-inject ./inject.sh`), never a place to collect from.
    if not any(_inside_suite(a) for a in args if not a.startswith("-")):
        defaults.append(str(suite_dir()))
    return defaults + args


def _inside_suite(arg: str) -> bool:
    path = Path(arg.split("::")[0]).resolve()
    suite = suite_dir()
    return path.exists() and (path == suite or suite in path.parents)


def run(argv: list[str]) -> int:
    if "-h" in argv or "--help" in argv:
        print(USAGE)
        return 0
    if "--help-all" in argv:
        argv = ["--help"]
    import pytest
    args = pytest_args(argv)
    code = int(pytest.main(args))
    if code == 4:     # pytest's usage error: one exit code for usage errors
        code = 2
    if code == 5:
        print("calico-conformance: error: no checks were collected (check -k / paths)", file=sys.stderr)
        code = 2
    return code
