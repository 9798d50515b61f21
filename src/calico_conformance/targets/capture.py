"""Packet capture on real nodes: tcpdump started on every point at once through the node's
executor (docker exec, kubectl exec, SSH or this host), stopped together, its pcap fetched back and
read by the same reader as the lab's captures."""
from __future__ import annotations

import os
import tempfile
import uuid

from calico_conformance.evidence.model import CapturePoint
from calico_conformance.executors import background
from calico_conformance.targets.base import RawFrame

SNAPLEN = "262144"     # GSO super-frames exceed 64 KiB
# --immediate-mode: without it packets wait in the kernel buffer and a short probe batch is lost
# when tcpdump is stopped; -U: each packet is written to the file as it comes.


class NodeCapture:
    def __init__(self, where: dict[CapturePoint, object], *, ready_timeout: float = 15.0):
        self._jobs = {}
        try:
            for point, executor in where.items():
                path = f"/tmp/cc-cap-{uuid.uuid4().hex[:12]}.pcap"
                proc = background.start(executor, ["tcpdump", "--immediate-mode", "-i", point.iface, "-n",
                                                   "-U", "-s", SNAPLEN, "-w", path])
                self._jobs[point] = (executor, proc, path)
            for executor, proc, path in self._jobs.values():
                proc.wait_for_output("listening on", timeout=ready_timeout)
        except BaseException:
            self._abort()
            raise

    def _abort(self) -> None:
        for executor, proc, path in self._jobs.values():
            try:
                proc.stop(signal="KILL", timeout=2)
                background.remove(executor, path, proc.log)
            except Exception:
                pass

    def stop(self) -> dict[CapturePoint, list[RawFrame]]:
        from calico_conformance.evidence.pcap import read_pcap
        for executor, proc, path in self._jobs.values():
            proc.stop()
        frames = {}
        for point, (executor, proc, path) in self._jobs.items():
            data = background.fetch(executor, path)
            background.remove(executor, path, proc.log)
            fd, local = tempfile.mkstemp(suffix=".pcap", prefix="cc-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(data)
                frames[point] = read_pcap(local)
            finally:
                os.unlink(local)
        self._jobs = {}
        return frames
