"""Which row of the matrix a cluster is held to: the version the user gave, else the one the
cluster runs (calicoVersion fields, calico/node image tags, the operator's image tag), else the
newest the project knows. The full version the cluster runs is also the target facts' one."""
from __future__ import annotations

import re
from itertools import chain

from calico_conformance.support import versions
from calico_conformance.support.inventory import Inventory, Obj
from calico_conformance.support.matrix import Matrix
from calico_conformance.support.versions import VersionChoice

_NODE_IMAGE = re.compile(r"(?:^|/)(?:calico/node|calico/node-windows|calico-node):(v?\d+\.\d+[\w.\-+]*)")
_OPERATOR_IMAGE = re.compile(r"(?:^|/)tigera/operator:v?(\d+)\.(\d+)")


def _containers(obj: Obj) -> list[dict]:
    path = "spec.containers" if obj.kind == "Pod" else "spec.template.spec.containers"
    return [c for c in obj.list_at(path) + obj.list_at(path.replace("containers", "initContainers"))
            if isinstance(c, dict)]


def _images(inv: Inventory, *kinds: str):
    for obj in inv.of(*kinds):
        for c in _containers(obj):
            if isinstance(c.get("image"), str):
                yield obj, c["image"]


def _version_fields(inv: Inventory):
    """(version, where) from the calicoVersion fields. The operator writes the Installation's once
    every component is available (the last finished rollout); each calico-node rewrites
    ClusterInformation's as it starts, so mid-upgrade that one names whichever started last."""
    for kind, path in (("Installation", "status.calicoVersion"),
                       ("calico/ClusterInformation", "spec.calicoVersion")):
        for obj in inv.of(kind):
            value = obj.get(path)
            if versions.parse(value):
                yield value.strip(), f"{obj.ref()} {path}={value}"


def _node_image_tags(inv: Inventory):
    for obj, image in _images(inv, "DaemonSet", "Pod"):
        m = _NODE_IMAGE.search(image)
        if m and versions.parse(m.group(1)):
            yield m.group(1), f"{obj.ref()} image {image}"


def running_version(inv: Inventory) -> tuple[str, str] | None:
    """(the full version the cluster runs, like "v3.29.1"; where it was seen) or None. The operator's
    image is no help here: it tells only the minor version it installs."""
    found = next(chain(_version_fields(inv), _node_image_tags(inv)), None)
    if found is None:
        return None
    version, where = found
    return ("v" + version if version[0].isdigit() else version), where


def full_version(inv: Inventory) -> str | None:
    """The full version the cluster runs, for the target's facts."""
    found = running_version(inv)
    return found[0] if found else None


def _from_operator_image(inv: Inventory, matrix: Matrix) -> tuple[tuple[int, int], str] | None:
    for obj, image in _images(inv, "Deployment", "Pod"):
        m = _OPERATOR_IMAGE.search(image)
        if m:
            calico = matrix.operator_versions.get(f"v{m.group(1)}.{m.group(2)}")
            if calico and versions.parse(calico):
                return versions.parse(calico), f"{obj.ref()} image {image} (tigera/operator v{m.group(1)}.{m.group(2)} installs Calico {calico})"
    return None


def detect(inv: Inventory, matrix: Matrix) -> tuple[tuple[int, int], str] | None:
    """(version, where it was seen) or None."""
    found = running_version(inv)
    if found:
        return versions.parse(found[0]), found[1]
    return _from_operator_image(inv, matrix)


def choose(matrix: Matrix, given: str | None, inv: Inventory | None = None,
           fact: str | None = None) -> VersionChoice:
    """A given version must be known (else UsageError); a detected one is held to the nearest row."""
    if given:
        return VersionChoice(versions.resolve(given, matrix.versions), "given", f"--calico-version {given}")
    found = detect(inv, matrix) if inv is not None else None
    if found is None and versions.parse(fact):
        found = versions.parse(fact), f"the target reports Calico {fact}"
    if found:
        parsed, where = found
        row, note = versions.nearest_known(parsed, matrix.versions)
        return VersionChoice(row, "detected", where + (f"; {note}" if note else ""))
    return VersionChoice(matrix.default_version, "default",
                         "no Calico version found in the cluster; the newest the project knows")
