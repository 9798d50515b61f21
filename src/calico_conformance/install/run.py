"""Performing a plan against a cluster, and undoing it. Each change is recorded in the ledger
before the next one starts, so an interrupted install can still be uninstalled."""
from __future__ import annotations

import copy
import sys
import time

from calico_conformance.install import status
from calico_conformance.install.ledger import Entry, Ledger, inverse_merge_patch
from calico_conformance.install.plan import Operation
from calico_conformance.k8s.wait import wait_until
from calico_conformance.redact import redact_text
from calico_conformance.vocabulary.errors import TargetError


def prefixed(prefix: str):
    return lambda line: print(f"{prefix}: {redact_text(line)}", file=sys.stderr, flush=True)


stderr_progress = prefixed("install")


def _describe(target) -> str:
    api_version, kind, name, ns = target
    return f"{kind} {(ns + '/') if ns else ''}{name}"


class Installer:
    def __init__(self, kube, *, progress=stderr_progress, interval: float = 2.0):
        self.kube, self.progress, self.interval = kube, progress, interval
        self.ledger = Ledger.load(kube) or Ledger()

    def apply(self, plan: list[Operation]) -> Ledger:
        for i, op in enumerate(plan, 1):
            self.progress(f"step {i}/{len(plan)} [{op.step}] {op.title}")
            getattr(self, "_" + op.action.replace("-", "_"))(op)
        self.progress("done")
        return self.ledger

    def _record(self, undo: str, target, op: Operation, patch=None, patch_type="merge") -> None:
        self.ledger.add(self.kube, Entry(undo, list(target), patch, patch_type,
                                         list(op.restart_after) if op.restart_after else None,
                                         op.step, op.cites[0].cite() if op.cites else ""))

    # ---- actions ---------------------------------------------------------------------
    def _create(self, op: Operation) -> None:
        obj = op.obj
        api_version, kind, name = obj["apiVersion"], obj["kind"], obj["metadata"]["name"]
        ns = obj["metadata"].get("namespace")
        if self.kube.get(api_version, kind, name, ns) is not None:
            self.progress(f"  {kind} {name} exists: left as it is")
            return
        self.kube.create(obj)
        self._record("delete", (api_version, kind, name, ns), op)

    def _patch(self, op: Operation) -> None:
        api_version, kind, name, ns = op.target
        if kind == "FelixConfiguration" and not self.kube.served(api_version, kind):
            api_version = "crd.projectcalico.org/v1"       # no Calico API server: the CRD itself
            op.target = (api_version, kind, name, ns)
            op.obj = {**op.obj, "apiVersion": api_version}
        prior = self.kube.get(api_version, kind, name, ns)
        if prior is None:
            if not op.create_if_missing:
                raise TargetError(f"{_describe(op.target)} not found, so the step '{op.title}' cannot be done; "
                                  "is this the right --distro?")
            obj = copy.deepcopy(op.obj)
            obj.setdefault("spec", {}).update(op.patch.get("spec", {}))
            self.kube.create(obj)
            self._record("delete", op.target, op)
            return
        self.kube.patch(api_version, kind, name, op.patch, namespace=ns, patch_type=op.patch_type)
        self._record("patch", op.target, op, inverse_merge_patch(prior, op.patch), op.patch_type)
        if op.restart_after:
            self._rollout(op.restart_after)

    def _restart_pods(self, op: Operation) -> None:
        ns = op.target[3]
        for pod in self.kube.list("v1", "Pod", ns, label_selector=op.selector):
            self.kube.delete("v1", "Pod", pod["metadata"]["name"], ns)
            self.progress(f"  deleted pod {ns}/{pod['metadata']['name']}")

    def _sleep(self, op: Operation) -> None:
        if op.seconds > 0:
            self.progress(f"  waiting {op.seconds:g} s")
            time.sleep(op.seconds)

    def _wait_crds(self, op: Operation) -> None:
        api_version, kind = op.target[:2]
        wait_until(lambda: (self.kube.served(api_version, kind), "not served yet"),
                   what=f"{api_version} {kind} to be served", timeout=120, interval=self.interval,
                   progress=self._indent)

    def _wait_status(self, op: Operation) -> None:
        status.wait_available(self.kube, op.expect, timeout=op.seconds, interval=self.interval,
                              progress=self._indent)

    def _note(self, op: Operation) -> None:
        self.progress(f"  {op.text}")

    def _indent(self, line: str) -> None:
        self.progress("  " + line)

    def _rollout(self, target) -> None:
        rollout_restart(self.kube, target, progress=self._indent, interval=self.interval)


def rollout_restart(kube, target, *, progress, interval: float = 2.0, timeout: float = 300) -> None:
    api_version, kind, name, ns = target
    kube.patch(api_version, kind, name, {"spec": {"template": {"metadata": {"annotations": {
        "kubectl.kubernetes.io/restartedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}}}}},
        namespace=ns, patch_type="strategic")

    def rolled():
        ds = kube.get(api_version, kind, name, ns)
        if ds is None:
            return True, "gone"
        st, gen = ds.get("status") or {}, ds["metadata"].get("generation", 0)
        desired = st.get("desiredNumberScheduled", 0)
        done = (st.get("observedGeneration", 0) >= gen and st.get("updatedNumberScheduled", 0) >= desired
                and st.get("numberUnavailable", 0) == 0)
        return done, f"{st.get('updatedNumberScheduled', 0)}/{desired} updated"
    wait_until(rolled, what=f"{kind} {ns}/{name} to roll out", timeout=timeout, interval=interval,
               progress=progress)


def uninstall(kube, *, progress=prefixed("uninstall"), timeout: float = 600, interval: float = 2.0) -> int:
    """Undo what the ledger recorded, newest first. Returns how many changes were undone."""
    ledger = Ledger.load(kube)
    if ledger is None:
        raise TargetError("nothing to uninstall: no tigera-operator/calico-conformance-install ledger in this "
                          "cluster (was it installed with `calico-conformance install`?)")
    undone = 0
    for entry in reversed(ledger.entries):
        api_version, kind, name, ns = entry.target
        if entry.undo == "patch":
            if kube.get(api_version, kind, name, ns) is None:
                progress(f"{entry.describe()}: already gone")
                continue
            progress(f"revert {_describe(entry.target)} ({entry.step})")
            kube.patch(api_version, kind, name, entry.patch, namespace=ns, patch_type=entry.patch_type)
            if entry.restart_after:
                rollout_restart(kube, tuple(entry.restart_after), progress=progress, interval=interval)
        else:
            progress(f"delete {_describe(entry.target)} ({entry.step})")
            if kube.delete(api_version, kind, name, ns) and kind == "Installation":
                # The operator removes Calico while the Installation has its finalizer; keep it running until then.
                wait_until(lambda: (kube.get(api_version, kind, name) is None, "still there"),
                           what="the operator to remove Calico", timeout=timeout, interval=interval,
                           progress=progress)
        undone += 1
    if kube.get("v1", "Namespace", ledger.namespace) is not None:
        ledger.forget(kube)
    progress(f"uninstalled: {undone} change(s) undone")
    return undone
