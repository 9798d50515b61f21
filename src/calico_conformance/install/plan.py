"""The install as an ordered list of operations, each citing the document statement it
implements. Built from the distribution's data, the options and what the cluster already has;
nothing here talks to the cluster, so the same plan is printed by --dry-run and performed by
``calico_conformance.install.run``."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass

from calico_conformance.install import address, crd_schema, data, manifests
from calico_conformance.install.data import Distro, Statement
from calico_conformance.install.view import ClusterView
from calico_conformance.vocabulary.errors import UsageError

NON_MATCHING_SELECTOR = {"non-calico": "true"}     # the document's example node selector


@dataclass
class InstallOptions:
    distro: str | None = None
    api_server: str | None = None
    operator_manifest: str | None = None
    operator_crds: str | None = None          # the release's operator-crds.yaml, where it ships one (v3.30+)
    ignore_preflight: bool = False            # install on a cluster the release does not support
    calico_version: str | None = None         # a release (v3.31.7): its manifests, from release_url
    release_url: str | None = None            # where releases' manifests are served ({version} in it)
    calico_manifests: str | None = None
    pool_cidrs: tuple[str, ...] = ()
    encapsulation: str = ""
    bottlerocket: bool | None = None          # None: detect from the nodes' OS image
    registry: str | None = None
    dsr: bool = False
    configmap_wait_s: float | None = None
    timeout_s: float | None = None

    def __post_init__(self):
        d = data.defaults()
        self.pool_cidrs = tuple(self.pool_cidrs or (d["pod_cidr"],))
        self.encapsulation = self.encapsulation or d["encapsulation"]
        if self.encapsulation not in data.ENCAPSULATIONS:
            raise UsageError(f"--encapsulation {self.encapsulation}: not an IP pool encapsulation; choose one of "
                             f"{', '.join(data.ENCAPSULATIONS)}")
        v6 = [c for c in self.pool_cidrs if ":" in c]
        if v6 and self.encapsulation.startswith("IPIP"):
            # doc v3.29, IPv6 limitations: "IPIP is not supported (Calico iptables does not support it
            # either)." (SUP-IPV6-IPIP)
            raise UsageError(f"--encapsulation {self.encapsulation}: IPIP is not supported for IPv6 pools "
                             f"({v6[0]}); use VXLAN (recommended) or None")
        if self.configmap_wait_s is None:
            self.configmap_wait_s = float(d["configmap_propagation_wait_s"])
        if self.timeout_s is None:
            self.timeout_s = float(d["tigerastatus_timeout_s"])


@dataclass
class Operation:
    step: str                 # a short stable name: namespace, endpoint-configmap, operator, ...
    action: str               # create | patch | restart-pods | rollout-restart | sleep | wait-crds | wait-status | note
    title: str
    cites: list[Statement]
    obj: dict | None = None                  # create: the object; patch with create_if_missing: the seed
    target: tuple | None = None              # (apiVersion, kind, name, namespace)
    patch: dict | list | None = None
    patch_type: str = "merge"
    create_if_missing: bool = False
    selector: str | None = None
    seconds: float = 0.0
    expect: tuple[str, ...] = ()             # wait-status: components that must be Available
    condition: str | None = None             # a step that depends on state unknown offline
    restart_after: tuple | None = None       # a DaemonSet to roll after this patch (and its revert)
    text: str | None = None                  # note: the guidance to print
    validated: str | None = None             # create: how the object was checked against its CRD

    def kubectl(self) -> str | None:
        """The equivalent kubectl command, as the document writes it."""
        if self.action != "patch" or not self.target:
            return None
        api_version, kind, name, ns = self.target
        group = api_version.rpartition("/")[0]
        resource = kind.lower() + (f".{group}" if group and group not in ("apps",) else "")
        where = f" -n {ns}" if ns else ""
        return (f"kubectl patch {resource}{where} {name} --type {self.patch_type} "
                f"-p '{json.dumps(self.patch, separators=(',', ':'))}'")


def _target(obj: dict) -> tuple:
    meta = obj["metadata"]
    return obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace")


def build(opts: InstallOptions, view: ClusterView, operator_objs: list[dict] | None,
          custom_resources: list[dict], *, operator_source: str = "", unlisted_reason: str = "") -> list[Operation]:
    """``operator_objs`` None: a dry-run that could not read the manifest lists it as one step."""
    distro = data.distro(opts.distro)
    cite = data.statement
    if view.calico_without_operator:
        raise UsageError("Calico is installed here without the Tigera operator (kube-system/calico-node); the "
                         "document's steps use the operator, so the installer will not touch this cluster")
    resources, installation_cites = (None, []) if view.installation is not None else \
        _tweaked(opts, view, distro, custom_resources)
    network = _calico_network(resources)
    # From v3.31 the Installation can hand two of the document's steps to the operator.
    bootstrap = network.get("bpfNetworkBootstrap") == "Enabled"
    operator_kube_proxy = network.get("kubeProxyManagement") == "Enabled"

    # 1. The "real" API server address, in a ConfigMap created before the operator.
    ops = _bootstrap_note(view) if bootstrap else _endpoint_steps(opts, view, distro, operator_objs)

    # 2. The operator and its CRDs (objects already there are left as they are).
    ops += _operator_steps(distro, operator_objs, operator_source, unlisted_reason,
                           namespace_done=any(o.step == "namespace" for o in ops))

    # 3. The Installation in BPF mode (or the switch-over patch), the IP pool, the APIServer.
    expect = ["calico"]
    if resources is None:
        switch = {"spec": {"calicoNetwork": {"linuxDataplane": "BPF", "hostPorts": None}}}
        ops.append(Operation("installation", "patch", "switch the existing Installation to eBPF",
                             [cite("switch-over")], target=("operator.tigera.io/v1", "Installation", "default", None),
                             patch=switch, validated=_check_switch_over(view, switch)))
        if view.apiserver is not None:
            expect.append("apiserver")
    else:
        ops += _custom_resource_steps(resources, installation_cites, operator_objs, operator_source, expect)

    # 4. Wait for TigeraStatus.
    ops.append(Operation("wait", "wait-status", "TigeraStatus reports Available (not Degraded)",
                         [cite("monitor")], expect=tuple(expect), seconds=opts.timeout_s))

    # 5. kube-proxy: IPVS to iptables first, then disable it the distribution's way.
    if operator_kube_proxy:
        ops.append(Operation("kube-proxy", "note", "kube-proxy: disabled by the operator (kubeProxyManagement: "
                             "Enabled)", [cite("kube-proxy-management")],
                             text="the Installation sets calicoNetwork.kubeProxyManagement: Enabled, so the operator "
                                  "patches the kube-proxy DaemonSet itself; the installer leaves it alone"))
    else:
        ops += _kube_proxy(distro, view)

    # 6. DSR for the DSR checks.
    if opts.dsr:
        ops.append(_felix(view, {"bpfExternalServiceMode": "DSR"}, "dsr",
                          "bpfExternalServiceMode DSR", [cite("dsr")]))
    check_felix(ops, operator_objs or [], operator_source)
    return ops


def _tweaked(opts: InstallOptions, view: ClusterView, distro: Distro,
             custom_resources: list[dict]) -> tuple[list[dict], list[Statement]]:
    """The custom resources with the document's edit, and the statements the Installation follows."""
    cite = data.statement
    bottlerocket = opts.bottlerocket if opts.bottlerocket is not None else view.bottlerocket
    if bottlerocket and not distro.bottlerocket_flexvolume:
        raise UsageError("--bottlerocket applies to EKS only (the document's flexVolumePath is for EKS Bottlerocket)")
    # On EKS with the AWS VPC CNI the pods get VPC addresses: no Calico pool to add.
    ip_pools = not (distro.name == "eks" and view.aws_node)
    resources = manifests.tweak(custom_resources, pool_cidrs=list(opts.pool_cidrs), encapsulation=opts.encapsulation,
                                bottlerocket=bottlerocket, ip_pools=ip_pools, registry=opts.registry)
    cites = [cite("installation-bpf")] + ([cite("installation-vxlan")] if ip_pools else []) + \
            ([cite("installation-bottlerocket")] if bottlerocket else [])
    return resources, cites


def _calico_network(resources: list[dict] | None) -> dict:
    inst = next((o for o in resources or [] if o["kind"] == "Installation"), None)
    return ((inst or {}).get("spec") or {}).get("calicoNetwork") or {}


def _bootstrap_note(view: ClusterView) -> list[Operation]:
    """bpfNetworkBootstrap: Enabled (v3.31+): the operator finds the API server itself, and its CRD
    forbids the ConfigMap at the same time."""
    name = data.defaults()["endpoint_configmap"]
    if view.endpoint_configmap is not None:
        raise UsageError(f"the Installation sets calicoNetwork.bpfNetworkBootstrap: Enabled, but the ConfigMap "
                         f"{data.defaults()['operator_namespace']}/{name} exists, and the operator's CRD says: "
                         f"{data.statement('bpf-network-bootstrap').text!r}; delete the ConfigMap or drop the field")
    return [Operation("endpoint-configmap", "note", "API server address: bootstrapped by the operator "
                      "(bpfNetworkBootstrap: Enabled)", [data.statement("bpf-network-bootstrap")],
                      text=f"no {name} ConfigMap: the Installation sets calicoNetwork.bpfNetworkBootstrap: Enabled")]


def _endpoint_steps(opts: InstallOptions, view: ClusterView, distro: Distro,
                    operator_objs: list[dict] | None) -> list[Operation]:
    d, cite = data.defaults(), data.statement
    ns = d["operator_namespace"]
    endpoint = address.find(distro, view, opts.api_server)
    address.check_stable(endpoint, None if view.offline else view, list(opts.pool_cidrs),
                         distro.default_service_cidr)
    namespace = next((o for o in operator_objs or [] if o["kind"] == "Namespace" and o["metadata"]["name"] == ns),
                     {"apiVersion": "v1", "kind": "Namespace",
                      "metadata": {"name": ns, "labels": {"name": ns,
                                                          "pod-security.kubernetes.io/enforce": "privileged"}}})
    ops = [Operation("namespace", "create", f"namespace {ns}, to hold the ConfigMap before the operator",
                     [cite("endpoint-configmap")], obj=namespace)]
    cm = {"apiVersion": "v1", "kind": "ConfigMap",
          "metadata": {"name": d["endpoint_configmap"], "namespace": ns},
          "data": {"KUBERNETES_SERVICE_HOST": endpoint.host, "KUBERNETES_SERVICE_PORT": str(endpoint.port)}}
    title = f"API server address {endpoint.host}:{endpoint.port} ({endpoint.how})"
    if view.endpoint_configmap is not None:
        if (view.endpoint_configmap.get("data") or {}) != cm["data"]:
            ops.append(Operation("endpoint-configmap", "patch", title,
                                 [cite("endpoint-configmap-create"), endpoint.cite],
                                 target=_target(cm), patch={"data": cm["data"]}))
    else:
        ops.append(Operation("endpoint-configmap", "create", title,
                             [cite("endpoint-configmap-create"), endpoint.cite], obj=cm))
    late = view.operator_deployment is not None and any(o.step == "endpoint-configmap" for o in ops)
    if late:
        ops.append(Operation("restart-operator", "sleep", "let the ConfigMap propagate before the restart",
                             [cite("restart-operator")], seconds=opts.configmap_wait_s))
        ops.append(Operation("restart-operator", "restart-pods", "restart the operator so it reads the ConfigMap",
                             [cite("restart-operator")], target=("v1", "Pod", None, ns),
                             selector=d["operator_pod_selector"]))
    return ops


def _operator_steps(distro: Distro, operator_objs: list[dict] | None, source: str, unlisted_reason: str, *,
                    namespace_done: bool) -> list[Operation]:
    d, cite = data.defaults(), data.statement
    ns = d["operator_namespace"]
    ops = []
    if operator_objs is None:
        ops.append(Operation("operator", "note", f"every object of {source}", [cite("operator")],
                             text=f"not listed: {unlisted_reason}; pass --operator-manifest PATH to list them"))
    for obj in operator_objs or []:
        if namespace_done and obj["kind"] == "Namespace" and obj["metadata"]["name"] == ns:
            continue       # created in step 1, before the ConfigMap
        ops.append(Operation("operator", "create", f"{obj['kind']} {obj['metadata']['name']}",
                             [cite("operator")], obj=obj))
    ops.append(Operation("operator", "wait-crds", "the operator's CRDs are served", [cite("operator")],
                         target=("operator.tigera.io/v1", "Installation", None, None)))
    if distro.aws_dns_patch:
        ops.append(Operation("aws-dns", "patch", "the operator resolves the API server's name with AWS DNS",
                             [cite("aws-dns")],
                             target=("apps/v1", "Deployment", d["operator_deployment"], ns), patch_type="strategic",
                             patch={"spec": {"template": {"spec": {"dnsConfig": {
                                 "nameservers": [d["aws_dns_server"]]}}}}}))
    return ops


def _custom_resource_steps(resources: list[dict], installation_cites: list[Statement],
                           operator_objs: list[dict] | None, source: str, expect: list[str]) -> list[Operation]:
    cite = data.statement
    ops = []
    for obj in resources:
        # The operator's own CRD, from the manifest about to be applied, checks the object first.
        checked = crd_schema.verify(obj, operator_objs or [], source)
        if obj["kind"] == "Installation":
            pools = ", ".join(f"{p['cidr']} {p['encapsulation']}"
                              for p in obj["spec"]["calicoNetwork"].get("ipPools", [])) or "none (AWS VPC CNI)"
            ops.append(Operation("installation", "create", f"Installation default: linuxDataplane BPF, "
                                 f"IP pools {pools}", installation_cites, obj=obj, validated=checked))
        elif obj["kind"] == "APIServer":
            ops.append(Operation("apiserver", "create", "APIServer default", [cite("apiserver")], obj=obj,
                                 validated=checked))
            expect.append("apiserver")
        else:
            ops.append(Operation("custom-resources", "create", f"{obj['kind']} {obj['metadata']['name']}",
                                 [cite("installation-bpf")], obj=obj, validated=checked))
    return ops


def _merged(target, patch):
    """RFC 7386: what a merge patch leaves of ``target``."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merged(out.get(key), value)
    return out


def _check_switch_over(view: ClusterView, patch: dict) -> str | None:
    """The Installation as the switch-over patch leaves it, against the CRD the cluster serves: the
    operator already there may predate eBPF mode. Only problems the patch brings count."""
    crd = crd_schema.find([view.installation_crd] if view.installation_crd else [],
                          "operator.tigera.io/v1", "Installation")
    if crd is None or crd.is_open:
        return None
    before = set(crd_schema.problems(view.installation, crd))
    brought = [p for p in crd_schema.problems(_merged(view.installation, patch), crd) if p not in before]
    if brought:
        raise UsageError(f"the switch-over patch does not fit the {crd.describe()} this cluster serves: "
                         f"{brought[0]}; upgrade the Tigera operator to one with eBPF mode first")
    return f"the patched Installation against the {crd.describe()} this cluster serves"


def check_felix(ops: list[Operation], operator_objs: list[dict], source: str) -> None:
    """The FelixConfiguration fields the plan sets, against Calico's own FelixConfiguration CRD in
    the operator manifest (the projectcalico.org/v3 API the patch goes through serves the same
    spec)."""
    for op in ops:
        stored = felix_as_stored(op)
        if stored:
            op.validated = crd_schema.verify(stored, operator_objs, source)


def felix_as_stored(op: Operation) -> dict | None:
    """What a FelixConfiguration patch sets, as the crd.projectcalico.org object it is stored as."""
    if not (op.target and op.target[1] == "FelixConfiguration" and isinstance(op.patch, dict)):
        return None
    return {"apiVersion": "crd.projectcalico.org/v1", "kind": "FelixConfiguration",
            "metadata": {"name": op.target[2]}, "spec": op.patch.get("spec") or {}}


def _felix(view: ClusterView, spec: dict, step: str, title: str, cites) -> Operation:
    api = view.felix_api
    return Operation(step, "patch", f"FelixConfiguration default: {title}", cites,
                     target=(api, "FelixConfiguration", "default", None), patch={"spec": spec},
                     create_if_missing=True,
                     obj={"apiVersion": api, "kind": "FelixConfiguration", "metadata": {"name": "default"},
                          "spec": {}})


def _kube_proxy(distro: Distro, view: ClusterView) -> list[Operation]:
    kp, cite = distro.kube_proxy, data.statement
    strategy = kp["strategy"]
    main = cite(kp["cite"])
    if strategy == "guidance":
        return [Operation("kube-proxy", "note", "kube-proxy: documented guidance only", [main, cite("kube-proxy-conflict")],
                          text=kp["guidance"])]
    if strategy == "openshift-network":
        return [Operation("kube-proxy", "patch", "OpenShift network operator: deployKubeProxy false", [main],
                          target=("operator.openshift.io/v1", "Network", "cluster", None),
                          patch={"spec": {"deployKubeProxy": False}})]
    if strategy == "felix-no-cleanup":
        return [_felix(view, {"bpfKubeProxyIptablesCleanupEnabled": False}, "kube-proxy",
                       "bpfKubeProxyIptablesCleanupEnabled false (kube-proxy stays)", [main])]
    if strategy != "daemonset-node-selector":
        raise ValueError(f"unknown kube_proxy strategy {strategy!r} in distros.yaml")
    ds, cmref = kp["daemonset"], kp["configmap"]
    ds_target = ("apps/v1", "DaemonSet", ds["name"], ds["namespace"])
    if not view.offline and view.kube_proxy_ds is None:
        return [Operation("kube-proxy", "note", "kube-proxy is not deployed: nothing to disable",
                          [cite("kube-proxy-absent")],
                          text=f"DaemonSet {ds['namespace']}/{ds['name']} not found: kube-proxy was not deployed "
                               "(for kubeadm: kubeadm init --skip-phases=addon/kube-proxy)")]
    ops = []
    mode = view.kube_proxy_mode(cmref["key"])
    if view.offline:
        ops.append(Operation("kube-proxy-ipvs", "note", "IPVS to iptables, if kube-proxy runs in IPVS mode",
                             [cite("kube-proxy-ipvs")],
                             condition=f"only if ConfigMap {cmref['namespace']}/{cmref['name']} says mode: ipvs",
                             text=f"if {cmref['name']}'s {cmref['key']} says `mode: ipvs`, it is set to "
                                  f"`mode: iptables` and the DaemonSet is restarted before it is disabled"))
    elif mode == "ipvs":
        text = view.kube_proxy_config["data"][cmref["key"]]
        new = re.sub(r"(?m)^mode:.*$", "mode: iptables", text)
        ops.append(Operation("kube-proxy-ipvs", "patch", "kube-proxy IPVS mode -> iptables", [cite("kube-proxy-ipvs")],
                             target=("v1", "ConfigMap", cmref["name"], cmref["namespace"]),
                             patch={"data": {cmref["key"]: new}}, restart_after=ds_target))
    ops.append(Operation("kube-proxy", "patch", "kube-proxy DaemonSet: a node selector that matches no node",
                         [main, cite("kube-proxy-restore")], target=ds_target, patch_type="strategic",
                         patch={"spec": {"template": {"spec": {"nodeSelector": dict(NON_MATCHING_SELECTOR)}}}}))
    return ops
