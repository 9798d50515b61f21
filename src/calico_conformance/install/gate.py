"""Before the installer changes a cluster: is it one that the release being installed supports in
eBPF mode? The support matrix (the entries `preflight` reports) is evaluated on the live cluster
for the Calico version of the operator manifest; an unsupported finding stops the install, in one
line, before the first write. ``--ignore-preflight`` installs anyway, saying what it ignores."""
from __future__ import annotations

from calico_conformance.support import calico_version, matrix, versions
from calico_conformance.support.engine import Report, evaluate
from calico_conformance.support.inventory import Inventory
from calico_conformance.support.live import read_inventory
from calico_conformance.vocabulary.errors import UsageError

NO_NODES = "the installer reads the API only; `pytest --target ...` probes the nodes"

# Findings about what the install's own steps set right: the API address ConfigMap (created or
# patched with a stable address), the operator's AWS DNS, kube-proxy's IPVS mode and the AKS
# cleanup flag, Bottlerocket's flexVolumePath. They describe the cluster before, not a reason to stop.
RESOLVED_BY_INSTALL = frozenset({"SUP-API-ENDPOINT", "SUP-API-ENDPOINT-MISSING", "SUP-AWS-OPERATOR-DNS",
                                 "SUP-KUBE-PROXY-IPVS", "SUP-AKS-KUBE-PROXY", "SUP-EKS-BOTTLEROCKET-FLEXVOL"})


def release_version(operator_objs: list[dict] | None, table: matrix.Matrix) -> versions.VersionChoice:
    """The matrix row of the release in the operator manifest (its operator image's tag)."""
    inv = Inventory(origin="the operator manifest")
    for obj in operator_objs or []:
        if obj.get("kind") == "Deployment":
            inv.add(obj, "the operator manifest")
    choice = calico_version.choose(table, None, inv)
    if choice.source == "default":
        return versions.VersionChoice(table.default_version, "default",
                                      "the operator manifest names no tigera/operator image the project knows")
    return choice


def read(kube) -> Inventory:
    """The cluster as the support matrix reads it (read-only LISTs); the installer reads it once
    and also recognises the distribution and builds its view from it."""
    return read_inventory(kube, f"live: {kube.host}")


def assess(inv: Inventory, operator_objs: list[dict] | None) -> Report:
    table = matrix.load()
    return evaluate(table, inv, release_version(operator_objs, table), nodes=None, no_nodes=NO_NODES)


def _line(finding) -> str:
    return f"{finding.id} ({finding.evidence[0] if finding.evidence else finding.title})"


def enforce(report: Report, *, ignore: bool, dry_run: bool, warn) -> None:
    """Unsupported findings stop a real install unless ignored; everything else is said."""
    row = report.version.row
    relevant = [f for f in report.findings if f.id not in RESOLVED_BY_INSTALL]
    unsupported = [f for f in relevant if f.severity == "unsupported"]
    for finding in (f for f in relevant if f.severity == "warning"):
        warn(f"preflight warning for Calico {row}: {_line(finding)}")
    if not unsupported:
        return
    listed = "; ".join(map(_line, unsupported))
    if dry_run or ignore:
        warn(f"preflight: Calico {row} does not support this cluster in eBPF mode: {listed}"
             + (" (ignored: --ignore-preflight)" if ignore else " (a real install would stop here)"))
        return
    raise UsageError(f"not installing: Calico {row} does not support this cluster in eBPF mode: {listed}; "
                     f"`calico-conformance preflight --calico-version {row}` explains each, "
                     "--ignore-preflight installs anyway")
