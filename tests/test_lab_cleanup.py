"""Nothing is left behind: not after a normal run, an interrupted one (SIGINT, SIGTERM), nor a
killed one (the next run, or `calico-conformance cleanup`, sweeps it)."""
import os
import signal
import subprocess
import sys
import time

import pytest
from suite_runner import REPO, needs_root, with_ctrl_c

from calico_conformance import netns, processes
from calico_conformance.lab import sweeper

CLI = [sys.executable, "-m", "calico_conformance.cli"]


def _lab_namespaces(pid: int) -> list[str]:
    return [n for n in netns.list_all() if n.startswith(f"cclab-{pid}-")]


def _sleeper(tmp_path) -> str:
    return f"sleep 30.{tmp_path.stat().st_ino % 997}"    # a command line no other test has


def _start_suite(tmp_path, *extra):
    marker = tmp_path / "lab-is-up"
    # The injector holds the run inside the lab's lifetime, so the signal lands mid-run.
    inject = f"--lab-inject=touch {marker}; {_sleeper(tmp_path)}"
    proc = subprocess.Popen([*CLI, "run", "--reports-dir", str(tmp_path), inject, *extra],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=with_ctrl_c)
    deadline = time.monotonic() + 20
    while not marker.exists():
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "the lab never came up"
        time.sleep(0.05)
    return proc


@needs_root
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_run_removes_its_namespaces_and_processes(tmp_path, sig):
    proc = _start_suite(tmp_path)
    assert _lab_namespaces(proc.pid), "the run's lab should exist while it runs"
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert _lab_namespaces(proc.pid) == [], out
    # The injector and what it started are gone too.
    for pattern in (f"touch {tmp_path}", _sleeper(tmp_path)):
        leftovers = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
        assert leftovers.strip() == "", pattern


@needs_root
def test_killed_run_is_swept_by_cleanup(tmp_path):
    proc = _start_suite(tmp_path)
    proc.kill()
    proc.wait(timeout=10)
    subprocess.run(["pkill", "-f", _sleeper(tmp_path)])   # SIGKILL left the injector orphaned
    left = _lab_namespaces(proc.pid)
    assert left, "SIGKILL cannot be caught, so its namespaces remain until swept"
    out = subprocess.run([*CLI, "cleanup"], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and f"removed {len(left)} lab namespace(s)" in out.stdout
    assert _lab_namespaces(proc.pid) == []


@needs_root
def test_normal_run_leaves_no_namespace(tmp_path):
    # Only this run's namespaces are judged (they carry its pid): other runs may share the machine.
    proc = subprocess.Popen([*CLI, "run", "--reports-dir", str(tmp_path), "-k", "kube_proxy"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 6, out          # a selection: partial
    assert [n for n in sweeper.all_lab_namespaces() if n.startswith(f"cclab-{proc.pid}-")] == []


def test_a_process_is_stopped_and_reaped_even_when_popens_wait_lock_was_left_held(tmp_path):
    """A Ctrl-C that lands inside Popen.wait can leave Popen's internal lock held (CPython 3.11), and
    every later Popen.wait then times out: a run interrupted while it waited for its --lab-inject
    program ended in an internal error. processes.Process reaps by pid, so it stops all the same."""
    proc = processes.Process("sleeper", ["sleep", "30"], tmp_path / "sleeper.log")
    proc.proc._waitpid_lock.acquire()        # the state such a Ctrl-C leaves
    started = time.monotonic()
    proc.stop(timeout=1.0)
    assert not proc.alive() and proc.proc.returncode is not None
    assert time.monotonic() - started < 3
    done = processes.Process("quick", ["true"], tmp_path / "quick.log")
    done.proc._waitpid_lock.acquire()
    assert done.wait(timeout=5) == 0
