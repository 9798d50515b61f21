"""Distribution detectors, from the per-node recognition in calico_conformance.support.distro."""
from __future__ import annotations

from calico_conformance.support import distro
from calico_conformance.support.detectors import detector
from calico_conformance.support.detectors.common import capped, felix_default, installation
from calico_conformance.support.observation import Context, Observation

AWS_DNS = "169.254.169.253"
FLEXVOL = "/var/lib/kubelet/plugins"


def _nodes_of(ctx: Context, *names: str) -> Observation | dict[str, str]:
    """The matching nodes, or an Observation when there is nothing to decide on."""
    if ctx.distribution is None:
        return Observation.unknown("no Node objects to recognise the distribution from")
    return ctx.distribution.nodes_of(*names)


def _lines(ctx: Context, hits: dict[str, str]) -> tuple[str, ...]:
    return capped(f"node {n}: {distro.TITLES[ctx.distribution.nodes[n][0]]} ({why})" for n, why in hits.items())


def _distribution(ctx: Context, *names: str) -> Observation:
    hits = _nodes_of(ctx, *names)
    if isinstance(hits, Observation):
        return hits
    if hits:
        return Observation.present(*_lines(ctx, hits))
    return Observation.absent(f"distribution: {ctx.distribution.title}")


@detector("distro_gke")
def distro_gke(ctx: Context) -> Observation:
    return _distribution(ctx, "gke")


@detector("distro_rke")
def distro_rke(ctx: Context) -> Observation:
    return _distribution(ctx, "rke")


@detector("distro_mke")
def distro_mke(ctx: Context) -> Observation:
    return _distribution(ctx, "mke")


@detector("distro_listed")
def distro_listed(ctx: Context) -> Observation:
    return _distribution(ctx, *distro.LISTED)


@detector("distro_other")
def distro_other(ctx: Context) -> Observation:
    return _distribution(ctx, "rke2", "k3s", "generic")


@detector("aks_kube_proxy_cleanup")
def aks_kube_proxy_cleanup(ctx: Context) -> Observation:
    hits = _nodes_of(ctx, "aks")
    if isinstance(hits, Observation) or not hits:
        return hits if isinstance(hits, Observation) else Observation.absent("not an AKS cluster")
    felix = felix_default(ctx.inv)
    if felix is None:
        return Observation.present(f"{len(hits)} AKS node(s); no FelixConfiguration default yet: "
                                   "set bpfKubeProxyIptablesCleanupEnabled=false once Calico is installed")
    value = felix.get("spec.bpfKubeProxyIptablesCleanupEnabled")
    if value is False:
        return Observation.absent(f"{felix.ref()}: bpfKubeProxyIptablesCleanupEnabled=false")
    shown = "unset (default true)" if value is None else repr(value)
    return Observation.present(f"{len(hits)} AKS node(s); {felix.ref()}: bpfKubeProxyIptablesCleanupEnabled={shown}")


@detector("aws_operator_dns")
def aws_operator_dns(ctx: Context) -> Observation:
    hits = _nodes_of(ctx, "eks", "kops")
    if isinstance(hits, Observation) or not hits:
        return hits if isinstance(hits, Observation) else Observation.absent("not a kOps or EKS cluster")
    operator = ctx.inv.named("Deployment", "tigera-operator")
    if operator is None:
        if not ctx.inv.has("Deployment"):
            return Observation.unknown("no Deployments to find tigera-operator in")
        return Observation.present(f"{len(hits)} AWS node(s) (kOps/EKS); no tigera-operator Deployment "
                                   "yet: patch its dnsConfig when you install it")
    servers = operator.get("spec.template.spec.dnsConfig.nameservers") or []
    if isinstance(servers, list) and AWS_DNS in servers:
        return Observation.absent(f"{operator.ref()}: dnsConfig nameservers include {AWS_DNS}")
    return Observation.present(f"{operator.ref()}: dnsConfig nameservers {servers or 'unset'} lack {AWS_DNS}")


@detector("bottlerocket_flexvolume")
def bottlerocket_flexvolume(ctx: Context) -> Observation:
    nodes = ctx.inv.of("Node")
    if not nodes:
        return Observation.unknown("no Node objects to look at")
    bottlerocket = [n.name for n in nodes
                    if "bottlerocket" in (ctx.inv.text(n, "status.nodeInfo.osImage") or "").lower()]
    if not bottlerocket:
        return Observation.absent("no Bottlerocket nodes")
    inst = installation(ctx.inv)
    if inst is None:
        return Observation.present(f"Bottlerocket node(s) {', '.join(bottlerocket[:5])}; no Installation yet: "
                                   f"set flexVolumePath: {FLEXVOL} in it")
    path = inst.get("spec.flexVolumePath")
    if path == FLEXVOL:
        return Observation.absent(f"{inst.ref()}: flexVolumePath={FLEXVOL}")
    return Observation.present(f"Bottlerocket node(s) {', '.join(bottlerocket[:5])}; {inst.ref()}: "
                               f"flexVolumePath={path or 'unset'}")
