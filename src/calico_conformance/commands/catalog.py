"""`calico-conformance catalog`: every check a run makes (EBPF-* packet and node checks, SUP-*
support-matrix checks), its ID and the statements it verifies, in which document and versions."""
from __future__ import annotations

import json

from calico_conformance import catalog

NAME = "catalog"
HELP = "list every check (EBPF-* and SUP-*) with the document statements it verifies"


def configure(parser):
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--markdown", action="store_true", help="print docs/checks.md (the EBPF-* checks)")
    fmt.add_argument("--json", action="store_true", help="the same as --output json")
    parser.add_argument("--output", choices=("text", "json"), default="text",
                        help="text for people (default) or json: a list, one object per check")


def run(args) -> int:
    if args.markdown:
        print(catalog.markdown(catalog.load()), end="")
        return 0
    checks = catalog.every_check()
    if args.json or args.output == "json":
        print(json.dumps(checks, indent=2))
        return 0
    width = max(len(c["id"]) for c in checks)
    kind = None
    for c in checks:
        if c["kind"] != kind:
            kind = c["kind"]
            print(f"# {kind} checks ({sum(1 for x in checks if x['kind'] == kind)})")
        print(f"{c['id']:<{width}}  {c['title']}")
        if "rules" in c:
            for r in c["rules"]:
                for s in r["statements"]:
                    print(f"{'':<{width}}    [{s['doc']}, Calico {r['versions']}: {r['severity']}] {s['statement']}")
        else:
            for s in c["verifies"]:
                print(f"{'':<{width}}    [{s['doc']}, Calico {s['versions']}] {s['statement']}")
    print(f"{len(checks)} checks")
    return 0
