"""`calico-conformance catalog`: the checks, their IDs and the statements they verify."""
from __future__ import annotations

import json

from calico_conformance import catalog

NAME = "catalog"
HELP = "list the conformance checks with the document statements they verify"


def configure(parser):
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--markdown", action="store_true", help="print docs/checks.md")
    fmt.add_argument("--json", action="store_true", help="print JSON")


def run(args) -> int:
    checks = catalog.load()
    if args.markdown:
        print(catalog.markdown(checks), end="")
    elif args.json:
        print(json.dumps({cid: {"title": c.title, "test": c.test, "how": c.how,
                                "remediation": c.remediation,
                                "verifies": [vars(s) for s in c.verifies]}
                          for cid, c in checks.items()}, indent=2))
    else:
        width = max(map(len, checks))
        for c in checks.values():
            print(f"{c.id:<{width}}  {c.title}")
            for s in c.verifies:
                print(f"{'':<{width}}    [{s.doc}, Calico {s.versions}] {s.statement}")
    return 0
