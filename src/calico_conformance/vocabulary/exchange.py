"""What one probe connection got back: the shape every client (lab, local, SSH) reports in."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HttpExchange:
    """One kernel TCP connection from the external client and what the workload answered."""
    local_ip: str
    local_port: int
    remote_ip: str
    remote_port: int
    ok: bool
    reported_client: str | None   # the source address the backend says it saw
    error: str | None
    elapsed_s: float
    path: str = "/"               # what was asked: ``/?pad=N`` asks for a reply of many packets
    received_bytes: int = 0       # what arrived of the answer (headers included), even if cut short
