"""``calico-conformance uninstall``: revert what ``install`` (or a run with --install) changed,
newest first, from the ledger it left in the cluster."""
from __future__ import annotations

from calico_conformance.install.run import uninstall
from calico_conformance.k8s import access, connect

NAME = "uninstall"
HELP = "revert what `calico-conformance install` changed (from its ledger in the cluster)"


def configure(parser) -> None:
    access.add_to(parser.add_argument)
    parser.add_argument("--timeout", type=float, default=600, metavar="SECONDS",
                        help="how long to wait for the operator to remove Calico (default: 600)")


def run(args) -> int:
    uninstall(connect(args.kubeconfig, args.context), timeout=args.timeout)
    return 0
