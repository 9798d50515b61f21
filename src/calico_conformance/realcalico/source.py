"""Where Calico's source comes from, for building felix: the user's choice, else a directory of
release archives, else GitHub's release tarball of the tag. Nothing of it is copied into the
project; it is unpacked (an archive) or copied (a checkout) into the cache and built there.

In order:
1. ``--calico-source DIR|FILE.tar.*|URL`` (a checkout, such as a Calico developer's own, a
   release archive, or where to download one);
2. ``$CC_CALICO_SOURCE`` (the same forms);
3. ``$CC_CALICO_ARCHIVES``: a directory holding ``calico-<tag>.tar.*`` (and ``libbpf-<version>.tar.*``
   for tags that do not vendor libbpf), such as the offline copy beside the project;
4. ``https://github.com/projectcalico/calico/archive/refs/tags/<tag>.tar.gz`` (and libbpf's).
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from calico_conformance.digest import sha256_file
from calico_conformance.realk8s.gotool import BuildError
from calico_conformance.vocabulary.errors import UsageError

SOURCE_ENV = "CC_CALICO_SOURCE"
ARCHIVES_ENV = "CC_CALICO_ARCHIVES"
GITHUB = "https://github.com/projectcalico/calico/archive/refs/tags/{tag}.tar.gz"
LIBBPF_GITHUB = "https://github.com/libbpf/libbpf/archive/refs/tags/{tag}.tar.gz"
ARCHIVE_SUFFIXES = (".tar.xz", ".tar.gz", ".tgz", ".tar")
DOWNLOAD_TIMEOUT_S = 120
OPTIONS = (f"give Calico's source with --calico-source DIR|FILE.tar.*|URL, ${SOURCE_ENV}, or a directory of "
           f"release archives in ${ARCHIVES_ENV}")
# The top directory git archive (calico-v3.29.7/) or GitHub (calico-3.29.7/) gives a tag's tree.
_TOP_TAG = re.compile(r"^(?:calico|libbpf)-v?(\d+\.\d+\.\d+[0-9A-Za-z.+-]*?)/?$")
# A synced copy's list of the files it took from the checkout: what may be removed when they go.
SYNCED = ".cc-synced.json"


@dataclass(frozen=True)
class Source:
    """What a build used, as recorded beside the binary."""
    kind: str                  # "archive" | "directory"
    origin: str                # the path or URL as given or found
    how: str                   # "--calico-source", "$CC_CALICO_SOURCE", "$CC_CALICO_ARCHIVES", "GitHub"
    path: str                  # the local archive or directory
    sha256: str = ""           # of the archive; of a directory: of its file list with sizes and mtimes
    commit: str = ""           # from the archive's pax header (git archive, GitHub), or a checkout's HEAD
    tag: str = ""              # what the archive's top directory says (calico-v3.29.7/), if it does

    def as_dict(self) -> dict:
        return asdict(self)


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def archive_facts(path: Path) -> tuple[str, str]:
    """(commit, tag): the commit git archive (and GitHub's tarballs) record in the archive's pax
    global header, and the tag its top directory names; either may be empty."""
    try:
        with tarfile.open(path) as tar:
            first = tar.next()
            found = _TOP_TAG.match(first.name.split("/", 1)[0]) if first else None
            return (tar.pax_headers or {}).get("comment", ""), (f"v{found.group(1)}" if found else "")
    except (OSError, tarfile.TarError, EOFError):
        return "", ""


def _git_dir(directory: Path) -> Path:
    dot_git = directory / ".git"
    if dot_git.is_file():       # a worktree: "gitdir: <path>"
        text = dot_git.read_text().strip()
        if text.startswith("gitdir: "):
            return (directory / text[8:]).resolve()
    return dot_git


def _checkout_commit(directory: Path) -> str:
    git = _git_dir(directory)
    try:
        ref = (git / "HEAD").read_text().strip()
        if not ref.startswith("ref: "):
            return ref
        name = ref[5:]
        if (git / name).is_file():
            return (git / name).read_text().strip()
        common = git / "commondir"
        base = (git / common.read_text().strip()).resolve() if common.is_file() else git
        for line in (base / "packed-refs").read_text().splitlines():
            if line.endswith(f" {name}"):
                return line.split()[0]
    except OSError:
        pass
    return ""


def _listing(directory: Path):
    """(relative path, size, mtime_ns, link target) of every file and link, .git left out."""
    for top, dirs, files in os.walk(directory):
        linked = [d for d in dirs if os.path.islink(os.path.join(top, d))]     # links to directories
        dirs[:] = sorted(d for d in dirs if d != ".git" and d not in linked)
        for name in sorted(files + linked):
            if name == ".git":
                continue
            full = os.path.join(top, name)
            st = os.lstat(full)
            target = os.readlink(full) if os.path.islink(full) else ""
            yield os.path.relpath(full, directory), st.st_size, st.st_mtime_ns, target


def tree_digest(directory: Path) -> str:
    """A checkout's identity without reading every byte: its file list with sizes and mtimes."""
    digest = hashlib.sha256()
    for entry in _listing(directory):
        digest.update(("\0".join(map(str, entry)) + "\n").encode())
    return digest.hexdigest()


def sync(src: Path, dest: Path) -> int:
    """``dest`` made a copy of checkout ``src`` (.git left out), like rsync: only changed files
    (size or mtime) are copied, mtimes kept, so make and go see what really changed; files that
    left ``src`` leave ``dest``, while what a build wrote in ``dest`` stays. Returns files copied."""
    dest.mkdir(parents=True, exist_ok=True)
    manifest = dest / SYNCED
    try:
        before = set(json.loads(manifest.read_text()))
    except (OSError, ValueError):
        before = set()
    copied, now = 0, []
    for rel, size, mtime_ns, target in _listing(src):
        now.append(rel)
        there = dest / rel
        if target:
            if not there.is_symlink() or os.readlink(there) != target:
                there.parent.mkdir(parents=True, exist_ok=True)
                if there.is_symlink() or there.is_file():
                    there.unlink()
                os.symlink(target, there)
                copied += 1
            continue
        try:
            st = os.lstat(there)
            if st.st_size == size and st.st_mtime_ns == mtime_ns and not there.is_symlink():
                continue
        except OSError:
            pass
        there.parent.mkdir(parents=True, exist_ok=True)
        if there.is_symlink():
            there.unlink()
        shutil.copy2(src / rel, there)
        copied += 1
    for gone in before - set(now):
        try:
            (dest / gone).unlink()
        except OSError:
            pass
    manifest.write_text(json.dumps(sorted(now)))
    return copied


def _download(url: str, cache: Path, progress, step: str) -> Path:
    """``url`` into ``cache`` once (kept by its name); a partial download never counts."""
    cache.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^\w.-]", "_", url.split("://", 1)[1])
    dest = cache / name
    if dest.is_file():
        return dest
    progress(f"downloading {url}")
    fd, partial = tempfile.mkstemp(prefix=".download-", dir=cache)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as resp:  # noqa: S310
            shutil.copyfileobj(resp, out, 1 << 20)
        os.replace(partial, dest)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        # not the user's mistake (no network, a 404): a failed step, not a usage error
        raise BuildError(step, f"cannot download {url}: {reason}; {OPTIONS}") from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return dest


def _archive(path: Path, origin: str, how: str) -> Source:
    commit, tag = archive_facts(path)
    return Source("archive", origin, how, str(path.resolve()), sha256_file(path), commit, tag)


def given() -> tuple[str, str] | None:
    """The source the user named, and how: --calico-source is passed in; this is the environment's."""
    value = os.environ.get(SOURCE_ENV)
    return (value, f"${SOURCE_ENV}") if value else None


def check(value: str, how: str) -> bool:
    """``value`` has one of the forms a source takes (nothing is downloaded); True for a checkout."""
    if is_url(value):
        return False
    path = Path(value).expanduser()
    if path.is_dir():
        if not (path / "felix" / "cmd" / "calico-felix").is_dir():
            raise UsageError(f"{how} {value}: not a Calico source tree (no felix/cmd/calico-felix in it)")
        return True
    if path.is_file() and path.name.endswith(ARCHIVE_SUFFIXES):
        return False
    if not path.exists():
        raise UsageError(f"{how} {value}: no such file or directory; give a Calico checkout, a "
                         "calico-<tag>.tar.xz/.tar.gz archive or an http(s) URL of one")
    raise UsageError(f"{how} {value}: neither a Calico source directory, nor a .tar.xz/.tar.gz archive, nor a URL")


def _given(value: str, how: str, cache: Path, progress) -> Source:
    if check(value, how):
        path = Path(value).expanduser().resolve()
        return Source("directory", value, how, str(path), tree_digest(path), _checkout_commit(path))
    if is_url(value):
        return _archive(_download(value, cache, progress, "felix source"), value, how)
    return _archive(Path(value).expanduser(), value, how)


def _in_archives(directory: str | Path, stem: str) -> Path | None:
    """``calico-v3.29.7.tar.xz`` (git archive) or ``calico-3.29.7.tar.gz`` (GitHub) in ``directory``."""
    bare = stem.replace("-v", "-", 1)
    for name in (stem, bare):
        for suffix in ARCHIVE_SUFFIXES:
            path = Path(directory) / f"{name}{suffix}"
            if path.is_file():
                return path
    return None


def calico(tag: str, value: str | None, cache: Path, *, progress=print) -> Source:
    """Calico's source for ``tag`` (v3.29.7), from where the module docstring says; ``value`` is
    --calico-source. ``cache`` keeps downloads."""
    if value:
        return _given(value, "--calico-source", cache, progress)
    env = given()
    if env:
        return _given(env[0], env[1], cache, progress)
    archives = os.environ.get(ARCHIVES_ENV)
    if archives:
        found = _in_archives(archives, f"calico-{tag}")
        if found is None:
            raise UsageError(f"${ARCHIVES_ENV} ({archives}) holds no calico-{tag}.tar.xz or .tar.gz; add it, or "
                             "give the source with --calico-source")
        return _archive(found, str(found), f"${ARCHIVES_ENV}")
    url = GITHUB.format(tag=tag)
    return _archive(_download(url, cache, progress, "felix source"), url, "GitHub")


def libbpf(version: str, cache: Path, *, near: Path | None = None, progress=print) -> Source:
    """libbpf's source for tags whose felix does not vendor it (v3.31: LIBBPF_VERSION in
    metadata.mk): beside Calico's archive, in $CC_CALICO_ARCHIVES, else from GitHub."""
    for directory, how in ((near, "beside Calico's archive"), (os.environ.get(ARCHIVES_ENV), f"${ARCHIVES_ENV}")):
        found = _in_archives(directory, f"libbpf-{version}") if directory else None
        if found is not None:
            return _archive(found, str(found), how)
    url = LIBBPF_GITHUB.format(tag=version)
    return _archive(_download(url, cache, progress, "libbpf source"), url, "GitHub")


def unpack(archive: Path, dest: Path) -> None:
    """The archive's single top directory's contents into ``dest`` (calico-v3.29.7/ from git
    archive, calico-3.29.7/ from GitHub), safely: no member may leave ``dest``."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unpack-", dir=dest.parent))
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        tops = list(tmp.iterdir())
        top = tops[0] if len(tops) == 1 and tops[0].is_dir() else tmp
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(top, dest)
    except (OSError, tarfile.TarError, EOFError) as exc:
        raise UsageError(f"cannot unpack {archive}: {exc}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
