"""The upstream truth table (conformance/upstream-truths.yaml): what real Calico does, per row,
with its citations and the lab profiles that exercise it. ``python -m calico_conformance.truths``
writes docs/upstream-truths.md from it (``--check`` only says whether the file is up to date)."""
from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

import yaml

from calico_conformance.paths import suite_dir

DOC_PATH = Path(__file__).resolve().parents[2] / "docs" / "upstream-truths.md"   # in a clone


@lru_cache(maxsize=None)
def load() -> dict:
    return yaml.safe_load((suite_dir() / "upstream-truths.yaml").read_text())


def markdown(data: dict) -> str:
    rows = data["rows"]
    out = ["# Upstream truths: what real Calico does", "",
           "Generated from `conformance/upstream-truths.yaml` by `python -m calico_conformance.truths`; "
           "do not edit by hand.", "",
           "Every expectation of a check and every lab profile comes from a row here, cited to "
           "projectcalico/calico at a release tag (`file::symbol @ tag`, read, never copied) and, where "
           "they exist, to Calico's own functional tests. *Exercised by* names the lab profile (with "
           "the verdicts the checks must give) or the project test that makes the row's behaviour "
           "happen; tests/test_upstream_truths.py holds every row to it. *Real felix* names the profiles "
           "that run felix built from Calico's source (v3.29.7 and v3.31.7) and showed the row's behaviour "
           "(tests/test_real_felix.py). Rows marked *not yet* are known and not exercised, and say why.", "",
           "| row | topic | checks | exercised by | real felix |", "|---|---|---|---|---|"]
    for rid, r in rows.items():
        ex = ", ".join(e.get("profile") or "test" for e in r["exercised_by"]) or "*not yet*"
        real = ", ".join(e["profile"] for e in r.get("real_felix", [])) or "-"
        out.append(f"| [{rid}](#{rid.replace('.', '')}) | {r['topic']} | {', '.join(r['checks']) or '-'} | {ex} | {real} |")
    for rid, r in rows.items():
        out += ["", f"## {rid}", "", r["fact"], "", "Calico's code: " + "; ".join(f"`{c}`" for c in r["code"])]
        out.append("")
        out.append("Calico's tests: " + ("; ".join(r["fv"]) if r["fv"] else "none found"))
        for e in r["exercised_by"]:
            if "profile" in e:
                verdicts = ", ".join(f"{k} {v}" for k, v in e["expect"].items())
                out += ["", f"- lab profile `{e['profile']}`: {verdicts}"]
            else:
                out += ["", f"- project test `{e['test']}`"]
        for e in r.get("real_felix", []):
            verdicts = ", ".join(f"{k} {v}" for k, v in e["expect"].items())
            out += ["", f"- **real felix**, profile `{e['profile']}` at every tag `lab build felix` builds: {verdicts}; "
                        f"seen: {e['seen']}"]
        if r.get("not_yet"):
            out += ["", f"*Not yet exercised:* {r['not_yet']}"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = markdown(load())
    if "--check" in argv:
        ok = DOC_PATH.is_file() and DOC_PATH.read_text() == text
        print(f"{DOC_PATH} is {'up to date' if ok else 'stale; run: python -m calico_conformance.truths'}")
        return 0 if ok else 1
    DOC_PATH.write_text(text)
    print(f"wrote {DOC_PATH}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
