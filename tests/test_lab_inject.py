"""--lab-inject: the user's own fault goes into the lab and the suite notices it."""
import json
import subprocess
import sys
import uuid

import pytest

from suite_runner import needs_root, run_suite

# A user's fault injector: masquerade what enters the backend pod on its node (a SNAT bug). On the
# ingress node felix forwards NodePort traffic before netfilter sees it, so a fault there would
# not show (docs/upstream-truths.md, nodeport-inner-not-dnated); the backend's node is where NAT
# can still hide the client.
SNAT_INJECTOR = """
import json, subprocess, sys
lab = json.load(sys.stdin)
node = next(n for n in lab["nodes"] if n["name"] == lab["backend"]["node"])
rules = ('table ip userfault {\\n chain post {\\n  type nat hook postrouting priority srcnat; policy accept;\\n'
         '  oifname "%s" masquerade\\n }\\n}\\n' % lab["backend"]["host_iface"])
subprocess.run(["ip", "netns", "exec", node["netns"], "nft", "-f", "-"], input=rules, text=True, check=True)
"""


@needs_root
def test_injected_snat_fails_source_ip_check_only(pytester):
    script = pytester.path / "inject.py"
    script.write_text(SNAT_INJECTOR)
    result, seen = run_suite(pytester, f"--lab-inject={sys.executable} {script}")
    assert seen["EBPF-SOURCE-IP"] == "failed", result.stdout.str()
    assert seen["EBPF-NODEPORT-VXLAN"] == "passed"
    assert seen["EBPF-NO-KUBE-PROXY"] == "passed"


@needs_root
def test_injector_gets_the_lab_description_on_stdin(pytester):
    out = pytester.path / "lab.json"
    result, _ = run_suite(pytester, f"--lab-inject=cat > {out}", select="kube_proxy")
    lab = json.loads(out.read_text())
    assert lab["vxlan"] == {"port": 4789, "vni": 4096, "device": "vxlan.calico"}
    assert lab["nodeport_tunnel"] == {"port": 4789, "vni": 0xCA11C0, "device": "np-tunnel"}
    assert lab["node_port"] == 30080 and lab["backend_port"] == 8080
    assert [n["name"] for n in lab["nodes"]] == ["node1", "node2"]
    assert lab["backend"]["node"] == "node2" and lab["ingress_node"] == "node1"
    assert all(n["netns"].startswith("cclab-") for n in lab["nodes"])
    assert lab["profile"] == "ebpf-tunnel"


@needs_root
def test_failing_injector_stops_the_run_with_its_error(pytester):
    result, seen = run_suite(pytester, "--lab-inject=echo 'cannot reach switch' >&2; exit 7")
    assert result.ret == pytest.ExitCode.USAGE_ERROR     # `calico-conformance run` makes it 2
    result.stderr.fnmatch_lines(["ERROR: calico-conformance: --lab-inject program * failed (exit 7): cannot reach switch"])
    assert not any(v == "passed" for v in seen.values())


@needs_root
def test_what_the_injector_leaves_running_lives_during_the_checks_and_ends_with_the_lab(pytester):
    # A fault generator left in the background by the injector: alive while checks run.
    sleeper = f"sleep 41.{uuid.uuid4().int % 10**9}"     # no other run on the machine has this one
    probe = pytester.path / "alive.txt"
    pytester.makepyfile(test_probe=f"""
        import subprocess
        def test_generator_alive(target):
            out = subprocess.run(["pgrep", "-f", "{sleeper}"], capture_output=True, text=True).stdout
            open("{probe}", "w").write(out)
    """)
    result = pytester.runpytest_inprocess(f"--lab-inject={sleeper} &")
    assert result.ret == 0
    assert probe.read_text().strip(), "the injector's background process ran during the checks"
    left = subprocess.run(["pgrep", "-f", sleeper], capture_output=True, text=True).stdout
    assert left.strip() == "", "it ended with the lab"
