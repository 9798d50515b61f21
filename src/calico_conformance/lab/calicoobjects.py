"""What a cluster's Calico components would have written for the lab, as the API objects real
felix reads (Kubernetes datastore, crd.projectcalico.org/v1): what calico-node's start-up
(``EnsureInitialized``), the CNI plugin and Calico IPAM leave behind, and the profile's
FelixConfiguration. Pure functions of (topology, profile, Calico version)."""
from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Callable

from calico_conformance.lab import ipv6
from calico_conformance.lab.profiles import Profile, node_settings
from calico_conformance.lab.realkubeproxy import CLUSTER_CIDR, cluster_objects
from calico_conformance.lab.rules import calico_address
from calico_conformance.lab.topology import POD_NAMESPACE, LabNode, Topology
from calico_conformance.realcalico import versions
from calico_conformance.vocabulary.facts import FelixSettings

CALICO = "crd.projectcalico.org/v1"
BLOCK_SIZE = 26               # Calico IPAM's default block sizes: IPv4 pools
BLOCK_SIZE6 = 122             # ... and IPv6 pools
STAMP = "2026-01-01T00:00:00Z"


def block_cidr(index: int) -> str:
    """The node's IPAM block: the first /26 of its pod CIDR (node.tunnel_ip and the pod are in it)."""
    return f"10.244.{index}.0/{BLOCK_SIZE}"


def block_cidr6(node: LabNode) -> str:
    """The node's IPv6 IPAM block: the first /122 of its IPv6 pod range (its tunnel address and the pod's)."""
    return f"{ipv6.tunnel_ip(node)}/{BLOCK_SIZE6}"


def _cidr_name(cidr: str) -> str:
    # libcalico-go/lib/names CIDRToName
    return cidr.replace(".", "-").replace(":", "-").replace("/", "-")


def container_id(topo: Topology) -> str:
    """The backend pod's (made-up) container ID: IPAM's handle and the CNI annotation name it."""
    return hashlib.sha256(f"{topo.spec.run_id}/backend".encode()).hexdigest()


def felix_configuration(name: str, settings: FelixSettings, tag: str) -> dict:
    spec = {"bpfEnabled": bool(settings.bpf_enabled),
            "bpfExternalServiceMode": settings.external_service_mode,
            "bpfKubeProxyIptablesCleanupEnabled": settings.kube_proxy_iptables_cleanup,
            "vxlanPort": settings.vxlan_port, "vxlanVNI": settings.vxlan_vni,
            "ipv6Support": settings.ipv6_support,
            # the objects felix loads for bpfLogLevel Off are the ones `lab build` compiles
            "bpfLogLevel": "Off",
            # felix's default (true) sets the host-wide sysctl kernel.unprivileged_bpf_disabled:
            # a lab felix must not change its host (felix/dataplane/linux/int_dataplane.go)
            "bpfDisableUnprivileged": False,
            "usageReportingEnabled": False, "logSeverityScreen": "Info"}
    if settings.dsr_optout_cidrs:
        spec["bpfDSROptoutCIDRs"] = list(settings.dsr_optout_cidrs)
    if settings.bpf_data_iface_pattern:
        spec["bpfDataIfacePattern"] = settings.bpf_data_iface_pattern
    spec["nftablesMode"] = settings.nftables_mode        # in the CRD since v3.29
    return {"apiVersion": CALICO, "kind": "FelixConfiguration", "metadata": {"name": name}, "spec": spec}


def _pools(profile: Profile) -> list[dict]:
    encap = profile.pool_encapsulation
    pools = [("default-ipv4-ippool", CLUSTER_CIDR, BLOCK_SIZE, encap)]
    if profile.ipv6:      # IPIP carries IPv4 only: an IPv6 pool is VXLAN or unencapsulated
        pools.append(("default-ipv6-ippool", ipv6.POOL6, BLOCK_SIZE6, "VXLAN" if encap == "VXLAN" else "None"))
    return [{"apiVersion": CALICO, "kind": "IPPool", "metadata": {"name": name},
             "spec": {"cidr": cidr, "blockSize": size,
                      "vxlanMode": "Always" if encap == "VXLAN" else "Never",
                      "ipipMode": "Always" if encap == "IPIP" else "Never",
                      "natOutgoing": True, "nodeSelector": "all()"}}
            for name, cidr, size, encap in pools]


# The tunnel address calico-node allocates for the pool's encapsulation (none without one).
TUNNEL_KIND = {"VXLAN": "vxlan", "IPIP": "ipip", "None": None}


@dataclass(frozen=True)
class _Family:
    """One address family's IPAM: the node's block, the pod's address, and the tunnel address's kind
    as calico-node names it in its handle and its type (node/pkg/allocateip/allocateip.go @ v3.29.7:
    vxlan-tunnel-addr-<node> / vxlanTunnelAddress, vxlan-v6-... / vxlanV6..., ipip-... / ipip...)."""
    block: Callable[[LabNode], str]
    pod_ip: str
    tunnel: tuple[str, str] | None


def _families(topo: Topology, profile: Profile) -> list[_Family]:
    tunnel = TUNNEL_KIND[profile.pool_encapsulation]
    families = [_Family(lambda n: block_cidr(n.index), topo.backend.ip, (tunnel, tunnel) if tunnel else None)]
    if profile.ipv6:
        tunnel6 = ("vxlan-v6", "vxlanV6") if tunnel == "vxlan" else None     # IPIP carries IPv4 only
        families.append(_Family(block_cidr6, ipv6.backend_ip(topo), tunnel6))
    return families


def _ipam(topo: Topology, profile: Profile, tag: str) -> list[dict]:
    """Per node and address family, what Calico IPAM leaves: a block affine to the node holding its
    tunnel address (ordinal 0, for a VXLAN or IPIP pool) and, on the backend's node, the pod's
    address; one handle names the pod's addresses in every family. Felix turns remote blocks into
    its routes (through the pool's tunnel device, or straight to the peer); without them it has no
    route to the pod."""
    objs, handles, cid = [], {}, container_id(topo)
    pod_handle = f"k8s-pod-network.{cid}"
    for family in _families(topo, profile):
        for node in topo.nodes:
            cidr = family.block(node)
            net = ipaddress.ip_network(cidr)
            allocations: list = [None] * net.num_addresses
            attributes, seq = [], {}
            if family.tunnel:
                handle, kind = f"{family.tunnel[0]}-tunnel-addr-{node.name}", f"{family.tunnel[1]}TunnelAddress"
                allocations[0], seq["0"] = len(attributes), 0
                attributes.append({"handle_id": handle, "secondary": {"node": node.name, "type": kind}})
                handles.setdefault(handle, {})[cidr] = 1
            if node.name == topo.backend.node:
                ordinal = int(ipaddress.ip_address(family.pod_ip)) - int(net.network_address)
                allocations[ordinal], seq[str(ordinal)] = len(attributes), 0
                owner = {"namespace": POD_NAMESPACE, "node": node.name, "pod": topo.backend.name,
                         "timestamp": "2026-01-01 00:00:00.000000000 +0000 UTC"}
                attributes.append({"handle_id": pod_handle, "secondary": owner})
                handles.setdefault(pod_handle, {})[cidr] = 1
            objs.append({"apiVersion": CALICO, "kind": "IPAMBlock", "metadata": {"name": _cidr_name(cidr)},
                         "spec": {"cidr": cidr, "affinity": f"host:{node.name}", "strictAffinity": False,
                                  "allocations": allocations,
                                  "unallocated": [i for i, a in enumerate(allocations) if a is None],
                                  "attributes": attributes, "deleted": False, "sequenceNumber": 0,
                                  "sequenceNumberForAllocation": seq}})
            affinity = {"cidr": cidr, "node": node.name, "state": "confirmed", "deleted": "false"}
            if versions.numbers(tag) >= (3, 31):      # the CRD gained spec.type (host | virtual) in v3.31
                affinity["type"] = "host"
            objs.append({"apiVersion": CALICO, "kind": "BlockAffinity",
                         "metadata": {"name": f"{node.name}-{_cidr_name(cidr)}"}, "spec": affinity})
    objs += [{"apiVersion": CALICO, "kind": "IPAMHandle", "metadata": {"name": handle.lower()},
              "spec": {"handleID": handle, "block": blocks, "deleted": False}} for handle, blocks in handles.items()]
    return objs


def _backend_pod(topo: Topology, profile: Profile) -> dict:
    """The backend as the kubelet and the CNI plugin leave it; felix builds the workload endpoint
    from status.podIPs (libcalico-go/lib/backend/k8s/conversion/conversion.go getPodIPs)."""
    b, node = topo.backend, topo.backend_node
    cid = container_id(topo)
    ips = [b.ip] + ([ipv6.backend_ip(topo)] if profile.ipv6 else [])
    cidrs = ",".join(f"{ip}/{128 if ':' in ip else 32}" for ip in ips)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": b.name, "namespace": POD_NAMESPACE, "labels": {"app": "backend"},
                         "annotations": {"cni.projectcalico.org/containerID": cid,
                                         "cni.projectcalico.org/podIP": f"{b.ip}/32",
                                         "cni.projectcalico.org/podIPs": cidrs}},
            "spec": {"nodeName": b.node,
                     "containers": [{"name": "echo", "image": "calico-conformance/echo:lab",
                                     "ports": [{"name": "http", "containerPort": b.port}]}]},
            "status": {"phase": "Running", "hostIP": node.address,
                       "hostIPs": [{"ip": node.address}] + ([{"ip": ipv6.node_ip(node)}] if profile.ipv6 else []),
                       "podIP": b.ip, "podIPs": [{"ip": ip} for ip in ips], "startTime": STAMP,
                       "conditions": [{"type": t, "status": "True", "lastTransitionTime": STAMP}
                                      for t in ("PodScheduled", "Initialized", "ContainersReady", "Ready")],
                       "containerStatuses": [{"name": "echo", "image": "calico-conformance/echo:lab", "imageID": "",
                                              "ready": True, "restartCount": 0, "started": True,
                                              "state": {"running": {"startedAt": STAMP}}}]}}


def calico_objects(topo: Topology, profile: Profile, tag: str) -> list[dict]:
    """Everything felix (and kube-proxy, where the profile runs it) reads, in apply order."""
    objs: list[dict] = [{"apiVersion": CALICO, "kind": "ClusterInformation", "metadata": {"name": "default"},
                         "spec": {"calicoVersion": tag, "clusterGUID": hashlib.md5(topo.spec.run_id.encode()).hexdigest(),
                                  "clusterType": "k8s,kdd", "datastoreReady": True}}]
    objs.append(felix_configuration("default", profile.felix, tag))
    objs += [felix_configuration(f"node.{name}", settings, tag) for name, settings in node_settings(profile, topo)]
    # the tiers calico-node's EnsureInitialized creates (libcalico-go/lib/clientv3/client.go @ v3.29.7;
    # v3.31.7 adds the baseline admin network policy tier)
    tiers = [("default", "Deny", 1_000_000), ("adminnetworkpolicy", "Pass", 1_000)]
    if versions.numbers(tag) >= (3, 31):
        tiers.append(("baselineadminnetworkpolicy", "Pass", 10_000_000))
    objs += [{"apiVersion": CALICO, "kind": "Tier", "metadata": {"name": name},
              "spec": {"order": order, "defaultAction": action}} for name, action, order in tiers]
    objs += _pools(profile)
    tunnel = TUNNEL_KIND[profile.pool_encapsulation]
    objs += _ipam(topo, profile, tag)
    for obj in cluster_objects(topo, ipv6=profile.ipv6):
        if obj["kind"] == "Node":
            # calico-node's annotations: the address felix tunnels to, the overlay's address and MAC
            node = topo.node_by_name(obj["metadata"]["name"])
            # (libcalico-go/lib/backend/k8s/resources/node.go @ v3.29.7)
            annotations = {"projectcalico.org/IPv4Address": f"{calico_address(profile, node)[0]}/24"}
            if tunnel == "vxlan":
                annotations.update({"projectcalico.org/IPv4VXLANTunnelAddr": node.tunnel_ip,
                                    "projectcalico.org/VXLANTunnelMACAddr": node.vtep_mac})
            elif tunnel == "ipip":
                annotations["projectcalico.org/IPv4IPIPTunnelAddr"] = node.tunnel_ip
            if profile.ipv6:
                annotations["projectcalico.org/IPv6Address"] = f"{ipv6.node_ip(node)}/64"
                if tunnel == "vxlan":
                    annotations.update({"projectcalico.org/IPv6VXLANTunnelAddr": ipv6.tunnel_ip(node),
                                        "projectcalico.org/VXLANTunnelMACAddrV6": ipv6.vtep_mac(node)})
            obj["metadata"]["annotations"] = annotations
        objs.append(obj)
    objs.append(_backend_pod(topo, profile))
    return objs
