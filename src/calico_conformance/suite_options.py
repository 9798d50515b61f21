"""`calico-conformance run`'s command line, read before pytest runs, with pytest's own parser and
every plugin's options: so an option that takes a value (``--deselect NODEID``, ``--ignore PATH``)
is never taken for a place to collect from, a misspelt option is named with the closest real one,
and a bad value is one line (`--lab-nodes: 'abc' is not a whole number`), not pytest's usage text."""
from __future__ import annotations

import argparse
import difflib
import tempfile
from pathlib import Path

import pytest
from _pytest.config import get_config

from calico_conformance import plugin
from calico_conformance.paths import in_suite
from calico_conformance.vocabulary.errors import UsageError


class SuiteOptions:
    """The command line as pytest will read it: the options (``getoption``, as pytest's config
    is read) and the paths and node IDs to collect (``paths``)."""

    def __init__(self, namespace: argparse.Namespace):
        self._ns = namespace
        self.paths: list[str] = list(getattr(namespace, "file_or_dir", None) or [])

    def getoption(self, name: str):
        return getattr(self._ns, name)


def _parser(args: list[str]):
    """pytest's parser with the options of every plugin this run would load."""
    config = get_config(args)
    manager = config.pluginmanager
    manager.consider_preparse(args, exclude_only=False)
    manager.load_setuptools_entrypoints("pytest11")
    if not manager.has_plugin("calico_conformance.plugin"):
        manager.register(plugin, "calico_conformance.plugin")
    manager.consider_env()
    return config._parser


def _long_options(parser) -> list[str]:
    return sorted({name for group in [parser._anonymous, *parser._groups] for option in group.options
                   for name in option.names() if name.startswith("--")})


def parse(args: list[str]) -> SuiteOptions:
    """The run's options, or ``UsageError`` in one line: an unknown option (with the closest one),
    a bad value, or a path that is not one of the suite's checks."""
    parser = _parser(args)
    try:
        namespace, unknown = parser.parse_known_and_unknown_args([a for a in args if a not in ("-h", "--help")])
    except (pytest.UsageError, argparse.ArgumentError, SystemExit) as exc:
        lines = [ln for ln in str(exc).splitlines() if ln.strip()]
        raise UsageError((lines[-1] if lines else "bad option").removeprefix("pytest.main(): ").removeprefix("error: ")
                         + "; see `calico-conformance run --help`") from None
    options = [u for u in unknown if u.startswith("-")]
    if options:
        name = options[0].split("=", 1)[0]
        close = difflib.get_close_matches(name, _long_options(parser), n=1, cutoff=0.6)
        raise UsageError(f"unknown option {name}" + (f"; did you mean {close[0]}?" if close else
                                                     "; see `calico-conformance run --help-all`"))
    suite = SuiteOptions(namespace)
    outside = [p for p in suite.paths if not in_suite(p)]
    if outside:
        raise UsageError(f"`{outside[0]}` is not one of the suite's checks; name checks with --check ID "
                         "(or -k), or give paths under the suite's conformance/ folder")
    plugin.check_options(suite)
    return suite


def check_reports_dir(path: Path) -> None:
    """Reports can be written to ``path`` (made if missing), or a one-line ``UsageError``."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".cc-write-test-"):
            pass
    except OSError as exc:
        why = "a file is in the way" if isinstance(exc, (FileExistsError, NotADirectoryError)) else exc.strerror
        raise UsageError(f"cannot write reports to {path}: {why or exc}; choose another with "
                         "--reports-dir") from None


def check_report_files(args: list[str]) -> None:
    """The folders of report files named by pytest options (--junitxml, --html, --summary-json)
    can be written, or a one-line ``UsageError`` before pytest fails on them with a traceback."""
    for i, arg in enumerate(args):
        for opt in ("--junitxml", "--junit-xml", "--html", "--summary-json", "--evidence-dir"):
            path = None
            if arg.startswith(opt + "="):
                path = arg.split("=", 1)[1]
            elif arg == opt and i + 1 < len(args):
                path = args[i + 1]
            if path:
                folder = Path(path) if opt == "--evidence-dir" else Path(path).parent
                try:
                    check_reports_dir(folder)
                except UsageError:
                    raise UsageError(f"cannot write {opt} {path}: its folder cannot be written; "
                                     "choose another path") from None
