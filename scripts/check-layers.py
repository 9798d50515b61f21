#!/usr/bin/env python3
"""Checks the import graph against the layer order docs/DESIGN.md declares.

Every import of the project's own modules is counted: at the top of a file, inside functions,
and ``importlib.import_module("calico_conformance....")`` with a literal name. Each module
belongs to a *unit* (a sub-package such as ``lab`` or a top-level module such as ``plugin``);
DESIGN.md's ``layers`` block puts every unit on a floor. An import may point at its own unit or
at a unit on a lower floor, never up; between units on one floor it may point one way only
(no cycle). Prints the graph with ``--graph``; exits 1 and names each offending import otherwise.

    .venv/bin/python scripts/check-layers.py [--graph]
"""
from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "calico_conformance"
# Where each part of the package lives in a clone (pyproject.toml's package-dir).
SOURCES = {ROOT / "src" / PACKAGE: PACKAGE, ROOT / "conformance": f"{PACKAGE}.conformance",
           ROOT / "fixtures": f"{PACKAGE}.fixtures"}


def modules() -> dict[str, Path]:
    found = {}
    for base, dotted in SOURCES.items():
        for path in base.rglob("*.py"):
            parts = [p for p in path.relative_to(base).with_suffix("").parts if p != "__init__"]
            found[".".join([dotted, *parts])] = path
    return found


def unit(module: str) -> str:
    """``calico_conformance.lab.rules`` -> ``lab``; ``calico_conformance.plugin`` -> ``plugin``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "(package)"


def imports(path: Path, known: dict[str, Path]):
    """(line, imported module) for every import of the project in ``path``, wherever it stands."""
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import mod` imports pkg.mod when that is a module, else pkg itself
            names = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                     for a in node.names]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
              and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names = [node.args[0].value]
        for name in names:
            if name == PACKAGE or name.startswith(PACKAGE + "."):
                yield node.lineno, name


def declared_layers() -> dict[str, int]:
    """``unit -> floor`` from DESIGN.md's block fenced as ```layers (highest floor first)."""
    text = (ROOT / "docs" / "DESIGN.md").read_text()
    block = re.search(r"```layers\n(.*?)```", text, re.S)
    if not block:
        sys.exit("check-layers: docs/DESIGN.md has no ```layers block")
    floors = {}
    lines = [ln for ln in block.group(1).splitlines() if ln.strip()]
    for height, line in enumerate(reversed(lines)):
        _name, _, units = line.partition(":")
        for u in units.split("#")[0].split():
            floors[u] = height
    return floors


def main(argv: list[str]) -> int:
    known = modules()
    floors = declared_layers()
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    problems = []
    for module, path in sorted(known.items()):
        src = unit(module)
        if src not in floors and src != "(package)":
            problems.append(f"{path.relative_to(ROOT)}: unit {src!r} is on no floor of DESIGN.md's layers")
            continue
        for line, target in imports(path, known):
            dst = unit(target)
            if dst == src or dst == "(package)" or src == "(package)":
                continue
            where = f"{path.relative_to(ROOT)}:{line} imports {target}"
            edges[(src, dst)].append(where)
            if dst not in floors:
                problems.append(f"{where}: unit {dst!r} is on no floor")
            elif floors[dst] > floors[src]:
                problems.append(f"{where}: {src} (floor {floors[src]}) must not import {dst} (floor {floors[dst]})")
    # No cycle between units (units on one floor may import each other one way only).
    graph = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    for cycle in _cycles(graph):
        problems.append("cycle: " + " -> ".join(cycle) + "; e.g. " + edges[(cycle[0], cycle[1])][0])
    if "--graph" in argv:
        for height in sorted(set(floors.values()), reverse=True):
            for u in sorted(k for k, v in floors.items() if v == height):
                outs = sorted(b for (a, b) in edges if a == u)
                print(f"{height:>2} {u:<14} -> {', '.join(outs) or '-'}")
    count = sum(len(v) for v in edges.values())
    if problems:
        print("\n".join(problems))
        print(f"check-layers: {len(problems)} problem(s) in {count} imports between units", file=sys.stderr)
        return 1
    print(f"check-layers: {count} imports between {len(graph)} units, every one downward, no cycle")
    return 0


def _cycles(graph) -> list[list[str]]:
    """One cycle per strongly connected component of more than one unit (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(_one_cycle(graph, set(comp)))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _one_cycle(graph, comp: set[str]) -> list[str]:
    start = min(comp)
    path, seen = [start], {start}
    while True:
        nxt = next(w for w in sorted(graph[path[-1]]) if w in comp)
        if nxt in seen:
            return path[path.index(nxt):] + [nxt]
        path.append(nxt)
        seen.add(nxt)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
