"""The lab's backend pod: an HTTP echo server that answers with the client address it saw
(agnhost ``/clientip`` style). Its listening socket lives in the pod's namespace; a thread of
this process serves it, so the lab starts no processes at all.
"""
from __future__ import annotations

import socket
import threading

from calico_conformance import netns
from calico_conformance.workloads.echo import EchoServer


class EchoWorkload:
    """One listener (and serving thread) per pod address: IPv4, and IPv6 when dual-stack."""

    def __init__(self, pod_netns: str, addresses: list[str], port: int, *, node: str):
        self.pod_netns, self.addresses, self.port, self.node = pod_netns, addresses, port, node
        self.servers: list[EchoServer] = []

    def start(self) -> None:
        for address in self.addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = netns.socket_in(self.pod_netns, family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, self.port))
            sock.listen(64)
            server = EchoServer(sock, hostname=f"backend@{self.node}")
            self.servers.append(server)
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01},
                             name="lab-echo", daemon=True).start()

    def stop(self) -> None:
        for server in self.servers:
            server.shutdown()
            server.server_close()
        self.servers = []
