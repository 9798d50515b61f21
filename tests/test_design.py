"""The house stays walkable (docs/DESIGN.md): the import graph follows the floors, every path the
design names exists, every comment that names a file or module names one that exists, and each
walkthrough ("a new check", "a new lab profile", "a new target", "a new real component") is
followed here in a copy of the clone: done the way DESIGN.md says, the project's own guards pass;
with a step left out, the guard of that step fails."""
from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path

import pytest

from suite_runner import REPO, needs_root

DESIGN = REPO / "docs" / "DESIGN.md"
PACKAGE = REPO / "src" / "calico_conformance"


def test_the_import_graph_follows_the_floors():
    proc = subprocess.run([sys.executable, str(REPO / "scripts" / "check-layers.py")], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "every one downward, no cycle" in proc.stdout


def _exists(ref: str) -> bool:
    """A path as DESIGN.md or a comment writes it: from the clone's root, or within the package."""
    ref = ref.split("::")[0].rstrip("/")
    return any((base / ref).exists() for base in (REPO, PACKAGE)) or bool(list(REPO.glob(ref)))


def test_every_path_the_design_names_exists():
    named = set()
    for token in re.findall(r"`([^`\s]+)`", DESIGN.read_text()):
        if token.startswith(("../shared", "calico-conformance", "http")) or "<" in token or "*" in token:
            continue
        if "/" in token or re.search(r"\.(py|md|yaml|j2|toml|ini)$", token):
            named.add(token)
    assert len(named) > 30, "DESIGN.md names the files a newcomer touches"
    missing = sorted(t for t in named if not _exists(t))
    assert not missing, f"DESIGN.md names paths that do not exist: {missing}"


def test_every_floor_holds_what_exists():
    block = re.search(r"```layers\n(.*?)```", DESIGN.read_text(), re.S).group(1)
    units = {u for line in block.splitlines() for u in line.partition(":")[2].split()}
    on_disk = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"} | \
              {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()} | {"conformance", "fixtures"}
    assert units == on_disk


# A path in a comment: top-level folders of the clone, or of the package.
_TOP = {"src", "conformance", "fixtures", "docs", "tests", "scripts", "reports", ".ci"} | \
       {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith("__")}
_PATH = re.compile(r"(?<![\w./~-])((?:[\w.-]+/)+[\w.-]+\.(?:py|md|yaml|json|j2|txt|toml|ini|xsd)|[\w-]+\.py)\b")
_MODULE = re.compile(r"\bcalico_conformance(?:\.\w+)+")


def _comments(path: Path):
    """(line, text) of every comment and docstring-like string of a Python file."""
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
        if tok.type == tokenize.COMMENT or (tok.type == tokenize.STRING and tok.string.lstrip("rbuRBUf")[:3] in ('"""', "'''")):
            yield tok.start[0], tok.string


def _module_exists(dotted: str) -> bool:
    parts = dotted.split(".")
    for i in range(len(parts), 1, -1):       # the longest prefix that is a module; the rest are names in it
        rel = ".".join(parts[:i]).replace("calico_conformance.conformance", "conformance") \
            .replace("calico_conformance.fixtures", "fixtures").replace("calico_conformance", "src/calico_conformance")
        base = REPO / rel.replace(".", "/")
        if base.with_suffix(".py").exists() or (base / "__init__.py").exists():
            return True
    return False


def test_every_comment_names_a_file_or_module_that_exists():
    wrong = []
    for top in ("src", "conformance", "fixtures", "tests", "scripts"):
        for path in (REPO / top).rglob("*.py"):
            for line, text in _comments(path):
                for ref in _PATH.findall(text):
                    ours = "/" not in ref or ref.split("/")[0] in _TOP
                    if ours and not _exists(ref) and not list(REPO.rglob(Path(ref).name)):
                        wrong.append(f"{path.relative_to(REPO)}:{line} names {ref}")
                for mod in _MODULE.findall(text):
                    if not _module_exists(mod):
                        wrong.append(f"{path.relative_to(REPO)}:{line} names {mod}")
                if "LAB-NOTES" in text:
                    wrong.append(f"{path.relative_to(REPO)}:{line} names LAB-NOTES, which is not in the project")
    assert not wrong, "\n".join(wrong)


# ---- the walkthroughs, in a copy of the clone ------------------------------------------------

def _clone(tmp_path: Path) -> Path:
    """The clone's tracked files as they are in the work tree, importable as the package: the
    package-dir mapping of pyproject.toml made with links, the copy first on PYTHONPATH."""
    copy = tmp_path / "clone"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split("\0")
    for name in filter(None, files):
        src = REPO / name
        if src.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, copy / name)
    for room in ("conformance", "fixtures"):
        (copy / "src" / "calico_conformance" / room).symlink_to(Path("..", "..", room))
    return copy


def _guard(copy: Path, *tests: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{copy / 'src'}{os.pathsep}{copy / 'tests'}"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:hypothesispytest",
                           *tests], cwd=copy, env=env, capture_output=True, text=True, timeout=300)


def _passes(copy: Path, *tests: str) -> bool:
    proc = _guard(copy, *tests)
    assert proc.returncode in (0, 1), proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc.returncode == 0


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + textwrap.dedent(text))


def _insert_after(path: Path, anchor: str, text: str, indent: str) -> None:
    body = path.read_text()
    assert anchor in body, anchor
    path.write_text(body.replace(anchor, anchor + textwrap.indent(textwrap.dedent(text), indent), 1))


def _regenerate_docs(copy: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(copy / "src")}
    for argv, out in ((["-m", "calico_conformance.truths"], None),
                      (["-m", "calico_conformance.cli", "catalog", "--markdown"], copy / "docs" / "checks.md")):
        proc = subprocess.run([sys.executable, *argv], cwd=copy, env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        if out:
            out.write_text(proc.stdout)


CATALOG_GUARDS = ("tests/test_suite_cli.py::test_every_check_has_a_catalog_entry",
                  "tests/test_suite_cli.py::test_every_catalog_check_has_exactly_one_test",
                  "tests/test_suite_cli.py::test_catalog_doc_is_up_to_date")
TRUTH_GUARDS = ("tests/test_upstream_truths.py::test_every_check_and_every_profile_has_a_row",
                "tests/test_upstream_truths.py::test_docs_are_up_to_date")
VERDICT_GUARDS = ("tests/test_lab_verdicts.py::test_expectations_name_every_packet_check_and_no_other",
                  "tests/test_lab_verdicts.py::test_every_profile_has_expectations")


def test_walkthrough_a_new_check(tmp_path):
    copy = _clone(tmp_path)
    guards = CATALOG_GUARDS + TRUTH_GUARDS + VERDICT_GUARDS
    assert _passes(copy, *guards), "the guards pass on the clone as it is"
    # 1. the check itself
    (copy / "conformance" / "test_example.py").write_text(textwrap.dedent('''\
        import pytest


        @pytest.mark.check("EBPF-EXAMPLE")
        def test_example_promise_holds(target, evidence):
            """An example check, added the way docs/DESIGN.md says."""
        '''))
    assert not _passes(copy, *CATALOG_GUARDS), "a check without a catalog entry is caught"
    # 2. its catalog entry (and docs/checks.md)
    _insert_after(copy / "conformance" / "catalog.yaml", "checks:\n", '''\
          EBPF-EXAMPLE:
            title: An example promise holds
            test: test_example_promise_holds
            verifies:
              - doc: v3.29
                versions: ">=3.21"
                statement: "An example statement."
            how: An example.
            remediation: None needed.

        ''', "  ")
    _regenerate_docs(copy)
    assert _passes(copy, *CATALOG_GUARDS)
    assert not _passes(copy, TRUTH_GUARDS[0]), "a check without a truth row is caught"
    # 3. its upstream truth row
    _insert_after(copy / "conformance" / "upstream-truths.yaml", "rows:\n", '''\
          example-promise:
            topic: An example
            fact: What real Calico does for the example.
            code: ["felix/example.go::Example @ v3.29.7"]
            fv: []
            checks: [EBPF-EXAMPLE]
            exercised_by:
              - {profile: ebpf-tunnel, expect: {EBPF-EXAMPLE: passed}}
        ''', "  ")
    _regenerate_docs(copy)
    assert _passes(copy, *TRUTH_GUARDS)
    assert not _passes(copy, VERDICT_GUARDS[0]), "a check without lab expectations is caught"
    # 4. its lab verdicts
    _insert_after(copy / "tests" / "test_lab_verdicts.py", "BASELINE = {\n", '"EBPF-EXAMPLE": P,\n', "    ")
    assert _passes(copy, *guards, "tests/test_upstream_truths.py")


def test_walkthrough_a_new_lab_profile(tmp_path):
    copy = _clone(tmp_path)
    guards = VERDICT_GUARDS + TRUTH_GUARDS + ("tests/test_upstream_truths.py::test_every_defect_names_the_truth_it_contradicts",)
    # 1. the profile
    _insert_after(copy / "src" / "calico_conformance" / "lab" / "profiles.py", "    # One defect per check.\n", '''\
            replace(_TUNNEL, name="defect-example", snat_forwarded=True, breaks=("EBPF-SOURCE-IP",),
                    summary="an example defect: forwarded NodePort traffic masqueraded [truth: source-ip-preserved]"),
        ''', "    ")
    assert not _passes(copy, VERDICT_GUARDS[1]), "a profile without lab expectations is caught"
    # 3. its lab verdicts
    _insert_after(copy / "tests" / "test_lab_verdicts.py", "DIFFERENCES = {\n", '"defect-example": {"EBPF-SOURCE-IP": F},\n', "    ")
    assert not _passes(copy, guards[-1]), "a defect its truth row does not name is caught"
    # 2. the truth row it contradicts names it
    rows = (copy / "conformance" / "upstream-truths.yaml").read_text()
    line = next(ln for ln in rows.splitlines() if "{profile: defect-snat," in ln)
    (copy / "conformance" / "upstream-truths.yaml").write_text(
        rows.replace(line + "\n", line + "\n" + line.replace("defect-snat,", "defect-example,") + "\n", 1))
    _regenerate_docs(copy)
    assert _passes(copy, *guards, "tests/test_upstream_truths.py")


@needs_root
def test_walkthrough_a_new_target(tmp_path):
    copy = _clone(tmp_path)
    # 1. the module: here a target that is the lab under another name
    (copy / "src" / "calico_conformance" / "targets" / "example.py").write_text(textwrap.dedent('''\
        """``--target example``: an example target, added the way docs/DESIGN.md says."""
        from calico_conformance.targets import lab


        def add_options(parser) -> None:
            parser.getgroup("example").addoption("--example-flag", action="store_true", help="an example option")


        def check(options) -> None:
            lab.check(options)


        def create(options):
            target = lab.create(options)
            target.name = "example"
            return target
        '''))
    # 2. its name in the registry
    init = copy / "src" / "calico_conformance" / "targets" / "__init__.py"
    init.write_text(init.read_text().replace("from calico_conformance.targets import kind, kubeconfig, lab, ssh",
                                             "from calico_conformance.targets import example, kind, kubeconfig, lab, ssh")
                    .replace('"ssh": ssh}', '"ssh": ssh, "example": example}'))
    env = {**os.environ, "PYTHONPATH": str(copy / "src")}
    proc = subprocess.run([sys.executable, "-m", "calico_conformance.cli", "run", "--target", "example",
                           "--example-flag", "--reports-dir", str(tmp_path / "reports"), "-q",
                           "-k", "kube_proxy"], cwd=copy, env=env, capture_output=True, text=True, timeout=300)
    rec = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert rec["target"]["target"] == "example", proc.stdout[-2000:] + proc.stderr[-2000:]
    assert [c["outcome"] for c in rec["checks"] if c["id"] == "EBPF-NO-KUBE-PROXY"] == ["passed"]


def test_walkthrough_a_new_real_component(tmp_path):
    copy = _clone(tmp_path)
    components = copy / "src" / "calico_conformance" / "realk8s" / "components.py"
    _insert_after(components, '    "etcd": Component("etcd", versions.ETCD, ETCD, "go.etcd.io/etcd/server/v3"),\n',
                  '"kube-scheduler": Component("kube-scheduler", versions.KUBERNETES, KUBERNETES,\n'
                  '                            "k8s.io/kubernetes/cmd/kube-scheduler"),\n', "    ")
    env = {**os.environ, "PYTHONPATH": str(copy / "src")}
    help_text = subprocess.run([sys.executable, "-m", "calico_conformance.cli", "lab", "build", "--help"],
                               cwd=copy, env=env, capture_output=True, text=True, timeout=60).stdout
    assert "kube-scheduler" in help_text, "`lab build` knows the new component"
    proc = subprocess.run([sys.executable, "-c", "from calico_conformance.realk8s import build, components; "
                           "build.check_names(['kube-scheduler']); "
                           "print(components.COMPONENTS['kube-scheduler'].wrapper.module)"],
                          cwd=copy, env=env, capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "k8s.io/kubernetes", proc.stderr
