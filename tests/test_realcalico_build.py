"""Building felix from Calico's source (calico_conformance.realcalico): where the source comes from,
what the real release trees say (libbpf, buildinfo, the BPF objects), and `lab build felix` for
real into the shared cache (minutes the first time on a machine; CI runs `lab build` first).

The release archives are the offline copy beside the project (../shared/upstream) or
$CC_CALICO_ARCHIVES; the tests that need them are skipped, saying so, where neither exists."""
from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from calico_conformance.realcalico import build, packages, source, versions
from calico_conformance.realk8s import cache
from calico_conformance.realk8s.gotool import BuildError
from calico_conformance.vocabulary.errors import UsageError

REPO = Path(__file__).resolve().parents[1]
CLI = REPO / ".venv" / "bin" / "calico-conformance"
# What ../shared/upstream/README.md records for each archive.
COMMITS = {"v3.29.7": "82fd18c202ac5400cd7760597a510de9d028b035",
           "v3.31.7": "94bd1d5b0e04459d4d1c83653e0335a9201248b8"}


def _upstream() -> Path | None:
    for candidate in (os.environ.get(source.ARCHIVES_ENV), REPO.parent / "shared" / "upstream"):
        if candidate and (Path(candidate) / f"calico-{versions.DEFAULT}.tar.xz").is_file():
            return Path(candidate).resolve()
    return None


UPSTREAM = _upstream()
needs_upstream = pytest.mark.skipif(UPSTREAM is None, reason="Calico's release archives are not here "
                                    f"(../shared/upstream or ${source.ARCHIVES_ENV})")


@pytest.fixture
def clean_env(monkeypatch):
    for name in (source.SOURCE_ENV, source.ARCHIVES_ENV):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def _tarball(path: Path, members: dict[str, bytes], *, commit: str = "", top: str = "calico-v3.29.7") -> Path:
    """A small release-like archive: ``top``/members, with git archive's pax comment when given."""
    with tarfile.open(path, "w:gz", format=tarfile.PAX_FORMAT,
                      pax_headers={"comment": commit} if commit else None) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{top}/{name}" if top else name)
            info.size, info.mtime = len(data), 1_700_000_000
            tar.addfile(info, io.BytesIO(data))
    return path


FELIX_MAIN = {"felix/cmd/calico-felix/calico-felix.go": b"package main\n"}


def _checkout(root: Path) -> Path:
    (root / "felix" / "cmd" / "calico-felix").mkdir(parents=True)
    (root / "felix" / "cmd" / "calico-felix" / "calico-felix.go").write_text("package main\n")
    return root


# ---------------------------------------------------------------- where the source comes from

def test_the_source_order_is_flag_then_environment_then_archives(tmp_path, clean_env):
    archives = tmp_path / "archives"
    archives.mkdir()
    # GitHub's own tarball name (no v) is found as well as git archive's
    _tarball(archives / "calico-3.29.7.tar.gz", FELIX_MAIN, top="calico-3.29.7")
    checkout = _checkout(tmp_path / "checkout")
    given = _tarball(tmp_path / "given.tar.gz", FELIX_MAIN)
    downloads = tmp_path / "downloads"

    clean_env.setenv(source.ARCHIVES_ENV, str(archives))
    found = source.calico("v3.29.7", None, downloads)
    assert (found.how, found.kind, found.tag) == ("$CC_CALICO_ARCHIVES", "archive", "v3.29.7")
    assert found.sha256 == hashlib.sha256((archives / "calico-3.29.7.tar.gz").read_bytes()).hexdigest()

    clean_env.setenv(source.SOURCE_ENV, str(checkout))
    found = source.calico("v3.29.7", None, downloads)
    assert (found.how, found.kind, found.path) == ("$CC_CALICO_SOURCE", "directory", str(checkout))
    assert len(found.sha256) == 64          # a checkout's identity: its file list, sizes, mtimes

    found = source.calico("v3.29.7", str(given), downloads)
    assert (found.how, found.path) == ("--calico-source", str(given))

    clean_env.delenv(source.SOURCE_ENV)
    with pytest.raises(UsageError, match=r"CC_CALICO_ARCHIVES .* holds no calico-v3.31.7"):
        source.calico("v3.31.7", None, downloads)


def test_a_url_source_is_downloaded_once_and_its_commit_recorded(tmp_path, clean_env):
    served = tmp_path / "served"
    served.mkdir()
    commit = "0123456789abcdef0123456789abcdef01234567"
    archive = _tarball(served / "calico-v3.31.7.tar.gz", FELIX_MAIN, commit=commit, top="calico-v3.31.7")
    hits = []

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            hits.append(self.path)

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/calico-v3.31.7.tar.gz"
        lines = []
        found = source.calico("v3.29.7", url, tmp_path / "downloads", progress=lines.append)
        again = source.calico("v3.29.7", url, tmp_path / "downloads", progress=lines.append)
    finally:
        server.shutdown()
    assert (found.kind, found.how, found.origin, found.commit, found.tag) == \
        ("archive", "--calico-source", url, commit, "v3.31.7")
    assert found.sha256 == hashlib.sha256(archive.read_bytes()).hexdigest() == again.sha256
    assert len(hits) == 1 and lines == [f"downloading {url}"]
    tree = tmp_path / "tree"
    source.unpack(Path(found.path), tree)
    assert (tree / "felix" / "cmd" / "calico-felix" / "calico-felix.go").read_text() == "package main\n"
    # the archive says v3.31.7: asking for another tag from it is refused, not mislabelled
    with pytest.raises(UsageError, match="holds Calico v3.31.7, not v3.29.7"):
        build._tag_for("v3.29.7", found)
    assert build._tag_for(None, found) == "v3.31.7"


def test_a_download_that_fails_is_a_failed_step_naming_the_options(tmp_path, clean_env):
    with pytest.raises(BuildError) as caught:
        source.calico("v3.29.7", "http://127.0.0.1:9/calico-v3.29.7.tar.gz", tmp_path)
    assert caught.value.step == "felix source"
    assert "--calico-source DIR|FILE.tar.*|URL, $CC_CALICO_SOURCE" in caught.value.reason
    assert "\n" not in str(caught.value) and not list(tmp_path.iterdir())   # no partial download kept


def test_an_archive_member_leaving_the_tree_is_refused(tmp_path):
    evil = _tarball(tmp_path / "evil.tar.gz", {"felix/ok.go": b"x", "../../escaped": b"boom"})
    with pytest.raises(UsageError) as caught:
        source.unpack(evil, tmp_path / "tree")
    message = str(caught.value)
    assert "\n" not in message and "outside the destination" in message
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()


@pytest.mark.parametrize("make, says", [
    (lambda tmp: tmp / "missing", "no such file or directory"),
    (lambda tmp: tmp, "not a Calico source tree"),
    (lambda tmp: (tmp / "notes.txt", (tmp / "notes.txt").write_text("x"))[0], "neither a Calico source directory"),
])
def test_bad_calico_source_values_are_one_clear_usage_error(tmp_path, clean_env, make, says):
    value = str(make(tmp_path))
    with pytest.raises(UsageError, match=says):
        source.check(value, "--calico-source")
    proc = subprocess.run([str(CLI), "lab", "build", "felix", "--cache-dir", str(tmp_path / "c"),
                           "--calico-source", value], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("CC_CALICO")})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("calico-conformance: error: --calico-source")
    assert says in proc.stderr


def test_only_the_judged_tags_build_unless_the_source_is_a_checkout(tmp_path, clean_env):
    with pytest.raises(UsageError, match=r"v3\.30\.0: this project builds and has judged v3\.29\.7, v3\.31\.7"):
        versions.check("v3.30.0", directory=False)
    versions.check("v3.30.0", directory=True)
    with pytest.raises(UsageError, match="not a tag name"):
        versions.check("../x", directory=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_CALICO")}
    base = [str(CLI), "lab", "build", "--cache-dir", str(tmp_path / "c")]
    proc = subprocess.run([*base, "felix", "--calico-version", "v3.30.0"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 2 and "v3.29.7, v3.31.7" in proc.stderr
    proc = subprocess.run([*base, "kube-proxy", "--bpf-objects", "all"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 2 and "--bpf-objects are felix's" in proc.stderr
    assert not (tmp_path / "c").exists()     # refused before anything was built


def test_offline_with_no_source_given_fails_the_source_step_in_one_line(tmp_path):
    """GitHub is the last resort; where it cannot be reached (here: a proxy that refuses), the
    command ends with exit 1 naming the step and every other way to give the source."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CC_CALICO")}
    env.update(https_proxy="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9")
    proc = subprocess.run([str(CLI), "lab", "build", "felix", "--cache-dir", str(tmp_path / "c")],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    line, = proc.stderr.splitlines()
    assert line.startswith("calico-conformance lab build: step `felix source` failed: cannot download "
                           "https://github.com/projectcalico/calico/archive/refs/tags/v3.29.7.tar.gz")
    assert "$CC_CALICO_ARCHIVES" in line


# ---------------------------------------------------------------- a checkout is copied, never built in

def test_a_checkout_is_synced_like_rsync_and_keeps_what_the_build_wrote(tmp_path):
    src = _checkout(tmp_path / "checkout")
    (src / ".git").mkdir()
    (src / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (src / ".git" / "packed-refs").write_text("# pack-refs\n" + "ab" * 20 + " refs/heads/main\n")
    (src / "felix" / "old.go").write_text("old")
    (src / "link").symlink_to("felix")
    dest = tmp_path / "copy"
    digest = source.tree_digest(src)
    assert source.sync(src, dest) == 3        # two files and the link; .git left out
    assert not (dest / ".git").exists() and os.readlink(dest / "link") == "felix"
    assert source._checkout_commit(src) == "ab" * 20
    (dest / "felix" / "built.o").write_text("a build output")
    (src / "felix" / "old.go").unlink()
    (src / "felix" / "new.go").write_text("new")
    assert source.sync(src, dest) == 1
    assert not (dest / "felix" / "old.go").exists() and (dest / "felix" / "new.go").read_text() == "new"
    assert (dest / "felix" / "built.o").exists()
    assert source.tree_digest(src) != digest
    os.utime(src / "felix" / "new.go", ns=(1, 1))    # a touched file is another tree
    before = source.tree_digest(src)
    os.utime(src / "felix" / "new.go", ns=(2, 2))
    assert source.tree_digest(src) != before


def test_a_dependency_file_made_elsewhere_is_made_again(tmp_path):
    """A checkout built in calico's container brings .d files naming /go/src/... headers; make
    would stop at "No rule to make target"."""
    (tmp_path / "here.h").write_text("")
    (tmp_path / "ours.d").write_text(f"x.o x.d : x.c \\\n  {tmp_path / 'here.h'}\n")
    (tmp_path / "theirs.d").write_text("x.o x.d : x.c \\\n  /go/src/github.com/projectcalico/calico/bpf.h\n")
    build._drop_foreign_deps(tmp_path)
    assert (tmp_path / "ours.d").exists() and not (tmp_path / "theirs.d").exists()


# ---------------------------------------------------------------- what the real trees say

@pytest.fixture(scope="module")
def trees(tmp_path_factory):
    if UPSTREAM is None:
        pytest.skip("Calico's release archives are not here (../shared/upstream or $CC_CALICO_ARCHIVES)")
    out = {}
    for tag in versions.SUPPORTED:
        tree = tmp_path_factory.mktemp("trees") / tag
        source.unpack(UPSTREAM / f"calico-{tag}.tar.xz", tree)
        out[tag] = tree
    return out


@needs_upstream
@pytest.mark.parametrize("tag", versions.SUPPORTED)
def test_the_release_archives_name_their_tag_and_commit(tag):
    assert source.archive_facts(UPSTREAM / f"calico-{tag}.tar.xz") == (COMMITS[tag], tag)


def test_the_release_trees_say_where_libbpf_is_and_which_variable_is_the_version(trees):
    old, new = trees["v3.29.7"], trees["v3.31.7"]
    assert build.libbpf_dir(old) == (old / "felix/bpf-gpl/include/libbpf", "")        # vendored
    assert build.libbpf_dir(new) == (new / "felix/bpf-gpl/libbpf", "v1.4.6")          # metadata.mk
    assert build.buildinfo(old) == ("github.com/projectcalico/calico/felix/buildinfo", "GitVersion")
    assert build.buildinfo(new) == ("github.com/projectcalico/calico/pkg/buildinfo", "Version")
    flags = build.ldflags(new, "v3.31.7", COMMITS["v3.31.7"], "2026-01-01T00:00:00+0000")
    assert flags == ("-X github.com/projectcalico/calico/pkg/buildinfo.Version=v3.31.7 "
                     "-X github.com/projectcalico/calico/pkg/buildinfo.BuildDate=2026-01-01T00:00:00+0000 "
                     f"-X github.com/projectcalico/calico/pkg/buildinfo.GitRevision={COMMITS['v3.31.7']} "
                     f"-B 0x{COMMITS['v3.31.7']}")
    assert "-B" not in build.ldflags(old, "dev", "", "d")       # no commit, no build id


def _listed(tree: Path) -> list[str]:
    return subprocess.run(["./list-objs"], cwd=tree / "felix" / "bpf-gpl", capture_output=True, text=True,
                          check=True, timeout=60).stdout.split()


def test_the_lab_objects_are_felixs_no_log_programs_and_the_makefiles_extras(trees):
    old, new = trees["v3.29.7"], trees["v3.31.7"]
    assert build.makefile_extras(old) == ["bin/tc_preamble.o", "bin/xdp_preamble.o", "bin/policy_default.o"]
    extras = build.makefile_extras(new)
    assert {"bin/tc_preamble_ingress_notrace.o", "bin/tcx_test.o", "bin/policy_default_egress.o",
            "bin/common_map_stub.o", "bin/common_map_stub_ing.o", "bin/xdp_map_stub.o"} <= set(extras)
    lab_old = build.lab_objects(_listed(old), build.makefile_extras(old))
    lab_new = build.lab_objects(_listed(new), extras)
    assert (len(lab_old), len(lab_new)) == (68, 87)
    # what felix v3.29.7 loaded in the lab (RECIPE: eth0/vxlan.calico as hep, lo, bpfin/out, cali*)
    assert {"bin/from_hep_fib_no_log_co-re.o", "bin/to_wep_no_log_co-re.o", "bin/from_wep_host_drop_fib_no_log_co-re.o",
            "bin/connect_time_no_log_v46_co-re.o", "bin/to_nat_no_log_co-re_v6.o", "bin/xdp_no_log.o"} <= set(lab_old)
    assert {"bin/from_vxlan_fib_no_log_co-re.o", "bin/connect_balancer_no_log_co-re_v4.o",
            "bin/conntrack_cleanup_no_log_co-re_v6.o"} <= set(lab_new)
    assert not [o for o in lab_old + lab_new if "debug" in o or "_info" in o]
    assert "bin/from_wep_no_log.o" not in lab_old            # legacy only where CO-RE has no variant


def test_the_packages_are_one_list_and_present_here():
    assert set(packages.BUILD) & set(packages.RUN) == set()
    assert {"clang-19", "llvm-19", "clang-16", "llvm-16", "libelf-dev", "libpcap-dev"} <= set(packages.BUILD)
    assert {"ipset", "libelf1", "libpcap0.8"} <= set(packages.RUN)
    if packages.missing(packages.BUILD):
        pytest.skip(f"this machine lacks {packages.missing(packages.BUILD)} (lab build installs them as root)")
    packages.ensure(packages.BUILD, progress=pytest.fail)      # nothing to install: no line


# ---------------------------------------------------------------- lab build felix, for real

@needs_upstream
@pytest.mark.parametrize("tag", versions.SUPPORTED)
def test_lab_build_felix_builds_the_tag_from_the_archive_into_the_cache(tag):
    """Through the command as a user runs it, into the shared cache: minutes the first time on a
    machine, seconds after. The recorded source is the archive, felix says its tag, and the
    objects the lab loads are there."""
    env = {**os.environ, source.ARCHIVES_ENV: str(UPSTREAM)}
    env.pop(source.SOURCE_ENV, None)
    argv = [str(CLI), "lab", "build", "felix", "--calico-version", tag]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=7200, env=env)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    store = cache.Cache(cache.root())
    done = build.installed(store, tag)
    assert done is not None and done.tag == tag
    recorded = json.loads((done.directory / "source.json").read_text())
    assert recorded["sha256"] == hashlib.sha256((UPSTREAM / f"calico-{tag}.tar.xz").read_bytes()).hexdigest()
    assert recorded["commit"] == COMMITS[tag] and done.key == recorded["sha256"][:16]
    assert f"Version:            {tag}\n" in done.version and COMMITS[tag] in done.version
    assert "mod\tgithub.com/projectcalico/calico" in (done.directory / "calico-felix.version-m.txt").read_text()
    needed = {"v3.29.7": ["tc_preamble.o", "policy_default.o", "connect_time_no_log_v4_co-re.o"],
              "v3.31.7": ["tc_preamble_ingress.o", "tcx_test.o", "common_map_stub.o", "from_vxlan_fib_no_log_co-re.o",
                          "connect_balancer_no_log_co-re_v4.o", "conntrack_cleanup_no_log_co-re_v4.o"]}[tag]
    for name in [*needed, "from_hep_fib_no_log_co-re.o", "to_hep_fib_no_log_co-re.o", "from_lo_fib_no_log_co-re.o",
                 "to_wep_no_log_co-re.o", "from_wep_host_drop_fib_no_log_co-re.o", "from_nat_no_log_co-re_v6.o",
                 "filter.o"]:
        assert (done.bpf / name).stat().st_size > 0, name
    assert len(list(done.crds.glob("*.yaml"))) >= 18
    if tag == "v3.31.7":
        assert recorded["libbpf"]["tag"] == "v1.4.6"

    # again: everything is in the cache, and without any source named the built one is used
    start = time.monotonic()
    again = subprocess.run(argv, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0 and "in the cache" in again.stdout and "0 built" in again.stdout, again.stdout
    env.pop(source.ARCHIVES_ENV)
    offline = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                             env={**env, "https_proxy": "http://127.0.0.1:9"})
    assert offline.returncode == 0 and f"felix {tag}: in the cache" in offline.stdout, offline.stderr
    assert time.monotonic() - start < 60


def test_objects_another_compiler_made_are_made_again(tmp_path):
    """make takes an object as up to date whatever compiled it: when the compilers change (clang-16
    for the IPv6 objects, build.py says why), what the old ones left is removed first, once."""
    gpl, apache = tmp_path / "bpf-gpl", tmp_path / "bpf-apache"
    for d in (gpl, apache):
        (d / "bin").mkdir(parents=True)
        (d / "bin" / "x_v6.o").write_text("old")
        (d / "x.ll").write_text("old")
    build._drop_other_compilers(gpl, apache)
    assert not list(tmp_path.rglob("*.o")) and not list(tmp_path.rglob("*.ll"))
    (gpl / build._COMPILERS).write_text(build._compilers())
    (gpl / "bin" / "y.o").write_text("new")
    build._drop_other_compilers(gpl, apache)
    assert (gpl / "bin" / "y.o").exists()
