"""``--target kubeconfig``: an existing cluster from a kubeconfig. Read-only by default: it only
creates its own namespace (echo backend, NodePort Service, node agents) and removes it at the end.
``--install`` installs Calico in eBPF mode first (doc: v3.29 steps) and reverts it at the end
(unless --keep-install). Node commands run through a privileged hostNetwork agent pod per node
(kubectl exec)."""
from __future__ import annotations

from calico_conformance.k8s import connect
from calico_conformance.k8s.client import require_kubeconfig
from calico_conformance.targets.agentpod import AgentPodTarget
from calico_conformance.targets.clusteropts import opt
from calico_conformance.targets.clustersetup import (add_cluster_options, check_changes_allowed,
                                                     common_target_args, set_up)


def add_options(parser) -> None:
    # The options every real-cluster target shares, added once (kind and ssh add only their own).
    add_cluster_options(parser)


def check(options) -> None:
    """What can be refused before any worker starts: options that conflict, no kubeconfig."""
    check_changes_allowed(options)
    require_kubeconfig(opt(options, "kubeconfig"))


def create(options):
    check_changes_allowed(options)
    kube = connect(opt(options, "kubeconfig"), opt(options, "context"))
    target = AgentPodTarget(kube, name="kubeconfig", **common_target_args(options))
    set_up(target, kube, options)
    return target
