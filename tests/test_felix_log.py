"""Reading felix's log for BPF mode: the cited lines in libcalico-go's layout, a shipper's
re-spacing, a restart, and no line at all (cannot tell, never "off")."""
from calico_conformance.k8s import felix_log
from calico_conformance.lab import felixlog, profiles
from calico_conformance.lab.topology import LabSpec, Topology
from calico_conformance.upstream import FELIX_BPF_STARTED_LOG, FELIX_BPF_UNSUPPORTED_LOG

STARTED = f"2024-05-01 10:00:00.123 [INFO][63] felix/int_dataplane.go 794: {FELIX_BPF_STARTED_LOG}"
FALLBACK = (f"2024-05-01 10:00:00.100 [ERROR][63] felix/daemon.go 368: {FELIX_BPF_UNSUPPORTED_LOG} "
            "error=kernel is too old (have: 4.19.0 but want at least: 5.3.0)")


def test_the_start_line_says_bpf_is_on():
    state = felix_log.bpf_state("Felix starting up\n" + STARTED + "\n")
    assert state.started == STARTED and state.fallback is None and state.judged


def test_the_fallback_line_and_its_reason():
    state = felix_log.bpf_state(FALLBACK)
    assert state.fallback == FALLBACK and not state.started
    assert felix_log.reason(state.fallback) == "kernel is too old (have: 4.19.0 but want at least: 5.3.0)"


def test_a_log_shipper_squeezing_the_double_space_is_still_read():
    assert felix_log.bpf_state(" ".join(FALLBACK.split())).fallback


def test_the_last_start_counts_after_a_restart():
    assert felix_log.bpf_state(FALLBACK + "\n" + STARTED).started
    assert felix_log.bpf_state(STARTED + "\n" + FALLBACK).fallback


def test_no_line_is_not_judged():
    assert not felix_log.bpf_state("2024-05-01 [INFO][1] felix/health.go 1: ok\n").judged
    assert felix_log.reason("no error field") == ""


def test_the_lab_logs_what_felix_would_on_each_node():
    logs = felixlog.logs(Topology(LabSpec()), profiles.get("defect-bpf-fallback-node"))
    assert felix_log.bpf_state(logs["node1"]).fallback and felix_log.bpf_state(logs["node2"]).started
