"""The echo backend as it runs in a cluster (`python3 echo.py`): dual-stack by default, and it
reports IPv4 peers of a dual-stack socket as plain IPv4, so source-IP checks compare like with like."""
import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from calico_conformance.targets.cluster import _ipv6_of


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def echo():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "calico_conformance.workloads.echo", "--port", str(port),
                             "--hostname", "backend@test"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield port
    proc.kill()
    proc.wait()


def _get(url: str) -> dict:
    return json.loads(urllib.request.urlopen(url, timeout=5).read())


def test_ipv4_client_is_reported_as_plain_ipv4(echo):
    answer = _get(f"http://127.0.0.1:{echo}/")
    assert answer["client_ip"] == "127.0.0.1" and answer["hostname"] == "backend@test"


@pytest.mark.parametrize("query, size", [("pad=4000", 4000), ("pad=-5", 0), ("pad=lots", 0),
                                         (f"pad={10**9}", 1 << 20)])
def test_pad_asks_for_a_reply_of_that_many_bytes_within_a_cap(echo, query, size):
    answer = _get(f"http://127.0.0.1:{echo}/?{query}")
    assert len(answer.get("pad", "")) == size and answer["client_ip"] == "127.0.0.1"


def test_the_probe_client_reports_how_much_of_a_large_reply_arrived(echo):
    from calico_conformance.workloads import httpget
    out = httpget.http_get("127.0.0.1", echo, path="/?pad=50000")
    assert out["ok"] and out["received_bytes"] > 50000 and "pad" not in out["answer"]
    # run as a script, as the SSH client does (empty BIND, then PATH)
    line = subprocess.run([sys.executable, httpget.__file__, "127.0.0.1", str(echo), "2", "", "/?pad=10"],
                          capture_output=True, text=True, check=True).stdout
    assert json.loads(line)["path"] == "/?pad=10"


def test_ipv6_client_is_reported_as_ipv6(echo):
    if not socket.has_ipv6:
        pytest.skip("skipped: this host has no IPv6")
    try:
        answer = _get(f"http://[::1]:{echo}/")
    except OSError as exc:
        pytest.skip(f"skipped: ::1 is not reachable here ({exc})")
    assert answer["client_ip"] == "::1"


def test_a_dual_stack_node_gives_its_ipv6_internal_ip():
    node = {"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.5"},
                                     {"type": "InternalIP", "address": "fd00:10::5"},
                                     {"type": "Hostname", "address": "n1"}]}}
    assert _ipv6_of(node) == "fd00:10::5"
    assert _ipv6_of({"status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.5"}]}}) is None


def test_echo_service_asks_for_both_families_where_the_cluster_has_them():
    """Without ipFamilyPolicy Kubernetes makes a Service single-stack, so a dual-stack cluster
    would have no IPv6 NodePort to probe (issue: EBPF-IPV6-NODEPORT failed every time)."""
    from calico_conformance.workloads.pods import echo_objects
    svc = next(o for o in echo_objects("ns", "node-a", "python:3") if o["kind"] == "Service")
    assert svc["spec"]["ipFamilyPolicy"] == "PreferDualStack"
    assert "ipFamilies" not in svc["spec"]    # naming IPv6 would be refused by an IPv4-only cluster
