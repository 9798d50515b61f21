"""--dry-run output: the plan as a YAML stream, one document per operation, in order. Objects are
printed as they would be created; a patch is printed as its target's identity plus the patch
body. Comment lines above each document say the step, the action (patch type and target), the
equivalent kubectl command and the document statement(s) it implements."""
from __future__ import annotations

import yaml

from calico_conformance.install.plan import Operation


def _ident(target) -> dict:
    api_version, kind, name, ns = target
    meta = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def _describe(target) -> str:
    api_version, kind, name, ns = target
    return f"{api_version} {kind} {(ns + '/') if ns else ''}{name or '(selected)'}"


def _header(i: int, n: int, op: Operation) -> list[str]:
    lines = [f"# step {i}/{n}: {op.step}: {op.title}"]
    if op.action == "create":
        lines.append(f"# action: create {_describe((op.obj['apiVersion'], op.obj['kind'], op.obj['metadata']['name'], op.obj['metadata'].get('namespace')))}")
    elif op.action == "patch":
        extra = " (created if missing)" if op.create_if_missing else ""
        lines.append(f"# action: patch ({op.patch_type}) {_describe(op.target)}{extra}")
        lines.append(f"# kubectl: {op.kubectl()}")
        if op.restart_after:
            lines.append(f"# then: rollout restart {_describe(op.restart_after)}")
    elif op.action == "restart-pods":
        lines.append(f"# action: delete pods -n {op.target[3]} -l {op.selector}")
    elif op.action == "sleep":
        lines.append(f"# action: wait {op.seconds:g} s")
    elif op.action == "wait-crds":
        lines.append(f"# action: wait until {op.target[0]} {op.target[1]} is served")
    elif op.action == "wait-status":
        lines.append(f"# action: wait up to {op.seconds:g} s for TigeraStatus {', '.join(op.expect)} Available")
    elif op.action == "note":
        lines.append(f"# action: none (guidance): {op.text}")
    if op.condition:
        lines.append(f"# condition: {op.condition}")
    if op.validated:
        lines.append(f"# validated: {op.validated}")
    lines += [f"# {c.cite()}" for c in op.cites]
    return lines


def _body(op: Operation):
    if op.action == "create":
        return op.obj
    if op.action == "patch" and isinstance(op.patch, dict):
        return {**_ident(op.target), **op.patch}
    return None


def render_yaml(plan: list[Operation]) -> str:
    out = []
    for i, op in enumerate(plan, 1):
        doc = "\n".join(_header(i, len(plan), op)) + "\n"
        body = _body(op)
        if body is not None:
            doc += yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
        out.append("---\n" + doc)
    return "".join(out)


def render_text(plan: list[Operation]) -> str:
    lines = []
    for i, op in enumerate(plan, 1):
        lines.append(f"{i:2d}. [{op.step}] {op.action}: {op.title}")
        if op.condition:
            lines.append(f"      condition: {op.condition}")
        if op.text:
            lines.append(f"      {op.text}")
        if op.validated:
            lines.append(f"      validated {op.validated}")
        for c in op.cites:
            lines.append(f"      {c.cite()}")
    return "\n".join(lines) + "\n"
