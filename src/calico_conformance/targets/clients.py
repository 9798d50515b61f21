"""External clients for real clusters: this host, or another host reached over SSH. Both make a
kernel TCP connection to NODE_IP:NODEPORT and parse the echo workload's answer (who it saw)."""
from __future__ import annotations

import json
import socket
from pathlib import Path

from calico_conformance.vocabulary.errors import ExecutorError
from calico_conformance.vocabulary.exchange import HttpExchange
from calico_conformance.workloads import httpget

_HTTPGET_SOURCE = Path(httpget.__file__)


def exchange_from(host: str, port: int, out: dict) -> HttpExchange:
    """An ``HttpExchange`` from what ``httpget.http_get`` returned (here or on another host)."""
    return HttpExchange(out["local_ip"], out["local_port"], host, port, out["ok"], out["reported_client"],
                        out["error"], out["elapsed_s"], out.get("path", "/"), out.get("received_bytes", 0))


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

    def http_get(self, host: str, port: int, *, timeout: float = 2.0, path: str = "/") -> HttpExchange:
        return exchange_from(host, port, httpget.http_get(host, port, timeout, path=path))


class SshClient:
    """Another host (outside the cluster), reached with an SSH executor; it needs python3."""

    def __init__(self, executor, address: str, name: str = "client", address6: str | None = None):
        self.executor, self.address, self.name, self.address6 = executor, address, name, address6

    def http_get(self, host: str, port: int, *, timeout: float = 2.0, path: str = "/") -> HttpExchange:
        result = self.executor.run(["python3", "-", host, str(port), str(timeout), "", path],
                                   input=_HTTPGET_SOURCE.read_text(), timeout=timeout + 15)
        if not result.succeeded:
            raise ExecutorError(f"the external client {self.name} could not run the probe: {result.describe()}")
        return exchange_from(host, port, json.loads(result.stdout.strip().splitlines()[-1]))
