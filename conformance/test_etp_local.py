"""externalTrafficPolicy: Local, from its own probe batch (the ``etp_local`` fixture): served only
by a node with a local backend, with the client's own address, and never forwarded."""
import pytest

from calico_conformance.fixtures.felix import fallback_cause
from calico_conformance.probes.verdict import Row, verify


def _refused(exchange) -> bool:
    return "Refused" in (exchange.error or "")


def _outcome(exchange) -> str:
    if exchange.ok:
        return f"served, the workload reports {exchange.reported_client}"
    if _refused(exchange):
        return "refused (ICMP port unreachable or a reset)"
    return f"no answer ({exchange.error})"


@pytest.mark.check("EBPF-ETP-LOCAL")
def test_local_traffic_policy_is_served_only_where_the_backend_runs(etp_local, felix_bpf, evidence):
    """v3.29: "It has native support for Kubernetes services (without needing kube-proxy) ..."

    externalTrafficPolicy: Local as felix implements it (docs/upstream-truths.md, etp-local): the
    NodePort of a node with a local backend DNATs to it, no tunnel, client address kept; a node
    without one answers an external client ICMP port unreachable and forwards nothing."""
    obs = etp_local
    client, port = obs.client_address, obs.port
    rows = []
    for ex in obs.at_backend_node:
        rows.append(Row(f"{client} -> {obs.backend_node.name}:{port}",
                        f"served, the workload reports {client}", _outcome(ex),
                        ex.ok and ex.reported_client == client, f"client {client}"))
    icmp = obs.icmp_to_client()
    for ex in obs.at_ingress:
        subject, where = f"{client} -> {obs.ingress.name}:{port}", str(obs.ingress_uplink)
        expected = f"not served and not forwarded ({obs.ingress.name} has no local backend)"
        if not ex.ok and not obs.arrived(ex):
            # Nothing the node did (or failed to do) can be seen: its capture never saw the SYN.
            rows.append(Row(subject, expected, f"{_outcome(ex)}; the SYN never reached {obs.ingress.name} "
                            f"(something in front of it dropped it), so its policy was not judged", None, where))
            continue
        forwarded = obs.forwarded(ex)
        seen = _outcome(ex)
        if forwarded:
            f = forwarded[0]
            how = f"in {f.encap}" if f.encap else "unencapsulated"
            seen += f"; its SYN left {obs.ingress.name} again, {how} (forwarded as if the policy were Cluster)"
        elif not ex.ok and icmp:
            seen += f"; {obs.ingress.name} sent the client ICMP, as felix does (NAT_NO_BACKEND)"
        elif not ex.ok and not _refused(ex):
            seen += ("; not forwarded, but dropped without an answer: kube-proxy's way (KUBE-EXTERNAL-"
                     "SERVICES DROP), where felix would answer ICMP port unreachable")
        rows.append(Row(subject, expected, seen, not ex.ok and not forwarded, where))
    for point in dict.fromkeys([obs.ingress_uplink, obs.ingress_tunnel, obs.backend_uplink]):
        evidence.flows(f"decoded flows at {point}", obs.flow_table(point), obs.pcaps.get(point))
    verify(rows, claim="externalTrafficPolicy: Local is served only by the backend's own node, with the "
                       "client's address", evidence=evidence,
           cause=fallback_cause(felix_bpf, etp_local.ingress, etp_local.backend_node))
