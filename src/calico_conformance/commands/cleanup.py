"""`calico-conformance cleanup`: remove lab namespaces left by runs that were killed outright."""
from __future__ import annotations

from calico_conformance.lab import sweeper

NAME = "cleanup"
HELP = "remove reference-lab namespaces left behind by killed runs"


def configure(parser):
    parser.add_argument("--all", action="store_true",
                        help="remove every lab namespace, also those of runs still going")


def run(args) -> int:
    names = sweeper.all_lab_namespaces() if args.all else sweeper.stale()
    sweeper.delete(names)
    print(f"removed {len(names)} lab namespace(s)" + (": " + ", ".join(names) if names else ""))
    return 0
