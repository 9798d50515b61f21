"""Which BPF programs are attached to a namespace's interfaces, both ways felix attaches them:
tc clsact filters (listed by ``bpftool net show``) and TCX links (kernel 6.6+; felix v3.31's
default where the kernel has them). Debian 12's bpftool 7.1 and ``tc filter show`` do not list
TCX links, so those are asked of the kernel directly: BPF_PROG_QUERY per interface and hook, the
program's name by its id (bpf(2); include/uapi/linux/bpf.h)."""
from __future__ import annotations

import ctypes
import json
import os
import socket
import struct

from calico_conformance import netns
from calico_conformance.executor import run_local

_SYS_BPF = {"x86_64": 321, "aarch64": 280}.get(os.uname().machine, 321)
_PROG_GET_FD_BY_ID, _OBJ_GET_INFO_BY_FD, _PROG_QUERY = 13, 15, 16
_TCX = {"ingress": 46, "egress": 47}          # BPF_TCX_INGRESS, BPF_TCX_EGRESS
_libc = ctypes.CDLL(None, use_errno=True)

Attachments = dict[str, dict[str, list[str]]]   # {iface: {"ingress": [program names], "egress": [...]}}


def _bpf(cmd: int, attr) -> int:
    ret = _libc.syscall(_SYS_BPF, cmd, ctypes.byref(attr), ctypes.sizeof(attr))
    if ret < 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return ret


def _tcx_ids(ifindex: int, attach_type: int) -> list[int]:
    ids = (ctypes.c_uint32 * 64)()
    attr = ctypes.create_string_buffer(128)           # union bpf_attr, query member
    struct.pack_into("IIII", attr, 0, ifindex, attach_type, 0, 0)
    struct.pack_into("Q", attr, 16, ctypes.addressof(ids))
    struct.pack_into("I", attr, 24, len(ids))
    try:
        _bpf(_PROG_QUERY, attr)
    except OSError:            # no TCX on this kernel, or nothing attached
        return []
    return list(ids[:min(struct.unpack_from("I", attr, 24)[0], len(ids))])


def _prog_name(prog_id: int) -> str:
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("I", attr, 0, prog_id)
    try:
        fd = _bpf(_PROG_GET_FD_BY_ID, attr)
    except OSError:
        return f"id{prog_id}"
    try:
        info = ctypes.create_string_buffer(256)        # struct bpf_prog_info: name at offset 64
        attr = ctypes.create_string_buffer(128)
        struct.pack_into("IIQ", attr, 0, fd, len(info), ctypes.addressof(info))
        _bpf(_OBJ_GET_INFO_BY_FD, attr)
        return info.raw[64:80].split(b"\0", 1)[0].decode(errors="replace") or f"id{prog_id}"
    except OSError:
        return f"id{prog_id}"
    finally:
        os.close(fd)


def _tcx_here() -> Attachments:
    out: Attachments = {}
    for index, name in socket.if_nameindex():
        for hook, attach_type in _TCX.items():
            names = [_prog_name(i) for i in _tcx_ids(index, attach_type)]
            if names:
                out.setdefault(name, {})[hook] = names
    return out


def _tc(ns: str | None) -> Attachments:
    argv = ["bpftool", "-j", "net", "show"]
    if ns:
        argv = ["ip", "netns", "exec", ns, *argv]
    result = run_local(argv, timeout=20)
    try:
        sections = json.loads(result.stdout or "[]")
    except ValueError:
        return {}
    out: Attachments = {}
    for section in sections:
        for entry in section.get("tc", []):
            hook = entry.get("kind", "").rsplit("/", 1)[-1]
            out.setdefault(entry["devname"], {}).setdefault(hook, []).append(entry.get("name", f"id{entry.get('id')}"))
    return out


def attachments(ns: str | None = None) -> Attachments:
    """Both kinds, in namespace ``ns`` (None: this process's own, the host's)."""
    if ns:
        with netns.inside(ns):
            tcx = _tcx_here()
    else:
        tcx = _tcx_here()
    merged = _tc(ns)
    for iface, hooks in tcx.items():
        for hook, names in hooks.items():
            merged.setdefault(iface, {}).setdefault(hook, []).extend(names)
    return merged
