"""junit.xml from summary.json, in the shape of the Jenkins JUnit schema (jenkinsci/xunit-plugin's
junit-10.xsd, the one pytest validates its own xunit2 output against; tests/schemas/junit-10.xsd):
one testcase per check, named by its ID, so any CI's test view lists checks by ID. Checks that
never ran (an interrupted run) are skipped testcases saying so. The target's facts and the
run's verdict are testsuite properties."""
from __future__ import annotations

import socket
import xml.etree.ElementTree as ET


def _module(test: str) -> str:
    path = test.split("::")[0].removesuffix(".py").replace("/", ".")
    return "calico_conformance." + path.split("conformance.", 1)[-1] if "conformance" in path else path


def render(rec: dict) -> str:
    checks = rec.get("checks", [])
    counts = {k: sum(1 for c in checks if c["outcome"] == k) for k in ("failed", "skipped", "not run")}
    total_time = sum(float(c.get("duration_s") or 0) for c in checks)
    suites = ET.Element("testsuites", name="calico-conformance", tests=str(len(checks)),
                        failures=str(counts["failed"]), errors="0", time=f"{total_time:.3f}")
    suite = ET.SubElement(suites, "testsuite", name="calico-conformance", tests=str(len(checks)),
                          failures=str(counts["failed"]), errors="0",
                          skipped=str(counts["skipped"] + counts["not run"]), time=f"{total_time:.3f}",
                          timestamp=rec.get("started", ""), hostname=socket.gethostname())
    props = ET.SubElement(suite, "properties")
    facts = {"verdict": rec["verdict"], "verdict_why": rec.get("why", ""), "exit_code": str(rec.get("exit_code")),
             **{k: str(v) for k, v in rec.get("target", {}).items()}}
    if rec.get("notice"):
        facts["lab_notice"] = rec["notice"]
    for node in rec.get("nodes", []):
        facts[f"node.{node['name']}"] = ", ".join(f"{k} {v}" for k, v in node.items() if k != "name")
    for key, value in facts.items():
        ET.SubElement(props, "property", name=key, value=value)
    for c in checks:
        case = ET.SubElement(suite, "testcase", name=c["id"], classname=_module(c.get("test", "")),
                             time=f"{float(c.get('duration_s') or 0):.3f}")
        if c["outcome"] == "failed":
            fail = ET.SubElement(case, "failure", type="check failed", message=c.get("reason", ""))
            fail.text = (c.get("details") or c.get("reason", "")) + (
                f"\n\nWhat to do: {c['remediation']}" if c.get("remediation") else "")
        elif c["outcome"] in ("skipped", "not run"):
            ET.SubElement(case, "skipped", type=c["outcome"], message=c.get("reason", ""))
        out = [c.get("promise", c.get("title", ""))]
        out += [f"verifies: [{s['doc']}, Calico {s['versions']}] {s['statement']}" for s in c.get("statements", [])]
        out += [f"found: {line}" for line in c.get("found", [])]
        ET.SubElement(case, "system-out").text = "\n".join(out)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"
