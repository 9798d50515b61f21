"""Node probes through a target's executors: kernel config, SCTP sockets, IPv6 readiness.

A probe that cannot run (tool missing, file unreadable, kernel without the protocol) returns
``skipped`` with the reason - never a pass.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from calico_conformance.executor import Executor, Result
from calico_conformance.vocabulary.errors import ExecutorError

PRESENT, ABSENT, SKIPPED = "present", "absent", "skipped"
TIMEOUT = 10.0
KERNEL_CONFIG_SOURCES = ("/proc/config.gz", "/boot/config-{release}")
_CONFIG_LINE = re.compile(r"^(CONFIG_\w+)=(.*)$")
_NOT_SET = re.compile(r"^# (CONFIG_\w+) is not set$")


@dataclass(frozen=True)
class ProbeResult:
    node: str
    state: str          # present (the problem is there) | absent | skipped
    detail: str


def _run(executor: Executor, argv: Sequence[str]) -> Result | str:
    """The result, or a one-line reason why the command could not run at all."""
    try:
        return executor.run(list(argv), timeout=TIMEOUT)
    except ExecutorError as exc:
        return str(exc)


def _why(result: Result | str) -> str:
    return result if isinstance(result, str) else result.describe()


# ---- kernel config ---------------------------------------------------------------------------

def parse_kernel_config(text: str) -> dict[str, str]:
    """CONFIG_X -> 'y' / 'm' / a value; options '# ... is not set' -> 'n'."""
    config = {}
    for line in text.splitlines():
        line = line.strip()
        m = _CONFIG_LINE.match(line)
        if m:
            config[m.group(1)] = m.group(2).strip('"')
            continue
        m = _NOT_SET.match(line)
        if m:
            config[m.group(1)] = "n"
    return config


def read_kernel_config(executor: Executor, sources: Sequence[str] = KERNEL_CONFIG_SOURCES
                       ) -> tuple[dict[str, str] | None, str, str]:
    """(config, where it was read, why nothing could be read)."""
    reasons, release = [], None
    for source in sources:
        if "{release}" in source:
            if release is None:
                r = _run(executor, ["uname", "-r"])
                release = r.stdout.strip() if isinstance(r, Result) and r.succeeded else ""
            if not release:
                reasons.append(f"{source}: `uname -r` gave nothing")
                continue
            source = source.format(release=release)
        r = _run(executor, ["zcat", source] if source.endswith(".gz") else ["cat", source])
        if isinstance(r, Result) and r.succeeded:
            config = parse_kernel_config(r.stdout)
            if config:
                return config, source, ""
            reasons.append(f"{source} holds no CONFIG_ lines")
        else:
            reasons.append(_why(r))
    return None, "", "; ".join(reasons)


def kernel_config(node: str, executor: Executor, required: Sequence[str],
                  recommended: Sequence[str] = (), sources: Sequence[str] = KERNEL_CONFIG_SOURCES
                  ) -> ProbeResult:
    config, where, why = read_kernel_config(executor, sources)
    if config is None:
        return ProbeResult(node, SKIPPED, f"no readable kernel config ({why})")
    missing = [o for o in required if config.get(o) not in ("y", "m")]
    weak = [o for o in recommended if config.get(o) not in ("y", "m")]
    extra = f"; recommended but not set: {', '.join(weak)}" if weak else ""
    if missing:
        return ProbeResult(node, PRESENT, f"{where}: required but not set: {', '.join(missing)}{extra}")
    return ProbeResult(node, ABSENT, f"{where}: {', '.join(required)} all set{extra}")


# ---- SCTP ------------------------------------------------------------------------------------

def _table_rows(text: str) -> list[list[str]]:
    lines = [ln.split() for ln in text.splitlines() if ln.strip()]
    return lines[1:] if lines else []          # first line is the header


def sctp_sockets(node: str, executor: Executor) -> ProbeResult:
    eps = _run(executor, ["cat", "/proc/net/sctp/eps"])
    if not (isinstance(eps, Result) and eps.succeeded):
        config, _, _ = read_kernel_config(executor)
        if config is not None and config.get("CONFIG_IP_SCTP", "n") == "n":
            return ProbeResult(node, SKIPPED, "kernel lacks SCTP (CONFIG_IP_SCTP is not set)")
        return ProbeResult(node, SKIPPED, f"SCTP not available (/proc/net/sctp unreadable: {_why(eps)})")
    endpoints = _table_rows(eps.stdout)
    assocs = _run(executor, ["cat", "/proc/net/sctp/assocs"])
    associations = _table_rows(assocs.stdout) if isinstance(assocs, Result) and assocs.succeeded else []
    if endpoints or associations:
        ports = sorted({row[5] for row in endpoints if len(row) > 5})
        return ProbeResult(node, PRESENT, f"{len(endpoints)} SCTP endpoint(s) (local ports "
                                          f"{', '.join(ports) or '?'}), {len(associations)} association(s)")
    return ProbeResult(node, ABSENT, "no SCTP endpoints or associations in /proc/net/sctp")


# ---- IPv6 ------------------------------------------------------------------------------------

def ipv6_ready(node: str, executor: Executor) -> ProbeResult:
    flag = _run(executor, ["cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6"])
    if not (isinstance(flag, Result) and flag.succeeded):
        return ProbeResult(node, SKIPPED, f"kernel has no IPv6 ({_why(flag)})")
    if flag.stdout.strip() == "1":
        return ProbeResult(node, PRESENT, "IPv6 is disabled (net.ipv6.conf.all.disable_ipv6=1)")
    addrs = _run(executor, ["ip", "-6", "-o", "addr", "show", "scope", "global"])
    if not (isinstance(addrs, Result) and addrs.succeeded):
        return ProbeResult(node, SKIPPED, f"cannot list IPv6 addresses ({_why(addrs)})")
    found = [f"{f[3]} on {f[1]}" for f in (ln.split() for ln in addrs.stdout.splitlines()) if len(f) > 3]
    if not found:
        return ProbeResult(node, PRESENT, "no global IPv6 address")
    return ProbeResult(node, ABSENT, f"IPv6 enabled; global address(es): {', '.join(found[:4])}")
