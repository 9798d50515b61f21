"""The pytest plugin object that collects a run for its record (``record.py``): the final report of
each check, what was selected, what interrupted the run; at the end it writes summary.json and the
reports rendered from it and sets the run's exit code.

It runs in the process that writes the reports (the xdist controller), from the test reports it
receives, so the record is the same with or without ``-n``."""
from __future__ import annotations

import datetime
import re
import signal
import sys
import threading
from pathlib import Path

import pytest

from calico_conformance import record
from calico_conformance.record import check_id_of

# The line xdist puts before a worker's failure text: "[gw0] linux -- Python 3.11.7 /path/python"
_WORKER_BANNER = re.compile(r"^\[gw\d+\] \S+ -- Python .*\n?")


def _failure_text(report) -> str:
    """The failure as the check wrote it, the same with and without -n."""
    return _WORKER_BANNER.sub("", getattr(report, "longreprtext", "") or "", count=1)


def _reason(report) -> str:
    """The skip reason or the first line of the failure, as the terminal summary shows it."""
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    text = _failure_text(report)
    # A check's own failure (pytrace=False) starts with its headline; an assert has "E " lines.
    asserted = [line[2:].strip() for line in text.splitlines() if line.startswith("E ")]
    plain = [line.strip() for line in text.splitlines() if line.strip()]
    return asserted[0] if asserted else plain[0] if plain else ""


def _details(report) -> str:
    """The whole failure text of a check's own failure (pytrace=False), for the report's card."""
    if not report.failed:
        return ""
    text = _failure_text(report)
    return text if len(text) < 20000 else text[:20000] + "\n..."


class RunSummary:
    """Collects the final report of each check, then writes the record (when given a path) and
    the reports rendered from it, and sets the run's exit code."""

    def __init__(self, path: Path | None, facts_key, *, html: Path | None = None, junit: Path | None = None,
                 evidence_root: Path | None = None, owns_exit: bool = False, options: list[str] | None = None):
        self.path, self.facts_key = path, facts_key
        self.html, self.junit, self.evidence_root = html, junit, evidence_root
        self.owns_exit, self.options = owns_exit, list(options or [])
        self.outcomes = record.Outcomes()
        self.last_record: dict | None = None
        self.started = datetime.datetime.now(datetime.timezone.utc)

    # ---- what was selected ------------------------------------------------------------
    def pytest_collection_finish(self, session):
        for item in session.items:
            marker = item.get_closest_marker("check")
            self.outcomes.expected[item.nodeid] = marker.args[0] if marker else check_id_of(item.nodeid)

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        if not self.outcomes.expected:
            self.outcomes.expected = {nodeid: check_id_of(nodeid) for nodeid in ids}

    def pytest_keyboard_interrupt(self, excinfo):
        text = str(excinfo.value).strip()
        if text == "SIGTERM":
            self.outcomes.interrupted = "interrupted by SIGTERM (a CI cancel or `kill`)"
        elif text and "keyboard-interrupt" not in text:
            self.outcomes.interrupted = f"interrupted: {text}"
        else:
            self.outcomes.interrupted = "interrupted by Ctrl-C (SIGINT)"

    # ---- each check's outcome ---------------------------------------------------------
    def pytest_runtest_logreport(self, report):
        final = report.when == "call" or (report.when == "setup" and not report.passed) or \
            (report.when == "teardown" and report.failed)
        if not final:
            return
        props = dict(report.user_properties)
        cid = props.get("check_id") or self.outcomes.expected.get(report.nodeid) or check_id_of(report.nodeid)
        entry = self.outcomes.checks.setdefault(report.nodeid, {
            "id": cid, "title": props.get("check_title", ""),
            # packet checks cite the catalog's statements; support-matrix checks their rule's
            "verifies": props.get("verifies") or props.get("support_statement", ""),
            "test": report.nodeid})
        for key in ("calico_version_row", "support_severity", "support_note"):
            if key in props:
                entry[key.removeprefix("support_")] = props[key]
        if props.get("support_evidence"):     # what a support-matrix check found, line by line
            entry["found"] = [s for s in str(props["support_evidence"]).split(" | ") if s]
            entry["evidence"] = [{"title": "what the suite found", "kind": "text",
                                  "body": "\n".join(entry["found"]), "capture": None}]
        if props.get("remediation"):
            entry["remediation"] = props["remediation"]
        if getattr(report, "cc_evidence", None):
            entry["evidence"] = report.cc_evidence
        if getattr(report, "cc_path", None):
            entry["path"] = report.cc_path
        if getattr(report, "cc_caused_by", None):
            entry["caused_by"] = report.cc_caused_by
        if entry.get("outcome") == "failed":
            return                                    # a teardown after a failed call keeps the failure
        entry["outcome"] = "failed" if report.failed else report.outcome
        entry["reason"] = _reason(report) if not report.passed else ""
        entry["details"] = _details(report)
        entry["duration_s"] = round(report.duration, 4)

    # ---- the end ----------------------------------------------------------------------
    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and not self.outcomes.expected:
            return          # `calico-conformance run` says so in one line; nothing to record
        rec = self.last_record = record.build(
            self.outcomes, facts=session.config.stash.get(self.facts_key, None) or {}, exitstatus=int(exitstatus),
            started=self.started, options=self.options, evidence_root=self.evidence_root)
        if self.path is not None:
            junit = self.junit
            if self.outcomes.start_error and junit is not None:    # no testcases for a run that never started
                Path(junit).unlink(missing_ok=True)
                junit = None
            record.write(self.path, rec, html=self.html, junit=junit)
        if self.owns_exit:
            session.exitstatus = rec["exit_code"]


class VerdictGuard:
    """One verdict, whatever happens: from the start of the session's end until the record and
    its reports are written, SIGINT and SIGTERM are noted, not raised, so they cannot cut the
    record short; after it, the first one says the verdict stands and lets tear-down finish (a
    second one stops it), and the run exits with the record's code. Before the end, a signal
    interrupts the checks as usual, and the record says "interrupted"."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, collector: RunSummary):
        self.collector = collector
        self.saved: dict = {}
        self.noted: list[int] = []

    def _install(self, handler) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for sig in self.SIGNALS:
            previous = signal.signal(sig, handler)
            self.saved.setdefault(sig, previous)

    def _note(self, signum, frame) -> None:
        self.noted.append(signum)

    def _after_verdict(self, signum, frame) -> None:
        self.noted.append(signum)
        if len(self.noted) > 1:
            raise KeyboardInterrupt("SIGTERM" if signum == signal.SIGTERM else "")
        print(f"calico-conformance: {signal.Signals(signum).name} after the verdict was written; it stands. "
              "Finishing tear-down (signal again to stop it).", file=sys.stderr, flush=True)

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session, exitstatus):
        self._install(self._note)
        try:
            yield
        finally:
            if self.collector.last_record is not None:
                pending = list(self.noted)
                self.noted.clear()
                self._install(self._after_verdict)
                for signum in pending[:1]:
                    self._after_verdict(signum, None)
            else:
                self.restore()

    def restore(self) -> None:
        """The handlers as they were (config clean-up, after the target's tear-down)."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, handler in self.saved.items():
            signal.signal(sig, handler)
        self.saved.clear()
