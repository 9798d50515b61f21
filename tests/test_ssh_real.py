"""``--target ssh`` against real OpenSSH servers: Debian's sshd runs in every lab node's network
namespace (``Lab(..., sshd=True)``, src/calico_conformance/lab/sshd.py) with keys made for the
run, and the system ``ssh`` client reaches it from the lab's client namespace.

The whole suite then runs as ``calico-conformance run --target ssh`` *inside the client
namespace*: the machine running the suite is the external client on the lab's fabric, as it is
on a real network, so every node command (captures, iptables-save, nft, ip link ...) goes over
SSH to the nodes, and the probes leave from the suite's own sockets. The cluster API it reads
facts from is the stand-in (tests/apiserver/) holding the lab's own objects, with its listening
sockets opened in the client namespace, and a kubelet stand-in that reports the echo pod at the
lab's backend address. Its verdicts must equal those of ``--target lab`` on the same profile.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from calico_conformance import netns
from calico_conformance.executor import NetnsExecutor
from calico_conformance.vocabulary.errors import ExecutorError
from calico_conformance.executors.ssh import SshExecutor
from calico_conformance.lab import ipv6, profiles, sshd, sweeper
from calico_conformance.lab.builder import Lab
from calico_conformance.lab.objects import lab_objects
from calico_conformance.lab.topology import LabSpec, Topology
from calico_conformance.targets.lab import LabTarget
from suite_runner import REPO, needs_root, run_suite, verdicts
from tests.apiserver import seeds
from tests.apiserver.kubeconfig import write_kubeconfig
from tests.apiserver.server import FakeApiServer

pytestmark = [needs_root, pytest.mark.skipif(
    not (os.path.exists(sshd.SSHD) and shutil.which("ssh") and shutil.which("ssh-keygen")),
    reason="needs openssh-server and openssh-client")]

CLI = Path(sys.executable).parent / "calico-conformance"


def lab_with_sshd(profile: str = profiles.DEFAULT_PROFILE) -> Lab:
    return Lab(Topology(LabSpec()), profiles.get(profile), sshd=True).up()


@pytest.fixture
def lab():
    lab = lab_with_sshd()
    yield lab
    lab.down()


def executor(lab: Lab, node_index: int = 0, **overrides) -> SshExecutor:
    node = lab.topo.nodes[node_index]
    a = lab.sshd.access
    kw = {"user": a.user, "port": a.port, "identity_file": a.identity_file, "options": a.options(),
          "name": node.name, **overrides}
    return SshExecutor(node.address, **kw)


def run_in_client(lab: Lab, ex: SshExecutor, argv, **kw):
    """The ssh client runs in the lab's client namespace (a child keeps its parent thread's)."""
    with netns.inside(lab.topo.client_ns):
        return ex.run(argv, **kw)


# ---- the executor against real sshd --------------------------------------------------------

def test_a_command_runs_on_the_node_over_ssh(lab):
    result = run_in_client(lab, executor(lab, 1), ["ip", "-o", "-4", "addr", "show", "dev", "eth0"])
    assert result.succeeded and "172.31.0.12/24" in result.stdout     # node2's own namespace
    assert result.argv == ("ip", "-o", "-4", "addr", "show", "dev", "eth0")
    # stdin reaches the remote command, the way SshClient sends the probe program
    assert run_in_client(lab, executor(lab), ["cat"], input="line 1\nline 2\n").stdout == "line 1\nline 2\n"


TRICKY = ["a b", "it's", '"double"', "$HOME", "`id`", "$(id)", "; exit 3", "*", "back\\slash",
          "new\nline", "tab\there", "", " lead and trail ", "--", "-n", "ünïcødé", "{a,b}", "~root", "#hash"]


def test_every_word_reaches_the_node_unchanged(lab):
    show = "import json, sys; print(json.dumps(sys.argv[1:]))"
    result = run_in_client(lab, executor(lab), ["python3", "-c", show, *TRICKY])
    assert result.succeeded, result.describe()
    assert json.loads(result.stdout) == TRICKY


def test_exit_codes_and_a_missing_tool(lab):
    ex = executor(lab)
    assert run_in_client(lab, ex, ["sh", "-c", "exit 7"]).rc == 7
    result = run_in_client(lab, ex, ["sh", "-c", "echo out; echo err >&2; exit 1"])
    assert (result.rc, result.stdout, result.stderr) == (1, "out\n", "err\n")
    with pytest.raises(ExecutorError, match=r"^`no-such-tool-cc` is not installed on node node1 \(ssh 172\.31\.0\.11\)"):
        run_in_client(lab, ex, ["no-such-tool-cc", "--version"])


def test_a_wrong_key_gives_one_line(lab, tmp_path):
    other = tmp_path / "other_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    with pytest.raises(ExecutorError) as info:
        run_in_client(lab, executor(lab, identity_file=str(other)), ["true"])
    message = str(info.value)
    assert "\n" not in message
    # only publickey is offered: no password or keyboard-interactive fallback
    assert message.startswith("ssh to 172.31.0.11 failed: root@172.31.0.11: Permission denied (publickey).")
    assert message.endswith("check the inventory's host, user and key (BatchMode: no password prompts)")


def test_an_unknown_host_key_is_refused(lab, tmp_path):
    known = tmp_path / "known_hosts"
    known.write_text("172.31.0.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n")
    options = {**lab.sshd.access.options(), "UserKnownHostsFile": str(known)}
    with pytest.raises(ExecutorError, match=r"^ssh to 172\.31\.0\.11 failed: Host key verification failed\.;"):
        run_in_client(lab, executor(lab, options=options), ["true"])


def test_sshd_listens_only_on_the_node_address(lab):
    for node in lab.topo.nodes:
        listening = NetnsExecutor(node.netns).run(["ss", "-Hltn", "sport = :22"]).stdout.split()
        assert listening[3::5] == [f"{node.address}:22"]            # Local Address:Port, one socket
        with netns.socket_in(node.netns, socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(2)
            with pytest.raises(ConnectionRefusedError):
                s.connect(("127.0.0.1", 22))


def _lab_sshd_pids(keys: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", keys], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out]


def test_nothing_is_left_after_down():
    had_privsep = os.path.isdir(sshd.PRIVSEP_DIR)
    lab = lab_with_sshd()
    keys = lab.sshd.keys
    # a detached process a session leaves behind (as an interrupted capture would)
    # a duration of its own, so another test's sleep is not taken for ours
    nap = f"sleep 6{os.getpid():07d}"
    run_in_client(lab, executor(lab), ["sh", "-c", f"nohup {nap} </dev/null >/dev/null 2>&1 &"])
    assert len(_lab_sshd_pids(keys)) == 2 and os.path.isdir(keys)
    left = subprocess.run(["ip", "netns", "pids", lab.topo.nodes[0].netns], capture_output=True, text=True)
    assert len(left.stdout.split()) >= 2                  # sshd and the sleep
    lab.down()
    lab.down()                                            # safe twice
    assert _lab_sshd_pids(keys) == [] and not os.path.exists(keys)
    assert not subprocess.run(["pgrep", "-fx", nap], capture_output=True).stdout
    if not had_privsep and not any(map(sshd._owner_alive, sshd._key_dirs())):   # no other lab's sshd
        assert not os.path.exists(sshd.PRIVSEP_DIR)


KILLED_RUN = textwrap.dedent("""
    import sys, time
    from calico_conformance.lab.builder import Lab
    from calico_conformance.lab.topology import LabSpec, Topology
    from calico_conformance.lab import profiles
    lab = Lab(Topology(LabSpec()), profiles.get("ebpf-tunnel"), sshd=True).up()
    print(lab.sshd.keys, *lab.topo.all_namespaces(), flush=True)
    time.sleep(600)
""")


def test_a_sigkilled_run_leaves_no_sshd_and_the_next_run_sweeps_its_keys():
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN], stdout=subprocess.PIPE, text=True,
                            cwd=REPO)
    try:
        keys, *namespaces = proc.stdout.readline().split()
        assert len(_lab_sshd_pids(keys)) == 2
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 5
    while _lab_sshd_pids(keys) and time.monotonic() < deadline:   # PR_SET_PDEATHSIG: they end with it
        time.sleep(0.05)
    assert _lab_sshd_pids(keys) == []
    assert os.path.isdir(keys)                    # what SIGKILL cannot clean up ...
    assert keys in sshd.sweep_stale()             # ... the next bring-up does
    sweeper.delete(namespaces)
    assert not os.path.exists(keys) and not any(netns.exists(n) for n in namespaces)


# ---- the whole suite through --target ssh ----------------------------------------------------

def run_property(junit: Path, name: str) -> str | None:
    """A property of the run (the target's facts) from the JUnit file."""
    return next((p.get("value") for p in ET.parse(junit).getroot().iter("property") if p.get("name") == name), None)


def api_objects(lab: Lab) -> list[dict]:
    """What the lab's cluster API holds: the CRDs, and the lab's objects as --target lab shows them."""
    target = LabTarget(lab.topo.spec, lab.profile)
    crds = [o for o in seeds.operator_objects() if o["kind"] in ("Namespace", "CustomResourceDefinition")]
    return crds + lab_objects(lab.topo, lab.profile, target._host_facts)


def kubelet(api: FakeApiServer, lab: Lab) -> None:
    """The echo pod the suite creates runs at once, at the lab's backend address (the lab's
    in-process echo workload answers there)."""
    ips = [lab.topo.backend.ip] + ([ipv6.backend_ip(lab.topo)] if lab.profile.ipv6 else [])

    def start(srv, pod):
        node = lab.topo.node_by_name(pod["spec"]["nodeName"])
        pod["status"] = {"phase": "Running", "hostIP": node.address, "podIP": ips[0],
                         "podIPs": [{"ip": ip} for ip in ips],
                         "conditions": [{"type": "Ready", "status": "True"}],
                         "containerStatuses": [{"name": c["name"], "ready": True, "state": {"running": {}}}
                                               for c in pod["spec"]["containers"]]}
        srv.put(pod)

    def allocate(srv, svc):
        svc["spec"].update(clusterIP="10.96.0.100", clusterIPs=["10.96.0.100"])
        for port in svc["spec"]["ports"]:
            # the ports the lab's dataplane serves: the Cluster Service's and the Local one's
            local = svc["spec"].get("externalTrafficPolicy") == "Local"
            port["nodePort"] = lab.topo.spec.node_port_local if local else lab.topo.spec.node_port
        srv.put(svc)
    api.react("create", "Pod", start)
    api.react("create", "Service", allocate)


def run_over_ssh(lab: Lab, workdir: Path, *args: str, timeout: float = 600):
    """``calico-conformance run --target ssh`` in the lab's client namespace: (process, verdicts, seconds)."""
    with netns.inside(lab.topo.client_ns):          # its sockets live where the suite runs
        api = FakeApiServer(version="v1.31.0-lab").start()
    try:
        api.seed(*api_objects(lab))
        kubelet(api, lab)
        kubeconfig = write_kubeconfig(workdir / "kubeconfig", api)
        inventory = workdir / "inventory.yaml"
        inventory.write_text(yaml.safe_dump(lab.sshd.inventory(str(kubeconfig))))
        reports = workdir / "reports"
        env = {k: v for k, v in os.environ.items()
               if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "kubeconfig", "pytest_xdist_worker")}
        env["HOME"] = str(workdir)
        started = time.perf_counter()
        proc = subprocess.run(["ip", "netns", "exec", lab.topo.client_ns, str(CLI), "run", "--target", "ssh",
                               "--inventory", str(inventory), "--reports-dir", str(reports),
                               "-p", "no:cacheprovider", "-rs", *args],
                              capture_output=True, text=True, timeout=timeout, cwd=workdir, env=env)
        elapsed = time.perf_counter() - started
        junit = reports / "junit.xml"
        seen = verdicts(junit) if junit.exists() else {}
        assert api.get("v1", "Namespace", "calico-conformance") is None      # the suite cleaned up its namespace
        return proc, seen, elapsed
    finally:
        api.stop()


@pytest.mark.parametrize("profile", ["ebpf-tunnel", "defect-kube-proxy-leftover", "defect-snat", "ebpf-dsr",
                                     "ebpf-dual-stack", "defect-tagged-vlan"])
def test_the_suite_over_ssh_gives_the_lab_verdicts(pytester, tmp_path, profile):
    started = time.perf_counter()
    _, expected = run_suite(pytester, f"--lab-dataplane={profile}")
    lab_s = time.perf_counter() - started
    assert expected
    lab = lab_with_sshd(profile)
    try:
        proc, seen, ssh_s = run_over_ssh(lab, tmp_path)
        logins = {n.name: lab.sshd.logins(n.name) for n in lab.topo.nodes}
    finally:
        lab.down()
    detail = proc.stdout[-4000:] + proc.stderr[-2000:]
    # felix's logs come through the API, and the stand-in API server has no kubelet to serve pod
    # logs: over SSH the BPF-mode check has nothing to read (skipped, saying so)
    assert seen.pop("EBPF-BPF-ACTIVE") == "skipped"
    expected.pop("EBPF-BPF-ACTIVE")
    assert seen == expected, detail
    # ... and a run with a check that could not see proves nothing: incomplete, unless a check failed
    assert proc.returncode == (1 if "failed" in expected.values() else 4), detail
    assert run_property(tmp_path / "reports" / "junit.xml", "target") == "ssh"
    assert all(n >= 10 for n in logins.values()), logins       # node commands went over SSH
    print(f"{profile}: --target lab {lab_s:.1f} s, --target ssh {ssh_s:.1f} s ({len(seen)} checks, "
          f"SSH sessions per node {logins})")


def test_a_pcap_frame_from_the_interface_s_own_mac_reads_as_sent():
    from calico_conformance.vocabulary.frames import RawFrame
    from calico_conformance.targets.capture import with_direction
    own, peer = bytes.fromhex("02cc01000001"), bytes.fromhex("02cc01000002")
    frames = [RawFrame(1.0, peer + own + b"\x08\x00", None), RawFrame(2.0, own + peer + b"\x08\x00", None),
              RawFrame(3.0, peer + peer + b"\x08\x00", "out"), RawFrame(4.0, b"\x00" * 8, None)]
    assert [f.direction for f in with_direction(frames, own)] == ["out", "in", "out", None]
    assert with_direction(frames, None) == frames        # no MAC (loopback, tun): direction stays unknown
