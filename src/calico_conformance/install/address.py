"""The API server's "real" address for the kubernetes-services-endpoint ConfigMap: found the way
the document says for each distribution, or given with --api-server, and refused when it is not a
stable address the nodes can use (a pod IP, a ClusterIP, the `kubernetes` Service, loopback)."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from calico_conformance.install import data
from calico_conformance.install.data import Distro, Statement
from calico_conformance.vocabulary.errors import UsageError


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    how: str                 # where the address came from, for the output
    cite: Statement


def parse_host_port(text: str, *, what: str = "--api-server") -> tuple[str, int]:
    text = text.strip()
    if "://" in text:
        text = text.split("://", 1)[1].rstrip("/")
    if text.startswith("["):                 # [v6]:port
        host, _, port = text[1:].partition("]:")
    else:
        host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"{what} {text!r} is not HOST:PORT (e.g. api.example.com:6443 or [fd00::1]:6443)")
    return host, int(port)


def _url_host(url: str | None) -> str | None:
    """The host of a URL as written (urlsplit().hostname would lower-case it)."""
    if not url:
        return None
    netloc = urlsplit(url).netloc.rpartition("@")[2]
    if netloc.startswith("["):
        return netloc[1:].partition("]")[0]
    return netloc.partition(":")[0] or None


def _control_plane_ip(view) -> str | None:
    for node in view.nodes:
        labels = node.get("metadata", {}).get("labels") or {}
        if "node-role.kubernetes.io/control-plane" in labels or "node-role.kubernetes.io/master" in labels:
            for addr in node.get("status", {}).get("addresses") or []:
                if addr.get("type") == "InternalIP":
                    return addr["address"]
    return None


def find(distro: Distro, view, override: str | None = None) -> Endpoint:
    spec = distro.api_address
    cite = data.statement(spec["cite"])
    if override:
        host, port = parse_host_port(override)
        return Endpoint(host, port, "--api-server", cite)
    strategy, port = spec["strategy"], spec["port"]
    if strategy == "fixed":
        return Endpoint(spec["host"], port, f"fixed for {distro.title}", cite)
    if view is None or view.offline:
        raise UsageError(f"--distro {distro.name}: the API server address is found from the cluster; for a "
                         "dry-run without a cluster pass --api-server HOST:PORT")
    if strategy == "kubeconfig-server":
        host = _url_host(view.kubeconfig_host)
        return Endpoint(host, port, "the kubeconfig's server (kubectl cluster-info)", cite)
    if strategy == "control-plane-node":
        ip = _control_plane_ip(view)
        if not ip:
            raise UsageError("no control-plane node with an InternalIP; pass --api-server HOST:PORT")
        return Endpoint(ip, port, "the control-plane node's InternalIP", cite)
    if strategy == "kubeadm":
        endpoint = (view.kubeadm_config or {}).get("controlPlaneEndpoint")
        if endpoint:
            host, p = parse_host_port(endpoint if ":" in endpoint else f"{endpoint}:{port}",
                                      what="kubeadm controlPlaneEndpoint")
            return Endpoint(host, p, "kubeadm-config controlPlaneEndpoint (the load balancer)", cite)
        hint = _control_plane_ip(view)
        raise UsageError("kubeadm cluster without a controlPlaneEndpoint: the installer cannot tell whether the "
                         "control-plane address is stable (the document requires a load balancer, DNS name or "
                         "static IP); pass --api-server HOST:PORT"
                         + (f" (the control-plane node's InternalIP is {hint}; use it only if it is static)"
                            if hint else ""))
    if strategy == "kops":
        host = _url_host(view.kubeconfig_host) or ""
        if host.startswith("api.") and not host.startswith("api.internal."):
            host = "api.internal." + host[len("api."):]
        if not host.startswith("api.internal."):
            raise UsageError(f"cannot derive api.internal.<clustername> from the kubeconfig server {host!r}; "
                             "pass --api-server api.internal.<clustername>:443")
        return Endpoint(host, port, "api.internal.<clustername>, from the kubeconfig's api.<clustername>", cite)
    if strategy == "openshift":
        infra = (view.openshift_infrastructure or {}).get("status") or {}
        host = _url_host(infra.get("apiServerURL")) or _url_host(view.kubeconfig_host) or ""
        if not host.startswith("api."):
            raise UsageError(f"cannot find api.<cluster_name>.<base_domain> (found {host!r}); "
                             "pass --api-server api.<cluster_name>.<base_domain>:6443")
        return Endpoint(host, port, "Infrastructure/cluster status.apiServerURL", cite)
    raise ValueError(f"unknown api_address strategy {strategy!r} in distros.yaml")


def check_stable(endpoint: Endpoint, view, pool_cidrs: list[str], default_service_cidr: str = "") -> None:
    """Refuse addresses that are not a stable, direct way to the API server (doc: v3.29)."""
    host = endpoint.host.strip("[]")
    stable = data.statement("endpoint-stable").cite()
    direct = data.statement("endpoint-not-clusterip").cite()
    lowered = host.lower().rstrip(".")
    if lowered in ("kubernetes", "kubernetes.default") or lowered.endswith((".svc", ".svc.cluster.local")):
        raise UsageError(f"API address {host} is the `kubernetes` Service name (its ClusterIP); Calico must reach "
                         f"the API server directly, {direct}; pass --api-server with the load balancer or "
                         "control-plane address")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return        # a DNS name: the stable kind of address the document asks for
    if ip.is_loopback or ip.is_unspecified:
        raise UsageError(f"API address {host} is a loopback/unspecified address, which the nodes cannot use to "
                         "reach the API server; pass --api-server with the load balancer or control-plane address")
    if view is not None:
        owner = view.service_ips.get(str(ip))
        if owner == "default/kubernetes":
            raise UsageError(f"API address {host} is the ClusterIP of the `kubernetes` Service; {direct}; pass "
                             "--api-server with the load balancer or control-plane address")
        if owner:
            raise UsageError(f"API address {host} is the ClusterIP of Service {owner}, not a stable direct "
                             f"address of the API server; {stable}")
        pod = view.pod_ips.get(str(ip))
        if pod:
            raise UsageError(f"API address {host} is the IP of pod {pod}, which changes when the pod is "
                             f"recreated; {stable}")
    service_subnet = ((view.kubeadm_config or {}).get("networking") or {}).get("serviceSubnet") if view else None
    if view is None:      # no cluster to ask: the distribution's default Service network
        service_subnet = default_service_cidr
    for cidr in [*(pool_cidrs or []), *((view.pod_cidrs if view else []) or [])]:
        if _within(ip, cidr):
            raise UsageError(f"API address {host} is inside the pod network {cidr}; {stable}")
    for cidr in (service_subnet or "").split(","):
        if cidr and _within(ip, cidr):
            raise UsageError(f"API address {host} is inside the Service network {cidr} (a ClusterIP); {direct}")


def _within(ip, cidr: str) -> bool:
    try:
        return ip in ipaddress.ip_network(cidr.strip(), strict=False)
    except ValueError:
        return False
