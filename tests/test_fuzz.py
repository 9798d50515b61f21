"""Fuzzing every reader of user input with hypothesis: none may end in a traceback.

Each reader either returns (with warnings, notes or problems) or raises ``UsageError`` (one line,
exit 2). Bounded: every test here stays under ~10 s (``max_examples``, no deadline, since a busy
2-core machine makes per-example timing meaningless). docs/bad-inputs.md lists what was tried.
"""
from __future__ import annotations

import atexit
import json
import os
import shutil
import struct
import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from decode_helpers import qinq, syn, synack, tcp, vxlan
from calico_conformance.vocabulary.errors import UsageError
from calico_conformance.evidence.decode import decode_frame, flows
from calico_conformance.evidence.pcap import read_capture, write_pcap
from calico_conformance.vocabulary.frames import RawFrame

_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
# database=None: no example database in the clone; the caches go to pytest's temp folder (below)
FUZZ = settings(max_examples=300, deadline=None, database=None, suppress_health_check=_QUIET)
FEW = settings(max_examples=120, deadline=None, database=None, suppress_health_check=_QUIET)


# Hypothesis keeps caches in ./.hypothesis, written as soon as a test starts: a folder of ours
# instead, gone when the test process ends, so nothing of a run stays in the clone or in /tmp.
_HOME = Path(tempfile.mkdtemp(prefix="cc-hypothesis-"))
set_hypothesis_home_dir(_HOME)
atexit.register(shutil.rmtree, _HOME, True)

# Real frames to mutate: the layers the decoder knows, so mutations reach deep into it.
SEEDS = [bytes(f) for f in (
    syn(), synack(), vxlan(syn()), vxlan(synack(tags=qinq())), tcp(flags="PA", tags=qinq(), payload=b"x" * 40),
    vxlan(vxlan(syn())), syn(src="fd00:31::100", dst="fd00:244:2::5"),
    vxlan(syn(src="fd00:31::100", dst="fd00:244:2::5"), outer_src="fd00:31::11", outer_dst="fd00:31::12"))]


@st.composite
def mutated_frames(draw) -> bytes:
    """A real frame with bytes flipped, cut, or spliced: mostly-valid input finds more than noise."""
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(0, 6))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    cut = draw(st.integers(0, len(data)))
    return bytes(data[:cut]) + draw(st.binary(max_size=16))


frames = st.one_of(st.binary(max_size=200), mutated_frames())


def _assert_decodes(data: bytes, **kw) -> None:
    frame = decode_frame(data, **kw)
    # the decoder's own catch-all turns a bug into this note: a fuzz find, not a pass
    assert not any(n.startswith("decoder error") for n in frame.notes), frame.notes
    assert frame.length == len(data)
    frame.summary()
    flows([frame])


@FUZZ
@given(frames, st.sampled_from([(4789,), (4789, 8472), (1, 65535)]), st.integers(68, 9000))
def test_the_frame_decoder_never_raises(data, ports, mtu):
    _assert_decodes(data, vxlan_ports=ports, mtu=mtu)


# ---- pcap and pcapng files -----------------------------------------------------------------

def _valid_pcap(frames_: list[bytes]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.pcap"
        write_pcap(path, [RawFrame(1.0 + i, f, None) for i, f in enumerate(frames_)])
        return path.read_bytes()


_PCAP = _valid_pcap(SEEDS)
_MAGICS = [struct.pack("<I", 0xA1B2C3D4), struct.pack(">I", 0xA1B2C3D4), struct.pack("<I", 0xA1B23C4D),
           b"\x0a\x0d\x0d\x0a"]


@st.composite
def capture_files(draw) -> bytes:
    kind = draw(st.sampled_from(["mutated", "header", "noise", "pcapng"]))
    if kind == "noise":
        return draw(st.binary(max_size=300))
    if kind == "header":     # a real magic, then anything: link types, lengths, records
        return draw(st.sampled_from(_MAGICS)) + draw(st.binary(max_size=300))
    if kind == "pcapng":     # a section header block, then random blocks
        body = b"\x4d\x3c\x2b\x1a\x01\x00\x00\x00" + b"\xff" * 8
        shb = b"\x0a\x0d\x0d\x0a" + struct.pack("<I", 28) + body + struct.pack("<I", 28)
        blocks = draw(st.lists(st.tuples(st.sampled_from([1, 3, 5, 6, 0x0A0D0D0A, 99]),
                                         st.binary(max_size=60)), max_size=4))
        out = shb
        for btype, payload in blocks:
            payload += b"\x00" * (-len(payload) % 4)
            length = draw(st.one_of(st.just(12 + len(payload)), st.integers(0, 1 << 20)))
            out += struct.pack("<II", btype, length) + payload + struct.pack("<I", length)
        return out
    data = bytearray(_PCAP)
    for _ in range(draw(st.integers(1, 10))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data[:draw(st.integers(0, len(data)))])


@FEW
@given(capture_files(), st.booleans())
def test_the_capture_reader_reads_or_says_why_in_one_line(data, gzipped):
    import gzip
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.pcap"
        path.write_bytes(gzip.compress(data) if gzipped else data)
        try:
            capture = read_capture(path)
        except UsageError as exc:
            assert "\n" not in str(exc)
            return
        for f in capture.frames:
            _assert_decodes(f.data)


# ---- snapshots -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["kind", "apiVersion", "metadata", "items", "spec", "status", "data", "name",
                         "labels", "nodeInfo", "addresses", "x"]), inner, max_size=5),
    max_leaves=30)
k8s_like = st.fixed_dictionaries(
    {"kind": st.sampled_from(["Node", "NodeList", "List", "DaemonSet", "ConfigMap", "FelixConfiguration",
                              "Installation", "Secret", ""]) | st.integers(),
     "apiVersion": st.sampled_from(["v1", "apps/v1", "crd.projectcalico.org/v1", "operator.tigera.io/v1"]),
     "metadata": json_values, "items": json_values, "spec": json_values, "status": json_values})


@st.composite
def snapshot_texts(draw) -> tuple[str, bytes]:
    doc = draw(st.one_of(json_values, k8s_like, st.lists(k8s_like, max_size=3)))
    form = draw(st.sampled_from(["json", "yaml", "stream", "cut", "noise"]))
    if form == "json":
        return ".json", json.dumps(doc).encode()
    if form == "yaml":
        return ".yaml", yaml.safe_dump(doc).encode()
    if form == "stream":     # `kubectl cluster-info dump`: documents back to back, and logs
        return ".txt", (json.dumps(doc) + "\n==== START logs for x ====\nlog\n" + json.dumps(doc)).encode()
    if form == "cut":
        text = json.dumps(doc).encode()
        return ".json", text[:draw(st.integers(0, len(text)))]
    return draw(st.sampled_from([".json", ".yaml", ".txt"])), draw(st.binary(max_size=200))


@FUZZ
@given(snapshot_texts())
def test_the_snapshot_loader_loads_or_says_why_in_one_line(case):
    from calico_conformance.support.snapshot import load_snapshot
    suffix, data = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"dump{suffix}"
        path.write_bytes(data)
        try:
            inv = load_snapshot(path)
        except UsageError as exc:
            assert "\n" not in str(exc)
            return
        assert inv.objects


@FEW
@given(snapshot_texts())
def test_preflight_judges_whatever_the_snapshot_holds(capsys, case):
    """Loading is half of it: every detector must then cope with any shape of object."""
    from calico_conformance.cli import main
    suffix, data = case
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"dump{suffix}"
        path.write_bytes(data)
        rc = main(["preflight", "--snapshot", str(path), "--output", "json"])
    out, err = capsys.readouterr()
    assert rc in (0, 1, 2, 3)
    if rc == 2:
        assert err.count("\n") == 1 and "Traceback" not in err
    else:
        json.loads(out)


# ---- kubeconfig and inventory -------------------------------------------------------------

names = st.sampled_from(["a", "prod", "", "x y"])
kubeconfig_docs = st.one_of(
    json_values,
    st.fixed_dictionaries({
        "apiVersion": st.just("v1"), "kind": st.just("Config"),
        "current-context": names | st.integers(),
        # a loopback server only: a fuzzed kubeconfig must never name a host elsewhere
        "clusters": st.lists(st.fixed_dictionaries({"name": names, "cluster": st.one_of(
            json_values, st.fixed_dictionaries({"server": st.sampled_from(["https://127.0.0.1:1", "", "127.0.0.1"])}))}),
            max_size=2) | json_values,
        "users": st.lists(st.fixed_dictionaries({"name": names, "user": st.one_of(
            st.none(), st.fixed_dictionaries({"token": st.text(max_size=4)}))}), max_size=2) | json_values,
        "contexts": st.lists(st.fixed_dictionaries({"name": names, "context": st.one_of(
            json_values, st.fixed_dictionaries({"cluster": names, "user": names}))}), max_size=2) | json_values,
    }))


def _without_exec(doc):
    """Never let a fuzzed kubeconfig name a program for the client to run."""
    text = yaml.safe_dump(doc)
    return "exec" not in text and "auth-provider" not in text and "File" not in text


@FUZZ
@given(st.one_of(kubeconfig_docs.filter(_without_exec).map(yaml.safe_dump), st.text(max_size=100)),
       st.sampled_from([None, "a", "prod"]))
def test_the_kubeconfig_loader_loads_or_says_why_in_one_line(text, context):
    from calico_conformance.k8s.client import api_client
    from calico_conformance.vocabulary.errors import TargetError
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kubeconfig"
        path.write_text(text)
        try:
            api_client(str(path), context)     # loads only: nothing is contacted
        except TargetError as exc:
            assert "\n" not in str(exc)


inventory_docs = st.one_of(
    json_values,
    st.fixed_dictionaries({
        "nodes": st.lists(st.one_of(json_values, st.fixed_dictionaries(
            {"name": names | st.integers(), "host": st.sampled_from(["10.0.0.1", "", "::1"]) | st.integers(),
             "port": st.integers(-5, 70000) | st.text(max_size=3), "sudo": json_values,
             "options": json_values})), max_size=3) | json_values,
        "defaults": json_values, "client": json_values, "kubeconfig": json_values, "context": json_values,
    }))


@FUZZ
@given(st.one_of(inventory_docs.map(yaml.safe_dump), st.text(max_size=100)))
def test_the_inventory_loader_loads_or_says_why_in_one_line(text):
    from calico_conformance.targets.ssh import load_inventory
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "nodes.yaml"
        path.write_text(text)
        try:
            inv = load_inventory(str(path))
        except UsageError as exc:
            assert "\n" not in str(exc)
            return
        # what create() then reads is all there, with the types it needs
        for node in inv["nodes"]:
            assert isinstance(node["name"], str) and node["name"]
        assert isinstance(inv.get("defaults") or {}, dict)


# ---- the CLI's options ------------------------------------------------------------------------

option_values = st.one_of(st.sampled_from(["", "0", "-1", "1", "3", "9", "10", "abc", "1e3", "2.5",
                                           "/nonexistent", "ebpf-tunnel", "list", " ", "--", "\x00"]),
                          st.text(max_size=6))
SUITE_OPTIONS = ["--lab-nodes", "--probe-connections", "--lab-dataplane", "--target", "--calico-version",
                 "--lab-objects", "--reports-dir", "--evidence-dir", "--inventory", "--kubeconfig"]


@FUZZ
@given(st.lists(st.tuples(st.sampled_from(SUITE_OPTIONS), option_values), min_size=1, max_size=3))
def test_the_suite_options_are_checked_before_pytest_sees_them(pairs):
    """What `calico-conformance run` refuses, it refuses in one line; nothing is run."""
    from calico_conformance import suite_options
    argv = [part for name, value in pairs for part in (name, value)]
    try:
        suite_options.parse(argv)
    except UsageError as exc:
        assert "\n" not in str(exc) and "pytest.main" not in str(exc)


@FEW
@given(st.sampled_from(["explain-pcap", "preflight", "catalog", "install", "uninstall"]),
       st.lists(st.one_of(st.sampled_from(["--json", "--frames", "--mtu", "--vxlan-port", "--snapshot",
                                           "--calico-version", "--output", "--markdown", "--distro",
                                           "--dry-run", "-o", "--kubeconfig", "/nonexistent"]),
                          option_values), max_size=4))
def test_the_cli_answers_any_options_with_a_result_or_one_line(capsys, command, argv):
    from calico_conformance.cli import main
    env = os.environ.get("KUBECONFIG")
    os.environ["KUBECONFIG"] = "/nonexistent/kubeconfig"     # never a real cluster
    try:
        rc = main([command, *argv])
    except SystemExit as exc:       # argparse: its usage line, then one error line, exit 2
        rc = exc.code
    finally:
        if env is None:
            os.environ.pop("KUBECONFIG", None)
        else:
            os.environ["KUBECONFIG"] = env
    _, err = capsys.readouterr()
    assert "Traceback" not in err
    assert rc in (0, 1, 2, 3), (rc, err)
    if rc == 2 and "usage:" not in err:
        assert err.count("\n") == 1, err
