"""Packet capture in lab namespaces with AF_PACKET sockets opened in each namespace.

One capture per interface runs across a whole batch of probes and is demultiplexed afterwards
(docs/lab.md, measured facts: per-probe sniffers missed packets; one long capture caught 20/20). Sockets are
open before the first probe is sent, so nothing is missed and no settle wait is needed at start.
The kernel hands VLAN tags over out of band (PACKET_AUXDATA); they are put back into the frame
as libpcap does, so tagged traffic shows up in the evidence.

Binding an AF_PACKET socket to an interface and closing it each wait for an RCU grace period
(~6 ms apiece), so there is one unbound socket per namespace, frames are sorted to their capture
point by interface name, and sockets are closed off the probe's path.
"""
from __future__ import annotations

import select
import socket
import struct
import threading
import time
from collections import defaultdict
from typing import Sequence

from calico_conformance import netns
from calico_conformance.vocabulary.frames import CapturePoint, RawFrame

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
SO_TIMESTAMPNS = 35
PACKET_OUTGOING = 4
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
_AUX = struct.Struct("IIIHHHH")
_TIMESPEC = struct.Struct("qq")
QUIET_S = 0.002        # the batch is over when no capture point saw a frame for this long
SETTLE_MAX_S = 0.05    # ... or after this, whatever keeps talking (a trunk's broadcasts)


def _reinsert_vlan(data: bytes, tci: int, tpid: int) -> bytes:
    return data[:12] + struct.pack("!HH", tpid or 0x8100, tci) + data[12:]


class LabCapture:
    def __init__(self, where: dict[CapturePoint, tuple[str, str]]):
        """``where`` maps each capture point to (namespace, interface)."""
        self._socks: dict[str, socket.socket] = {}
        self._points: dict[tuple[str, str], CapturePoint] = {(ns, iface): p for p, (ns, iface) in where.items()}
        try:
            for ns in dict.fromkeys(ns for ns, _ in where.values()):
                sock = netns.socket_in(ns, socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
                sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                sock.setblocking(False)
                self._socks[ns] = sock
        except BaseException:
            self.close()
            raise

    def stop(self) -> dict[CapturePoint, list[RawFrame]]:
        """Drain until the wire is quiet, so the last FIN/ACKs of a batch are in, without a
        fixed sleep on every batch."""
        frames: dict[CapturePoint, list[RawFrame]] = defaultdict(list)
        deadline = time.monotonic() + SETTLE_MAX_S
        try:
            while True:
                got = 0
                for ns, sock in self._socks.items():
                    for iface, frame in self._drain(sock):
                        got += 1
                        point = self._points.get((ns, iface))
                        if point is not None:
                            frames[point].append(frame)
                if time.monotonic() >= deadline or (not got and self._quiet()):
                    break
        finally:
            self.close()
        return {p: frames.get(p, []) for p in self._points.values()}

    def _quiet(self) -> bool:
        readable, _, _ = select.select(list(self._socks.values()), [], [], QUIET_S)
        return not readable

    @staticmethod
    def _drain(sock: socket.socket) -> list[tuple[str, RawFrame]]:
        frames = []
        cmsg_space = socket.CMSG_SPACE(_AUX.size) + socket.CMSG_SPACE(_TIMESPEC.size)
        while True:
            try:
                data, ancdata, _flags, addr = sock.recvmsg(1 << 18, cmsg_space)
            except BlockingIOError:
                return frames
            stamp = time.time()
            for level, kind, payload in ancdata:
                if level == SOL_PACKET and kind == PACKET_AUXDATA and len(payload) >= _AUX.size:
                    status, _l, _s, _m, _n, tci, tpid = _AUX.unpack_from(payload)
                    if status & TP_STATUS_VLAN_VALID:
                        data = _reinsert_vlan(data, tci, tpid if status & TP_STATUS_VLAN_TPID_VALID else 0)
                elif level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= _TIMESPEC.size:
                    sec, nsec = _TIMESPEC.unpack_from(payload)
                    stamp = sec + nsec / 1e9
            direction = "out" if addr[2] == PACKET_OUTGOING else "in"
            frames.append((addr[0], RawFrame(time=stamp, data=data, direction=direction)))

    def close(self) -> None:
        socks, self._socks = list(self._socks.values()), {}
        if socks:   # closing waits for the kernel; nobody needs to wait with it
            threading.Thread(target=lambda: [s.close() for s in socks], daemon=True).start()


def open_capture(where: dict[CapturePoint, tuple[str, str]]) -> LabCapture:
    return LabCapture(where)


def points_for(items: Sequence[tuple[str, str, str]]) -> dict[CapturePoint, tuple[str, str]]:
    """[(node name, namespace, iface)] -> {CapturePoint: (namespace, iface)}"""
    return {CapturePoint(node, iface): (ns, iface) for node, ns, iface in items}
