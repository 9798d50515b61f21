"""How a command names the cluster it talks to, declared once: install, uninstall, preflight (live
mode) and the real-cluster targets all take these, with ``add_argument``'s keywords."""
from __future__ import annotations

KUBECONFIG = (("--kubeconfig",), dict(default=None, metavar="PATH",
                                      help="kubeconfig of the cluster (default: $KUBECONFIG or ~/.kube/config)"))
CONTEXT = (("--context",), dict(default=None, metavar="NAME", help="kubeconfig context (default: the current one)"))
OPTIONS = (KUBECONFIG, CONTEXT)


def add_to(add) -> None:
    """``add``: ``parser.add_argument`` (argparse) or ``group.addoption`` (pytest)."""
    for flags, keywords in OPTIONS:
        add(*flags, **keywords)
