"""One guest: qemu booting a kernel with the host's root filesystem (read-only, a tmpfs overlay on
top), running one command, and handing back its exit code, its output as it comes, and the files
it wrote into the reports share.

qemu is a ``processes.Process`` (own session, ``setpriv --pdeathsig KILL``: a SIGKILLed run takes
it along), stopped on every way out of ``run`` (the command's end, the timeout, Ctrl-C, SIGTERM,
a guest panic). Each guest has a directory under ``<cache>/kernels/runs/`` holding an flock while
it lives; the next run removes any that nobody holds. One guest at a time per cache."""
from __future__ import annotations

import fcntl
import os
import re
import shlex
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from calico_conformance.processes import Process
from calico_conformance.vm.host import Accel
from calico_conformance.vm.initramfs import FAIL, MARK
from calico_conformance.vm.kernels import Kernel
from calico_conformance.vocabulary.errors import ExecutorError

QEMU = "qemu-system-x86_64"
# The host's environment, as the command would have it on the host, but for the shell's own
# bookkeeping; the guest's PID 1 sets PATH and the working directory itself.
NOT_PASSED = ("PWD", "OLDPWD", "SHLVL", "_", "TERM")
POLL_S = 0.1


@dataclass(frozen=True)
class Settings:
    accel: Accel
    memory_mib: int = 2048
    cpus: int = 2
    timeout_s: float = 900.0          # from qemu's start to its end, whatever the guest does
    # A guest that has not started its command by then is booted once more: a boot takes 4-11 s
    # under TCG here, and a TCG guest was once seen to stay silent in early boot for good.
    boot_timeout_s: float = 120.0
    # The guest stops its command this long before the host's timeout, so the command can still
    # write what it has (the suite: its record, "interrupted"); None: the host's timeout alone.
    grace_s: float | None = 30.0

    def describe(self) -> str:
        why = "" if self.accel.name == "kvm" else f" ({self.accel.why})"
        return f"{self.accel.label}{why}, {self.cpus} vCPU{'s' if self.cpus > 1 else ''}, {self.memory_mib} MiB"


@dataclass
class Outcome:
    status: str                       # "exited", "timeout", "no exit code", "no boot"
    exit_code: int | None             # the command's, when it came back
    why: str = ""                     # one line, when it did not exit by itself
    started: bool = False             # the command started in the guest
    boot_s: float | None = None       # qemu's start to the command's start (host clock)
    command_s: float | None = None    # the command, by the guest's clock
    total_s: float = 0.0              # qemu's start to its end
    qemu_max_rss_mb: float = 0.0
    console: list[str] = field(default_factory=list)    # the serial console's last lines
    boots: int = 1

    def timings(self) -> dict:
        return {"boot_s": _round(self.boot_s), "suite_s": _round(self.command_s), "total_s": _round(self.total_s),
                "qemu_max_rss_mb": round(self.qemu_max_rss_mb, 1), "boots": self.boots}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def run(kernel: Kernel, initrd: Path, argv: list[str], *, runs: Path, settings: Settings, cwd: Path,
        out: Path | None = None, collect: Path | None = None, readonly: Path | None = None,
        env: dict | None = None, say=print, stdout=None, stderr=None) -> Outcome:
    """``argv`` in a guest booted from ``kernel``. ``out``: a path in the guest where a writable share
    is mounted, its files copied to ``collect`` on the host at the end (on every way out);
    ``readonly``: a host directory the guest sees read-only."""
    sinks = (stdout or sys.stdout.buffer, stderr or sys.stderr.buffer)
    runs.mkdir(parents=True, exist_ok=True)
    with _one_at_a_time(runs, settings.timeout_s, say):
        sweep(runs)
        attempt = lambda: _attempt(kernel, initrd, argv, runs, settings, cwd=cwd, out=out, collect=collect,
                                   readonly=readonly, env=env, say=say, sinks=sinks)
        outcome = attempt()
        if outcome.status == "no boot":
            say(f"guest {kernel.label}: {outcome.why}; booting it once more")
            outcome = attempt()
            outcome.boots = 2
        return outcome


def _attempt(kernel: Kernel, initrd: Path, argv: list[str], runs: Path, settings: Settings, *, cwd, out, collect,
             readonly, env, say, sinks) -> Outcome:
    rundir = Path(tempfile.mkdtemp(prefix=f"{os.getpid()}-{kernel.label}-", dir=runs))
    holder = open(rundir / ".lock", "w")
    fcntl.flock(holder, fcntl.LOCK_EX)          # held while this run lives: sweep() passes it by
    job = rundir / "job"
    try:
        _write_job(job, kernel, argv, cwd=cwd, env=env, out=out, readonly=readonly, settings=settings)
        return _boot(kernel, initrd, rundir, settings, say=say, stdout=sinks[0], stderr=sinks[1])
    finally:
        try:
            if collect is not None and (job / "out").is_dir():
                _collect(job / "out", collect)
        finally:
            holder.close()
            shutil.rmtree(rundir, ignore_errors=True)


@contextmanager
def _one_at_a_time(runs: Path, wait_s: float, say):
    with open(runs / ".vm.lock", "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            owner = lock.read().strip() or "another run"
            say(f"waiting for the guest of pid {owner} to end (one VM at a time) ...")
            deadline = time.monotonic() + wait_s
            while True:
                try:
                    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise ExecutorError(f"another guest (pid {owner}) still runs after {wait_s:g} s; "
                                            "one VM runs at a time") from None
                    time.sleep(0.5)
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield


def sweep(runs: Path) -> list[Path]:
    """Remove the run directories nobody holds (their run was SIGKILLed; its qemu died with it)."""
    removed = []
    for rundir in runs.iterdir() if runs.is_dir() else []:
        if not rundir.is_dir():
            continue
        try:
            with open(rundir / ".lock", "a") as probe:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                shutil.rmtree(rundir, ignore_errors=True)
                removed.append(rundir)
        except BlockingIOError:
            continue
        except OSError:
            shutil.rmtree(rundir, ignore_errors=True)
            removed.append(rundir)
    return removed


def _write_job(job: Path, kernel: Kernel, argv: list[str], *, cwd: Path, env: dict | None, out: Path | None,
               readonly: Path | None, settings: Settings) -> None:
    (job / "out").mkdir(parents=True)
    (job / "cmd").write_text("exec " + shlex.join(argv) + "\n")
    grace = settings.grace_s
    deadline = time.time() + settings.timeout_s - grace if grace is not None else time.time() + 10 * 365 * 86400
    values = {k: v for k, v in (env if env is not None else os.environ).items()
              if k not in NOT_PASSED and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)}
    values.update(CCVM_CWD=str(cwd), CCVM_DEADLINE=str(int(deadline)), PYTHONUNBUFFERED="1",
                  CC_VM_KERNEL=kernel.label)
    (job / "env").write_text("".join(f"export {k}={shlex.quote(v)}\n" for k, v in values.items()))
    if readonly is not None and out is not None and Path(out).is_relative_to(readonly):
        readonly = None         # the reports share inside it must stay writable
    boot = {"MODULES": kernel.modules, "OUT": str(out or ""), "READONLY": str(readonly or ""),
            "OVERLAY_SIZE": "50%"}
    (job / "boot.env").write_text("".join(f"{k}={shlex.quote(v)}\n" for k, v in boot.items()))
    (job / "hostname").write_text(f"cc-vm-{re.sub(r'[^a-z0-9-]', '-', kernel.label.lower())}"[:63] + "\n")


def qemu_argv(kernel: Kernel, initrd: Path, rundir: Path, settings: Settings) -> list[str]:
    kvm = settings.accel.name == "kvm"
    append = ["console=ttyS0", "panic=-1", "oops=panic", "mitigations=off", "rdinit=/init", "8250.nr_uarts=1",
              "random.trust_cpu=on", "loglevel=4", "nokaslr", *([] if kvm else ["tsc=reliable"])]
    share = "security_model=none,multidevs=remap"
    esc = lambda path: str(path).replace(",", ",,")       # qemu's option syntax doubles a comma
    return [QEMU, "-M", "q35", "-accel", "kvm" if kvm else "tcg,thread=multi",
            "-cpu", "host" if kvm else kernel.tcg_cpu, "-m", f"{settings.memory_mib}M", "-smp", str(settings.cpus),
            "-nodefaults", "-no-user-config", "-display", "none", "-vga", "none", "-no-reboot", "-nic", "none",
            "-chardev", f"file,id=ser0,path={esc(rundir / 'console.log')}", "-serial", "chardev:ser0",
            "-kernel", kernel.image, "-initrd", str(initrd), "-append", " ".join(append),
            "-device", "virtio-rng-pci",
            "-fsdev", f"local,id=fsroot,path=/,readonly=on,{share}",
            "-device", "virtio-9p-pci,fsdev=fsroot,mount_tag=hostroot",
            "-fsdev", f"local,id=fskpkg,path={esc(kernel.tree)},readonly=on,{share}",
            "-device", "virtio-9p-pci,fsdev=fskpkg,mount_tag=kpkg",
            "-fsdev", f"local,id=fsjob,path={esc(rundir / 'job')},{share}",
            "-device", "virtio-9p-pci,fsdev=fsjob,mount_tag=job"]


class _Tail:
    """New bytes of a file the guest (or qemu) appends to."""

    def __init__(self, path: Path):
        self.path, self.pos = path, 0

    def read(self) -> bytes:
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                chunk = f.read()
        except OSError:
            return b""
        self.pos += len(chunk)
        return chunk


def _boot(kernel: Kernel, initrd: Path, rundir: Path, settings: Settings, *, say, stdout, stderr) -> Outcome:
    job = rundir / "job"
    say(f"booting {kernel.label} ({kernel.release}; {settings.describe()}) ...")
    started = time.monotonic()
    qemu = Process(f"qemu ({kernel.label})", qemu_argv(kernel, initrd, rundir, settings), rundir / "qemu.log")
    console, out, err = _Tail(rundir / "console.log"), _Tail(job / "stdout"), _Tail(job / "stderr")
    text, marks, hwm, timed_out, no_boot = bytearray(), {}, 0, False, False

    def pump() -> None:
        now = time.monotonic() - started
        text.extend(console.read())
        for mark in ("stage1", "stage2", "command-start", "command-end"):
            if mark not in marks and f"{MARK} {mark}".encode() in text:
                marks[mark] = now
                if mark == "command-start":
                    say(f"guest {kernel.label} up in {now:.1f} s; running the command ...")
        for tail, sink in ((out, stdout), (err, stderr)):
            chunk = tail.read()
            if chunk:
                sink.write(chunk)
                sink.flush()

    try:
        while qemu.alive():
            pump()
            hwm = max(hwm, _vm_hwm(qemu.pid))
            if time.monotonic() - started > settings.timeout_s:
                timed_out = True
                break
            if "command-start" not in marks and time.monotonic() - started > settings.boot_timeout_s:
                no_boot = True
                break
            time.sleep(POLL_S)
    finally:
        qemu.stop(timeout=5.0)
    pump()
    total = time.monotonic() - started
    lines = text.decode(errors="replace").splitlines()
    outcome = Outcome(status="exited", exit_code=None, started="command-start" in marks,
                      boot_s=marks.get("command-start"), total_s=total, qemu_max_rss_mb=hwm / 1024,
                      console=[ln for ln in lines if ln.strip()][-30:])
    outcome.command_s = _guest_seconds(job)
    code = _read(job / "exitcode")
    if no_boot:
        outcome.status = "no boot"
        outcome.why = (f"the guest did not start its command within {settings.boot_timeout_s:g} s "
                       f"(console: {_last_words(lines)})")
    elif timed_out:
        outcome.status = "timeout"
        outcome.why = (f"the guest did not end within {settings.timeout_s:g} s; qemu was stopped"
                       + ("" if outcome.started else f" (it never started the command: {_last_words(lines)})"))
    elif code is None:
        outcome.status = "no exit code"
        outcome.why = _no_exit_code(outcome.started, lines, rundir / "qemu.log", qemu.proc.returncode)
    elif _read(job / "guest_timeout") is not None:
        outcome.status, outcome.exit_code = "timeout", int(code)
        outcome.why = (f"the command did not end within {settings.timeout_s - (settings.grace_s or 0):g} s; "
                       "the guest stopped it")
    else:
        outcome.exit_code = int(code)
    return outcome


def _no_exit_code(started: bool, lines: list[str], qemu_log: Path, rc: int | None) -> str:
    failed = next((ln.split(FAIL, 1)[1].strip() for ln in lines if FAIL in ln), None)
    if failed:
        return f"the guest could not start: {failed}"
    if not lines:
        qemu_said = (_read(qemu_log) or "").strip().splitlines()
        return f"qemu exited {rc} before the kernel printed anything" + (f": {qemu_said[-1]}" if qemu_said else "")
    where = "while the command ran" if started else "before the command started"
    return f"the guest stopped {where}, with no exit code: {_last_words(lines)}"


def _last_words(lines: list[str]) -> str:
    """The console line that says most: a panic's, else the last one."""
    said = [ln.strip() for ln in lines if ln.strip()]
    panic = next((ln for ln in said if "Kernel panic" in ln), None)
    return (panic or (said[-1] if said else "the console is empty"))[:300]


def _guest_seconds(job: Path) -> float | None:
    try:
        return float(_read(job / "t_end")) - float(_read(job / "t_start"))
    except (TypeError, ValueError):
        return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _vm_hwm(pid: int) -> int:
    """qemu's peak resident memory so far, in KiB."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return next((int(ln.split()[1]) for ln in f if ln.startswith("VmHWM:")), 0)
    except (OSError, ValueError):
        return 0


def _collect(share: Path, dest: Path) -> None:
    """What the guest wrote into the reports share, into the reports directory (its lock stays)."""
    dest.mkdir(parents=True, exist_ok=True)
    for item in share.iterdir():
        if item.name == ".lock":
            continue
        target = dest / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True)
        else:
            shutil.copy2(item, target)
