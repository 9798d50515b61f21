"""Helpers for the installer tests: run the CLI in-process, split a --dry-run YAML stream, check
citations against the source documents, validate an Installation against the operator's schema."""
from __future__ import annotations

import glob
import os
import re
from pathlib import Path

import yaml

from calico_conformance.cli import main
from calico_conformance.install import crd_schema
from tests.apiserver import seeds

SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
# What scripts/validate-installations.py found against the releases' own CRDs.
CRD_RECORD = yaml.safe_load((Path(__file__).parent / "data" / "installation-crd-record.yaml").read_text())


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def split_stream(text: str) -> list[dict]:
    """[{comments: {key: value}, cites: [...], body: obj|None}] per document."""
    docs = []
    for chunk in text.split("---\n")[1:]:
        comments, cites = {}, []
        for line in chunk.splitlines():
            if line.startswith("# doc: "):
                cites.append(line[2:])
            elif line.startswith("# "):
                key, _, value = line[2:].partition(": ")
                comments.setdefault(key.split(" ")[0], value)
        docs.append({"comments": comments, "cites": cites, "body": yaml.safe_load(chunk), "text": chunk})
    return docs


def _norm(text: str) -> str:
    text = re.sub(r"(?m)^\s*> ?", "", text)
    text = text.replace("{{site.prodname}}", "Calico").replace("{{ site.prodname }}", "Calico")
    text = re.sub(r"[`*_]", "", text)
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r" (?=[,.;:)'’\-])", "", text)
    text = re.sub(r"(?<=[(\-]) ", "", text)
    return text.replace("’", "'")


def documents() -> dict[str, str]:
    if not SEEDS.is_dir():   # CI clones with shared/ beside the repo; a bare clone has none
        import pytest
        pytest.skip(f"skipped: the source documents are not at {SEEDS}")
    return {"v3.29": _norm(Path(glob.glob(str(SEEDS / "001_*.txt"))[0]).read_text()),
            "older": _norm(Path(glob.glob(str(SEEDS / "000_*.txt"))[0]).read_text())}


def cited_text_is_in_document(cite: str, docs: dict[str, str]) -> bool:
    m = re.fullmatch(r'doc: (\S+) "(.*)"', cite)
    return bool(m) and _norm(m.group(2)) in docs[m.group(1)]


# The operator's own Installation CRD cannot be committed here (it is fetched, not written by us);
# when it is given (env var, or placed under shared/crds/ beside the repo) it is validated against too.
SHARED_CRD = SEEDS.parent / "crds" / "operator.tigera.io_installations.yaml"


def operator_crd_path() -> str | None:
    given = os.environ.get("CC_OPERATOR_INSTALLATION_CRD")
    return given or (str(SHARED_CRD) if SHARED_CRD.is_file() else None)


def _crds_of(path) -> list[dict]:
    return [d for d in yaml.load_all(Path(path).read_text(), Loader=yaml.CSafeLoader) if d]


def validate_installation(obj: dict) -> None:
    """Against the test manifest's subset schema and, when given, the operator's real CRD."""
    assert obj["metadata"]["name"] == "default"      # the operator reconciles only "default"
    sources = [seeds.OPERATOR_MANIFEST] + ([operator_crd_path()] if operator_crd_path() else [])
    for source in sources:
        crd = crd_schema.find(_crds_of(source), obj["apiVersion"], obj["kind"])
        assert crd is not None and not crd.is_open, f"{source} has no Installation schema"
        assert crd_schema.problems(obj, crd) == [], source
