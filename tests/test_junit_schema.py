"""junit.xml validates against the Jenkins JUnit schema (tests/schemas/junit-10.xsd, the xunit
plugin's junit-10.xsd), one testcase per check named by its ID, for every kind of run: conformant,
failing, interrupted (never-run checks are skipped testcases saying so)."""
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from suite_runner import REPO, check_count, needs_root, verdicts, with_ctrl_c

xmlschema = pytest.importorskip("xmlschema")
SCHEMA = REPO / "tests" / "schemas" / "junit-10.xsd"


def run(reports, *args, env=None):
    return subprocess.run([sys.executable, "-m", "calico_conformance.cli", "run", "--reports-dir", str(reports), *args],
                          cwd=REPO, capture_output=True, text=True, timeout=180, env={**os.environ, **(env or {})},
                          preexec_fn=with_ctrl_c)


@needs_root
@pytest.mark.parametrize("args, env, code", [
    ([], {}, 0),
    (["--lab-dataplane", "defect-snat"], {}, 1),
    (["-p", "interrupt_plugin"], {"PYTHONPATH": str(REPO / "tests"), "CC_TEST_INTERRUPT_AFTER": "4"}, 130),
], ids=["conformant", "defect", "interrupted"])
def test_junit_validates_against_the_jenkins_schema(tmp_path, args, env, code):
    proc = run(tmp_path, *args, env=env)
    assert proc.returncode == code, proc.stdout[-1500:] + proc.stderr[-1500:]
    schema = xmlschema.XMLSchema(str(SCHEMA))
    schema.validate(str(tmp_path / "junit.xml"))            # raises with the offending element
    root = ET.parse(tmp_path / "junit.xml").getroot()
    names = [c.get("name") for c in root.iter("testcase")]
    assert len(names) == len(set(names)) == check_count() and all(n.startswith(("EBPF-", "SUP-")) for n in names)
    props = {p.get("name"): p.get("value") for p in root.iter("property")}
    assert props["target"] == "lab" and props["exit_code"] == str(code)
    if code == 130:
        assert props["verdict"] == "interrupted"
        assert any(s.get("type") == "not run" for s in root.iter("skipped"))


def test_pytest_s_own_xunit1_file_is_not_what_the_schema_accepts(tmp_path):
    """Why the suite writes its own JUnit: pytest's xunit1 file (per-testcase properties, file and
    line attributes) does not validate against junit-10.xsd; seen failing, kept as the reason."""
    (tmp_path / "test_x.py").write_text("def test_x(record_property):\n    record_property('check_id', 'X')\n")
    subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "junit_family=xunit1",
                    f"--junitxml={tmp_path / 'j.xml'}", str(tmp_path / "test_x.py")],
                   cwd=tmp_path, capture_output=True, timeout=60)
    assert not xmlschema.XMLSchema(str(SCHEMA)).is_valid(str(tmp_path / "j.xml"))
