"""kube-proxy's state on a lab node, emulated: what ``iptables-save`` shows while kube-proxy (1.30,
iptables mode) serves the lab's two NodePort Services, what is left after felix's clean-up (or half
of one), and the table nftables-mode kube-proxy leaves. The rules are the ones real kube-proxy
v1.30 wrote for the same Services in the lab (profile kube-proxy-real, docs/real-calico.md).

Pure functions of (topology, mode), like rules.py; ``Profile.kube_proxy_rules`` picks the mode."""
from __future__ import annotations

import re

from calico_conformance.lab.topology import LabNode, Topology

# kube-proxy's chain names for the lab's Services (its hash of the service port, made stable here)
_SVC, _SEP = "KUBE-SVC-CCL4BACKEND0000", "KUBE-SEP-CCL4BACKEND0000"
_EXT = "KUBE-EXT-CCL4BACKEND0000"


def iptables_state(topo: Topology, mode: str, node: LabNode | None = None) -> str:
    """iptables-save text for kube-proxy's state on ``node`` in each ``kube_proxy_rules`` mode."""
    if mode in ("none", "nft-leftover"):
        return ""
    if mode in ("felix-cleaned", "half-removed"):
        return _felix_cleaned(topo, with_service_chains=mode == "half-removed")
    spec, backend = topo.spec, topo.backend
    svc = "calico-conformance/backend:http"
    has_local = node is None or node.name == topo.backend_node.name
    chains = ["KUBE-MARK-MASQ", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-SERVICES", _EXT, _SEP, _SVC,
              _EXT_L, _SEP_L, _SVC_L] + ([_SVL_L] if has_local else [])
    nat = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
           ":POSTROUTING ACCEPT [0:0]"] + [f":{c} - [0:0]" for c in chains]
    if mode == "active":   # leftover chains are no longer jumped to
        nat += ['-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
                '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
                '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING']
    nat += [
        "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
        f'-A KUBE-NODEPORTS -p tcp -m comment --comment "{svc}" -m tcp --dport {spec.node_port} -j {_EXT}',
        *_POSTROUTING,
        f'-A {_EXT} -m comment --comment "masquerade traffic for {svc} external destinations" '
        "-j KUBE-MARK-MASQ",
        f"-A {_EXT} -j {_SVC}",
        f'-A {_SEP} -p tcp -m comment --comment "{svc}" -m tcp -j DNAT --to-destination '
        f"{backend.ip}:{backend.port}",
        '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be '
        'the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
        f'-A {_SVC} -m comment --comment "{svc} -> {backend.ip}:{backend.port}" -j {_SEP}',
        *_local_service_nat(topo, has_local),
        "COMMIT",
    ]
    filt = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
            ":KUBE-EXTERNAL-SERVICES - [0:0]", ":KUBE-FORWARD - [0:0]"]
    if mode == "active":
        filt += [f'-A {hook} -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible '
                 'service portals" -j KUBE-EXTERNAL-SERVICES' for hook in ("INPUT", "FORWARD")]
        filt.append('-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD')
    if not has_local:   # kube-proxy 1.30 drops Local traffic where it has no endpoint
        filt.append(f'-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "{_LOCAL_SVC} has no local '
                    f'endpoints" -m addrtype --dst-type LOCAL -m tcp --dport {spec.node_port_local} -j DROP')
    filt += ['-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" '
             "-m mark --mark 0x4000/0x4000 -j ACCEPT", "COMMIT"]
    return "\n".join(nat + filt) + "\n"


_LOCAL_SVC = "calico-conformance/backend-local:http"
_EXT_L, _SVC_L, _SVL_L = "KUBE-EXT-CCL4BACKENDLOCAL", "KUBE-SVC-CCL4BACKENDLOCAL", "KUBE-SVL-CCL4BACKENDLOCAL"
_SEP_L = "KUBE-SEP-CCL4BACKENDLOCAL"


def _local_service_nat(topo: Topology, has_local: bool) -> list[str]:
    """kube-proxy 1.30's nat rules for the externalTrafficPolicy: Local Service (as the real one
    writes them in the lab, profile kube-proxy-real): external traffic goes to KUBE-SVL (local
    endpoints only, no masquerade) where the node has one; pods and the node itself get them all."""
    b, svc = topo.backend, _LOCAL_SVC
    return [
        f'-A {_EXT_L} -s 10.244.0.0/16 -m comment --comment "pod traffic for {svc} external destinations" -j {_SVC_L}',
        f'-A {_EXT_L} -m comment --comment "masquerade LOCAL traffic for {svc} external destinations" '
        f"-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ",
        f'-A {_EXT_L} -m comment --comment "route LOCAL traffic for {svc} external destinations" '
        f"-m addrtype --src-type LOCAL -j {_SVC_L}",
        *([f"-A {_EXT_L} -j {_SVL_L}"] if has_local else []),
        f'-A KUBE-NODEPORTS -p tcp -m comment --comment "{svc}" -m tcp --dport {topo.spec.node_port_local} -j {_EXT_L}',
        f'-A {_SEP_L} -p tcp -m comment --comment "{svc}" -m tcp -j DNAT --to-destination {b.ip}:{b.port}',
        f'-A {_SVC_L} -m comment --comment "{svc} -> {b.ip}:{b.port}" -j {_SEP_L}',
        *([f'-A {_SVL_L} -m comment --comment "{svc} -> {b.ip}:{b.port}" -j {_SEP_L}'] if has_local else []),
    ]


_POSTROUTING = ("-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
                "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
                '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" '
                "-j MASQUERADE --random-fully")


def _felix_cleaned(topo: Topology, *, with_service_chains: bool) -> str:
    """What a node keeps after kube-proxy (iptables mode) stopped and felix's BPF-mode clean-up
    ran: felix deletes only the chains of upstream.FELIX_REMOVES_KUBE_PROXY_CHAINS and the jumps
    to them (rules from KUBE-EXT-* to KUBE-SVC-* included); kube-proxy's other chains and
    kubelet's stay. ``with_service_chains``: a clean-up that stopped half-way (a defect)."""
    svc = "calico-conformance/backend:http"
    nat = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
           ":POSTROUTING ACCEPT [0:0]", ":KUBE-KUBELET-CANARY - [0:0]", ":KUBE-MARK-MASQ - [0:0]",
           ":KUBE-POSTROUTING - [0:0]", ":KUBE-PROXY-CANARY - [0:0]", f":{_EXT} - [0:0]"]
    if with_service_chains:
        nat += [f":{_SVC} - [0:0]", f":{_SEP} - [0:0]"]
    nat += ['-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
            "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000", *_POSTROUTING,
            f'-A {_EXT} -m comment --comment "masquerade traffic for {svc} external destinations" '
            "-j KUBE-MARK-MASQ"]
    if with_service_chains:
        nat += [f'-A {_SEP} -p tcp -m comment --comment "{svc}" -m tcp -j DNAT --to-destination '
                f"{topo.backend.ip}:{topo.backend.port}", f"-A {_SVC} -j {_SEP}"]
    nat.append("COMMIT")
    filt = ["*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
            ":KUBE-FIREWALL - [0:0]", ":KUBE-KUBELET-CANARY - [0:0]", ":KUBE-PROXY-CANARY - [0:0]",
            ":KUBE-PROXY-FIREWALL - [0:0]",
            '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer '
            'firewall" -j KUBE-PROXY-FIREWALL', "-A INPUT -j KUBE-FIREWALL",
            '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer '
            'firewall" -j KUBE-PROXY-FIREWALL', "-A OUTPUT -j KUBE-FIREWALL",
            '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming '
            'localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP', "COMMIT"]
    mangle = ["*mangle", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]",
              ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]", ":KUBE-IPTABLES-HINT - [0:0]",
              ":KUBE-KUBELET-CANARY - [0:0]", ":KUBE-PROXY-CANARY - [0:0]", "COMMIT"]
    return "\n".join(mangle + nat + filt) + "\n"


def nft_state(topo: Topology, mode: str) -> str:
    """The table nftables-mode kube-proxy leaves behind when it is stopped, still hooked (its
    rules as 1.31 writes them, where nftables mode became beta)."""
    if mode != "nft-leftover":
        return ""
    spec, backend = topo.spec, topo.backend
    chain = "service-CCL4BACK-calico-conformance-backend-tcp-http"
    return (f"table ip kube-proxy {{\n"
            f"  chain nat-prerouting {{\n    type nat hook prerouting priority dstnat; policy accept;\n"
            f"    jump services\n  }}\n"
            f"  chain services {{\n    fib daddr type local tcp dport {spec.node_port} goto {chain}\n  }}\n"
            f"  chain {chain} {{\n    meta l4proto tcp dnat to {backend.ip}:{backend.port}\n  }}\n}}\n")


# What real kube-proxy v1.30 writes with ip6tables on a node of an IPv4-only cluster (its
# dual-stack proxier runs wherever ip6tables works, with no IPv6 Service to serve): seen in the
# lab's kube-proxy-real profile, and what felix leaves when its IPv6 support is off.
_IPV6_ACTIVE_FILTER = (
    ":KUBE-EXTERNAL-SERVICES - [0:0]", ":KUBE-FIREWALL - [0:0]", ":KUBE-FORWARD - [0:0]", ":KUBE-NODEPORTS - [0:0]",
    ":KUBE-PROXY-CANARY - [0:0]", ":KUBE-PROXY-FIREWALL - [0:0]", ":KUBE-SERVICES - [0:0]",
    "-A INPUT -j KUBE-FIREWALL",
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS',
    '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" '
    "-j KUBE-EXTERNAL-SERVICES",
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" '
    "-j KUBE-EXTERNAL-SERVICES",
    "-A OUTPUT -j KUBE-FIREWALL",
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL',
    '-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    "-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP",
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate '
    "RELATED,ESTABLISHED -j ACCEPT",
)
_IPV6_ACTIVE_NAT = (
    ":KUBE-MARK-MASQ - [0:0]", ":KUBE-NODEPORTS - [0:0]", ":KUBE-POSTROUTING - [0:0]", ":KUBE-PROXY-CANARY - [0:0]",
    ":KUBE-SERVICES - [0:0]",
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000", *_POSTROUTING,
    '-A KUBE-SERVICES ! -d ::1/128 -m comment --comment "kubernetes service nodeports; NOTE: this must be the '
    'last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
)


def ip6tables_state(mode: str, *, felix_ipv6: bool) -> str:
    """ip6tables-save text for kube-proxy's IPv6 state on a node of an IPv4-only cluster: its
    chains while it runs, and after the switch-over what felix leaves, which is all of them when
    felix's IPv6 support is off (it manages IPv6 tables only then: felix/dataplane/linux/
    int_dataplane.go::NewIntDataplaneDriver @ v3.29.7, `if config.IPv6Enabled`). Profiles whose
    kube-proxy state is a defect of their own keep IPv6 out of it."""
    if mode not in ("active", "felix-cleaned"):
        return ""
    nat, filt = list(_IPV6_ACTIVE_NAT), list(_IPV6_ACTIVE_FILTER)
    if mode == "felix-cleaned" and felix_ipv6:
        removed = re.compile(r"KUBE-(?:SERVICES|NODEPORTS|EXTERNAL-SERVICES|FORWARD)\b")
        nat, filt = ([r for r in rules if not removed.search(r)] for rules in (nat, filt))
    head = [":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]"]
    mangle = ["*mangle", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]",
              ":OUTPUT ACCEPT [0:0]", ":POSTROUTING ACCEPT [0:0]", ":KUBE-PROXY-CANARY - [0:0]", "COMMIT"]
    return "\n".join([*mangle, "*nat", *head, *nat, "COMMIT",
                      "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]", *filt,
                      "COMMIT"]) + "\n"
