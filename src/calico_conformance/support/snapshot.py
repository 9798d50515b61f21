"""Offline mode: read ``kubectl get ... -o json|yaml`` output and ``kubectl cluster-info dump``
(a directory tree, or the JSON documents it prints back to back) into an ``Inventory``.

Real dumps are messy. A file or object that cannot be read becomes a warning naming the file
(and the object or field); only a snapshot with nothing usable at all is an error.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from calico_conformance.support import kinds
from calico_conformance.support.inventory import Inventory
from calico_conformance.vocabulary.errors import UsageError

READ_SUFFIXES = (".json", ".yaml", ".yml", ".txt")
# What is read is capped, so memory stays bounded whatever the input (docs/bad-inputs.md):
# `kubectl get -o json` of 6000 nodes is ~64 MiB, ~0.6 M containers, ~2.3 M commas + lines,
# and ~200 MB once parsed; 50 MB of bare `[],` would be 17 M lists and 1.3 GB.
MAX_FILE_BYTES = 64 << 20
MAX_SNAPSHOT_BYTES = 256 << 20     # all files of a directory together
MAX_CONTAINERS = 1_000_000         # `{` and `[` in a file (an upper bound on its objects and lists)
MAX_SEPARATORS = 4_000_000         # commas and newlines (an upper bound on its values)
MAX_DEPTH = 100                    # Kubernetes objects nest ~20 deep (managedFields)
SKIP_NAMES = {"logs.txt"}          # pod logs inside a cluster-info dump tree
# Pod logs that `kubectl cluster-info dump` prints between its JSON documents.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)    # libyaml: ~10x faster, same results
_LOG_SECTION = re.compile(r"^==== START logs for .*?(?:^==== END logs for [^\n]*(?:\n|$)|\Z)", re.M | re.S)


def load_snapshot(path: str | Path) -> Inventory:
    root = Path(path)
    if not root.exists():
        raise UsageError(f"snapshot {path} does not exist; pass a file or a directory of "
                         "`kubectl get ... -o json` / `kubectl cluster-info dump` output")
    inv = Inventory(origin=f"snapshot {path}")
    if root.is_file():
        files = [(root, root.name)]
    else:
        files = [(f, str(f.relative_to(root))) for f in sorted(root.rglob("*"))
                 if f.is_file() and f.suffix.lower() in READ_SUFFIXES and f.name not in SKIP_NAMES]
    budget = MAX_SNAPSHOT_BYTES
    for file, name in files:
        budget -= _load_file(inv, file, name, budget)
    if not inv.objects:
        why = f" ({'; '.join(inv.warnings[:3])})" if inv.warnings else ""
        raise UsageError(f"found no Kubernetes objects in snapshot {path}{why}; pass the output of "
                         "`kubectl get nodes,daemonsets,configmaps -A -o json` or `kubectl cluster-info dump`")
    return inv


def _load_file(inv: Inventory, file: Path, name: str, budget: int) -> int:
    """Reads one file into ``inv``; -> the bytes it read."""
    try:
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            inv.warn(f"{name}: {size >> 20} MiB, over the {MAX_FILE_BYTES >> 20} MiB a file may have; "
                     "skipped (dump only the kinds preflight reads: `kubectl get nodes,daemonsets,"
                     "configmaps,services -A -o json`)")
            return 0
        if size > budget:
            inv.warn(f"{name}: skipped, the snapshot's files pass {MAX_SNAPSHOT_BYTES >> 20} MiB "
                     "together; leave pod logs and events out of the dump")
            return 0
        with file.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)    # the file may have grown since stat()
    except OSError as exc:
        inv.warn(f"{name}: cannot read ({exc.strerror or exc}); skipped")
        return 0
    _load_bytes(inv, data[:MAX_FILE_BYTES], name, file.suffix.lower())
    return len(data)


def _too_complex(data: bytes) -> str:
    """Why parsing these bytes could take far more memory than real dumps do, or ""."""
    containers = data.count(b"{") + data.count(b"[")
    if containers > MAX_CONTAINERS:
        return f"{containers} brackets, over the {MAX_CONTAINERS} a snapshot file may have"
    separators = data.count(b",") + data.count(b"\n")
    if separators > MAX_SEPARATORS:
        return f"{separators} values, over the {MAX_SEPARATORS} a snapshot file may have"
    return ""


def _too_deep(doc: Any) -> str:
    """Why a parsed document is beyond what a Kubernetes object can be, or "". YAML aliases
    count each time they are used, so an alias bomb is caught before anything expands it."""
    stack, seen = [(doc, 1)], 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if depth > MAX_DEPTH:
            return f"nested more than {MAX_DEPTH} levels deep"
        if seen > MAX_CONTAINERS:
            return f"more than {MAX_CONTAINERS} objects and lists (YAML aliases?)"
        values = node.values() if isinstance(node, dict) else node
        stack.extend((v, depth + 1) for v in values if isinstance(v, (dict, list)))
    return ""


def _load_bytes(inv: Inventory, data: bytes, name: str, suffix: str) -> None:
    why = _too_complex(data)
    if why:
        inv.warn(f"{name}: {why}; skipped (this is not `kubectl get -o json|yaml` output)")
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        inv.warn(f"{name}: not UTF-8 text; skipped")
        return
    if not text.strip():
        inv.warn(f"{name}: empty; skipped")
        return
    try:
        docs = _parse(inv, text, name, yaml_first=suffix in (".yaml", ".yml"))
    except RecursionError:
        inv.warn(f"{name}: nested deeper than any Kubernetes object; skipped")
        return
    file_kind = kinds.from_filename(name)
    for doc in docs:
        why = _too_deep(doc) if isinstance(doc, (dict, list)) else ""
        if why:
            inv.warn(f"{name}: a document is {why}; skipped")
            continue
        _add_doc(inv, doc, name, file_kind)


def _parse(inv: Inventory, text: str, name: str, *, yaml_first: bool) -> list[Any]:
    if not yaml_first:
        try:
            return [json.loads(text)]
        except ValueError:
            pass
        stream = _json_stream(text)
        if stream is not None:
            docs, skipped = stream
            if skipped:
                inv.warn(f"{name}: {skipped} line(s) that are neither JSON nor pod logs; skipped")
            return docs
    docs, error = _yaml_docs(text)
    if error and not docs:
        inv.warn(f"{name}: not valid JSON or YAML ({error}); skipped")
    elif error:
        inv.warn(f"{name}: YAML error after {len(docs)} document(s) ({error}); the rest is skipped")
    return docs


def _json_stream(text: str) -> tuple[list[Any], int] | None:
    """Several JSON documents back to back (``kubectl cluster-info dump`` to stdout)."""
    text = _LOG_SECTION.sub("", text)
    decoder, docs, skipped, i, n = json.JSONDecoder(), [], 0, 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text[i] in "{[":
            try:
                doc, i = decoder.raw_decode(text, i)
                docs.append(doc)
                continue
            except ValueError:
                pass
        skipped += 1
        nl = text.find("\n", i)
        i = n if nl < 0 else nl + 1
    return (docs, skipped) if docs else None


def _yaml_docs(text: str) -> tuple[list[Any], str]:
    docs, error = _yaml_docs_with(text, _YAML_LOADER)
    if error and _YAML_LOADER is not yaml.SafeLoader:
        # libyaml counts lines and words its errors differently; report as PyYAML does
        docs, error = _yaml_docs_with(text, yaml.SafeLoader)
    return docs, error


def _yaml_docs_with(text: str, loader) -> tuple[list[Any], str]:
    docs: list[Any] = []
    try:
        for doc in yaml.load_all(text, Loader=loader):
            docs.append(doc)
    except (yaml.YAMLError, ValueError, TypeError) as exc:   # YAML error, bad timestamp, unhashable key
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        return docs, f"{where}{getattr(exc, 'problem', None) or exc.__class__.__name__}"
    return docs, ""


def _add_doc(inv: Inventory, doc: Any, name: str, file_kind: str | None) -> None:
    if doc is None:
        return
    if isinstance(doc, list):            # a bare YAML/JSON list of objects
        for i, item in enumerate(doc):
            _add_item(inv, item, name, i, hint=None, file_kind=file_kind)
        return
    if not isinstance(doc, dict):
        inv.warn(f"{name}: a document is a {type(doc).__name__}, not a Kubernetes object; skipped")
        return
    items = doc.get("items")
    if "items" in doc and (isinstance(items, list) or items is None):
        hint = _item_kind(doc)
        listed = hint or file_kind
        if listed and listed != "Secret":
            inv.listed.add(listed)       # an empty NodeList still says "no nodes"
        for i, item in enumerate(items or []):
            _add_item(inv, item, name, i, hint=hint, file_kind=file_kind)
        return
    _add_item(inv, doc, name, None, hint=None, file_kind=file_kind)


def _item_kind(doc: dict) -> str | None:
    """NodeList -> Node; IPPoolList (crd.projectcalico.org) -> calico/IPPool; List -> None."""
    kind = doc.get("kind")
    if isinstance(kind, str) and kind.endswith(kinds.LIST_SUFFIX) and kind != kinds.LIST_SUFFIX:
        return kinds.qualify(kind[: -len(kinds.LIST_SUFFIX)], doc.get("apiVersion"), {})
    return None


def _add_item(inv: Inventory, item: Any, name: str, index: int | None, *,
              hint: str | None, file_kind: str | None) -> None:
    label = f"item {index}" if index is not None else "the object"
    if not isinstance(item, dict):
        inv.warn(f"{name}: {label} is a {type(item).__name__}, not an object; skipped")
        return
    kind = item.get("kind")
    if isinstance(kind, str) and kind:
        inv.add(item, name)
        return
    guessed = hint or kinds.from_shape(item) or file_kind
    if guessed is None:
        meta = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
        who = f"{label} ({meta['name']})" if isinstance(meta.get("name"), str) else label
        inv.warn(f"{name}: {who} has no kind and its shape is not one this tool knows; "
                 "skipped (add kind and apiVersion)")
        return
    if not guessed.startswith("calico/"):
        guessed = kinds.qualify(guessed, item.get("apiVersion"), item)
    inv.add(item, name, kind=guessed)
