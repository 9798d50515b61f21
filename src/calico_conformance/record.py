"""summary.json: the run as one machine-readable record, for CI gates and certification records
(which target, Calico, Kubernetes, distribution and node kernels; every check's verdict, why, its
statements and evidence; the overall verdict and the exit code). The HTML report and junit.xml are
rendered from this record, so the three and the exit code cannot disagree.

This module knows nothing of pytest: ``Outcomes`` is what a run collected (the pytest plugin in
``summary.py`` fills it), ``judge`` gives the verdict, ``build`` the record, ``write`` the files."""
from __future__ import annotations

import datetime
import json
import re
from dataclasses import asdict, dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from calico_conformance import catalog
from calico_conformance.atomic import write_atomic
from calico_conformance.redact import redact_text
from calico_conformance.report.html import render
from calico_conformance.report.junit import render as junit_xml
from calico_conformance.support import matrix
from calico_conformance.vocabulary import exitcodes
from calico_conformance.vocabulary.facts import NodeFacts

SCHEMA = "calico-conformance/run/v1"
VERDICT_NOTES = {
    "conformant": "every check of the suite ran, and each passed or did not apply to this cluster",
    "not conformant": "at least one check failed",
    "unsupported": "the cluster's set-up is one the documents call unsupported (a support-matrix check failed)",
    "partial": "only a selection of the checks ran: their outcomes stand, but the run certifies nothing",
    "incomplete": "not every check could be judged, so the run proves nothing either way",
    "interrupted": "the run was stopped before every check ran",
}

# How a check says why it did not judge: "not configured: ..." (the cluster does not use the
# feature) and "unsupported: ..." (the documents of that version do not support it, which a
# support-matrix check reports) mean the check does not apply; any other skip ("skipped,
# because ...") means the check could not see, and a run with such a check proves nothing.
NOT_APPLICABLE = ("not configured:", "unsupported:")


def every_check_id() -> list[str]:
    """Every check the suite has: the catalog's packet checks and the support matrix's entries."""
    return [*catalog.load(), *(e.id for e in matrix.load().entries)]


def not_judged(entry: dict) -> bool:
    """A packet check that was skipped because it could not see (support checks that lack data
    say so as findings of their own, and do not hold the verdict back)."""
    return (entry.get("outcome") == "skipped" and not entry["id"].startswith("SUP-")
            and not str(entry.get("reason", "")).startswith(NOT_APPLICABLE))


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _ids(entries) -> str:
    ids = sorted({c["id"] if isinstance(c, dict) else c for c in entries})
    return ", ".join(ids[:8]) + (f" and {len(ids) - 8} more" if len(ids) > 8 else "")


def _nodes(facts: dict) -> list[dict]:
    return [asdict(NodeFacts.from_property(k, v)) for k, v in sorted(facts.items()) if k.startswith("node.")]


_CITED = re.compile(r"^\[(?P<doc>[^,\]]+),\s*(?:Calico\s+)?(?P<versions>[^\]]+)\]\s*(?P<statement>.*)$", re.S)


def statements(verifies: str) -> list[dict]:
    """'[doc, Calico versions] statement | ...' as records."""
    out = []
    for part in (p.strip() for p in verifies.split(" | ") if p.strip()):
        m = _CITED.match(part)
        out.append(m.groupdict() if m else {"doc": "", "versions": "", "statement": part})
    return out


def check_id_of(nodeid: str) -> str:
    """A check's ID from its test id alone (what an xdist controller knows of a check not run)."""
    param = re.search(r"\[([A-Z][A-Z0-9-]+)\]$", nodeid)
    if param:
        return param.group(1)
    func = nodeid.split("::")[-1].split("[")[0]
    return next((c.id for c in catalog.load().values() if c.test == func), nodeid)


def promise(entry: dict) -> str:
    """The verdict phrased as what was promised: met, not met, not checked."""
    title, outcome = entry.get("title") or entry["id"], entry.get("outcome")
    if entry["id"].startswith("SUP-"):
        severity = entry.get("severity", "")
        if outcome == "failed":
            return f"Found, and unsupported by Calico {entry.get('calico_version_row', '')}: {title}".replace("  ", " ")
        if outcome in ("skipped", "not run"):
            return f"Not checked: {title}"
        if severity in ("warning", "info"):
            return f"Found, supported{' with a caveat' if severity == 'warning' else ''}: {title}"
        return f"Not found: {title}"
    return {"passed": f"Met: {title}", "failed": f"Not met: {title}"}.get(outcome, f"Not checked: {title}")


@dataclass
class Outcomes:
    """What a run collected: each check's entry by test ID, every test ID selected (with its check
    ID), how the checks were selected, and what stopped the run early, if anything."""
    checks: dict[str, dict] = field(default_factory=dict)
    expected: dict[str, str] = field(default_factory=dict)
    selection: str = ""                 # "-k support_matrix", "--check EBPF-SOURCE-IP", "" for all
    interrupted: str | None = None
    start_error: str | None = None
    # pytest's own outcome of the session (ExitCode values: 2 interrupted, 3 internal error, 4 usage error)
    INTERRUPTED, INTERNAL_ERROR, USAGE_ERROR = 2, 3, 4

    def counts(self) -> dict[str, int]:
        out = {k: sum(1 for c in self.checks.values() if c["outcome"] == k) for k in ("passed", "failed", "skipped")}
        out["not_run"] = sum(1 for nodeid in self.expected if nodeid not in self.checks)
        return out

    def left_out(self) -> list[str]:
        """The suite's checks this run did not select (-k, -m, --check, --deselect, a path)."""
        if self.start_error or not (self.expected or self.checks):
            return []
        chosen = set(self.expected.values()) | {c["id"] for c in self.checks.values()}
        return [cid for cid in every_check_id() if cid not in chosen]

    def judge(self, exitstatus: int = 0) -> tuple[str, str]:
        """(verdict, why). A failure is a failure whatever was selected; "conformant" needs every
        check of the suite to have run and judged."""
        counts = self.counts()
        total = len(self.expected) or len(self.checks)
        if self.start_error:
            return "incomplete", f"the run did not start: {self.start_error}"
        if self.interrupted or exitstatus == self.INTERRUPTED:
            why = self.interrupted or "interrupted"
            done = counts["passed"] + counts["failed"] + counts["skipped"]
            return "interrupted", f"{why} after {done} of {total} checks; {counts['not_run']} never ran"
        if exitstatus == self.INTERNAL_ERROR:
            return "incomplete", "the suite hit an internal error (a bug: please report it with the output)"
        if exitstatus == self.USAGE_ERROR:
            return "incomplete", "the run did not start: usage or environment error"
        if not total:
            return "incomplete", "no checks were collected"
        checks = list(self.checks.values())
        failed = [c for c in checks if c["outcome"] == "failed"]
        if any(not c["id"].startswith("SUP-") for c in failed):
            return "not conformant", f"{len(failed)} of {_n(total, 'check')} failed: {_ids(failed)}"
        if failed:
            return "unsupported", f"{_n(len(failed), 'support-matrix check')} failed: {_ids(failed)}"
        if counts["not_run"]:
            return "incomplete", f"{counts['not_run']} of {total} checks never ran"
        left = self.left_out()
        if left:
            how = f" (selected with {self.selection})" if self.selection else ""
            return "partial", (f"{total} of {total + len(left)} checks ran{how}, so this is not a certification; "
                               f"left out: {_ids(left)}")
        blind = [c for c in checks if not_judged(c)]
        if blind:
            return "incomplete", (f"{_n(len(blind), 'check')} could not be judged: "
                                  + "; ".join(f"{c['id']} ({c.get('reason', '')})" for c in blind[:3]))
        if not counts["passed"]:
            return "incomplete", f"every one of the {total} checks was skipped: nothing could be checked"
        return "conformant", (f"{_n(counts['passed'], 'check')} passed, {counts['skipped']} did not apply "
                              "to this cluster and say why")


def build(out: Outcomes, *, facts: dict, exitstatus: int, started: datetime.datetime, options: list[str],
          evidence_root: Path | None) -> dict:
    """The record of a run: the verdict and why, the exit code, the facts, every check (those that
    never ran too), failures first."""
    overall, why = out.judge(exitstatus)
    checks = list(out.checks.values())
    for nodeid, cid in out.expected.items():
        if nodeid not in out.checks:
            checks.append({"id": cid, "title": "", "verifies": "", "test": nodeid, "outcome": "not run",
                           "reason": "never ran: " + (out.interrupted or ("the run did not start" if out.start_error
                                                                          else "the run stopped early")),
                           "duration_s": 0.0})
    fill_from_catalogs(checks)
    order = {"failed": 0, "not run": 1, "skipped": 2, "passed": 3}
    return {
        "schema": SCHEMA,
        "verdict": overall, "verdict_means": VERDICT_NOTES[overall], "why": why,
        "exit_code": exitcodes.RUN[overall] if not out.start_error else exitcodes.USAGE,
        "final": True,
        "lab": bool(facts.get("lab_notice")), "notice": facts.get("lab_notice", ""),
        "started": started.isoformat(timespec="seconds"),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "pytest_exit_status": int(exitstatus),
        "suite": {"version": _suite_version(), "options": [redact_text(a) for a in options]},
        "target": {k: v for k, v in facts.items() if not k.startswith(("node.", "lab_notice"))},
        "nodes": _nodes(facts),
        "counts": out.counts(),
        "left_out": out.left_out(),
        "selection": out.selection,
        "checks": sorted(checks, key=lambda c: (order.get(c["outcome"], 9), c["id"])),
        "evidence_dir": str(evidence_root) if evidence_root else "",
    }


def write(path: Path, rec: dict, *, html: Path | None = None, junit: Path | None = None) -> None:
    """summary.json, then the reports rendered from it (each atomically). Every string of the
    record passes through calico_conformance.redact first: options, failure texts and an
    injector's error message can quote a token, a certificate or a URL's credentials."""
    rec = _redacted(rec)
    write_atomic(path, json.dumps(rec, indent=2) + "\n")
    if html is not None:
        write_atomic(html, render(rec, base=Path(html).resolve().parent))
    if junit is not None:
        write_atomic(junit, junit_xml(rec))


def _redacted(value):
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v) for k, v in value.items()}
    return value


def fill_from_catalogs(checks: list[dict]) -> None:
    """Statements, titles and remediations from the catalogs, so every record is whole (a check
    not run has only its ID; a passed support check carries no remediation of its own)."""
    cat = catalog.load()
    try:
        sup = {e.id: e for e in matrix.load().entries}
    except Exception:       # the matrix is the lead's data: a broken one must not lose the record
        sup = {}
    for c in checks:
        if c.get("caused_by") and c.get("outcome") == "failed":
            # the cause's remedy, not this symptom's (a SNAT hunt where felix fell back)
            c["remediation"] = (f"Resolve {c['caused_by']} first: this check fails because of it, and is "
                                "judged again once that holds.")
        known = cat.get(c["id"])
        if known:
            c["title"] = c.get("title") or known.title
            c["verifies"] = c.get("verifies") or known.cited()
            c.setdefault("remediation", known.remediation)
            c["statements"] = [vars(s) for s in known.verifies]
        elif c["id"] in sup:
            entry = sup[c["id"]]
            c["title"] = c.get("title") or entry.title
            c.setdefault("remediation", entry.remediation)
            c["statements"] = _rule_statements(entry, c.get("calico_version_row", "")) or \
                statements(c.get("verifies", ""))
        else:
            c["statements"] = statements(c.get("verifies", ""))
        for s in c["statements"]:
            s["statement"] = catalog.render_text(s["statement"])
        c["verifies"] = catalog.render_text(c.get("verifies", ""))
        c["promise"] = promise(c)


def _rule_statements(entry, row_text: str) -> list[dict]:
    """The statements of the rule the check was held to: one per cited document."""
    row = (row_text.split() or [""])[0]
    known = matrix.load().versions
    if row not in known:
        return []
    rule = entry.rule_for(row)
    return [{"doc": c.doc, "versions": rule.range_text(known), "statement": c.quote} for c in rule.cite]


def _suite_version() -> str:
    try:
        return version("calico-conformance")
    except PackageNotFoundError:
        return "unknown"


def placeholder(why: str, *, exit_code: int | None = None) -> dict:
    """The record a run leaves before it has a verdict (and a failed start after): never conformant."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return {"schema": SCHEMA, "verdict": "incomplete", "verdict_means": VERDICT_NOTES["incomplete"],
            "why": why, "exit_code": exit_code, "final": exit_code is not None, "lab": False, "notice": "",
            "started": now, "finished": now if exit_code is not None else "", "target": {}, "nodes": [],
            "counts": {"passed": 0, "failed": 0, "skipped": 0, "not_run": 0}, "checks": []}
