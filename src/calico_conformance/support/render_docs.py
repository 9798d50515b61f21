"""Write docs/support-matrix.md from matrix.yaml: ``python -m calico_conformance.support.render_docs``
(``--check`` exits 1 when the checked-in file is stale)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from calico_conformance.support.matrix import Entry, Matrix, load

DOC_PATH = Path(__file__).resolve().parents[3] / "docs" / "support-matrix.md"
CODES = {"unsupported": "**U**", "warning": "W", "info": "i"}


def _how(entry: Entry) -> str:
    if entry.probe:
        return f"node probe ({entry.data})"
    return f"API / snapshot: {entry.data}"


def render(matrix: Matrix) -> str:
    out = ["# Support matrix: Calico eBPF dataplane", "",
           "Generated from `src/calico_conformance/support/matrix.yaml` by `python -m calico_conformance.support.render_docs`; "
           "do not edit by hand.", "",
           f"Versions known: {', '.join(matrix.versions)} (default: {matrix.default_version}). "
           "`--calico-version` accepts `v3.29`, `3.29` or `v3.29.1`.", "",
           "Documents cited:", ""]
    for name, doc in matrix.documents.items():
        out.append(f"- **{name}**: {doc['title']} (`../shared/seeds/{doc['file']}`)")
    out += ["", "Each cell says what it means when the cluster has the thing: **U** unsupported (the "
            "verdict fails), W warning, i supported (reported for information). When the thing is "
            "absent the entry is OK; when the data cannot tell, UNKNOWN.", ""]
    out.append("| ID | what | " + " | ".join(matrix.versions) + " |")
    out.append("|---|---|" + "---|" * len(matrix.versions))
    for e in matrix.entries:
        cells = [CODES[e.rule_for(v).severity] for v in matrix.versions]
        out.append(f"| [{e.id}](#{e.id.lower()}) | {e.title} | " + " | ".join(cells) + " |")
    for e in matrix.entries:
        out += ["", f"## {e.id}", "", f"**{e.title}**" + (" (essential for a verdict)" if e.essential else ""),
                "", f"Detected from: {_how(e)}.", ""]
        for rule in e.rules:
            params = "; ".join(f"{k} {', '.join(v) if isinstance(v, list) else v}" for k, v in rule.params.items())
            out.append(f"- {rule.range_text(matrix.versions)}: **{rule.severity}**" + (f" ({params})" if params else ""))
            out += [f"  - *{c.doc}*: \u201c{c.quote}\u201d" for c in rule.cite]
            if rule.note:
                out.append(f"  - note: {rule.note}")
            if rule.remediation:
                out.append(f"  - what to do: {rule.remediation}")
        out += ["", f"What to do: {e.remediation}"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m calico_conformance.support.render_docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/support-matrix.md is stale")
    args = parser.parse_args(argv)
    text = render(load())
    if args.check:
        current = DOC_PATH.read_text() if DOC_PATH.exists() else ""
        if current != text:
            print(f"{DOC_PATH} is stale; run: python -m calico_conformance.support.render_docs", file=sys.stderr)
            return 1
        return 0
    DOC_PATH.write_text(text)
    print(f"wrote {DOC_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
