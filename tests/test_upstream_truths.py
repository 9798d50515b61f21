"""The upstream truth table is whole and every row is exercised: each profile it names exists and
is expected (tests/test_lab_verdicts.py) to give the verdicts the row says, each project test it
names exists, every check and every lab profile has a row, and docs/upstream-truths.md is current."""
import ast
import re
import subprocess
from pathlib import Path

import pytest

from calico_conformance import catalog, truths
from calico_conformance.lab import profiles
from suite_runner import REPO, needs_root
from test_lab_verdicts import expected as expected_verdicts

ROWS = truths.load()["rows"]


@pytest.mark.parametrize("rid", list(ROWS))
def test_row_is_cited_and_exercised_as_it_says(rid):
    row = ROWS[rid]
    assert row["code"] and all(" @ v3." in c for c in row["code"]), "every citation names a release tag"
    assert set(row["checks"]) <= set(catalog.load())
    assert row["exercised_by"] or row.get("not_yet"), "a row is exercised, or says why not yet"
    for ex in row["exercised_by"]:
        if "profile" in ex:
            assert ex["profile"] in profiles.PROFILES
            expected = expected_verdicts(ex["profile"])
            for cid, verdict in ex["expect"].items():
                assert expected[cid] == verdict, (rid, ex["profile"], cid)
        else:
            path, _, name = ex["test"].partition("::")
            tree = ast.parse((REPO / path).read_text())
            assert name in {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}, ex["test"]


@pytest.mark.parametrize("rid", [r for r in ROWS if ROWS[r].get("real_felix")])
def test_what_real_felix_showed_is_what_its_profile_is_expected_to_give(rid):
    """A row's real-felix confirmation names a real-felix profile, and the verdicts it quotes are
    the ones tests/test_real_felix.py holds that profile to."""
    for seen in ROWS[rid]["real_felix"]:
        assert profiles.get(seen["profile"]).real_felix, seen
        assert seen["seen"]
        for cid, verdict in seen["expect"].items():
            assert expected_verdicts(seen["profile"])[cid] == verdict, (rid, seen["profile"], cid)


def test_every_check_and_every_profile_has_a_row():
    named = {cid for r in ROWS.values() for cid in r["checks"]}
    assert set(catalog.load()) <= named
    exercised = {e["profile"] for r in ROWS.values() for e in r["exercised_by"] if "profile" in e}
    exercised |= {e["profile"] for r in ROWS.values() for e in r.get("real_felix", [])}
    missing = set(profiles.PROFILES) - exercised - set(truths.load()["profiles_without_a_row_of_their_own"])
    assert not missing, f"profiles no truth row exercises: {sorted(missing)}"


def test_docs_are_up_to_date():
    assert truths.DOC_PATH.read_text() == truths.markdown(truths.load()), "run: python -m calico_conformance.truths"


@needs_root
def test_lab_tunnel_sends_udp_checksum_zero(tmp_path):
    """Row nodeport-port-checksum: the lab's NodePort tunnel carries UDP checksum 0, as felix's."""
    import json
    import sys
    proc = subprocess.run([sys.executable, "-m", "calico_conformance.cli", "run", "--reports-dir", str(tmp_path),
                           "-q", "--check", "EBPF-NODEPORT-VXLAN"], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 6, proc.stdout[-2000:] + proc.stderr[-2000:]     # one check: partial, and it passed
    assert json.loads((tmp_path / "summary.json").read_text())["checks"][0]["outcome"] == "passed"
    pcap = next(Path(tmp_path, "evidence").rglob("node1-eth0.pcap"))
    out = subprocess.run([sys.executable, "-m", "calico_conformance.cli", "explain-pcap", "--json", "--frames", str(pcap)],
                         capture_output=True, text=True, timeout=60)
    frames = json.loads(out.stdout)["frames"]
    tunnelled = [f for f in frames if (f.get("encap") or {}).get("vni") == 0xCA11C0]
    assert tunnelled and all(f["encap"]["udp_checksum"] == 0 for f in tunnelled)


@pytest.mark.parametrize("name", [p for p in profiles.PROFILES if p.startswith("defect-")])
def test_every_defect_names_the_truth_it_contradicts(name):
    """A defect profile's summary ends in [truth: ROW], and that row names the profile among its
    exercises (DESIGN.md: a new lab profile)."""
    tags = re.findall(r"\[truth: ([^\]]+)\]", profiles.get(name).summary)
    assert tags, f"{name}: no [truth: ...] tag"
    for rid in tags:
        assert any(e.get("profile") == name for e in ROWS[rid]["exercised_by"]), (name, rid)
