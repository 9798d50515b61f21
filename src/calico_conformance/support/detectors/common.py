"""Small helpers the detectors share: evidence lists, containers and their env."""
from __future__ import annotations

from typing import Iterable

from calico_conformance.support.inventory import Inventory, Obj

MAX_LINES = 8


def capped(lines: Iterable[str], limit: int = MAX_LINES) -> tuple[str, ...]:
    """At most ``limit`` evidence lines, then a count of the rest."""
    lines = list(dict.fromkeys(lines))
    if len(lines) <= limit:
        return tuple(lines)
    return tuple(lines[:limit]) + (f"... and {len(lines) - limit} more",)


def containers(obj: Obj) -> list[dict]:
    path = "spec.containers" if obj.kind == "Pod" else "spec.template.spec.containers"
    return [c for c in obj.list_at(path) if isinstance(c, dict)]


def env(container: dict) -> dict[str, str]:
    """Literal env values (valueFrom references are not resolved)."""
    out = {}
    items = container.get("env")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("name"), str) and isinstance(item.get("value"), str):
            out[item["name"]] = item["value"]
    return out


def argv(container: dict) -> list[str]:
    parts = [container.get("command"), container.get("args")]
    return [a for part in parts if isinstance(part, list) for a in part if isinstance(a, str)]


def calico_node_containers(inv: Inventory):
    """(object, container) for calico-node in DaemonSets and Pods, however it was installed."""
    for obj in inv.of("DaemonSet", "Pod"):
        for c in containers(obj):
            image = c.get("image") if isinstance(c.get("image"), str) else ""
            if c.get("name") == "calico-node" or "calico/node:" in image:
                yield obj, c


def felix_default(inv: Inventory) -> Obj | None:
    return inv.named("calico/FelixConfiguration", "default")


def installation(inv: Inventory) -> Obj | None:
    return inv.named("Installation", "default") or next(iter(inv.of("Installation")), None)


def ip_pools(inv: Inventory) -> list[tuple[str, str, str, str]]:
    """(where, cidr, ipip, vxlan) for IPPool objects and the Installation's ipPools; disabled
    pools are left out. ipip/vxlan are '' when unset, else Always/CrossSubnet/Never."""
    pools = []
    for p in inv.of("calico/IPPool"):
        cidr = p.get("spec.cidr")
        if isinstance(cidr, str) and p.get("spec.disabled") is not True:
            ipip, vxlan = p.get("spec.ipipMode"), p.get("spec.vxlanMode")
            if p.get("spec.ipip.enabled") is True:              # the pre-v3 shape
                ipip = p.get("spec.ipip.mode") or "Always"
            pools.append((p.ref(), cidr, ipip if isinstance(ipip, str) else "",
                          vxlan if isinstance(vxlan, str) else ""))
    if not inv.has("calico/IPPool"):
        # Manifest installs: calico-node creates the first pool from its env.
        for obj, c in calico_node_containers(inv):
            values = env(c)
            for fam in ("IPV4", "IPV6"):
                cidr = values.get(f"CALICO_{fam}POOL_CIDR")
                if cidr:
                    pools.append((f"{obj.ref()} env CALICO_{fam}POOL_CIDR", cidr,
                                  values.get(f"CALICO_{fam}POOL_IPIP", ""), values.get(f"CALICO_{fam}POOL_VXLAN", "")))
            break
    inst = installation(inv)
    if inst:
        for i, p in enumerate(inst.list_at("spec.calicoNetwork.ipPools")):
            if isinstance(p, dict) and isinstance(p.get("cidr"), str):
                enc = p.get("encapsulation") if isinstance(p.get("encapsulation"), str) else ""
                ipip = {"IPIP": "Always", "IPIPCrossSubnet": "CrossSubnet"}.get(enc, "")
                vxlan = {"VXLAN": "Always", "VXLANCrossSubnet": "CrossSubnet"}.get(enc, "")
                pools.append((f"{inst.ref()} spec.calicoNetwork.ipPools[{i}]", p["cidr"], ipip, vxlan))
    return pools


def ipip_on(mode: str) -> bool:
    return mode.lower() in ("always", "crosssubnet")
