"""Bring the reference lab up and down.

Bring-up is one ``ip -batch`` per namespace plus one ``nft``/``iptables-restore`` per node that
needs rules: about 15 short processes, ~0.2 s in all. Every namespace is recorded before it is
created, so tear-down (on any exit path) removes exactly what this run made.
"""
from __future__ import annotations

import os
import time

from calico_conformance import netns
from calico_conformance.executor import run_local
from calico_conformance.lab import ipv6, kubeproxy, realfelix, rules, sshd, sweeper
from calico_conformance.lab.calicoobjects import calico_objects
from calico_conformance.lab.profiles import FABRIC_MTU, Profile
from calico_conformance.lab.realapi import LabApi
from calico_conformance.lab.realfelix import RealFelix, route_as_bird
from calico_conformance.lab.realkubeproxy import RealKubeProxy, cluster_objects
from calico_conformance.lab.topology import Topology
from calico_conformance.lab.trunk import TrunkEmitter
from calico_conformance.lab.workload import EchoWorkload
from calico_conformance.realk8s.apply import load_yaml_files
from calico_conformance.vocabulary.errors import ExecutorError, UsageError

REQUIRED_TOOLS = ("ip", "bridge", "nft", "iptables-restore", "ip6tables-restore")


class LabError(UsageError):
    pass


def require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the reference lab needs root (network namespaces, veth, VXLAN): "
                       "run as root, or choose a real target with --target")


def _run(argv: list[str], *, input: str | None = None, what: str) -> None:
    """One bring-up command on this host (``ip -n NS ...`` reaches into a namespace); a failure is
    a LabError naming the step and the tool's own first error line."""
    try:
        result = run_local(argv, input=input, timeout=20, where="this host (lab bring-up)")
    except ExecutorError as exc:
        raise LabError(f"lab bring-up failed while {what}: {exc}") from None
    if not result.succeeded:
        err = (result.stderr.strip().splitlines() or ["no error text"])[0]
        raise LabError(f"lab bring-up failed while {what}: {err}{_kernel_hint(err)}")


def _ipv6_batches(batches: list[tuple[str, list[str], str]]) -> None:
    """One `ip -6 -batch` per (namespace, lines, who it configures)."""
    for ns, lines, who in batches:
        _run(["ip", "-6", "-n", ns, "-batch", "-"], input="\n".join(lines) + "\n", what=f"configuring IPv6 on {who}")


def _kernel_hint(err: str) -> str:
    if "Unknown device type" in err or "Operation not supported" in err:
        return " (the kernel lacks a feature the lab needs: veth, bridge, VXLAN or nftables)"
    return ""


class Lab:
    """One running lab: namespaces, links, rules, the backend workload."""

    def __init__(self, topo: Topology, profile: Profile, *, sshd: bool = False, felix_build=None):
        self.topo = topo
        self.profile = profile
        self.felix_build = felix_build     # realcalico's FelixBuild, for a real-felix profile
        self.want_sshd = sshd       # an OpenSSH server per node, for --target ssh (lab/sshd.py)
        self.sshd = None
        self.created: list[str] = []
        self.workload: EchoWorkload | None = None
        self.trunk: TrunkEmitter | None = None
        self.bringup_s = 0.0
        self.api: LabApi | None = None      # the real API server of real-component profiles
        self.real_kube_proxy: RealKubeProxy | None = None
        self.real_felix: RealFelix | None = None
        self.timings: dict = {}

    def up(self) -> "Lab":
        require_root()
        sshd.sweep_stale()          # first: it finds dead runs' processes by their namespaces
        sweeper.sweep_stale()
        realfelix.sweep_stale(sweeper.alive)
        started = time.perf_counter()
        try:
            self._create_namespaces()
            self._configure()
            addresses = [self.topo.backend.ip] + ([ipv6.backend_ip(self.topo)] if self.profile.ipv6 else [])
            self.workload = EchoWorkload(self.topo.backend.netns, addresses,
                                         self.topo.backend.port, node=self.topo.backend.node)
            self.workload.start()
            if self.profile.tagged_vlan_trunk:
                self.trunk = TrunkEmitter(self.topo)
                self.trunk.start()
            if self.profile.real_kube_proxy or self.profile.real_felix:
                self._real_components()
            if self.want_sshd:
                self.sshd = sshd.LabSshd(self.topo)
                self.sshd.start()
        except BaseException:
            self.down()
            raise
        self.bringup_s = time.perf_counter() - started
        return self

    def _real_components(self) -> None:
        """The API server with what the cluster's controllers would have written, then kube-proxy
        (and its removal, for the switch-over), then felix on every node."""
        profile = self.profile
        self.api = LabApi(self.topo, dual_stack=profile.ipv6).start()
        if profile.real_felix:
            started = time.perf_counter()
            self.api.apply(load_yaml_files(sorted(self.felix_build.crds.glob("*.yaml"))))
            self.api.apply(calico_objects(self.topo, profile, self.felix_build.tag))
            self.timings["calico_objects_s"] = round(time.perf_counter() - started, 2)
        else:
            self.api.apply(cluster_objects(self.topo))
        if profile.real_kube_proxy:
            self.real_kube_proxy = RealKubeProxy(self.topo, self.api, ipv6=profile.ipv6)
            self.real_kube_proxy.start()
            if profile.real_kube_proxy == "stopped":
                self.real_kube_proxy.stop()
        if profile.real_felix:
            route_as_bird(self.topo, profile)
            self.real_felix = RealFelix(self.topo, self.felix_build, self.api, bpf=bool(profile.felix.bpf_enabled),
                                        workdir=self.api.dir, pool_encapsulation=profile.pool_encapsulation,
                                        ipv6=profile.ipv6 and profile.felix.ipv6_support)
            self.real_felix.start()
        self.timings.update(self.api.timings)
        for part in (self.real_kube_proxy, self.real_felix):
            if part is not None:
                self.timings.update(part.timings)

    def _create_namespaces(self) -> None:
        names = self.topo.all_namespaces()
        self.created.extend(names)        # recorded first: a half-made lab is still torn down
        sweeper.register(names)
        _run(["ip", "-batch", "-"], input="".join(f"netns add {n}\n" for n in names),
             what="creating namespaces")
        for name in names:
            self._sysctls(name)

    def _sysctls(self, ns: str) -> None:
        # Before any link exists, so new links inherit: no IPv6 chatter in captures (unless the
        # profile is dual-stack), forwarding on, and loose reverse-path filtering (the tunnel and
        # DSR paths are asymmetric).
        v6 = ipv6.SYSCTLS if self.profile.ipv6 else (("net/ipv6/conf/all/disable_ipv6", "1"),
                                                      ("net/ipv6/conf/default/disable_ipv6", "1"))
        for key, value in (*v6,
                           ("net/ipv4/ip_forward", "1"),
                           ("net/ipv4/conf/all/rp_filter", "0"),
                           ("net/ipv4/conf/default/rp_filter", "0")):
            netns.write_sysctl(ns, key, value)

    def _configure(self) -> None:
        topo, profile = self.topo, self.profile
        _run(["ip", "-n", topo.fabric_ns, "-batch", "-"], input=rules.fabric_batch(topo, profile),
             what="wiring the fabric bridge")
        _run(["bridge", "-n", topo.fabric_ns, "-batch", "-"], input=rules.fabric_fdb(topo, profile),
             what="teaching the fabric bridge its ports")
        _run(["ip", "-n", topo.client_ns, "-batch", "-"], input=rules.client_batch(topo, static_neighbours=not profile.real_felix),
             what="configuring the client")
        _run(["ip", "-n", topo.backend.netns, "-batch", "-"], input="link set lo up\n",
             what="configuring the backend pod")
        if profile.real_felix:
            self._configure_for_felix()
            return
        for node in topo.nodes:
            _run(["ip", "-n", node.netns, "-batch", "-"], input=rules.node_batch(topo, profile, node),
                 what=f"configuring {node.name}")
        netns.write_sysctl(topo.backend_node.netns,
                           f"net/ipv4/conf/{topo.backend.host_iface}/proxy_arp", "1")
        _run(["ip", "-n", topo.backend.netns, "-batch", "-"], input=rules.pod_batch(topo),
             what="configuring the backend pod")
        if not profile.pod_gso:     # the pod's stack segments each packet itself (no TSO/GSO on its eth0)
            _run(["ip", "netns", "exec", topo.backend.netns, "ethtool", "-K", "eth0", "tso", "off", "gso", "off"],
                 what="turning segmentation offload off in the backend pod")
        if profile.uplink_mtu != FABRIC_MTU:
            # Wire-sized frames: veth and bridge pass GSO super-frames whatever their MTU, as no
            # NIC does; segmented at the node, a frame longer than FABRIC_MTU is dropped.
            for node in topo.nodes:
                _run(["ip", "netns", "exec", node.netns, "ethtool", "-K", "eth0", "tso", "off", "gso", "off"],
                     what=f"turning segmentation offload off on {node.name}'s uplink")
        if profile.forward != "direct":
            self._vxlan_fdb()
        if profile.ipv6:
            self._configure_ipv6()
        for node in topo.nodes:
            ruleset = rules.node_nft(topo, profile, node)
            if ruleset:
                _run(["ip", "netns", "exec", node.netns, "nft", "-f", "-"], input=ruleset,
                     what=f"loading nftables rules on {node.name}")
            nft_left = kubeproxy.nft_state(topo, profile.kube_proxy_rules)
            if nft_left:
                _run(["ip", "netns", "exec", node.netns, "nft", "-f", "-"], input=nft_left,
                     what=f"loading kube-proxy's nftables table on {node.name}")
            if not profile.real_kube_proxy:
                for tool, dump in (("iptables-restore", kubeproxy.iptables_state(topo, profile.kube_proxy_rules, node)),
                                   ("ip6tables-restore", kubeproxy.ip6tables_state(
                                       profile.kube_proxy_rules6 or profile.kube_proxy_rules,
                                       felix_ipv6=profile.felix.ipv6_support))):
                    if dump:
                        _run(["ip", "netns", "exec", node.netns, tool], input=dump,
                             what=f"loading kube-proxy's {tool.split('-')[0]} chains on {node.name}")

    def _configure_for_felix(self) -> None:
        """Only what is there before felix starts: the nodes' uplinks and the pod's veth."""
        topo, profile = self.topo, self.profile
        for node in topo.nodes:
            _run(["ip", "-n", node.netns, "-batch", "-"], input=rules.felix_node_batch(topo, profile, node),
                 what=f"configuring {node.name}")
        for key, value in rules.felix_workload_sysctls(topo):
            netns.write_sysctl(topo.backend_node.netns, key, value)
        for node in topo.nodes:
            for family, tool in ((4, "iptables-restore"), (6, "ip6tables-restore")):
                _run(["ip", "netns", "exec", node.netns, tool, "--noflush"], input=rules.kubelet_iptables(family),
                     what=f"writing kubelet's {tool.split('-')[0]} chains on {node.name}")
        _run(["ip", "-n", topo.backend.netns, "-batch", "-"], input=rules.pod_batch(topo, static_gateway=False),
             what="configuring the backend pod")
        if profile.ipv6:
            for key, value in ipv6.felix_workload_sysctls(topo):
                netns.write_sysctl(topo.backend_node.netns, key, value)
            batches = [(topo.client_ns, ipv6.felix_client_lines(), "the client"),
                       (topo.backend.netns, ipv6.felix_pod_lines(topo), "the backend pod")]
            batches += [(node.netns, ipv6.felix_node_lines(topo, node), node.name) for node in topo.nodes]
            _ipv6_batches(batches)

    def _configure_ipv6(self) -> None:
        topo, profile = self.topo, self.profile
        overlay, np_tunnel = rules.overlay_vxlan(topo, profile), rules.wire_vxlan(topo, profile)
        batches = [(topo.client_ns, ipv6.client_lines(topo), "the client"),
                   (topo.backend.netns, ipv6.pod_lines(topo), "the backend pod")]
        batches += [(n.netns, ipv6.node_lines(topo, profile, n, overlay, np_tunnel), n.name)
                    for n in topo.nodes]
        _ipv6_batches(batches)
        for node in topo.nodes:
            _run(["bridge", "-n", node.netns, "-batch", "-"], input="\n".join(ipv6.fdb_lines(topo, node)) + "\n",
                 what=f"programming IPv6 VXLAN forwarding on {node.name}")
            ruleset = ipv6.node_nft(topo, profile, node)
            if ruleset:
                _run(["ip", "netns", "exec", node.netns, "nft", "-f", "-"], input=ruleset,
                     what=f"loading IPv6 nftables rules on {node.name}")

    def _vxlan_fdb(self) -> None:
        for node in self.topo.nodes:
            lines = [f"fdb append {peer.vtep_mac} dev {rules.TUNNEL_DEV} dst {peer.address}"
                     for peer in self.topo.nodes if peer.index != node.index]
            if self.profile.forward == "bpf-tunnel":
                lines += rules.np_fdb(self.topo, self.profile, node)
                for key, value in rules.np_tunnel_sysctls(self.profile, node, self.topo):
                    netns.write_sysctl(node.netns, key, value)
            _run(["bridge", "-n", node.netns, "-batch", "-"], input="\n".join(lines) + "\n",
                 what=f"programming VXLAN forwarding on {node.name}")

    def down(self) -> None:
        """Idempotent; removes only what this lab created."""
        for part in (self.real_felix, self.real_kube_proxy, self.api, self.sshd, self.trunk, self.workload):
            if part:
                part.stop()
        self.real_felix = self.real_kube_proxy = self.api = self.sshd = self.trunk = self.workload = None
        if self.created:
            sweeper.delete(self.created)
            sweeper.unregister(self.created)
            self.created = []
