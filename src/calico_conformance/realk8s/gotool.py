"""The ordinary ``go`` command, with timeouts, its output kept in a log file, and its failures
turned into one line (the error the go command or the module proxy gave)."""
from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from calico_conformance.executor import run_local
from calico_conformance.vocabulary.errors import ExecutorError


class BuildError(Exception):
    """A build step failed: ``step`` names it, the message says why in one line."""

    def __init__(self, step: str, reason: str):
        super().__init__(f"{step}: {reason}")
        self.step, self.reason = step, reason


def go_binary() -> str:
    found = shutil.which("go") or ("/usr/local/go/bin/go" if os.access("/usr/local/go/bin/go", os.X_OK) else None)
    if not found:
        raise BuildError("go", "the go command is not installed; install Go >= 1.22 (https://go.dev/dl) "
                               "and put it on PATH")
    return found


def _env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    # Our wrapper modules are ours to resolve; never read a VCS or the host's GOFLAGS surprises.
    env["GOFLAGS"] = "-mod=mod -buildvcs=false"
    env.setdefault("GOTOOLCHAIN", "local")
    # A tree with a complete go.sum (Calico's) replaces GOFLAGS: go's default -mod=readonly then holds.
    env.update(extra or {})
    return env


def _last_error(text: str) -> str:
    """The line that says what went wrong: go's errors start with "go:" or name a file, and the
    proxy's answer follows on a "server response:" line."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if "server response:" in line and i:
            return f"{lines[i - 1]} ({line})"
    for i, line in enumerate(lines):      # "go: errors parsing go.mod:" and the error on the next line
        if line.startswith("go:") and line.endswith(":") and i + 1 < len(lines):
            return f"{line} {lines[i + 1]}"
    errs = [ln for ln in lines if ln.startswith("go:") or ": error" in ln or re.match(r"^\S+\.(go|mod):\d+", ln)]
    return (errs or lines or ["no output"])[-1]


def run(step: str, args: list[str], *, cwd: Path | None = None, log: Path | None = None,
        timeout: float = 1800, env: dict | None = None) -> str:
    """``go ARGS``; its stdout. A failure raises BuildError(step, go's own error line). ``env`` is
    set over the defaults (GOFLAGS included)."""
    argv = [go_binary(), *args]
    try:
        proc = run_local(argv, cwd=cwd, env=_env(env), timeout=timeout, where="this host (lab build)")
    except ExecutorError as exc:
        raise BuildError(step, str(exc)) from None
    if log is not None:
        log.parent.mkdir(parents=True, exist_ok=True)
        log.write_text(f"$ go {' '.join(args)}\n{proc.stdout}{proc.stderr}")
    if not proc.succeeded:
        raise BuildError(step, _last_error(proc.stderr or proc.stdout) + (f" (log: {log})" if log else ""))
    return proc.stdout


def download(step: str, module: str, version: str) -> dict:
    """``go mod download -json MODULE@VERSION``: the module's directory (Dir) and go.mod (GoMod).
    The proxy's refusal comes back as the record's Error, which is what we report."""
    argv = [go_binary(), "mod", "download", "-json", f"{module}@{version}"]
    try:
        proc = run_local(argv, env=_env(), timeout=900, cwd="/", where="this host (lab build)")
    except ExecutorError as exc:
        raise BuildError(step, str(exc)) from None
    try:
        record = json.loads(proc.stdout)
    except ValueError:
        raise BuildError(step, _last_error(proc.stderr or proc.stdout)) from None
    if record.get("Error") or not proc.succeeded:
        raise BuildError(step, " ".join((record.get("Error") or _last_error(proc.stderr)).split()))
    return record


_REPLACE_BLOCK = re.compile(r"^replace\s*\((.*?)^\)", re.S | re.M)
_REPLACE_LINE = re.compile(r"^replace[ \t]+([^\s(]\S*)(?:[ \t]+\S+)?[ \t]*=>[ \t]*(\S+)(?:[ \t]+(\S+))?[ \t]*$", re.M)


def replaces(gomod: str) -> list[tuple[str, str, str | None]]:
    """(module, target, version or None for a directory) for every replace directive of a go.mod."""
    out = []
    for block in _REPLACE_BLOCK.findall(gomod):
        for line in block.splitlines():
            line = line.split("//")[0].strip()
            if "=>" in line:
                old, new = (part.split() for part in line.split("=>"))
                out.append((old[0], new[0], new[1] if len(new) > 1 else None))
    for old, new, ver in _REPLACE_LINE.findall(gomod):
        out.append((old, new, ver or None))
    return out


def version_m(binary: Path) -> str:
    return run("go version -m", ["version", "-m", str(binary)], timeout=60)
