"""``distros.yaml`` loaded: distributions, their strategies, and the document statements."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import yaml

from calico_conformance.vocabulary.errors import UsageError

DATA = Path(__file__).with_name("distros.yaml")


@dataclass(frozen=True)
class Statement:
    id: str
    doc: str          # "v3.29" (the newer page) or "older"
    text: str

    def cite(self) -> str:
        return f'doc: {self.doc} "{self.text}"'


@dataclass(frozen=True)
class Distro:
    name: str
    title: str
    api_address: dict
    kube_proxy: dict
    aws_dns_patch: bool = False
    bottlerocket_flexvolume: bool = False
    default_service_cidr: str = ""


@functools.lru_cache(maxsize=1)
def raw() -> dict:
    with open(DATA) as f:
        return yaml.safe_load(f)


# The IP pool encapsulations the installer sets in the Installation (spec.calicoNetwork.ipPools),
# every one the operator's Installation CRD accepts: eBPF mode forwards NodePort traffic in its own
# VXLAN whatever the pool uses (docs/upstream-truths.md, nodeport-any-pool); the document only
# recommends VXLAN over IPIP for an overlay (SUP-ENCAP-IPIP says so).
ENCAPSULATIONS = ("VXLAN", "VXLANCrossSubnet", "IPIP", "IPIPCrossSubnet", "None")


def defaults() -> dict:
    return raw()["defaults"]


def statement(sid: str) -> Statement:
    entry = raw()["statements"][sid]
    return Statement(sid, entry["doc"], entry["text"])


def names() -> list[str]:
    """Valid --distro values, aliases included."""
    out = []
    for name, entry in raw()["distributions"].items():
        out += [name, *entry.get("aliases", [])]
    return out


def distro(name: str) -> Distro:
    for key, entry in raw()["distributions"].items():
        if name == key or name in entry.get("aliases", []):
            return Distro(key, entry["title"], entry["api_address"], entry["kube_proxy"],
                          entry.get("aws_dns_patch", False), entry.get("bottlerocket_flexvolume", False),
                          entry.get("default_service_cidr", ""))
    reason = refusal(name)
    if reason:
        raise UsageError(f"{name}: the installer will not enable eBPF mode here: {reason.cite()}")
    raise UsageError(f"unknown distribution {name!r}; choose one of: {', '.join(names())}")


def refusal(name: str) -> Statement | None:
    """The document's reason the installer will not enable eBPF mode on this distribution, if any."""
    sid = raw()["refused"].get(name)
    return statement(sid) if sid else None


def known_distributions() -> set[str]:
    """Every distribution the installer has a decision for: its own (aliases left out) and the
    ones it refuses."""
    return set(raw()["distributions"]) | set(raw()["refused"])
