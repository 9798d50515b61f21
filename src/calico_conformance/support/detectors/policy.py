"""Policy and service detectors: SCTP, doNotTrack, the Log action."""
from __future__ import annotations

from calico_conformance.support.detectors import detector
from calico_conformance.support.detectors.common import capped
from calico_conformance.support.inventory import Obj
from calico_conformance.support.observation import Context, Observation

CALICO_POLICIES = ("calico/NetworkPolicy", "calico/GlobalNetworkPolicy", "calico/StagedNetworkPolicy",
                   "calico/StagedGlobalNetworkPolicy")


def _rules(obj: Obj):
    for direction in ("ingress", "egress"):
        for i, rule in enumerate(obj.list_at(f"spec.{direction}")):
            if isinstance(rule, dict):
                yield f"{direction}[{i}]", rule


def _is_sctp(protocol: object) -> bool:
    return (isinstance(protocol, str) and protocol.upper() == "SCTP") or protocol == 132


@detector("sctp_api")
def sctp_api(ctx: Context) -> Observation:
    inv, hits = ctx.inv, []
    for svc in inv.of("Service"):
        for port in svc.list_at("spec.ports"):
            if isinstance(port, dict) and _is_sctp(port.get("protocol")):
                hits.append(f"{svc.ref()}: port {port.get('port')}/SCTP")
    for pol in inv.of("NetworkPolicy"):
        for where, rule in _rules(pol):
            ports = rule.get("ports")
            for port in ports if isinstance(ports, list) else []:
                if isinstance(port, dict) and _is_sctp(port.get("protocol")):
                    hits.append(f"{pol.ref()}: {where} port {port.get('port')}/SCTP")
    for pol in inv.of(*CALICO_POLICIES, "calico/Profile"):
        for where, rule in _rules(pol):
            if _is_sctp(rule.get("protocol")):
                hits.append(f"{pol.ref()}: {where} protocol SCTP")
    if hits:
        return Observation.present(*capped(hits))
    kinds = ("Service", "NetworkPolicy", *CALICO_POLICIES)
    if inv.has(*kinds):
        return Observation.absent(f"{len(inv.of(*kinds))} service(s) and policies, none with SCTP")
    return Observation.unknown("no Services or policies to look at")


@detector("donottrack_policy")
def donottrack_policy(ctx: Context) -> Observation:
    inv = ctx.inv
    policies = inv.of("calico/GlobalNetworkPolicy", "calico/StagedGlobalNetworkPolicy")
    heps = len(inv.of("calico/HostEndpoint"))
    hep_note = f"{heps} HostEndpoint(s) in the cluster" if inv.has("calico/HostEndpoint") else "HostEndpoints not listed"
    hits = [f"{p.ref()}: doNotTrack: true ({hep_note})" for p in policies if p.get("spec.doNotTrack") is True]
    if hits:
        return Observation.present(*capped(hits))
    if inv.has("calico/GlobalNetworkPolicy"):
        return Observation.absent(f"{len(policies)} GlobalNetworkPolicy(ies), none with doNotTrack")
    return Observation.unknown("no GlobalNetworkPolicies to look at")


@detector("log_action")
def log_action(ctx: Context) -> Observation:
    inv = ctx.inv
    policies = inv.of(*CALICO_POLICIES, "calico/Profile")
    hits = [f"{p.ref()}: {where} action Log" for p in policies for where, rule in _rules(p)
            if isinstance(rule.get("action"), str) and rule["action"].lower() == "log"]
    if hits:
        return Observation.present(*capped(hits))
    if inv.has(*CALICO_POLICIES, "calico/Profile"):
        return Observation.absent(f"{len(policies)} Calico policy(ies)/profile(s), no Log rules")
    return Observation.unknown("no Calico NetworkPolicies, GlobalNetworkPolicies or Profiles to look at")
