"""`calico-conformance catalog` lists every check a run makes, EBPF-* and SUP-*, with statements as
the rendered page reads them ("Calico", never `{{ site.prodname }}`), as text or JSON."""
import json
import subprocess
import sys

from calico_conformance import catalog
from calico_conformance.support import matrix
from suite_runner import REPO


def cli(*args):
    return subprocess.run([sys.executable, "-m", "calico_conformance.cli", "catalog", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def expected_ids() -> set[str]:
    return set(catalog.load()) | {e.id for e in matrix.load().entries}


def test_the_text_listing_has_every_check_and_no_template_variables():
    proc = cli()
    assert proc.returncode == 0, proc.stderr
    assert "{{" not in proc.stdout and "site.prodname" not in proc.stdout
    listed = {line.split()[0] for line in proc.stdout.splitlines() if line[:1].isupper() and "-" in line.split()[0]}
    assert listed == expected_ids() and len(listed) == len(catalog.load()) + len(matrix.load().entries)
    assert "configure Calico not to clean up" in proc.stdout


def test_json_output_is_one_object_per_check_with_documents_and_versions():
    checks = json.loads(cli("--output", "json").stdout)
    assert {c["id"] for c in checks} == expected_ids()
    for c in checks:
        assert c["title"] and c["remediation"] and c["verifies"], c["id"]
        for s in c["verifies"]:
            assert s["doc"] in ("older", "v3.29", "release notes") and s["versions"] and s["statement"], c["id"]
            assert "{{" not in s["statement"], c["id"]
    assert json.loads(cli("--json").stdout) == checks

