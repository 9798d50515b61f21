"""The Calico tags this project knows how to build felix from and has judged, in one place.
Why these two: docs/real-calico.md."""
from __future__ import annotations

import re

from calico_conformance.vocabulary.errors import UsageError

# v3.29.7: the line the v3.29 install page documents; v3.31.7: the newest release line.
SUPPORTED = ("v3.29.7", "v3.31.7")
DEFAULT = "v3.29.7"
# A developer's checkout whose HEAD carries no tag (and no --calico-version) is built as this.
DEV = "dev"

_SAFE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


def numbers(tag: str) -> tuple[int, ...]:
    """(3, 31, 7) for v3.31.7 (and v3.31.7-rc1); a name that is not a release (a developer's
    "dev" build) counts as the newest."""
    try:
        return tuple(int(x) for x in tag.lstrip("v").split("-")[0].split("."))
    except ValueError:
        return (99,)


def check(tag: str | None, *, directory: bool) -> None:
    """``tag`` as --calico-version gave it: one of SUPPORTED, or anything (a path-safe name) when
    the source is a checkout, which is built as what it is."""
    if tag is None:
        return
    if not _SAFE.fullmatch(tag):
        raise UsageError(f"--calico-version {tag!r}: not a tag name (e.g. {DEFAULT})")
    if not directory and tag not in SUPPORTED:
        raise UsageError(f"--calico-version {tag}: this project builds and has judged {', '.join(SUPPORTED)}; "
                         "choose one, or give a Calico checkout with --calico-source DIR to build another")
