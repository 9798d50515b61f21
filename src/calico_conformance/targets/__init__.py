"""Targets by name, imported lazily so that ``--help`` and the lab never pay for the kubernetes
client (testinfra's backend registry, in small).

A target module defines ``add_options(group)`` (cheap: no heavy imports at module level) and
``create(options) -> Target``, where ``options`` has a ``getoption(name)`` method (pytest's config,
or ``calico_conformance.options.Options`` outside pytest).
"""
from __future__ import annotations

import importlib

TARGET_MODULES = {
    "lab": "calico_conformance.targets.lab",
    "kind": "calico_conformance.targets.kind",
    "kubeconfig": "calico_conformance.targets.kubeconfig",
    "ssh": "calico_conformance.targets.ssh",
}


def names() -> list[str]:
    return sorted(TARGET_MODULES)


def module(name: str):
    from calico_conformance.errors import UsageError
    try:
        path = TARGET_MODULES[name]
    except KeyError:
        raise UsageError(f"unknown target {name!r}; choose one of: {', '.join(names())}") from None
    return importlib.import_module(path)


def check(name: str, options) -> None:
    """Cheap checks a target can make before anything is built (raise UsageError)."""
    checker = getattr(module(name), "check", None)
    if checker:
        checker(options)


def add_all_options(parser) -> None:
    for name in names():
        module(name).add_options(parser)
