"""Bad input, as a new user gives it (issue 13): one line saying what is wrong and what to do,
the documented exit code (2), never a traceback. The catalog is docs/bad-inputs.md."""
from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from calico_conformance import netns
from suite_runner import REPO, needs_root
from unprivileged import run_as_nobody

CLI = [sys.executable, "-m", "calico_conformance.cli"]
MB = 1 << 20


def cli(*args, timeout=120, cwd=None, env=None):
    env = {**os.environ, "KUBECONFIG": "/nonexistent/kubeconfig", **(env or {})}
    return subprocess.run([*CLI, *map(str, args)], cwd=cwd or REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)


def one_line_error(proc, *words, code=2):
    """The run ended with ``code`` and its error is one line naming ``words``."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, out[-2000:]
    assert "Traceback" not in out and "INTERNALERROR" not in out, out[-2000:]
    errors = [line for line in out.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, out[-2000:]
    for word in words:
        assert word in errors[0], errors[0]
    return errors[0]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    (d / "garbage.yaml").write_text("a: [b\n  c: :\n{{{")
    (d / "list.yaml").write_text("- a\n- b\n")
    (d / "scalar.yaml").write_text("just text\n")
    (d / "wrong-shape.yaml").write_text("apiVersion: v1\nkind: Config\nclusters: 5\ncontexts: [1, 2]\n"
                                        "current-context: [x]\nusers: {}\n")
    (d / "deep.json").write_text("[" * (25 * MB) + "]" * (25 * MB))          # 50 MB, nested
    (d / "shallow.json").write_text("[" + ",".join(["[]"] * (50 * MB // 3)) + "]")   # 50 MB, flat
    (d / "nested-999.json").write_text('{"kind":"Node","x":' + "[" * 999 + "]" * 999 + "}")
    (d / "bomb.yaml").write_text("a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
        + "kind: Node\nmetadata: {name: n}\n")
    (d / "binary.json").write_bytes(os.urandom(4096))
    (d / "not-a-capture.pcap").write_text("hello\n")
    (d / "empty.pcap").write_bytes(b"")
    (d / "gzip-garbage.pcap").write_bytes(gzip.compress(b"\xd4\xc3\xb2\xa1" + os.urandom(200)))
    (d / "inventory-list.yaml").write_text("- a\n")
    (d / "inventory-port.yaml").write_text("nodes:\n- {name: n1, host: 10.0.0.1, port: ssh}\n")
    (d / "inventory-defaults.yaml").write_text("defaults: [root]\nnodes:\n- {name: n1}\n")
    (d / "inventory-name.yaml").write_text("nodes:\n- {name: [n1]}\n")
    (d / "inventory-garbage.yaml").write_text("nodes: [\n")
    return d


# ---- kubeconfig --------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["preflight"], ["install", "--dry-run"], ["uninstall"]])
@pytest.mark.parametrize("name, words", [
    ("garbage.yaml", ["is not valid YAML at line 2", "--kubeconfig"]),
    ("list.yaml", ["is a YAML list, not a mapping"]),
    ("scalar.yaml", ["is a YAML str, not a mapping"]),
    ("wrong-shape.yaml", ["kubeconfig", "malformed"]),
])
def test_a_bad_kubeconfig_is_one_line_and_exit_2(files, command, name, words):
    one_line_error(cli(*command, "--kubeconfig", files / name), *words)


def test_a_missing_kubeconfig_names_the_path_given_not_the_option_to_give_it(files):
    line = one_line_error(cli("preflight", "--kubeconfig", "/missing"), "kubeconfig /missing does not exist")
    assert "pass --kubeconfig" not in line
    one_line_error(cli("preflight", "--kubeconfig", files), "is a directory")
    one_line_error(cli("preflight", env={"KUBECONFIG": "/missing/kc"}), "KUBECONFIG names /missing/kc")


def test_a_huge_kubeconfig_is_refused_unread(files):
    one_line_error(cli("preflight", "--kubeconfig", files / "deep.json"), "larger than 4 MiB")


def test_run_with_a_garbage_kubeconfig_is_a_usage_error_not_internalerror(files, tmp_path):
    one_line_error(cli("run", "--reports-dir", tmp_path, "--target", "kubeconfig",
                       "--kubeconfig", files / "garbage.yaml"), "not valid YAML")


# ---- snapshots: bounded time and memory -----------------------------------------------------

@pytest.mark.parametrize("name, words", [
    ("deep.json", ["brackets, over the 1000000"]),
    ("shallow.json", ["brackets, over the 1000000"]),
    ("nested-999.json", ["nested"]),
    ("bomb.yaml", ["more than 1000000 objects and lists (YAML aliases?)"]),
    ("binary.json", ["not UTF-8"]),
])
def test_a_hostile_snapshot_is_refused_quickly_in_one_line(files, name, words):
    started = time.perf_counter()
    # the child's peak memory: ru_maxrss of the children of a shell that runs only it
    proc = subprocess.run(["/usr/bin/env", "time", "-f", "maxrss_kb=%M", *CLI, "preflight", "--snapshot",
                           str(files / name)], cwd=REPO, capture_output=True, text=True, timeout=120)
    wall = time.perf_counter() - started
    rss_kb = int(proc.stderr.rsplit("maxrss_kb=", 1)[1]) if "maxrss_kb=" in proc.stderr else 0
    proc.stderr = proc.stderr.rsplit("maxrss_kb=", 1)[0]
    one_line_error(proc, *words)
    # was 19 s and 2.5 GB (shallow), a RecursionError traceback (deep); generous bounds for a busy host
    assert wall < 15 and rss_kb < 400 * 1024, (wall, rss_kb)


def test_lab_objects_from_a_hostile_snapshot_is_a_usage_error(files, tmp_path):
    one_line_error(cli("run", "--reports-dir", tmp_path, "--lab-objects", files / "deep.json"),
                   "found no Kubernetes objects")


# ---- captures -----------------------------------------------------------------------------

@pytest.mark.parametrize("name, words", [
    (".", ["is a directory; give the path of one .pcap"]),
    ("nope.pcap", ["no such capture file"]),
    ("not-a-capture.pcap", ["not a readable pcap or pcapng file"]),
    ("empty.pcap", ["not a readable pcap or pcapng file"]),
])
def test_explain_pcap_on_what_is_not_a_capture(files, name, words):
    one_line_error(cli("explain-pcap", files / name), *words)


def test_a_damaged_gzipped_capture_is_read_as_far_as_it_goes(files):
    proc = cli("explain-pcap", files / "gzip-garbage.pcap")
    assert proc.returncode in (0, 2) and "Traceback" not in proc.stdout + proc.stderr


# ---- options ------------------------------------------------------------------------------

@pytest.mark.parametrize("args, words", [
    (["--lab-nodes", "abc"], ["--lab-nodes: invalid int value: 'abc'"]),
    (["--probe-connections", "x"], ["--probe-connections: invalid int value: 'x'"]),
    (["--lab-nodes"], ["--lab-nodes: expected one argument"]),
    (["--ip-family", "ipv5"], ["invalid choice: 'ipv5'"]),
    (["--reports-dir"], ["--reports-dir needs a"]),
])
def test_a_bad_suite_option_is_one_line_without_pytest_internals(args, words):
    line = one_line_error(cli("run", *args), *words)
    assert "pytest.main" not in line and "inifile" not in line


def test_an_unwritable_reports_directory_is_one_line(files, tmp_path):
    (tmp_path / "afile").write_text("")
    one_line_error(cli("run", "--reports-dir", "/proc/no-such-dir"), "cannot write reports to /proc/no-such-dir")
    one_line_error(cli("run", "--reports-dir", tmp_path / "afile" / "x"), "a file is in the way")
    one_line_error(cli("run", f"--junitxml={tmp_path / 'afile' / 'j.xml'}"), "cannot write --junitxml")


@needs_root
def test_an_unwritable_reports_directory_as_an_unprivileged_user():
    home = Path(tempfile.mkdtemp(prefix="cc-badinput-"))
    home.chmod(0o777)
    locked = home / "locked"
    locked.mkdir(mode=0o755)     # root's: nobody may not write here
    try:
        proc = run_as_nobody([*CLI, "run", "--reports-dir", str(locked / "reports")], repo=REPO, cwd=home,
                             env={**os.environ, "HOME": str(home)}, timeout=60)
        one_line_error(proc, "cannot write reports to", "Permission denied")
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.parametrize("program, words", [
    ("/nonexistent/inject", ["--lab-inject program", "failed"]),
])
@needs_root
def test_a_bad_inject_program_is_one_line(program, words, tmp_path):
    one_line_error(cli("run", "--reports-dir", tmp_path, "--lab-inject", program), *words)


@pytest.mark.parametrize("name, words", [
    ("inventory-list.yaml", ["needs a `nodes:` list"]),
    ("inventory-port.yaml", ["nodes[0].port must be a whole number, not str"]),
    ("inventory-defaults.yaml", ["`defaults` must be a mapping"]),
    ("inventory-name.yaml", ["nodes[0].name must be text"]),
    ("inventory-garbage.yaml", ["is not valid YAML"]),
    ("/nonexistent.yaml", ["cannot read inventory"]),
    (".", ["is a directory"]),
])
def test_a_bad_inventory_is_one_line(files, tmp_path, name, words):
    one_line_error(cli("run", "--reports-dir", tmp_path, "--target", "ssh", "--inventory", files / name,
                       "--kubeconfig", files / "list.yaml"), *words)


@pytest.mark.parametrize("url, words", [
    ("not a url", ["not an http(s) URL"]),
    ("file:///srv/calico/{version}", ["not an http(s) URL", "--calico-manifests DIR"]),
    ("https://[::1/{version}", ["not a URL (Invalid IPv6 URL)"]),
    ("http://mirror:port/{version}", ["not a URL"]),
])
def test_a_bad_release_url_is_one_line(url, words):
    one_line_error(cli("install", "--distro", "kubeadm", "--dry-run", "--calico-version", "v3.31.7",
                       "--release-url", url), *words)


# ---- cleanup -----------------------------------------------------------------------------------

@needs_root
def test_cleanup_refuses_without_root_and_removes_nothing():
    # our own pid in the name: no other run's sweeper takes it for a dead run's namespace
    name = f"cclab-{os.getpid()}-badinput-node1"
    subprocess.run(["ip", "netns", "add", name], check=True)
    home = Path(tempfile.mkdtemp(prefix="cc-badinput-"))
    home.chmod(0o777)
    try:
        proc = run_as_nobody([*CLI, "cleanup", "--all"], repo=REPO, cwd=home,
                             env={**os.environ, "HOME": str(home)}, timeout=60)
        one_line_error(proc, "cleanup deletes network namespaces, which needs root")
        assert "removed" not in proc.stdout
        assert netns.exists(name)
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)
