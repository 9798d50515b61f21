"""Option plumbing shared by the real-cluster targets: a group from a pytest parser (or a group
given directly), options that pytest-kind-ng may already define (--kubeconfig, --cluster-name,
--keep-cluster) added only once, and reading an option that may not exist."""
from __future__ import annotations

import importlib.util
import os
import sys

from calico_conformance.redact import redact_text

GROUP = ("calico-conformance real clusters", "real clusters (--target kind | kubeconfig | ssh)")


def group_of(parser_or_group):
    return parser_or_group.getgroup(*GROUP) if hasattr(parser_or_group, "getgroup") else parser_or_group


def add_once(group, *names, **attrs) -> None:
    """Add an option that pytest-kind-ng also defines (--kubeconfig, --cluster-name, --keep-cluster,
    --kind-bin, same meaning) only when that plugin is not installed: it may register before or
    after us, and pytest refuses a second definition either way."""
    if importlib.util.find_spec("pytest_kind") is not None:
        return
    try:
        group.addoption(*names, **attrs)
    except ValueError:   # defined by some other plugin already
        pass


def opt(options, name: str, default=None):
    try:
        value = options.getoption(name)
    except (ValueError, AttributeError, KeyError):
        return default
    return default if value is None else value


def per_worker(name: str) -> str:
    """xdist runs one target per worker: give each its own namespace / kind cluster."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    return f"{name}-{worker}" if worker else name


def progress(line: str) -> None:
    print(f"calico-conformance: {redact_text(line)}", file=sys.stderr, flush=True)
