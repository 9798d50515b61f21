"""`calico-conformance certify` (and `run --kernel`): the suite inside virtual machines booted with
other Linux kernels (Debian packages, pinned), one after another, with the host's own userland;
each guest's reports come back, and several kernels make a matrix. The guests:
calico_conformance.vm; how it works and what it costs: docs/kernels.md."""
from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from calico_conformance import suite_options, targets
from calico_conformance.report.bundle import check_destination
from calico_conformance.reports_dir import ReportsLock
from calico_conformance.suite_options import check_reports_dir
from calico_conformance.vm import guest, host, kernels, matrix
from calico_conformance.vocabulary import exitcodes
from calico_conformance.vocabulary.errors import UsageError

NAME = "certify"
HELP = ("the suite inside VMs booted with other kernels (--kernel 5.10,6.1,6.12|FILE.deb|DIR), one after "
        "another, with a kernel matrix report; --prune empties the kernel cache")
PASSTHROUGH = True      # the options it does not know are the suite's, handed to each guest unchanged

USAGE = """usage: calico-conformance certify [--kernel K[,K...]] [VM OPTIONS] [RUN OPTIONS]
       calico-conformance run --kernel K[,K...] [VM OPTIONS] [RUN OPTIONS]
       calico-conformance certify --prune [--kernel K[,K...]] | --list

Boots each kernel in a qemu VM with this host's own root filesystem (read-only, writes stay in
the VM), runs `calico-conformance run RUN OPTIONS` in it, and brings summary.json, junit.xml,
report.html and evidence/ back. One kernel: the reports directory holds its run, as a local run
would. Several: kernel-<K>/ each, and the matrix (matrix.html, matrix.json, MATRIX.md: kernel x
Calico version x profile -> verdict, timings, links to each report).

  --kernel K[,K...]     5.10, 6.1, 6.12 (Debian's packages, pinned in vm/kernels.yaml), a
                        linux-image .deb, or a directory of an unpacked one (default for
                        certify: 5.10,6.1,6.12)
  --calico-version V[,V...], --lab-dataplane P[,P...]
                        several values make variants: every kernel runs each combination
                        in its own guest (for example --lab-dataplane calico-ebpf
                        --calico-version v3.29.7,v3.31.7: real felix of both on each kernel)
  --reports-dir DIR     where reports go (default: reports)
  --bundle DIR|FILE.tar.gz  the certification bundle (several kernels: the matrix and a bundle
                        per kernel)
  --vm-timeout SECONDS  a guest that runs longer is stopped, and the run says so (default: 900)
  --vm-memory MIB       guest memory (default: 2048)
  --vm-cpus N           guest vCPUs (default: 2, at most this host's CPUs)
  --vm-accel auto|kvm|tcg  KVM where /dev/kvm works with kvm_intel or kvm_amd, else TCG (default: auto)
  --quiet               only the verdict lines
  --prune               remove cached kernels (all, or those of --kernel) and say what was freed
  --list                the kernels this suite knows, and which are in the cache

Needs root (the lab, apt-get for qemu and the kernel packages). The kernel cache is
$CC_CACHE_DIR/kernels (default /var/cache/calico-conformance/kernels); the guest sees the cache
directory read-only. Exit codes: the guest's verdict (see `calico-conformance run --help`); of a
matrix, the worst one (1 before 3, 4, 2, 6, 0); 2 when a kernel cannot be booted, with why.
"""

# Options whose files a guest would write inside itself: each run's files are in its reports directory.
NOT_BROUGHT_BACK = ("--junitxml", "--junit-xml", "--html", "--summary-json", "--report-html", "--report-junit",
                    "--evidence-dir", "--result-log")
OWN = ("--kernel", "--reports-dir", "--bundle", "--vm-timeout", "--vm-memory", "--vm-cpus", "--vm-accel")


def configure(parser):   # only for `calico-conformance --help`; argv is read by run() below
    pass


def wants_kernel(argv: list[str]) -> bool:
    """`run` hands its command line here when it names a kernel."""
    return any(a == "--kernel" or a.startswith("--kernel=") for a in argv)


def _split(argv: list[str]) -> tuple[dict[str, list[str]], list[str], set[str]]:
    """(our options' values, the suite's options, our flags)."""
    own: dict[str, list[str]] = {}
    rest, flags = [], set()
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, eq, value = arg.partition("=")
        if name in OWN:
            if not eq:
                if i + 1 >= len(argv) or argv[i + 1].startswith("-"):
                    raise UsageError(f"{name} needs a value")
                value = argv[i + 1]
                i += 1
            own.setdefault(name, []).append(value)
        elif arg in ("--prune", "--list"):
            flags.add(arg)
        else:
            if arg in ("--quiet", "-q"):
                flags.add("--quiet")
            rest.append(arg)
        i += 1
    return own, rest, flags


def _number(own: dict, name: str, default: float, low: float, high: float, kind=int):
    raw = own.get(name, [None])[-1]
    if raw is None:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise UsageError(f"{name}: {raw!r} is not a {'whole ' if kind is int else ''}number") from None
    if not low <= value <= high:
        raise UsageError(f"{name}: {raw} is out of range ({low:g} to {high:g})")
    return value


def _kernels(own: dict, default: str | None) -> list[kernels.Request]:
    given = own.get("--kernel") or ([default] if default else [])
    requests: list[kernels.Request] = []
    for text in given:
        for req in kernels.parse(text):
            if any(r.label == req.label for r in requests):
                raise UsageError(f"--kernel: {req.label} is named twice")
            requests.append(req)
    return requests


def _settings(own: dict) -> guest.Settings:
    accel = own.get("--vm-accel", ["auto"])[-1]
    if accel not in ("auto", "kvm", "tcg"):
        raise UsageError(f"--vm-accel: {accel!r}; choose auto, kvm or tcg")
    timeout = _number(own, "--vm-timeout", 900.0, 20, 86400, float)
    return guest.Settings(accel=host.accelerator(accel), memory_mib=_number(own, "--vm-memory", 2048, 256, 65536),
                          cpus=_number(own, "--vm-cpus", min(2, os.cpu_count() or 1), 1, os.cpu_count() or 1),
                          timeout_s=timeout, grace_s=min(30.0, timeout / 4))


# Suite options whose comma lists make variants of the matrix: each kernel runs every combination.
VARIED = ("--lab-dataplane", "--calico-version")


def _variants(args: list[str]) -> list[matrix.Variant]:
    """The suite's options once per combination of the VARIED options' comma-listed values, each
    labelled by the values that vary (``calico-ebpf-v3.31.7``); one unlabelled variant otherwise."""
    choices: list[tuple[int, bool, str, list[str]]] = []     # (index in args, "--opt=v" form, option, values)
    for i, arg in enumerate(args):
        name, eq, value = arg.partition("=")
        if name in VARIED:
            value = value if eq else (args[i + 1] if i + 1 < len(args) else "")
            values = [v.strip() for v in value.split(",")]
            if len(values) > 1:
                if not all(values) or len(set(values)) != len(values):
                    raise UsageError(f"{name} {value}: give distinct values, separated by commas")
                choices.append((i, bool(eq), name, values))
    variants = [matrix.Variant("", list(args))]
    for i, inline, name, values in choices:
        grown = []
        for variant in variants:
            for value in values:
                varied = list(variant.args)
                if inline:
                    varied[i] = f"{name}={value}"
                else:
                    varied[i + 1] = value
                grown.append(matrix.Variant("-".join(filter(None, (variant.label, value))), varied))
        variants = grown
    return variants


def _check_suite_args(args: list[str]) -> str | None:
    """The suite's options, read on the host before any guest boots (a typo costs no boot); a
    listing the target prints instead of running, if they ask for one."""
    for arg in args:
        if arg.split("=", 1)[0] in NOT_BROUGHT_BACK:
            raise UsageError(f"{arg.split('=', 1)[0]} with --kernel: a guest would write it inside itself; each "
                             "run's junit.xml, report.html, summary.json and evidence/ are in its reports directory")
    options = suite_options.parse(args)
    info = targets.info_request(options.getoption("target"), options)
    if not info:
        # the guests see the cache read-only: what the run needs (real felix) is built here first
        targets.prepare(options.getoption("target"), options,
                        lambda line: print(f"calico-conformance: build: {line}", file=sys.stderr, flush=True))
    return info


def _prune(own: dict) -> int:
    store = kernels.Store()
    removed = store.prune(_kernels(own, None) or None)
    freed = sum(size for _, size in removed)
    for name, size in removed:
        print(f"removed {store.root / name} ({size / 2**20:.0f} MiB)")
    print(f"kernel cache {store.root}: {freed / 2**20:.0f} MiB freed" if removed
          else f"kernel cache {store.root}: nothing to remove")
    return 0


def _list() -> int:
    store = kernels.Store()
    cached = dict(store.cached())
    for line, pin in kernels.pins().items():
        state = "in the cache" if line in cached else "not fetched yet"
        print(f"{line:6} {pin.package} {pin.version} ({pin.suite}), sha256 {pin.sha256[:16]}..., {state}")
    problem = host.kvm_problem()
    print(f"accelerator: {'KVM' if not problem else 'TCG (' + problem + ')'}; cache {store.root}"
          + (f", {sum(cached.values()) / 2**20:.0f} MiB" if cached else ""))
    return 0


def run(argv: list[str], *, default_kernels: str | None = None) -> int:
    if "-h" in argv or "--help" in argv:
        print(USAGE)
        return 0
    default = default_kernels if default_kernels is not None else ",".join(kernels.pins())
    lock = None
    reports = None
    try:
        own, args, flags = _split(argv)
        if "--prune" in flags:
            return _prune(own)
        if "--list" in flags:
            return _list()
        plan_kernels = _kernels(own, default)
        variants = _variants(args)
        if not plan_kernels:
            raise UsageError("give --kernel K[,K...]: one of " + ", ".join(kernels.pins()) + ", a .deb or a directory")
        reports = Path(own.get("--reports-dir", ["reports"])[-1])
        bundle = Path(own["--bundle"][-1]) if own.get("--bundle") else None
        check_reports_dir(reports)
        lock = ReportsLock(reports).acquire()
    except UsageError as exc:
        print(f"calico-conformance: error: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    try:
        try:
            for variant in variants:
                info = _check_suite_args(variant.args)
                if info:
                    print(info)
                    return 0
            if bundle:
                (check_destination if len(plan_kernels) * len(variants) == 1 else matrix.check_bundle)(bundle)
            settings = _settings(own)
        except UsageError as exc:
            print(f"calico-conformance: error: {exc}", file=sys.stderr)
            matrix.not_started(reports, f"the run did not start: {exc}")
            return exitcodes.USAGE
        for sig in (signal.SIGTERM, signal.SIGHUP):     # unwind like Ctrl-C: guests stopped, records written
            signal.signal(sig, _interrupt)
        plan = matrix.Plan(kernels=plan_kernels, variants=variants, reports=reports, bundle=bundle, settings=settings,
                           quiet="--quiet" in flags)
        return matrix.run_kernels(plan)
    finally:
        lock.release()


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")
