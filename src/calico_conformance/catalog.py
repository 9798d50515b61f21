"""The check catalog (conformance/catalog.yaml): stable IDs tied to the statements they verify."""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from calico_conformance.paths import catalog_path
from calico_conformance.support import matrix

# The older document is Jekyll source: its statements say {{ site.prodname }} where the page says Calico.
_JEKYLL_VARS = {"site.prodname": "Calico", "site.prodnamedash": "calico", "site.nodecontainer": "calico/node"}
_JEKYLL = re.compile(r"\{\{\s*([a-z_.]+)\s*\}\}")


def render_text(text: str) -> str:
    """A statement as the rendered page reads it: Jekyll variables replaced by their values."""
    return _JEKYLL.sub(lambda m: _JEKYLL_VARS.get(m.group(1), m.group(0)), text)


@dataclass(frozen=True)
class Statement:
    doc: str
    versions: str
    statement: str


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    test: str
    verifies: tuple[Statement, ...]
    how: str
    remediation: str

    def cited(self) -> str:
        return " | ".join(f"[{s.doc}, Calico {s.versions}] {s.statement}" for s in self.verifies)


@lru_cache(maxsize=None)
def load(path: Path | None = None) -> dict[str, Check]:
    path = path or catalog_path()
    data = yaml.safe_load(path.read_text())
    return {cid: Check(id=cid, title=c["title"], test=c["test"],
                       verifies=tuple(Statement(s["doc"], str(s["versions"]), render_text(s["statement"]))
                                      for s in c["verifies"]),
                       how=c["how"], remediation=c["remediation"])
            for cid, c in data["checks"].items()}


def markdown(checks: dict[str, Check]) -> str:
    """docs/checks.md: one section per check."""
    out = ["# Check catalog", "",
           "Generated from `conformance/catalog.yaml` by `calico-conformance catalog --markdown`; "
           "do not edit by hand.", "",
           "| ID | check | test |", "|---|---|---|"]
    out += [f"| [{c.id}](#{c.id.lower()}) | {c.title} | `{c.test}` |" for c in checks.values()]
    for c in checks.values():
        out += ["", f"## {c.id}", "", f"**{c.title}**", "", "Verifies:", ""]
        out += [f"- *{s.doc}* (Calico {s.versions}): \u201c{s.statement}\u201d" for s in c.verifies]
        out += ["", f"How: {c.how}", "", f"If it fails: {c.remediation}"]
    return "\n".join(out) + "\n"


def every_check() -> list[dict]:
    """Every check a run makes: the packet/node checks of catalog.yaml (EBPF-*) and one per
    support-matrix entry (SUP-*, with each version range's rule), statements rendered."""
    out = [{"id": c.id, "kind": "packet and node check", "title": c.title, "test": c.test,
            "verifies": [{"doc": s.doc, "versions": s.versions, "statement": s.statement} for s in c.verifies],
            "how": c.how, "remediation": c.remediation} for c in load().values()]
    table = matrix.load()
    for e in table.entries:
        rules = [{"versions": r.range_text(table.versions), "severity": r.severity,
                  "statements": [{"doc": q.doc, "statement": render_text(q.quote)} for q in r.cite],
                  **({"note": r.note} if r.note else {})} for r in e.rules]
        out.append({"id": e.id, "kind": "support matrix", "title": e.title,
                    "test": f"test_cluster_set_up_is_supported[{e.id}]",
                    "verifies": [{"doc": s["doc"], "versions": r["versions"], "statement": s["statement"]}
                                 for r in rules for s in r["statements"]],
                    "rules": rules, "data": e.data, "remediation": e.remediation})
    return out
