"""``calico-conformance lab build``: every component the real-Kubernetes lab needs, built from its Go
module into the cache (quick when it is all there), step by step, a failure naming its step."""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from calico_conformance import lockfile
from calico_conformance.realk8s import etcd, gotool, versions, wrapper
from calico_conformance.realk8s.cache import Cache
from calico_conformance.realk8s.components import ALL, COMPONENTS
from calico_conformance.realk8s.gotool import BuildError
from calico_conformance.vocabulary.errors import UsageError


@dataclass
class Outcome:
    built: list[str] = field(default_factory=list)      # "kube-apiserver v1.30.14 (41.2 s)"
    cached: list[str] = field(default_factory=list)


def default_components() -> list[str]:
    """What the lab needs from Go modules: kube-apiserver, kube-proxy, Calico's CRDs, etcd only
    where the system has none new enough (felix is built from Calico's source: realcalico/build.py)."""
    names = ["kube-apiserver", "kube-proxy", "calico-crds"]
    if etcd.system_etcd() is None:
        names.insert(0, "etcd")
    return names


def check_names(names: list[str]) -> None:
    unknown = [n for n in names if n not in ALL]
    if unknown:
        raise UsageError(f"unknown component(s) {', '.join(unknown)}; choose from {', '.join(ALL)}")


@contextmanager
def locked(cache: Cache):
    """One build at a time per cache (two runs must not race on the same wrapper or tree)."""
    with lockfile.held(cache.root / ".lock", what="the cache directory",
                       hint="choose another with --cache-dir or CC_CACHE_DIR"):
        yield


def build(names: list[str], cache: Cache, *, progress=print) -> Outcome:
    check_names(names)
    out = Outcome()
    with locked(cache):
        progress(f"go: {gotool.run('go version', ['version'], timeout=60).strip()}")
        _binaries([n for n in names if n in COMPONENTS], cache, out, progress)
        if "calico-crds" in names:
            _crds(cache, out, progress)
    return out


def _binaries(names: list[str], cache: Cache, out: Outcome, progress) -> None:
    missing = []
    for name in names:
        comp = COMPONENTS[name]
        if cache.has(name, comp.version, comp.wrapper.recipe()):
            out.cached.append(f"{name} {comp.version}")
            progress(f"{name} {comp.version}: in the cache ({cache.binary(name, comp.version)})")
        else:
            missing.append(comp)
    by_wrapper: dict[str, list] = {}
    for comp in missing:
        by_wrapper.setdefault(comp.wrapper.name, []).append(comp)
    for comps in by_wrapper.values():
        wrap = comps[0].wrapper
        start = time.monotonic()
        progress(f"wrapper {wrap.name}: {wrap.module}@{wrap.version}, replaces read from its go.mod")
        directory = wrapper.prepare(wrap, cache.wrapper(wrap.name), progress=progress)
        what = ", ".join(c.name for c in comps)
        progress(f"build {what}: go build (minutes when the go build cache is cold)")
        # Built into the cache's own file system, then moved: a half-written binary is never "cached".
        staging = Path(tempfile.mkdtemp(prefix=".build-", dir=cache.root))
        try:
            gotool.run(f"build {what}", ["build", "-trimpath", f"-ldflags={wrap.ldflags()}", "-o", f"{staging}/",
                                         *(c.package for c in comps)],
                       cwd=directory, log=cache.logs() / f"build-{wrap.name}.log", timeout=3600)
            for comp in comps:
                produced = staging / _binary_name(comp.package)
                if not produced.is_file():
                    raise BuildError(f"build {comp.name}", f"go build produced no {produced.name} in {staging}")
                dest = cache.binary(comp.name, comp.version)
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(produced, dest)
                cache.version_m(comp.name, comp.version).write_text(gotool.version_m(dest))
                cache.recipe(comp.name, comp.version).write_text(wrap.recipe())
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        took = time.monotonic() - start
        for comp in comps:
            out.built.append(f"{comp.name} {comp.version}")
        progress(f"build {what}: done in {took:.1f} s")


def _binary_name(package: str) -> str:
    """The name go build gives a command: its last path element, a /vN suffix skipped."""
    parts = package.rstrip("/").split("/")
    return parts[-2] if len(parts) > 1 and re.fullmatch(r"v\d+", parts[-1]) else parts[-1]


CRD_FILES = ("libcalico-go/config/crd", "manifests/operator-crds.yaml", "manifests/tigera-operator.yaml")


def crd_dir(cache: Cache) -> Path:
    return cache.crds(f"calico-{versions.CALICO_CRDS}")


def _crds(cache: Cache, out: Outcome, progress) -> None:
    dest = crd_dir(cache)
    if (dest / ".complete").exists() and (dest / "operator" / "tigera-operator.yaml").exists():
        out.cached.append("calico-crds")
        progress(f"calico-crds: in the cache ({dest})")
        return
    progress(f"calico-crds: go mod download {versions.CALICO_MODULE}@{versions.CALICO_CRDS} "
             f"({versions.CALICO_CRDS_DESCRIBES})")
    record = gotool.download("calico-crds", versions.CALICO_MODULE, versions.CALICO_CRDS)
    src = Path(record["Dir"])
    tmp = Path(tempfile.mkdtemp(prefix=".crds-", dir=cache.root))
    try:
        for sub in ("calico", "operator"):
            (tmp / sub).mkdir()
        for crd in sorted((src / CRD_FILES[0]).glob("*.yaml")):
            shutil.copyfile(crd, tmp / "calico" / crd.name)
        for manifest in CRD_FILES[1:]:
            shutil.copyfile(src / manifest, tmp / "operator" / Path(manifest).name)
        (tmp / ".complete").write_text(f"{versions.CALICO_MODULE}@{versions.CALICO_CRDS}\n")
        shutil.rmtree(dest, ignore_errors=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, dest)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out.built.append("calico-crds")
    progress(f"calico-crds: {len(list((dest / 'calico').glob('*.yaml')))} Calico CRDs, the operator's "
             f"operator-crds.yaml and tigera-operator.yaml in {dest}")
