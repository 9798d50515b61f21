"""What real Calico does, as constants the checks and the lab both read, each cited to Calico's
own source at a release tag (projectcalico/calico; read, never copied). docs/upstream-truths.md
holds the full table with every citation; tests/test_upstream_truths.py ties each row to a lab
profile or injection that exercises it.

A value here is only as good as its citation: change it only with a new one.
"""
from __future__ import annotations

# felix/bpf-gpl/nat.h::CALI_VXLAN_VNI @ v3.29.7 (same v3.20 -> v3.31): the VNI of the VXLAN
# header felix's BPF programs put on NodePort traffic they forward to a backend on another node.
# Not vxlanVNI (4096 by default), which is the overlay device vxlan.calico's, for pod-to-pod.
BPF_NODEPORT_VNI = 0xCA11C0

# felix/bpf-gpl/nat4.h::vxlan_encap @ v3.29.7 never writes the UDP checksum, and the receiving
# node drops a tunnel packet whose checksum is not 0 (nat.h::vxlan_attempt_decap,
# vxlan_udp_csum_ok); felix/bpf/ut/nat_encap_test.go::checkVxlan expects 0.
BPF_NODEPORT_UDP_CHECKSUM = 0

# felix/config/config_params.go::VXLANPort, `int;4789` @ v3.29.7: the BPF programs' vxlan_port
# global (felix/bpf-gpl/bpf.h), the same port the overlay uses; only the VNI tells them apart.
DEFAULT_VXLAN_PORT = 4789
DEFAULT_VXLAN_VNI = 4096

# felix/config/config_params.go::BPFConnectTimeLoadBalancing @ v3.27.0+ `oneof(TCP,Enabled,Disabled)`
# default TCP (before v3.27: BPFConnectTimeLoadBalancingEnabled, default true). A client process on
# a node has its connect() to a NodePort rewritten to the pod (felix/bpf-gpl/connect.h): no
# tunnel, and the pod sees the node's own (or tunnel) address, not the client's.
DEFAULT_CONNECT_TIME_LB = "TCP"

# kube-proxy chains felix deletes in BPF mode (bpfKubeProxyIptablesCleanupEnabled, default true):
# felix/rules/rule_defs.go::KubeProxyChainPrefixes @ v3.29.7 (same v3.20 -> v3.32.1), handed to
# the iptables tables as historic prefixes (felix/dataplane/linux/int_dataplane.go::
# NewIntDataplaneDriver); jumps to them are removed too (KubeProxyInsertRuleRegex). Everything else of kube-proxy's may
# stay (KUBE-MARK-*, KUBE-POSTROUTING, KUBE-FIREWALL, KUBE-PROXY-CANARY, KUBE-PROXY-FIREWALL,
# KUBE-EXT-* with its jumps removed, ...). felix/fv/iptables_cleanup_test.go "_BPF_ should clean
# up kube-proxy's rules" asserts the same set is gone and KUBE-MARK-* still present.
FELIX_REMOVES_KUBE_PROXY_CHAINS = ("KUBE-FORWARD", "KUBE-SERVICES", "KUBE-EXTERNAL-SERVICES",
                                   "KUBE-NODEPORTS", "KUBE-SVC-", "KUBE-SEP-", "KUBE-FW-", "KUBE-XLB-")

# felix deletes kube-proxy's nftables tables (`ip kube-proxy`, `ip6 kube-proxy`) only from v3.31.4
# (and v3.32.0); earlier releases leave them (felix/dataplane/linux/int_dataplane.go::
# NewIntDataplaneDriver, disabled "kube-proxy" tables, and felix/nftables/table.go::applyUpdates
# @ v3.31.7; felix/fv/bpf_test.go "with BPF disabled to begin with": `nft list tables` loses
# "kube-proxy").
FELIX_REMOVES_KUBE_PROXY_NFT_FROM = (3, 31, 4)

# felix programs, and so cleans, IPv6 tables only with its IPv6 support on: the IPv6 mangle/nat/
# raw/filter tables join the dataplane inside `if config.IPv6Enabled` (felix/dataplane/linux/
# int_dataplane.go::NewIntDataplaneDriver @ v3.29.7 ~955-997, @ v3.31.7 ~1198-1251), and the
# `ip6 kube-proxy` nftables table is deleted only then (@ v3.31.7 ~524). IPv6Enabled is
# configParams.Ipv6Support (felix/dataplane/driver.go @ v3.29.7 ~323), default true, set false by
# the manifests (manifests/calico-bpf.yaml FELIX_IPV6SUPPORT) and by the operator wherever the
# Installation has no IPv6 pool (tigera/operator pkg/render/node.go @ v1.36.16 ~1583).
# With NFTablesMode: Enabled, felix v3.29 and v3.30 in BPF mode clean up nothing of kube-proxy:
# the kube-proxy prefixes are handed to the iptables tables only `if !config.RulesConfig.NFTables`
# (int_dataplane.go @ v3.29.7 ~456-462, @ v3.30.7 ~491), and in nftables mode no iptables table is
# applied at all. From v3.31.0 the condition is gone: kube-proxy's iptables chains are cleaned in
# both modes (@ v3.31.7 ~514-528).
FELIX_CLEANS_KUBE_PROXY_IN_NFTABLES_MODE_FROM = (3, 31, 0)

# felix/dataplane/linux/int_dataplane.go::ConfigureDefaultMTUs @ v3.29.7 (vxlanMTUOverhead 50,
# vxlanV6MTUOverhead 70): with vxlanMTU unset felix takes the host interface's MTU less these,
# and hands the result to the CNI plugin for pod interfaces (determinePodMTU) and to the BPF
# programs as their tunnel MTU (felix/dataplane/linux/bpf_ep_mgr.go::calculateTCAttachPoint,
# TunnelMTU = vxlanMTU). A DF packet longer than that gets ICMP "fragmentation needed" with the
# tunnel MTU before encapsulation (felix/bpf-gpl/tc.c, vxlan_encap_too_big -> icmp_too_big); a
# vxlanMTU that leaves no room for the header passes that test, and the encapsulated frame is
# too long for the host interface.
VXLAN_MTU_OVERHEAD = 50
VXLAN_V6_MTU_OVERHEAD = 70
# The pod MTU is the smallest of the *enabled* encapsulations' (int_dataplane.go::determinePodMTU
# @ v3.29.7 ~1176-1205: IPIP host-20, VXLAN host-50, no encapsulation the host's own), while the
# BPF NodePort tunnel's MTU stays vxlanMTU (host-50) whatever the pool: with an IPIP or a plain
# pool a pod's full-size packet is larger than the tunnel takes, and felix answers a DF one with
# ICMP "fragmentation needed" (TCP GSO packets exempt at v3.29/v3.30, all GSO from v3.31.4;
# felix/bpf-gpl/tc.c ~808-811 @ v3.29.7, ~912 @ v3.31.7).
POD_MTU_OVERHEAD = {"VXLAN": VXLAN_MTU_OVERHEAD, "IPIP": 20, "None": 0}

# How felix says whether BPF mode is on (it records it nowhere else: no status field, Node label or
# annotation). felix/dataplane/linux/int_dataplane.go::NewIntDataplaneDriver logs the first at
# INFO when it starts the BPF dataplane; felix/daemon/daemon.go::Run logs the second at ERROR when
# bpfEnabled is true but felix/bpf/bpf.go::SupportsBPFDataplane says no (kernel older than 5.3.0,
# 4.18.0-193 on RHEL; big-endian; no BPF syscalls), then overrides BPFEnabled to false and runs the
# iptables (or nftables) dataplane: it does not exit. From v3.28.0 the line ends " error=<reason>"
# (log.WithError, felix/daemon/daemon.go @ v3.28.0 ~372).
# Same text v3.20.6 -> v3.31.7 (two spaces before "Disabling").
# felix/config/config_params.go::BPFDataIfacePattern defaults: which interfaces felix's BPF
# programs go on (@ v3.29.7 ~183; from v3.30 the tunnel devices left the pattern, @ v3.30.7 ~195).
BPF_DATA_IFACE_PATTERN = {(3, 29): r"^((en|wl|ww|sl|ib)[Popsx].*|(eth|wlan|wwan|bond).*|tunl0$|vxlan.calico$|"
                                   r"vxlan-v6.calico$|wireguard.cali$|wg-v6.cali$)",
                          (3, 30): r"^((en|wl|ww|sl|ib)[Popsx].*|(eth|wlan|wwan|bond).*)"}

# felix's own minimum kernel for BPF mode, the same at v3.29.7, v3.30.7 and v3.31.7
# (felix/bpf/bpf.go::distToVersionMap, v5Dot3Dot0 and v4Dot18Dot0 "4.18.0-193" @ v3.31.7 ~95-108):
# the v3.31 documents ask 5.10 (4.18.0-305 on Red Hat), but felix starts BPF mode from 5.3.0.
FELIX_MIN_KERNEL, FELIX_MIN_RHEL_KERNEL = "5.3.0", "4.18.0-193"

FELIX_BPF_STARTED_LOG = "BPF enabled, starting BPF endpoint manager and map manager."
FELIX_BPF_UNSUPPORTED_LOG = "BPF dataplane mode enabled but not supported by the kernel.  Disabling BPF mode."
