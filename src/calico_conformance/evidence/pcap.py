"""Capture files: write frames as .pcap evidence, read pcap/pcapng back, with scapy's raw readers.

Reading turns Linux cooked captures (``tcpdump -i any``: SLL, SLL2) and raw-IP captures into
Ethernet frames, so everything downstream sees one link type. A cooked header keeps only the
sender's address: the destination MAC of such a frame reads 00:00:00:00:00:00. The direction comes
from the cooked packet type or the pcapng packet flags where present.
"""
from __future__ import annotations

import contextlib
import gzip
import logging
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from calico_conformance.vocabulary.errors import UsageError
from calico_conformance.vocabulary.frames import RawFrame

LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_SLL, LINKTYPE_SLL2 = 1, 101, 113, 276
LINK_TYPE_NAMES = {LINKTYPE_ETHERNET: "Ethernet", LINKTYPE_RAW: "raw IP",
                   LINKTYPE_SLL: "Linux cooked (SLL)", LINKTYPE_SLL2: "Linux cooked v2 (SLL2)"}
SNAPLEN = 262144          # tcpdump's default: GSO super-frames exceed 64 KiB
_MAX_RECORD = 1 << 20     # scapy's readers cut records to 64 KiB unless told otherwise
# Caps on what is read, so memory stays bounded (docs/bad-inputs.md): a lab capture is a few
# hundred frames; past these, cut the capture with `editcap -c`.
MAX_FILE_BYTES = 1 << 30
MAX_FRAMES = 500_000
_SLL_OUTGOING = 4         # PACKET_OUTGOING; the other packet types were received
_PCAPNG_DIRECTION = {1: "in", 2: "out"}


@dataclass
class PcapFile:
    path: str
    format: str                      # "pcap" or "pcapng"
    link_type: int | None            # of the file (pcap) or its first interface (pcapng)
    frames: list[RawFrame] = field(default_factory=list)      # as Ethernet frames
    missing_bytes: list[int] = field(default_factory=list)    # per frame: wire length - captured
    problems: list[str] = field(default_factory=list)         # damage found while reading

    @property
    def link_type_name(self) -> str:
        return LINK_TYPE_NAMES.get(self.link_type, f"link type {self.link_type}")


def write_pcap(path, frames: list[RawFrame]) -> None:
    """Write frames to a classic pcap file (Ethernet, microseconds), creating parent directories.
    pcap has no place for ``direction``; it is lost."""
    from scapy.utils import RawPcapWriter
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with RawPcapWriter(str(path), linktype=LINKTYPE_ETHERNET, snaplen=SNAPLEN) as writer:
        writer.write_header(None)
        for frame in frames:
            sec, usec = divmod(round(frame.time * 1_000_000), 1_000_000)
            writer.write_packet(bytes(frame.data), sec=sec, usec=usec)


def read_pcap(path) -> list[RawFrame]:
    """The frames of a pcap or pcapng file, as Ethernet frames. Raises ``UsageError``."""
    return read_capture(path).frames


def read_capture(path) -> PcapFile:
    """Read a pcap or pcapng file (optionally gzipped) with what is known about it.
    A missing file, an unreadable one or an unsupported link type raises ``UsageError``; damage
    after the header (a cut-off last record) is kept in ``problems``."""
    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapNgReader, RawPcapReader
    path = str(path)
    if os.path.isdir(path):
        raise UsageError(f"{path} is a directory; give the path of one .pcap or .pcapng file in it "
                         "(e.g. reports/evidence/node1-eth0.pcap)")
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such capture file; give the path of a .pcap or .pcapng file")
    if os.path.getsize(path) > MAX_FILE_BYTES:
        raise UsageError(f"{path} is larger than {MAX_FILE_BYTES >> 30} GiB; cut it first "
                         "(`editcap -c 100000 FILE PART.pcap`)")
    with _quiet_scapy():
        try:
            reader = RawPcapReader(path)
        except PermissionError:
            raise UsageError(f"{path}: permission denied; run as a user who may read it") from None
        except (Scapy_Exception, EOFError, OSError, struct.error, ValueError, OverflowError,
                zlib.error) as exc:
            raise UsageError(f"{path}: not a readable pcap or pcapng file ({exc}); "
                             "write captures with `tcpdump -w FILE`") from None
        with reader:
            ng = isinstance(reader, RawPcapNgReader)
            capture = PcapFile(path, "pcapng" if ng else "pcap", None if ng else reader.linktype)
            _read_records(reader, ng, capture)
            if ng and reader.interfaces:    # interface blocks are only read along with packets
                capture.link_type = reader.interfaces[0][0]
    return capture


def _read_records(reader, ng: bool, capture: PcapFile) -> None:
    from scapy.error import Scapy_Exception
    divisor = 1e9 if getattr(reader, "nano", False) else 1e6
    # scapy ends a damaged file with EOFError, as if it had ended there: compare with its size
    size = None if isinstance(reader.f, gzip.GzipFile) else os.path.getsize(capture.path)
    while True:
        start = reader.f.tell()
        try:
            if len(capture.frames) >= MAX_FRAMES:
                capture.problems.append(f"only the first {MAX_FRAMES} frames were read; cut the "
                                        "capture with `editcap -c` to see the rest")
                return
            record = reader._read_packet(size=_MAX_RECORD)   # the public iterator cuts at 64 KiB
        except EOFError:
            record = None
        except (Scapy_Exception, struct.error, ValueError, OverflowError, IndexError, KeyError,
                UnicodeDecodeError, zlib.error, OSError):   # a damaged block scapy does not catch
            record = None
        if record is None:
            if size is not None and start < size:
                capture.problems.append(f"the last {size - start} bytes of the file could not be "
                                        "read (cut off or damaged)")
            return
        data, meta = record
        if ng:
            link_type = meta.linktype
            ticks = ((meta.tshigh or 0) << 32) | (meta.tslow or 0)
            when, direction = ticks / meta.tsresol, _PCAPNG_DIRECTION.get(meta.direction)
            captured = len(data)
        else:
            link_type, when, direction = reader.linktype, meta.sec + meta.usec / divisor, None
            captured = meta.caplen
            if len(data) < meta.caplen:
                capture.problems.append(f"the file ends inside frame {len(capture.frames)} "
                                        f"({len(data)} of {meta.caplen} bytes)")
        frame, cooked_direction = _to_ethernet(link_type, data, capture.path)
        if frame is None:
            capture.problems.append(f"frame {len(capture.frames)}: cooked header cut short")
            frame = b""
        capture.frames.append(RawFrame(when, frame, cooked_direction or direction))
        capture.missing_bytes.append(max(0, meta.wirelen - captured))


def _to_ethernet(link_type: int, data: bytes, path: str) -> tuple[bytes | None, str | None]:
    """-> (an Ethernet frame or None if the cooked header is cut, direction or None)."""
    if link_type == LINKTYPE_ETHERNET:
        return data, None
    if link_type == LINKTYPE_SLL:
        if len(data) < 16:
            return None, None
        packet_type, _hatype, addr_len = struct.unpack_from("!HHH", data)
        addr, proto, payload = data[6:6 + min(addr_len, 8)], data[14:16], data[16:]
    elif link_type == LINKTYPE_SLL2:
        if len(data) < 20:
            return None, None
        proto, packet_type, addr_len = data[0:2], data[10], data[11]
        addr, payload = data[12:12 + min(addr_len, 8)], data[20:]
    elif link_type == LINKTYPE_RAW:
        version = data[0] >> 4 if data else 0
        proto = b"\x86\xdd" if version == 6 else b"\x08\x00"
        return bytes(12) + proto + data, None
    else:
        raise UsageError(f"{path}: link type {link_type} is not supported (Ethernet, Linux cooked "
                         "SLL/SLL2 and raw IP are); capture on an Ethernet interface or with -i any")
    src = addr if len(addr) == 6 else bytes(6)   # not an Ethernet sender (e.g. loopback, tun)
    direction = "out" if packet_type == _SLL_OUTGOING else "in"
    return bytes(6) + src + proto + payload, direction


@contextlib.contextmanager
def _quiet_scapy():
    """scapy logs warnings about damaged files; our caller reports damage itself, once."""
    log = logging.getLogger("scapy.runtime")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


def write_point_pcaps(evidence_dir, raw: dict, suffix: str = "") -> dict:
    """One pcap per capture point (``<point slug><suffix>.pcap`` in ``evidence_dir``); returns
    point -> path, or {} when there is no evidence directory."""
    if evidence_dir is None:
        return {}
    paths = {}
    for point, frames in raw.items():
        paths[point] = Path(evidence_dir) / f"{point.slug}{suffix}.pcap"
        write_pcap(paths[point], frames)
    return paths
