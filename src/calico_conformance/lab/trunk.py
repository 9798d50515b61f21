"""The ``defect-tagged-vlan`` profile's VLAN trunk: the backend node gets a second uplink (eth1)
on which the fabric delivers the node's traffic 802.1Q-tagged (VID 100), as a switch trunk port
does. This kernel may lack 802.1Q devices (docs/lab.md, measured facts), so the tagged traffic itself is emulated:
a thread keeps sending tagged ARP requests for the node's address, like any trunk carries. Where
the kernel has 802.1Q, the node also gets the tagged VLAN device ``eth1.100``.
"""
from __future__ import annotations

import socket
import threading

from calico_conformance import netns
from calico_conformance.executor import NetnsExecutor
from calico_conformance.lab.rules import TRUNK_VID
from calico_conformance.lab.topology import FABRIC_NET, MacKind, Topology, mac
from calico_conformance.vocabulary.errors import TargetError

INTERVAL_S = 0.01
SWITCH_MAC = mac(MacKind.TRUNK_SWITCH, 1)


class TrunkEmitter:
    def __init__(self, topo: Topology):
        self.node = topo.backend_node
        self.fabric_ns = topo.fabric_ns
        self.iface = f"trunk-{self.node.name}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.vlan_device: str | None = None

    def _frame(self) -> bytes:
        from scapy.layers.l2 import ARP, Dot1Q, Ether
        return bytes(Ether(src=SWITCH_MAC, dst="ff:ff:ff:ff:ff:ff") / Dot1Q(vlan=TRUNK_VID)
                     / ARP(op=1, hwsrc=SWITCH_MAC, psrc=f"{FABRIC_NET}.1", pdst=self.node.address))

    def start(self) -> None:
        node = NetnsExecutor(self.node.netns, self.node.name)
        up = node.run(["ip", "link", "set", "eth1", "up"], timeout=10)
        if not up.succeeded:
            raise TargetError(f"cannot bring the trunk up on {self.node.name}: {up.describe()}")
        # where the kernel has 802.1Q, the node also gets the tagged VLAN device
        made = node.run(["ip", "link", "add", "link", "eth1", "name", f"eth1.{TRUNK_VID}", "type", "vlan",
                         "id", str(TRUNK_VID)], timeout=10)
        self.vlan_device = f"eth1.{TRUNK_VID}" if made.succeeded else None
        sock = netns.socket_in(self.fabric_ns, socket.AF_PACKET, socket.SOCK_RAW, 0)
        sock.bind((self.iface, 0))
        frame = self._frame()

        def emit():
            with sock:
                while not self._stop.wait(INTERVAL_S):
                    try:
                        sock.send(frame)
                    except OSError:
                        return   # the namespace is being torn down
        self._thread = threading.Thread(target=emit, name="lab-trunk", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=1)
