"""``calico-conformance lab build felix``: calico-felix and its BPF objects built from Calico's
source (source.py) into the cache, the way felix's own Makefiles build them, step by step, each
step timed and logged, a failure naming its step. docs/real-calico.md says what was measured.

The cache (realk8s.cache.Cache.root)::

    felix/<tag>/<key>/     calico-felix, calico-felix.version-m.txt, calico-felix.recipe,
                           source.json, version.txt, bpf/*.o, crds/*.yaml
    felix/<tag>/current -> <key>       the last completed build, replaced atomically
    src/calico-<tag>-<key>/            the unpacked archive, kept: Go's build cache keys include
                                       the source directory, so a rebuild in place is seconds
    src/calico-dir-<path hash>/        a checkout's copy (source.sync), one per checkout path
    downloads/                         archives fetched from a URL or GitHub

``<key>`` is 16 hex digits of the source's sha256: of the archive, or for a checkout of its file
list with sizes and mtimes (source.tree_digest). A checkout is copied, never built in place: the
build writes libbpf's objects and the BPF objects into its tree, and a user's checkout is theirs.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from calico_conformance.executor import run_local
from calico_conformance.realcalico import packages, source as sources, versions
from calico_conformance.realcalico.source import Source
from calico_conformance.realk8s import gotool
from calico_conformance.realk8s.build import locked
from calico_conformance.realk8s.cache import Cache
from calico_conformance.realk8s.gotool import BuildError
from calico_conformance.vocabulary.errors import ExecutorError, UsageError

OBJECTS = ("lab", "all")
MODULE = "github.com/projectcalico/calico"
PACKAGE = "./felix/cmd/calico-felix"
# Calico compiles its BPF objects with LLVM 18 (projectcalico/go-build images/calico-go-build/
# versions.yaml); Debian 12 has 16 and 19, one on each side, and each makes one program that
# the kernel's verifier refuses (measured on 6.18, both tags): clang-19 the IPv6 programs'
# ICMPv6 reply (bpf-gpl/icmp6.h: "R4 invalid zero-sized read"), clang-16 v3.31's IPv4 defrag
# program. So the IPv6 objects (*_v6*) are compiled by 16, the rest by 19.
CLANG, LLC = "clang-19", "llc-19"
CLANG6, LLC6 = "clang-16", "llc-16"
_COMPILERS = ".cc-bpf-compilers"    # in felix/bpf-gpl: which compilers made bin/*.o
# The tree's path in calico's go-build container: the BPF objects' debug info names it, whatever
# directory they were compiled in, so the same source gives byte-identical objects.
UPSTREAM_TREE = "/go/src/github.com/projectcalico/calico"
GO_BUILD_TIMEOUT_S = 5400
MAKE_TIMEOUT_S = 5400
ARCHES = {"x86_64": "amd64", "aarch64": "arm64"}
_UNPACKED = ".cc-unpacked"          # in an archive's tree: the sha256 it was unpacked from
_LIBBPF = ".cc-libbpf.json"         # in felix/bpf-gpl: the libbpf source unpacked beside it


@dataclass(frozen=True)
class FelixBuild:
    """One completed build in the cache."""
    tag: str
    key: str
    directory: Path          # felix/<tag>/<key>
    objects: str             # "lab" | "all"
    source: dict             # source.json: Source.as_dict(), and "libbpf" where it was fetched
    cached: bool = False     # found complete, not built by this call
    seconds: float = 0.0

    @property
    def felix(self) -> Path:
        return self.directory / "calico-felix"

    @property
    def bpf(self) -> Path:
        return self.directory / "bpf"

    @property
    def crds(self) -> Path:
        return self.directory / "crds"

    @property
    def version(self) -> str:
        """``calico-felix --version`` as it printed it at build time."""
        return (self.directory / "version.txt").read_text()


def _tag_dir(cache: Cache, tag: str) -> Path:
    return cache.root / "felix" / tag


def _read(directory: Path, tag: str, *, cached: bool, seconds: float = 0.0) -> FelixBuild | None:
    names = ("calico-felix", "calico-felix.version-m.txt", "calico-felix.recipe", "source.json", "version.txt")
    if not all((directory / n).is_file() for n in names) or not (directory / "bpf").is_dir():
        return None
    recipe = (directory / "calico-felix.recipe").read_text()
    found = re.search(r"^objects (\w+)$", recipe, re.M)
    return FelixBuild(tag, directory.name, directory, found.group(1) if found else "lab",
                      json.loads((directory / "source.json").read_text()), cached, seconds)


def installed(cache: Cache, tag: str) -> FelixBuild | None:
    """The last completed build of ``tag`` (felix/<tag>/current), or None."""
    try:
        directory = (_tag_dir(cache, tag) / "current").resolve(strict=True)
    except OSError:
        return None
    return _read(directory, tag, cached=True)


def _serves(have: str, want: str) -> bool:
    return have == want or (have == "all" and want == "lab")


def _step(step: str, argv: list[str], *, cwd: Path, log: Path, timeout: float = MAKE_TIMEOUT_S) -> str:
    """A build tool to completion; its output into ``log``; a failure is BuildError(step, the
    tool's own error line and the log)."""
    try:
        proc = run_local(argv, cwd=cwd, timeout=timeout, where="this host (lab build)")
    except ExecutorError as exc:
        raise BuildError(step, str(exc)) from None
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"$ cd {cwd} && {' '.join(argv)}\n{proc.stdout}{proc.stderr}")
    if not proc.succeeded:
        raise BuildError(step, f"{_tool_error(proc.stderr + proc.stdout)} (log: {log})")
    return proc.stdout


def _tool_error(text: str) -> str:
    """The first compiler error, else make's own complaint, else the last line."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    for pattern in (r"\berror:", r"^make(\[\d+\])?: \*\*\*"):
        hits = [ln for ln in lines if re.search(pattern, ln)]
        if hits:
            return hits[0]
    return (lines or ["no output"])[-1]


# ---------------------------------------------------------------- what the tree says

def libbpf_dir(tree: Path) -> tuple[Path, str]:
    """Where felix's Makefile builds libbpf, and the version it fetches there ("" when vendored:
    v3.29 has felix/bpf-gpl/include/libbpf; v3.31 clones LIBBPF_VERSION into felix/bpf-gpl/libbpf)."""
    vendored = tree / "felix" / "bpf-gpl" / "include" / "libbpf"
    if (vendored / "src").is_dir():
        return vendored, ""
    try:
        found = re.search(r"^LIBBPF_VERSION\s*[:?]?=\s*(\S+)", (tree / "metadata.mk").read_text(), re.M)
    except OSError:
        found = None
    if not found:
        raise BuildError("felix libbpf", f"{tree} neither vendors libbpf (felix/bpf-gpl/include/libbpf) nor "
                                         "names LIBBPF_VERSION in metadata.mk")
    return tree / "felix" / "bpf-gpl" / "libbpf", found.group(1)


def buildinfo(tree: Path) -> tuple[str, str]:
    """(package, variable) felix prints as its version, read from calico-felix.go: v3.29's
    felix/buildinfo.GitVersion, v3.31's pkg/buildinfo.Version. The linker ignores a -X naming a
    variable that does not exist, and felix would then report an empty version."""
    main = tree / "felix" / "cmd" / "calico-felix" / "calico-felix.go"
    text = main.read_text()
    package = re.search(r'"(github\.com/projectcalico/calico/[\w/]*buildinfo)"', text)
    variable = re.search(r'"Version:\s*"\s*\+\s*buildinfo\.(\w+)', text)
    if not (package and variable):
        raise BuildError("felix go build", f"cannot tell from {main} which buildinfo variable is felix's version")
    return package.group(1), variable.group(1)


def ldflags(tree: Path, tag: str, commit: str, date: str) -> str:
    """What felix's Makefile (v3.29) or lib.Makefile (v3.31) passes: the tag as
    `git describe` gives it at a release, the commit as revision and as ELF build id."""
    package, variable = buildinfo(tree)
    flags = [f"-X {package}.{variable}={tag}", f"-X {package}.BuildDate={date}",
             f"-X {package}.GitRevision={commit or '<unknown>'}"]
    if commit:
        flags.append(f"-B 0x{commit}")
    return " ".join(flags)


def _makefile_vars(text: str) -> dict[str, list[str]]:
    text = text.replace("\\\n", " ")
    out: dict[str, list[str]] = {}
    for name, op, value in re.findall(r"^(\w+)\s*(\+=|:=|\?=|=)(.*)$", text, re.M):
        out[name] = [*out.get(name, []), value] if op == "+=" else [value]
    return out


def makefile_extras(tree: Path) -> list[str]:
    """The objects felix/Makefile's BPF_GPL_O_FILES adds to list-objs (preambles, default policy,
    v3.31's tcx_test and map stubs), as bpf-gpl paths (bin/tc_preamble.o)."""
    defs = _makefile_vars((tree / "felix" / "Makefile").read_text())

    def expand(name: str, seen: frozenset = frozenset()) -> list[str]:
        found = []
        for value in defs.get(name, []):
            for names in re.findall(r"\$\(addprefix bpf-gpl/bin/,([^$()]*)\)", value):
                found += [f"bin/{n}" for n in names.split()]
            found += re.findall(r"(?<![\w/])bpf-gpl/(bin/[\w.-]+\.o)", value)
            for ref in re.findall(r"\$\((\w+)\)", value):
                if ref not in seen:
                    found += expand(ref, seen | {name})
        return found
    extras = list(dict.fromkeys(expand("BPF_GPL_O_FILES")))
    if not extras:
        raise BuildError("felix bpf", "felix/Makefile's BPF_GPL_O_FILES names no objects beside list-objs")
    return extras


def lab_objects(listed: list[str], extras: list[str]) -> list[str]:
    """What felix loads with bpfLogLevel Off on a kernel with BTF, whatever the lab's
    configuration (DSR, host-drop, IPIP, l3, IPv6): every no_log CO-RE program list-objs names,
    the no_log ones with no CO-RE variant (IPv4 XDP), and the Makefile's extras. felix falls back
    from `_co-re` to the legacy name only when a CO-RE object fails to load."""
    no_log = [o for o in listed if "_no_log" in o]
    core = [o for o in no_log if "_co-re" in o]
    covered = {o.replace("_co-re", "") for o in core}
    return list(dict.fromkeys([*core, *(o for o in no_log if "_co-re" not in o and o not in covered), *extras]))


# ---------------------------------------------------------------- the steps

def _tree_path(cache: Cache, tag: str, src: Source, key: str) -> Path:
    if src.kind == "directory":
        # one copy per checkout, whatever it is called: Go's cache keeps hitting across edits
        return cache.root / "src" / f"calico-dir-{hashlib.sha256(src.path.encode()).hexdigest()[:16]}"
    return cache.root / "src" / f"calico-{tag}-{key}"


def _tag_for(tag: str | None, src: Source) -> str:
    if src.kind == "directory":
        return tag or versions.DEV
    if tag and src.tag and tag != src.tag:
        raise UsageError(f"{src.how} {src.origin} holds Calico {src.tag}, not {tag}; drop --calico-version "
                         f"or give {tag}'s source")
    tag = tag or src.tag or versions.DEFAULT
    versions.check(tag, directory=False)
    return tag


def _prepare(tree: Path, src: Source, cache: Cache, say) -> dict | None:
    """The tree at ``tree`` with libbpf where felix's Makefile wants it; the libbpf source
    fetched for it (None: vendored or already in the tree)."""
    if src.kind == "directory":
        copied = sources.sync(Path(src.path), tree)
        say(f"copied {copied} changed files of {src.path} to {tree}")
    elif (tree / _UNPACKED).is_file() and (tree / _UNPACKED).read_text() == src.sha256:
        say(f"tree {tree} (unpacked before)")
    else:
        start = time.monotonic()
        sources.unpack(Path(src.path), tree)
        (tree / _UNPACKED).write_text(src.sha256)
        say(f"unpacked into {tree} in {time.monotonic() - start:.1f} s")
    where, version = libbpf_dir(tree)
    if not version:
        return None
    marker = tree / "felix" / "bpf-gpl" / _LIBBPF
    if marker.is_file() and (where / "src").is_dir():
        return json.loads(marker.read_text())
    if (where / "src").is_dir():
        return None          # a checkout that has it already (felix's Makefile cloned it)
    near = Path(src.path).parent if src.kind == "archive" else None
    lib = sources.libbpf(version, cache.root / "downloads", near=near, progress=say)
    sources.unpack(Path(lib.path), where)
    marker.write_text(json.dumps(lib.as_dict()))
    say(f"libbpf {version} ({lib.how}: {lib.origin}) unpacked into {where}")
    return lib.as_dict()


def _recipe(tag: str, src: Source, flags: str, cgo: dict, objects: str, go: str) -> str:
    stable = re.sub(r"\.BuildDate=\S+", ".BuildDate=<build time>", flags)
    return "\n".join([f"module {MODULE}", f"tag {tag}", f"commit {src.commit or 'unknown'}",
                      f"package {PACKAGE}", f"go {go}", f"ldflags {stable}",
                      *(f"{k}={v}" for k, v in cgo.items()), f"bpf CC={CLANG} LD={LLC}",
                      f"bpf IPv6 CC={CLANG6} LD={LLC6}",
                      f"objects {objects}"]) + "\n"


def _timed(say, what: str, fn):
    start = time.monotonic()
    result = fn()
    say(f"{what} done in {time.monotonic() - start:.1f} s")
    return result


def build_felix(tag: str | None, cache: Cache, *, source: str | None = None, objects: str = "lab",
                progress=print) -> FelixBuild:
    """calico-felix of ``tag`` (None: the source's own tag, else versions.DEFAULT) and its BPF
    objects ("lab": what the lab loads; "all": everything felix's Makefile builds), from
    ``source`` (--calico-source) or where source.py looks; quick when it is in the cache."""
    if objects not in OBJECTS:
        raise UsageError(f"--bpf-objects {objects}: choose {' or '.join(OBJECTS)}")
    named = (source, "--calico-source") if source else sources.given()
    versions.check(tag, directory=sources.check(*named) if named else False)
    start = time.monotonic()
    with locked(cache):
        if named is None and not os.environ.get(sources.ARCHIVES_ENV):
            # Nothing names a source: a build already in the cache is the one (an offline machine's
            # `lab build` stays quick); naming a source checks the cache against it.
            done = installed(cache, tag or versions.DEFAULT)
            if done is not None and _serves(done.objects, objects):
                progress(f"felix {done.tag}: in the cache ({done.directory}, from {done.source.get('origin')})")
                return done
        return _build(tag, named[0] if named else None, cache, objects, progress, start)


def _build(tag: str | None, value: str | None, cache: Cache, objects: str, progress, start: float) -> FelixBuild:
    src = sources.calico(tag or versions.DEFAULT, value, cache.root / "downloads",
                         progress=lambda line: progress(f"felix: {line}"))
    tag = _tag_for(tag, src)
    say = lambda line: progress(f"felix {tag}: {line}")
    say(f"source {src.origin} ({src.how}), sha256 {src.sha256[:16]}..., commit {src.commit or 'unknown'}")
    key = src.sha256[:16]
    tree = _tree_path(cache, tag, src, key)
    lib = _prepare(tree, src, cache, say)
    libbpf, _ = libbpf_dir(tree)
    arch = ARCHES.get(platform.machine(), platform.machine())
    cgo = {"CGO_ENABLED": "1", "CGO_CFLAGS": f"-I{libbpf}/src -I{tree}/felix/bpf-gpl",
           "CGO_LDFLAGS": f"-L{libbpf}/src/{arch} -lbpf -lelf -lz"}
    flags = ldflags(tree, tag, src.commit, time.strftime("%Y-%m-%dT%H:%M:%S+0000", time.gmtime()))
    go = gotool.run("go version", ["version"], timeout=60).strip().removeprefix("go version ")
    recipe = _recipe(tag, src, flags, cgo, objects, go)
    final = _tag_dir(cache, tag) / key
    done = _read(final, tag, cached=True)
    if done is not None:
        have = (final / "calico-felix.recipe").read_text()
        if have == recipe or (objects == "lab" and have == recipe.replace("objects lab", "objects all")):
            _point_current(final)
            say(f"in the cache ({final})")
            return done

    packages.ensure(packages.BUILD, say)
    logs = cache.logs()
    jobs = str(os.cpu_count() or 2)
    _sweep(_mkdir(_tag_dir(cache, tag)))
    staging = Path(tempfile.mkdtemp(prefix=".build-", dir=_tag_dir(cache, tag)))
    staging.chmod(0o755)        # mkdtemp's 0700 would hide the build from other users
    try:
        (libbpf / "src" / arch).mkdir(parents=True, exist_ok=True)
        say(f"libbpf.a ({libbpf.relative_to(tree)}) ...")
        _timed(say, "libbpf.a", lambda: _step(
            "felix libbpf", ["make", "-j", jobs, "-C", f"{libbpf}/src", "BUILD_STATIC_ONLY=1", f"OBJDIR={arch}"],
            cwd=tree, log=logs / f"felix-{tag}-libbpf.log"))

        binary = staging / "calico-felix"
        say(f"go build {PACKAGE} (minutes when Go's build cache is cold) ...")
        _timed(say, "go build", lambda: gotool.run(
            "felix go build", ["build", "-o", str(binary), "-v", "-buildvcs=false", f"-ldflags={flags}", PACKAGE],
            cwd=tree, log=logs / f"felix-{tag}-go-build.log", timeout=GO_BUILD_TIMEOUT_S,
            env={**cgo, "GOFLAGS": "-buildvcs=false"}))
        version = _version(binary, tag)
        (staging / "version.txt").write_text(version)
        (staging / "calico-felix.version-m.txt").write_text(gotool.version_m(binary))

        _timed(say, "bpf objects", lambda: _objects(tree, libbpf, objects, staging / "bpf", jobs, logs, tag, say))

        (staging / "crds").mkdir()
        crds = sorted((tree / "libcalico-go" / "config" / "crd").glob("*.yaml"))
        for crd in crds:
            shutil.copyfile(crd, staging / "crds" / crd.name)
        (staging / "source.json").write_text(json.dumps({**src.as_dict(), "libbpf": lib}, indent=1) + "\n")
        (staging / "calico-felix.recipe").write_text(recipe)
        _install(staging, final)
        _prune(final, src.path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    took = time.monotonic() - start
    say(f"built in {took:.1f} s: {final} ({len(crds)} CRDs)")
    return _read(final, tag, cached=False, seconds=took)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _version(binary: Path, tag: str) -> str:
    try:
        proc = run_local([str(binary), "--version"], timeout=60, where="this host (lab build)")
    except ExecutorError as exc:
        raise BuildError("felix version", str(exc)) from None
    found = re.search(r"^Version:\s*(\S*)", proc.stdout, re.M)
    if not proc.succeeded or not found or found.group(1) != tag:
        said = " | ".join(proc.stdout.strip().splitlines()) or _tool_error(proc.stderr)
        raise BuildError("felix version", f"calico-felix --version says {said!r}, not Version: {tag}")
    return proc.stdout


def _objects(tree: Path, libbpf: Path, objects: str, dest: Path, jobs: str, logs: Path, tag: str, say) -> None:
    gpl, apache = tree / "felix" / "bpf-gpl", tree / "felix" / "bpf-apache"
    # bpf-apache (and v3.31's tcx_test.c) include <bpf/...>, which calico's build image has
    # installed; here a directory whose bpf/ is this tree's libbpf does it.
    include = _mkdir(tree / ".cc-bpf-include")
    link = include / "bpf"
    if not link.is_symlink() or os.readlink(link) != f"{libbpf}/src":
        link.unlink(missing_ok=True)
        link.symlink_to(f"{libbpf}/src")
    _drop_foreign_deps(gpl, apache)
    _drop_other_compilers(gpl, apache)
    make = lambda clang, llc: ["make", "-j", jobs, f"CC={clang} -I{include} -ffile-prefix-map={tree}={UPSTREAM_TREE}",
                               f"LD={llc}"]
    listed = _step("felix bpf", ["./list-objs"], cwd=gpl, log=logs / f"felix-{tag}-list-objs.log").split()
    wanted = ["all"] if objects == "all" else lab_objects(listed, makefile_extras(tree))
    ipv6 = [o for o in (listed if objects == "all" else wanted) if "_v6" in o]
    say(f"bpf objects ({objects}: {'everything felix/bpf-gpl builds' if objects == 'all' else len(wanted)}) "
        f"with {CLANG}, the {len(ipv6)} IPv6 ones with {CLANG6}, -j{jobs} ...")
    # the IPv6 objects first: the second make finds them up to date
    for clang, llc, where, targets, log in ((CLANG6, LLC6, gpl, ipv6, "bpf-gpl-v6"), (CLANG, LLC, gpl, wanted, "bpf-gpl"),
                                             (CLANG, LLC, apache, ["all"], "bpf-apache")):
        _step("felix bpf", [*make(clang, llc), "-C", str(where), *targets], cwd=tree, log=logs / f"felix-{tag}-{log}.log")
    (gpl / _COMPILERS).write_text(_compilers())
    dest.mkdir()
    made = sorted((gpl / "bin").glob("*.o")) if objects == "all" else [gpl / o for o in wanted]
    for obj in [*made, *sorted((apache / "bin").glob("*.o"))]:
        if not obj.is_file():
            raise BuildError("felix bpf", f"make built no {obj.relative_to(tree)}")
        shutil.copy2(obj, dest / obj.name)


def _compilers() -> str:
    return f"{CLANG} {LLC}; IPv6 {CLANG6} {LLC6}\n"


def _drop_other_compilers(*directories: Path) -> None:
    """Objects left in the tree by other compilers than today's (an older build of this project):
    make would take them as up to date."""
    marker = directories[0] / _COMPILERS
    if marker.is_file() and marker.read_text() == _compilers():
        return
    for directory in directories:
        for made in [*directory.glob("bin/*.o"), *directory.glob("*.ll")]:
            made.unlink()
    marker.unlink(missing_ok=True)


def _drop_foreign_deps(*directories: Path) -> None:
    """The BPF Makefiles' generated ``*.d`` files name headers by absolute path; one made in
    another place (a checkout built in calico's container, a moved tree) names headers that are
    not here, and make stops at "No rule to make target". Such a file is made again."""
    for directory in directories:
        for dep in directory.glob("*.d"):
            words = dep.read_text(errors="replace").split()
            if any(w.startswith("/") and not os.path.exists(w) for w in words):
                dep.unlink()


def _install(staging: Path, final: Path) -> None:
    """``staging`` becomes ``final``; ``current`` points at it. A reader never sees half a build."""
    old = None
    if final.exists():
        old = final.with_name(f".old-{final.name}-{os.getpid()}")
        os.replace(final, old)
    os.replace(staging, final)
    _point_current(final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _sweep(tag_dir: Path) -> None:
    """What a killed build left (we hold the lock: no other build is running)."""
    for left in [*tag_dir.glob(".build-*"), *tag_dir.glob(".old-*")]:
        shutil.rmtree(left, ignore_errors=True)


def _prune(final: Path, path: str) -> None:
    """Earlier builds from the same archive path or checkout: superseded (a checkout gets a new
    key with every edit, and each build is ~150 MB)."""
    for other in final.parent.iterdir():
        if other == final or other.name.startswith(".") or other.is_symlink() or not other.is_dir():
            continue
        try:
            was = json.loads((other / "source.json").read_text()).get("path")
        except (OSError, ValueError):
            continue
        if was == path:
            shutil.rmtree(other, ignore_errors=True)


def _point_current(final: Path) -> None:
    link = final.parent / "current"
    if link.is_symlink() and os.readlink(link) == final.name:
        return
    tmp = final.parent / f".current-{os.getpid()}"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(final.name)
    os.replace(tmp, link)
