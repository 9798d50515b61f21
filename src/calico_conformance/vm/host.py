"""What the host needs to boot a guest: its tools (installed with apt-get when missing and run as
root, as a build step would), and whether KVM works here or qemu emulates the CPU (TCG)."""
from __future__ import annotations

import fcntl
import os
import shutil
import struct
from dataclasses import dataclass

from calico_conformance.executor import run_local
from calico_conformance.vocabulary.errors import UsageError

# command -> the Debian package that has it. busybox must be the static one (the initramfs has no
# libc); kmod's depmod/modprobe prepare the modules, and the guest's modprobe is the host's.
TOOLS = {"qemu-system-x86_64": "qemu-system-x86", "busybox": "busybox-static", "depmod": "kmod",
         "modprobe": "kmod", "zstd": "zstd", "dpkg-deb": "dpkg", "apt-get": "apt", "setpriv": "util-linux"}
SBIN = "/usr/local/sbin:/usr/sbin:/sbin"

# ioctl numbers of /dev/kvm (linux/kvm.h)
KVM_GET_API_VERSION, KVM_CREATE_VM, KVM_CREATE_VCPU = 0xAE00, 0xAE01, 0xAE41


def which(command: str) -> str | None:
    return shutil.which(command, path=f"{os.environ.get('PATH', '')}:{SBIN}")


def missing_tools() -> list[str]:
    """The Debian packages to install: a tool not found, or a busybox that is not static."""
    need = [pkg for cmd, pkg in TOOLS.items() if not which(cmd)]
    busybox = which("busybox")
    if busybox and not is_static(busybox):
        need.append("busybox-static")
    return list(dict.fromkeys(need))


def ensure_tools(say=print) -> None:
    """Every tool there, installing the missing packages with apt-get when root; else a one-line
    ``UsageError`` naming them."""
    need = missing_tools()
    if not need:
        return
    if os.geteuid() != 0:
        raise UsageError(f"booting a kernel needs {', '.join(need)}; run as root (it installs them) or: "
                         f"apt-get install --no-install-recommends {' '.join(need)}")
    say(f"installing {', '.join(need)} (apt-get; once per machine) ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "-o", "DPkg::Lock::Timeout=600", *need]
    result = run_local(install, env=env, timeout=1800)
    if not result.succeeded and "Unable to locate package" in result.stderr:
        run_local(["apt-get", "update", "-q"], env=env, timeout=600)
        result = run_local(install, env=env, timeout=1800)
    if not result.succeeded:
        raise UsageError(f"cannot install {', '.join(need)}: {result.describe()}")
    still = missing_tools()
    if still:
        raise UsageError(f"{', '.join(still)} still missing after apt-get install")


def is_static(path: str) -> bool:
    """An ELF executable without a program interpreter (PT_INTERP) needs no libc."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if head[:4] != b"\x7fELF" or head[4] != 2:
                return False
            phoff, = struct.unpack_from("<Q", head, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
            f.seek(phoff)
            table = f.read(phentsize * phnum)
    except OSError:
        return False
    return all(struct.unpack_from("<I", table, i * phentsize)[0] != 3 for i in range(phnum))


@dataclass(frozen=True)
class Accel:
    name: str          # "kvm" or "tcg"
    why: str           # said in the output: why this one

    @property
    def label(self) -> str:
        return self.name.upper()


def accelerator(asked: str = "auto") -> Accel:
    """KVM where /dev/kvm makes a VM and a vCPU *and* a hardware KVM module (kvm_intel, kvm_amd)
    is loaded: a /dev/kvm from kvm_pvm (software nesting, which runs only PVM guest kernels)
    passes every ioctl and then hangs a stock Debian kernel (docs/kernels.md)."""
    if asked == "tcg":
        return Accel("tcg", "asked for")
    problem = kvm_problem()
    if asked == "kvm" and problem:
        raise UsageError(f"--vm-accel kvm: {problem}; leave it out (TCG is used then)")
    return Accel("kvm", "/dev/kvm works") if not problem else Accel("tcg", problem)


def kvm_problem() -> str | None:
    """Why KVM cannot be used here, or None."""
    hardware = [m for m in ("kvm_intel", "kvm_amd") if os.path.isdir(f"/sys/module/{m}")]
    if not hardware:
        other = [m for m in ("kvm_pvm",) if os.path.isdir(f"/sys/module/{m}")]
        return ("/dev/kvm is kvm_pvm (runs only PVM guests), no kvm_intel or kvm_amd" if other
                else "no kvm_intel or kvm_amd module loaded")
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return f"/dev/kvm cannot be opened ({exc.strerror})"
    try:
        if fcntl.ioctl(fd, KVM_GET_API_VERSION) != 12:
            return "/dev/kvm speaks another API version"
        vm = fcntl.ioctl(fd, KVM_CREATE_VM, 0)
        try:
            os.close(fcntl.ioctl(vm, KVM_CREATE_VCPU, 0))
        finally:
            os.close(vm)
    except OSError as exc:
        return f"/dev/kvm cannot make a VM ({exc.strerror})"
    finally:
        os.close(fd)
    return None
