"""report.html from summary.json, with Jinja2: one self-contained page (inline CSS and SVG, no
scripts, no external files) that a network engineer reads in a minute: the verdict first, then a
card per check (ID, the promise and whether it held, the document statement and versions, the
evidence, what to do on failure), the probed path of the NodePort checks, links to every capture."""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from calico_conformance.report import svg


@lru_cache(maxsize=None)
def _env():
    """Jinja2 (~0.25 s to import) only when a report is rendered, after the checks ran."""
    from jinja2 import Environment, PackageLoader, select_autoescape
    return Environment(loader=PackageLoader("calico_conformance.report", "templates"),
                       autoescape=select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)


def _href(path: str | None, base: Path | None) -> str:
    if not path:
        return ""
    p = Path(path)
    if base is None:
        return p.as_uri() if p.is_absolute() else p.as_posix()
    return Path(os.path.relpath(p if p.is_absolute() else base / p, base)).as_posix()


def _captures(rec: dict, base: Path | None) -> list[dict]:
    """Every capture of the run: those the checks linked and all others in the evidence directory
    (the client's, other workers')."""
    seen: dict[str, dict] = {}
    for check in rec.get("checks", []):
        for item in check.get("evidence") or []:
            if item.get("capture"):
                seen.setdefault(item["capture"], {"checks": set()})["checks"].add(check["id"])
        for hop in (check.get("path") or {}).get("hops", []):
            if hop.get("capture"):
                seen.setdefault(hop["capture"], {"checks": set()})["checks"].add(check["id"])
    root = rec.get("evidence_dir")
    if root and Path(root).is_dir():
        for pcap in sorted(Path(root).rglob("*.pcap*")):
            seen.setdefault(str(pcap.resolve()), {"checks": set()})
    return [{"name": Path(p).relative_to(root).as_posix() if root and Path(p).is_relative_to(root) else Path(p).name,
             "href": _href(p, base), "checks": sorted(v["checks"]),
             "bytes": Path(p).stat().st_size if Path(p).exists() else None}
            for p, v in sorted(seen.items())]


_FLOW_COLS = (("encapsulated", "encap"), ("outer", "outer flow"), ("vni", "VNI"), ("tuple", "inner 5-tuple"),
              ("frames", "frames"), ("tcp_flags", "TCP flags"), ("vlan_tags", "VLAN"), ("directions", "dir"))


def _flow_row(row: dict) -> dict:
    ports = lambda ip, port: f"{ip}:{port}" if port is not None else str(ip)
    return {"encapsulated": "VXLAN" if row.get("encapsulated") else "no",
            "outer": (f"{row.get('outer_src')} \u2192 {row.get('outer_dst')} udp/{row.get('udp_dport')}"
                      if row.get("encapsulated") else ""),
            "vni": "" if row.get("vni") is None else str(row["vni"]),
            "tuple": f"{row.get('proto', '')} {ports(row.get('src'), row.get('sport'))} > {ports(row.get('dst'), row.get('dport'))}",
            "frames": str(row.get("frames", "")), "tcp_flags": " ".join(row.get("tcp_flags") or []),
            "vlan_tags": " ".join(t for t in row.get("vlan_tags") or [] if t),
            "directions": "/".join(d for d in row.get("directions") or [] if d)}


def _verdict_rows(table: str) -> tuple[str, list[list[str]]]:
    """A check's verdict table (verify()'s text): the headline, then rows of status/subject/where/
    expected/seen, when the table has that shape; else ([], the text stays a block)."""
    lines = table.splitlines()
    head = lines[0] if lines else ""
    rows = []
    header = next((i for i, line in enumerate(lines) if line.split()[:1] == ["subject"]), None)
    if header is None:
        return head, []
    cols = lines[header]
    starts = [cols.index(name) for name in ("subject", "where", "expected", "seen") if name in cols]
    if len(starts) != 4:
        return head, []
    for line in lines[header + 1:]:
        if not line.strip():
            continue
        status = line[:starts[0]].strip()
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
        rows.append([status, *cells])
    return head, rows


def render(rec: dict, base: Path | None = None) -> str:
    checks = []
    for c in rec.get("checks", []):
        card = dict(c)
        card["evidence_items"] = []
        for item in c.get("evidence") or []:
            shown = {"title": item["title"], "kind": item["kind"], "href": _href(item.get("capture"), base),
                     "capture": Path(item["capture"]).name if item.get("capture") else ""}
            if item["kind"] == "flows":
                shown["rows"] = [_flow_row(r) for r in item["body"]]
            elif item["kind"] == "table":
                shown["headline"], shown["rows"] = _verdict_rows(item["body"])
                shown["text"] = item["body"]
            else:
                shown["text"] = item["body"]
            card["evidence_items"].append(shown)
        path = c.get("path")
        if path and "hops" in path:
            card["svg"] = svg.draw(path)
            card["hops"] = [dict(h, href=_href(h.get("capture"), base)) for h in path["hops"]]
        elif path:
            card["path_error"] = path.get("error", "")
        checks.append(card)
    target = rec.get("target", {})
    mode = target.get("felix.external_service_mode")
    dataplane = ("eBPF" if str(target.get("felix.bpf_enabled", "")).lower() == "true" else
                 "standard (not eBPF)" if target.get("felix.bpf_enabled") else "unknown")
    return _env().get_template("report.html.j2").render(
        rec=rec, checks=checks, target=target, dataplane=dataplane, mode=mode or "unknown",
        captures=_captures(rec, base), flow_cols=_FLOW_COLS,
        facts=sorted((k, v) for k, v in target.items()))
