"""Which kernel a guest boots, and how it is made ready: a line of ``kernels.yaml`` (a Debian package
pinned to a version and a sha256), a ``.deb`` of a linux-image package, or a directory holding an
unpacked one (``boot/vmlinuz-K``, ``lib/modules/K``).

Packages are fetched with ``apt-get download`` under a private apt configuration in the cache
(never the system's sources or state), unpacked with ``dpkg-deb -x``, given the ``modules.dep``
their postinst would have made (``depmod -b``), and their ELF ``vmlinux`` is taken out of the
bzImage so qemu can enter it through PVH (about 5 s sooner under TCG than the bzImage path).
Everything lives under ``<cache>/kernels/`` (``CC_CACHE_DIR``, else /var/cache/calico-conformance):

    apt/                 the private apt state (sources.list from kernels.yaml, lists, status)
    debs/                the downloaded .debs (a download in progress: debs/.partial-PID-*)
    <label>/tree/        the unpacked package, after depmod
    <label>/vmlinux      the ELF image booted through PVH
    <label>/initramfs-*  the initramfs (calico_conformance.vm.initramfs)
    <label>/manifest.json  package, version, sha256, kernel release, where it came from
    runs/                one directory per guest while it runs (calico_conformance.vm.guest)
"""
from __future__ import annotations

import hashlib
import json
import lzma
import os
import re
import shutil
import struct
import tempfile
import zlib
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from calico_conformance import lockfile
from calico_conformance.atomic import write_atomic
from calico_conformance.digest import sha256_file
from calico_conformance.executor import run_local
from calico_conformance.realk8s import cache
from calico_conformance.vocabulary.errors import UsageError

CATALOG = Path(__file__).with_name("kernels.yaml")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
# What the guest's first stage needs from the kernel (built in or a module): virtio PCI devices,
# 9p over virtio for the host's root, overlayfs for a writable root on top of it.
BOOT_CONFIG = ("CONFIG_VIRTIO_PCI", "CONFIG_NET_9P_VIRTIO", "CONFIG_9P_FS", "CONFIG_OVERLAY_FS")
SEPARATOR = ","


@dataclass(frozen=True)
class Pin:
    """One line of kernels.yaml."""
    line: str
    package: str
    version: str
    release: str
    archive: str
    suite: str
    sha256: str
    size: int
    pattern: str
    tcg_cpu: str

    @property
    def deb_name(self) -> str:
        """The file name apt-get download gives it (an epoch's colon is written %3a)."""
        return f"{self.package}_{self.version.replace(':', '%3a')}_amd64.deb"


def pins() -> dict[str, Pin]:
    data = yaml.safe_load(CATALOG.read_text())
    return {line: Pin(line=line, **{k: (int(v) if k == "size" else str(v)) for k, v in entry.items()})
            for line, entry in data["kernels"].items()}


@dataclass(frozen=True)
class Request:
    """A kernel named on the command line: ``label`` names it in progress lines and reports."""
    label: str
    kind: str                  # "line" (kernels.yaml), "deb" (a .deb file), "dir" (an unpacked package)
    pin: Pin | None = None
    path: Path | None = None


def parse(text: str, *, option: str = "--kernel") -> list[Request]:
    """``5.10,6.1,6.12``, a .deb, a directory, or several of them comma-separated; ``UsageError``
    in one line for anything else."""
    known = pins()
    out: list[Request] = []
    for item in (p.strip() for p in str(text).split(SEPARATOR)):
        if not item:
            raise UsageError(f"{option} {text!r}: an empty kernel name; give e.g. "
                             f"{option} {SEPARATOR.join(known)}")
        if item in known:
            req = Request(item, "line", pin=known[item])
        elif re.fullmatch(r"v?\d+(\.\d+)*", item):
            raise UsageError(f"{option} {item}: no such kernel line; choose from {', '.join(known)}, "
                             "or give a linux-image .deb or an unpacked kernel directory")
        else:
            req = _file_request(item, option)
        if any(r.label == req.label for r in out):
            raise UsageError(f"{option}: {item} is named twice")
        out.append(req)
    return out


def _file_request(item: str, option: str) -> Request:
    path = Path(item).expanduser()
    if path.is_dir():
        return Request(path.resolve().name, "dir", path=path.resolve())
    if path.is_file():
        if not path.name.endswith(".deb"):
            raise UsageError(f"{option} {item}: not a .deb file nor a kernel directory; give a linux-image "
                             f"package (.deb), a directory with boot/vmlinuz-* and lib/modules/, or one of "
                             f"{', '.join(pins())}")
        return Request(path.name.split("_")[0], "deb", path=path.resolve())
    raise UsageError(f"{option} {item}: no such file or directory; give one of {', '.join(pins())}, a "
                     "linux-image .deb, or an unpacked kernel directory")


@dataclass(frozen=True)
class Kernel:
    """A kernel ready to boot."""
    label: str
    release: str               # uname -r in the guest
    tree: str                  # the unpacked package: boot/config-<release>, <modules>/
    modules: str               # lib/modules/<release> (or usr/lib/modules/<release>), within tree
    image: str                 # what qemu -kernel boots: the ELF vmlinux (PVH) or the vmlinuz
    pvh: bool
    package: str
    version: str
    sha256: str                # of the .deb ("" for a directory)
    source: str                # "debian bookworm-security", "file /path/x.deb", "directory /path"
    tcg_cpu: str
    home: str                  # its own cache directory: vmlinux, initramfs, manifest

    def record(self) -> dict:
        return {"label": self.label, "release": self.release, "package": self.package,
                "version": self.version, "sha256": self.sha256, "source": self.source}


class Store:
    """The kernel cache, ``<cache>/kernels``; ``say`` prints progress lines."""

    def __init__(self, root: Path | None = None, *, say=print):
        self.root = Path(root) if root else cache.root() / "kernels"
        self.say = say

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    # ---- the cache as a whole ----------------------------------------------------------------

    @contextmanager
    def locked(self):
        """One preparation at a time per cache (two runs must not unpack into one tree)."""
        with lockfile.held(self.root / ".prepare.lock", what="the kernel cache",
                           hint="set CC_CACHE_DIR to a directory you can write"):
            self._sweep_partials()
            yield

    def _sweep_partials(self) -> None:
        """Downloads and unpacks left by a run that was SIGKILLed: they are made only under this
        lock, so with the lock held none of them is anyone's."""
        for pattern in ("debs/.partial-*", "*/.tree-*"):
            for leftover in self.root.glob(pattern):
                shutil.rmtree(leftover, ignore_errors=True)

    def cached(self) -> list[tuple[str, int]]:
        """(entry, bytes) of what the cache holds: each kernel's directory, the .debs, apt's state."""
        if not self.root.is_dir():
            return []
        return [(p.name, _size(p)) for p in sorted(self.root.iterdir())
                if p.is_dir() and p.name != "runs"]

    def prune(self, requests: list[Request] | None = None) -> list[tuple[str, int]]:
        """Remove cached kernels (all of them, apt's state and the .debs with them, when ``requests``
        is None); what was removed, with its size. A running guest's directory is left alone."""
        removed = []
        with self.locked():
            if requests is None:
                targets = [p for p in self.root.iterdir() if p.is_dir() and p.name != "runs"]
            else:
                targets = [self.root / _key(req) for req in requests]
                targets += [self.root / "debs" / req.pin.deb_name for req in requests if req.pin]
            for path in targets:
                if path.exists():
                    size = _size(path)
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
                    removed.append((path.name, size))
        return removed

    # ---- one kernel ----------------------------------------------------------------------------

    def prepare(self, req: Request) -> Kernel:
        with self.locked():
            if req.kind == "line":
                return self._prepare_line(req)
            if req.kind == "deb":
                return self._prepare_deb(req)
            return self._prepare_dir(req)

    def _manifest(self, label: str, sha256: str) -> Kernel | None:
        path = self.root / label / "manifest.json"
        try:
            kernel = Kernel(**json.loads(path.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        ready = (kernel.sha256 == sha256 and Path(kernel.image).is_file()
                 and (Path(kernel.tree) / kernel.modules / "modules.dep").is_file())
        return kernel if ready else None

    def _prepare_line(self, req: Request) -> Kernel:
        pin = req.pin
        kernel = self._manifest(pin.line, pin.sha256)
        if kernel:
            self.say(f"kernel {pin.line}: {pin.package} {pin.version} ({pin.suite}), in the cache")
            return kernel
        deb = self._download(pin)
        return self._unpack(deb, pin.line, package=pin.package, version=pin.version, sha256=pin.sha256,
                            source=f"debian {pin.suite}", tcg_cpu=pin.tcg_cpu)

    def _prepare_deb(self, req: Request) -> Kernel:
        sha = sha256_file(req.path)
        label = _key(req, sha)
        kernel = self._manifest(label, sha)
        if kernel:
            self.say(f"kernel {req.label}: {kernel.package} {kernel.version} ({req.path}), in the cache")
            return _relabel(kernel, req.label)
        fields = run_local(["dpkg-deb", "--field", str(req.path), "Package", "Version"], timeout=60)
        info = dict(line.split(": ", 1) for line in fields.stdout.splitlines() if ": " in line)
        if not fields.succeeded or "Package" not in info:
            raise UsageError(f"--kernel {req.path}: not a Debian package ({fields.describe()})")
        listing = run_local(["dpkg-deb", "--contents", str(req.path)], timeout=120)
        if not re.search(r"\./(usr/)?boot/vmlinuz-", listing.stdout):
            raise UsageError(f"--kernel {req.path}: {info['Package']} is not a kernel image package "
                             "(no boot/vmlinuz-* in it); give a linux-image-* .deb")
        return _relabel(self._unpack(req.path, label, package=info["Package"], version=info.get("Version", ""),
                                     sha256=sha, source=f"file {req.path}", tcg_cpu="max"), req.label)

    def _prepare_dir(self, req: Request) -> Kernel:
        tree = req.path
        release, modules = _modules_of(tree, f"--kernel {tree}")
        vmlinuz = tree / "boot" / f"vmlinuz-{release}"
        if not vmlinuz.is_file():
            raise UsageError(f"--kernel {tree}: no boot/vmlinuz-{release} beside {modules}; give an unpacked "
                             "linux-image package")
        if not (tree / modules / "modules.dep").is_file():
            if not os.access(tree / modules, os.W_OK):
                raise UsageError(f"--kernel {tree}: {modules} has no modules.dep and cannot be written; "
                                 f"run `depmod -b {tree} {release}` first")
            self.say(f"kernel {req.label}: depmod -b {tree} {release}")
            _depmod(tree, release)
        home = self.root / _key(req)
        home.mkdir(parents=True, exist_ok=True)
        stamp = f"{vmlinuz.stat().st_size}-{vmlinuz.stat().st_mtime_ns}"
        return _boot_image(tree, release, modules, home, label=req.label, package=tree.name, version=stamp,
                           sha256="", source=f"directory {tree}", tcg_cpu="max")

    # ---- apt, privately -----------------------------------------------------------------------

    def _apt_env(self) -> dict:
        apt = self.root / "apt"
        for sub in ("lists/partial", "cache/archives/partial", "sources.list.d", "preferences.d", "apt.conf.d"):
            (apt / sub).mkdir(parents=True, exist_ok=True)
        suites = sorted({(p.archive, p.suite) for p in pins().values()})
        write_atomic(apt / "sources.list", "".join(f"deb [signed-by={KEYRING}] {archive} {suite} main\n"
                                                   for archive, suite in suites))
        for name in ("status", "preferences"):
            (apt / name).touch()
        # No Dir::Etc::Parts of the system (its apt.conf.d fetches DEP-11 and more); "root" as the
        # sandbox user, else apt warns that the download is unsandboxed.
        conf = "".join(f'{key} "{value}";\n' for key, value in (
            ("Dir::Etc::SourceList", apt / "sources.list"), ("Dir::Etc::SourceParts", apt / "sources.list.d"),
            ("Dir::Etc::Preferences", apt / "preferences"), ("Dir::Etc::PreferencesParts", apt / "preferences.d"),
            ("Dir::Etc::Parts", apt / "apt.conf.d"), ("Dir::State::Lists", apt / "lists"),
            ("Dir::State::status", apt / "status"), ("Dir::Cache", apt / "cache"), ("Dir::Cache::pkgcache", ""),
            ("Dir::Cache::srcpkgcache", ""), ("Acquire::Languages", "none"), ("APT::Sandbox::User", "root")))
        write_atomic(apt / "apt.conf", conf)
        return dict(os.environ, APT_CONFIG=str(apt / "apt.conf"), LC_ALL="C", DEBIAN_FRONTEND="noninteractive")

    def _apt_update(self, env: dict) -> None:
        self.say("apt-get update (the kernel cache's own sources list, not the system's)")
        result = run_local(["apt-get", "-q", "update"], env=env, timeout=600)
        errors = [ln for ln in result.stdout.splitlines() + result.stderr.splitlines() if ln.startswith(("E:", "Err:"))]
        if not result.succeeded or errors:
            raise UsageError(f"cannot read Debian's package lists: {(errors or [result.describe()])[0]}")

    def _download(self, pin: Pin) -> Path:
        debs = self.root / "debs"
        deb = debs / pin.deb_name
        if deb.is_file() and sha256_file(deb) == pin.sha256:
            return deb
        env = self._apt_env()
        if not any((self.root / "apt" / "lists").glob(f"*_dists_{pin.suite}_InRelease")):
            self._apt_update(env)
        debs.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".partial-{os.getpid()}-", dir=debs))
        try:
            self.say(f"downloading {pin.package} {pin.version} ({pin.size / 1e6:.0f} MB, {pin.suite}) ...")
            result = self._apt_download(pin, partial, env)
            if not result.succeeded and "not found" in result.stderr.lower():
                self._apt_update(env)           # lists older than the pin: read them again
                result = self._apt_download(pin, partial, env)
            if not result.succeeded:
                raise UsageError(self._missing(pin, env) if "not found" in result.stderr.lower()
                                 else f"cannot download {pin.package} {pin.version}: {result.describe()}")
            got = partial / pin.deb_name
            digest = sha256_file(got)
            if digest != pin.sha256:
                raise UsageError(f"{pin.package} {pin.version}: sha256 {digest} is not the pinned {pin.sha256} "
                                 "(kernels.yaml); the download was discarded")
            os.replace(got, deb)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        return deb

    def _apt_download(self, pin: Pin, where: Path, env: dict):
        return run_local(["apt-get", "-q", "download", f"{pin.package}={pin.version}"], cwd=where, env=env,
                         timeout=1800)

    def _missing(self, pin: Pin, env: dict) -> str:
        newest = self.newest(pin, env)
        return (f"{pin.package} {pin.version} is no longer in {pin.suite} (Debian drops superseded security "
                f"updates){f'; the newest there is {newest[0]} {newest[1]}' if newest else ''}: update the "
                f"pin in {CATALOG}, or give the .deb with --kernel FILE.deb")

    def newest(self, pin: Pin, env: dict | None = None) -> tuple[str, str, str] | None:
        """(package, version, sha256) of the newest package of ``pin``'s line in its suite."""
        env = env or self._apt_env()
        names = run_local(["apt-cache", "search", "--names-only", pin.pattern], env=env, timeout=120)
        best = None
        for name in (ln.split(" - ")[0].strip() for ln in names.stdout.splitlines()):
            shown = run_local(["apt-cache", "show", "--no-all-versions", name], env=env, timeout=60).stdout
            version, sha = re.search(r"^Version: (\S+)", shown, re.M), re.search(r"^SHA256: (\S+)", shown, re.M)
            if not (version and sha):
                continue    # known only from a Provides: no version to install
            if best is None or run_local(["dpkg", "--compare-versions", version.group(1), "gt", best[1]],
                                         timeout=10).succeeded:
                best = (name, version.group(1), sha.group(1))
        return best

    # ---- unpacking ------------------------------------------------------------------------------

    def _unpack(self, deb: Path, label: str, **about) -> Kernel:
        home = self.root / label
        home.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".tree-{os.getpid()}-", dir=home))
        try:
            self.say(f"kernel {label}: unpacking {deb.name} (dpkg-deb -x) and depmod ...")
            result = run_local(["dpkg-deb", "-x", str(deb), str(staging)], timeout=900)
            if not result.succeeded:
                raise UsageError(f"cannot unpack {deb}: {result.describe()}")
            release, modules = _modules_of(staging, str(deb))
            _depmod(staging, release)
            tree = home / "tree"
            shutil.rmtree(tree, ignore_errors=True)
            os.replace(staging, tree)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        try:
            kernel = _boot_image(tree, release, modules, home, label=label, **about)
        except UsageError:
            shutil.rmtree(home, ignore_errors=True)     # a kernel that cannot boot keeps no space
            raise
        write_atomic(home / "manifest.json", json.dumps(asdict(kernel), indent=2) + "\n")
        return kernel


def _key(req: Request, sha256: str | None = None) -> str:
    """The directory of the cache that holds ``req``'s kernel: its line, the .deb's sha256, or
    the unpacked directory's path."""
    if req.kind == "line":
        return req.pin.line
    if req.kind == "deb":
        return f"deb-{(sha256 or sha256_file(req.path))[:12]}"
    return f"dir-{hashlib.sha256(str(req.path).encode()).hexdigest()[:12]}"


def _relabel(kernel: Kernel, label: str) -> Kernel:
    return Kernel(**{**asdict(kernel), "label": label})


def _modules_of(tree: Path, what: str) -> tuple[str, str]:
    """(release, modules directory within ``tree``) of an unpacked kernel package."""
    for rel in ("lib/modules", "usr/lib/modules"):
        found = sorted(p.name for p in (tree / rel).glob("*") if p.is_dir()) if (tree / rel).is_dir() else []
        if len(found) == 1:
            return found[0], f"{rel}/{found[0]}"
        if len(found) > 1:
            raise UsageError(f"{what}: modules of several kernels ({', '.join(found)}); give one kernel's package")
    raise UsageError(f"{what}: no lib/modules/<release>/ in it; give a linux-image package (not a headers, "
                     "meta or signed-template package)")


def _depmod(tree: Path, release: str) -> None:
    if not (tree / "lib").exists() and (tree / "usr" / "lib").is_dir():
        (tree / "lib").symlink_to("usr/lib")      # depmod -b reads BASE/lib/modules
    result = run_local(["depmod", "-b", str(tree), release], timeout=300)
    if not result.succeeded:
        raise UsageError(f"depmod for {release} failed: {result.describe()}")


def config_of(tree: Path, release: str) -> dict[str, str]:
    path = tree / "boot" / f"config-{release}"
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return {}
    return dict(ln.split("=", 1) for ln in lines if ln.startswith("CONFIG_") and "=" in ln)


def _boot_image(tree: Path, release: str, modules: str, home: Path, **about) -> Kernel:
    """The kernel's config allows a boot with the host's root, and its image for qemu: the ELF
    vmlinux through PVH where CONFIG_PVH=y, else the bzImage."""
    config = config_of(tree, release)
    if not config:
        raise UsageError(f"kernel {release}: no boot/config-{release} in the package; the guest needs it "
                         "(and the support matrix reads it)")
    lacking = [opt for opt in BOOT_CONFIG if config.get(opt) not in ("y", "m")]
    if lacking:
        raise UsageError(f"kernel {release} cannot boot with the host's root: {', '.join(lacking)} not set "
                         "(virtio, 9p and overlayfs are needed)")
    vmlinuz = tree / "boot" / f"vmlinuz-{release}"
    image, pvh = vmlinuz, False
    if config.get("CONFIG_PVH") == "y":
        elf = home / "vmlinux"
        if not elf.is_file() or elf.stat().st_mtime < vmlinuz.stat().st_mtime:
            payload = _elf_of(vmlinuz, home)
            if payload is not None:
                write_atomic(elf, payload)
        if elf.is_file():
            image, pvh = elf, True
    return Kernel(label=about.pop("label"), release=release, tree=str(tree), modules=modules, image=str(image),
                  pvh=pvh, home=str(home), **about)


def _elf_of(vmlinuz: Path, scratch: Path) -> bytes | None:
    """The ELF vmlinux inside a bzImage (setup header: setup_sects at 0x1f1, payload offset and
    length at 0x248); None for a compression this cannot undo (the bzImage boots then)."""
    data = vmlinuz.read_bytes()
    setup_sects = data[0x1F1] or 4
    offset, length = struct.unpack_from("<II", data, 0x248)
    payload = data[(setup_sects + 1) * 512 + offset:][:length]
    try:
        if payload[:6] == b"\xfd7zXZ\x00":
            elf = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(payload)
        elif payload[:2] == b"\x1f\x8b":
            elf = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload)
        elif payload[:4] == b"\x28\xb5\x2f\xfd":
            elf = _unzstd(payload[:-4], scratch)     # the build appends the size (4 bytes)
        else:
            return None
    except (lzma.LZMAError, zlib.error):
        return None
    return elf if elf[:4] == b"\x7fELF" else None


def _unzstd(data: bytes, scratch: Path) -> bytes:
    with tempfile.TemporaryDirectory(prefix=f".zstd-{os.getpid()}-", dir=scratch) as tmp:
        src, out = Path(tmp) / "in.zst", Path(tmp) / "out"
        src.write_bytes(data)
        result = run_local(["zstd", "-q", "-d", "-f", "-o", str(out), str(src)], timeout=120)
        if not result.succeeded:
            raise zlib.error(result.describe())
        return out.read_bytes()


def unzstd(path: Path, scratch: Path) -> bytes:
    """A zstd-compressed file (a kernel module ``.ko.zst``), decompressed."""
    return _unzstd(path.read_bytes(), scratch)



def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
