"""NodePort behaviour, from one batch of real connections and captures (the ``nodeport`` fixture):
VXLAN between the nodes, the client's own source address at the backend, and DSR."""
import ipaddress

import pytest

from calico_conformance.fixtures.felix import fallback_cause
from calico_conformance.probes import tunnel
from calico_conformance.probes.verdict import Row, verify
from calico_conformance.workloads.echo import pad_of


def dsr_optout(client: str, cidrs) -> str | None:
    """The bpfDSROptoutCIDRs entry the client falls in (felix/bpf-gpl/tc.c: such clients get
    CALI_CT_FLAG_NP_NO_DSR, i.e. the Tunnel return path), or None."""
    addr = ipaddress.ip_address(client)
    for cidr in cidrs:
        try:
            if addr in ipaddress.ip_network(cidr, strict=False):
                return cidr
        except ValueError:
            continue
    return None


def _attach(evidence, nodeport, *points):
    for point in points:
        evidence.flows(f"decoded flows at {point}", nodeport.flow_table(point), nodeport.pcaps.get(point))


def _require_connections(nodeport):
    broken = [c for c in nodeport.connections if c.isn is None]
    if len(broken) == len(nodeport.connections):
        pytest.fail(f"no probe SYN from {nodeport.client_address} was seen entering "
                    f"{nodeport.ingress_uplink}: the capture there saw {len(nodeport.at(nodeport.ingress_uplink))} "
                    "frames; cannot follow the connections")


@pytest.mark.check("EBPF-NODEPORT-VXLAN")
def test_nodeport_reaches_remote_backend_over_vxlan(nodeport, facts, felix_bpf, evidence):
    """v3.29 and older: "In eBPF mode, VXLAN is used to forward Kubernetes NodePort traffic."

    What felix's BPF programs put on the wire (docs/upstream-truths.md, nodeport-*): the packet
    as the client sent it (still addressed to the ingress node's NodePort: DNAT happens on the
    backend's node), in VXLAN with VNI 0xca11c0 on vxlanPort, UDP checksum 0, from the ingress
    node's Calico address to the backend node's, out of the host interface."""
    port = facts.felix.vxlan_port
    _require_connections(nodeport)
    where = str(nodeport.ingress_tunnel)         # the interface of the route to the backend's node
    want = tunnel.expected(nodeport, port)
    rows = []
    for conn in nodeport.connections:
        leaving = [f for f in nodeport.tcp_frames(nodeport.ingress_tunnel, conn) if f.direction == "out"]
        if not leaving:
            seen = ("connection failed and its SYN never left the ingress node" if conn.failed
                    else f"its SYN never left the ingress node on {nodeport.ingress_tunnel.iface}, its route "
                         "to the backend's node")
            rows.append(Row(f"connection {conn.label}", want, seen, False, where))
            continue
        f = leaving[0]
        seen, ok = tunnel.bpf_tunnel_verdict(f, nodeport, port)
        rows.append(Row(f"connection {conn.label}", want, seen, ok, where))
    _attach(evidence, nodeport, *dict.fromkeys([nodeport.ingress_uplink, nodeport.ingress_tunnel,
                                                 nodeport.backend_tunnel, nodeport.backend_uplink]))
    verify(rows, claim="NodePort traffic to a remote backend travels over VXLAN", evidence=evidence,
           cause=fallback_cause(felix_bpf, nodeport.ingress, nodeport.backend_node))


@pytest.mark.check("EBPF-SOURCE-IP")
def test_backend_sees_external_client_source_ip(nodeport, felix_bpf, evidence):
    """v3.29: "Preserves external client source IP addresses all the way to the pod." """
    client = nodeport.client_address
    where = str(nodeport.backend_iface)
    rows = []
    for conn in nodeport.connections:
        ex = conn.exchange
        if ex is not None:   # a crafted handshake carries no request, so only the capture speaks
            reported = ex.reported_client if ex.ok else f"no answer ({ex.error})"
            rows.append(Row(f"connection {conn.label}", f"workload reports {client}",
                            f"workload reports {reported}", ex.ok and ex.reported_client == client,
                            f"backend on {nodeport.backend_node.name}"))
        arriving = [f for f in nodeport.tcp_frames(nodeport.backend_iface, conn)]
        seen = f"SYN from {arriving[0].tcp.src}:{arriving[0].tcp.sport}" if arriving else "no SYN reached the pod"
        rows.append(Row(f"connection {conn.label}", f"SYN from {client}", seen,
                        bool(arriving) and arriving[0].tcp.src == client, where))
    _attach(evidence, nodeport, nodeport.backend_iface)
    verify(rows, claim="The backend sees the external client's own address", evidence=evidence,
           cause=fallback_cause(felix_bpf, nodeport.ingress, nodeport.backend_node))


@pytest.mark.check("EBPF-DSR-DIRECT-RETURN")
def test_dsr_reply_leaves_backend_node_directly(nodeport, facts, felix_bpf, evidence):
    """v3.29: "Supports DSR (Direct Server Return) for more efficient service routing."

    The backend's node decides: its programs are built with the DSR flag and skip the return
    tunnel, and its bpfDSROptoutCIDRs exempt clients (docs/upstream-truths.md, dsr-reply,
    dsr-optout); the ingress node's setting changes only its own conntrack clean-up."""
    ingress, backend = nodeport.ingress, nodeport.backend_node
    felix = facts.felix_for(backend.name)          # node.<name> config, calico-node env, default
    mode, ingress_mode = felix.external_service_mode, facts.felix_for(ingress.name).external_service_mode
    if ingress_mode != mode:
        evidence.text("nodes disagree", f"bpfExternalServiceMode is {mode} on {backend.name} (the backend's node, "
                      f"which decides the return path) and {ingress_mode} on {ingress.name}")
    if mode != "DSR":
        also = f"; {ingress.name} says {ingress_mode}, but the backend's node decides" if ingress_mode != mode else ""
        pytest.skip(f"not configured: bpfExternalServiceMode is {mode} on {backend.name}, the backend's node "
                    f"(from {felix.external_service_mode_source}{also}; DSR is opt-in; set "
                    "bpfExternalServiceMode: DSR to check it)")
    opted_out = dsr_optout(nodeport.client_address, felix.dsr_optout_cidrs)
    if opted_out:
        pytest.skip(f"not configured: the client {nodeport.client_address} is in {backend.name}'s bpfDSROptoutCIDRs "
                    f"{opted_out}: felix gives it the Tunnel return path by design (run the client "
                    "from outside that range to check DSR)")
    _require_connections(nodeport)
    ingress, backend, client = nodeport.ingress, nodeport.backend_node, nodeport.client_address
    want = f"SYN-ACK {ingress.address}:{nodeport.service.node_port} > {client} leaves {backend.name}"
    rows = []
    for conn in nodeport.connections:
        subject = f"connection {conn.label}"
        direct = [f for f in nodeport.tcp_frames(nodeport.backend_uplink, conn, synack=True, direction="out")
                  if not f.encapsulated]
        ok = bool(direct) and direct[0].tcp.src == ingress.address and direct[0].tcp.sport == nodeport.service.node_port \
            and direct[0].tcp.dst == client
        seen = f"{direct[0].tcp} leaves {backend.name}" if direct else f"no direct SYN-ACK leaves {backend.name}"
        rows.append(Row(subject, want, seen, ok, str(nodeport.backend_uplink)))
        # The negative needs a live capture: the forwarded SYN proves the ingress capture works.
        forwarded = [f for f in nodeport.tcp_frames(nodeport.ingress_tunnel, conn, direction="out")]
        via_ingress = [f for f in nodeport.tcp_frames(nodeport.ingress_uplink, conn, synack=True, direction="out")
                       if not f.encapsulated]
        rows.append(Row(subject, f"no SYN-ACK leaves {ingress.name} (capture alive: forwarded SYN seen)",
                        (f"{via_ingress[0].tcp} leaves {ingress.name}" if via_ingress else "none")
                        + ("" if forwarded else "; capture saw no forwarded SYN"),
                        not via_ingress and bool(forwarded), str(nodeport.ingress_uplink)))
    _attach(evidence, nodeport, *dict.fromkeys([nodeport.backend_uplink, nodeport.ingress_uplink, nodeport.ingress_tunnel]))
    verify(rows, claim="Under DSR the reply leaves the backend's node directly", evidence=evidence,
           cause=fallback_cause(felix_bpf, nodeport.ingress, nodeport.backend_node))


def _reply_bytes(nodeport, point, conn, direction=None) -> int:
    """Reply payload bytes (distinct sequence numbers) of ``conn`` seen at ``point``: segments to
    the client's port from the backend (before reverse NAT) or the NodePort (after)."""
    sources = {nodeport.service.backend_port, nodeport.service.node_port}
    seen = {}
    for f in nodeport.at(point):
        t = f.tcp
        if t is None or not t.payload_len or t.dport != conn.sport or t.sport not in sources:
            continue
        if direction and f.direction != direction:
            continue
        seen[t.seq] = max(seen.get(t.seq, 0), t.payload_len)
    return sum(seen.values())


@pytest.mark.check("EBPF-NODEPORT-MTU")
def test_large_reply_crosses_nodeport_path(nodeport, evidence):
    """v3.29 and older: "An underlying network fabric that allows VXLAN traffic between hosts. In
    eBPF mode, VXLAN is used to forward Kubernetes NodePort traffic."

    A path that forwards over VXLAN must carry its 50 bytes (IPv4) on top of full-size packets:
    Calico's MTU is the host interface's less that (docs/upstream-truths.md, nodeport-mtu). A
    reply of many full-size packets must arrive whole."""
    conn = nodeport.large
    if conn is None or conn.exchange is None:
        pytest.skip("not configured: the probe batch asked for no large reply")
    if not any(c.exchange and c.exchange.ok for c in nodeport.connections):
        pytest.skip("skipped, because no small reply arrived either: the NodePort path fails at "
                    "every size, so the size of a reply cannot be what loses it (see EBPF-SOURCE-IP)")
    ex, want_bytes = conn.exchange, pad_of(conn.exchange.path)
    where = f"client {nodeport.client_address}"
    seen = f"{ex.received_bytes} bytes arrived" + ("" if ex.ok else f", then {ex.error}")
    ok = ex.ok and ex.received_bytes >= want_bytes
    if not ok:
        backend, ingress = nodeport.backend_node.name, nodeport.ingress.name
        sent = _reply_bytes(nodeport, nodeport.backend_iface, conn)
        left = _reply_bytes(nodeport, nodeport.backend_tunnel, conn, "out")
        arrived = _reply_bytes(nodeport, nodeport.ingress_tunnel, conn, "in")
        seen += (f"; of the reply the pod sent {sent} bytes, {left} left {backend}'s uplink, "
                 f"{arrived} entered {ingress}'s{_where_lost(sent, left, arrived, backend)}")
    rows = [Row(f"connection {conn.label}", f"a reply of more than {want_bytes} bytes arrives whole",
                seen, ok, where)]
    _attach(evidence, nodeport, *dict.fromkeys([nodeport.backend_iface, nodeport.backend_tunnel, nodeport.ingress_tunnel]))
    verify(rows, claim="A reply of many full-size packets crosses the NodePort path", evidence=evidence)


def _where_lost(sent: int, left: int, arrived: int, backend: str) -> str:
    """Which hop lost the reply, and what such a loss usually is, from the byte counts."""
    if sent and left < sent:
        return (f": lost on {backend}, where the pod's full-size packets do not fit felix's NodePort tunnel "
                "(its MTU is vxlanMTU whatever the pool: felix answers a DF packet that is too big with ICMP "
                "'fragmentation needed', which must reach the pod; with an IPIP or unencapsulated pool the pod's "
                "MTU is larger than the tunnel's), or vxlanMTU leaves VXLAN's 50 bytes no room on the uplink")
    if left and arrived < left:
        return (": lost between the nodes, where the fabric does not carry full-size packets plus "
                "VXLAN's 50 bytes (a fabric MTU smaller than the nodes')")
    return ""
