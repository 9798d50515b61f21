"""Node detectors: architecture, kernel version, Windows nodes (status.nodeInfo and labels)."""
from __future__ import annotations

from collections import Counter

from calico_conformance.support import kernel
from calico_conformance.support.detectors import detector
from calico_conformance.support.detectors.common import capped
from calico_conformance.support.inventory import Inventory, Obj
from calico_conformance.support.observation import Context, Observation
from calico_conformance.upstream import FELIX_MIN_KERNEL, FELIX_MIN_RHEL_KERNEL

NO_NODES = "no Node objects to look at"
_ARCH_ALIASES = {"x86_64": "amd64", "aarch64": "arm64"}


def arch(inv: Inventory, node: Obj) -> str | None:
    value = (inv.text(node, "status.nodeInfo.architecture") or node.labels.get("kubernetes.io/arch")
             or node.labels.get("beta.kubernetes.io/arch"))
    return _ARCH_ALIASES.get(value, value) if value else None


def is_windows(inv: Inventory, node: Obj) -> bool:
    os_name = (node.labels.get("kubernetes.io/os") or node.labels.get("beta.kubernetes.io/os")
               or inv.text(node, "status.nodeInfo.operatingSystem") or "")
    image = inv.text(node, "status.nodeInfo.osImage") or ""
    return os_name.lower() == "windows" or image.lower().startswith("windows")


def _arch_observation(ctx: Context, matches) -> Observation:
    nodes = ctx.inv.of("Node")
    if not nodes:
        return Observation.unknown(NO_NODES)
    seen, hits, missing = Counter(), [], []
    for n in nodes:
        a = arch(ctx.inv, n)
        if a is None:
            missing.append(f"{n.ref()}: no status.nodeInfo.architecture or kubernetes.io/arch label")
            continue
        seen[a] += 1
        if matches(a):
            hits.append(f"{n.ref()}: architecture {a}")
    if hits:
        return Observation.present(*capped(hits))
    if missing:
        return Observation.unknown(*capped(missing))
    return Observation.absent(f"{len(nodes)} node(s): " + ", ".join(f"{a} x{c}" for a, c in sorted(seen.items())))


@detector("other_arch_nodes")
def other_arch_nodes(ctx: Context) -> Observation:
    return _arch_observation(ctx, lambda a: a not in ("amd64", "arm64"))


@detector("arm64_nodes")
def arm64_nodes(ctx: Context) -> Observation:
    return _arch_observation(ctx, lambda a: a == "arm64")


@detector("windows_nodes")
def windows_nodes(ctx: Context) -> Observation:
    nodes = ctx.inv.of("Node")
    if not nodes:
        return Observation.unknown(NO_NODES)
    hits = [f"{n.ref()}: Windows ({ctx.inv.text(n, 'status.nodeInfo.osImage') or 'label kubernetes.io/os=windows'})"
            for n in nodes if is_windows(ctx.inv, n)]
    if hits:
        return Observation.present(*capped(hits))
    return Observation.absent(f"{len(nodes)} node(s), all Linux")


@detector("kernel_too_old")
def kernel_too_old(ctx: Context) -> Observation:
    nodes = [n for n in ctx.inv.of("Node") if not is_windows(ctx.inv, n)]
    if not nodes:
        return Observation.unknown("no Linux Node objects to look at")
    low, high = ctx.params["min_kernel"], ctx.params["min_rhel_kernel"]
    old, unreadable, fine = [], [], []
    for n in nodes:
        release = ctx.inv.text(n, "status.nodeInfo.kernelVersion")
        os_image = ctx.inv.text(n, "status.nodeInfo.osImage") or ""
        if not release:
            unreadable.append(f"{n.ref()}: no status.nodeInfo.kernelVersion")
            continue
        ok = kernel.meets(release, os_image, low, high)
        minimum = kernel.minimum_for(release, os_image, low, high)
        if ok is None:
            ctx.inv.warn(f"{n.source}: Node {n.name}: field status.nodeInfo.kernelVersion "
                         f"{release!r} is not a kernel version; ignored")
            unreadable.append(f"{n.ref()}: kernelVersion {release!r} is not a kernel version")
        elif ok:
            fine.append(f"{n.name}: {release}")
        else:
            # The documents' minimum decides; felix's own, lower one is shown beside it.
            felix_runs = kernel.meets(release, os_image, FELIX_MIN_KERNEL, FELIX_MIN_RHEL_KERNEL)
            old.append(f"{n.ref()}: kernel {release} ({os_image or 'unknown OS'}) is older than {minimum}"
                       + (f" (felix itself would start BPF mode on it: its own minimum is {FELIX_MIN_KERNEL}, "
                          f"{FELIX_MIN_RHEL_KERNEL} on Red Hat)" if felix_runs else ""))
    if old:
        return Observation.present(*capped(old))
    if unreadable:
        return Observation.unknown(*capped(unreadable))
    return Observation.absent(f"{len(fine)} Linux node(s) at or above {low} (Red Hat family: {high})",
                              *capped(fine, 5))
