"""The pytest plugin: options, the target fixtures, and reporting (check IDs and target facts in
JUnit; verdicts, decoded flows and links to captures in the HTML report)."""
from __future__ import annotations

import difflib
import html
import signal
import time
from pathlib import Path

import pytest

from calico_conformance import catalog, record, targets
from calico_conformance.console import MODES, Console, progress, terminal_summary
from calico_conformance.evidence.report import check_html, facts_html, notice_html, verdict_html
# The fixtures live in fixtures/ (shipped as calico_conformance.fixtures); a plugin module's
# names are where pytest looks for a plugin's fixtures.
from calico_conformance.fixtures.evidence import evidence  # noqa: F401
from calico_conformance.fixtures.felix import felix_bpf  # noqa: F401
from calico_conformance.fixtures.nodeport import etp_local, nodeport, nodeport6  # noqa: F401
from calico_conformance.fixtures.target import facts, target  # noqa: F401
from calico_conformance.paths import in_suite, suite_dir
from calico_conformance.record import VERDICT_NOTES
from calico_conformance.report.path import describe
from calico_conformance.session import (EVIDENCE_KEY, FACTS_KEY, TARGET_KEY, build_target, clear_old_evidence,
                                        evidence_root, record_facts)
from calico_conformance.summary import RunSummary, VerdictGuard
from calico_conformance.support import matrix, versions
from calico_conformance.vocabulary.errors import UsageError


def pytest_addoption(parser):
    group = parser.getgroup("calico-conformance", "Calico eBPF conformance")
    group.addoption("--target", default="lab", metavar="NAME",
                    help=f"what to test: {', '.join(targets.names())} (default: lab, the reference "
                         "lab built from network namespaces on this host)")
    group.addoption("--evidence-dir", default=None, metavar="DIR",
                    help="where captures are kept (default: evidence/ next to --html or "
                         "--junitxml, else reports/evidence)")
    group.addoption("--calico-version", default=None, metavar="VERSION",
                    help="Calico version whose documents the cluster is held to (v3.29, 3.29 or "
                         "v3.29.1; default: detected from the cluster, else the newest known); with "
                         "--install, a release (v3.31.7) is also the one installed")
    group.addoption("--check", action="append", default=[], metavar="ID",
                    help="run only this check (EBPF-SOURCE-IP, SUP-KERNEL; repeat, or separate with "
                         "commas); -k matches check IDs too. A selection is a partial run, never a "
                         "certification")
    group.addoption("--probe-connections", type=int, default=3, metavar="N",
                    help="connections per NodePort probe batch (default: 3)")
    group.addoption("--summary-json", default=None, metavar="PATH",
                    help="write the run as one JSON record: facts, every check's verdict and reason, "
                         "the overall verdict (`calico-conformance run` writes reports/summary.json)")
    group.addoption("--report-html", default=None, metavar="PATH",
                    help="write the suite's own HTML report (rendered from the summary record; needs "
                         "--summary-json). pytest-html's --html works as well")
    group.addoption("--report-junit", default=None, metavar="PATH",
                    help="write a JUnit file that validates against the Jenkins JUnit schema, one "
                         "testcase per check named by its ID (needs --summary-json)")
    group.addoption("--cc-console", default="off", choices=MODES,
                    help="lines: one line per check and the verdict (what `calico-conformance run` "
                         "shows); quiet: the verdict line only; off: pytest's own output")
    targets.add_all_options(parser)


def pytest_configure(config):
    # The markers, here and not only in pyproject.toml: an installed copy runs with no ini file.
    config.addinivalue_line("markers", "check(id): a conformance check from conformance/catalog.yaml")
    config.addinivalue_line("markers", "needs(*features): target features the check needs; a "
                                       "missing one skips it with its reason")
    name = config.getoption("target")
    try:
        info = targets.info_request(name, config)
        if info:
            print(info)
            pytest.exit("listed what was asked for, ran nothing", returncode=0)
        check_options(config)
    except UsageError as exc:
        raise pytest.UsageError(f"calico-conformance: {exc}") from None
    if _is_xdist_controller(config) and _runs_suite(config):
        # Workers cannot show a usage error; refuse what can be refused before they start.
        try:
            targets.check(name, config)
        except UsageError as exc:
            raise pytest.UsageError(f"calico-conformance: {exc}") from None
    if not hasattr(config, "workerinput") and _runs_suite(config):
        root = evidence_root(config)
        try:
            clear_old_evidence(root)
        except OSError as exc:
            raise pytest.UsageError(f"cannot use evidence directory {root}: {exc.strerror}; "
                                    "choose another with --evidence-dir") from None
    if not hasattr(config, "workerinput"):     # the process that writes the reports
        path = lambda name: Path(config.getoption(name)) if config.getoption(name) else None
        summary_path = path("summary_json")
        collector = RunSummary(
            summary_path, FACTS_KEY, html=path("report_html") if summary_path else None,
            junit=path("report_junit") if summary_path else None,
            evidence_root=evidence_root(config).resolve(), owns_exit=_runs_suite(config),
            options=list(config.invocation_params.args))
        collector.outcomes.selection = selection(config)
        config.pluginmanager.register(collector, "cc-summary")
        guard = VerdictGuard(collector)
        config.pluginmanager.register(guard, "cc-verdict-guard")
        config.add_cleanup(guard.restore)       # the last clean-up: after the target's tear-down
        mode = config.getoption("cc_console")
        if mode != "off":
            config.pluginmanager.register(Console(config, mode), "cc-console")
    # SIGTERM (CI cancelling a job) gets the same orderly tear-down as Ctrl-C.
    try:
        signal.signal(signal.SIGTERM, _interrupt)
    except ValueError:   # not the main thread
        pass


def check_options(options) -> None:
    """The suite's own option values, before anything is built (``UsageError``, one line).
    ``options``: pytest's config, or anything with its ``getoption``."""
    name = options.getoption("target")
    if name not in targets.names():
        raise UsageError(f"unknown target {name!r}; choose one of: {', '.join(targets.names())}")
    if options.getoption("probe_connections") < 1:
        raise UsageError("--probe-connections must be at least 1")
    version = options.getoption("calico_version")
    if version is not None:
        try:
            versions.resolve(version, matrix.load().versions)
        except UsageError as exc:
            raise UsageError(f"--calico-version {version}: {exc}") from None
    known = record.every_check_id()
    for cid in selected_ids(options):
        if cid not in known:
            close = difflib.get_close_matches(cid, known, n=1)
            raise UsageError(f"--check {cid}: no such check" + (f"; did you mean {close[0]}?" if close else
                                                                "; `calico-conformance catalog` lists them"))


def selected_ids(options) -> list[str]:
    """The check IDs named with --check (repeated or comma-separated)."""
    return [cid.strip() for value in options.getoption("check") or [] for cid in value.split(",") if cid.strip()]


def selection(config) -> str:
    """How this run chose its checks, in words ("" for the whole suite)."""
    parts = []
    if selected_ids(config):
        parts.append("--check " + ",".join(selected_ids(config)))
    for flag, name in (("-k", "keyword"), ("-m", "markexpr")):
        value = getattr(config.option, name, "")
        if value:
            parts.append(f"{flag} {value!r}")
    for nodeid in getattr(config.option, "deselect", None) or []:
        parts.append(f"--deselect {nodeid}")
    if getattr(config.option, "lf", False) or getattr(config.option, "last_failed", False):
        parts.append("--lf")
    narrower = [a for a in config.args if in_suite(a) and Path(a.split("::")[0]).resolve() != suite_dir()]
    if narrower:
        parts.append("paths " + " ".join(narrower))
    return ", ".join(parts)


def _is_xdist_controller(config) -> bool:
    return not hasattr(config, "workerinput") and bool(_option(config, "numprocesses"))


def _runs_suite(config) -> bool:
    return any(in_suite(arg) for arg in config.args)


def _interrupt(signum, frame):
    raise KeyboardInterrupt("SIGTERM")


def _option(config, name):
    try:
        return config.getoption(name)
    except ValueError:
        return None


# ---- collection and reporting -----------------------------------------------------------

def pytest_collection_finish(session):
    config = session.config
    if config.option.collectonly or TARGET_KEY in config.stash or hasattr(config, "workerinput"):
        return
    if any("target" in getattr(item, "fixturenames", ()) for item in session.items):
        progress(config, f"building target {config.getoption('target')} ...")
        started = time.perf_counter()
        try:
            tgt = build_target(config)
        except pytest.UsageError as exc:
            collector = config.pluginmanager.get_plugin("cc-summary")
            if collector is not None:
                collector.outcomes.start_error = str(exc).removeprefix("calico-conformance: ")
            raise
        progress(config, f"target {tgt.name} ready in {time.perf_counter() - started:.2f} s: "
                         f"{len(list(tgt.nodes()))} nodes")


def pytest_itemcollected(item):
    # -k matches a check's ID (EBPF-SOURCE-IP) as well as its test's name
    marker = item.get_closest_marker("check")
    if marker:
        item.extra_keyword_matches.add(marker.args[0])


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    wanted = set(selected_ids(config))
    if wanted:
        keep = [i for i in items if i.get_closest_marker("check") and i.get_closest_marker("check").args[0] in wanted]
        dropped = [i for i in items if i not in keep]
        if dropped:
            config.hook.pytest_deselected(items=dropped)
            items[:] = keep
    checks = catalog.load()
    for item in items:
        marker = item.get_closest_marker("check")
        if not marker:
            continue
        cid = marker.args[0]
        check = checks.get(cid)
        if check is None:
            # Support-matrix checks carry their own statements; only catalog IDs are looked up.
            item.user_properties.append(("check_id", cid))
            continue
        item.user_properties += [("check_id", cid), ("check_title", check.title),
                                 ("verifies", check.cited()), ("remediation", check.remediation)]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    final = report.when == "call" or (report.when == "setup" and not report.passed)
    if not final:
        return
    # The evidence and the probed path travel on the report (xdist carries them to the
    # controller), for summary.json and the report rendered from it.
    ev = item.stash.get(EVIDENCE_KEY, None)
    if ev is not None and ev.items:
        report.cc_evidence = ev.as_dict()
    if ev is not None and ev.caused_by and report.failed:
        report.cc_caused_by = ev.caused_by
    funcargs = getattr(item, "funcargs", {}) or {}
    for name in ("nodeport", "nodeport6"):
        obs = funcargs.get(name)
        if obs is not None and hasattr(obs, "connections"):
            tables = "\n".join([i["body"] for i in getattr(report, "cc_evidence", []) if i["kind"] == "table"]
                               + [report.longreprtext if report.failed else ""])
            try:
                report.cc_path = describe(obs, tables)
            except Exception as exc:    # a picture must never cost the verdict
                report.cc_path = {"error": f"could not follow the connection: {exc}"}
            break
    if not item.config.pluginmanager.hasplugin("html"):
        return
    from pytest_html import extras
    html_path = getattr(item.config.option, "htmlpath", None)
    base = Path(html_path).resolve().parent if html_path else None
    parts = [check_html(dict(item.user_properties), failed=report.failed)]
    ev = item.stash.get(EVIDENCE_KEY, None)
    if ev is not None:
        parts.append(ev.html(relative_to=base))
    report.extras = getattr(report, "extras", []) + [extras.html("\n".join(p for p in parts if p))]


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_header(cells):
    cells.insert(1, "<th>Check</th>")


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_row(report, cells):
    props = dict(getattr(report, "user_properties", []))
    cells.insert(1, f"<td>{html.escape(props.get('check_id', ''))}</td>")


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    props = getattr(node, "workeroutput", {}).get("cc_facts")
    if props:
        record_facts(node.config, props)


def pytest_report_header(config):
    return targets.header(config.getoption("target"), config)


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(prefix, summary, postfix, session):
    collector = session.config.pluginmanager.get_plugin("cc-summary")
    if collector is not None:
        overall, why = collector.outcomes.judge(session.exitstatus if isinstance(session.exitstatus, int) else 0)
        prefix.append(verdict_html(overall, f"{VERDICT_NOTES[overall]}: {why}", collector.outcomes.counts()))
    props = session.config.stash.get(FACTS_KEY, None) or {}
    if props.get("lab_notice"):
        prefix.append(notice_html(props["lab_notice"]))
    if props:
        prefix.append(facts_html(props))


@pytest.hookimpl(optionalhook=True)
def pytest_html_report_title(report):
    report.title = "Calico eBPF conformance"


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    terminal_summary(terminalreporter, config)
    props = config.stash.get(FACTS_KEY, None)
    if not props or config.getoption("cc_console") != "off":
        return
    tr = terminalreporter
    tr.section("calico-conformance")
    if props.get("lab_notice"):
        tr.write_line(f"NOTE: {props['lab_notice']}")
    tr.write_line(f"target: {props.get('target')}  calico: {props.get('calico_version')}  "
                  f"distribution: {props.get('distribution')}  "
                  f"external service mode: {props.get('felix.external_service_mode')}")
    root = evidence_root(config)
    if root.is_dir():
        tr.write_line(f"captures: {root}")
