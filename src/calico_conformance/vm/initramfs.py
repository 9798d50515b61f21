"""The guest's initramfs: a static busybox, the modules that mount the host's root, and two small
scripts. Written here as a newc cpio archive (no root, no mknod, no cpio tool), cached per kernel
by content.

Stage 1 (``/init``, PID 1 in the initramfs) loads virtio, 9p and overlay, mounts the host's ``/``
read-only over 9p with a tmpfs overlay on top (writes stay in the guest), the kernel's own
``lib/modules`` and ``boot/config`` from the package share, the job share at ``/run/ccvm/job``,
the job's ``out/`` at the path the host's reports directory has, and the cache directory read-only;
then ``switch_root``. Stage 2 (PID 1 in the host's userland) mounts cgroup2, bpffs, debugfs and
tracefs, lifts RLIMIT_MEMLOCK (5.10 charges BPF maps to it), runs the job's command under a deadline
and writes its exit code back, then powers off. docs/kernels.md has the traps each line avoids."""
from __future__ import annotations

import hashlib
import lzma
import os
from pathlib import Path

from calico_conformance.atomic import write_atomic
from calico_conformance.executor import run_local
from calico_conformance.vm.host import which
from calico_conformance.vm.kernels import Kernel, unzstd
from calico_conformance.vocabulary.errors import UsageError

# What stage 1 loads (with their dependencies, in order); virtio_rng only feeds the entropy pool.
MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay", "virtio_rng")
OPTIONAL = ("virtio_rng",)
# Markers on the serial console the host times the boot by (calico_conformance.vm.guest).
MARK = "CCVM:"
FAIL = "CCVM-FAIL:"

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
K=$(uname -r)
fail() { echo "CCVM-FAIL: $*"; sleep 1; poweroff -f; }
echo "CCVM: stage1 kernel=$K"
for m in $(cat /modules.list); do
  insmod /lib/modules/$m || fail "insmod $m failed"
done
P9="trans=virtio,version=9p2000.L,msize=512000"
mkdir -p /lower /rw /newroot /kpkg /job
mount -t 9p -o $P9,rw,cache=none,access=any job /job || fail "cannot mount the job share (9p)"
. /job/boot.env
mount -t 9p -o $P9,ro,cache=loose hostroot /lower || fail "cannot mount the host's root (9p)"
mount -t tmpfs -o mode=0755,size=$OVERLAY_SIZE tmpfs /rw || fail "cannot mount the overlay's tmpfs"
mkdir -p /rw/upper /rw/work
# redirect_dir and metacopy: a rename or chmod in the guest does not copy whole trees up
mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work,redirect_dir=on,metacopy=on /newroot \
  || mount -t overlay overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work /newroot \
  || fail "cannot mount the overlay"
mount -t 9p -o $P9,ro,cache=loose kpkg /kpkg || fail "cannot mount the kernel package (9p)"
N=/newroot
mount -t proc proc $N/proc
mount -t sysfs sysfs $N/sys
mount -t devtmpfs devtmpfs $N/dev
mkdir -p $N/dev/pts $N/dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts $N/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $N/dev/shm
mount -t tmpfs -o mode=0755 tmpfs $N/run
# /tmp stays the host's, through the overlay: options and paths under /tmp mean the same inside
mkdir -p $N/lib/modules/$K $N/boot
mount --bind /kpkg/$MODULES $N/lib/modules/$K || fail "cannot bind the kernel's modules"
cp /kpkg/boot/config-$K $N/boot/config-$K
cp /kpkg/boot/System.map-$K $N/boot/System.map-$K 2>/dev/null
mkdir -p $N/run/ccvm/job
mount --move /job $N/run/ccvm/job || fail "cannot move the job share"
if [ -n "$OUT" ]; then
  mkdir -p "$N$OUT" && mount --bind $N/run/ccvm/job/out "$N$OUT" || fail "cannot mount the reports share at $OUT"
fi
if [ -n "$READONLY" ] && [ -d "/lower$READONLY" ]; then
  mkdir -p "$N$READONLY" && mount --bind "/lower$READONLY" "$N$READONLY" || fail "cannot bind $READONLY"
fi
cp /bin/busybox $N/run/ccvm/busybox
cp /stage2 $N/run/ccvm/stage2
cp /modprobe $N/run/ccvm/modprobe
echo /run/ccvm/modprobe > /proc/sys/kernel/modprobe
umount /proc /sys /dev 2>/dev/null
exec switch_root /newroot /run/ccvm/busybox sh /run/ccvm/stage2
fail "switch_root failed"
"""

STAGE2 = r"""
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
J=/run/ccvm/job
B=/run/ccvm/busybox
echo "CCVM: stage2"
$B hostname "$(cat $J/hostname)"
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup 2>/dev/null || mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t bpf bpf /sys/fs/bpf
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
ip link set lo up 2>/dev/null || $B ip link set lo up
ulimit -l unlimited
. $J/env
cd "$CCVM_CWD" 2>/dev/null || cd /
read up _ < /proc/uptime; echo "$up" > $J/t_start
echo "CCVM: command-start"
left=$(( CCVM_DEADLINE - $(date +%s) ))
[ "$left" -lt 1 ] && left=1
timeout -k 5 $left /bin/sh $J/cmd < /dev/null > $J/stdout 2> $J/stderr
rc=$?
[ "$(date +%s)" -ge "$CCVM_DEADLINE" ] && echo "$rc" > $J/guest_timeout
read up _ < /proc/uptime; echo "$up" > $J/t_end
echo "CCVM: command-end rc=$rc"
echo $rc > $J/exitcode.tmp && mv $J/exitcode.tmp $J/exitcode
sync
$B poweroff -f
echo o > /proc/sysrq-trigger
"""

# kernel.modprobe: after PID 1's switch_root the kernel runs its helper in the new root, so the
# host's own modprobe (kmod) loads what the suite asks for from the bound lib/modules.
MODPROBE = r"""#!/run/ccvm/busybox sh
echo "<6>ccvm-modprobe: $*" > /dev/kmsg 2>/dev/null
exec /sbin/modprobe "$@"
"""


def cpio(entries: list[tuple]) -> bytes:
    """A newc archive of (path, mode, data, kind[, (major, minor)]); kind: f file, d directory,
    l symlink (data is the target), c character device."""
    out = bytearray()
    for ino, (path, mode, data, kind, *dev) in enumerate([*entries, ("TRAILER!!!", 0, b"", "t")], start=1):
        body = {"f": data, "l": (data or "").encode() if isinstance(data, str) else data}.get(kind, b"") or b""
        mode |= {"d": 0o040000, "l": 0o120000, "c": 0o020000, "f": 0o100000}.get(kind, 0)
        major, minor = dev[0] if dev else (0, 0)
        name = path.encode() + b"\0"
        fields = (ino, mode, 0, 0, 2 if kind == "d" else 1, 0, len(body), 0, 0, major, minor, len(name), 0)
        out += ("070701" + "".join(f"{v:08X}" for v in fields)).encode() + name
        out += b"\0" * (-len(out) % 4)
        out += body
        out += b"\0" * (-len(out) % 4)
    return bytes(out)


def read_cpio(data: bytes) -> dict[str, tuple[int, bytes, tuple[int, int]]]:
    """{path: (mode, data, (rdev major, minor))} of a newc archive: what ``cpio`` wrote, read back."""
    out, pos = {}, 0
    while pos < len(data):
        fields = [int(data[pos + 6 + 8 * i: pos + 14 + 8 * i], 16) for i in range(13)]
        mode, size, major, minor, namesize = fields[1], fields[6], fields[9], fields[10], fields[11]
        name = data[pos + 110: pos + 110 + namesize - 1].decode()
        pos += 110 + namesize
        pos += -pos % 4
        body = data[pos: pos + size]
        pos += size
        pos += -pos % 4
        if name == "TRAILER!!!":
            break
        out[name] = (mode, body, (major, minor))
    return out


def module_order(kernel: Kernel) -> list[Path]:
    """The modules stage 1 loads, dependencies first (``modprobe --show-depends``)."""
    order: list[Path] = []
    for name in MODULES:
        shown = run_local(["modprobe", "-d", kernel.tree, "-S", kernel.release, "--show-depends", name], timeout=60)
        if not shown.succeeded:
            if name in OPTIONAL:
                continue
            raise UsageError(f"kernel {kernel.release}: module {name} not found ({shown.describe()})")
        for line in shown.stdout.splitlines():
            if line.startswith("insmod "):
                path = Path(line.split()[1])
                if path not in order:
                    order.append(path)
    return order


def build(kernel: Kernel) -> Path:
    """The initramfs for ``kernel`` (from the cache when its content is the same)."""
    busybox = Path(which("busybox") or "/bin/busybox").read_bytes()
    modules = module_order(kernel)
    key = hashlib.sha256("\0".join([kernel.release, INIT, STAGE2, MODPROBE, *map(str, modules)]).encode()
                         + hashlib.sha256(busybox).digest()).hexdigest()[:16]
    home = Path(kernel.home)
    out = home / f"initramfs-{key}.cpio"
    if out.is_file():
        return out
    entries = [(d, 0o755, None, "d") for d in ("bin", "dev", "proc", "sys", "lib", "lib/modules", "newroot",
                                                 "lower", "rw", "kpkg", "job")]
    entries += [("dev/console", 0o600, None, "c", (5, 1)),       # the kernel opens it before /init
                ("bin/busybox", 0o755, busybox, "f"), ("bin/sh", 0o777, "busybox", "l"),
                ("init", 0o755, INIT.encode(), "f"), ("stage2", 0o755, STAGE2.encode(), "f"),
                ("modprobe", 0o755, MODPROBE.encode(), "f")]
    names = []
    for path in modules:
        data, name = _plain_module(path, home)
        entries.append((f"lib/modules/{name}", 0o644, data, "f"))
        names.append(name)
    entries.append(("modules.list", 0o644, ("\n".join(names) + "\n").encode(), "f"))
    write_atomic(out, cpio(entries))
    for old in home.glob("initramfs-*.cpio"):     # images of earlier scripts
        if old != out:
            old.unlink(missing_ok=True)
    return out


def _plain_module(path: Path, scratch: Path) -> tuple[bytes, str]:
    """A module as busybox insmod can load it: .ko.xz and .ko.zst (6.12) decompressed here."""
    if path.name.endswith(".xz"):
        return lzma.decompress(path.read_bytes()), path.name[:-3]
    if path.name.endswith(".zst"):
        return unzstd(path, scratch), path.name[:-4]
    return path.read_bytes(), os.path.basename(path)
