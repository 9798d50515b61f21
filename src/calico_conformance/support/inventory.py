"""The cluster's objects as the detectors read them: by kind, tolerant of missing or redacted
fields, each remembering where it came from so a warning can name the file and field."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

from calico_conformance.support import kinds

MAX_WARNINGS = 50


@dataclass
class Obj:
    raw: dict
    kind: str          # qualified: "Node", "calico/IPPool", ...
    source: str        # "nodes.json", "the API", ...

    def get(self, path: str, default: Any = None) -> Any:
        """A dotted path (``status.nodeInfo.kernelVersion``); ``default`` when any step is missing."""
        node: Any = self.raw
        for part in path.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    def dict_at(self, path: str) -> dict:
        value = self.get(path)
        return value if isinstance(value, dict) else {}

    def list_at(self, path: str) -> list:
        value = self.get(path)
        return value if isinstance(value, list) else []

    @property
    def name(self) -> str:
        name = self.get("metadata.name")
        return name if isinstance(name, str) and name else "<unnamed>"

    @property
    def namespace(self) -> str:
        ns = self.get("metadata.namespace")
        return ns if isinstance(ns, str) else ""

    @property
    def labels(self) -> dict[str, str]:
        return {k: v for k, v in self.dict_at("metadata.labels").items() if isinstance(v, str)}

    @property
    def annotations(self) -> dict[str, str]:
        return {k: v for k, v in self.dict_at("metadata.annotations").items() if isinstance(v, str)}

    @property
    def api_version(self) -> str:
        value = self.raw.get("apiVersion")
        return value if isinstance(value, str) else ""

    def ref(self) -> str:
        """``Node ip-10-0-1-5 (nodes.json)`` - what a finding's evidence names."""
        kind = self.kind.replace("calico/", "")
        name = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{kind} {name} ({self.source})"


@dataclass
class Inventory:
    objects: list[Obj] = field(default_factory=list)
    listed: set[str] = field(default_factory=set)     # kinds whose absence means "none exist"
    warnings: list[str] = field(default_factory=list)
    origin: str = ""                                  # "snapshot DIR", "live: context X", ...

    @classmethod
    def from_objects(cls, objects: Iterable[dict], source: str, origin: str = "") -> "Inventory":
        """Objects from a target or the API; every kind seen counts as listed."""
        inv = cls(origin=origin or source)
        for raw in objects:
            inv.add(raw, source)
        return inv

    def add(self, raw: dict, source: str, kind: str | None = None) -> Obj | None:
        kind = kind or (kinds.qualify(raw["kind"], raw.get("apiVersion"), raw)
                        if isinstance(raw.get("kind"), str) and raw.get("kind") else None)
        if kind is None:
            return None
        if kind == "Secret":      # never keep secrets: nothing here needs them
            return None
        obj = Obj(raw, kind, source)
        self._check_shape(obj)
        self.objects.append(obj)
        self.listed.add(kind)
        return obj

    # Fields every detector leans on; a redacted or mangled one is worth a warning, once.
    _SHAPES = (("metadata", dict), ("metadata.labels", dict), ("metadata.annotations", dict),
               ("spec", dict), ("status", dict), ("status.nodeInfo", dict), ("status.addresses", list),
               ("data", dict))

    def _check_shape(self, obj: Obj) -> None:
        for path, want in self._SHAPES:
            value = obj.get(path)
            if value is not None and not isinstance(value, want):
                shown = repr(value) if isinstance(value, (str, int, float, bool)) else type(value).__name__
                self.warn(f"{obj.source}: {obj.ref().split(' (')[0]}: field {path} is unreadable "
                          f"({shown[:40]}); ignored")

    def of(self, *kinds_: str) -> list[Obj]:
        return [o for o in self.objects if o.kind in kinds_]

    def has(self, *kinds_: str) -> bool:
        """True when at least one of these kinds was listed (so "no objects" means none exist)."""
        return any(k in self.listed for k in kinds_)

    def named(self, kind: str, name: str, namespace: str | None = None) -> Obj | None:
        for o in self.of(kind):
            if o.name == name and (namespace is None or o.namespace == namespace):
                return o
        return None

    def warn(self, message: str) -> None:
        if message in self.warnings:
            return
        if len(self.warnings) == MAX_WARNINGS:
            self.warnings.append("... more warnings left out")
        elif len(self.warnings) < MAX_WARNINGS:
            self.warnings.append(message)

    def text(self, obj: Obj, path: str) -> str | None:
        """A string field; a field that is there but not a string is reported as unreadable."""
        value = obj.get(path)
        if value is None or isinstance(value, str):
            return value
        self.warn(f"{obj.source}: {obj.ref().split(' (')[0]}: field {path} is unreadable "
                  f"({type(value).__name__} instead of text); ignored")
        return None
