"""`calico-conformance report`: re-render a run's report from its summary.json, or compare two
runs (bundles, reports directories or summary.json files) check by check."""
from __future__ import annotations

import json
from pathlib import Path

from calico_conformance.atomic import write_atomic
from calico_conformance.report.bundle import read_summary
from calico_conformance.report.compare import compare, text
from calico_conformance.report.html import render
from calico_conformance.vocabulary.errors import UsageError

NAME = "report"
HELP = ("compare two bundles check by check (--compare A B: exit 1 when a check got worse from A to B, "
        "0 otherwise, 2 for a bundle that cannot be read), or re-render report.html from a summary.json")


def configure(parser):
    parser.add_argument("summary", nargs="?", metavar="RUN",
                        help="a bundle (DIR or .tar.gz), reports directory or summary.json to render")
    parser.add_argument("--compare", nargs=2, metavar=("A", "B"),
                        help="what changed from run A to run B: verdict, target facts, each check")
    parser.add_argument("-o", "--output", default=None, metavar="FILE|json",
                        help="with RUN: where report.html goes (default: print it); with --compare: "
                             "`json` for a machine-readable diff")


def _read(path: str) -> dict:
    try:
        return read_summary(Path(path))
    except ValueError as exc:
        raise UsageError(f"cannot read a run's summary.json from {path}: {exc}; give a bundle "
                         "(directory or .tar.gz), a reports directory or a summary.json") from None


def run(args) -> int:
    if args.compare:
        a, b = args.compare
        diff = compare(_read(a), _read(b))
        print(json.dumps(diff, indent=2) if args.output == "json" else text(diff, a, b), end="" if args.output != "json" else "\n")
        return 1 if diff["worse"] else 0
    if not args.summary:
        raise UsageError("give a run to render (a bundle, reports directory or summary.json) or --compare A B")
    rec = _read(args.summary)
    if args.output:
        write_atomic(Path(args.output), render(rec, base=Path(args.output).resolve().parent))
        print(args.output)
    else:
        print(render(rec))
    return 0
