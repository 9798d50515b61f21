"""Detectors that probe the nodes (calico_conformance.support.probes) through the target's executors."""
from __future__ import annotations

from typing import Callable

from calico_conformance.support import probes
from calico_conformance.support.detectors import detector
from calico_conformance.support.detectors.calico import ipv6_evidence
from calico_conformance.support.observation import Context, Observation


def _over_nodes(ctx: Context, probe: Callable) -> Observation:
    """Present if any node shows it; a node that could not be probed makes the whole unknown."""
    if ctx.nodes is None:
        return Observation.unknown(f"skipped: {ctx.no_nodes}")
    if not ctx.nodes:
        return Observation.unknown("skipped: the target has no nodes to probe")
    results = [probe(node) for node in ctx.nodes]
    present = [f"node {r.node}: {r.detail}" for r in results if r.state == probes.PRESENT]
    skipped = [f"node {r.node}: {r.detail}" for r in results if r.state == probes.SKIPPED]
    clean = [f"node {r.node}: {r.detail}" for r in results if r.state == probes.ABSENT]
    if present:
        return Observation.present(*present, *skipped)
    if skipped:
        return Observation.unknown("skipped: " + "; ".join(skipped), *clean)
    return Observation.absent(*clean)


@detector("kernel_config_probe")
def kernel_config_probe(ctx: Context) -> Observation:
    required, recommended = ctx.params["required"], ctx.params.get("recommended", ())
    return _over_nodes(ctx, lambda n: probes.kernel_config(n.name, n.executor, required, recommended))


@detector("sctp_nodes_probe")
def sctp_nodes_probe(ctx: Context) -> Observation:
    return _over_nodes(ctx, lambda n: probes.sctp_sockets(n.name, n.executor))


@detector("ipv6_nodes_probe")
def ipv6_nodes_probe(ctx: Context) -> Observation:
    lines, _ = ipv6_evidence(ctx.inv)
    if not lines:
        return Observation.unknown("skipped: the cluster has no IPv6 pool, pod CIDR or service address; "
                                   "nothing to check")
    return _over_nodes(ctx, lambda n: probes.ipv6_ready(n.name, n.executor))
