"""A TCP relay from inside a lab node's network namespace to the API server on this host's
loopback: the node's processes (kube-proxy) reach ``https://127.0.0.1:PORT`` in their own
namespace, and the API server never listens anywhere but the host's 127.0.0.1. The listening
socket is opened in the namespace (a socket keeps its namespace); TLS passes through untouched."""
from __future__ import annotations

import socket
import threading

from calico_conformance import netns


class NetnsForwarder:
    def __init__(self, ns: str, listen_port: int, target_port: int, *, target_host: str = "127.0.0.1"):
        self.ns, self.listen_port = ns, listen_port
        self.target = (target_host, target_port)
        self._sock: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._closed = False

    def start(self) -> "NetnsForwarder":
        sock = netns.socket_in(self.ns, socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.listen_port))
        sock.listen(16)
        self._sock = sock
        threading.Thread(target=self._accept, name=f"cc-fwd-{self.ns}", daemon=True).start()
        return self

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)   # in this host's namespace
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        self._closed = True
        if self._sock is not None:
            try:
                self._sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self._sock.close()
        with self._lock:
            for s in self._conns:
                s.close()
            self._conns = []
