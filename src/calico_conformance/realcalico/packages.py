"""The Debian packages building felix needs and running it needs, one list each, each package
known by a command or file it installs; ``ensure`` installs the missing ones with apt-get as
root, and otherwise names the command to run."""
from __future__ import annotations

import glob
import os
import shutil

from calico_conformance.executor import run_local
from calico_conformance.realk8s.gotool import BuildError
from calico_conformance.vocabulary.errors import ExecutorError, UsageError

# name -> (commands it installs, all of them; files it installs, any one of them)
_LIBS = ("/usr/lib/*-linux-gnu*/{}", "/lib/*-linux-gnu*/{}", "/usr/lib64/{}", "/usr/lib/{}")
_PROBES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "clang-19": (("clang-19",), ()),
    "llvm-19": (("llc-19",), ()),
    "clang-16": (("clang-16",), ()),
    "llvm-16": (("llc-16",), ()),
    "libelf-dev": ((), ("/usr/include/libelf.h",)),
    "zlib1g-dev": ((), ("/usr/include/zlib.h",)),
    "libpcap-dev": ((), ("/usr/include/pcap.h", "/usr/include/pcap/pcap.h")),
    "make": (("make",), ()),
    "gcc": (("gcc",), ()),
    "xz-utils": (("xz",), ()),
    "ipset": (("ipset",), ()),
    "iptables": (("iptables",), ()),
    "iproute2": (("ip",), ()),
    "conntrack": (("conntrack",), ()),
    "bpftool": (("bpftool",), ()),
    "etcd-server": (("etcd",), ()),
    "openssl": (("openssl",), ()),
    "libelf1": ((), tuple(p.format("libelf.so.1") for p in _LIBS)),
    "zlib1g": ((), tuple(p.format("libz.so.1") for p in _LIBS)),
    "libpcap0.8": ((), tuple(p.format("libpcap.so.0.8") for p in _LIBS)),
}

# clang/llc 19 compile the BPF objects, 16 the IPv6 ones (realcalico/build.py says why); gcc
# builds libbpf and felix's cgo; libelf/zlib/libpcap headers are what felix's cgo includes
# (pcap.h through gopacket).
BUILD = ("clang-19", "llvm-19", "clang-16", "llvm-16", "libelf-dev", "zlib1g-dev", "libpcap-dev", "make", "gcc",
         "xz-utils")
# the lab's real control plane: etcd (Debian's 3.4 is accepted by kube-apiserver 1.30) and the
# openssl CLI for its certificates
CONTROL_PLANE = ("etcd-server", "openssl")
# felix panics without ipset; calico-felix links libelf, libz and libpcap dynamically; the lab
# lists felix's tc programs with bpftool (lab/bpfattach.py).
RUN = ("ipset", "iptables", "iproute2", "conntrack", "libelf1", "zlib1g", "libpcap0.8", "bpftool")

# root's PATH has the sbin directories; a user's often has not, and the tools are there.
_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
APT_TIMEOUT_S = 1800


def present(name: str) -> bool:
    commands, files = _PROBES[name]
    return (all(shutil.which(c, path=_PATH) for c in commands)
            and (not files or any(glob.glob(f) for f in files)))


def missing(names) -> list[str]:
    return [n for n in names if not present(n)]


def _apt(args: list[str]) -> tuple[bool, str]:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        proc = run_local(["apt-get", *args], env=env, timeout=APT_TIMEOUT_S, where="this host (apt-get)")
    except ExecutorError as exc:
        return False, str(exc)
    lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.startswith("E:")]
    return proc.succeeded, (lines or (proc.stderr or proc.stdout).strip().splitlines() or ["no output"])[-1]


def ensure(names, progress=print) -> None:
    """Every package of ``names`` present afterwards, or an error naming what to install."""
    absent = missing(names)
    if not absent:
        return
    command = f"apt-get install -y {' '.join(absent)}"
    if not shutil.which("apt-get", path=_PATH):
        raise UsageError(f"missing {', '.join(absent)} (Debian names) and there is no apt-get here; "
                         "install their equivalents")
    if os.geteuid() != 0:
        raise UsageError(f"missing Debian packages {', '.join(absent)}; install them as root: sudo {command}")
    progress(f"installing {' '.join(absent)} (apt)")
    ok, line = _apt(["install", "-y", "--no-install-recommends", *absent])
    if not ok:
        # a fresh machine's package lists may be empty or stale
        _apt(["update"])
        ok, line = _apt(["install", "-y", "--no-install-recommends", *absent])
    if not ok:
        raise BuildError("packages", f"{command}: {line}")
    still = missing(absent)
    if still:
        raise BuildError("packages", f"{command} finished, but {', '.join(still)} still look absent")
