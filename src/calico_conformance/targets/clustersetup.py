"""What the real-cluster targets (kubeconfig, kind, ssh) share: their options, declared once (the
installer's come from ``install/options.py``), the arguments every cluster target takes, and
``--install`` with its revert."""
from __future__ import annotations

from calico_conformance.install import flow, options as install_opts
from calico_conformance.install.detect import detect
from calico_conformance.install.run import Installer, uninstall
from calico_conformance.k8s import access
from calico_conformance.targets.clusteropts import add_once, group_of, opt, per_worker, progress
from calico_conformance.vocabulary.errors import UsageError
from calico_conformance.vocabulary.images import ECHO_IMAGE, NODE_AGENT_IMAGE


def add_cluster_options(parser) -> None:
    g = group_of(parser)
    (kubeconfig, kubeconfig_kw), (context, context_kw) = access.KUBECONFIG, access.CONTEXT
    add_once(g, *kubeconfig, **kubeconfig_kw)         # pytest-kind-ng defines it too
    g.addoption(*context, **context_kw)
    g.addoption("--install", action="store_true",
                help="install Calico in eBPF mode first (doc: v3.29 steps); without it nothing outside the "
                     "suite's namespace is changed")
    g.addoption("--keep-install", action="store_true", help="leave what --install did in place at the end "
                "(`calico-conformance uninstall` reverts it later)")
    install_opts.add_to(g.addoption)
    g.addoption("--namespace", default="calico-conformance", metavar="NS",
                help="the suite's own namespace, created and deleted by the run (default: calico-conformance)")
    g.addoption("--echo-image", default=ECHO_IMAGE, metavar="IMAGE",
                help=f"image that runs the echo backend (needs python3; default: {ECHO_IMAGE})")
    g.addoption("--node-agent-image", default=NODE_AGENT_IMAGE, metavar="IMAGE",
                help="image of the privileged per-node agent pods (needs tcpdump, ip, iptables, nft; "
                     f"default: {NODE_AGENT_IMAGE})")
    g.addoption("--backend-node", default=None, metavar="NODE",
                help="node that hosts the echo backend (default: the last worker)")
    g.addoption("--workload-timeout", type=float, default=180.0, metavar="SECONDS",
                help="how long to wait for the suite's pods to run (default: 180)")


def install_options(options, distro: str | None = None):
    # --calico-version v3.31.7 also picks the release --install installs (a row such as v3.29
    # only picks the support-matrix rules)
    return install_opts.install_options(lambda name: opt(options, name), distro=distro, release_only=True)


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
            "agent_image": opt(options, "node_agent_image", NODE_AGENT_IMAGE),
            "backend_node": opt(options, "backend_node"),
            "workload_timeout": float(opt(options, "workload_timeout", 180.0)),
            "progress": progress}


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
