"""What a detector reports, and what it is given to look at."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from calico_conformance.support.distro import Distribution
from calico_conformance.support.inventory import Inventory

PRESENT, ABSENT, UNKNOWN = "present", "absent", "unknown"


@dataclass(frozen=True)
class Observation:
    """present: the cluster has the thing (evidence says where); absent: it does not (evidence says
    what was looked at); unknown: cannot tell (evidence says why, e.g. "skipped: ...")."""
    state: str
    evidence: tuple[str, ...] = ()

    @classmethod
    def present(cls, *evidence: str) -> "Observation":
        return cls(PRESENT, tuple(evidence))

    @classmethod
    def absent(cls, *evidence: str) -> "Observation":
        return cls(ABSENT, tuple(evidence))

    @classmethod
    def unknown(cls, *evidence: str) -> "Observation":
        return cls(UNKNOWN, tuple(evidence))


@dataclass
class Context:
    inv: Inventory
    params: Mapping[str, Any] = field(default_factory=dict)
    distribution: Distribution | None = None
    # Nodes to probe (each with .name and .executor, e.g. calico_conformance.targets.base.Node); None when
    # there is no node access, and `no_nodes` says why.
    nodes: Sequence[Any] | None = None
    no_nodes: str = "no node access"
    datastore_fact: str | None = None   # a target's own statement of its datastore, if any
