"""Finding kube-proxy's service rules on a node, in iptables and in nftables.

The chain names are the ones felix's own tests treat as kube-proxy's (KUBE-MARK-* may stay: other
components use them); nftables-mode kube-proxy keeps everything in a table named ``kube-proxy``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from calico_conformance.executor import ExecutorError
from calico_conformance.targets.base import Node

SERVICE_CHAIN = re.compile(
    r"\bKUBE-(?:SERVICES|EXTERNAL-SERVICES|NODEPORTS|FORWARD|PROXY-FIREWALL|PROXY-CANARY"
    r"|SVC-\w+|SEP-\w+|FW-\w+|XLB-\w+|EXT-\w+|SVL-\w+)\b")
# iptables-save declares chains as ":NAME POLICY [counters]".
_DECLARED = re.compile(r"^:(\S+)", re.M)
_NFT_TABLE = re.compile(r"^table (ip|ip6|inet) (kube-proxy)\b", re.M)


@dataclass
class NodeRules:
    node: str
    chains: list[str] = field(default_factory=list)   # kube-proxy service chains found
    nft_tables: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # the commands that could be read
    errors: list[str] = field(default_factory=list)   # the commands that could not

    @property
    def clean(self) -> bool:
        return not self.chains and not self.nft_tables


def service_chains(iptables_save: str) -> list[str]:
    return sorted({name for name in _DECLARED.findall(iptables_save) if SERVICE_CHAIN.fullmatch(name)})


def nft_kube_proxy_tables(ruleset: str) -> list[str]:
    return sorted({f"{fam} {name}" for fam, name in _NFT_TABLE.findall(ruleset)})


def inspect(node: Node) -> NodeRules:
    found = NodeRules(node.name)
    for argv in (["iptables-save"], ["ip6tables-save"], ["nft", "list", "ruleset"]):
        try:
            result = node.executor.run(argv, timeout=20)
        except ExecutorError as exc:
            found.errors.append(str(exc))
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
    return found
