"""Every support-matrix check, run as users run it (the pytest suite against a target), is seen
failing on an unsupported cluster shape and passing on a supported one. The lab is shown each
shape with --lab-objects (the same sample dumps the matrix's own tests use), so the checks read it
through the target exactly as they read a real cluster's API."""
from collections import defaultdict

import pytest

from suite_runner import SUITE, needs_root, run_suite
from test_support_matrix import CASES, SNAPS

# These entries probe the nodes themselves; the lab's real nodes answer them, not the dumps
# (tests/test_support_matrix.py runs them in namespaces built for each case).
NODE_PROBES = {"SUP-KERNEL-CONFIG", "SUP-SCTP-NODES", "SUP-IPV6-NODES"}
VERDICT = {"unsupported": "failed", "warning": "passed", "info": "passed", "ok": "passed",
           "unknown": "skipped"}

GROUPS: dict[tuple, list] = defaultdict(list)
for entry, version, files, expected in CASES:
    if entry not in NODE_PROBES:
        GROUPS[(version, tuple(files))].append((entry, expected))


@needs_root
@pytest.mark.parametrize("version, files", list(GROUPS), ids=[f"{v}-{'+'.join(f)}" for v, f in GROUPS])
def test_support_checks_judge_the_cluster_shape_through_the_suite(pytester, version, files):
    args = [f"--calico-version={version}"] + [f"--lab-objects={SNAPS / f}" for f in files]
    result, seen = run_suite(pytester, *args, path=SUITE / "test_support_matrix.py")
    for entry, expected in GROUPS[(version, files)]:
        assert seen.get(entry) == VERDICT[expected], (entry, expected, result.stdout.str()[-2500:])


@needs_root
def test_the_lab_itself_is_a_supported_shape(pytester):
    result, seen = run_suite(pytester, path=SUITE / "test_support_matrix.py")
    assert seen and "failed" not in seen.values(), result.stdout.str()[-2500:]
