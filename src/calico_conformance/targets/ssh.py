"""``--target ssh``: VMs or bare metal, where node-level probes run over SSH. The cluster's API
(for facts, the echo backend and the NodePort Service) still comes from a kubeconfig; the YAML
inventory maps Kubernetes node names to SSH hosts and may name an external client host:

    kubeconfig: ~/.kube/config        # optional; --kubeconfig wins
    context: prod                     # optional; --context wins
    defaults: {user: root, port: 22, identity_file: ~/.ssh/id_ed25519, sudo: false,
               options: {StrictHostKeyChecking: accept-new}}
    nodes:
      - {name: node-a, host: 10.0.0.11}          # host defaults to the node's InternalIP
      - {name: node-b, host: 10.0.0.12, user: ubuntu, sudo: true}
    client: {host: 10.0.0.100, address: 10.0.0.100}   # optional; default: this machine
"""
from __future__ import annotations

from calico_conformance.targets.clusteropts import group_of, opt

NODE_KEYS = {"name", "host", "user", "port", "identity_file", "sudo", "options"}


def add_options(parser) -> None:
    g = group_of(parser)
    g.addoption("--inventory", default=None, metavar="FILE", help="--target ssh: YAML inventory of the nodes")


def load_inventory(path: str) -> dict:
    import yaml
    from calico_conformance.errors import UsageError
    if not path:
        raise UsageError("--target ssh needs --inventory FILE (a YAML list of nodes; see docs/real-clusters.md)")
    try:
        with open(path) as f:
            inv = yaml.safe_load(f)
    except OSError as exc:
        raise UsageError(f"cannot read inventory {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise UsageError(f"inventory {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(inv, dict) or not isinstance(inv.get("nodes"), list) or not inv["nodes"]:
        raise UsageError(f"inventory {path} needs a `nodes:` list of {{name, host}} entries")
    for i, node in enumerate(inv["nodes"]):
        if not isinstance(node, dict) or not node.get("name"):
            raise UsageError(f"inventory {path}: nodes[{i}] needs a `name` (the Kubernetes node name)")
        unknown = set(node) - NODE_KEYS
        if unknown:
            raise UsageError(f"inventory {path}: nodes[{i}] has unknown keys {sorted(unknown)}; "
                             f"allowed: {sorted(NODE_KEYS)}")
    return inv


def _executor(entry: dict, defaults: dict, fallback_host: str | None):
    from calico_conformance.executors.ssh import SshExecutor
    merged = {**defaults, **entry}
    return SshExecutor(merged.get("host") or fallback_host, user=merged.get("user"), port=merged.get("port"),
                       identity_file=merged.get("identity_file"), options=merged.get("options"),
                       sudo=bool(merged.get("sudo")), name=entry.get("name"))


def check(options) -> None:
    """A readable inventory, before any worker starts."""
    from calico_conformance.targets.kubeconfig import check_changes_allowed
    check_changes_allowed(options)
    load_inventory(opt(options, "inventory"))


def create(options):
    from calico_conformance.errors import UsageError
    from calico_conformance.k8s import connect
    from calico_conformance.targets.cluster import internal_ip
    from calico_conformance.targets.clients import SshClient
    from calico_conformance.targets.kubeconfig import _agent_target_class, check_changes_allowed, common_target_args, set_up
    check_changes_allowed(options)
    path = opt(options, "inventory")
    inv = load_inventory(path)
    defaults = inv.get("defaults") or {}
    kube = connect(opt(options, "kubeconfig") or inv.get("kubeconfig"), opt(options, "context") or inv.get("context"))
    entries = {n["name"]: n for n in inv["nodes"]}
    cluster_nodes = {n["metadata"]["name"]: n for n in kube.list("v1", "Node")}
    missing = sorted(set(entries) - set(cluster_nodes))
    if missing:
        raise UsageError(f"inventory {path} names nodes the cluster does not have: {', '.join(missing)}; "
                         f"the cluster's nodes are: {', '.join(sorted(cluster_nodes))}")
    client = None
    if inv.get("client"):
        c = inv["client"]
        if not c.get("host"):
            raise UsageError(f"inventory {path}: client needs a `host`")
        entry = {k: v for k, v in {"name": "client", **c}.items() if k in NODE_KEYS}
        client = SshClient(_executor(entry, defaults, None), c.get("address") or c["host"],
                           address6=c.get("address6"))

    class SshTarget(_agent_target_class()):
        def node_executor(self, node: dict):
            name = node["metadata"]["name"]
            if name not in entries:
                raise UsageError(f"node {name} is not in inventory {path}; add it (every node of the cluster "
                                 "needs an SSH entry)")
            return _executor(entries[name], defaults, internal_ip(node))

    target = SshTarget(kube, name="ssh", agent_image=opt(options, "node_agent_image", "nicolaka/netshoot:v0.13"),
                       client=client, **common_target_args(options))
    set_up(target, kube, options)
    return target
