"""`calico-conformance cleanup`: remove lab namespaces (and real felix's cgroups) left by runs that were
killed outright."""
from __future__ import annotations

import os

from calico_conformance import netns
from calico_conformance.lab import realfelix, sshd, sweeper
from calico_conformance.vocabulary.errors import UsageError

NAME = "cleanup"
HELP = ("remove reference-lab namespaces left behind by killed runs (needs root; exit 0 all "
        "removed, 1 some could not be removed, 2 not root)")


def configure(parser):
    parser.add_argument("--all", action="store_true",
                        help="remove every lab namespace, also those of runs still going")


def run(args) -> int:
    if os.geteuid() != 0:
        # `ip netns del` fails without root; the namespaces would stay while we said otherwise.
        raise UsageError("cleanup deletes network namespaces, which needs root; run it as root "
                         "(sudo calico-conformance cleanup)")
    names = sweeper.all_lab_namespaces() if args.all else sweeper.stale()
    # What killed runs left running in their namespaces (sshd and its sessions) and their key
    # directories go first, while the namespaces can still be found.
    sshd.sweep_stale()
    sweeper.delete(names)
    cgroups = realfelix.sweep_stale(sweeper.alive)     # real felix's per-node cgroups of killed runs
    # Say what is really gone, not what was asked for.
    left = [n for n in names if netns.exists(n)]
    removed = [n for n in names if n not in left]
    print(f"removed {len(removed)} lab namespace(s)" + (": " + ", ".join(removed) if removed else ""))
    if cgroups:
        print(f"removed {len(cgroups)} felix cgroup(s): {', '.join(cgroups)}")
    if left:
        print(f"could not remove {len(left)} lab namespace(s): {', '.join(left)}; "
              "see `ip netns list` and `ip netns del NAME`")
        return 1
    return 0
