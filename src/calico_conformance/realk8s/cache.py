"""Where built components live: a directory outside the repo, keyed by component and version
(``bin/kube-apiserver/v1.30.14/kube-apiserver`` with ``kube-apiserver.version-m.txt`` beside it,
the output of ``go version -m``), plus the wrapper modules (``src/``) and fetched CRDs (``crds/``)."""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT = Path("/var/cache/calico-conformance")
ENV = "CC_CACHE_DIR"


def root(given: str | os.PathLike | None = None) -> Path:
    """--cache-dir, else $CC_CACHE_DIR, else /var/cache/calico-conformance."""
    return Path(given or os.environ.get(ENV) or DEFAULT)


@dataclass(frozen=True)
class Cache:
    root: Path

    def binary(self, component: str, version: str) -> Path:
        return self.root / "bin" / component / version / component

    def version_m(self, component: str, version: str) -> Path:
        """``go version -m`` of the binary, kept beside it: which module versions went into it."""
        return self.binary(component, version).with_name(f"{component}.version-m.txt")

    def recipe(self, component: str, version: str) -> Path:
        """How the binary was built (module, version, ldflags): another recipe builds it again."""
        return self.binary(component, version).with_name(f"{component}.recipe")

    def has(self, component: str, version: str, recipe: str | None = None) -> bool:
        if not (self.binary(component, version).is_file() and self.version_m(component, version).is_file()):
            return False
        stamp = self.recipe(component, version)
        return recipe is None or (stamp.is_file() and stamp.read_text() == recipe)

    def wrapper(self, name: str) -> Path:
        return self.root / "src" / name

    def crds(self, name: str) -> Path:
        return self.root / "crds" / name

    def logs(self) -> Path:
        return self.root / "logs"
