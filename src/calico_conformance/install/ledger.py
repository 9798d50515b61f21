"""What the installer changed and how to undo it, kept in the cluster (a ConfigMap next to the
operator) so that `calico-conformance uninstall` in another process can revert it, newest first.
Only changes are recorded: objects that were already there and left alone are not."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from calico_conformance.install import data

LEDGER_NAME = "calico-conformance-install"
LEDGER_KEY = "ledger.json"


def inverse_merge_patch(prior: dict, patch: dict) -> dict:
    """The merge patch that puts back what ``patch`` changes in ``prior`` (null = was absent)."""
    out = {}
    for key, value in patch.items():
        before = prior.get(key) if isinstance(prior, dict) else None
        if isinstance(value, dict) and isinstance(before, dict):
            out[key] = inverse_merge_patch(before, value)
        else:
            out[key] = before
    return out


@dataclass
class Entry:
    undo: str                  # "delete" or "patch"
    target: list               # [apiVersion, kind, name, namespace]
    patch: dict | None = None
    patch_type: str = "merge"
    restart_after: list | None = None
    step: str = ""
    cite: str = ""

    def describe(self) -> str:
        api_version, kind, name, ns = self.target
        where = f"{ns}/" if ns else ""
        return f"{self.undo} {api_version} {kind} {where}{name}"


class Ledger:
    def __init__(self, entries: list[Entry] | None = None):
        self.entries = entries or []

    @property
    def namespace(self) -> str:
        return data.defaults()["operator_namespace"]

    def add(self, kube, entry: Entry) -> None:
        self.entries.append(entry)
        self.save(kube)

    def save(self, kube) -> None:
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": LEDGER_NAME, "namespace": self.namespace,
                             "labels": {"app.kubernetes.io/managed-by": "calico-conformance"}},
                "data": {LEDGER_KEY: json.dumps([asdict(e) for e in self.entries], indent=1)}}
        if kube.get("v1", "Namespace", self.namespace) is None:
            return     # nothing to record yet: the namespace is our first change
        kube.create_or_merge(body)

    @classmethod
    def load(cls, kube) -> "Ledger | None":
        cm = kube.get("v1", "ConfigMap", LEDGER_NAME, data.defaults()["operator_namespace"])
        if cm is None:
            return None
        return cls([Entry(**e) for e in json.loads((cm.get("data") or {}).get(LEDGER_KEY, "[]"))])

    def forget(self, kube) -> None:
        kube.delete("v1", "ConfigMap", LEDGER_NAME, self.namespace)
