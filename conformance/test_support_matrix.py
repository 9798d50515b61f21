"""Unsupported-feature detection: the versioned support matrix (src/calico_conformance/support/matrix.yaml) as
checks, one per entry, against the target's API objects (``target.snapshot()``) and its nodes.

Unsupported -> fail (what was found, where, the document statement and version, what to do);
warning/info -> pass with the note recorded; data the target does not provide -> skipped.
"""
from __future__ import annotations

import pytest

from calico_conformance.support import calico_version, matrix
from calico_conformance.support.engine import Report, evaluate
from calico_conformance.support.inventory import Inventory

MATRIX = matrix.load()


@pytest.fixture(scope="module")
def support_report(target, request) -> Report:
    """Every entry evaluated once, for the version given with --calico-version, else the one the
    target runs, else the newest the project knows."""
    facts = target.facts()
    inv = Inventory.from_objects(target.snapshot(), source=f"target {target.name}",
                                 origin=f"target {target.name}")
    given = request.config.getoption("calico_version", default=None)
    choice = calico_version.choose(MATRIX, given, inv, fact=facts.calico_version)
    return evaluate(MATRIX, inv, choice, nodes=list(target.nodes()),
                    no_nodes="the target has no nodes to probe", datastore_fact=facts.datastore)


def _message(f, version) -> str:
    lines = [f"{f.id}: {f.title} - unsupported by Calico {version.describe()}", "found:"]
    lines += [f"  {e}" for e in f.evidence]
    lines += [f"the documents say (rule for {f.versions}):"]
    lines += [f"  [{c['doc']}] \u201c{c['quote']}\u201d" for c in f.citations]
    lines += [f"what to do: {f.remediation}"]
    return "\n".join(lines)


@pytest.mark.parametrize("entry_id", [pytest.param(e.id, id=e.id, marks=pytest.mark.check(e.id))
                                      for e in MATRIX.entries])
def test_cluster_set_up_is_supported(entry_id, support_report, record_property):
    """The cluster has nothing the install-in-eBPF-mode documents call unsupported for its version."""
    f = support_report.finding(entry_id)
    record_property("check_title", f.title)
    record_property("calico_version_row", support_report.version.describe())
    record_property("support_severity", f.severity)
    record_property("support_statement", f"[{f.doc}, {f.versions}] {f.statement}")
    if f.evidence:
        record_property("support_evidence", " | ".join(f.evidence))
    if f.severity == "unknown":
        reason = f.evidence[0] if f.evidence else "no data"
        pytest.skip(reason if reason.startswith("skipped:") else f"skipped: the target provides no data: {reason}")
    if f.severity == "unsupported":
        pytest.fail(_message(f, support_report.version), pytrace=False)
    if f.severity in ("warning", "info"):
        record_property("support_note", f"{f.severity}: {f.remediation}" if f.remediation else f.severity)
