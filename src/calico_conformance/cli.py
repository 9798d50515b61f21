"""The ``calico-conformance`` command. Each sub-command lives in ``src/calico_conformance/commands/``."""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from importlib.metadata import PackageNotFoundError, version as dist_version

import calico_conformance.commands
from calico_conformance.redact import redact_text
from calico_conformance.vocabulary import exitcodes
from calico_conformance.vocabulary.errors import ExecutorError, UsageError

PROG = "calico-conformance"


def version() -> str:
    try:
        return dist_version(PROG)
    except PackageNotFoundError:   # run from a source tree that was never installed
        return "unknown (not installed)"


def _command_modules():
    for info in sorted(pkgutil.iter_modules(calico_conformance.commands.__path__), key=lambda i: i.name):
        yield importlib.import_module(f"calico_conformance.commands.{info.name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Conformance suite for Calico's eBPF dataplane, with packet-level evidence.",
        epilog="Run `calico-conformance COMMAND --help` for a command's options.")
    parser.add_argument("--version", action="version", version=f"{PROG} {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        cmd = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.configure(cmd)
        cmd.set_defaults(_run=mod.run)
    return parser


def _passthrough(argv: list[str]):
    """Commands that hand their arguments to another parser (``run`` gives them to pytest)."""
    if argv:
        for mod in _command_modules():
            if mod.NAME == argv[0] and getattr(mod, "PASSTHROUGH", False):
                return lambda: mod.run(argv[1:])
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    call = _passthrough(argv)
    if call is None:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not getattr(args, "_run", None):
            parser.print_help()
            return exitcodes.USAGE
        call = lambda: args._run(args)
    try:
        return int(call() or 0)
    except (UsageError, ExecutorError) as exc:
        print(f"{PROG}: error: {redact_text(str(exc))}", file=sys.stderr)
        return exitcodes.USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return exitcodes.INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`... | head`): nothing more to say, and no traceback on the way out
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
