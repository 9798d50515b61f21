"""Packet capture on real nodes: tcpdump started on every point at once through the node's
executor (docker exec, kubectl exec, SSH or this host), stopped together, its pcap fetched back and
read by the same reader as the lab's captures."""
from __future__ import annotations

import dataclasses
import os
import tempfile
import time
import uuid

from calico_conformance.evidence.pcap import LINKTYPE_ETHERNET, read_capture
from calico_conformance.executors import background
from calico_conformance.vocabulary.frames import CapturePoint, RawFrame

SNAPLEN = "262144"     # GSO super-frames exceed 64 KiB
# -B (KiB): in immediate mode libpcap's ring has one slot per snaplen, so its default 2 MiB holds
# 8 frames, and a probe batch arriving while tcpdump waits for a CPU was dropped by the kernel
# (seen over SSH on a busy 2-core machine: 568 of 601 frames of a burst lost). 32 MiB: 128 slots,
# a whole probe batch at one point even if tcpdump never runs during it.
BUFFER_KIB = "32768"
# --immediate-mode: without it packets wait in the kernel buffer and a short probe batch is lost
# when tcpdump is stopped; -U: each packet is written to the file as it comes.
# What is still in the ring when tcpdump is told to stop is lost too: on a busy machine tcpdump may
# not have run since the probe's last packets came (seen once: the lab's ETP check, captured with
# tcpdump beside another test run, skipped as unable to see), so it gets this long to catch up first.
DRAIN_S = 0.3


def interface_mac(executor, iface: str) -> bytes | None:
    """The interface's own MAC (None where it has none: loopback, tun, an unreadable /sys)."""
    result = executor.run(["cat", f"/sys/class/net/{iface}/address"], timeout=10)
    try:
        mac = bytes.fromhex(result.stdout.strip().replace(":", "")) if result.succeeded else b""
    except ValueError:
        return None
    return mac if len(mac) == 6 and any(mac) else None


def with_direction(frames: list[RawFrame], mac: bytes | None) -> list[RawFrame]:
    """A pcap (what ``tcpdump -w`` writes) has no direction, and the checks ask which frames left
    a node: on an Ethernet interface, a frame with the interface's own MAC as source was sent by
    this host, any other arrived. (The lab's captures read the kernel's PACKET_OUTGOING instead;
    tcpdump offers no cooked link type on one interface, and ``-Q in``/``-Q out`` would need two
    processes per point.)"""
    if mac is None:
        return frames
    return [f if f.direction or len(f.data) < 12 else
            dataclasses.replace(f, direction="out" if f.data[6:12] == mac else "in") for f in frames]


class NodeCapture:
    def __init__(self, where: dict[CapturePoint, object], *, ready_timeout: float = 15.0):
        self._jobs = {}
        self._macs: dict[CapturePoint, bytes | None] = {}
        try:
            for point, executor in where.items():
                path = f"/tmp/cc-cap-{uuid.uuid4().hex[:12]}.pcap"
                proc = background.start(executor, ["tcpdump", "--immediate-mode", "-i", point.iface, "-n",
                                                   "-U", "-s", SNAPLEN, "-B", BUFFER_KIB, "-w", path])
                self._jobs[point] = (executor, proc, path)
                self._macs[point] = interface_mac(executor, point.iface)
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
        time.sleep(DRAIN_S)
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
                capture = read_capture(local)
                frames[point] = (with_direction(capture.frames, self._macs.get(point))
                                 if capture.link_type == LINKTYPE_ETHERNET else capture.frames)
            finally:
                os.unlink(local)
        self._jobs = {}
        return frames
