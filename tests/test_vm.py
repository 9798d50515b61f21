"""The suite inside guests booted with other kernels (calico_conformance.vm, `run --kernel`,
`certify`): kernel names, pins and checksums, the initramfs, the host's accelerator, without
booting; then real guests under qemu (TCG here, KVM where it works): the suite's emulated lab in a
6.1 guest, conformant, with the guest's kernel in its record and everything brought back; a kernel
matrix over 5.10, 6.1 and 6.12; a hung guest, a panicked one, SIGTERM and SIGKILL, each leaving
no qemu and no run directory behind. The real boots need root (the lab; apt-get for qemu and the
kernel packages, fetched once into /var/cache/calico-conformance/kernels)."""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from calico_conformance.vm import guest, host, initramfs, kernels, matrix
from calico_conformance.vocabulary.errors import UsageError
from suite_runner import REPO

CLI = [sys.executable, "-m", "calico_conformance.cli"]
PINS = kernels.pins()

needs_vm = pytest.mark.skipif(
    os.geteuid() != 0 or platform.machine() != "x86_64",
    reason="booting a guest needs root on an x86-64 host (the lab; apt-get for qemu and the kernel packages)")


def cli(*args: str, timeout: float = 60, env: dict | None = None, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, **(env or {})})


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert len(lines) == 1 and lines[0].startswith("calico-conformance: error: "), proc.stderr
    assert "Traceback" not in proc.stdout + proc.stderr
    return lines[0]


def qemu_of(runs: Path) -> list[int]:
    """qemu processes whose command line names a run directory of ``runs``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "qemu-system" in cmdline and str(runs) in cmdline:
                found.append(int(entry.name))
    return found


def run_dirs(runs: Path, pid: int | None = None) -> list[Path]:
    if not runs.is_dir():
        return []
    return [p for p in runs.iterdir() if p.is_dir() and (pid is None or p.name.startswith(f"{pid}-"))]


# ---- without booting ---------------------------------------------------------------------------

def test_each_kernel_line_is_pinned_to_a_package_version_and_sha256():
    assert set(PINS) == {"5.10", "6.1", "6.12"}
    for line, pin in PINS.items():
        assert re.fullmatch(r"[0-9a-f]{64}", pin.sha256), line
        assert pin.package.startswith(f"linux-image-{pin.release}") and pin.package.endswith("-unsigned")
        assert pin.release.startswith(line + ".") and pin.version.startswith(line + ".")
        assert re.match(pin.pattern, pin.package), f"{line}: the pattern that finds a newer one finds this one"
        assert pin.size > 10_000_000 and pin.tcg_cpu in ("qemu64", "max")
        assert pin.deb_name == f"{pin.package}_{pin.version}_amd64.deb"


def test_kernel_names_parse_in_order():
    reqs = kernels.parse("5.10, 6.1,6.12")
    assert [(r.label, r.kind) for r in reqs] == [("5.10", "line"), ("6.1", "line"), ("6.12", "line")]
    assert reqs[1].pin == PINS["6.1"]


@pytest.mark.parametrize("text, says", [
    ("9.99", "no such kernel line; choose from 5.10, 6.1, 6.12"),
    ("4.19", "no such kernel line"),
    ("6.1,,6.12", "an empty kernel name"),
    ("6.1,6.1", "6.1 is named twice"),
    ("/nonexistent/linux-image.deb", "no such file or directory"),
    ("pyproject.toml", "not a .deb file nor a kernel directory"),
])
def test_a_bad_kernel_name_is_one_line(text, says):
    with pytest.raises(UsageError, match=re.escape(says)) as err:
        kernels.parse(text) if text != "pyproject.toml" else kernels.parse(str(REPO / text))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("args, says", [
    (["run", "--kernel", "9.99"], "--kernel 9.99: no such kernel line"),
    (["certify", "--kernel", "/nonexistent/x.deb"], "no such file or directory"),
    (["certify", "--kernel", "6.1", "--vm-memory", "lots"], "--vm-memory: 'lots' is not a whole number"),
    (["certify", "--kernel", "6.1", "--vm-cpus", "999"], "--vm-cpus: 999 is out of range"),
    (["certify", "--kernel", "6.1", "--vm-accel", "warp"], "--vm-accel: 'warp'; choose auto, kvm or tcg"),
    (["certify", "--kernel", "6.1", "--junitxml=elsewhere.xml"], "--junitxml with --kernel"),
    (["run", "--kernel", "6.1", "--lab-dataplan", "ebpf-dsr"], "unknown option --lab-dataplan; did you mean"),
    (["run", "--kernel"], "--kernel needs a value"),
])
def test_bad_input_is_one_line_and_exit_2_before_any_guest_boots(tmp_path, args, says):
    runs = tmp_path / "cache" / "kernels" / "runs"
    proc = cli(*args, "--reports-dir", str(tmp_path / "r"), env={"CC_CACHE_DIR": str(tmp_path / "cache")})
    assert says in one_error_line(proc)
    assert not run_dirs(runs) and not qemu_of(tmp_path)


def test_kvm_is_used_only_where_a_hardware_kvm_module_is_loaded():
    accel = host.accelerator()
    hardware = any(os.path.isdir(f"/sys/module/{m}") for m in ("kvm_intel", "kvm_amd"))
    assert accel.name in ("kvm", "tcg") and accel.why
    if not hardware:
        assert accel.name == "tcg" and "kvm_intel or kvm_amd" in accel.why
    assert host.accelerator("tcg").name == "tcg"
    if accel.name == "tcg":
        with pytest.raises(UsageError, match="--vm-accel kvm: "):
            host.accelerator("kvm")


def test_static_busybox_is_told_from_a_dynamic_program():
    assert not host.is_static(os.path.realpath(sys.executable))
    busybox = host.which("busybox")
    if busybox and "busybox-static" not in host.missing_tools():
        assert host.is_static(busybox)


def test_a_newc_archive_reads_back_as_written():
    entries = [("bin", 0o755, None, "d"), ("bin/busybox", 0o755, b"\x7fELF" + b"x" * 5, "f"),
               ("bin/sh", 0o777, "busybox", "l"), ("dev/console", 0o600, None, "c", (5, 1))]
    back = initramfs.read_cpio(initramfs.cpio(entries))
    assert list(back) == ["bin", "bin/busybox", "bin/sh", "dev/console"]
    assert back["bin/busybox"][1] == b"\x7fELF" + b"x" * 5 and back["bin/sh"][1] == b"busybox"
    assert back["dev/console"][0] == 0o020600 and back["dev/console"][2] == (5, 1)
    assert back["bin"][0] == 0o040755


def test_a_matrix_bundle_replaces_only_an_earlier_matrix_bundle(tmp_path):
    matrix.check_bundle(tmp_path / "new")
    (tmp_path / "empty").mkdir()
    matrix.check_bundle(tmp_path / "empty")
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "matrix.json").write_text("{}")
    matrix.check_bundle(earlier)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    archive = tmp_path / "run.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(earlier / "matrix.json", arcname="summary.json")
    for taken in ("mine", "run.tar.gz"):
        with pytest.raises(UsageError, match="not a kernel-matrix bundle"):
            matrix.check_bundle(tmp_path / taken)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_comma_lists_of_calico_versions_and_profiles_make_variants_of_every_kernel():
    from calico_conformance.commands.certify import _variants
    assert _variants(["--check", "SUP-KERNEL"]) == [matrix.Variant("", ["--check", "SUP-KERNEL"])]
    variants = _variants(["--lab-dataplane=calico-ebpf,calico-ebpf-dsr", "--calico-version", "v3.29.7,v3.31.7"])
    assert [v.label for v in variants] == ["calico-ebpf-v3.29.7", "calico-ebpf-v3.31.7", "calico-ebpf-dsr-v3.29.7",
                                           "calico-ebpf-dsr-v3.31.7"]
    assert variants[-1].args == ["--lab-dataplane=calico-ebpf-dsr", "--calico-version", "v3.31.7"]
    assert [v.args[1] for v in _variants(["--calico-version", "v3.29.7,v3.31.7"])] == ["v3.29.7", "v3.31.7"]
    plan = matrix.Plan(kernels=kernels.parse("5.10,6.12"), variants=variants[:2], reports=Path("r"), bundle=None,
                       settings=None)
    assert [str(plan.dest(k, v)) for k, v in plan.runs] == [
        "r/kernel-5.10-calico-ebpf-v3.29.7", "r/kernel-5.10-calico-ebpf-v3.31.7",
        "r/kernel-6.12-calico-ebpf-v3.29.7", "r/kernel-6.12-calico-ebpf-v3.31.7"]
    for bad in ("v3.29.7,", "v3.29.7,v3.29.7"):
        with pytest.raises(UsageError, match="distinct values"):
            _variants(["--calico-version", bad])


def test_a_deb_that_is_not_a_kernel_is_refused_in_one_line(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "DEBIAN").mkdir(parents=True)
    (pkg / "usr/share/doc/cc-not-a-kernel").mkdir(parents=True)
    (pkg / "usr/share/doc/cc-not-a-kernel/README").write_text("not a kernel\n")
    (pkg / "DEBIAN/control").write_text("Package: cc-not-a-kernel\nVersion: 1.0\nArchitecture: all\n"
                                        "Maintainer: tests <tests@example.org>\nDescription: not a kernel\n")
    deb = tmp_path / "cc-not-a-kernel_1.0_all.deb"
    subprocess.run(["dpkg-deb", "--build", "--root-owner-group", str(pkg), str(deb)], check=True,
                   capture_output=True, timeout=60)
    store = kernels.Store(tmp_path / "cache", say=lambda line: None)
    with pytest.raises(UsageError, match="cc-not-a-kernel is not a kernel image package"):
        store.prepare(kernels.parse(str(deb))[0])
    assert not any(p.name.startswith("deb-") for p in store.root.iterdir())


# ---- a kernel made ready (downloaded once into the cache), no boot ---------------------------------

@pytest.fixture(scope="module")
def kernel61():
    if os.geteuid() != 0:
        pytest.skip("fetching a kernel into /var/cache/calico-conformance needs root")
    host.ensure_tools(print)
    store = kernels.Store(say=print)
    return store, store.prepare(kernels.parse("6.1")[0])


def test_a_pinned_kernel_is_fetched_checked_and_unpacked(kernel61):
    store, kernel = kernel61
    pin = PINS["6.1"]
    deb = store.root / "debs" / pin.deb_name
    assert hashlib.sha256(deb.read_bytes()).hexdigest() == pin.sha256
    assert (kernel.release, kernel.package, kernel.version, kernel.sha256) == (pin.release, pin.package, pin.version,
                                                                               pin.sha256)
    tree = Path(kernel.tree)
    assert (tree / kernel.modules / "modules.dep").stat().st_size > 0, "depmod made modules.dep"
    assert (tree / "boot" / f"config-{kernel.release}").is_file()
    assert kernel.pvh and Path(kernel.image).read_bytes()[:4] == b"\x7fELF", "the ELF vmlinux, booted through PVH"
    manifest = json.loads((Path(kernel.home) / "manifest.json").read_text())
    assert manifest["sha256"] == pin.sha256 and manifest["source"] == f"debian {pin.suite}"
    # apt ran with the cache's own configuration: the system's lists know nothing of it
    assert (store.root / "apt" / "sources.list").read_text().count(pin.suite) == 1


def test_the_initramfs_loads_the_boot_modules_dependencies_first(kernel61):
    _, kernel = kernel61
    files = initramfs.read_cpio(initramfs.build(kernel).read_bytes())
    assert files["init"][1].decode() == initramfs.INIT and files["stage2"][1].decode() == initramfs.STAGE2
    assert files["dev/console"][2] == (5, 1)
    busybox = files["bin/busybox"][1]
    assert busybox[:4] == b"\x7fELF" and len(busybox) > 500_000
    names = files["modules.list"][1].decode().split()
    assert all(f"lib/modules/{n}" in files and n.endswith(".ko") for n in names)
    assert {"9p.ko", "9pnet_virtio.ko", "overlay.ko"} <= set(names)
    deps = {}
    for line in (Path(kernel.tree) / kernel.modules / "modules.dep").read_text().splitlines():
        mod, _, needs = line.partition(":")
        deps[Path(mod).name.removesuffix(".xz")] = [Path(d).name.removesuffix(".xz") for d in needs.split()]
    for i, name in enumerate(names):
        assert all(d in names[:i] for d in deps[name]), f"{name} needs {deps[name]} loaded first"


def test_a_kernel_given_as_a_deb_or_a_directory_is_the_same_kernel(kernel61, tmp_path):
    store, kernel = kernel61
    deb = store.root / "debs" / PINS["6.1"].deb_name
    mine = kernels.Store(tmp_path / "cache" / "kernels", say=lambda line: None)
    from_deb = mine.prepare(kernels.parse(str(deb))[0])
    assert (from_deb.release, from_deb.package, from_deb.version) == (kernel.release, kernel.package, kernel.version)
    assert from_deb.sha256 == PINS["6.1"].sha256 and from_deb.source == f"file {deb}"
    from_dir = mine.prepare(kernels.parse(from_deb.tree)[0])
    assert from_dir.release == kernel.release and from_dir.tree == from_deb.tree and from_dir.pvh
    env = {"CC_CACHE_DIR": str(tmp_path / "cache")}
    one = cli("certify", "--prune", "--kernel", str(deb), env=env)
    assert one.returncode == 0 and f"removed {Path(from_deb.home)} (" in one.stdout, one.stdout + one.stderr
    assert Path(from_dir.home).is_dir() and not Path(from_deb.home).exists()
    pruned = cli("certify", "--prune", env=env)
    assert pruned.returncode == 0 and re.search(r"MiB freed$", pruned.stdout.strip()), pruned.stdout + pruned.stderr
    assert not [p for p in mine.root.iterdir() if p.name != "runs" and p.is_dir()]


def test_a_kernel_that_cannot_mount_the_hosts_root_is_refused_before_qemu_starts(kernel61, tmp_path):
    _, kernel = kernel61
    tree = tmp_path / "no9p"
    (tree / "boot").mkdir(parents=True)
    (tree / "lib" / "modules").mkdir(parents=True)
    (tree / "lib" / "modules" / kernel.release).symlink_to(Path(kernel.tree) / kernel.modules)
    (tree / "boot" / f"vmlinuz-{kernel.release}").symlink_to(Path(kernel.tree) / "boot" / f"vmlinuz-{kernel.release}")
    config = (Path(kernel.tree) / "boot" / f"config-{kernel.release}").read_text()
    (tree / "boot" / f"config-{kernel.release}").write_text(config.replace("CONFIG_9P_FS=m", "# CONFIG_9P_FS is not set"))
    cache = tmp_path / "cache"
    proc = cli("run", "--kernel", str(tree), "--reports-dir", str(tmp_path / "r"), env={"CC_CACHE_DIR": str(cache)})
    assert "cannot boot with the host's root: CONFIG_9P_FS not set" in one_error_line(proc)
    assert "booting" not in proc.stdout and not run_dirs(cache / "kernels" / "runs")
    rec = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert rec["exit_code"] == 2 and "could not be booted" in rec["why"]


# ---- real guests -------------------------------------------------------------------------------

def tcg_settings(**kw) -> guest.Settings:
    return guest.Settings(accel=host.accelerator(), memory_mib=1024, cpus=min(2, os.cpu_count() or 1), **kw)


@needs_vm
def test_a_guest_runs_the_hosts_userland_on_its_own_kernel(kernel61, tmp_path):
    store, kernel = kernel61
    marker = tmp_path / "host-marker"
    marker.write_text("from the host\n")
    out = tmp_path / "reports"
    script = (f"uname -r; cat {marker}; touch /etc/cc-vm-written-in-guest; "
              "touch /var/cache/calico-conformance/cc-vm-probe 2>/dev/null && echo cache-writable || echo cache-read-only; "
              f"grep -c '^CONFIG_BPF_SYSCALL=y' /boot/config-$(uname -r); ulimit -l; "
              f"echo written-in-guest > {out}/back.txt; exit 7")
    outcome = guest.run(kernel, initramfs.build(kernel), ["sh", "-c", script], runs=store.runs,
                        settings=tcg_settings(timeout_s=240), cwd=tmp_path, out=out, collect=out,
                        readonly=Path("/var/cache/calico-conformance"), say=print,
                        stdout=(tmp_path / "stdout").open("wb"), stderr=(tmp_path / "stderr").open("wb"))
    said = (tmp_path / "stdout").read_text().split()
    assert (outcome.status, outcome.exit_code, outcome.started) == ("exited", 7, True), outcome
    assert said == [kernel.release, "from", "the", "host", "cache-read-only", "1", "unlimited"], said
    assert (out / "back.txt").read_text() == "written-in-guest\n"
    assert not Path("/etc/cc-vm-written-in-guest").exists(), "the guest's writes stay in the guest"
    assert outcome.boot_s and outcome.boot_s < outcome.total_s and outcome.command_s is not None
    assert not run_dirs(store.runs, os.getpid()) and not qemu_of(store.runs)


@needs_vm
def test_a_hung_guest_is_stopped_at_the_timeout(kernel61, tmp_path):
    store, kernel = kernel61
    started = time.monotonic()
    # grace_s=None: the guest does not stop the command itself; the host stops qemu
    outcome = guest.run(kernel, initramfs.build(kernel), ["sleep", "600"], runs=store.runs, cwd=tmp_path,
                        settings=tcg_settings(timeout_s=25, grace_s=None), say=print)
    took = time.monotonic() - started
    assert outcome.status == "timeout" and outcome.exit_code is None
    assert outcome.why == "the guest did not end within 25 s; qemu was stopped"
    assert 25 <= took < 45
    assert not run_dirs(store.runs, os.getpid()) and not qemu_of(store.runs)


@needs_vm
def test_a_guest_that_does_not_boot_in_time_is_booted_once_more_then_reported(kernel61, tmp_path):
    store, kernel = kernel61
    said = []
    outcome = guest.run(kernel, initramfs.build(kernel), ["true"], runs=store.runs, cwd=tmp_path, say=said.append,
                        settings=tcg_settings(timeout_s=60, boot_timeout_s=1))
    assert outcome.status == "no boot" and outcome.boots == 2 and not outcome.started
    assert outcome.why.startswith("the guest did not start its command within 1 s (console: ")
    assert sum("booting it once more" in line for line in said) == 1, said
    assert not run_dirs(store.runs, os.getpid()) and not qemu_of(store.runs)


@needs_vm
def test_a_guest_whose_kernel_panics_says_so_and_ends(kernel61, tmp_path):
    store, kernel = kernel61
    outcome = guest.run(kernel, initramfs.build(kernel), ["sh", "-c", "echo c > /proc/sysrq-trigger; sleep 60"],
                        runs=store.runs, cwd=tmp_path, settings=tcg_settings(timeout_s=120), say=print)
    assert outcome.status == "no exit code" and outcome.started
    assert outcome.why.startswith("the guest stopped while the command ran, with no exit code: ")
    assert "Kernel panic" in outcome.why and "\n" not in outcome.why
    assert outcome.total_s < 60
    assert not run_dirs(store.runs, os.getpid()) and not qemu_of(store.runs)


@needs_vm
def test_the_suite_in_a_6_1_guest_is_conformant_and_everything_comes_back(kernel61, tmp_path):
    store, kernel = kernel61
    reports, bundle = tmp_path / "reports", tmp_path / "bundle.tar.gz"
    proc = subprocess.Popen([*CLI, "run", "--kernel", "6.1", "--reports-dir", str(reports), "--bundle", str(bundle)],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, out[-3000:] + err[-2000:]
    accel = host.accelerator()
    assert f"vm: booting 6.1 ({kernel.release}; {accel.label}" in out and "MiB) ..." in out
    assert re.search(r"vm: guest 6\.1 up in \d+\.\d s; running the command", out)
    assert out.rstrip().splitlines()[-1].startswith(
        f"calico-conformance: verdict: CONFORMANT on kernel {kernel.release} ({accel.label})")
    rec = json.loads((reports / "summary.json").read_text())
    assert rec["verdict"] == "conformant" and rec["exit_code"] == 0 and rec["lab"]
    assert rec["nodes"] and {n["kernel"] for n in rec["nodes"]} == {kernel.release}
    vm = rec["vm"]
    assert (vm["release"], vm["sha256"], vm["accel"], vm["status"]) == (kernel.release, PINS["6.1"].sha256,
                                                                       accel.name, "exited")
    assert 0 < vm["boot_s"] < vm["total_s"] and 0 < vm["suite_s"] < vm["total_s"]
    checks = {c["id"]: c for c in rec["checks"]}
    assert checks["SUP-KERNEL"]["outcome"] == "passed"
    assert f"/boot/config-{kernel.release}" in " ".join(checks["SUP-KERNEL-CONFIG"]["found"])
    assert rec["evidence_dir"] == str(reports / "evidence")
    assert len(list((reports / "evidence").glob("*.pcap"))) >= 4
    assert (reports / "report.html").read_text().count(kernel.release) >= 1
    assert "testcase" in (reports / "junit.xml").read_text()
    with tarfile.open(bundle) as tar:
        names = tar.getnames()
    assert {"summary.json", "report.html", "junit.xml", "SUMMARY.md", "nodes.json"} <= set(names)
    assert any(n.startswith("evidence/") for n in names)
    assert not (reports / ".lock").exists()
    assert not run_dirs(store.runs, proc.pid) and not qemu_of(store.runs)


@needs_vm
def test_a_kernel_matrix_judges_each_kernel_and_compares_across_them(kernel61, tmp_path):
    store, _ = kernel61
    reports, bundle = tmp_path / "reports", tmp_path / "bundle"
    proc = cli("certify", "--kernel", "5.10,6.1,6.12", "--check", "SUP-KERNEL", "--check", "SUP-KERNEL-CONFIG",
               "--reports-dir", str(reports), "--bundle", str(bundle), timeout=1800)
    assert proc.returncode == 6, proc.stdout[-3000:] + proc.stderr[-2000:]      # a selection: partial
    doc = json.loads((reports / "matrix.json").read_text())
    assert doc["verdict"] == "partial" and doc["exit_code"] == 6
    assert [r["kernel"] for r in doc["runs"]] == ["5.10", "6.1", "6.12"]
    for row in doc["runs"]:
        pin = PINS[row["kernel"]]
        assert row["release"] == pin.release and row["node_kernels"] == [pin.release] and row["kernel_seen"]
        assert (row["sha256"], row["calico_version"], row["profile"]) == (pin.sha256, "v3.31", "ebpf-tunnel")
        assert row["boot_s"] > 0 and row["suite_s"] > 0 and row["report"] == f"kernel-{row['kernel']}/report.html"
        rec = json.loads((reports / f"kernel-{row['kernel']}" / "summary.json").read_text())
        checks = {c["id"]: c for c in rec["checks"]}
        assert checks["SUP-KERNEL"]["outcome"] == "passed", checks["SUP-KERNEL"]
        assert checks["SUP-KERNEL-CONFIG"]["outcome"] == "passed"
        assert f"/boot/config-{pin.release}" in " ".join(checks["SUP-KERNEL-CONFIG"]["found"])
    page = (reports / "matrix.html").read_text()
    assert all(f'href="kernel-{k}/report.html"' in page for k in PINS)
    assert "| 6.12 | 6.12.118+deb12-amd64 | v3.31 | ebpf-tunnel | partial (exit 6)" in (reports / "MATRIX.md").read_text()
    assert (bundle / "matrix.json").is_file() and all((bundle / f"kernel-{k}" / "summary.json").is_file() for k in PINS)
    compared = cli("report", "--compare", str(bundle / "kernel-5.10"), str(bundle / "kernel-6.12"))
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert re.search(rf"node node1 kernel +{re.escape(PINS['5.10'].release)} -> {re.escape(PINS['6.12'].release)}",
                     compared.stdout), compared.stdout
    assert not qemu_of(store.runs)


@needs_vm
def test_real_felix_of_both_versions_is_conformant_on_the_oldest_kernel(kernel61, tmp_path):
    """The certification the issue asks for: real felix v3.29.7 and v3.31.7, built on the host,
    run in a 5.10 guest (the oldest kernel the documents support), each a variant of one matrix;
    with an IPIP pool, which this host's kernel cannot run (no CONFIG_NET_IPIP) and Debian's can:
    NodePort traffic must still travel in felix's own VXLAN (truth row nodeport-any-pool)."""
    from calico_conformance.realcalico import build as felix_builds, versions as felix_versions
    from calico_conformance.realk8s.cache import Cache, root
    tags = [t for t in felix_versions.SUPPORTED if felix_builds.installed(Cache(root()), t)]
    if len(tags) < 2:
        pytest.skip("felix is not built for " + ", ".join(sorted(set(felix_versions.SUPPORTED) - set(tags)))
                    + ": run `./bootstrap --dev` or `calico-conformance lab build felix --calico-version TAG`")
    store, _ = kernel61
    reports = tmp_path / "reports"
    proc = cli("certify", "--kernel", "5.10", "--lab-dataplane", "calico-ebpf-ipip-pool",
               "--calico-version", ",".join(tags), "--reports-dir", str(reports), timeout=1800)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    doc = json.loads((reports / "matrix.json").read_text())
    assert [(r["variant"], r["verdict"]) for r in doc["runs"]] == [(t, "conformant") for t in tags]
    for row, tag in zip(doc["runs"], tags):
        assert row["kernel_seen"] and row["calico_version"] == tag and row["profile"] == "calico-ebpf-ipip-pool"
        rec = json.loads((reports / row["dir"] / "summary.json").read_text())
        assert f"real felix {tag}" in rec["notice"] and PINS["5.10"].release in rec["notice"]
        logs = list((reports / row["dir"] / "evidence").glob("felix-node*.log"))
        assert len(logs) == 2 and all(f"version=\"{tag}\"" in log.read_text() for log in logs)
    assert not qemu_of(store.runs)


def _wait_for_command_start(runs: Path, pid: int, timeout: float = 120) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for rundir in run_dirs(runs, pid):
            if (rundir / "job" / "t_start").exists():
                return rundir
        time.sleep(0.2)
    raise AssertionError("the guest never started its command")


@needs_vm
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_a_signal_to_a_guest_run_leaves_no_qemu_and_no_run_directory(kernel61, tmp_path, sig):
    store, _ = kernel61
    reports = tmp_path / "reports"
    proc = subprocess.Popen([*CLI, "run", "--kernel", "6.1", "--reports-dir", str(reports)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        rundir = _wait_for_command_start(store.runs, proc.pid)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 15
    while qemu_of(store.runs) and time.monotonic() < deadline:      # SIGKILL: the kernel's pdeathsig
        time.sleep(0.2)
    assert not qemu_of(store.runs)
    if sig == signal.SIGTERM:
        assert proc.returncode == 130, out[-2000:] + err[-2000:]
        rec = json.loads((reports / "summary.json").read_text())
        assert rec["verdict"] == "interrupted" and rec["exit_code"] == 130
        assert "Traceback" not in out + err
        assert not rundir.exists()
    else:
        assert proc.returncode == -signal.SIGKILL and rundir.exists()
        assert rundir in guest.sweep(store.runs), "the next run removes what a SIGKILLed one left"
        assert not rundir.exists()
