"""summary.json: the run as one machine-readable record, for CI gates and certification records
(which target, Calico, Kubernetes, distribution and node kernels; every check's verdict and why;
the overall verdict). JUnit carries the same facts, spread over XML properties; this is the one
file a pipeline can read with `jq .verdict`.

The record is written by the process that writes the reports (the xdist controller), from the
test reports it receives, so it is the same with or without ``-n``."""
from __future__ import annotations

import datetime
import json
from dataclasses import asdict
from pathlib import Path

import pytest

SCHEMA = "calico-conformance/run/v1"
VERDICT_NOTES = {
    "conformant": "every check passed or was skipped with a reason",
    "not conformant": "at least one check failed",
    "incomplete": "no check could run",
}


def verdict(passed: int, failed: int) -> str:
    return "not conformant" if failed else "incomplete" if not passed else "conformant"


def _reason(report) -> str:
    """The skip reason or the first line of the failure, as the terminal summary shows it."""
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    text = getattr(report, "longreprtext", "") or ""
    # A check's own failure (pytrace=False) starts with its headline; an assert has "E " lines.
    asserted = [line[2:].strip() for line in text.splitlines() if line.startswith("E ")]
    plain = [line.strip() for line in text.splitlines() if line.strip()]
    return asserted[0] if asserted else plain[0] if plain else ""


def _nodes(facts: dict) -> list[dict]:
    from calico_conformance.targets.base import NodeFacts
    return [asdict(NodeFacts.from_property(k, v)) for k, v in sorted(facts.items()) if k.startswith("node.")]


class RunSummary:
    """A pytest plugin object: collects the final report of each test, writes the record (when
    given a path); the HTML report's verdict line reads its counts too."""

    def __init__(self, path: Path | None, facts_key):
        self.path, self.facts_key = path, facts_key
        self.checks: dict[str, dict] = {}
        self.started = datetime.datetime.now(datetime.timezone.utc)

    def pytest_runtest_logreport(self, report):
        final = report.when == "call" or (report.when == "setup" and not report.passed) or \
            (report.when == "teardown" and report.failed)
        if not final:
            return
        props = dict(report.user_properties)
        entry = self.checks.setdefault(report.nodeid, {
            "id": props.get("check_id", report.nodeid), "title": props.get("check_title", ""),
            # packet checks cite the catalog's statements; support-matrix checks their rule's
            "verifies": props.get("verifies") or props.get("support_statement", ""),
            "test": report.nodeid})
        for key in ("calico_version_row", "support_severity", "support_evidence", "support_note"):
            if key in props:
                entry[key.removeprefix("support_")] = props[key]
        if entry.get("outcome") == "failed":
            return                                    # a teardown after a failed call keeps the failure
        entry["outcome"] = "failed" if report.failed else report.outcome
        entry["reason"] = _reason(report) if not report.passed else ""
        entry["duration_s"] = round(report.duration, 4)

    def counts(self) -> dict[str, int]:
        return {k: sum(1 for c in self.checks.values() if c["outcome"] == k) for k in ("passed", "failed", "skipped")}

    def verdict(self) -> str:
        counts = self.counts()
        return verdict(counts["passed"], counts["failed"])

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session, exitstatus):
        if self.path is None:
            return
        facts = session.config.stash.get(self.facts_key, None) or {}
        checks = list(self.checks.values())
        counts, overall = self.counts(), self.verdict()
        record = {
            "schema": SCHEMA,
            "verdict": overall, "verdict_means": VERDICT_NOTES[overall],
            "lab": bool(facts.get("lab_notice")), "notice": facts.get("lab_notice", ""),
            "started": self.started.isoformat(timespec="seconds"),
            "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "pytest_exit_status": int(exitstatus),
            "target": {k: v for k, v in facts.items() if not k.startswith(("node.", "lab_notice"))},
            "nodes": _nodes(facts),
            "counts": counts,
            "checks": sorted(checks, key=lambda c: (c["outcome"] != "failed", c["id"])),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(record, indent=2) + "\n")
