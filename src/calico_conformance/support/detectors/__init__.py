"""One detector per matrix entry (``detector:`` in matrix.yaml), registered by name.

A detector takes a ``Context`` and returns an ``Observation``: present (with where), absent (with
what was looked at) or unknown (with why). It never decides severity; the matrix does.
"""
from __future__ import annotations

from typing import Callable

from calico_conformance.support.observation import Context, Observation

DETECTORS: dict[str, Callable[[Context], Observation]] = {}


def detector(name: str):
    def register(fn: Callable[[Context], Observation]):
        DETECTORS[name] = fn
        return fn
    return register


# Importing the modules registers their detectors.
from calico_conformance.support.detectors import (calico, distributions, node_probes, nodes,  # noqa: E402,F401
                                                  policy, services)
