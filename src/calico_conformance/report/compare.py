"""What changed between two runs (bundles, reports directories or summary.json files): the
verdict, the target facts (Calico version, kernels, Felix settings), and check by check, naming
the checks that got worse from A to B (what a CI gate on regressions fails on)."""
from __future__ import annotations

# How good an outcome is: a check got worse when its rank fell (passed -> skipped, skipped ->
# failed, anything -> absent or not run); a reason that changed alone is not worse.
RANK = {"passed": 3, "skipped": 2, "not run": 1, "absent": 1, "failed": 0}


def _facts(rec: dict) -> dict[str, str]:
    out = {k: str(v) for k, v in rec.get("target", {}).items()}
    for node in rec.get("nodes", []):
        for key, value in node.items():
            if key != "name":
                out[f"node {node['name']} {key}"] = str(value)
    return out


def compare(a: dict, b: dict) -> dict:
    fa, fb = _facts(a), _facts(b)
    facts = [{"fact": k, "a": fa.get(k), "b": fb.get(k)} for k in sorted(set(fa) | set(fb)) if fa.get(k) != fb.get(k)]
    ca = {c["id"]: c for c in a.get("checks", [])}
    cb = {c["id"]: c for c in b.get("checks", [])}
    changed, same = [], 0
    for cid in sorted(set(ca) | set(cb)):
        x, y = ca.get(cid, {}), cb.get(cid, {})
        if x.get("outcome") == y.get("outcome") and x.get("reason") == y.get("reason"):
            same += 1
            continue
        before, after = x.get("outcome", "absent"), y.get("outcome", "absent")
        changed.append({"id": cid, "a": before, "b": after, "worse": RANK.get(after, 0) < RANK.get(before, 0),
                        "a_reason": x.get("reason", ""), "b_reason": y.get("reason", "")})
    return {"verdict": {"a": a.get("verdict"), "b": b.get("verdict")}, "facts": facts,
            "checks": changed, "unchanged": same, "worse": [c["id"] for c in changed if c["worse"]]}


def text(diff: dict, name_a: str, name_b: str) -> str:
    v = diff["verdict"]
    out = [f"A: {name_a}: {v['a']}", f"B: {name_b}: {v['b']}", ""]
    if diff["facts"]:
        out.append("target facts that differ (A -> B):")
        width = max(len(f["fact"]) for f in diff["facts"])
        out += [f"  {f['fact']:<{width}}  {f['a'] or '-'} -> {f['b'] or '-'}" for f in diff["facts"]]
    else:
        out.append("target facts: the same")
    out.append("")
    if diff["checks"]:
        out.append("checks whose verdict or reason changed (A -> B):")
        width = max(len(c["id"]) for c in diff["checks"])
        for c in diff["checks"]:
            out.append(f"  {c['id']:<{width}}  {c['a']} -> {c['b']}" + ("   WORSE" if c["worse"] else ""))
            for side in ("a", "b"):
                if c[f"{side}_reason"]:
                    out.append(f"  {'':<{width}}    {side.upper()}: {c[f'{side}_reason']}")
    else:
        out.append("checks: no verdict changed")
    out.append(f"{diff['unchanged']} checks unchanged")
    if diff["worse"]:
        out.append(f"worse from A to B: {', '.join(diff['worse'])}")
    return "\n".join(out) + "\n"
