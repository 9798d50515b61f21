"""What a felix (calico-node) log says about BPF mode: the start-up line of the BPF dataplane or
the fallback line (upstream.FELIX_BPF_STARTED_LOG / FELIX_BPF_UNSUPPORTED_LOG).

Lines are as libcalico-go's formatter writes them (``2024-01-02 03:04:05.678 [INFO][63]
felix/int_dataplane.go 794: message key=value``); only the message text is matched, so another
layout (JSON logging, a log shipper's prefix) is read too. The start-up lines are only in the log
of the container's current run, and a kubelet that rotated the log has lost them: "neither line"
means "cannot tell", never "BPF is off".
"""
from __future__ import annotations

from dataclasses import dataclass

from calico_conformance.upstream import FELIX_BPF_STARTED_LOG, FELIX_BPF_UNSUPPORTED_LOG

# A shipper may squeeze the two spaces; the words are what felix wrote.
_FALLBACK_WORDS = " ".join(FELIX_BPF_UNSUPPORTED_LOG.split())


@dataclass(frozen=True)
class BpfLogState:
    started: str | None = None     # the line that says felix started the BPF dataplane
    fallback: str | None = None    # the line that says it fell back (with its reason, v3.28.0+)

    @property
    def judged(self) -> bool:
        return bool(self.started or self.fallback)


def bpf_state(text: str) -> BpfLogState:
    """The last start-up verdict in ``text`` (a restarted container logs again)."""
    started = fallback = None
    for line in text.splitlines():
        if FELIX_BPF_STARTED_LOG in line:
            started, fallback = line.strip(), None
        elif _FALLBACK_WORDS in " ".join(line.split()):
            fallback, started = line.strip(), None
    return BpfLogState(started, fallback)


def reason(line: str) -> str:
    """The reason felix gave for the fallback (`` error=...``, v3.28.0+), or ''."""
    _, sep, rest = line.partition(" error=")
    return rest.strip().strip('"') if sep else ""
