"""The support matrix: its data against the source documents, version parsing, kernel and
distribution recognition, every entry in both directions and at its version boundaries, and the
node probes against real network namespaces."""
from __future__ import annotations

import copy
import gzip
import os
import re
import subprocess
from pathlib import Path

import pytest

from calico_conformance.vocabulary.errors import UsageError
from calico_conformance.executor import NetnsExecutor
from calico_conformance.support import calico_version, distro, kernel, matrix, probes, versions
from calico_conformance.support.engine import evaluate
from calico_conformance.support.inventory import Inventory
from calico_conformance.support.matrix import MatrixError, parse_matrix
from calico_conformance.support.snapshot import load_snapshot
from calico_conformance.support.versions import VersionChoice
from calico_conformance.targets.base import Node

DATA = Path(__file__).resolve().parent / "data"
SNAPS = DATA / "snapshots"
SEEDS = Path(__file__).resolve().parents[2] / "shared" / "seeds"
MATRIX = matrix.load()


def snap(*names: str) -> Inventory:
    """Several sample files read as one cluster."""
    inv = Inventory(origin="test")
    for name in names:
        part = load_snapshot(SNAPS / name)
        inv.objects += part.objects
        inv.listed |= part.listed
        inv.warnings += part.warnings
    return inv


def run(inv: Inventory, version: str = "v3.31", nodes=None):
    return evaluate(MATRIX, inv, VersionChoice(version, "given", "test"), nodes=nodes,
                    no_nodes="test: no node access")


# ---- the matrix as data --------------------------------------------------------------------

def _normalise(text: str) -> str:
    """Compare document text the way a reader does: no markup, one space, no space before punctuation."""
    text = re.sub(r"\{\{\s*site\.prodname\s*\}\}", "Calico", text)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.replace("**", "").replace("`", "")
    text = re.sub(r"\s+", " ", text)
    return re.sub(r"\s+(?=[,.;:)]|'s\b)", "", text).strip()


def test_every_rule_quotes_its_document_word_for_word():
    if not SEEDS.is_dir():
        pytest.skip(f"skipped: the source documents are not at {SEEDS}")
    docs = {name: _normalise((SEEDS / d["file"]).read_text(encoding="utf-8", errors="replace"))
            for name, d in MATRIX.documents.items()}
    missing = [f"{e.id} [{c.doc}] {c.quote!r}" for e in MATRIX.entries for r in e.rules for c in r.cite
               if _normalise(c.quote) not in docs[c.doc]]
    assert not missing, "quotes not found in their documents:\n" + "\n".join(missing)


def test_every_version_has_exactly_one_rule_and_every_detector_exists():
    from calico_conformance.support.detectors import DETECTORS
    for e in MATRIX.entries:
        assert e.detector in DETECTORS, e.id
        for v in MATRIX.versions:
            assert e.rule_for(v).severity in matrix.SEVERITIES
    assert MATRIX.default_version == MATRIX.versions[-1] == "v3.31"


def test_the_facts_from_the_brief_are_encoded():
    sev = lambda eid, v: MATRIX.entry(eid).rule_for(v).severity  # noqa: E731
    assert [sev("SUP-ARCH-ARM64", v) for v in ("v3.23", "v3.24", "v3.26", "v3.27")] == \
        ["unsupported", "warning", "warning", "info"]
    assert [sev("SUP-IPV6", v) for v in ("v3.26", "v3.27", "v3.28")] == ["unsupported", "warning", "info"]
    assert all(sev("SUP-IPV6-IPIP", v) == "unsupported" for v in MATRIX.versions)
    assert [sev("SUP-DATASTORE-ETCD", v) for v in ("v3.25", "v3.26")] == ["warning", "unsupported"]
    assert [sev("SUP-DISTRO-MKE", v) for v in ("v3.27", "v3.28")] == ["unsupported", "info"]
    assert [sev("SUP-DONOTTRACK", v) for v in ("v3.20", "v3.21")] == ["unsupported", "info"]
    assert [sev("SUP-LOG-ACTION", v) for v in ("v3.28", "v3.29")] == ["unsupported", "info"]
    kernel_params = [dict(MATRIX.entry("SUP-KERNEL").rule_for(v).params) for v in ("v3.30", "v3.31")]
    assert kernel_params == [{"min_kernel": "5.3", "min_rhel_kernel": "4.18.0-193"},
                             {"min_kernel": "5.10", "min_rhel_kernel": "4.18.0-305"}]
    assert MATRIX.entry("SUP-DATASTORE-ETCD").rule_for("v3.25").note, "say what the older docs said"


@pytest.mark.parametrize("breakage, message", [
    (lambda d: d["entries"][1]["rules"].append(copy.deepcopy(d["entries"][1]["rules"][0])), "rules cover"),
    (lambda d: d["entries"][0]["rules"][0].update(severity="fatal"), "severity"),
    (lambda d: d["entries"][0]["rules"][0].update(cite=[]), "must cite"),
    (lambda d: d["entries"][0]["rules"][0]["cite"][0].update(doc="blog"), "unknown document"),
    (lambda d: d["entries"].append(copy.deepcopy(d["entries"][0])), "duplicate"),
])
def test_a_malformed_matrix_is_refused(breakage, message):
    import yaml
    data = yaml.safe_load(matrix.MATRIX_PATH.read_text())
    breakage(data)
    with pytest.raises(MatrixError, match=message):
        parse_matrix(data)


def test_docs_support_matrix_md_is_up_to_date():
    from calico_conformance.support.render_docs import DOC_PATH, render
    assert DOC_PATH.read_text() == render(MATRIX), "run: python -m calico_conformance.support.render_docs"


# ---- versions ------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["v3.29", "3.29", "v3.29.1", " V3.29 ", "v3.29.0-0.dev-123-gabc", "3.29.4+build"])
def test_version_spellings_select_the_same_row(text):
    assert versions.resolve(text, MATRIX.versions) == "v3.29"


@pytest.mark.parametrize("text", ["v3.99", "3", "latest", "v3.19", "", "v4.0", "3.29.x"])
def test_an_unknown_version_is_a_one_line_usage_error_listing_the_known_ones(text):
    with pytest.raises(UsageError) as exc:
        versions.resolve(text, MATRIX.versions)
    msg = str(exc.value)
    assert "\n" not in msg and "v3.20" in msg and "v3.31" in msg and repr(text) in msg


def test_a_detected_version_outside_the_known_rows_is_held_to_the_nearest():
    assert versions.nearest_known((3, 32), MATRIX.versions)[0] == "v3.31"
    assert versions.nearest_known((3, 18), MATRIX.versions)[0] == "v3.20"
    assert versions.nearest_known((3, 29), MATRIX.versions) == ("v3.29", "")


def test_the_calico_version_is_given_detected_or_defaulted():
    baseline = snap("kind.json", "features/operator-bpf-baseline.yaml")
    assert calico_version.choose(MATRIX, "3.27.2", baseline).row == "v3.27"
    found = calico_version.choose(MATRIX, None, baseline)
    assert (found.row, found.source) == ("v3.29", "detected") and "Installation default" in found.detail
    dump = calico_version.choose(MATRIX, None, snap("cluster-info-dump"))
    assert dump.row == "v3.26" and "calico/node:v3.26.4" in dump.detail
    etcd = calico_version.choose(MATRIX, None, snap("features/etcd-manifest.yaml"))
    assert etcd.row == "v3.25"
    operator_only = calico_version.choose(MATRIX, None, snap("features/operator-aws-dns.yaml"))
    assert operator_only.row == "v3.29" and "tigera/operator v1.36" in operator_only.detail
    assert calico_version.choose(MATRIX, None, snap("kind.json"), fact="v3.28.2").row == "v3.28"
    default = calico_version.choose(MATRIX, None, snap("kind.json"))
    assert (default.row, default.source) == ("v3.31", "default")


# ---- kernels and distributions --------------------------------------------------------------

@pytest.mark.parametrize("release, os_image, v53, v510", [
    ("5.15.0-1051-azure", "Ubuntu 22.04.3 LTS", True, True),
    ("4.18.0-305.el8.x86_64", "Red Hat Enterprise Linux 8.4 (Ootpa)", True, True),
    ("4.18.0-240.22.1.el8_3.x86_64", "Red Hat Enterprise Linux CoreOS 47.83 (Ootpa)", True, False),
    ("4.18.0-147.el8.x86_64", "CentOS Linux 8", False, False),
    ("4.18.0-348.el8.x86_64", "Rocky Linux 8.5 (Green Obsidian)", True, True),
    ("3.10.0-1160.el7.x86_64", "CentOS Linux 7 (Core)", False, False),
    ("5.14.0-284.41.1.el9_2.x86_64", "Red Hat Enterprise Linux CoreOS 414.92 (Plow)", True, True),
    ("6.1.55-75.123.amzn2023.x86_64", "Amazon Linux 2023", True, True),
    ("5.10.0-26-cloud-amd64", "Debian GNU/Linux 11 (bullseye)", True, True),
    ("5.4.0-169-generic", "Ubuntu 20.04.6 LTS", True, False),
    ("4.15.0-213-generic", "Ubuntu 18.04.6 LTS", False, False),
    ("4.18.0-25-generic", "Ubuntu 18.04.2 LTS", False, False),   # mainline 4.18: no Red Hat backports
    ("5.15.133+", "Container-Optimized OS from Google", True, True),
    ("6.1.90", "Bottlerocket OS 1.19.2 (aws-k8s-1.29)", True, True),
])
def test_kernel_minimums(release, os_image, v53, v510):
    assert kernel.meets(release, os_image, "5.3", "4.18.0-193") is v53
    assert kernel.meets(release, os_image, "5.10", "4.18.0-305") is v510


def test_an_unreadable_kernel_release_is_neither_old_nor_new():
    assert kernel.meets("REDACTED", "", "5.3", "4.18.0-193") is None
    assert kernel.parse(None) is None


@pytest.mark.parametrize("name, expected", [
    ("eks-al2023-karpenter", {"ip-192-168-12-34.us-west-2.compute.internal": "eks",
                              "ip-192-168-77-201.us-west-2.compute.internal": "eks"}),
    ("eks-bottlerocket.yaml", "eks"), ("aks-ubuntu2204.json", "aks"), ("gke-cos.json", "gke"),
    ("openshift-4.10-el8.json", "openshift"), ("openshift-4.14-el9.json", "openshift"),
    ("rke2.json", "rke2"), ("rke.json", "rke"), ("kind.json", "kind"), ("k3s.json", "k3s"),
    ("kops.json", "kops"), ("mke.json", "mke"), ("kubeadm-ubuntu2004.json", "kubeadm"),
    ("cluster-info-dump", "kubeadm"),
])
def test_distributions_are_recognised_from_node_objects(name, expected):
    dist = distro.recognise(snap(name))
    if isinstance(expected, dict):
        assert {n: d for n, (d, _) in dist.nodes.items()} == expected
    else:
        assert dist.name == expected, dist.nodes


def test_a_karpenter_node_is_eks_by_its_karpenter_labels():
    dist = distro.recognise(snap("eks-al2023-karpenter"))
    assert "karpenter" in dist.nodes["ip-192-168-77-201.us-west-2.compute.internal"][1]


# ---- every entry, both directions, version boundaries ----------------------------------------

BASE = "features/operator-bpf-baseline.yaml"
F = "features/"
CASES = [
    # (entry, version, sample files, expected severity)
    ("SUP-ARCH", "v3.31", ["kind.json"], "ok"),
    ("SUP-ARCH", "v3.31", ["rhel-s390x.json"], "unsupported"),
    ("SUP-ARCH-ARM64", "v3.31", ["kind.json"], "ok"),
    ("SUP-ARCH-ARM64", "v3.23", ["kubeadm-arm64.json"], "unsupported"),
    ("SUP-ARCH-ARM64", "v3.24", ["kubeadm-arm64.json"], "warning"),
    ("SUP-ARCH-ARM64", "v3.26", ["kubeadm-arm64.json"], "warning"),
    ("SUP-ARCH-ARM64", "v3.27", ["kubeadm-arm64.json"], "info"),
    ("SUP-KERNEL", "v3.30", ["kubeadm-ubuntu2004.json"], "ok"),
    ("SUP-KERNEL", "v3.31", ["kubeadm-ubuntu2004.json"], "unsupported"),
    ("SUP-KERNEL", "v3.20", ["kubeadm-ubuntu1804.json"], "unsupported"),
    ("SUP-KERNEL", "v3.30", ["openshift-4.7-el8.json"], "ok"),
    ("SUP-KERNEL", "v3.31", ["openshift-4.7-el8.json"], "unsupported"),
    ("SUP-KERNEL", "v3.31", ["openshift-4.10-el8.json"], "ok"),
    ("SUP-KERNEL", "v3.31", ["openshift-4.14-el9.json"], "ok"),
    ("SUP-KERNEL", "v3.31", ["eks-al2023-karpenter"], "ok"),
    ("SUP-KERNEL", "v3.31", ["eks-bottlerocket.yaml"], "ok"),
    ("SUP-KERNEL", "v3.31", ["aks-ubuntu2204.json"], "ok"),
    ("SUP-KERNEL", "v3.31", ["gke-cos.json"], "ok"),
    ("SUP-WINDOWS-NODES", "v3.31", ["aks-ubuntu2204.json"], "ok"),
    ("SUP-WINDOWS-NODES", "v3.31", ["aks-windows-mixed.json"], "unsupported"),
    ("SUP-DISTRO-GKE", "v3.31", ["eks-al2023-karpenter"], "ok"),
    ("SUP-DISTRO-GKE", "v3.20", ["gke-cos.json"], "unsupported"),
    ("SUP-DISTRO-GKE", "v3.31", ["gke-cos.json"], "unsupported"),
    ("SUP-DISTRO-RKE", "v3.31", ["rke2.json"], "ok"),
    ("SUP-DISTRO-RKE", "v3.31", ["rke.json"], "warning"),
    ("SUP-DISTRO-MKE", "v3.31", ["kind.json"], "ok"),
    ("SUP-DISTRO-MKE", "v3.27", ["mke.json"], "unsupported"),
    ("SUP-DISTRO-MKE", "v3.28", ["mke.json"], "info"),
    ("SUP-DISTRO-LISTED", "v3.31", ["rke2.json"], "ok"),
    ("SUP-DISTRO-LISTED", "v3.31", ["kops.json"], "info"),
    ("SUP-DISTRO-LISTED", "v3.31", ["openshift-4.14-el9.json"], "info"),
    ("SUP-DISTRO-OTHER", "v3.31", ["kind.json"], "ok"),
    ("SUP-DISTRO-OTHER", "v3.31", ["k3s.json"], "info"),
    ("SUP-DISTRO-OTHER", "v3.31", ["rke2.json"], "info"),
    ("SUP-AKS-KUBE-PROXY", "v3.31", ["aks-ubuntu2204.json", F + "aks-cleanup-disabled.yaml"], "ok"),
    ("SUP-AKS-KUBE-PROXY", "v3.31", ["aks-ubuntu2204.json", BASE], "warning"),
    ("SUP-AKS-KUBE-PROXY", "v3.31", ["aks-ubuntu2204.json"], "warning"),
    ("SUP-AWS-OPERATOR-DNS", "v3.31", ["eks-al2023-karpenter", F + "operator-aws-dns.yaml"], "ok"),
    ("SUP-AWS-OPERATOR-DNS", "v3.29", ["eks-al2023-karpenter", BASE], "warning"),
    ("SUP-AWS-OPERATOR-DNS", "v3.28", ["eks-al2023-karpenter", BASE], "info"),
    ("SUP-AWS-OPERATOR-DNS", "v3.31", ["kops.json", BASE], "warning"),
    ("SUP-EKS-BOTTLEROCKET-FLEXVOL", "v3.31", ["eks-bottlerocket.yaml", F + "bottlerocket-flexvol.yaml"], "ok"),
    ("SUP-EKS-BOTTLEROCKET-FLEXVOL", "v3.31", ["eks-bottlerocket.yaml", BASE], "warning"),
    ("SUP-DATASTORE-ETCD", "v3.31", ["kind.json", BASE], "ok"),
    ("SUP-DATASTORE-ETCD", "v3.31", ["cluster-info-dump"], "ok"),
    ("SUP-DATASTORE-ETCD", "v3.25", [F + "etcd-manifest.yaml"], "warning"),
    ("SUP-DATASTORE-ETCD", "v3.26", [F + "etcd-manifest.yaml"], "unsupported"),
    ("SUP-MIXED-NODES", "v3.31", ["kind.json", BASE], "ok"),
    ("SUP-MIXED-NODES", "v3.31", [F + "mixed-node-override.yaml"], "unsupported"),
    ("SUP-MIXED-NODES", "v3.31", [F + "mixed-installation.yaml"], "unsupported"),
    ("SUP-IPV6", "v3.31", ["kind.json", BASE], "ok"),
    ("SUP-IPV6", "v3.26", [F + "ipv6-dual-stack.yaml"], "unsupported"),
    ("SUP-IPV6", "v3.27", [F + "ipv6-dual-stack.yaml"], "warning"),
    ("SUP-IPV6", "v3.28", [F + "ipv6-dual-stack.yaml"], "info"),
    ("SUP-IPV6-IPIP", "v3.31", [F + "ipv6-dual-stack.yaml"], "ok"),
    ("SUP-IPV6-IPIP", "v3.26", [F + "ipv6-ipip.yaml"], "unsupported"),
    ("SUP-IPV6-IPIP", "v3.29", [F + "ipv6-ipip.yaml"], "unsupported"),
    ("SUP-ENCAP-IPIP", "v3.31", [BASE], "ok"),
    ("SUP-ENCAP-IPIP", "v3.31", [F + "ipv4-ipip.yaml"], "info"),
    ("SUP-ENCAP-IPIP", "v3.31", ["cluster-info-dump"], "info"),
    ("SUP-FLOATING-IPS", "v3.31", [BASE], "ok"),
    ("SUP-FLOATING-IPS", "v3.31", [F + "floating-ips.yaml"], "unsupported"),
    ("SUP-TAGGED-VLAN", "v3.31", [BASE], "unknown"),     # the API cannot prove absence
    ("SUP-TAGGED-VLAN", "v3.31", [F + "vlan-autodetect.yaml"], "unsupported"),
    ("SUP-SCTP", "v3.31", [BASE], "ok"),
    ("SUP-SCTP", "v3.31", [F + "sctp-service.yaml"], "unsupported"),
    ("SUP-SCTP", "v3.20", [F + "sctp-policy.yaml"], "unsupported"),
    ("SUP-DONOTTRACK", "v3.20", [BASE], "ok"),
    ("SUP-DONOTTRACK", "v3.20", [F + "donottrack.yaml"], "unsupported"),
    ("SUP-DONOTTRACK", "v3.21", [F + "donottrack.yaml"], "info"),
    ("SUP-LOG-ACTION", "v3.28", [BASE], "ok"),
    ("SUP-LOG-ACTION", "v3.28", [F + "log-action.yaml"], "unsupported"),
    ("SUP-LOG-ACTION", "v3.29", [F + "log-action.yaml"], "info"),
    ("SUP-NFTABLES-KUBE-PROXY", "v3.29", [BASE], "ok"),
    ("SUP-NFTABLES-KUBE-PROXY", "v3.29", [F + "nftables-mode.yaml"], "warning"),
    ("SUP-NFTABLES-KUBE-PROXY", "v3.30", [F + "nftables-mode.yaml"], "warning"),
    ("SUP-NFTABLES-KUBE-PROXY", "v3.31", [F + "nftables-mode.yaml"], "info"),
    ("SUP-KUBE-PROXY-IPVS", "v3.31", [BASE], "ok"),
    ("SUP-KUBE-PROXY-IPVS", "v3.31", ["messy/everything.json"], "ok"),
    ("SUP-KUBE-PROXY-IPVS", "v3.31", [F + "kube-proxy-ipvs.yaml"], "warning"),
    ("SUP-KUBE-PROXY-IPVS", "v3.24", [F + "kube-proxy-ipvs-flag.yaml"], "warning"),
    ("SUP-API-ENDPOINT", "v3.31", [BASE], "ok"),
    ("SUP-API-ENDPOINT", "v3.31", ["kubeadm-ubuntu2004.json", F + "api-endpoint-node-ip.yaml"], "ok"),
    ("SUP-API-ENDPOINT", "v3.31", [F + "api-endpoint-clusterip.yaml"], "unsupported"),
    ("SUP-API-ENDPOINT", "v3.31", [F + "api-endpoint-podip.yaml"], "unsupported"),
    ("SUP-API-ENDPOINT", "v3.31", [F + "api-endpoint-service-dns.yaml"], "unsupported"),
    ("SUP-API-ENDPOINT-MISSING", "v3.31", [BASE], "ok"),
    ("SUP-API-ENDPOINT-MISSING", "v3.31", [F + "no-endpoint-configmap.yaml"], "warning"),
    ("SUP-API-ENDPOINT-MISSING", "v3.31", [F + "no-endpoint-configmap.yaml", F + "operator-bpf-bootstrap.yaml"],
     "ok"),
]
# The probe entries are proven against network namespaces below.
PROBE_CASES = {
    "SUP-KERNEL-CONFIG": {"ok", "unsupported", "unknown"},
    "SUP-SCTP-NODES": {"ok", "unsupported", "unknown"},
    "SUP-IPV6-NODES": {"ok", "warning", "unknown"},
}


@pytest.mark.parametrize("entry_id, version, files, expected", CASES,
                         ids=[f"{c[0]}-{c[1]}-{'+'.join(Path(f).stem for f in c[2])}" for c in CASES])
def test_entry(entry_id, version, files, expected):
    finding = run(snap(*files), version).finding(entry_id)
    assert finding.severity == expected, finding
    assert finding.evidence, "every finding says what it looked at"
    if expected in ("unsupported", "warning", "info"):
        rule = MATRIX.entry(entry_id).rule_for(version)
        assert finding.statement == rule.statement and finding.doc == rule.docs and finding.remediation
        assert finding.versions == rule.range_text(MATRIX.versions)


def test_every_entry_is_covered_in_both_directions():
    seen: dict[str, set] = {}
    for entry_id, _, _, expected in CASES:
        seen.setdefault(entry_id, set()).add(expected)
    for entry_id, outcomes in PROBE_CASES.items():
        seen.setdefault(entry_id, set()).update(outcomes)
    for e in MATRIX.entries:
        outcomes = seen.get(e.id, set())
        passing = {"ok"} if e.id != "SUP-TAGGED-VLAN" else {"unknown"}
        assert outcomes & passing, f"{e.id}: no supported example"
        assert outcomes & {"unsupported", "warning", "info"}, f"{e.id}: no example where it is present"


def test_evidence_names_the_object_and_file():
    f = run(snap("kubeadm-ubuntu1804.json"), "v3.29").finding("SUP-KERNEL")
    assert f.evidence == ("Node legacy-cp (kubeadm-ubuntu1804.json): kernel 4.15.0-213-generic "
                          "(Ubuntu 18.04.6 LTS) is older than 5.3",)
    rhel = run(snap("openshift-4.7-el8.json"), "v3.31").finding("SUP-KERNEL")
    assert "older than 4.18.0-305 (Red Hat family)" in rhel.evidence[0]
    endpoint = run(snap(F + "api-endpoint-clusterip.yaml")).finding("SUP-API-ENDPOINT")
    assert "ClusterIP of Service default/kubernetes" in endpoint.evidence[0]
    pod = run(snap(F + "api-endpoint-podip.yaml")).finding("SUP-API-ENDPOINT")
    assert "pod address, inside 10.244.0.0/16" in pod.evidence[0]
    node_ip = run(snap("kubeadm-ubuntu2004.json", F + "api-endpoint-node-ip.yaml")).finding("SUP-API-ENDPOINT")
    assert "InternalIP of node cp-1" in node_ip.evidence[0]


@pytest.mark.parametrize("files, version, verdict, because", [
    (["kind.json", BASE], "v3.29", "supported", None),
    (["eks-al2023-karpenter", F + "operator-aws-dns.yaml"], "v3.31", "supported", None),
    (["aks-ubuntu2204.json", F + "aks-cleanup-disabled.yaml"], "v3.31", "supported", None),
    (["openshift-4.14-el9.json"], "v3.31", "supported", None),
    (["kops.json"], "v3.31", "supported", None),
    (["rke.json"], "v3.30", "supported", None),                 # warning only: post-install step
    (["rke.json"], "v3.31", "unsupported", "SUP-KERNEL"),       # its Ubuntu 20.04 5.4 kernel
    (["rke2.json"], "v3.31", "supported", None),
    (["k3s.json"], "v3.31", "supported", None),
    (["gke-cos.json"], "v3.31", "unsupported", "SUP-DISTRO-GKE"),
    (["mke.json"], "v3.27", "unsupported", "SUP-DISTRO-MKE"),
    (["mke.json"], "v3.30", "supported", None),
    (["kubeadm-ubuntu2004.json"], "v3.30", "supported", None),
    (["kubeadm-ubuntu2004.json"], "v3.31", "unsupported", "SUP-KERNEL"),
    (["kubeadm-ubuntu1804.json"], "v3.20", "unsupported", "SUP-KERNEL"),
    (["kubeadm-arm64.json"], "v3.23", "unsupported", "SUP-ARCH-ARM64"),
    (["aks-windows-mixed.json"], "v3.31", "unsupported", "SUP-WINDOWS-NODES"),
    (["messy"], "v3.31", "unknown", None),
    ([BASE], "v3.31", "unknown", None),                          # no nodes at all
])
def test_cluster_verdicts(files, version, verdict, because):
    report = run(snap(*files), version)
    assert report.verdict == verdict, [(f.id, f.severity) for f in report.findings if f.severity != "ok"]
    if because:
        assert report.finding(because).severity == "unsupported"


def test_messy_data_never_raises_and_says_what_it_could_not_read():
    report = run(snap("messy"))
    assert report.finding("SUP-KERNEL").severity == "unknown"
    assert any("node-b" in w and "kernelVersion" in w for w in report.warnings)


# ---- node probes against real network namespaces ---------------------------------------------

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@pytest.fixture(scope="module")
def netns():
    """Three lab nodes: IPv6 with a global address, IPv6 disabled, IPv6 without a global address."""
    names = {k: f"cctest-{os.getpid()}-{k}" for k in ("v6", "off", "bare")}
    made = []
    try:
        for name in names.values():
            _ip("netns", "add", name)
            made.append(name)
            _ip("-n", name, "link", "set", "lo", "up")
        v6 = names["v6"]
        _ip("-n", v6, "link", "add", "eth0", "type", "veth", "peer", "name", "eth1")
        _ip("-n", v6, "link", "set", "eth0", "up")
        _ip("-n", v6, "link", "set", "eth1", "up")
        _ip("-n", v6, "-6", "addr", "add", "fd00:10:244::11/64", "dev", "eth0", "nodad")
        subprocess.run(["ip", "netns", "exec", names["off"], "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"],
                       check=True, capture_output=True, timeout=10)
        yield {k: Node(name=k, address="", executor=NetnsExecutor(n, name=k), uplink="eth0")
               for k, n in names.items()}
    finally:
        for name in reversed(made):
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=10)


class ReplayedFiles:
    """A lab node whose listed files are replaced by recordings: this kernel has no SCTP, so an
    SCTP node's /proc/net/sctp is replayed. The commands still run, in the node's namespace."""

    def __init__(self, inner, files: dict[str, Path]):
        self.inner, self.files, self.name = inner, files, inner.name

    def run(self, argv, *, timeout=30.0, input=None):
        return self.inner.run([str(self.files.get(a, a)) for a in argv], timeout=timeout, input=input)


def _probe(entry_id: str, nodes, inv=None):
    return run(inv or snap("kind.json", BASE), nodes=nodes).finding(entry_id)


@needs_root
def test_kernel_config_probe_reads_the_real_kernel_config(netns):
    f = _probe("SUP-KERNEL-CONFIG", [netns["v6"], netns["off"]])
    assert f.severity == "ok", f
    assert "CONFIG_BPF_SYSCALL" in f.evidence[0] and f.evidence[0].startswith("node v6: /proc/config.gz")


@needs_root
def test_kernel_config_probe_fails_a_kernel_without_cls_bpf(netns, tmp_path):
    recorded = tmp_path / "config.gz"
    recorded.write_bytes(gzip.compress((DATA / "proc" / "config-no-cls-bpf").read_bytes()))
    node = Node("old", "", ReplayedFiles(netns["v6"].executor, {"/proc/config.gz": recorded}), "eth0")
    f = _probe("SUP-KERNEL-CONFIG", [node])
    assert f.severity == "unsupported"
    assert "required but not set: CONFIG_NET_CLS_BPF" in f.evidence[0]
    assert "recommended but not set: CONFIG_DEBUG_INFO_BTF" in f.evidence[0]


@needs_root
def test_kernel_config_probe_without_a_readable_config_is_skipped_not_passed(netns, tmp_path):
    missing = {"/proc/config.gz": tmp_path / "absent.gz"}
    node = Node("closed", "", ReplayedFiles(netns["v6"].executor, missing), "eth0")
    result = probes.kernel_config("closed", node.executor, ["CONFIG_BPF"],
                                  sources=("/proc/config.gz", str(tmp_path / "boot-config-{release}")))
    assert result.state == probes.SKIPPED and "no readable kernel config" in result.detail
    f = _probe("SUP-KERNEL-CONFIG", [Node("gone", "", NetnsExecutor("cctest-no-such-ns"), "eth0")])
    assert f.severity == "unknown" and f.evidence[0].startswith("skipped: node gone: no readable kernel config")


@needs_root
def test_sctp_probe_skips_on_a_kernel_without_sctp(netns):
    f = _probe("SUP-SCTP-NODES", [netns["v6"]])
    assert f.severity == "unknown"
    assert f.evidence[0] == "skipped: node v6: kernel lacks SCTP (CONFIG_IP_SCTP is not set)"


@needs_root
def test_sctp_probe_finds_sctp_endpoints_and_passes_a_node_without_them(netns):
    busy = ReplayedFiles(netns["v6"].executor, {"/proc/net/sctp/eps": DATA / "proc" / "sctp-eps-diameter.txt",
                                                "/proc/net/sctp/assocs": DATA / "proc" / "sctp-assocs-one.txt"})
    quiet = ReplayedFiles(netns["off"].executor, {"/proc/net/sctp/eps": DATA / "proc" / "sctp-eps-empty.txt",
                                                  "/proc/net/sctp/assocs": DATA / "proc" / "sctp-assocs-empty.txt"})
    f = _probe("SUP-SCTP-NODES", [Node("busy", "", busy, "eth0"), Node("quiet", "", quiet, "eth0")])
    assert f.severity == "unsupported"
    assert f.evidence == ("node busy: 2 SCTP endpoint(s) (local ports 36412, 3868), 1 association(s)",)
    ok = _probe("SUP-SCTP-NODES", [Node("quiet", "", quiet, "eth0")])
    assert ok.severity == "ok" and "no SCTP endpoints" in ok.evidence[0]


@needs_root
def test_ipv6_probe_runs_only_for_ipv6_clusters_and_checks_each_node(netns):
    v4 = _probe("SUP-IPV6-NODES", [netns["v6"]])
    assert v4.severity == "unknown" and v4.evidence[0].startswith("skipped: the cluster has no IPv6")
    dual = snap("kind.json", F + "ipv6-dual-stack.yaml")
    ok = _probe("SUP-IPV6-NODES", [netns["v6"]], dual)
    assert ok.severity == "ok" and "fd00:10:244::11/64 on eth0" in ok.evidence[0]
    bad = _probe("SUP-IPV6-NODES", [netns["v6"], netns["off"], netns["bare"]], dual)
    assert bad.severity == "warning"
    assert bad.evidence == ("node off: IPv6 is disabled (net.ipv6.conf.all.disable_ipv6=1)",
                            "node bare: no global IPv6 address")


def test_probes_without_node_access_are_skipped_with_the_reason():
    f = run(snap("kind.json", BASE)).finding("SUP-KERNEL-CONFIG")
    assert f.severity == "unknown" and f.evidence == ("skipped: test: no node access",)


def _paths(obj, prefix=()):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))
    elif isinstance(obj, list):
        for i, value in enumerate(obj[:1]):
            yield prefix + (i,)
            yield from _paths(value, prefix + (i,))


def test_redacted_or_mangled_fields_never_break_a_detector():
    """Every field of one object per kind, replaced by a string or a number in turn."""
    objs, seen = [], set()
    for name in ("kind.json", BASE, F + "etcd-manifest.yaml", F + "kube-proxy-ipvs.yaml", F + "sctp-policy.yaml",
                 F + "floating-ips.yaml", F + "api-endpoint-node-ip.yaml", F + "mixed-node-override.yaml"):
        for o in load_snapshot(SNAPS / name).objects:
            if (o.kind, o.name) not in seen:
                seen.add((o.kind, o.name))
                objs.append(o.raw)
    broken = []
    for i, obj in enumerate(objs):
        for path in _paths(obj):
            if path[0] in ("apiVersion", "kind"):
                continue
            for junk in ("REDACTED", 7):
                mangled = copy.deepcopy(objs)
                parent = mangled[i]
                for key in path[:-1]:
                    parent = parent[key]
                parent[path[-1]] = junk
                report = run(Inventory.from_objects(mangled, "fuzz"), "v3.29")
                broken += [f"{'.'.join(map(str, path))}={junk!r}: {w}" for w in report.warnings
                           if "could not read the data" in w]
    assert not broken, "\n".join(broken[:10])
