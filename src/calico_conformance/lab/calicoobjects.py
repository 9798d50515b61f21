"""What a cluster's Calico components would have written for the lab, as the API objects real
felix reads (Kubernetes datastore, crd.projectcalico.org/v1): what calico-node's start-up
(``EnsureInitialized``), the CNI plugin and Calico IPAM leave behind, and the profile's
FelixConfiguration. Pure functions of (topology, profile, Calico version)."""
from __future__ import annotations

import hashlib

from calico_conformance.lab.profiles import Profile, node_settings
from calico_conformance.lab.realkubeproxy import CLUSTER_CIDR, cluster_objects
from calico_conformance.lab.rules import calico_address
from calico_conformance.lab.topology import POD_NAMESPACE, Topology
from calico_conformance.realcalico import versions
from calico_conformance.vocabulary.facts import FelixSettings

CALICO = "crd.projectcalico.org/v1"
BLOCK_SIZE = 26               # Calico IPAM's default block size for IPv4 pools
STAMP = "2026-01-01T00:00:00Z"


def block_cidr(index: int) -> str:
    """The node's IPAM block: the first /26 of its pod CIDR (node.tunnel_ip and the pod are in it)."""
    return f"10.244.{index}.0/{BLOCK_SIZE}"


def _cidr_name(cidr: str) -> str:
    # libcalico-go/lib/names CIDRToName
    return cidr.replace(".", "-").replace("/", "-")


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


def _pool(profile: Profile) -> dict:
    encap = profile.pool_encapsulation
    return {"apiVersion": CALICO, "kind": "IPPool", "metadata": {"name": "default-ipv4-ippool"},
            "spec": {"cidr": CLUSTER_CIDR, "blockSize": BLOCK_SIZE,
                     "vxlanMode": "Always" if encap == "VXLAN" else "Never",
                     "ipipMode": "Always" if encap == "IPIP" else "Never",
                     "natOutgoing": True, "nodeSelector": "all()"}}


# The tunnel address calico-node allocates for the pool's encapsulation (none without one).
TUNNEL_KIND = {"VXLAN": "vxlan", "IPIP": "ipip", "None": None}


def _ipam(topo: Topology, tag: str, tunnel: str | None) -> list[dict]:
    """Per node, what Calico IPAM leaves: a block affine to the node holding its tunnel address
    (ordinal 0, for a VXLAN or IPIP pool) and, on the backend's node, the pod's address. Felix
    turns remote blocks into its routes (through the pool's tunnel device, or straight to the
    peer); without them it has no route to the pod."""
    objs, backend, cid = [], topo.backend, container_id(topo)
    for node in topo.nodes:
        cidr = block_cidr(node.index)
        allocations: list = [None] * (1 << (32 - BLOCK_SIZE))
        attributes, handles, seq = [], [], {}
        if tunnel:       # calico-node's tunnel address (node/pkg/allocateip/allocateip.go @ v3.29.7)
            handle = f"{tunnel}-tunnel-addr-{node.name}"
            allocations[0], seq["0"] = len(attributes), 0
            attributes.append({"handle_id": handle, "secondary": {"node": node.name, "type": f"{tunnel}TunnelAddress"}})
            handles.append(handle)
        if node.name == backend.node:
            ordinal, pod_handle = int(backend.ip.rsplit(".", 1)[1]), f"k8s-pod-network.{cid}"
            allocations[ordinal], seq[str(ordinal)] = len(attributes), 0
            attributes.append({"handle_id": pod_handle,
                               "secondary": {"namespace": POD_NAMESPACE, "node": node.name, "pod": backend.name,
                                             "timestamp": "2026-01-01 00:00:00.000000000 +0000 UTC"}})
            handles.append(pod_handle)
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
        for handle in handles:
            objs.append({"apiVersion": CALICO, "kind": "IPAMHandle", "metadata": {"name": handle.lower()},
                         "spec": {"handleID": handle, "block": {cidr: 1}, "deleted": False}})
    return objs


def _backend_pod(topo: Topology) -> dict:
    """The backend as the kubelet and the CNI plugin leave it; felix builds the workload endpoint
    from status.podIPs (libcalico-go/lib/backend/k8s/conversion/conversion.go getPodIPs)."""
    b, node = topo.backend, topo.backend_node
    cid = container_id(topo)
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": b.name, "namespace": POD_NAMESPACE, "labels": {"app": "backend"},
                         "annotations": {"cni.projectcalico.org/containerID": cid,
                                         "cni.projectcalico.org/podIP": f"{b.ip}/32",
                                         "cni.projectcalico.org/podIPs": f"{b.ip}/32"}},
            "spec": {"nodeName": b.node,
                     "containers": [{"name": "echo", "image": "calico-conformance/echo:lab",
                                     "ports": [{"name": "http", "containerPort": b.port}]}]},
            "status": {"phase": "Running", "hostIP": node.address, "hostIPs": [{"ip": node.address}],
                       "podIP": b.ip, "podIPs": [{"ip": b.ip}], "startTime": STAMP,
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
    objs.append(_pool(profile))
    tunnel = TUNNEL_KIND[profile.pool_encapsulation]
    objs += _ipam(topo, tag, tunnel)
    for obj in cluster_objects(topo):
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
            obj["metadata"]["annotations"] = annotations
        objs.append(obj)
    objs.append(_backend_pod(topo))
    return objs
