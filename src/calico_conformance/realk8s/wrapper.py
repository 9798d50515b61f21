"""A wrapper Go module of ours that requires a component's module and builds its commands.

A module's own ``replace`` directives are ignored when it is required by another module, so a
component whose go.mod replaces its sibling modules with directories (kubernetes' staging
modules, etcd's api/client/pkg) cannot be built as a dependency as it stands. The wrapper carries
those replaces over, pointing each at the published version of that module instead."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from calico_conformance.realk8s import gotool


@dataclass(frozen=True)
class Wrapper:
    name: str                                  # directory under the cache's src/
    module: str                                # the component's module
    version: str
    packages: tuple[str, ...]                  # the commands it builds
    # the published version for a sibling module that the component replaces with a directory:
    # f(module path, the version the component's go.mod requires) -> version
    published: Callable[[str, str], str]
    # -X flags the component's own build sets (kubernetes stamps its version this way; without them
    # /version says v0.0.0-master)
    stamps: tuple[str, ...] = ()

    def ldflags(self) -> str:
        return " ".join(("-s", "-w", *(f"-X {s}" for s in self.stamps)))

    def recipe(self) -> str:
        """What decides a binary: a cached one built another way is built again."""
        return f"{self.module}@{self.version} ldflags={self.ldflags()}\n"

    def go_mod(self, component_gomod: str) -> str:
        """Our go.mod: require the component; every replace of its go.mod, directories made published
        versions."""
        go = re.search(r"^go\s+(\S+)", component_gomod, re.M)
        required = dict(re.findall(r"^\s*(\S+)\s+(v\S+)(?:\s*//.*)?$", _require_blocks(component_gomod), re.M))
        lines = []
        for old, new, ver in gotool.replaces(component_gomod):
            if ver is None:                     # a directory inside the component's repository
                published = self.published(old, required.get(old, ""))
                # a guard against a module nobody requires (etcd's ./FORBIDDEN_DEPENDENCY): nothing to carry
                if published:
                    lines.append(f"\t{old} => {old} {published}")
            else:
                lines.append(f"\t{old} => {new} {ver}")
        out = [f"module calico-conformance.local/{self.name}", "", f"go {go.group(1) if go else '1.22.0'}", "",
               f"require {self.module} {self.version}", ""]
        if lines:
            out += ["replace (", *lines, ")", ""]
        return "\n".join(out)

    def tools_go(self) -> str:
        imports = "\n".join(f'\t_ "{p}"' for p in self.packages)
        return ("//go:build tools\n\n// The commands this wrapper builds, imported so that `go mod tidy` keeps "
                f"what they need.\npackage tools\n\nimport (\n{imports}\n)\n")


def _require_blocks(gomod: str) -> str:
    blocks = re.findall(r"^require\s*\((.*?)^\)", gomod, re.S | re.M)
    singles = re.findall(r"^require\s+(\S+\s+\S+)", gomod, re.M)
    return "\n".join(blocks + singles)


def prepare(wrapper: Wrapper, directory: Path, *, progress) -> Path:
    """Write the wrapper module (from the component's go.mod, read from the module proxy) and
    resolve its dependencies; quick when nothing changed."""
    step = f"wrapper {wrapper.name}"
    record = gotool.download(f"{step}: download {wrapper.module}@{wrapper.version}", wrapper.module, wrapper.version)
    gomod = wrapper.go_mod(Path(record["GoMod"]).read_text())
    directory.mkdir(parents=True, exist_ok=True)
    mod_file, sum_file, tidy_stamp = directory / "go.mod", directory / "go.sum", directory / ".tidy-input"
    (directory / "tools.go").write_text(wrapper.tools_go())
    wanted = gomod + wrapper.tools_go()
    if tidy_stamp.exists() and tidy_stamp.read_text() == wanted and sum_file.exists():
        return directory
    mod_file.write_text(gomod)
    progress(f"{step}: go mod tidy (downloads every dependency the first time)")
    gotool.run(f"{step}: go mod tidy", ["mod", "tidy"], cwd=directory, log=directory / "tidy.log", timeout=1800)
    tidy_stamp.write_text(wanted)
    return directory
