"""``--target kubeconfig``: an existing cluster from a kubeconfig. Read-only by default: it only
creates its own namespace (echo backend, NodePort Service, node agents) and removes it at the end.
``--install`` installs Calico in eBPF mode first (doc: v3.29 steps) and reverts it at the end
(unless --keep-install). Node commands run through a privileged hostNetwork agent pod per node
(kubectl exec).

This module also defines the options every real-cluster target shares (kubeconfig, install,
workloads), once."""
from __future__ import annotations

import os

from calico_conformance.executors.kubectl import KubectlExecutor
from calico_conformance.install import flow
from calico_conformance.install.detect import detect
from calico_conformance.install.manifests import is_release
from calico_conformance.install.plan import InstallOptions
from calico_conformance.install.run import Installer, uninstall
from calico_conformance.k8s import connect
from calico_conformance.k8s.client import require_kubeconfig
from calico_conformance.targets.cluster import ClusterTarget
from calico_conformance.targets.clusteropts import add_once, group_of, opt, per_worker, progress
from calico_conformance.vocabulary.errors import UsageError
from calico_conformance.vocabulary.images import ECHO_IMAGE, NODE_AGENT_IMAGE
from calico_conformance.workloads import pods


def add_options(parser) -> None:
    g = group_of(parser)
    add_once(g, "--kubeconfig", default=None, metavar="PATH",
             help="kubeconfig of the cluster (default: $KUBECONFIG or ~/.kube/config)")
    g.addoption("--context", default=None, metavar="NAME", help="kubeconfig context (default: current)")
    g.addoption("--install", action="store_true",
                help="install Calico in eBPF mode first (doc: v3.29 steps); without it nothing outside the "
                     "suite's namespace is changed")
    g.addoption("--keep-install", action="store_true", help="leave what --install did in place at the end "
                "(`calico-conformance uninstall` reverts it later)")
    g.addoption("--distro", default=None, metavar="NAME",
                help="kubeadm, generic, kind, kops, openshift, eks, aks or mke (default: detected)")
    g.addoption("--api-server", default=None, metavar="HOST:PORT",
                help="stable API server address for --install (default: found per distribution)")
    g.addoption("--operator-manifest", default=None, metavar="PATH_OR_URL",
                help="tigera-operator manifest for --install (default: v3.29.1's)")
    g.addoption("--release-url", default=None, metavar="URL",
                help="with --install and --calico-version vX.Y.Z: where release manifests are served, with "
                     "{version} in it (a mirror; default: the Calico repository's manifests path)")
    g.addoption("--operator-crds", default=None, metavar="PATH_OR_URL",
                help="the operator's CRDs where the release ships them apart (operator-crds.yaml, v3.30+)")
    g.addoption("--calico-manifests", default=None, metavar="DIR",
                help="directory with tigera-operator.yaml (and operator-crds.yaml, v3.30+) and "
                     "custom-resources.yaml (air-gapped)")
    g.addoption("--pod-cidr", action="append", default=None, metavar="CIDR",
                help="IP pool CIDR for --install, repeat for dual stack (default: 192.168.0.0/16)")
    g.addoption("--dsr", action="store_true",
                help="with --install: set bpfExternalServiceMode DSR for the run, restored at the end")
    g.addoption("--ignore-preflight", action="store_true",
                help="with --install: install even where the support matrix says the release does not "
                     "support the cluster in eBPF mode (default: refuse before any change)")
    g.addoption("--install-timeout", type=float, default=None, metavar="SECONDS",
                help="how long --install waits for TigeraStatus Available (default: 600)")
    g.addoption("--namespace", default="calico-conformance", metavar="NS",
                help="the suite's own namespace, created and deleted by the run (default: calico-conformance)")
    g.addoption("--echo-image", default=ECHO_IMAGE, metavar="IMAGE",
                help=f"image that runs the echo backend (needs python3; default: {ECHO_IMAGE})")
    g.addoption("--node-agent-image", default=NODE_AGENT_IMAGE, metavar="IMAGE",
                help=f"image of the privileged per-node agent pods (needs tcpdump, ip, iptables, nft; default: {NODE_AGENT_IMAGE})")
    g.addoption("--backend-node", default=None, metavar="NODE",
                help="node that hosts the echo backend (default: the last worker)")
    g.addoption("--workload-timeout", type=float, default=180.0, metavar="SECONDS",
                help="how long to wait for the suite's pods to run (default: 180)")


def _release(version: str | None) -> str | None:
    return version if is_release(version) else None


def install_options(options, distro: str | None = None):
    return InstallOptions(distro=opt(options, "distro") or distro, api_server=opt(options, "api_server"),
                          operator_manifest=opt(options, "operator_manifest"),
                          operator_crds=opt(options, "operator_crds"),
                          calico_manifests=opt(options, "calico_manifests"),
                          pool_cidrs=tuple(opt(options, "pod_cidr") or ()), dsr=bool(opt(options, "dsr")),
                          ignore_preflight=bool(opt(options, "ignore_preflight")),
                          # --calico-version v3.31.7 also picks the release --install installs
                          # (a row such as v3.29 only picks the support-matrix rules)
                          calico_version=_release(opt(options, "calico_version")),
                          release_url=opt(options, "release_url"),
                          timeout_s=opt(options, "install_timeout"))


def install(target, kube, options, *, distro: str | None = None, revert: bool = True) -> str:
    """Run the installer; register its revert on the target unless --keep-install."""
    name, plan = flow.make_plan(install_options(options, distro), kube,
                                warn=lambda line: progress(f"--install: {line}"))
    progress(f"--install: {len(plan)} steps for a {name} cluster")
    Installer(kube, progress=lambda line: progress(f"install: {line}")).apply(plan)
    if revert and not opt(options, "keep_install"):
        target.on_close(lambda: uninstall(kube, progress=lambda line: progress(f"uninstall: {line}")))
    return name


def common_target_args(options) -> dict:
    return {"namespace": per_worker(opt(options, "namespace", "calico-conformance")),
            "echo_image": opt(options, "echo_image", ECHO_IMAGE),
            "backend_node": opt(options, "backend_node"),
            "workload_timeout": float(opt(options, "workload_timeout", 180.0)),
            "progress": progress}


def _agent_target_class():
    """ClusterTarget whose node commands go through agent pods (kubectl exec); built lazily so
    that importing this module for its options stays cheap."""

    class AgentPodTarget(ClusterTarget):
        def __init__(self, kube, *, agent_image: str, **kw):
            super().__init__(kube, **kw)
            self.agent_image = agent_image

        def node_executor(self, node: dict):
            self.ensure_namespace()
            name = node["metadata"]["name"]
            pod = pods.agent_pod(self.namespace, name, self.agent_image)
            if self.kube.get("v1", "Pod", pod["metadata"]["name"], self.namespace) is None:
                self.kube.create(pod)
            self._wait_pod(pod["metadata"]["name"])
            # kubectl takes one --kubeconfig file; a KUBECONFIG list it reads from the environment itself
            path = self.kube.kubeconfig if self.kube.kubeconfig and os.pathsep not in self.kube.kubeconfig else None
            return KubectlExecutor(pod["metadata"]["name"], self.namespace, container="agent", name=name,
                                   kubeconfig=path, context=self.kube.context)
    return AgentPodTarget


def check_changes_allowed(options) -> None:
    if opt(options, "dsr") and not opt(options, "install"):
        raise UsageError("--dsr changes the cluster's FelixConfiguration; add --install to allow changes")


def set_up(target, kube, options) -> None:
    """--install, or (read-only) the distribution from --distro or detection."""
    try:
        if opt(options, "install"):
            target.distribution = install(target, kube, options)
        else:
            target.distribution = opt(options, "distro") or detect(
                kube.list("v1", "Node"),
                {f"kube-system/{c['metadata']['name']}" for c in kube.list("v1", "ConfigMap", "kube-system")})
    except BaseException:
        target.close()
        raise


def check(options) -> None:
    """What can be refused before any worker starts: options that conflict, no kubeconfig."""
    check_changes_allowed(options)
    require_kubeconfig(opt(options, "kubeconfig"))


def create(options):
    check_changes_allowed(options)
    kube = connect(opt(options, "kubeconfig"), opt(options, "context"))
    cls = _agent_target_class()
    target = cls(kube, name="kubeconfig", agent_image=opt(options, "node_agent_image", NODE_AGENT_IMAGE),
                 **common_target_args(options))
    set_up(target, kube, options)
    return target
