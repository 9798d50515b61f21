"""The certification bundle: everything a reviewer needs to judge a run, in one directory or one
.tar.gz, with no secrets in it.

    summary.json   the run: verdict, why, exit code, one record per check (ID, verdict, duration,
                   evidence, statements and versions), target facts, nodes, suite version/options
    report.html    the report (self-contained; links to evidence/ inside the bundle)
    junit.xml      one testcase per check (Jenkins JUnit schema)
    SUMMARY.md     a short summary fit for a pull-request comment
    nodes.json     per-node facts (kernel, architecture, OS image, ...)
    felix.json     the Felix settings the checks depend on
    suite.json     the suite's version, the options of the run, Python and pytest versions
    evidence/      every capture (pcap) of the run

Every text file passes through calico_conformance.redact (tokens, passwords, keys, certificates,
PEM blocks, URL credentials), and the reports directory's absolute path is made relative."""
from __future__ import annotations

import io
import json
import platform
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path

import pytest

from calico_conformance.atomic import write_atomic
from calico_conformance.redact import redact_text
from calico_conformance.vocabulary.errors import UsageError

TEXT = (".json", ".xml", ".html", ".md", ".txt")
FILES = ("summary.json", "report.html", "junit.xml", "SUMMARY.md", "nodes.json", "felix.json", "suite.json")
ARCHIVES = (".tar.gz", ".tgz")


def check_destination(dest: Path) -> None:
    """A bundle goes to a new path, or replaces an earlier bundle; anything else there is the
    user's, and is refused before the run starts (``UsageError``)."""
    dest = Path(dest)
    if not dest.exists():
        return
    if dest.name.endswith(ARCHIVES) and dest.is_file():
        try:
            with tarfile.open(dest) as tar:
                if "summary.json" in tar.getnames():
                    return
        except (OSError, tarfile.TarError, EOFError):
            pass
        raise UsageError(f"--bundle {dest}: a file that is not a bundle is there; choose a new path")
    if not dest.is_dir():
        raise UsageError(f"--bundle {dest}: a file is in the way; give a new folder or a FILE.tar.gz")
    others = sorted(p.name for p in dest.iterdir() if p.name not in FILES and p.name != "evidence")
    if others:
        raise UsageError(f"--bundle {dest}: the folder holds other files ({', '.join(others[:3])}"
                         f"{' ...' if len(others) > 3 else ''}); give an empty or new folder")


def felix_settings(rec: dict) -> dict:
    target = rec.get("target", {})
    return {k.removeprefix("felix."): v for k, v in target.items() if k.startswith("felix.")} | {
        k: target[k] for k in ("calico_version", "datastore") if k in target}


def suite_info(rec: dict) -> dict:
    suite = rec.get("suite", {})
    return {"version": suite.get("version", "unknown"), "options": suite.get("options", []),
            "python": platform.python_version(), "pytest": pytest.__version__,
            "started": rec.get("started"), "finished": rec.get("finished")}


def markdown(rec: dict) -> str:
    """The pull-request comment: the verdict, the target, failures with what to do, counts."""
    icon = {"conformant": "\u2705", "not conformant": "\u274c", "unsupported": "\u274c"}.get(rec["verdict"], "\u26a0\ufe0f")
    t = rec.get("target", {})
    out = [f"### {icon} Calico eBPF conformance: **{rec['verdict']}**", "",
           f"{rec.get('why', '')} (exit {rec.get('exit_code')})", "",
           f"- target: `{t.get('target', 'unknown')}`, Calico {t.get('calico_version', 'unknown')}, "
           f"Kubernetes {t.get('kubernetes_version', 'unknown')}, {t.get('distribution', '')}, "
           f"external service mode {t.get('felix.external_service_mode', 'unknown')}",
           "- nodes: " + (", ".join(f"{n['name']} ({n.get('kernel', '?')}, {n.get('arch', '?')})"
                                     for n in rec.get("nodes", [])) or "none recorded"),
           "- " + ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in rec.get("counts", {}).items())]
    if rec["verdict"] in ("partial", "incomplete", "interrupted"):
        left = rec.get("left_out") or []
        out += ["", f"> **Not a certification.** {rec.get('verdict_means', '')}."
                + (f" Left out: {', '.join(left)}." if left else "")]
    if rec.get("lab"):
        out += ["", f"> **Reference lab run.** {rec.get('notice', '')}"]
    bad = [c for c in rec.get("checks", []) if c["outcome"] in ("failed", "not run")]
    if bad:
        out += ["", "| check | verdict | why | what to do |", "|---|---|---|---|"]
        cell = lambda s: str(s or "").replace("|", "\\|").replace("\n", " ")[:300]
        out += [f"| `{c['id']}` | {c['outcome']} | {cell(c.get('reason'))} | {cell(c.get('remediation') if c['outcome'] == 'failed' else '')} |"
                for c in bad]
    out += ["", "<details><summary>every check</summary>", "", "| check | verdict |", "|---|---|"]
    out += [f"| `{c['id']}` | {c['outcome']} |" for c in rec.get("checks", [])]
    out += ["", "</details>", ""]
    return "\n".join(out)


def _clean(text: str, reports: Path) -> str:
    root = str(reports.resolve())
    return redact_text(text.replace(root + "/", "").replace(root, "."))


def _fill(staging: Path, reports: Path) -> None:
    rec = json.loads((reports / "summary.json").read_text())
    extra = {"SUMMARY.md": markdown(rec), "nodes.json": json.dumps(rec.get("nodes", []), indent=2) + "\n",
             "felix.json": json.dumps(felix_settings(rec), indent=2) + "\n",
             "suite.json": json.dumps(suite_info(rec), indent=2) + "\n"}
    for name in ("summary.json", "report.html", "junit.xml"):
        src = reports / name
        if src.exists():
            write_atomic(staging / name, _clean(src.read_text(), reports))
    for name, text in extra.items():
        write_atomic(staging / name, _clean(text, reports))
    evidence = Path(rec.get("evidence_dir") or reports / "evidence")
    if evidence.is_dir():
        for pcap in sorted(evidence.rglob("*.pcap*")):
            dest = staging / "evidence" / pcap.relative_to(evidence)
            if dest.resolve() != pcap.resolve():
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(pcap, dest)


def write_bundle(reports: Path, dest: Path) -> Path:
    """The bundle at ``dest`` (a directory, or a file ending .tar.gz / .tgz); returns ``dest``."""
    reports, dest = Path(reports), Path(dest)
    if dest.name.endswith(ARCHIVES):
        check_destination(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".cc-bundle-", dir=dest.parent) as tmp:
            staging = Path(tmp) / "bundle"
            staging.mkdir()
            _fill(staging, reports)
            write_tar_gz(staging, dest)
        return dest
    check_destination(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in FILES:            # an earlier bundle's files, which this one replaces
        (dest / name).unlink(missing_ok=True)
    shutil.rmtree(dest / "evidence", ignore_errors=True)
    _fill(dest, reports)
    return dest


def read_summary(bundle: Path) -> dict:
    """summary.json of a bundle (directory or .tar.gz) or of a reports directory, or a summary.json.
    A damaged one is a ``ValueError`` saying what is wrong with it, in a few words."""
    bundle = Path(bundle)
    if bundle.is_dir():
        bundle = bundle / "summary.json"
    try:
        if bundle.name.endswith(ARCHIVES):
            with tarfile.open(bundle) as tar:
                try:
                    member = tar.extractfile("summary.json")
                except KeyError:
                    member = None
                if member is None:
                    raise ValueError("the archive has no summary.json")
                text = member.read()
        else:
            text = bundle.read_bytes()
        rec = json.loads(text)
    except OSError as exc:
        raise ValueError(exc.strerror or str(exc)) from None
    except (tarfile.TarError, EOFError, zlib.error):
        raise ValueError("not a whole .tar.gz (truncated or damaged)") from None
    except UnicodeDecodeError:
        raise ValueError("summary.json is not text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"summary.json is not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(rec, dict) or not isinstance(rec.get("checks"), list):
        raise ValueError("not a calico-conformance run record (no list of checks in it)")
    return rec


def write_tar_gz(directory: Path, dest: Path) -> None:
    """``directory``'s files as a .tar.gz at ``dest`` (names relative to it, in order), written
    atomically: a reader never sees half an archive."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                tar.add(path, arcname=str(path.relative_to(directory)))
    write_atomic(dest, buf.getvalue())
