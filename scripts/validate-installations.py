#!/usr/bin/env python3
"""Check every custom resource the installer creates against operator releases' own CRDs.

    .venv/bin/python scripts/validate-installations.py LABEL=PATH[,PATH] ... [--record FILE]

Each PATH is a CRD file (operator.tigera.io_installations.yaml, ..._apiservers.yaml) or a whole
operator manifest (tigera-operator.yaml / operator-crds.yaml); LABEL names the release, e.g.
"tigera/operator v1.40.15 (Calico v3.31.7)". The Installation's CRD must be among them; a kind
whose CRD is not is reported "not checked". Every sample of src/calico_conformance/install/samples.py (one per
distribution and option set) is checked as the API server would: schema errors and pruned fields.

The operator's CRDs are fetched files, not ours to commit. ``--record FILE`` writes what was
checked instead: each sample's digest and, per release, the CRD's digest and the verdict. The
project's tests hold the installer to that record, so an object that changed since it was checked
fails CI until this script is run again against the real CRDs.

Exit status: 0 every sample valid against every CRD, 1 some sample invalid, 2 bad input.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))   # run from a checkout even where the package is not installed

import yaml  # noqa: E402

from calico_conformance.install import crd_schema, samples  # noqa: E402

RECORD_HEADER = """\
# Which operator releases' own CRDs the installer's custom resources were checked against.
# Written by scripts/validate-installations.py --record; tests/test_installation_crd.py
# fails when a sample's object no longer has the digest recorded here (run the script again).
"""


def _fail(message: str):
    print(f"validate-installations: {message}", file=sys.stderr)
    raise SystemExit(2)


def _release(arg: str) -> tuple[str, list[Path]]:
    label, sep, paths = arg.rpartition("=")
    if not sep or not label.strip():
        _fail(f"{arg!r}: give LABEL=PATH[,PATH], e.g. "
                         "'tigera/operator v1.40.15=operator.tigera.io_installations.yaml'")
    files = [Path(p) for p in paths.split(",")]
    for path in files:
        if not path.is_file():
            _fail(f"{path}: no such file")
    return label.strip(), files


def load_crds(path: Path) -> list[dict]:
    try:
        docs = list(yaml.load_all(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    except yaml.YAMLError as exc:
        _fail(f"{path} is not valid YAML: {str(exc).splitlines()[0]}")
    crds = [d for d in docs if isinstance(d, dict) and d.get("kind") == "CustomResourceDefinition"]
    if not crds:
        _fail(f"{path} holds no CustomResourceDefinition")
    return crds


def schemas_for(crds: list[dict], objects: dict[str, dict]) -> dict[str, crd_schema.CrdSchema]:
    """{"sample/Kind": the schema that checks it}, for the objects the files hold a schema for."""
    found = {key: crd_schema.find(crds, obj["apiVersion"], obj["kind"]) for key, obj in objects.items()}
    return {key: crd for key, crd in found.items() if crd is not None and not crd.is_open}


def check(schemas: dict[str, crd_schema.CrdSchema], objects: dict[str, dict]) -> dict[str, list[str] | None]:
    """{"sample/Kind": problems}, None where the files hold no schema for the kind."""
    return {key: crd_schema.problems(obj, schemas[key]) if key in schemas else None
            for key, obj in objects.items()}


def _descriptions(node) -> str:
    """Every description in the CRDs, whitespace folded: where the installer's crd- statements
    must stand word for word."""
    if isinstance(node, dict):
        own = [" ".join(node["description"].split())] if isinstance(node.get("description"), str) else []
        return " ".join(own + [_descriptions(v) for v in node.values() if isinstance(v, (dict, list))])
    if isinstance(node, list):
        return " ".join(_descriptions(v) for v in node)
    return ""


def crd_statements() -> dict[str, str]:
    """The installer's statements quoted from operator CRDs rather than the documents."""
    from calico_conformance.install import data
    return {sid: " ".join(e["text"].split()) for sid, e in data.raw()["statements"].items()
            if str(e["doc"]).startswith("crd-")}


def _verdict(found: list[str] | None) -> str:
    return "not checked (no schema for it given)" if found is None else "valid" if not found else "INVALID: " + "; ".join(found)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("\n\n", 2)[2])
    parser.add_argument("releases", nargs="+", metavar="LABEL=PATH", help="an operator release and its CRD file")
    parser.add_argument("--record", metavar="FILE", help="write the record of this check (only if all valid)")
    args = parser.parse_args(argv)

    objects = samples.rendered()
    validated, failed = [], False
    for label, paths in map(_release, args.releases):
        crds = [crd for path in paths for crd in load_crds(path)]
        if crd_schema.find(crds, "operator.tigera.io/v1", "Installation") is None:
            _fail(f"{label}: no Installation CRD (operator.tigera.io/v1) in {', '.join(map(str, paths))}")
        schemas = schemas_for(crds, objects)
        results = check(schemas, objects)
        described = _descriptions(crds)
        used = {c.crd_name: c for c in schemas.values()}
        rules = sum(crd_schema.unevaluated_rules(c.schema) for c in used.values())
        print(f"== {label} ({', '.join(p.name for p in paths)})")
        if rules:
            print(f"  note: {rules} CEL rule(s) (x-kubernetes-validations) in "
                  f"{', '.join(sorted(used))} not evaluated; read them in the CRDs")
        for key, found in results.items():
            print(f"  {key:45s} {_verdict(found)}")
        if any(results.values()):
            failed = True
            continue
        validated.append({"release": label,
                          "files": {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in paths},
                          "checked": sorted({k.split("/")[1] for k, found in results.items() if found is not None}),
                          "not_checked": sorted({k.split("/")[1] for k, found in results.items() if found is None}),
                          "cel_rules_not_evaluated": rules,
                          "statements_found": sorted(sid for sid, text in crd_statements().items()
                                                     if text in described),
                          "result": f"{len(objects)} objects of {len(samples.SAMPLES)} samples valid"})
    if failed:
        print("validate-installations: some samples do not validate; no record written" if args.record
              else "validate-installations: some samples do not validate", file=sys.stderr)
        return 1
    if args.record:
        record = {"checked_on": datetime.date.today().isoformat(), "releases": validated,
                  "samples": {key: samples.digest(obj) for key, obj in objects.items()}}
        Path(args.record).write_text(RECORD_HEADER + yaml.safe_dump(record, sort_keys=False, width=120))
        print(f"validate-installations: record written to {args.record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
