"""Real felix judges the suite. For each Calico version `lab build felix` builds, every real-felix
profile is run through the command a user runs (`calico-conformance run --lab-dataplane ...
--calico-version ...`) and must give the verdicts tests/test_lab_verdicts.py expects of it, name
the felix it ran, keep felix's logs as evidence, and leave the host as it found it. Each is then
compared with its emulated counterpart check by check and capture point by capture point (the
tunnel's outer addresses, UDP port and VNI, which addresses each hop carries, which way each flow
went): where they differ, the emulation is wrong (docs/real-calico.md, "The emulation answers to
the real thing").

Skipped, with the command that fixes it, only where felix is not built:
    calico-conformance lab build felix --calico-version TAG
"""
from __future__ import annotations

import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from calico_conformance.lab import profiles
from calico_conformance.lab.realfelix import kernel_lacks
from calico_conformance.netns import list_all
from calico_conformance.realcalico import build as felix_builds, versions as felix_versions
from calico_conformance.realk8s.cache import Cache, root
from tests import hoststate
from tests.suite_runner import needs_root
from tests.test_lab_verdicts import BASELINE, expected

CLI = [sys.executable, "-m", "calico_conformance.cli"]
# each real-felix profile and the emulated profile that claims to behave as it does
COUNTERPARTS = {"calico-ebpf": "ebpf-tunnel", "calico-ebpf-dsr": "ebpf-dsr",
                "calico-ebpf-after-kube-proxy": "ebpf-after-kube-proxy", "calico-iptables": "kube-proxy",
                "calico-ebpf-no-encap-pool": "ebpf-no-encap-pool", "calico-ebpf-ipip-pool": "ebpf-ipip-pool",
                "calico-ebpf-nftables-after-kube-proxy": "ebpf-after-kube-proxy",
                "calico-ebpf-dsr-backend-only": "ebpf-dsr-backend-only",
                "calico-ebpf-dsr-ingress-only": "ebpf-dsr-ingress-only",
                "calico-ebpf-two-nics": "ebpf-two-nics", "calico-ebpf-dual-stack": "ebpf-dual-stack",
                "calico-ebpf-dual-stack-ipv6-off": "defect-ipv6-nodeport",
                "calico-ebpf-dual-stack-after-kube-proxy": "ebpf-dual-stack"}
# where felix's version decides, the emulated profile that behaves as that felix does
COUNTERPARTS_BEFORE = {("calico-ebpf-nftables-after-kube-proxy", "v3.29.7"): "defect-kube-proxy-nftables-mode"}
SERVICE_PORTS = {None, 30080, 30081, 8080, 4789}      # every other port is an ephemeral one


def _built(tag: str):
    found = felix_builds.installed(Cache(root()), tag)
    if found is None:
        pytest.skip(f"felix {tag} is not built: run `calico-conformance lab build felix --calico-version {tag}`")
    return found


def _run(out: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    proc = subprocess.run([*CLI, "run", "--reports-dir", str(out), *args], capture_output=True, text=True,
                          timeout=600)
    summary = out / "summary.json"
    assert summary.exists(), proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, json.loads(summary.read_text())


def _verdicts(record: dict) -> dict[str, str]:
    return {c["id"]: c["outcome"] for c in record["checks"] if c["id"] in BASELINE}


def flow_shapes(record: dict) -> dict[str, set]:
    """Per check, what each capture point saw, without what differs between any two runs
    (ephemeral ports, frame counts, times)."""
    out = {}
    for check in record["checks"]:
        rows = set()
        for item in check.get("evidence", []):
            if item["kind"] != "flows":
                continue
            point = item["title"].removeprefix("decoded flows at ")
            for f in item["body"]:
                if f["proto"] not in ("tcp", "udp", "icmp"):
                    continue
                port = lambda p: p if p in SERVICE_PORTS else "ephemeral"
                rows.add((point, f["encapsulated"], f["outer_src"], f["outer_dst"], f["udp_dport"],
                          hex(f["vni"]) if f["vni"] is not None else None, f["src"], port(f["sport"]),
                          f["dst"], port(f["dport"]), tuple(f["directions"])))
        out[check["id"]] = rows
    return out


@functools.cache
def _emulated(profile: str, out: str) -> dict:
    return _run(Path(out), "--lab-dataplane", profile)[1]


@needs_root
@pytest.mark.parametrize("profile", list(COUNTERPARTS))
@pytest.mark.parametrize("tag", felix_versions.SUPPORTED)
def test_real_felix_gives_the_expected_verdicts_and_the_emulation_matches_it(tmp_path_factory, tag, profile):
    build = _built(tag)
    lacking = kernel_lacks(profiles.get(profile))
    if lacking:
        pytest.skip(f"{lacking}: tests/test_vm.py runs {profile} in a guest")
    before = hoststate.snapshot()
    out = tmp_path_factory.mktemp(f"{profile}-{tag}")
    proc, record = _run(out, "--lab-dataplane", profile, "--calico-version", tag)

    # the verdicts the profile is known for, and the felix that gave them, named everywhere
    wanted = {**expected(profile), **{cid: "failed" for cid in profiles.get(profile).breaks_with(tag)}}
    assert _verdicts(record) == wanted, proc.stdout[-4000:]
    assert record["target"]["calico_version"] == tag
    assert f"real felix {tag} (commit {build.source.get('commit', '')[:8]}" in record["notice"], record["notice"]
    assert f"felix {tag}" in proc.stdout
    if profiles.get(profile).felix.bpf_enabled:
        log = (Path(record["evidence_dir"]) / "felix-node1.log").read_text()
        assert "Felix starting up" in log and f'version="{tag}"' in log

    # nothing of it is left on the host
    assert hoststate.changes(before, hoststate.snapshot()) == {}

    # the emulated counterpart behaves as the real thing, check by check, capture by capture
    counterpart = COUNTERPARTS_BEFORE.get((profile, tag), COUNTERPARTS[profile])
    twin = _emulated(counterpart, str(tmp_path_factory.mktemp(counterpart)))
    assert _verdicts(twin) == _verdicts(record)
    real, emulated = flow_shapes(record), flow_shapes(twin)
    for cid in BASELINE:
        assert real.get(cid, set()) == emulated.get(cid, set()), (
            f"{cid}: only real {sorted(real.get(cid, set()) - emulated.get(cid, set()), key=str)}; "
            f"only emulated {sorted(emulated.get(cid, set()) - real.get(cid, set()), key=str)}")


@needs_root
def test_a_killed_real_felix_run_leaves_nothing_after_cleanup(tmp_path):
    """SIGKILL while felix runs on every node: its processes die with the run (pdeathsig), and
    `calico-conformance cleanup` removes the namespaces and the per-node cgroups."""
    _built(felix_versions.DEFAULT)
    before = hoststate.snapshot()
    proc = subprocess.Popen([*CLI, "run", "--reports-dir", str(tmp_path), "--lab-dataplane", "calico-ebpf"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not any(
            p.name.startswith(f"cclab-{proc.pid}-") for p in hoststate.cgroup2_root().glob("cclab-*")):
        time.sleep(0.5)
    time.sleep(2)          # felix is starting or running in both
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1)
    groups = [p for p in hoststate.cgroup2_root().glob(f"cclab-{proc.pid}-*")]
    assert groups and all((g / "cgroup.procs").read_text() == "" for g in groups)    # felix and holders died
    assert subprocess.run([*CLI, "cleanup"], capture_output=True, text=True).returncode == 0
    assert [n for n in list_all() if n.startswith(f"cclab-{proc.pid}-")] == []
    assert hoststate.changes(before, hoststate.snapshot()) == {}
