"""IPv6 NodePort on dual-stack clusters, from the same probe batch as IPv4 but over IPv6."""
import pytest

from calico_conformance.fixtures.felix import fallback_cause
from calico_conformance.probes import tunnel
from calico_conformance.probes.verdict import Row, verify
from calico_conformance.support import versions

FIRST_IPV6_RELEASE = (3, 27)   # tech preview in v3.27, GA in v3.28 (release notes)


@pytest.mark.check("EBPF-IPV6-NODEPORT")
def test_ipv6_nodeport_reaches_remote_backend_with_client_address(request, nodeport6, facts, felix_bpf, evidence):
    """v3.29: IPv6 is supported, "VXLAN is the recommended overlay for eBPF mode"; client source
    addresses are preserved "all the way to the pod"."""
    asked = versions.parse(request.config.getoption("calico_version"))
    if asked and asked < FIRST_IPV6_RELEASE:
        pytest.skip(f"unsupported: IPv6 in eBPF mode came with v3.27 (GA v3.28); Calico "
                    f"v{asked[0]}.{asked[1]} does not support it (see SUP-IPV6)")
    obs = nodeport6
    client, backend = obs.client_address, obs.backend_node   # the tunnel as felix sends it over IPv6 too
    rows = []
    for conn in obs.connections:
        subject = f"connection [{conn.exchange.local_ip}]:{conn.sport}"
        ex = conn.exchange
        reported = ex.reported_client if ex.ok else f"no answer ({ex.error})"
        rows.append(Row(subject, f"workload reports {client}", f"workload reports {reported}",
                        ex.ok and ex.reported_client == client, f"backend on {backend.name}"))
        leaving = [f for f in obs.tcp_frames(obs.ingress_tunnel, conn) if f.direction == "out"]
        seen, ok = (tunnel.bpf_tunnel_verdict(leaving[0], obs, facts.felix.vxlan_port, family=6)
                    if leaving else ("its SYN never left the ingress node", False))
        rows.append(Row(subject, tunnel.expected(obs, facts.felix.vxlan_port, family=6), seen, ok,
                        str(obs.ingress_tunnel)))
        arriving = obs.tcp_frames(obs.backend_iface, conn)
        rows.append(Row(subject, f"SYN from {client}",
                        f"SYN from {arriving[0].tcp.src}" if arriving else "no SYN reached the pod",
                        bool(arriving) and arriving[0].tcp.src == client, str(obs.backend_iface)))
    for point in dict.fromkeys([obs.ingress_uplink, obs.ingress_tunnel, obs.backend_iface]):
        evidence.flows(f"decoded flows at {point} (IPv6)", obs.flow_table(point), obs.pcaps.get(point))
    verify(rows, claim="IPv6 NodePort reaches a remote backend over VXLAN with the client's own address",
           evidence=evidence,
           cause=fallback_cause(felix_bpf, obs.ingress, obs.backend_node))
