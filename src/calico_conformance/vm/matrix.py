"""The suite in guests, one kernel after another: ``calico-conformance run --kernel 5.10,6.1,6.12``.

Each kernel's run is the host's own ``calico-conformance run`` with the same options, inside a
guest, writing to a share mounted at the reports directory's own path, so summary.json, junit.xml,
report.html and evidence/ come back as if the run had been local. One kernel writes the reports
directory itself; several write ``kernel-<line>/`` each and, beside them, the matrix: kernel x
Calico version x profile -> verdict, with the timings and a link to each run's report
(``matrix.json``, ``MATRIX.md``, ``matrix.html``). Comma lists given to ``--calico-version`` or
``--lab-dataplane`` make variants: every kernel runs each of them, in its own guest and directory
(``kernel-6.12-calico-ebpf-v3.31.7/``). The exit code is the guest's verdict's; of a matrix, the
worst of them."""
from __future__ import annotations

import datetime
import importlib.util
import json
import re
import shutil
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from calico_conformance import paths, record
from calico_conformance.atomic import write_atomic
from calico_conformance.executor import run_local
from calico_conformance.realk8s import cache
from calico_conformance.report.bundle import ARCHIVES, write_bundle, write_tar_gz
from calico_conformance.reports_dir import clear_reports
from calico_conformance.vm import guest, host, initramfs, kernels
from calico_conformance.vocabulary import exitcodes
from calico_conformance.vocabulary.errors import ExecutorError, UsageError

SCHEMA = "calico-conformance/kernel-matrix/v1"
FILES = ("matrix.json", "MATRIX.md", "matrix.html")
# A matrix's exit code: the first of these any kernel gave (a failure outweighs a kernel that did
# not boot, which outweighs a selection).
WORST_FIRST = (exitcodes.INTERRUPTED, exitcodes.NOT_CONFORMANT, exitcodes.UNSUPPORTED, exitcodes.INCOMPLETE,
               exitcodes.USAGE, exitcodes.PARTIAL, exitcodes.CONFORMANT)


@dataclass(frozen=True)
class Variant:
    """One way to run the suite on every kernel: its label ("" for the only one) and the suite's
    options for it, handed to the guest unchanged."""
    label: str
    args: list[str]


@dataclass(frozen=True)
class Plan:
    """What the command line asked for, checked: the kernels, the variants of the suite's options,
    the reports directory and the bundle, and how the guests run."""
    kernels: list[kernels.Request]
    variants: list[Variant]
    reports: Path
    bundle: Path | None
    settings: guest.Settings
    quiet: bool = False

    @property
    def runs(self) -> list[tuple[kernels.Request, Variant]]:
        return [(req, variant) for req in self.kernels for variant in self.variants]

    @property
    def single(self) -> bool:
        return len(self.runs) == 1

    def dest(self, req: kernels.Request, variant: Variant) -> Path:
        return self.reports if self.single else self.reports / subdir(req, variant)


def subdir(req: kernels.Request, variant: Variant | None = None) -> str:
    name = req.label + (f"-{variant.label}" if variant and variant.label else "")
    return "kernel-" + re.sub(r"[^A-Za-z0-9.+_-]", "-", name)


def check_bundle(dest: Path) -> None:
    """A matrix bundle goes to a new path, an empty folder, or replaces an earlier matrix bundle;
    anything else there is the user's (``UsageError``, before any guest boots)."""
    if not dest.exists() or (dest.is_dir() and not any(dest.iterdir())) or _is_matrix_bundle(dest):
        return
    raise UsageError(f"--bundle {dest}: something that is not a kernel-matrix bundle is there; give a new "
                     "folder or FILE.tar.gz")


def _is_matrix_bundle(dest: Path) -> bool:
    if dest.is_dir():
        return (dest / "matrix.json").is_file()
    try:
        with tarfile.open(dest) as tar:
            return "matrix.json" in tar.getnames()
    except (OSError, tarfile.TarError, EOFError):
        return False


def run_kernels(plan: Plan) -> int:
    """Every kernel of the plan, one guest after another; the exit code of the verdict."""
    say = (lambda line: None) if plan.quiet else (lambda line: print(f"vm: {line}", flush=True))
    started = _now()
    single = plan.single
    _clear(plan.reports)
    try:
        host.ensure_tools(say)
        warm_bytecode()
    except (UsageError, ExecutorError) as exc:
        print(f"calico-conformance: error: {exc}", file=sys.stderr)
        not_started(plan.reports, f"the run did not start: {exc}")
        return exitcodes.USAGE
    if not single:
        accel = plan.settings.accel
        variants = f" x {len(plan.variants)} variants" if len(plan.variants) > 1 else ""
        say(f"{len(plan.kernels)} kernels{variants}, one guest at a time, under {accel.label}"
            + ("" if accel.name == "kvm" else f" ({accel.why})"))
    rows: list[dict] = []
    store = kernels.Store(say=say)
    try:
        for req, variant in plan.runs:
            rows.append(_one(req, variant, plan, store, say))
            if rows[-1]["exit_code"] == exitcodes.INTERRUPTED:
                break
    except KeyboardInterrupt:
        if len(rows) < len(plan.runs):
            req, variant = plan.runs[len(rows)]
            rows.append(_interrupted(req, variant, plan))
    code = worst(r["exit_code"] for r in rows)
    doc = matrix_record(rows, plan, started, code)
    if not single:
        write_matrix(plan.reports, doc)
    if plan.bundle and code != exitcodes.INTERRUPTED:
        _bundle(plan, doc, single)
    _verdict_line(doc, single, plan.reports)
    return code


def warm_bytecode() -> None:
    """The suite's modules compiled on the host, where they stay: what a guest compiles is written
    into its overlay and lost, so a module the host never ran would be compiled again in every
    guest, under emulation (a few seconds under TCG; more where PYTHONDONTWRITEBYTECODE keeps the
    host from writing them). Where the folders cannot be written, the guest compiles them itself."""
    fixtures = importlib.util.find_spec("calico_conformance.fixtures")
    folders = {paths.package_dir(), paths.suite_dir(), *([Path(fixtures.origin).parent] if fixtures else [])}
    run_local([sys.executable, "-m", "compileall", "-q", "-j", "0", *map(str, sorted(folders))], timeout=300)


def _one(req: kernels.Request, variant: Variant, plan: Plan, store: kernels.Store, say) -> dict:
    """One kernel and variant: made ready, booted, the suite run in it, its reports back in its
    directory."""
    dest = plan.dest(req, variant).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    clear_reports(dest)
    began = time.monotonic()
    try:
        kernel = store.prepare(req)
        initrd = initramfs.build(kernel)
    except (UsageError, ExecutorError) as exc:
        rec = _placeholder(dest, f"kernel {req.label} could not be booted: {exc}", exitcodes.USAGE)
        print(f"calico-conformance: error: kernel {req.label}: {exc}", file=sys.stderr, flush=True)
        return _row(req, variant, None, dest, rec, {"prepare_s": round(time.monotonic() - began, 2)}, plan)
    prepared = time.monotonic() - began
    argv = [sys.executable, "-m", "calico_conformance.cli", "run", *variant.args, "--reports-dir", str(dest)]
    try:
        outcome = guest.run(kernel, initrd, argv, runs=store.runs, settings=plan.settings, cwd=Path.cwd(),
                            out=dest, collect=dest, readonly=cache.root(), say=say)
    except KeyboardInterrupt:
        return _interrupted(req, variant, plan, kernel)
    except ExecutorError as exc:
        rec = _placeholder(dest, f"kernel {req.label}: the guest could not be started: {exc}", exitcodes.USAGE)
        print(f"calico-conformance: error: kernel {req.label}: {exc}", file=sys.stderr, flush=True)
        return _row(req, variant, kernel, dest, rec, {"prepare_s": round(prepared, 2)}, plan)
    rec = _judged(dest, req, outcome)
    timings = {"prepare_s": round(prepared, 2), **outcome.timings()}
    rec["vm"] = {**kernel.record(), "accel": plan.settings.accel.name, "accel_why": plan.settings.accel.why,
                 "cpus": plan.settings.cpus, "memory_mib": plan.settings.memory_mib, "status": outcome.status,
                 **timings}
    write_atomic(dest / "summary.json", json.dumps(rec, indent=2) + "\n")
    if outcome.status != "exited" or not outcome.started:
        print(f"calico-conformance: error: kernel {req.label}: {outcome.why}", file=sys.stderr, flush=True)
    say(f"kernel {req.label} ({kernel.release}){_on(variant)}: {rec['verdict']} (exit {rec['exit_code']}); boot "
        f"{_s(outcome.boot_s)}, suite in the guest {_s(outcome.command_s)}, total {_s(outcome.total_s)}")
    return _row(req, variant, kernel, dest, rec, timings, plan)


def _on(variant: Variant) -> str:
    return f", {variant.label}" if variant.label else ""


def _judged(dest: Path, req: kernels.Request, outcome: guest.Outcome) -> dict:
    """The kernel's record: the guest's own where it ended by itself, else one that says why it
    did not (reports rendered again from it, so the three agree)."""
    rec = _final(dest)
    if outcome.status == "exited" and outcome.started:
        if rec:
            return rec
        return _placeholder(dest, f"the guest's run ended with exit {outcome.exit_code} and wrote no verdict",
                            outcome.exit_code if outcome.exit_code is not None else exitcodes.INCOMPLETE)
    if outcome.started:
        why = f"kernel {req.label}: {outcome.why}"
        base = rec or record.placeholder(why, exit_code=exitcodes.INCOMPLETE)
        base.update(verdict="incomplete", verdict_means=record.VERDICT_NOTES["incomplete"], why=why,
                    exit_code=exitcodes.INCOMPLETE, final=True)
        record.write(dest / "summary.json", base, html=dest / "report.html", junit=dest / "junit.xml")
        return json.loads((dest / "summary.json").read_text())
    return _placeholder(dest, f"kernel {req.label} did not boot: {outcome.why}", exitcodes.USAGE)


def _final(dest: Path) -> dict:
    try:
        rec = json.loads((dest / "summary.json").read_text())
    except (OSError, ValueError):
        return {}
    return rec if isinstance(rec, dict) and rec.get("final") and rec.get("exit_code") is not None else {}


def _placeholder(dest: Path, why: str, code: int) -> dict:
    rec = record.placeholder(why, exit_code=code)
    if code == exitcodes.INTERRUPTED:
        rec["verdict"], rec["verdict_means"] = "interrupted", record.VERDICT_NOTES["interrupted"]
    write_atomic(dest / "summary.json", json.dumps(rec, indent=2) + "\n")
    for stale in ("report.html", "junit.xml"):
        (dest / stale).unlink(missing_ok=True)
    return rec


def _interrupted(req: kernels.Request, variant: Variant, plan: Plan, kernel: kernels.Kernel | None = None) -> dict:
    dest = plan.dest(req, variant).resolve()
    dest.mkdir(parents=True, exist_ok=True)
    rec = _final(dest) or _placeholder(dest, f"interrupted (Ctrl-C or SIGTERM) while kernel {req.label}"
                                       f"{_on(variant)} ran", exitcodes.INTERRUPTED)
    return _row(req, variant, kernel, dest, rec, {}, plan)


def _row(req, variant: Variant, kernel, dest: Path, rec: dict, timings: dict, plan: Plan) -> dict:
    target = rec.get("target", {})
    node_kernels = sorted({n.get("kernel", "") for n in rec.get("nodes", [])})
    row_of = next((c.get("calico_version_row", "") for c in rec.get("checks", []) if c.get("calico_version_row")), "")
    base = dest.parent if plan.single else plan.reports.resolve()
    where = dest.relative_to(base) if dest.is_relative_to(base) else dest
    link = lambda name: str(Path(where) / name) if (dest / name).exists() else None
    return {"kernel": req.label, "variant": variant.label, "release": kernel.release if kernel else None,
            "package": kernel.package if kernel else None, "version": kernel.version if kernel else None,
            "sha256": kernel.sha256 if kernel else None, "source": kernel.source if kernel else None,
            # real felix: the tag it reported; otherwise the support matrix's row the run was judged by
            "calico_version": (target["calico_version"] if target.get("lab_felix") and target.get("calico_version")
                               else (row_of.split() or [target.get("calico_version") or "unknown"])[0]),
            "profile": target.get("lab_profile") or target.get("target") or "-",
            "verdict": rec.get("verdict", "incomplete"), "why": rec.get("why", ""),
            "exit_code": exitcodes.INCOMPLETE if rec.get("exit_code") is None else int(rec["exit_code"]),
            "node_kernels": node_kernels, "kernel_seen": bool(kernel) and kernel.release in node_kernels,
            "accel": plan.settings.accel.name, "dir": str(where),
            "report": link("report.html"), "summary": link("summary.json"), **timings}


def worst(codes) -> int:
    codes = list(codes)
    if not codes:
        return exitcodes.INTERRUPTED
    return next((c for c in WORST_FIRST if c in codes), max(codes))


def matrix_record(rows: list[dict], plan: Plan, started: str, code: int) -> dict:
    verdicts: dict[str, list[str]] = {}
    for r in rows:
        verdicts.setdefault(r["verdict"], []).append(r["kernel"] + (f" ({r['variant']})" if r.get("variant") else ""))
    why = "; ".join(f"{v} on {', '.join(k)}" for v, k in verdicts.items())
    overall = next((r["verdict"] for c in WORST_FIRST for r in rows if r["exit_code"] == c), "interrupted")
    return {"schema": SCHEMA, "verdict": overall, "why": why, "exit_code": code, "started": started,
            "finished": _now(), "options": list(plan.variants[0].args) if len(plan.variants) == 1 else [],
            "variants": {v.label: v.args for v in plan.variants if v.label}, "accel": plan.settings.accel.name,
            "accel_why": plan.settings.accel.why, "cpus": plan.settings.cpus,
            "memory_mib": plan.settings.memory_mib, "runs": rows}


def markdown(doc: dict) -> str:
    out = [f"### Kernel matrix: **{doc['verdict']}** (exit {doc['exit_code']})", "", doc["why"], "",
           f"Guests under {doc['accel'].upper()} ({doc['accel_why']}), {doc['cpus']} vCPUs, {doc['memory_mib']} MiB; "
           f"suite options: `{' '.join(doc['options']) or '(none)'}`", "",
           *[f"- variant `{label}`: `{' '.join(args)}`" for label, args in doc.get("variants", {}).items()],
           *([""] if doc.get("variants") else []),
           "| kernel | release | Calico version | profile | verdict | boot | suite in guest | total | report |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in doc["runs"]:
        report = f"[report]({r['report']})" if r.get("report") else "-"
        out.append(f"| {r['kernel']} | {r.get('release') or '-'} | {r['calico_version']} | {r['profile']} | "
                   f"{r['verdict']} (exit {r['exit_code']}) | {_s(r.get('boot_s'))} | {_s(r.get('suite_s'))} | "
                   f"{_s(r.get('total_s'))} | {report} |")
    out += ["", "| kernel | package | version | sha256 | from |", "|---|---|---|---|---|"]
    out += [f"| {r['kernel']} | {r.get('package') or '-'} | {r.get('version') or '-'} | "
            f"`{(r.get('sha256') or '-')[:16]}` | {r.get('source') or '-'} |" for r in kernel_rows(doc)]
    return "\n".join(out) + "\n"


HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Kernel matrix: {{ doc.verdict }}</title>
<style>body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#f4f4f4}
.conformant{background:#e6f4ea}.bad{background:#fce8e6}.other{background:#fef7e0}code{font-size:12px}</style>
</head><body>
<h1>Kernel matrix: {{ doc.verdict }} (exit {{ doc.exit_code }})</h1>
<p>{{ doc.why }}</p>
<p>Guests under {{ doc.accel|upper }} ({{ doc.accel_why }}), {{ doc.cpus }} vCPUs, {{ doc.memory_mib }} MiB.
Suite options: <code>{{ doc.options|join(' ') or '(none)' }}</code>. {{ doc.started }} to {{ doc.finished }}.</p>
{% if doc.variants %}<ul>{% for label, args in doc.variants.items() %}<li>variant {{ label }}: <code>{{ args|join(' ') }}</code></li>{% endfor %}</ul>{% endif %}
<table><tr><th>kernel</th><th>variant</th><th>release (in the guest)</th><th>Calico version</th><th>profile</th><th>verdict</th>
<th>boot</th><th>suite in guest</th><th>total</th><th>report</th></tr>
{% for r in doc.runs %}<tr class="{{ 'conformant' if r.verdict == 'conformant' else ('bad' if r.exit_code in (1, 2, 3) else 'other') }}">
<td>{{ r.kernel }}</td><td>{{ r.variant or '-' }}</td><td>{{ r.release or '-' }}{% if r.release and not r.kernel_seen %} (nodes: {{ r.node_kernels|join(', ') or 'none' }}){% endif %}</td>
<td>{{ r.calico_version }}</td><td>{{ r.profile }}</td><td title="{{ r.why }}">{{ r.verdict }} (exit {{ r.exit_code }})</td>
<td>{{ secs(r.boot_s) }}</td><td>{{ secs(r.suite_s) }}</td><td>{{ secs(r.total_s) }}</td>
<td>{% if r.report %}<a href="{{ r.report }}">report</a>{% else %}-{% endif %}</td></tr>
{% endfor %}</table>
<h2>Kernel packages</h2>
<table><tr><th>kernel</th><th>package</th><th>version</th><th>sha256 (.deb)</th><th>from</th></tr>
{% for r in kernel_rows %}<tr><td>{{ r.kernel }}</td><td>{{ r.package or '-' }}</td><td>{{ r.version or '-' }}</td>
<td><code>{{ r.sha256 or '-' }}</code></td><td>{{ r.source or '-' }}</td></tr>{% endfor %}
</table></body></html>
"""


def html(doc: dict) -> str:
    """matrix.html (Jinja2, autoescaped; imported here, after the runs, as report.html's is)."""
    from jinja2 import Environment
    return Environment(autoescape=True).from_string(HTML).render(doc=doc, secs=_s, kernel_rows=kernel_rows(doc))


def kernel_rows(doc: dict) -> list[dict]:
    """One run per kernel, for the packages' table (variants share their kernel's package)."""
    return list({r["kernel"]: r for r in reversed(doc["runs"])}.values())[::-1]


def write_matrix(dest: Path, doc: dict) -> None:
    write_atomic(dest / "matrix.json", json.dumps(doc, indent=2) + "\n")
    write_atomic(dest / "MATRIX.md", markdown(doc))
    write_atomic(dest / "matrix.html", html(doc))


def _clear(reports: Path) -> None:
    """An earlier run's verdicts must not stand: its report files, an earlier matrix and the
    kernel directories that matrix named."""
    reports.mkdir(parents=True, exist_ok=True)
    try:
        earlier = json.loads((reports / "matrix.json").read_text()).get("runs", [])
    except (OSError, ValueError, AttributeError):
        earlier = []
    for row in earlier:
        sub = reports / str(row.get("dir", ""))
        if sub.name.startswith("kernel-") and sub.parent == reports:
            shutil.rmtree(sub, ignore_errors=True)
    for name in FILES:
        (reports / name).unlink(missing_ok=True)
    clear_reports(reports)


def not_started(reports: Path, why: str) -> None:
    """A run refused before any guest booted: no earlier verdict stands in its reports directory."""
    _clear(reports)
    _placeholder(reports, why, exitcodes.USAGE)


def _bundle(plan: Plan, doc: dict, single: bool) -> None:
    dest = plan.bundle
    try:
        if single:
            print(f"calico-conformance: bundle: {write_bundle(plan.reports, dest)}")
            return
        with tempfile.TemporaryDirectory(prefix=".cc-matrix-", dir=dest.parent if dest.parent.exists() else None) as tmp:
            staging = Path(tmp) / "bundle"
            staging.mkdir()
            for row in doc["runs"]:
                if (plan.reports / row["dir"] / "summary.json").exists():
                    write_bundle(plan.reports / row["dir"], staging / row["dir"])
            write_matrix(staging, doc)
            if dest.name.endswith(ARCHIVES):
                write_tar_gz(staging, dest)
            else:
                shutil.rmtree(dest, ignore_errors=True)
                shutil.copytree(staging, dest)
        print(f"calico-conformance: bundle: {dest}")
    except OSError as exc:
        print(f"calico-conformance: error: cannot write the bundle {dest}: {exc.strerror}; the verdicts stand "
              f"in {plan.reports}", file=sys.stderr)


def _verdict_line(doc: dict, single: bool, reports: Path) -> None:
    if single and doc["runs"]:
        r = doc["runs"][0]
        if r["exit_code"] == exitcodes.USAGE:
            return          # the one error line said why
        print(f"calico-conformance: verdict: {r['verdict'].upper()} on kernel {r.get('release') or r['kernel']} "
              f"({(doc['accel'] or '').upper()}) - {r['why']} (exit {doc['exit_code']})", flush=True)
        return
    print(f"calico-conformance: kernel matrix: {doc['verdict'].upper()} - {doc['why']} (exit {doc['exit_code']}); "
          f"{reports / 'matrix.html'}", flush=True)


def _s(seconds) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
