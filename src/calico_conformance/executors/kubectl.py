"""``kubectl exec`` into a privileged hostNetwork pod pinned to a node: the node's network
namespace, reached through the API server (no SSH needed)."""
from __future__ import annotations

from calico_conformance.executors.wrapped import WrappedExecutor


class KubectlExecutor(WrappedExecutor):
    transport_errors = ("Error from server", "error: unable to upgrade connection", "Unable to connect to the server",
                        "error: You must be logged in", "container not found", "does not have a host assigned")

    def __init__(self, pod: str, namespace: str, *, container: str | None = None, name: str | None = None,
                 kubeconfig: str | None = None, context: str | None = None, kubectl: str = "kubectl"):
        self.pod, self.namespace, self.container = pod, namespace, container
        self.name = name or pod
        self.kubeconfig, self.context, self.kubectl = kubeconfig, context, kubectl

    def argv(self, argv) -> list[str]:
        cmd = [self.kubectl]
        if self.kubeconfig:
            cmd += ["--kubeconfig", self.kubeconfig]
        if self.context:
            cmd += ["--context", self.context]
        cmd += ["exec", "-i", "-n", self.namespace, self.pod]
        if self.container:
            cmd += ["-c", self.container]
        return cmd + ["--", *argv]

    @property
    def where(self) -> str:
        return f"node {self.name} (kubectl exec {self.namespace}/{self.pod})"

    def missing_tool(self, argv, result):
        if "executable file not found" in result.stderr:
            return (f"`{argv[0]}` is not installed in the node agent image on {self.where}; "
                    "choose an image that has it with --node-agent-image")
        return None
