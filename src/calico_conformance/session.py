"""What one run of the suite keeps in pytest's config: the target, its facts, each check's
evidence, and where captures go. Shared by the plugin's hooks and the fixtures in ``fixtures/``."""
from __future__ import annotations

from pathlib import Path

import pytest
from _pytest.junitxml import xml_key

from calico_conformance import targets
from calico_conformance.evidence.report import Evidence
from calico_conformance.vocabulary.errors import UsageError

FACTS_KEY = pytest.StashKey[dict]()
EVIDENCE_KEY = pytest.StashKey[Evidence]()
TARGET_KEY = pytest.StashKey[object]()


def evidence_root(config) -> Path:
    given = config.getoption("evidence_dir")
    if given:
        return Path(given)
    for report in (getattr(config.option, "htmlpath", None), getattr(config.option, "xmlpath", None)):
        if report:
            return Path(report).resolve().parent / "evidence"
    return Path("reports") / "evidence"


def clear_old_evidence(root: Path) -> None:
    """Captures from an earlier run must not pass for this one's. Only our own files go."""
    if not root.is_dir():
        return
    for pcap in root.rglob("*.pcap"):
        pcap.unlink()
    for sub in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        try:
            sub.rmdir()
        except OSError:
            pass


def worker_evidence_dir(config) -> Path:
    root = evidence_root(config)
    worker = getattr(config, "workerinput", {}).get("workerid")
    return root / worker if worker else root


def build_target(config):
    """Create the target named by --target once per process; its facts go to the reports."""
    try:
        tgt = targets.module(config.getoption("target")).create(config)
    except UsageError as exc:
        raise pytest.UsageError(f"calico-conformance: {exc}") from None
    config.stash[TARGET_KEY] = tgt
    config.add_cleanup(tgt.close)
    publish_facts(config, tgt.facts().as_properties())
    return tgt


def publish_facts(config, props: dict) -> None:
    if hasattr(config, "workerinput"):
        config.workeroutput["cc_facts"] = props   # the controller writes the reports
    else:
        record_facts(config, props)


def record_facts(config, props: dict) -> None:
    if config.stash.get(FACTS_KEY, None):
        return
    config.stash[FACTS_KEY] = props
    xml = config.stash.get(xml_key, None)
    if xml is not None:
        for key, value in props.items():
            xml.add_global_property(key, value)
