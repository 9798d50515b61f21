"""Targets by name (testinfra's backend registry, in small).

A target module defines ``add_options(group)``, ``check(options)`` (what can be refused before
anything is built) and ``create(options) -> Target``, where ``options`` has a
``getoption(name)`` method (pytest's config, or any object with the same method). It may define
``info_request(options) -> str | None``: text to print instead of running (``--lab-dataplane
list``), ``prepare(options, progress)``: what `calico-conformance run` builds before a first
run (the lab's real components), and ``header(options) -> list[str]``: lines for pytest's header. Target modules import the kubernetes client only inside functions, so naming them here
costs ``--help`` and the lab nothing.
"""
from __future__ import annotations

from calico_conformance.realk8s.gotool import BuildError
from calico_conformance.targets import kind, kubeconfig, lab, ssh
from calico_conformance.vocabulary.errors import UsageError

TARGET_MODULES = {"lab": lab, "kind": kind, "kubeconfig": kubeconfig, "ssh": ssh}


def names() -> list[str]:
    return sorted(TARGET_MODULES)


def module(name: str):
    try:
        return TARGET_MODULES[name]
    except KeyError:
        raise UsageError(f"unknown target {name!r}; choose one of: {', '.join(names())}") from None


def check(name: str, options) -> None:
    """Cheap checks a target can make before anything is built (raise UsageError)."""
    checker = getattr(module(name), "check", None)
    if checker:
        checker(options)


def prepare(name: str, options, progress) -> None:
    """What a target builds before its first run on a machine (the lab's real components), with
    progress lines; optional (``prepare(options, progress)``). A build step that fails is an
    environment error: one line naming the step, and the run does not start."""
    preparer = getattr(module(name), "prepare", None)
    if not preparer:
        return
    try:
        preparer(options, progress)
    except BuildError as exc:
        hint = (" (for `run`: set the variable, or build first with `calico-conformance lab build felix "
                "--calico-source ...`)" if exc.step == "felix source" else "")
        raise UsageError(f"cannot build what this run needs: step `{exc.step}` failed: {exc.reason}{hint}") from None


def header(name: str, options) -> list[str]:
    """The run's first lines: the target's own where it says more of itself, else its name."""
    described = getattr(TARGET_MODULES.get(name), "header", None)
    return described(options) if described else [f"calico-conformance: target {name}"]


def info_request(name: str, options) -> str | None:
    """What the target prints instead of running, when its options ask for that (a listing)."""
    asked = getattr(module(name), "info_request", None)
    return asked(options) if asked else None


def add_all_options(parser) -> None:
    for mod in TARGET_MODULES.values():
        mod.add_options(parser)
