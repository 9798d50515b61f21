"""Load ``matrix.yaml`` into small read-only objects and pick the rule for a Calico version."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

import yaml

from calico_conformance.support import versions

MATRIX_PATH = Path(__file__).resolve().parent / "matrix.yaml"
SEVERITIES = ("unsupported", "warning", "info")
DOCS = ("older", "v3.29", "release notes")


class MatrixError(ValueError):
    """matrix.yaml is malformed (a project bug, caught by the project's tests)."""


@dataclass(frozen=True)
class Citation:
    doc: str
    quote: str


@dataclass(frozen=True)
class Rule:
    start: str | None                  # first row it applies to (inclusive), None = from the oldest
    end: str | None                    # last row (inclusive), None = to the newest
    severity: str
    cite: tuple[Citation, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""
    remediation: str = ""

    def covers(self, row: str) -> bool:
        k = versions.key(row)
        return ((self.start is None or versions.key(self.start) <= k)
                and (self.end is None or k <= versions.key(self.end)))

    def range_text(self, known: tuple[str, ...]) -> str:
        lo, hi = self.start or known[0], self.end or known[-1]
        if self.start is None and self.end is None:
            return "all versions"
        if lo == hi:
            return lo
        if self.end is None:
            return f">= {lo}"
        if self.start is None:
            return f"<= {hi}"
        return f"{lo}-{hi}"

    @property
    def statement(self) -> str:
        return " | ".join(c.quote for c in self.cite)

    @property
    def docs(self) -> str:
        return ", ".join(dict.fromkeys(c.doc for c in self.cite))


@dataclass(frozen=True)
class Entry:
    id: str
    title: str
    part: str
    detector: str
    remediation: str
    data: str
    rules: tuple[Rule, ...]
    essential: bool = False
    probe: bool = False

    def rule_for(self, row: str) -> Rule:
        for rule in self.rules:
            if rule.covers(row):
                return rule
        raise MatrixError(f"{self.id}: no rule covers {row}")


@dataclass(frozen=True)
class Matrix:
    versions: tuple[str, ...]
    default_version: str
    documents: Mapping[str, Mapping[str, str]]
    operator_versions: Mapping[str, str]
    entries: tuple[Entry, ...]

    def entry(self, entry_id: str) -> Entry:
        for e in self.entries:
            if e.id == entry_id:
                return e
        raise KeyError(entry_id)


def _rule(entry_id: str, raw: Mapping) -> Rule:
    severity = raw.get("severity")
    if severity not in SEVERITIES:
        raise MatrixError(f"{entry_id}: severity {severity!r} is not one of {SEVERITIES}")
    cites = tuple(Citation(c["doc"], c["quote"]) for c in raw.get("cite") or ())
    if not cites:
        raise MatrixError(f"{entry_id}: every rule must cite a document statement")
    for c in cites:
        if c.doc not in DOCS:
            raise MatrixError(f"{entry_id}: unknown document {c.doc!r}")
    return Rule(start=raw.get("from"), end=raw.get("to"), severity=severity, cite=cites,
                params=dict(raw.get("params") or {}), note=raw.get("note", ""),
                remediation=raw.get("remediation", ""))


def parse_matrix(data: Mapping) -> Matrix:
    known = tuple(str(v) for v in data["versions"])
    entries = []
    for raw in data["entries"]:
        entries.append(Entry(
            id=raw["id"], title=raw["title"], part=raw["part"], detector=raw["detector"],
            remediation=raw["remediation"], data=raw.get("data", ""),
            rules=tuple(_rule(raw["id"], r) for r in raw["rules"]),
            essential=bool(raw.get("essential", False)), probe=bool(raw.get("probe", False))))
    matrix = Matrix(versions=known, default_version=str(data["default_version"]),
                    documents=data["documents"], operator_versions=data.get("operator_versions") or {},
                    entries=tuple(entries))
    _check(matrix)
    return matrix


def _check(matrix: Matrix) -> None:
    ids = [e.id for e in matrix.entries]
    if len(ids) != len(set(ids)):
        raise MatrixError("duplicate entry IDs")
    if matrix.default_version not in matrix.versions:
        raise MatrixError("default_version is not a known version")
    for e in matrix.entries:
        for row in matrix.versions:
            hits = [r for r in e.rules if r.covers(row)]
            if len(hits) != 1:
                raise MatrixError(f"{e.id}: {len(hits)} rules cover {row}; exactly one must")


@lru_cache(maxsize=None)
def load(path: Path = MATRIX_PATH) -> Matrix:
    return parse_matrix(yaml.safe_load(path.read_text()))
