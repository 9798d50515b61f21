"""kube-proxy mode and the API-server address Calico uses (kubernetes-services-endpoint)."""
from __future__ import annotations

import ipaddress
import re

import yaml

from calico_conformance.support.detectors import detector
from calico_conformance.support.detectors.common import argv, capped, containers, ip_pools
from calico_conformance.support.inventory import Inventory, Obj
from calico_conformance.support.observation import Context, Observation

ENDPOINT_CM = "kubernetes-services-endpoint"
ENDPOINT_NAMESPACES = ("tigera-operator", "kube-system")
_MODE_LINE = re.compile(r"^\s*mode:\s*[\"']?(\w*)", re.M)
_SERVICE_DNS = re.compile(r"^kubernetes(\.default(\.svc(\.cluster\.local)?)?)?$|\.svc(\.cluster\.local)?$")


# ---- kube-proxy IPVS -------------------------------------------------------------------------

def _config_mode(inv: Inventory, cm: Obj, key: str) -> str | None:
    text = cm.dict_at("data").get(key)     # keys like "config.conf" hold a dot: no dotted path
    if not isinstance(text, str):
        return None
    try:
        conf = yaml.safe_load(text)
        mode = conf.get("mode") if isinstance(conf, dict) else None
    except yaml.YAMLError:
        inv.warn(f"{cm.source}: ConfigMap {cm.namespace}/{cm.name}: data.{key} is not valid YAML; read its mode line only")
        m = _MODE_LINE.search(text)
        mode = m.group(1) if m else None
    return mode if isinstance(mode, str) else ""


def _proxy_mode_arg(args: list[str]) -> str | None:
    for i, a in enumerate(args):
        if a.startswith("--proxy-mode="):
            return a.split("=", 1)[1]
        if a == "--proxy-mode" and i + 1 < len(args):
            return args[i + 1]
    return None


@detector("kube_proxy_ipvs")
def kube_proxy_ipvs(ctx: Context) -> Observation:
    inv, modes = ctx.inv, []
    for name, key in (("kube-proxy", "config.conf"), ("kube-proxy-config", "config")):
        for cm in inv.of("ConfigMap"):
            if cm.name == name:
                mode = _config_mode(inv, cm, key)
                if mode is not None:
                    modes.append((f"{cm.ref()} {key}", mode))
    for obj in inv.of("DaemonSet", "Pod"):
        if obj.name == "kube-proxy" or obj.name.startswith("kube-proxy-") or \
                obj.labels.get("k8s-app") == "kube-proxy":
            for c in containers(obj):
                mode = _proxy_mode_arg(argv(c))
                if mode is not None:
                    modes.append((f"{obj.ref()} --proxy-mode", mode))
    hits = [f"{where}: mode {mode}" for where, mode in modes if mode.lower() == "ipvs"]
    if hits:
        return Observation.present(*capped(hits))
    if modes:
        return Observation.absent(*capped(f"{where}: mode {mode or '(empty: iptables)'}" for where, mode in modes))
    daemonsets = [d for d in inv.of("DaemonSet") if d.name == "kube-proxy"]
    if inv.has("DaemonSet") and not daemonsets:
        return Observation.absent("no kube-proxy DaemonSet")
    if daemonsets:
        return Observation.unknown(f"{daemonsets[0].ref()} takes its mode from ConfigMap kube-system/kube-proxy, "
                                   "which is not in the data")
    return Observation.unknown("no kube-proxy ConfigMap or DaemonSet to look at")


# ---- kubernetes-services-endpoint ------------------------------------------------------------

def endpoint_config(inv: Inventory) -> Obj | None:
    for ns in ENDPOINT_NAMESPACES:
        cm = inv.named("ConfigMap", ENDPOINT_CM, ns)
        if cm:
            return cm
    return None


def _bootstrapping_installation(inv: Inventory) -> Obj | None:
    """An Installation that has the operator find the API server itself (v3.31+ field)."""
    return next((i for i in inv.of("Installation")
                 if i.get("spec.calicoNetwork.bpfNetworkBootstrap") == "Enabled"), None)


@detector("api_endpoint_missing")
def api_endpoint_missing(ctx: Context) -> Observation:
    cm = endpoint_config(ctx.inv)
    if cm is None:
        bootstrap = _bootstrapping_installation(ctx.inv)
        if bootstrap is not None:
            return Observation.absent(f"{bootstrap.ref()}: calicoNetwork.bpfNetworkBootstrap Enabled, the operator "
                                      "finds the API server itself (operator CRD, Calico v3.31+)")
        if not ctx.inv.has("ConfigMap"):
            return Observation.unknown("no ConfigMaps to look at")
        return Observation.present(f"no ConfigMap {ENDPOINT_CM} in {' or '.join(ENDPOINT_NAMESPACES)}")
    host = ctx.inv.text(cm, "data.KUBERNETES_SERVICE_HOST")
    if not host:
        return Observation.present(f"{cm.ref()}: no KUBERNETES_SERVICE_HOST")
    port = ctx.inv.text(cm, "data.KUBERNETES_SERVICE_PORT") or "(no port)"
    return Observation.absent(f"{cm.ref()}: {host}:{port}")


def _networks(inv: Inventory) -> tuple[list[tuple[str, object]], list[tuple[str, object]]]:
    """(pod networks, service networks) as (where, ip_network)."""
    pods, services = [], []

    def add(target, where, cidr):
        try:
            target.append((where, ipaddress.ip_network(cidr, strict=False)))
        except (TypeError, ValueError):
            pass

    for where, cidr, _, _ in ip_pools(inv):
        add(pods, where, cidr)
    for n in inv.of("Node"):
        for cidr in dict.fromkeys(c for c in n.list_at("spec.podCIDRs") + [n.get("spec.podCIDR")] if c):
            add(pods, f"{n.ref()} podCIDR", cidr)
    kubeadm = inv.named("ConfigMap", "kubeadm-config", "kube-system")
    if kubeadm and isinstance(kubeadm.get("data.ClusterConfiguration"), str):
        try:
            conf = yaml.safe_load(kubeadm.get("data.ClusterConfiguration")) or {}
            net = conf.get("networking") or {}
        except (yaml.YAMLError, AttributeError):
            net = {}
        for key, target in (("podSubnet", pods), ("serviceSubnet", services)):
            for cidr in filter(None, (c.strip() for c in str(net.get(key) or "").split(","))):
                add(target, f"{kubeadm.ref()} {key}", cidr)
    return pods, services


def _service_ips(inv: Inventory) -> dict[str, Obj]:
    ips = {}
    for s in inv.of("Service"):
        for ip in s.list_at("spec.clusterIPs") + [s.get("spec.clusterIP")]:
            if isinstance(ip, str) and ip not in ("", "None"):
                ips.setdefault(ip, s)
    return ips


@detector("api_endpoint_unstable")
def api_endpoint_unstable(ctx: Context) -> Observation:
    inv = ctx.inv
    cm = endpoint_config(inv)
    host = inv.text(cm, "data.KUBERNETES_SERVICE_HOST") if cm else None
    if not host:
        return Observation.unknown(f"no {ENDPOINT_CM} ConfigMap with KUBERNETES_SERVICE_HOST to check "
                                   "(see SUP-API-ENDPOINT-MISSING)")
    host = host.strip()
    setting = f"{cm.ref()}: KUBERNETES_SERVICE_HOST={host}"
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if _SERVICE_DNS.search(host.lower()):
            return Observation.present(f"{setting} is a Service DNS name: it resolves to a ClusterIP")
        return Observation.absent(f"{setting} is a DNS name; make sure it names a load balancer or a stable record")
    hits = []
    service_ips = _service_ips(inv)
    if str(ip) in service_ips:
        hits.append(f"{setting} is the ClusterIP of {service_ips[str(ip)].ref()}")
    pod_nets, service_nets = _networks(inv)
    hits += [f"{setting} is inside the service range {net} ({where})" for where, net in service_nets if ip in net]
    hits += [f"{setting} is a pod address, inside {net} ({where})" for where, net in pod_nets if ip in net]
    for pod in inv.of("Pod"):
        if pod.get("spec.hostNetwork") is not True and pod.get("status.podIP") == str(ip):
            hits.append(f"{setting} is the IP of {pod.ref()}")
    if hits:
        return Observation.present(*capped(hits))
    if not (service_ips or pod_nets or service_nets):
        return Observation.unknown(f"{setting}: no Services, IP pools or pod CIDRs to tell whether it is "
                                   "a pod or service address")
    nodes = [n.name for n in inv.of("Node") for a in n.list_at("status.addresses")
             if isinstance(a, dict) and a.get("address") == str(ip)]
    where = f" (InternalIP of node {nodes[0]}: make sure it is static)" if nodes else ""
    return Observation.absent(f"{setting} is outside the pod and service ranges{where}")
