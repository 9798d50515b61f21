"""Detector results + the matrix rule for the chosen version -> findings and a cluster verdict.

A finding's severity is the rule's (``unsupported``/``warning``/``info``) when the thing is
present, ``ok`` when it is absent and ``unknown`` when the data could not tell. The verdict is
``unsupported`` when any finding is, ``unknown`` when an essential entry (nodes' architecture,
kernel, OS) could not be decided, else ``supported``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

from calico_conformance.support import distro
from calico_conformance.support.detectors import DETECTORS
from calico_conformance.support.inventory import Inventory
from calico_conformance.support.matrix import Entry, Matrix
from calico_conformance.support.observation import ABSENT, PRESENT, Context, Observation
from calico_conformance.support.versions import VersionChoice
from calico_conformance.vocabulary import exitcodes

ORDER = ("unsupported", "warning", "unknown", "info", "ok")


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str                  # unsupported | warning | info | ok | unknown
    title: str
    evidence: tuple[str, ...]
    remediation: str
    statement: str                 # the quoted document sentence(s) the rule encodes
    doc: str                       # which document(s): older, v3.29, release notes
    versions: str                  # the version range of the rule applied
    citations: tuple[dict, ...] = ()
    note: str = ""
    part: str = ""

    def as_dict(self) -> dict:
        d = asdict(self)
        d["evidence"], d["citations"] = list(self.evidence), list(self.citations)
        return d


@dataclass
class Report:
    verdict: str
    version: VersionChoice
    distribution: distro.Distribution | None
    findings: list[Finding]
    warnings: list[str] = field(default_factory=list)
    origin: str = ""

    @property
    def exit_code(self) -> int:
        return exitcodes.PREFLIGHT[self.verdict]

    def finding(self, entry_id: str) -> Finding:
        return next(f for f in self.findings if f.id == entry_id)

    def counts(self) -> dict[str, int]:
        return {s: sum(1 for f in self.findings if f.severity == s) for s in ORDER}

    def as_dict(self, known_versions: Sequence[str] = ()) -> dict[str, Any]:
        return {
            "schema": "calico-conformance/preflight/v1",
            "verdict": self.verdict,
            "origin": self.origin,
            "distribution": self.distribution.as_dict() if self.distribution else None,
            "calico_version": {"row": self.version.row, "source": self.version.source,
                               "detail": self.version.detail, "known": list(known_versions)},
            "summary": self.counts(),
            "findings": [f.as_dict() for f in sorted(self.findings, key=_order)],
            "warnings": list(self.warnings),
        }


def _order(f: Finding) -> tuple[int, str]:
    return ORDER.index(f.severity), f.id


def observe(entry: Entry, ctx: Context) -> Observation:
    detector = DETECTORS[entry.detector]
    try:
        return detector(ctx)
    except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
        # Messy input must not end the run: say what could not be read.
        ctx.inv.warn(f"{entry.id}: could not read the data ({exc.__class__.__name__}: {exc})")
        return Observation.unknown(f"could not read the data: {exc}")


def finding_for(entry: Entry, row: str, obs: Observation, known: Sequence[str]) -> Finding:
    rule = entry.rule_for(row)
    if obs.state == PRESENT:
        severity, remediation = rule.severity, rule.remediation or entry.remediation
    elif obs.state == ABSENT:
        severity, remediation = "ok", ""
    else:
        severity, remediation = "unknown", f"To decide this, include {entry.data}."
    return Finding(id=entry.id, severity=severity, title=entry.title, evidence=obs.evidence,
                   remediation=remediation, statement=rule.statement, doc=rule.docs,
                   versions=rule.range_text(tuple(known)),
                   citations=tuple({"doc": c.doc, "quote": c.quote} for c in rule.cite),
                   note=rule.note, part=entry.part)


def evaluate(matrix: Matrix, inv: Inventory, version: VersionChoice, *,
             nodes: Sequence[Any] | None = None, no_nodes: str = "no node access",
             datastore_fact: str | None = None) -> Report:
    dist = distro.recognise(inv)
    findings = []
    for entry in matrix.entries:
        rule = entry.rule_for(version.row)
        ctx = Context(inv=inv, params=rule.params, distribution=dist, nodes=nodes,
                      no_nodes=no_nodes, datastore_fact=datastore_fact)
        findings.append(finding_for(entry, version.row, observe(entry, ctx), matrix.versions))
    essential = {e.id for e in matrix.entries if e.essential}
    if any(f.severity == "unsupported" for f in findings):
        verdict = "unsupported"
    elif any(f.severity == "unknown" and f.id in essential for f in findings):
        verdict = "unknown"
    else:
        verdict = "supported"
    return Report(verdict=verdict, version=version, distribution=dist, findings=findings,
                  warnings=list(inv.warnings), origin=inv.origin)
