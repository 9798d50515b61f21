"""``docker exec`` into a container: a kind node is a container, so this is "run on the node"."""
from __future__ import annotations

from calico_conformance.executors.wrapped import WrappedExecutor


class DockerExecutor(WrappedExecutor):
    # What docker (or the runtime under it) prints when the transport, not the command, failed.
    transport_errors = ("No such container", "is not running", "Cannot connect to the Docker daemon",
                        "error during connect")

    def __init__(self, container: str, *, name: str | None = None, docker: str = "docker"):
        self.container = container
        self.name = name or container
        self.docker = docker

    def argv(self, argv) -> list[str]:
        return [self.docker, "exec", "-i", self.container, *argv]

    @property
    def where(self) -> str:
        return f"kind node {self.name} (docker exec {self.container})"

    def missing_tool(self, argv, result):
        if result.rc in (126, 127) and "executable file not found" in result.stderr:
            return (f"`{argv[0]}` is not installed on {self.where}; use a node image that has "
                    f"it, or --node-exec pod (a privileged agent pod with the tools)")
        return None
