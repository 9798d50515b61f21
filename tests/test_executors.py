"""The node transports (docker exec, kubectl exec, SSH) build the right argv and really run:
fake `ssh`/`docker`/`kubectl` programs first on PATH record the argv and run the node-side command
on this machine, as the real tools would on the node. Background processes (captures) run through
any of them."""
from __future__ import annotations

import os
import shutil
import socket
import threading
import time

import pytest

from calico_conformance.vocabulary.errors import ExecutorError
from calico_conformance.executors import background
from calico_conformance.executors.docker import DockerExecutor
from calico_conformance.executors.kubectl import KubectlExecutor
from calico_conformance.executors.ssh import SshExecutor


TRICKY = ["printf", "%s|", "two words", "it's", '"quoted"', "$HOME", "a;b", "*"]
EXPECTED = "two words|it's|\"quoted\"|$HOME|a;b|*|"


def test_ssh_argv_is_batchmode_with_timeout_and_quoted_remote_words(fakebin):
    ex = SshExecutor("node1.example", user="core", port=2222, identity_file="/k/id", options={"StrictHostKeyChecking": "accept-new"},
                     connect_timeout=7)
    result = ex.run(TRICKY, timeout=10)
    assert result.succeeded and result.stdout == EXPECTED          # the remote shell got every word intact
    assert result.argv == tuple(TRICKY)                             # reported as the node ran it
    argv = fakebin.calls("ssh")[-1]
    assert argv[:4] == ["-o", "BatchMode=yes", "-o", "ConnectTimeout=7"]
    assert ["-o", "StrictHostKeyChecking=accept-new"] == argv[4:6]
    assert argv[argv.index("-p") + 1] == "2222" and argv[argv.index("-l") + 1] == "core"
    assert argv[argv.index("node1.example") + 1] == "--"


def test_ssh_sudo_stdin_exit_code_and_failures(fakebin):
    ex = SshExecutor("node1.example", sudo=False)
    assert ex.run(["cat"], input="hello\n", timeout=10).stdout == "hello\n"
    assert ex.run(["sh", "-c", "exit 3"], timeout=10).rc == 3
    with pytest.raises(ExecutorError, match="ssh to unreachable.invalid failed: ssh: Could not resolve"):
        SshExecutor("unreachable.invalid").run(["true"], timeout=10)
    with pytest.raises(ExecutorError, match="did not finish within 0.5 s"):
        ex.run(["sleep", "5"], timeout=0.5)
    with pytest.raises(ExecutorError, match="`no-such-tool-xyz` is not installed on node node1.example"):
        ex.run(["no-such-tool-xyz"], timeout=10)
    assert SshExecutor("h", sudo=True).argv(["id"])[-1] == "sudo -n id"


def test_docker_exec_runs_in_the_node_container(fakebin):
    ex = DockerExecutor("cc-worker")
    result = ex.run(TRICKY, timeout=10)
    assert result.stdout == EXPECTED and result.argv == tuple(TRICKY)
    assert fakebin.calls("docker")[-1] == ["exec", "-i", "cc-worker", *TRICKY]
    assert ex.run(["cat"], input="x", timeout=10).stdout == "x"
    with pytest.raises(ExecutorError, match="No such container: missing"):
        DockerExecutor("missing").run(["true"], timeout=10)
    with pytest.raises(ExecutorError, match="`tcpdumpx` is not installed on kind node cc-worker.*--node-exec pod"):
        ex.run(["tcpdumpx", "-D"], timeout=10)


def test_kubectl_exec_into_the_agent_pod(fakebin):
    ex = KubectlExecutor("cc-agent-w1", "calico-conformance", container="agent", name="w1",
                         kubeconfig="/tmp/kc", context="prod")
    result = ex.run(TRICKY, timeout=10)
    assert result.stdout == EXPECTED and result.argv == tuple(TRICKY)
    assert fakebin.calls("kubectl")[-1] == ["--kubeconfig", "/tmp/kc", "--context", "prod", "exec", "-i", "-n",
                                            "calico-conformance", "cc-agent-w1", "-c", "agent", "--", *TRICKY]
    with pytest.raises(ExecutorError, match='pods "missing" not found'):
        KubectlExecutor("missing", "ns").run(["true"], timeout=10)
    with pytest.raises(ExecutorError, match="not installed in the node agent image"):
        ex.run(["tcpdumpx"], timeout=10)


def test_missing_transport_binary_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    for ex in (SshExecutor("h"), DockerExecutor("c"), KubectlExecutor("p", "n")):
        with pytest.raises(ExecutorError, match=r"is not installed on .*; install it") as err:
            ex.run(["true"], timeout=5)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("make", [lambda: SshExecutor("node1"), lambda: DockerExecutor("cc-worker"),
                                  lambda: KubectlExecutor("cc-agent", "ns")], ids=["ssh", "docker", "kubectl"])
def test_background_process_start_wait_stop_fetch(fakebin, make, tmp_path):
    ex = make()
    out = tmp_path / "payload.bin"
    proc = background.start(ex, ["sh", "-c", f"echo ready; printf '\\000\\001\\377binary' > {out}; sleep 30"])
    proc.wait_for_output("ready", timeout=10)
    assert proc.alive()
    proc.stop(timeout=5)
    assert not proc.alive()
    assert background.fetch(ex, str(out)) == b"\x00\x01\xffbinary"
    background.remove(ex, str(out), proc.log)
    assert not out.exists()


def test_background_process_that_dies_at_start_says_why(fakebin):
    proc = background.start(DockerExecutor("cc-worker"), ["sh", "-c", "echo 'tcpdump: eth9: No such device exists'; exit 1"])
    with pytest.raises(ExecutorError, match="exited at start: tcpdump: eth9: No such device exists"):
        proc.wait_for_output("listening on", timeout=5)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump"), reason="needs root and tcpdump to capture on lo")
def test_tcpdump_capture_through_docker_exec_reads_back_as_frames(fakebin):
    from calico_conformance.vocabulary.frames import CapturePoint
    from calico_conformance.targets.capture import NodeCapture
    srv = socket.create_server(("127.0.0.1", 0))
    port = srv.getsockname()[1]
    threading.Thread(target=lambda: srv.accept()[0].close(), daemon=True).start()
    point = CapturePoint("cc-worker", "lo")
    capture = NodeCapture({point: DockerExecutor("cc-worker")})
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    time.sleep(0.3)
    frames = capture.stop()[point]
    srv.close()
    assert frames and all(f.data for f in frames)
    assert any(port.to_bytes(2, "big") in f.data[34:38] for f in frames)   # TCP ports after Ethernet+IPv4
