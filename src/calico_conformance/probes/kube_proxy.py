"""Finding kube-proxy's service rules on a node, in iptables and in nftables, and its IPVS device.

What counts is what real felix removes in BPF mode (``upstream.FELIX_REMOVES_KUBE_PROXY_CHAINS``):
those chains carry kube-proxy's service NAT and must be gone. Chains felix deliberately leaves
(KUBE-MARK-*, KUBE-POSTROUTING, KUBE-FIREWALL, KUBE-PROXY-CANARY, KUBE-PROXY-FIREWALL, KUBE-EXT-*
with their jumps removed, kubelet's canaries) are reported as leftovers, never as a failure: a
switched-over cluster keeps them. nftables-mode kube-proxy keeps everything in a table named
``kube-proxy``, which felix only removes from v3.31.4; IPVS mode leaves a ``kube-ipvs0`` dummy
device that felix never removes.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from calico_conformance.targets.base import Node
from calico_conformance.upstream import FELIX_REMOVES_KUBE_PROXY_CHAINS
from calico_conformance.vocabulary.errors import ExecutorError


def _prefix_pattern(prefixes) -> re.Pattern:
    # Felix matches each at the start of a chain name (felix/iptables/table.go::NewTable).
    alts = [re.escape(p) + r"[\w-]*" for p in prefixes]
    return re.compile(r"\b(?:" + "|".join(alts) + r")(?![\w-])")


SERVICE_CHAIN = _prefix_pattern(FELIX_REMOVES_KUBE_PROXY_CHAINS)
# Left by felix on purpose (or made by kubelet): shown as leftovers, never failed.
LEFT_BY_DESIGN = re.compile(r"\bKUBE-(?:MARK-\w+|POSTROUTING|FIREWALL|KUBELET-CANARY|IPTABLES-HINT"
                            r"|PROXY-CANARY|PROXY-FIREWALL|EXT-[\w-]+|SVL-[\w-]+|NODE-PORT|LOAD-BALANCER)(?![\w-])")
IPVS_DEVICE = "kube-ipvs0"
# iptables-save declares chains as ":NAME POLICY [counters]".
_DECLARED = re.compile(r"^:(\S+)", re.M)
_NFT_TABLE = re.compile(r"^table (ip|ip6|inet) (kube-proxy)\b", re.M)


@dataclass
class NodeRules:
    node: str
    chains: list[str] = field(default_factory=list)   # kube-proxy service chains found
    nft_tables: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)  # chains felix leaves by design
    ipvs_device: bool = False                          # kube-proxy's IPVS dummy device is there
    sources: list[str] = field(default_factory=list)  # the commands that could be read
    errors: list[str] = field(default_factory=list)   # the commands that could not

    @property
    def clean(self) -> bool:
        return not self.chains and not self.nft_tables and not self.ipvs_device


def service_chains(iptables_save: str) -> list[str]:
    return sorted({name for name in _DECLARED.findall(iptables_save) if SERVICE_CHAIN.fullmatch(name)})


def leftover_chains(iptables_save: str) -> list[str]:
    return sorted({name for name in _DECLARED.findall(iptables_save) if LEFT_BY_DESIGN.fullmatch(name)})


def nft_kube_proxy_tables(ruleset: str) -> list[str]:
    return sorted({f"{fam} {name}" for fam, name in _NFT_TABLE.findall(ruleset)})


def inspect(node: Node) -> NodeRules:
    found = NodeRules(node.name)
    for argv in (["iptables-save"], ["ip6tables-save"], ["nft", "list", "ruleset"],
                 ["ip", "-o", "link", "show", "dev", IPVS_DEVICE]):
        try:
            result = node.executor.run(argv, timeout=20)
        except ExecutorError as exc:
            found.errors.append(str(exc))
            continue
        if argv[0] == "ip":    # no such device is the good answer, not an error
            found.ipvs_device = result.succeeded and IPVS_DEVICE in result.stdout
            continue
        if not result.succeeded:
            found.errors.append(result.describe())
            continue
        found.sources.append(argv[0])
        if argv[0] == "nft":
            found.nft_tables += nft_kube_proxy_tables(result.stdout)
            # iptables-nft chains also show in the nft ruleset; count each name once.
            found.chains = sorted(set(found.chains) | {m.group(0) for m in SERVICE_CHAIN.finditer(
                "\n".join(l for l in result.stdout.splitlines() if l.strip().startswith("chain ")))})
        else:
            found.chains = sorted(set(found.chains) | set(service_chains(result.stdout)))
            found.leftovers = sorted(set(found.leftovers) | set(leftover_chains(result.stdout)))
    return found
