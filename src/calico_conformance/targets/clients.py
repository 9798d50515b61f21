"""External clients for real clusters: this host, or another host reached over SSH. Both make a
kernel TCP connection to NODE_IP:NODEPORT and parse the echo workload's answer (who it saw)."""
from __future__ import annotations

import json
import socket
from pathlib import Path

from calico_conformance.executor import ExecutorError
from calico_conformance.targets.base import HttpExchange
from calico_conformance.workloads import httpget

_HTTPGET_SOURCE = Path(httpget.__file__)


def _exchange(host: str, port: int, out: dict) -> HttpExchange:
    return HttpExchange(out["local_ip"], out["local_port"], host, port, out["ok"], out["reported_client"],
                        out["error"], out["elapsed_s"])


def source_address(dest: str) -> str:
    """The address this host sends from towards ``dest`` (a connected UDP socket sends nothing)."""
    family = socket.AF_INET6 if ":" in dest else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.connect((dest, 9))
            return s.getsockname()[0]
        except OSError:
            return "::1" if family == socket.AF_INET6 else "127.0.0.1"


class LocalClient:
    """The host running the suite."""

    def __init__(self, address: str, address6: str | None = None, name: str = "client"):
        self.name, self.address, self.address6 = name, address, address6

    def http_get(self, host: str, port: int, *, timeout: float = 2.0) -> HttpExchange:
        return _exchange(host, port, httpget.http_get(host, port, timeout))


class SshClient:
    """Another host (outside the cluster), reached with an SSH executor; it needs python3."""

    def __init__(self, executor, address: str, name: str = "client", address6: str | None = None):
        self.executor, self.address, self.name, self.address6 = executor, address, name, address6

    def http_get(self, host: str, port: int, *, timeout: float = 2.0) -> HttpExchange:
        result = self.executor.run(["python3", "-", host, str(port), str(timeout)],
                                   input=_HTTPGET_SOURCE.read_text(), timeout=timeout + 15)
        if not result.succeeded:
            raise ExecutorError(f"the external client {self.name} could not run the probe: {result.describe()}")
        return _exchange(host, port, json.loads(result.stdout.strip().splitlines()[-1]))
