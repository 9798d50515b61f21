"""``--target kind``: a kind cluster the suite creates (or reuses with --cluster-name), with no
default CNI and, by default, no kube-proxy; Calico is then installed in eBPF mode by the
installer (distribution "kind"). Node commands run in the node containers (docker exec), or in
agent pods with --node-exec pod. The cluster is deleted at the end unless --keep-cluster."""
from __future__ import annotations

from pathlib import Path

from calico_conformance.executors.docker import DockerExecutor
from calico_conformance.k8s import connect
from calico_conformance.targets.agentpod import AgentPodTarget
from calico_conformance.targets.clusteropts import add_once, group_of, opt, per_worker, progress
from calico_conformance.targets.clustersetup import common_target_args, install
from calico_conformance.targets.kindcluster import DEFAULT_POD_SUBNETS, KindCli, cluster_config, dump, find_tools

STATE_DIR = Path(".calico-conformance") / "kind"


def add_options(parser) -> None:
    g = group_of(parser)
    # pytest-kind-ng defines these two (same meaning); add_once keeps them when it is not loaded.
    add_once(g, "--cluster-name", default="calico-conformance", metavar="NAME",
             help="kind cluster to create, or to reuse when it exists")
    add_once(g, "--keep-cluster", action="store_true", help="do not delete the kind cluster at the end")
    add_once(g, "--kind-bin", default=None, metavar="PATH", help="the kind binary (default: `kind` on PATH)")
    g.addoption("--kind-node-image", default=None, metavar="IMAGE",
                help="kind node image, which sets the Kubernetes version (e.g. kindest/node:v1.31.2)")
    g.addoption("--kind-workers", type=int, default=2, metavar="N", help="worker nodes (default: 2)")
    g.addoption("--ip-family", default="ipv4", choices=["ipv4", "ipv6", "dual"],
                help="kind cluster IP family (default: ipv4)")
    g.addoption("--kind-kube-proxy", default="none", choices=["none", "iptables", "ipvs", "nftables"],
                help="kube-proxy mode of the new cluster; anything but none exercises the installer's "
                     "'disable kube-proxy' step (default: none)")
    g.addoption("--kind-load-image", action="append", default=None, metavar="IMAGE",
                help="pre-load a local image into the nodes (air-gapped: the echo, agent and Calico images)")
    g.addoption("--node-exec", default="docker", choices=["docker", "pod"],
                help="run node commands by docker exec into the node containers, or in agent pods "
                     "(kind node images have no tcpdump; default: docker)")


def config_for(options, name: str) -> dict:
    return cluster_config(name=name, workers=int(opt(options, "kind_workers", 2)),
                          node_image=opt(options, "kind_node_image") or opt(options, "kind_image"),
                          ip_family=opt(options, "ip_family", "ipv4"),
                          kube_proxy_mode=opt(options, "kind_kube_proxy", "none"),
                          pod_subnets=tuple(opt(options, "pod_cidr") or ()))


class KindTarget(AgentPodTarget):
    """Node commands by ``docker exec`` into the node containers (or agent pods with --node-exec pod)."""

    def __init__(self, kube, *, node_exec: str, **kw):
        super().__init__(kube, **kw)
        self.node_exec = node_exec

    def node_executor(self, node: dict):
        if self.node_exec == "pod":
            return super().node_executor(node)
        name = node["metadata"]["name"]     # kind names each node container after its node
        return DockerExecutor(name, name=name)


def check(options) -> None:
    """kind and a running Docker engine, before any worker starts."""
    find_tools(opt(options, "kind_bin"))


def create(options):
    kind = find_tools(opt(options, "kind_bin"))
    cli = KindCli(kind)
    name = per_worker(opt(options, "cluster_name") or "calico-conformance")
    config = config_for(options, name)          # validates the options before anything is created
    state = STATE_DIR / name
    state.mkdir(parents=True, exist_ok=True)
    kubeconfig = state / "kubeconfig"
    created = name not in cli.clusters()
    if created:
        (state / "kind-config.yaml").write_text(dump(config))
        progress(f"creating kind cluster {name} (config: {state / 'kind-config.yaml'})")
        cli.create(name, str(state / "kind-config.yaml"), str(kubeconfig))
    else:
        progress(f"reusing kind cluster {name}")
        kubeconfig.write_text(cli.kubeconfig(name))
        kubeconfig.chmod(0o600)
    cleanup = (lambda: cli.delete(name, str(kubeconfig))) if created and not opt(options, "keep_cluster") else None
    try:
        for image in opt(options, "kind_load_image") or ():
            progress(f"loading image {image} into {name}")
            cli.load_image(name, image)
        kube = connect(str(kubeconfig))
        family = opt(options, "ip_family", "ipv4")
        target = KindTarget(kube, name="kind", node_exec=opt(options, "node_exec", "docker"),
                            ip_family="ipv6" if family == "ipv6" else "ipv4", **common_target_args(options))
    except BaseException:
        if cleanup:
            cleanup()
        raise
    if cleanup:
        target.on_close(cleanup)
    try:
        # A cluster without a CNI is useless: install unless it is a reused cluster with Calico.
        has_calico = kube.get("operator.tigera.io/v1", "Installation", "default") is not None
        if created or opt(options, "install") or not has_calico:
            pod_cidrs = tuple(opt(options, "pod_cidr") or DEFAULT_POD_SUBNETS[family])
            install(target, kube, _WithPods(options, pod_cidrs), distro="kind", revert=not created)
        target.distribution = "kind"
    except BaseException:
        target.close()
        raise
    return target


class _WithPods:
    """The options as given, with the pod CIDRs the kind config used (so the IP pool matches)."""

    def __init__(self, options, pod_cidrs):
        self._options, self._pods = options, list(pod_cidrs)

    def getoption(self, name):
        if name == "pod_cidr":
            return self._pods
        if name == "distro":
            return "kind"
        return self._options.getoption(name)
