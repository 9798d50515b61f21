"""The console a person reads (`calico-conformance run` without -v): one line per check with its ID
and verdict (the reason under a skip, the reason and what to do under a failure), progress on the
long phases, and the run's verdict in one line at the end. `--quiet` keeps the verdict line only;
`-v` gives pytest's own output (this plugin is then off, apart from the verdict line).

Targets and probes report progress with ``progress(config, text)``; it prints nothing when the
console is quiet or off, and nothing on xdist workers (whose output nobody sees)."""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from calico_conformance.record import fill_from_catalogs
from calico_conformance.vocabulary.facts import LAB_NOTICE

MODES = ("lines", "quiet", "off")
_MARK = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP", "not run": "NOT RUN"}


def _mode(config) -> str:
    try:
        return config.getoption("cc_console") or "off"
    except ValueError:
        return "off"


def progress(config, text: str) -> None:
    """One progress line ("building the lab ...", "waiting for TigeraStatus ...")."""
    if _mode(config) != "lines" or hasattr(config, "workerinput"):
        return
    tr = config.pluginmanager.get_plugin("terminalreporter")
    if tr is None:
        return
    capman = config.pluginmanager.get_plugin("capturemanager")
    if capman is None:
        tr.write_line(f"  .. {text}")
        return
    with capman.global_and_fixture_disabled():     # during a test's setup, output is captured
        tr.write_line(f"  .. {text}")


class Console:
    def __init__(self, config, mode: str):
        self.config, self.mode = config, mode
        self._fixture_started: dict[str, float] = {}

    @property
    def tr(self):
        return self.config.pluginmanager.get_plugin("terminalreporter")

    def pytest_sessionstart(self, session):
        # The verdict line, naming the failed checks, is the last line: pytest's own closing
        # count line ("1 failed, 27 passed ... in 2.9s", which CI log readers look for) is printed
        # just before it (terminal_summary). An interrupted run's verdict line says by what;
        # pytest's own block would add the line of whatever code the signal happened to interrupt.
        if self.tr is not None:
            self.counts_line, self.tr.summary_stats = self.tr.summary_stats, lambda: None
            self.tr._report_keyboardinterrupt = lambda: None

    @pytest.hookimpl(hookwrapper=True)
    def pytest_report_teststatus(self, report, config):
        outcome = yield
        category = outcome.get_result()[0]
        outcome.force_result((category, "", ""))        # pytest prints nothing per test; we do

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_logreport(self, report):
        if self.mode != "lines" or self.tr is None:
            return
        collector = self.config.pluginmanager.get_plugin("cc-summary")
        entry = collector.outcomes.checks.get(report.nodeid) if collector else None
        final = report.when == "call" or (report.when == "setup" and not report.passed)
        if entry is None or not final:
            return
        shown = dict(entry)
        fill_from_catalogs([shown])
        mark = _MARK.get(shown["outcome"], shown["outcome"].upper())
        colour = {"PASS": {"green": True}, "FAIL": {"red": True, "bold": True}}.get(mark, {"yellow": True})
        self.tr.write(f"{mark:<5} ", **colour)
        self.tr.write_line(f"{shown['id']:<28} {shown['promise']} ({shown.get('duration_s', 0):.2f} s)")
        if shown["outcome"] == "skipped" and shown.get("reason"):
            self.tr.write_line(f"      {shown['reason']}")
        if shown["outcome"] == "failed":
            self.tr.write_line(f"      why: {shown.get('reason', '')}")
            if shown.get("remediation"):
                self.tr.write_line(f"      what to do: {shown['remediation']}")

    @pytest.hookimpl(wrapper=True)
    def pytest_fixture_setup(self, fixturedef, request):
        name = fixturedef.argname
        watched = {"nodeport": "probing NodePort: connections from the external client, captures at every point",
                   "nodeport6": "probing the IPv6 NodePort",
                   "support_report": "holding the cluster to the support matrix"}
        if name not in watched:
            return (yield)
        progress(self.config, watched[name] + " ...")
        started = time.perf_counter()
        result = yield
        progress(self.config, f"{name} done in {time.perf_counter() - started:.2f} s")
        return result


def verdict_line(rec: dict) -> str:
    return (f"calico-conformance: verdict: {rec['verdict'].upper()} - {rec['why']} (exit {rec['exit_code']})")


def terminal_summary(terminalreporter, config) -> None:
    """The verdict line and where the reports are, whatever the console mode."""
    collector = config.pluginmanager.get_plugin("cc-summary")
    rec = getattr(collector, "last_record", None)
    if rec is None or not (collector.owns_exit or collector.path):
        return
    tr = terminalreporter
    if collector.outcomes.start_error and _mode(config) != "off":
        return      # pytest's "ERROR: ..." line says why the run did not start; nothing was written but the record
    if rec.get("notice") and _mode(config) == "lines":
        tr.write_line(f"NOTE: {rec['notice']}")
        if rec["notice"] == LAB_NOTICE:
            tr.write_line("      Real Calico: --lab-dataplane calico-ebpf runs real felix, built from Calico's source "
                          "on first use; a cluster: --target kind|kubeconfig|ssh (--help)")
    if _mode(config) != "quiet":
        for label, path in (("report", collector.html), ("summary", collector.path), ("junit", collector.junit)):
            if path is not None and Path(path).exists():
                tr.write_line(f"{label}: {path}")
    console = config.pluginmanager.get_plugin("cc-console")
    if console is not None and getattr(console, "counts_line", None) and _mode(config) == "lines":
        console.counts_line()
    colour = {"conformant": {"green": True}}.get(rec["verdict"], {"red": True})
    tr.write_line(verdict_line(rec), bold=True, **colour)
