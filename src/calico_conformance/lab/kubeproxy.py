"""kube-proxy's state on a lab node, emulated: what ``iptables-save`` shows while kube-proxy (1.30,
iptables mode) serves the lab's two NodePort Services, what is left after felix's clean-up (or half
of one), and the table nftables-mode kube-proxy leaves. The rules are the ones real kube-proxy
v1.30 wrote for the same Services in the lab (profile kube-proxy-real, docs/real-calico.md).

Pure functions of (topology, mode), like rules.py; ``Profile.kube_proxy_rules`` picks the mode."""
from __future__ import annotations

import base64
import hashlib
import re

from calico_conformance.lab.topology import LabNode, Topology


def _hash(text: str, length: int) -> str:
    # kube-proxy's chain-name hash: base32 of sha256 (pkg/proxy/iptables/proxier.go portProtoHash,
    # pkg/proxy/nftables/proxier.go hashAndTruncate @ v1.30.14)
    return base64.b32encode(hashlib.sha256(text.encode()).digest()).decode()[:length]


def _chain(prefix: str, service_port: str, endpoint: str = "") -> str:
    """kube-proxy's iptables chain for a service port (KUBE-SVC/SVL/EXT) or one of its endpoints
    (KUBE-SEP): the names real kube-proxy gives the lab's Services (docs/real-calico.md)."""
    return f"KUBE-{prefix}-{_hash(service_port + 'tcp' + endpoint, 16)}"


_SERVICE = "calico-conformance/backend:http"
_LOCAL_SVC = "calico-conformance/backend-local:http"


def iptables_state(topo: Topology, mode: str, node: LabNode | None = None) -> str:
    """iptables-save text for kube-proxy's state on ``node`` in each ``kube_proxy_rules`` mode."""
    if mode in ("none", "nft-leftover"):
        return ""
    has_local = node is None or node.name == topo.backend_node.name
    if mode in ("felix-cleaned", "half-removed"):
        return _felix_cleaned(topo, with_service_chains=mode == "half-removed", has_local=has_local)
    spec, backend = topo.spec, topo.backend
    svc = _SERVICE
    _SVC, _SEP, _EXT, _EXT_L, _SVC_L, _SVL_L, _SEP_L = _names(topo)
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


def _names(topo: Topology) -> tuple[str, ...]:
    """(SVC, SEP, EXT of the Cluster Service; EXT, SVC, SVL, SEP of the Local one)."""
    endpoint = f"{topo.backend.ip}:{topo.backend.port}"
    return (_chain("SVC", _SERVICE), _chain("SEP", _SERVICE, endpoint), _chain("EXT", _SERVICE),
            _chain("EXT", _LOCAL_SVC), _chain("SVC", _LOCAL_SVC), _chain("SVL", _LOCAL_SVC),
            _chain("SEP", _LOCAL_SVC, endpoint))


def _local_service_nat(topo: Topology, has_local: bool) -> list[str]:
    """kube-proxy 1.30's nat rules for the externalTrafficPolicy: Local Service (as the real one
    writes them in the lab, profile kube-proxy-real): external traffic goes to KUBE-SVL (local
    endpoints only, no masquerade) where the node has one; pods and the node itself get them all."""
    b, svc = topo.backend, _LOCAL_SVC
    _, _, _, _EXT_L, _SVC_L, _SVL_L, _SEP_L = _names(topo)
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


def _felix_cleaned(topo: Topology, *, with_service_chains: bool, has_local: bool) -> str:
    """What a node keeps after kube-proxy (iptables mode) stopped and felix's BPF-mode clean-up
    ran, as real felix v3.29.7 and v3.31.7 leave it in the lab (profile calico-ebpf-after-kube-proxy):
    felix deletes only the chains of upstream.FELIX_REMOVES_KUBE_PROXY_CHAINS and every rule that
    jumps to them, so the KUBE-EXT-* chains keep their masquerade rules, and on the backend's
    node the Local Service's KUBE-SVL-* chain stays (empty) with the jump to it; kubelet's
    chains stay too. ``with_service_chains``: a clean-up that stopped half-way (a defect)."""
    svc_c, sep_c, ext_c, ext_l, svc_l, svl_l, sep_l = _names(topo)
    nat = ["*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
           ":POSTROUTING ACCEPT [0:0]", f":{ext_c} - [0:0]", f":{ext_l} - [0:0]", ":KUBE-KUBELET-CANARY - [0:0]",
           ":KUBE-MARK-MASQ - [0:0]", ":KUBE-POSTROUTING - [0:0]", ":KUBE-PROXY-CANARY - [0:0]"]
    nat += [f":{svl_l} - [0:0]"] if has_local else []
    if with_service_chains:
        nat += [f":{svc_c} - [0:0]", f":{sep_c} - [0:0]"]
    nat += ['-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
            f'-A {ext_c} -m comment --comment "masquerade traffic for {_SERVICE} external destinations" '
            "-j KUBE-MARK-MASQ",
            f'-A {ext_l} -m comment --comment "masquerade LOCAL traffic for {_LOCAL_SVC} external destinations" '
            "-m addrtype --src-type LOCAL -j KUBE-MARK-MASQ"]
    nat += [f"-A {ext_l} -j {svl_l}"] if has_local else []
    nat += ["-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000", *_POSTROUTING]
    if with_service_chains:
        nat += [f'-A {sep_c} -p tcp -m comment --comment "{_SERVICE}" -m tcp -j DNAT --to-destination '
                f"{topo.backend.ip}:{topo.backend.port}", f"-A {svc_c} -j {sep_c}"]
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
    # kube-proxy's nftables chain name: "service-" + hash + the service port (pkg/proxy/nftables/
    # proxier.go servicePortChainNameBase @ v1.30.14)
    base = "calico-conformance/backend/tcp/http"
    chain = f"service-{_hash(base, 8)}-{base}"
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
