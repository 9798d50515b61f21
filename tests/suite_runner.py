"""Run the conformance suite from the project's own tests and read its verdicts from JUnit."""
from __future__ import annotations

import os
import re
import signal
import xml.etree.ElementTree as ET
from pathlib import Path

from calico_conformance.paths import plugin_args

REPO = Path(__file__).resolve().parent.parent
SUITE = REPO / "conformance"

needs_root = __import__("pytest").mark.skipif(os.geteuid() != 0, reason="the lab needs root")


def verdicts(junit: Path) -> dict[str, str]:
    """{check ID: passed | failed | skipped | error} from a JUnit file the suite wrote."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        props = {p.get("name"): p.get("value") for p in case.iter("property")}
        cid = props.get("check_id") or case.get("name")
        if case.find("failure") is not None:
            out[cid] = "failed"
        elif case.find("error") is not None:
            out[cid] = "error"
        elif case.find("skipped") is not None:
            out[cid] = "skipped"
        else:
            out[cid] = "passed"
    return out


def run_suite(pytester, *args: str, select: str | None = None, path: Path = SUITE):
    """In-process run (no interpreter start-up, scapy imported once): (result, verdicts)."""
    junit = pytester.path / "junit.xml"
    junit.unlink(missing_ok=True)
    argv = [*plugin_args(), "-p", "no:cacheprovider", f"--junitxml={junit}",
            f"--evidence-dir={pytester.path / 'evidence'}", *args, str(path)]
    if select:
        argv += ["-k", select]
    result = pytester.runpytest_inprocess(*argv)
    return result, (verdicts(junit) if junit.exists() else {})


def check_count() -> int:
    """How many checks a full run reports: the catalog's EBPF-* checks and the support matrix's SUP-*."""
    from calico_conformance import catalog
    from calico_conformance.support import matrix
    return len(catalog.load()) + len(matrix.load().entries)


def html_verdict(reports: Path) -> str | None:
    """The verdict report.html's banner carries (None: no report)."""
    return _verdict_in(reports / "report.html", r'data-verdict="([a-z ]+)"')


def junit_verdict(reports: Path) -> str | None:
    """The verdict junit.xml's properties carry (None: no junit.xml)."""
    return _verdict_in(reports / "junit.xml", r'<property name="verdict" value="([a-z ]+)"')


def _verdict_in(path: Path, pattern: str) -> str | None:
    if not path.exists():
        return None
    found = re.search(pattern, path.read_text())
    return found.group(1) if found else "?"


def with_ctrl_c() -> None:
    """``preexec_fn`` for a run a test interrupts with SIGINT: a run started from a background job
    (nohup, `cmd &` in a script) inherits SIGINT ignored, as POSIX has it, and would never see the
    Ctrl-C the test sends; a user's run in a terminal has it at its default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
