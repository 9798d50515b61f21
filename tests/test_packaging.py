"""The suite as users install it: one wheel, one import package (calico_conformance), a pytest11
plugin, and a `calico-conformance run` that works from any directory with no clone beside it.

The wheel is built from this checkout and installed with --no-deps into a fresh virtual
environment; the dependencies (pytest, scapy, kubernetes, ...) come from the project's own .venv
through a path file, so the test needs no network. That path file adds a folder, not a site
directory: the .venv's editable finder for this clone is not loaded, so every import of ours in
the fresh venv comes from the wheel, and the test proves it.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from suite_runner import needs_root

REPO = Path(__file__).resolve().parent.parent
WHEELHOUSE = Path(sys.prefix) / "wheelhouse"      # bootstrap keeps PyPI's `fixtures` here


def _run(argv, *, cwd, env=None, timeout=300):
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out),
                 str(REPO)], cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (found,) = out.glob("calico_conformance-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel) -> Path:
    env_dir = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(env_dir), "platbase": str(env_dir)}))
    (site / "deps-from-project-venv.pth").write_text(sysconfig.get_path("purelib") + "\n")
    proc = _run([sys.executable, "-m", "pip", "--python", str(env_dir / "bin" / "python"), "install",
                 "--no-deps", "--no-index", "--disable-pip-version-check", "-q", str(wheel)],
                cwd=env_dir)
    assert proc.returncode == 0, proc.stderr
    return env_dir


def _python(venv: Path, code: str, cwd: Path):
    return _run([str(venv / "bin" / "python"), "-c", code], cwd=cwd)


def test_wheel_holds_one_import_package_with_checks_and_fixtures(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names if not n.split("/")[0].endswith((".dist-info", ".data"))}
    assert top == {"calico_conformance"}
    for needed in ("calico_conformance/conformance/catalog.yaml",
                   "calico_conformance/conformance/test_nodeport.py",
                   "calico_conformance/fixtures/target.py",
                   "calico_conformance/support/matrix.yaml",
                   "calico_conformance/install/custom-resources-v3.29.1.yaml"):
        assert needed in names
    # Every package of the clone is in the wheel (pyproject lists them one by one).
    in_clone = {str(p.parent.relative_to(REPO / "src")).replace("/", ".")
                for p in (REPO / "src").rglob("__init__.py")}
    in_wheel = {n.rsplit("/", 1)[0].replace("/", ".") for n in names if n.endswith("/__init__.py")}
    assert in_clone <= in_wheel
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "[pytest11]" in text and "calico_conformance.plugin = calico_conformance.plugin" in text


def test_no_generic_top_level_names_are_installed(venv, tmp_path):
    for name in ("fixtures", "conformance"):
        proc = _python(venv, f"import {name}", tmp_path)
        assert proc.returncode != 0 and "No module named" in proc.stderr, (name, proc.stderr)
    proc = _python(venv, "import calico_conformance, calico_conformance.plugin as p; print(p.__file__)",
                   tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert str(venv) in proc.stdout and str(REPO) not in proc.stdout


def test_version_is_the_distributions(venv, tmp_path):
    proc = _run([str(venv / "bin" / "calico-conformance"), "--version"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    from importlib.metadata import version
    assert proc.stdout.strip() == f"calico-conformance {version('calico-conformance')}"


def test_pytest_finds_the_plugin_by_its_entry_point(venv, tmp_path):
    proc = _run([str(venv / "bin" / "python"), "-m", "pytest", "--help"], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "--target=NAME" in proc.stdout and "--lab-dataplane" in proc.stdout


@needs_root
def test_run_from_an_empty_directory_with_pypi_fixtures_beside_it(venv, tmp_path):
    """The whole suite from the installed wheel, twice: alone, then with PyPI's `fixtures`
    (testing-cabal's library) installed in the same venv; both pass and write their reports."""
    wheels = sorted(WHEELHOUSE.glob("fixtures-*.whl"))
    assert wheels, f"bootstrap keeps PyPI's fixtures wheel in {WHEELHOUSE}; run ./bootstrap"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "VIRTUAL_ENV"))}
    for round_ in ("alone", "beside-pypi-fixtures"):
        if round_ == "beside-pypi-fixtures":
            proc = _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"),
                         "install", "--no-index", "--find-links", str(WHEELHOUSE), "-q",
                         "--disable-pip-version-check", "fixtures"], cwd=tmp_path)
            assert proc.returncode == 0, proc.stderr
            proc = _python(venv, "import fixtures; print(fixtures.Fixture.__module__)", tmp_path)
            assert proc.returncode == 0 and proc.stdout.startswith("fixtures"), proc.stderr
        work = tmp_path / round_
        work.mkdir()
        proc = _run([str(venv / "bin" / "calico-conformance"), "run", "-q"], cwd=work, env=env)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        summary = json.loads((work / "reports" / "summary.json").read_text())
        assert summary["verdict"] == "conformant"
        assert (work / "reports" / "junit.xml").is_file() and (work / "reports" / "report.html").is_file()
        assert not (work / "conformance").exists() and not (work / "fixtures").exists()
