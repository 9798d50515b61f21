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

import yaml

from calico_conformance.executors.ssh import SshExecutor
from calico_conformance.k8s import connect
from calico_conformance.targets.agentpod import AgentPodTarget
from calico_conformance.targets.clients import SshClient
from calico_conformance.targets.cluster import internal_ip
from calico_conformance.targets.clusteropts import group_of, opt
from calico_conformance.targets.clustersetup import check_changes_allowed, common_target_args, set_up
from calico_conformance.vocabulary.errors import UsageError

NODE_KEYS = {"name", "host", "user", "port", "identity_file", "sudo", "options"}


def add_options(parser) -> None:
    g = group_of(parser)
    g.addoption("--inventory", default=None, metavar="FILE", help="--target ssh: YAML inventory of the nodes")


MAX_INVENTORY_BYTES = 4 << 20     # thousands of nodes fit in a few hundred KiB
# Each key of a node entry (and of `defaults`, `client`) and the types it may have.
KEY_TYPES = {"name": str, "host": str, "user": str, "port": int, "identity_file": str, "sudo": bool,
             "options": dict, "address": str, "address6": str}


def load_inventory(path: str) -> dict:
    """The inventory file, checked key by key: every problem is one ``UsageError`` line."""
    if not path:
        raise UsageError("--target ssh needs --inventory FILE (a YAML list of nodes; see docs/real-clusters.md)")
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_INVENTORY_BYTES + 1)
        if len(data) > MAX_INVENTORY_BYTES:
            raise UsageError(f"inventory {path} is larger than {MAX_INVENTORY_BYTES >> 20} MiB; "
                             "is it the right file?")
        inv = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except IsADirectoryError:
        raise UsageError(f"inventory {path} is a directory; give the path of a YAML file") from None
    except OSError as exc:
        raise UsageError(f"cannot read inventory {path}: {exc.strerror}") from None
    except (yaml.YAMLError, RecursionError, ValueError, TypeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UsageError(f"inventory {path} is not valid YAML: {first}") from None
    if not isinstance(inv, dict) or not isinstance(inv.get("nodes"), list) or not inv["nodes"]:
        raise UsageError(f"inventory {path} needs a `nodes:` list of {{name, host}} entries")
    for key in ("kubeconfig", "context"):
        if inv.get(key) is not None and not isinstance(inv[key], str):
            raise UsageError(f"inventory {path}: `{key}` must be text")
    for where in ("defaults", "client"):
        if inv.get(where) is not None:
            _check_entry(path, where, inv[where], NODE_KEYS - {"name"} | ({"address", "address6"}
                                                                           if where == "client" else set()))
    if isinstance(inv.get("client"), dict) and not inv["client"].get("host"):
        raise UsageError(f"inventory {path}: client needs a `host`")
    for i, node in enumerate(inv["nodes"]):
        if not isinstance(node, dict) or not node.get("name"):
            raise UsageError(f"inventory {path}: nodes[{i}] needs a `name` (the Kubernetes node name)")
        unknown = set(node) - NODE_KEYS
        if unknown:
            raise UsageError(f"inventory {path}: nodes[{i}] has unknown keys {sorted(map(str, unknown))}; "
                             f"allowed: {sorted(NODE_KEYS)}")
        _check_entry(path, f"nodes[{i}]", node, NODE_KEYS)
    return inv


def _check_entry(path: str, where: str, entry, allowed: set) -> None:
    if not isinstance(entry, dict):
        raise UsageError(f"inventory {path}: `{where}` must be a mapping of {sorted(allowed)}")
    unknown = set(entry) - allowed
    if unknown:
        raise UsageError(f"inventory {path}: {where} has unknown keys {sorted(map(str, unknown))}; "
                         f"allowed: {sorted(allowed)}")
    for key, value in entry.items():
        want = KEY_TYPES[key]
        if value is None and key not in ("name",):
            continue
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            raise UsageError(f"inventory {path}: {where}.{key} must be {_TYPE_WORDS[want]}, "
                             f"not {type(value).__name__}")
        if key == "port" and not 1 <= value <= 65535:
            raise UsageError(f"inventory {path}: {where}.port {value} is not a TCP port (1-65535)")
        if key == "options" and not all(isinstance(k, str) and isinstance(v, (str, int, bool))
                                        for k, v in value.items()):
            raise UsageError(f"inventory {path}: {where}.options must map ssh option names to values")


_TYPE_WORDS = {str: "text", int: "a whole number", bool: "true or false", dict: "a mapping"}


def _executor(entry: dict, defaults: dict, fallback_host: str | None):
    merged = {**defaults, **entry}
    return SshExecutor(merged.get("host") or fallback_host, user=merged.get("user"), port=merged.get("port"),
                       identity_file=merged.get("identity_file"), options=merged.get("options"),
                       sudo=bool(merged.get("sudo")), name=entry.get("name"))


def check(options) -> None:
    """A readable inventory, before any worker starts."""
    check_changes_allowed(options)
    load_inventory(opt(options, "inventory"))


def create(options):
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

    class SshTarget(AgentPodTarget):
        def node_executor(self, node: dict):
            name = node["metadata"]["name"]
            if name not in entries:
                raise UsageError(f"node {name} is not in inventory {path}; add it (every node of the cluster "
                                 "needs an SSH entry)")
            return _executor(entries[name], defaults, internal_ip(node))

    target = SshTarget(kube, name="ssh", client=client, **common_target_args(options))
    set_up(target, kube, options)
    return target
