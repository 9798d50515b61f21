"""Finding kube-proxy's service rules on a node, in iptables and ip6tables, in nftables, and its
IPVS device; and the proof that the rules were read on the node itself.

What counts is what real felix removes in BPF mode (``upstream.FELIX_REMOVES_KUBE_PROXY_CHAINS``):
those chains carry kube-proxy's service NAT and must be gone. Chains felix deliberately leaves
(KUBE-MARK-*, KUBE-POSTROUTING, KUBE-FIREWALL, KUBE-PROXY-CANARY, KUBE-PROXY-FIREWALL, KUBE-EXT-*
with their jumps removed, kubelet's canaries) are reported as leftovers, never as a failure: a
switched-over cluster keeps them. nftables-mode kube-proxy keeps everything in a table named
``kube-proxy`` (``ip`` and ``ip6``), which felix only removes from v3.31.4; IPVS mode leaves a
``kube-ipvs0`` dummy device that felix never removes. Chains and tables are kept per IP family:
felix manages the IPv6 ones only with its IPv6 support on (``kube_proxy_verdict``).
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
FAMILIES = ("ipv4", "ipv6")
# iptables-save declares chains as ":NAME POLICY [counters]".
_DECLARED = re.compile(r"^:(\S+)", re.M)
_NFT_TABLE = re.compile(r"^table (ip|ip6|inet) (\S+)", re.M)
_NFT_FAMILY = {"ip": "ipv4", "ip6": "ipv6"}
_SAVE = {"iptables-save": "ipv4", "ip6tables-save": "ipv6"}


@dataclass
class NodeRules:
    node: str
    chains: dict[str, list[str]] = field(default_factory=lambda: {f: [] for f in FAMILIES})
    leftovers: dict[str, list[str]] = field(default_factory=lambda: {f: [] for f in FAMILIES})
    nft_tables: list[str] = field(default_factory=list)   # "ip kube-proxy", "ip6 kube-proxy"
    ipvs_device: bool = False                          # kube-proxy's IPVS dummy device is there
    sources: list[str] = field(default_factory=list)  # the commands that could be read
    errors: list[str] = field(default_factory=list)   # the commands that could not
    # The interface that holds the node's own address where the rules were read: proof that
    # they are the node's (an agent that is not in the host's network namespace sees none).
    at_node: str | None = None

    def nft_tables_of(self, family: str) -> list[str]:
        return [t for t in self.nft_tables if _NFT_FAMILY.get(t.split()[0]) == family]


def service_chains(iptables_save: str) -> list[str]:
    return sorted({name for name in _DECLARED.findall(iptables_save) if SERVICE_CHAIN.fullmatch(name)})


def leftover_chains(iptables_save: str) -> list[str]:
    return sorted({name for name in _DECLARED.findall(iptables_save) if LEFT_BY_DESIGN.fullmatch(name)})


def nft_kube_proxy_tables(ruleset: str) -> list[str]:
    return sorted({f"{fam} {name}" for fam, name in _NFT_TABLE.findall(ruleset) if name == "kube-proxy"})


def _nft_chains_by_family(ruleset: str) -> dict[str, set[str]]:
    """The service chains iptables-nft keeps in nftables, by the family of their table."""
    out = {f: set() for f in FAMILIES}
    family = None
    for line in ruleset.splitlines():
        table = _NFT_TABLE.match(line)
        if table:
            family = _NFT_FAMILY.get(table.group(1))
        elif family and line.strip().startswith("chain "):
            out[family] |= {m.group(0) for m in SERVICE_CHAIN.finditer(line)}
    return out


def inspect(node: Node) -> NodeRules:
    found = NodeRules(node.name)
    for argv in (["iptables-save"], ["ip6tables-save"], ["nft", "list", "ruleset"],
                 ["ip", "-o", "link", "show", "dev", IPVS_DEVICE], ["ip", "-o", "addr", "show", "to", node.address]):
        try:
            result = node.executor.run(argv, timeout=20)
        except ExecutorError as exc:
            found.errors.append(str(exc))
            continue
        if argv[:2] == ["ip", "-o"] and argv[2] == "link":    # no such device is the good answer
            found.ipvs_device = result.succeeded and IPVS_DEVICE in result.stdout
            continue
        if argv[:3] == ["ip", "-o", "addr"]:
            fields = result.stdout.split()
            found.at_node = fields[1].split("@")[0] if result.succeeded and len(fields) > 1 else None
            continue
        if not result.succeeded:
            found.errors.append(result.describe())
            continue
        found.sources.append(argv[0])
        if argv[0] == "nft":
            found.nft_tables += nft_kube_proxy_tables(result.stdout)
            # iptables-nft chains also show in the nft ruleset; count each name once.
            for family, chains in _nft_chains_by_family(result.stdout).items():
                found.chains[family] = sorted(set(found.chains[family]) | chains)
        else:
            family = _SAVE[argv[0]]
            found.chains[family] = sorted(set(found.chains[family]) | set(service_chains(result.stdout)))
            found.leftovers[family] = sorted(set(found.leftovers[family]) | set(leftover_chains(result.stdout)))
    return found
