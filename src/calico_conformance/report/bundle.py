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
from pathlib import Path

import pytest

from calico_conformance.atomic import write_atomic
from calico_conformance.redact import redact_text

TEXT = (".json", ".xml", ".html", ".md", ".txt")


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
    if dest.name.endswith((".tar.gz", ".tgz")):
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".cc-bundle-", dir=dest.parent) as tmp:
            staging = Path(tmp) / "bundle"
            staging.mkdir()
            _fill(staging, reports)
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w:gz") as tar:
                for path in sorted(staging.rglob("*")):
                    if path.is_file():
                        tar.add(path, arcname=str(path.relative_to(staging)))
            write_atomic(dest, buf.getvalue())
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    _fill(dest, reports)
    return dest


def read_summary(bundle: Path) -> dict:
    """summary.json of a bundle (directory or .tar.gz) or of a reports directory, or a summary.json."""
    bundle = Path(bundle)
    if bundle.is_dir():
        bundle = bundle / "summary.json"
    if bundle.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(bundle) as tar:
            member = tar.extractfile("summary.json")
            if member is None:
                raise OSError(f"{bundle} has no summary.json")
            return json.loads(member.read())
    return json.loads(bundle.read_text())
