"""``calico-conformance preflight``: is this cluster one the Calico eBPF dataplane supports?"""
from __future__ import annotations

import sys

from calico_conformance.k8s import access
from calico_conformance.support import calico_version, matrix, render
from calico_conformance.support.engine import evaluate
from calico_conformance.support.live import read_cluster
from calico_conformance.support.snapshot import load_snapshot

NAME = "preflight"
HELP = ("Tell whether a cluster - live, or from a kubectl dump - is one Calico's eBPF dataplane "
        "supports, for a Calico version (exit 0 supported, 1 unsupported, 3 unknown, 2 usage error)")


def configure(parser) -> None:
    parser.add_argument("--snapshot", metavar="DIR_OR_FILE",
                        help="read `kubectl get ... -o json|yaml` output or a `kubectl cluster-info dump` "
                             "(directory or file) instead of a live cluster")
    parser.add_argument("--calico-version", metavar="VERSION",
                        help="the Calico version to hold the cluster to (v3.29, 3.29 or v3.29.1; default: "
                             "detected from the cluster, else the newest the project knows)")
    parser.add_argument("--output", choices=("table", "json"), default="table",
                        help="table for people (default) or json (see docs/preflight.md)")
    access.add_to(parser.add_argument)     # live mode


def run(args) -> int:

    table = matrix.load()
    if args.calico_version:    # a bad version fails before any cluster is read
        calico_version.choose(table, args.calico_version)
    if args.snapshot:
        inv = load_snapshot(args.snapshot)
        no_nodes = "an offline snapshot gives no node access; run the pytest suite against a target to probe nodes"
    else:
        inv = read_cluster(args.kubeconfig, args.context)
        no_nodes = "preflight reads the API only; the pytest suite probes nodes through its target"
    choice = calico_version.choose(table, args.calico_version, inv)
    report = evaluate(table, inv, choice, nodes=None, no_nodes=no_nodes)
    text = render.as_json(report, table.versions) if args.output == "json" else render.table(report)
    sys.stdout.write(text)
    return report.exit_code
