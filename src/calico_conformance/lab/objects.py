"""The lab described as the Kubernetes objects a real cluster would show, so the
unsupported-set-up detection reads the lab exactly as it reads a cluster's API."""
from __future__ import annotations

from calico_conformance.lab import ipv6
from calico_conformance.lab.felixlog import kernel_of
from calico_conformance.lab.profiles import Profile, node_settings
from calico_conformance.lab.rules import calico_address
from calico_conformance.lab.topology import Topology
from calico_conformance.support.kinds import qualify
from calico_conformance.support.snapshot import load_snapshot

_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}


def _node(topo: Topology, node, host: tuple[str, str, str], profile: Profile) -> dict:
    kernel, machine, os_image = host
    kernel, dual_stack = kernel_of(profile, node.name, kernel), profile.ipv6
    internal = [node.address] + ([ipv6.node_ip(node)] if dual_stack else [])
    arch = _ARCH.get(machine, machine)
    labels = {"kubernetes.io/arch": arch, "kubernetes.io/os": "linux",
              "kubernetes.io/hostname": node.name, "beta.kubernetes.io/arch": arch,
              "beta.kubernetes.io/os": "linux"}
    if node.index == 1:
        labels["node-role.kubernetes.io/control-plane"] = ""
    return {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": node.name, "labels": labels,
                     "annotations": {"kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock",
                                     "projectcalico.org/IPv4Address": f"{calico_address(profile, node)[0]}/24",
                                     "projectcalico.org/IPv4VXLANTunnelAddr": node.tunnel_ip}},
        "spec": {"podCIDR": node.pod_cidr,
                 "podCIDRs": [node.pod_cidr] + ([ipv6.pod_cidr(node)] if dual_stack else [])},
        "status": {"addresses": [{"type": "InternalIP", "address": ip} for ip in internal]
                   + [{"type": "Hostname", "address": node.name}],
                   "nodeInfo": {"kernelVersion": kernel, "osImage": os_image, "architecture": arch,
                                "operatingSystem": "linux", "kubeletVersion": "v1.31.0-lab",
                                "kubeProxyVersion": "v1.31.0-lab",
                                "containerRuntimeVersion": "containerd://1.7.22"}},
    }


def lab_objects(topo: Topology, profile: Profile, host: tuple[str, str, str]) -> list[dict]:
    felix = profile.felix
    objs = [_node(topo, n, host, profile) for n in topo.nodes]
    encap = profile.pool_encapsulation
    pools = [{"cidr": "10.244.0.0/16", "encapsulation": encap, "natOutgoing": "Enabled"}]
    if profile.ipv6:
        pools.append({"cidr": "fd00:244::/48", "encapsulation": "VXLAN", "natOutgoing": "Enabled"})
    for name, settings in (("default", felix), *((f"node.{n}", s) for n, s in node_settings(profile, topo))):
        objs.append({
            "apiVersion": "crd.projectcalico.org/v1", "kind": "FelixConfiguration",
            "metadata": {"name": name},
            "spec": {"bpfEnabled": bool(settings.bpf_enabled),
                     "bpfExternalServiceMode": settings.external_service_mode,
                     "bpfKubeProxyIptablesCleanupEnabled": settings.kube_proxy_iptables_cleanup,
                     "vxlanPort": settings.vxlan_port, "vxlanVNI": settings.vxlan_vni,
                     "ipv6Support": settings.ipv6_support, "nftablesMode": settings.nftables_mode}})
    objs.append({
        "apiVersion": "operator.tigera.io/v1", "kind": "Installation", "metadata": {"name": "default"},
        "spec": {"variant": "Calico", "calicoNetwork": {
            "linuxDataplane": profile.linux_dataplane,
            "ipPools": pools,
            # as the operator defaults them: an IPv6 method only where there is an IPv6 pool
            "nodeAddressAutodetectionV4": {"firstFound": True},
            **({"nodeAddressAutodetectionV6": {"firstFound": True}} if profile.ipv6 else {})}}})
    objs.append({
        "apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
        "metadata": {"name": "default-ipv4-ippool"},
        "spec": {"cidr": "10.244.0.0/16", "vxlanMode": "Always" if encap == "VXLAN" else "Never",
                 "ipipMode": "Always" if encap == "IPIP" else "Never", "natOutgoing": True}})
    if profile.ipv6:
        objs.append({
            "apiVersion": "crd.projectcalico.org/v1", "kind": "IPPool",
            "metadata": {"name": "default-ipv6-ippool"},
            "spec": {"cidr": "fd00:244::/48", "vxlanMode": "Always", "ipipMode": "Never", "natOutgoing": True}})
    svc = {"name": "http", "protocol": "TCP", "port": 80, "targetPort": topo.spec.backend_port,
           "nodePort": topo.spec.node_port}
    objs.append({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "backend", "namespace": "calico-conformance"},
        "spec": {"type": "NodePort", "selector": {"app": "backend"}, "ports": [svc],
                 "externalTrafficPolicy": "Cluster",
                 "ipFamilies": ["IPv4", "IPv6"] if profile.ipv6 else ["IPv4"],
                 "ipFamilyPolicy": "PreferDualStack" if profile.ipv6 else "SingleStack"}})
    objs.append({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "backend-local", "namespace": "calico-conformance"},
        "spec": {"type": "NodePort", "selector": {"app": "backend"},
                 "ports": [{**svc, "nodePort": topo.spec.node_port_local}],
                 "externalTrafficPolicy": "Local", "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack"}})
    if profile.linux_dataplane == "BPF":
        # As the documents' first install step makes it: the API server's real, stable address
        # (the lab's control-plane node).
        objs.append({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kubernetes-services-endpoint", "namespace": "tigera-operator"},
            "data": {"KUBERNETES_SERVICE_HOST": topo.nodes[0].address, "KUBERNETES_SERVICE_PORT": "6443"}})
    if profile.kube_proxy_rules == "active":
        objs.append({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system", "labels": {"k8s-app": "kube-proxy"}},
            "spec": {"selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                     "template": {"spec": {"containers": [{"name": "kube-proxy",
                                                           "image": "registry.k8s.io/kube-proxy:v1.31.0"}]}}},
            "status": {"desiredNumberScheduled": len(topo.nodes), "numberReady": len(topo.nodes)}})
        objs.append({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "kube-proxy", "namespace": "kube-system"},
            "data": {"config.conf": "apiVersion: kubeproxy.config.k8s.io/v1alpha1\n"
                                    "kind: KubeProxyConfiguration\nmode: \"\"\n"}})
    return objs


def load_overrides(paths) -> list[dict]:
    """Objects from --lab-objects files, as complete dicts (kind and apiVersion put back where a
    dump lost them), via the same loader as ``preflight --snapshot``."""
    out = []
    for path in paths:
        for obj in load_snapshot(path).objects:
            raw = dict(obj.raw)
            calico, _, kind = obj.kind.rpartition("/")
            raw.setdefault("kind", kind)
            raw.setdefault("apiVersion", "crd.projectcalico.org/v1" if calico else "v1")
            out.append(raw)
    return out


def with_overrides(objects: list[dict], paths) -> list[dict]:
    """The lab's objects, where every kind the files bring replaces the lab's objects of that kind."""
    if not paths:
        return objects
    extra = load_overrides(paths)
    qualified = lambda o: qualify(o["kind"], o.get("apiVersion"), o)
    replaced = {qualified(o) for o in extra}
    return [o for o in objects if qualified(o) not in replaced] + extra
