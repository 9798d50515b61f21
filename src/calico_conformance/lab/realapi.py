"""The real API server the lab's real components talk to: etcd + kube-apiserver made for the run
(realk8s.controlplane), reached from every node at https://127.0.0.1:6443 in the node's own
namespace through a relay (realk8s.forward), and a kubeconfig per identity for what runs on the
nodes: kube-proxy as ``system:kube-proxy`` (bound to system:node-proxier, as kubeadm does) and
felix as the admin (calico-node's own RBAC is not what the suite judges)."""
from __future__ import annotations

import base64
import time
from pathlib import Path

import yaml

from calico_conformance import processes
from calico_conformance.lab import ipv6
from calico_conformance.lab.topology import Topology
from calico_conformance.realk8s import apply
from calico_conformance.realk8s.controlplane import ControlPlane
from calico_conformance.realk8s.forward import NetnsForwarder

NODE_API_PORT = 6443          # where each node reaches the API server, on its own loopback
_CERTS = {"kube-proxy": "kube-proxy", "felix": "admin"}


class LabApi:
    def __init__(self, topo: Topology, *, dual_stack: bool = False):
        self.topo = topo
        # a dual-stack cluster's Services get an IPv6 cluster IP too
        self.service_cidr = ControlPlane.service_cidr + (f",{ipv6.SERVICE_CIDR6}" if dual_stack else "")
        self.cp: ControlPlane | None = None
        self.dyn = None
        self.forwarders: list[NetnsForwarder] = []
        self.timings: dict = {}

    @property
    def dir(self) -> Path:
        """The run's private directory (0700, removed with the control plane)."""
        return self.cp.dir

    def start(self) -> "LabApi":
        t0 = time.monotonic()
        processes.handle_signals()
        self.cp = ControlPlane(service_cidr=self.service_cidr)
        self.cp.start()
        self.timings["control_plane_ready_s"] = round(time.monotonic() - t0, 2)
        self.dyn = apply.client(str(self.cp.kubeconfig))
        for node in self.topo.nodes:
            self.forwarders.append(NetnsForwarder(node.netns, NODE_API_PORT, self.cp.api_port).start())
        return self

    def apply(self, objs: list[dict]) -> None:
        apply.apply_all(self.dyn, objs)

    def kubeconfig(self, identity: str) -> Path:
        """A kubeconfig for ``identity`` (kube-proxy, felix) pointing at the node-side relay."""
        path = self.cp.dir / f"{identity}.kubeconfig"
        if path.exists():
            return path
        pki, cert = self.cp.dir / "pki", _CERTS[identity]
        b64 = lambda name: base64.b64encode((pki / name).read_bytes()).decode()
        path.write_text(yaml.safe_dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "lab",
            "clusters": [{"name": "lab", "cluster": {"server": f"https://127.0.0.1:{NODE_API_PORT}",
                                                     "certificate-authority-data": b64("ca.crt")}}],
            "users": [{"name": identity, "user": {"client-certificate-data": b64(f"{cert}.crt"),
                                                  "client-key-data": b64(f"{cert}.key")}}],
            "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": identity}}]}))
        path.chmod(0o600)
        return path

    def stop(self) -> None:
        for fwd in self.forwarders:
            fwd.stop()
        self.forwarders = []
        if self.cp is not None:
            self.cp.stop()
            self.cp = None
        self.dyn = None
