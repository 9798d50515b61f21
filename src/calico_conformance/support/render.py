"""The preflight report for people (a table) and for machines (JSON, see docs/preflight.md)."""
from __future__ import annotations

import json
import textwrap
from collections import Counter

from calico_conformance.support.engine import ORDER, Report

WIDTH = 100
LABELS = {"unsupported": "UNSUPPORTED", "warning": "WARNING", "info": "INFO", "ok": "OK", "unknown": "UNKNOWN"}
VERDICT_NOTES = {
    "supported": "nothing the documents call unsupported was found",
    "unsupported": "the documents say this set-up is not supported; see UNSUPPORTED below",
    "unknown": "the nodes' architecture, kernel or OS could not be read; see UNKNOWN below",
}


def _wrap(label: str, text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=f"    {label:<7}", subsequent_indent=" " * 11) or [f"    {label}"]


def _distribution_line(report: Report) -> str:
    dist = report.distribution
    if dist is None:
        return "distribution: unknown (no Node objects)"
    counts = Counter(d for d, _ in dist.nodes.values())
    per = ", ".join(f"{name} x{n}" for name, n in counts.most_common())
    return f"distribution: {dist.title} ({len(dist.nodes)} node(s): {per})"


def table(report: Report) -> str:
    counts = report.counts()
    out = [f"calico-conformance preflight: {report.origin}",
           _distribution_line(report),
           f"Calico version row: {report.version.describe()}",
           f"verdict: {report.verdict.upper()} - {VERDICT_NOTES[report.verdict]}"
           + (f" ({counts['unknown']} entries could not be decided)" if counts["unknown"] and
              report.verdict == "supported" else ""),
           "         " + ", ".join(f"{counts[s]} {s}" for s in ORDER), ""]
    width = max((len(f.id) for f in report.findings), default=0) + 2
    for f in sorted(report.findings, key=lambda f: (ORDER.index(f.severity), f.id)):
        head = f"{LABELS[f.severity]:<12}{f.id:<{width}}{f.title}"
        if f.severity == "ok":
            out.append(head + (f"  [{f.evidence[0]}]" if f.evidence else ""))
            continue
        out.append(head)
        label = "why" if f.severity == "unknown" else "found"
        for line in f.evidence:
            out += _wrap(label, line)
            label = ""
        if f.severity != "unknown":
            for c in f.citations:
                out += _wrap("says", f"\u201c{c['quote']}\u201d ({c['doc']}; rule for {f.versions})")
            if f.note:
                out += _wrap("note", f.note)
        if f.remediation:
            out += _wrap("do", f.remediation)
    if report.warnings:
        out += ["", "could not read:"] + [f"  - {w}" for w in report.warnings]
    out += ["", "exit code: 0 supported, 1 unsupported, 3 unknown, 2 usage error"]
    return "\n".join(out) + "\n"


def as_json(report: Report, known_versions) -> str:
    return json.dumps(report.as_dict(known_versions), indent=2) + "\n"
