"""kind for the kind target: the cluster config (kind.x-k8s.io/v1alpha4) and the kind CLI with
timeouts. pytest-kind-ng's KindCluster is not used for the calls themselves: it downloads kind
from the internet when missing (air-gapped runs must not) and runs without timeouts."""
from __future__ import annotations

import shutil

import yaml

from calico_conformance.executor import run_local
from calico_conformance.vocabulary.errors import ExecutorError, TargetError

DEFAULT_POD_SUBNETS = {"ipv4": ("192.168.0.0/16",), "ipv6": ("fd00:10:244::/56",),
                       "dual": ("192.168.0.0/16", "fd00:10:244::/56")}
KUBE_PROXY_MODES = ("none", "iptables", "ipvs", "nftables")


def cluster_config(*, name: str, workers: int = 2, node_image: str | None = None, ip_family: str = "ipv4",
                   kube_proxy_mode: str = "none", pod_subnets: tuple[str, ...] = ()) -> dict:
    """No default CNI (Calico is installed), no kube-proxy unless asked (to exercise the document's
    "disable kube-proxy" step), a pod subnet equal to the IP pool, 1 control plane + N workers."""
    if ip_family not in DEFAULT_POD_SUBNETS:
        raise TargetError(f"--ip-family {ip_family}: choose ipv4, ipv6 or dual")
    if kube_proxy_mode not in KUBE_PROXY_MODES:
        raise TargetError(f"--kind-kube-proxy {kube_proxy_mode}: choose one of {', '.join(KUBE_PROXY_MODES)}")
    if not 0 <= workers <= 9:
        raise TargetError(f"--kind-workers {workers}: choose 0 to 9")
    node = {"image": node_image} if node_image else {}
    return {
        "kind": "Cluster",
        "apiVersion": "kind.x-k8s.io/v1alpha4",
        "name": name,
        "networking": {"disableDefaultCNI": True, "kubeProxyMode": kube_proxy_mode, "ipFamily": ip_family,
                       "podSubnet": ",".join(pod_subnets or DEFAULT_POD_SUBNETS[ip_family])},
        "nodes": [{"role": "control-plane", **node}] + [{"role": "worker", **node} for _ in range(workers)],
    }


def dump(config: dict) -> str:
    return yaml.safe_dump(config, sort_keys=False)


def find_tools(kind_bin: str | None = None, docker_bin: str = "docker") -> str:
    """The kind binary; docker must be installed and its engine reachable. One-line errors."""
    kind = kind_bin or shutil.which("kind")
    if not kind or not shutil.which(kind):
        raise TargetError("--target kind needs the `kind` binary, which is not on PATH; install kind "
                          "(https://kind.sigs.k8s.io) or pass --kind-bin PATH")
    if not shutil.which(docker_bin):
        raise TargetError("--target kind needs Docker, and `docker` is not on PATH; install Docker (or use "
                          "--target kubeconfig with an existing cluster)")
    try:
        result = run_local([docker_bin, "info", "--format", "{{.ServerVersion}}"], timeout=20)
    except ExecutorError as exc:
        raise TargetError(f"--target kind: {exc}") from None
    if not result.succeeded or not result.stdout.strip():
        first = (result.stderr.strip().splitlines() or ["no answer"])[0]
        raise TargetError(f"--target kind needs a running Docker engine, and `docker info` failed: {first}; "
                          "start Docker")
    return kind


class KindCli:
    def __init__(self, kind: str):
        self.kind = kind

    def _run(self, argv, *, timeout: float, what: str):
        try:
            result = run_local([self.kind, *argv], timeout=timeout)
        except ExecutorError as exc:
            raise TargetError(f"kind {what}: {exc}") from None
        if not result.succeeded:
            raise TargetError(f"kind {what} failed: {result.describe()}")
        return result.stdout

    def clusters(self) -> list[str]:
        return [line.strip() for line in self._run(["get", "clusters"], timeout=30, what="get clusters").splitlines()
                if line.strip() and not line.startswith("No kind clusters")]

    def create(self, name: str, config_path: str, kubeconfig: str, *, timeout: float = 600) -> None:
        self._run(["create", "cluster", "--name", name, "--config", config_path, "--kubeconfig", kubeconfig,
                   "--wait", "0s"], timeout=timeout, what=f"create cluster {name}")

    def delete(self, name: str, kubeconfig: str | None = None) -> None:
        argv = ["delete", "cluster", "--name", name] + (["--kubeconfig", kubeconfig] if kubeconfig else [])
        self._run(argv, timeout=300, what=f"delete cluster {name}")

    def kubeconfig(self, name: str) -> str:
        return self._run(["get", "kubeconfig", "--name", name], timeout=30, what="get kubeconfig")

    def load_image(self, name: str, image: str) -> None:
        self._run(["load", "docker-image", "--name", name, image], timeout=600, what=f"load docker-image {image}")
