"""The suite's own options, checked before pytest sees them, so a bad value is one line
(`--lab-nodes: 'abc' is not a whole number`) and not pytest's usage text and ini-file lines."""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from calico_conformance import plugin
from calico_conformance.vocabulary.errors import UsageError


class _Parser(argparse.ArgumentParser):
    """The suite's options as pytest registers them (``getgroup().addoption`` takes what
    ``add_argument`` takes), refusing a bad value with one line instead of exiting."""

    def __init__(self):
        super().__init__(add_help=False, allow_abbrev=False)

    def getgroup(self, *_args, **_kwargs):
        return self

    def addoption(self, *names, **attrs):
        try:
            self.add_argument(*names, **attrs)
        except argparse.ArgumentError:    # registered twice (a plugin may define it too)
            pass

    def error(self, message):
        raise UsageError(f"{message}; see `calico-conformance run --help`")


class SuiteOptions:
    """The suite's options as parsed here, read the way pytest's config is read (``getoption``)."""

    def __init__(self, namespace: argparse.Namespace):
        self._ns = namespace

    def getoption(self, name: str):
        return getattr(self._ns, name)


def check_suite_options(argv: list[str]) -> SuiteOptions:
    """The suite's options, or ``UsageError`` (one line) for one pytest would refuse with its usage text."""
    parser = _Parser()
    plugin.pytest_addoption(parser)
    namespace, _rest = parser.parse_known_args([a for a in argv if a not in ("-h", "--help")])
    return SuiteOptions(namespace)


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
