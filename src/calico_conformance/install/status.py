"""Waiting for TigeraStatus: every expected component Available and none Degraded, with a
progress line per change and a timeout that names what did not come up (doc: v3.29, "Monitor the
progress of the installation": watch kubectl get tigerastatus)."""
from __future__ import annotations

from calico_conformance.install import data
from calico_conformance.k8s.wait import wait_until
from calico_conformance.vocabulary.errors import TargetError


def _conditions(obj: dict) -> dict[str, dict]:
    return {c.get("type"): c for c in (obj.get("status") or {}).get("conditions") or []}


def component_state(obj: dict) -> tuple[str, str]:
    """("Available" | "Degraded" | "Progressing" | "Unknown", message)."""
    conds = _conditions(obj)
    for kind in ("Degraded", "Available", "Progressing"):
        c = conds.get(kind)
        if c and c.get("status") == "True":
            return kind, c.get("message") or c.get("reason") or ""
    return "Unknown", ""


def _dataplane_applied(kube) -> bool:
    """The operator copies the spec it rolled out to status.computed; until then it has not."""
    inst = kube.get("operator.tigera.io/v1", "Installation", "default") or {}
    computed = (inst.get("status") or {}).get("computed")
    if computed is None:
        return True         # operators without status.computed: TigeraStatus alone decides
    return (computed.get("calicoNetwork") or {}).get("linuxDataplane") == "BPF"


def wait_available(kube, expect, *, timeout: float, progress=None, interval: float = 2.0) -> None:
    state: dict[str, tuple[str, str]] = {}

    def check():
        state.clear()
        for obj in kube.list("operator.tigera.io/v1", "TigeraStatus"):
            state[obj["metadata"]["name"]] = component_state(obj)
        missing = [c for c in expect if c not in state]
        bad = {n: s for n, s in state.items() if s[0] != "Available"}
        summary = " ".join(f"{n}={s[0]}" for n, s in sorted(state.items())) or "no TigeraStatus yet"
        if missing:
            summary += f" (waiting for: {', '.join(missing)})"
        done = not missing and not bad and state and _dataplane_applied(kube)
        if not missing and not bad and state and not done:
            summary += " (Installation not yet rolled out with linuxDataplane BPF)"
        return bool(done), summary

    kwargs = {"progress": progress} if progress is not None else {}
    try:
        wait_until(check, what="TigeraStatus", timeout=timeout, interval=interval, **kwargs)
    except TargetError:
        ns = data.defaults()["operator_namespace"]
        if not state:
            raise TargetError(f"no TigeraStatus appeared within {timeout:g} s: is the operator running? "
                              f"(kubectl -n {ns} get pods; kubectl -n {ns} logs deploy/tigera-operator)") from None
        names = [c for c in expect if c not in state] + [n for n, s in sorted(state.items()) if s[0] != "Available"]
        detail = "; ".join(f"{n}: {state[n][0]}{(' - ' + state[n][1]) if state.get(n, ('', ''))[1] else ''}"
                           if n in state else f"{n}: not reported" for n in names) or "rollout not finished"
        raise TargetError(f"Calico did not become Available within {timeout:g} s: {detail} "
                          "(see kubectl get tigerastatus)") from None
