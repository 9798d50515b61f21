"""Calico configuration detectors: datastore, mixed dataplanes, IP pools, floating IPs, VLANs."""
from __future__ import annotations

import json
import re

from calico_conformance.support.detectors import detector
from calico_conformance.support.detectors.common import (calico_node_containers, capped, env, felix_default,
                                                         installation, ip_pools, ipip_on)
from calico_conformance.support.inventory import Inventory
from calico_conformance.support.observation import Context, Observation

FLOATING_IPS = "cni.projectcalico.org/floatingIPs"


# ---- datastore -------------------------------------------------------------------------------

@detector("etcd_datastore")
def etcd_datastore(ctx: Context) -> Observation:
    inv, etcd, kube = ctx.inv, [], []
    for cm in inv.of("ConfigMap"):
        if cm.name == "calico-config" and isinstance(cm.get("data.etcd_endpoints"), str) \
                and cm.get("data.etcd_endpoints").strip():
            etcd.append(f"{cm.ref()}: etcd_endpoints is set")
    for obj, c in calico_node_containers(inv):
        values = env(c)
        kind = values.get("DATASTORE_TYPE", "")
        if kind == "etcdv3" or values.get("ETCD_ENDPOINTS"):
            etcd.append(f"{obj.ref()}: calico-node env DATASTORE_TYPE={kind or '(unset)'}"
                        + (", ETCD_ENDPOINTS set" if values.get("ETCD_ENDPOINTS") else ""))
        elif kind == "kubernetes":
            kube.append(f"{obj.ref()}: calico-node env DATASTORE_TYPE=kubernetes")
    if etcd:
        return Observation.present(*capped(etcd))
    inst = installation(inv)
    if inst:
        kube.append(f"{inst.ref()}: the operator always uses the Kubernetes datastore")
    crds = [o for o in inv.objects if o.api_version.startswith("crd.projectcalico.org/")]
    if crds:
        kube.append(f"{crds[0].ref()} is a crd.projectcalico.org object (Kubernetes datastore)")
    if ctx.datastore_fact == "kubernetes":
        kube.append("the target reports the Kubernetes datastore")
    elif ctx.datastore_fact == "etcd":
        return Observation.present("the target reports the etcd datastore")
    if kube:
        return Observation.absent(*capped(kube))
    return Observation.unknown("no Calico datastore configuration (Installation, calico-config ConfigMap, "
                               "calico-node env); Calico not installed yet?")


# ---- mixed dataplanes ------------------------------------------------------------------------

def _felix_env_bpf(inv: Inventory) -> bool | None:
    for _, c in calico_node_containers(inv):
        value = env(c).get("FELIX_BPFENABLED")
        if value is not None:
            return value.lower() == "true"
    return None


@detector("nftables_mode")
def nftables_mode(ctx: Context) -> Observation:
    """felix in nftables mode (FelixConfiguration nftablesMode or calico-node FELIX_NFTABLESMODE)."""
    inv, felix = ctx.inv, felix_default(ctx.inv)
    found = []
    if felix is not None and str(felix.get("spec.nftablesMode") or "").lower() == "enabled":
        found.append(f"{felix.ref()}: nftablesMode Enabled")
    for obj, c in calico_node_containers(inv):
        if env(c).get("FELIX_NFTABLESMODE", "").lower() == "enabled":
            found.append(f"{obj.ref()}: calico-node env FELIX_NFTABLESMODE=Enabled")
    if found:
        return Observation.present(*capped(found))
    if felix is None and not calico_node_containers(inv):
        return Observation.unknown("no FelixConfiguration default or calico-node DaemonSet to read nftablesMode from")
    return Observation.absent("felix runs in iptables mode (nftablesMode unset or Disabled)")


@detector("mixed_dataplane")
def mixed_dataplane(ctx: Context) -> Observation:
    inv = ctx.inv
    inst, felix = installation(inv), felix_default(inv)
    dataplane = inst.get("spec.calicoNetwork.linuxDataplane") if inst else None
    felix_bpf = felix.get("spec.bpfEnabled") if felix else None
    if not isinstance(felix_bpf, bool):
        felix_bpf = _felix_env_bpf(inv)
    overrides = [(f, f.get("spec.bpfEnabled")) for f in inv.of("calico/FelixConfiguration")
                 if f.name.startswith("node.") and isinstance(f.get("spec.bpfEnabled"), bool)]
    if not isinstance(dataplane, str) and felix_bpf is None and not overrides:
        return Observation.unknown("no Installation or FelixConfiguration says which dataplane the nodes run")
    # Felix follows FelixConfiguration; the operator's Installation is what it was asked to be.
    default_bpf = felix_bpf if felix_bpf is not None else dataplane == "BPF"
    lines = []
    if isinstance(dataplane, str) and felix_bpf is not None and (dataplane == "BPF") != felix_bpf:
        lines.append(f"{inst.ref()}: linuxDataplane={dataplane} but FelixConfiguration default "
                     f"bpfEnabled={str(felix_bpf).lower()}")
    for f, bpf in overrides:
        if bpf != default_bpf:
            lines.append(f"{f.ref()}: bpfEnabled={str(bpf).lower()} while the cluster default is "
                         f"{str(default_bpf).lower()} (node {f.name[len('node.'):]})")
    if lines:
        return Observation.present(*capped(lines))
    where = f"linuxDataplane={dataplane}" if isinstance(dataplane, str) else f"bpfEnabled={str(default_bpf).lower()}"
    return Observation.absent(f"every node uses the {'eBPF' if default_bpf else 'standard'} dataplane ({where}"
                              f"{f', {len(overrides)} per-node override(s) agree' if overrides else ''})")


# ---- IP pools and IPv6 -----------------------------------------------------------------------

def _v6(cidr: object) -> bool:
    return isinstance(cidr, str) and ":" in cidr


def ipv6_evidence(inv: Inventory) -> tuple[list[str], int]:
    """(where IPv6 is configured, how many places were looked at)."""
    lines, looked = [], 0
    for where, cidr, _, _ in ip_pools(inv):
        looked += 1
        if _v6(cidr):
            lines.append(f"{where}: IPv6 pool {cidr}")
    for n in inv.of("Node"):
        cidrs = [c for c in n.list_at("spec.podCIDRs") + [n.get("spec.podCIDR")] if isinstance(c, str)]
        looked += bool(cidrs)
        lines += [f"{n.ref()}: IPv6 pod CIDR {c}" for c in dict.fromkeys(cidrs) if _v6(c)]
    for s in inv.of("Service"):
        looked += 1
        ips = [ip for ip in s.list_at("spec.clusterIPs") + [s.get("spec.clusterIP")] if _v6(ip)]
        if ips or "IPv6" in s.list_at("spec.ipFamilies"):
            lines.append(f"{s.ref()}: IPv6 service address {ips[0] if ips else '(ipFamilies IPv6)'}")
    return lines, looked


@detector("ipv6_in_use")
def ipv6_in_use(ctx: Context) -> Observation:
    lines, looked = ipv6_evidence(ctx.inv)
    if lines:
        return Observation.present(*capped(lines))
    if looked:
        return Observation.absent(f"{looked} IP pool(s), pod CIDR(s) and service(s) looked at, all IPv4")
    return Observation.unknown("no IP pools, pod CIDRs or Services to look at")


def _ipip(ctx: Context, want_v6: bool) -> Observation:
    pools = [p for p in ip_pools(ctx.inv) if _v6(p[1]) == want_v6]
    family = "IPv6" if want_v6 else "IPv4"
    if not ip_pools(ctx.inv):
        return Observation.unknown("no IP pools (IPPool objects or Installation ipPools) to look at")
    hits = [f"{where}: {family} pool {cidr} with ipipMode {ipip}" for where, cidr, ipip, _ in pools if ipip_on(ipip)]
    if hits:
        return Observation.present(*capped(hits))
    return Observation.absent(f"{len(pools)} {family} pool(s), none with IPIP")


@detector("ipv6_ipip")
def ipv6_ipip(ctx: Context) -> Observation:
    return _ipip(ctx, want_v6=True)


@detector("ipv4_ipip")
def ipv4_ipip(ctx: Context) -> Observation:
    return _ipip(ctx, want_v6=False)


# ---- floating IPs ----------------------------------------------------------------------------

@detector("floating_ips")
def floating_ips(ctx: Context) -> Observation:
    inv, hits = ctx.inv, []
    for pod in inv.of("Pod"):
        value = pod.annotations.get(FLOATING_IPS, "").strip()
        if value and value not in ("[]", '""'):
            hits.append(f"{pod.ref()}: annotation {FLOATING_IPS}={value}")
    config = [cm for cm in inv.of("ConfigMap") if cm.name == "calico-config"]
    for cm in config:
        cni = cm.get("data.cni_network_config")
        if isinstance(cni, str) and re.search(r'"floating_ips"\s*:\s*true', cni):
            hits.append(f"{cm.ref()}: cni_network_config enables feature_control floating_ips")
    if hits:
        return Observation.present(*capped(hits))
    if inv.has("Pod") or config:
        return Observation.absent(f"{len(inv.of('Pod'))} pod(s) without {FLOATING_IPS}"
                                  + ("; calico-config does not enable floating_ips" if config else ""))
    return Observation.unknown("no Pods to look at")


# ---- tagged VLAN devices (what the API can show) ---------------------------------------------

# eth0.100, bond0.200, vlan100: an interface name that is a VLAN sub-interface.
_VLAN_NAME = re.compile(r"(?:^|[^\w])(?:[a-z][\w-]*\\?\.\d{1,4}|vlan\d{1,4})(?:$|[^\w.])", re.I)


def _vlan_mentions(where: str, value: object) -> list[str]:
    text = value if isinstance(value, str) else json.dumps(value) if value else ""
    return [f"{where}: {text}"] if text and _VLAN_NAME.search(text) else []


@detector("tagged_vlan_api")
def tagged_vlan_api(ctx: Context) -> Observation:
    inv, hits = ctx.inv, []
    inst = installation(inv)
    if inst:
        for fam in ("V4", "V6"):
            path = f"spec.calicoNetwork.nodeAddressAutodetection{fam}"
            for key in ("interface", "skipInterface"):
                hits += _vlan_mentions(f"{inst.ref()} {path}.{key}", inst.get(f"{path}.{key}"))
    for _, c in calico_node_containers(inv):
        for name in ("IP_AUTODETECTION_METHOD", "IP6_AUTODETECTION_METHOD"):
            hits += _vlan_mentions(f"calico-node env {name}", env(c).get(name))
    felix = felix_default(inv)
    if felix:
        for key in ("bpfDataIfacePattern", "bpfL3IfacePattern"):
            hits += _vlan_mentions(f"{felix.ref()} {key}", felix.get(f"spec.{key}"))
    if hits:
        return Observation.present(*capped(hits))
    return Observation.unknown("the API does not show node network devices; the node scan "
                               "EBPF-UNSUPPORTED-VLAN looks for tagged VLAN devices on the nodes")
