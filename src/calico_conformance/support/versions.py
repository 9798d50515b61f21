"""Calico versions: ``v3.29``, ``3.29`` and ``v3.29.1`` all name the ``v3.29`` row of the matrix."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from calico_conformance.vocabulary.errors import UsageError

_VERSION = re.compile(r"^[vV]?(\d+)\.(\d+)(?:\.(\d+))?(?:[-+][0-9A-Za-z.\-+]*)?$")


def parse(text: object) -> tuple[int, int] | None:
    """(major, minor) of a Calico version string, or None when it is not one."""
    if not isinstance(text, str):
        return None
    m = _VERSION.match(text.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def row(version: tuple[int, int]) -> str:
    return f"v{version[0]}.{version[1]}"


def key(row_name: str) -> tuple[int, int]:
    parsed = parse(row_name)
    if parsed is None:
        raise ValueError(f"not a version row: {row_name!r}")
    return parsed


def resolve(text: str, known: Sequence[str]) -> str:
    """The matrix row a user-given version selects; anything else is a usage error."""
    parsed = parse(text)
    if parsed is None or row(parsed) not in known:
        raise UsageError(f"unknown Calico version {text!r}; use one of {', '.join(known)} "
                         f"(v3.29, 3.29 and v3.29.1 all select v3.29)")
    return row(parsed)


@dataclass(frozen=True)
class VersionChoice:
    """Which row the cluster is held to, and why."""
    row: str
    source: str           # "given" | "detected" | "default"
    detail: str           # where it came from, in words

    def describe(self) -> str:
        return f"{self.row} ({self.source}: {self.detail})"


def nearest_known(version: tuple[int, int], known: Sequence[str]) -> tuple[str, str]:
    """A detected version outside the known rows is held to the closest one; say so."""
    keys = sorted(key(k) for k in known)
    name = row(version)
    if name in known:
        return name, ""
    if version > keys[-1]:
        return row(keys[-1]), f"{name} is newer than the newest row the project knows; evaluated as {row(keys[-1])}"
    if version < keys[0]:
        return row(keys[0]), f"{name} is older than the oldest row the project knows; evaluated as {row(keys[0])}"
    lower = max(k for k in keys if k < version)
    return row(lower), f"{name} has no row of its own; evaluated as {row(lower)}"


_RELEASE = re.compile(r"^[vV]?(\d+)\.(\d+)(?:\.(\d+))?")


def release(text: object) -> tuple[int, int, int] | None:
    """(major, minor, patch) of a Calico version or release string; a row (v3.29) counts as its
    newest patch, which the project does not know, so as patch 99."""
    if not isinstance(text, str):
        return None
    m = _RELEASE.match(text.strip())
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3)) if m.group(3) is not None else 99
