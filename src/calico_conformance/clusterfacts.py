"""Cluster facts from API objects (pure functions over dicts, so they are tested on seeds):
Calico version, Kubernetes version, datastore, Felix settings, per-node kernel and arch."""
from __future__ import annotations

from calico_conformance.support import calico_version
from calico_conformance.support.inventory import Inventory
from calico_conformance.vocabulary.facts import ClusterFacts, FelixSettings, NodeFacts


def _containers(workload: dict | None) -> list[dict]:
    return ((((workload or {}).get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers") or []


def calico_objects(installation: dict | None, cluster_information: dict | None,
                   calico_node: dict | None) -> Inventory:
    """The objects the support detector reads the running Calico version from."""
    inv = Inventory(origin="the API")
    for obj, kind in ((installation, "Installation"), (cluster_information, "calico/ClusterInformation"),
                      (calico_node, "DaemonSet")):
        if obj:
            inv.add(obj, "the API", kind=kind)
    return inv


def datastore(installation: dict | None, calico_node: dict | None) -> str | None:
    for c in _containers(calico_node):
        for env in c.get("env") or []:
            if env.get("name") == "DATASTORE_TYPE":
                return "etcd" if env.get("value", "").startswith("etcd") else "kubernetes"
    return "kubernetes" if installation else None


# The FelixConfiguration fields read here, by the lower-case name felix's environment loader
# gives FELIX_* variables (felix/config/env_var_loader.go: the rest of the name is lower-cased).
_FIELDS = ("bpfEnabled", "bpfExternalServiceMode", "bpfKubeProxyIptablesCleanupEnabled", "vxlanPort",
           "vxlanVNI", "bpfDataIfacePattern", "bpfDSROptoutCIDRs", "ipv6Support", "nftablesMode")
_BY_LOWER = {f.lower(): f for f in _FIELDS}


def felix_env(calico_node: dict | None) -> dict:
    """FELIX_* variables of the calico-node container, as FelixConfiguration fields (values are
    strings, as felix reads them)."""
    out = {}
    for c in _containers(calico_node):
        for env in c.get("env") or []:
            name = env.get("name") or ""
            if name.lower().startswith("felix_") and "value" in env:
                field = _BY_LOWER.get(name[6:].lower())
                if field:
                    out[field] = env["value"]
    return out


def _bool(value) -> bool:
    return value if isinstance(value, bool) else str(value).strip().lower() in ("true", "1", "yes")


def _cidrs(value) -> tuple[str, ...]:
    items = value if isinstance(value, list) else str(value or "").split(",")
    return tuple(str(i).strip() for i in items if str(i).strip())


def felix_settings(felix: dict | None, installation: dict | None, *, node_felix: dict | None = None,
                   env: dict | None = None) -> FelixSettings:
    """The settings as felix resolves them (felix/config/config_params.go::SourcesInDescendingOrder):
    calico-node's environment over FelixConfiguration node.<name> over ``default`` over felix's
    defaults; an empty value does not count. Values such as bpfExternalServiceMode are read
    case-insensitively, as felix's oneof parser does (``dsr`` is DSR)."""
    layers = [("FelixConfiguration default", (felix or {}).get("spec") or {}),
              (f"FelixConfiguration {((node_felix or {}).get('metadata') or {}).get('name', 'node')}",
               (node_felix or {}).get("spec") or {}),
              ("calico-node environment", env or {})]
    spec, source = {}, {}
    for where, values in layers:
        for key, value in values.items():
            if value not in (None, ""):
                spec[key], source[key] = value, where
    bpf = _bool(spec["bpfEnabled"]) if "bpfEnabled" in spec else None
    if bpf is None and installation is not None:
        bpf = ((installation.get("spec") or {}).get("calicoNetwork") or {}).get("linuxDataplane") == "BPF"
    cleanup = spec.get("bpfKubeProxyIptablesCleanupEnabled")
    mode = str(spec.get("bpfExternalServiceMode") or "Tunnel")
    return FelixSettings(bpf_enabled=bpf,
                         external_service_mode="DSR" if mode.lower() == "dsr" else "Tunnel",
                         kube_proxy_iptables_cleanup=True if cleanup is None else _bool(cleanup),
                         vxlan_port=int(spec.get("vxlanPort") or 4789),
                         vxlan_vni=int(spec.get("vxlanVNI") or 4096),
                         bpf_data_iface_pattern=spec.get("bpfDataIfacePattern") or None,
                         dsr_optout_cidrs=_cidrs(spec.get("bpfDSROptoutCIDRs")),
                         # felix/config/config_params.go::Ipv6Support `bool;true`, NFTablesMode
                         # `oneof(Enabled,Disabled);Disabled` @ v3.29.7 .. v3.31.7
                         ipv6_support=(_bool(spec["ipv6Support"]) if "ipv6Support" in spec
                                       else _operator_ipv6(installation)),
                         nftables_mode="Enabled" if str(spec.get("nftablesMode", "")).lower() == "enabled" else "Disabled",
                         external_service_mode_source=source.get("bpfExternalServiceMode", "default"))


def _operator_ipv6(installation: dict | None) -> bool:
    """felix's IPv6 support where nothing we could read sets it: an operator install sets
    FELIX_IPV6SUPPORT on calico-node from the Installation, "true" only with an IPv6 address
    autodetection method (calicoNetwork.nodeAddressAutodetectionV6, which the operator defaults
    when an IPv6 pool is given), else "false" (tigera/operator pkg/render/node.go, "IPv6
    auto-detection and ippool configuration", v1.36 .. v1.38); without an Installation, felix's
    own default, true."""
    if installation is None:
        return True
    network = (installation.get("spec") or {}).get("calicoNetwork") or {}
    method = network.get("nodeAddressAutodetectionV6") or {}
    return any(value not in (None, False, "", [], {}) for value in method.values()) if isinstance(method, dict) \
        else bool(method)


def node_facts(node: dict) -> NodeFacts:
    info = (node.get("status") or {}).get("nodeInfo") or {}
    return NodeFacts(node["metadata"]["name"], info.get("kernelVersion", ""), info.get("architecture", ""),
                     info.get("osImage", ""))


def gather(kube, *, target: str, distribution: str | None) -> ClusterFacts:
    installation = kube.get("operator.tigera.io/v1", "Installation", "default")
    calico_node = (kube.get("apps/v1", "DaemonSet", "calico-node", "calico-system")
                   or kube.get("apps/v1", "DaemonSet", "calico-node", "kube-system"))
    info = kube.get("crd.projectcalico.org/v1", "ClusterInformation", "default")
    configs = {c["metadata"]["name"]: c for c in kube.list("crd.projectcalico.org/v1", "FelixConfiguration")}
    felix = configs.get("default")
    env = felix_env(calico_node)
    nodes = kube.list("v1", "Node")
    overall = felix_settings(felix, installation, env=env)
    per_node = tuple((n["metadata"]["name"], felix_settings(felix, installation, env=env,
                                                              node_felix=configs[f"node.{n['metadata']['name']}"]))
                     for n in nodes if f"node.{n['metadata']['name']}" in configs)
    return ClusterFacts(
        target=target,
        calico_version=calico_version.full_version(calico_objects(installation, info, calico_node)),
        kubernetes_version=kube.version().get("gitVersion"),
        distribution=distribution,
        datastore=datastore(installation, calico_node),
        felix=overall,
        node_felix=per_node,
        nodes=tuple(node_facts(n) for n in nodes))
