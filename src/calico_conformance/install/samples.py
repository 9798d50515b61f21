"""The custom resources the installer creates, one sample per distribution and option set.

They are what ``scripts/validate-installations.py`` checks against each operator release's own
CRDs, and what the record of those checks (tests/data/installation-crd-record.yaml) pins by
digest: the operator's CRDs are fetched, not ours to commit, so CI proves instead that every
object the installer prints today is byte for byte one that was checked."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from calico_conformance.install import manifests, plan
from calico_conformance.install.view import ClusterView

KIND_API = "172.18.0.2:6443"


@dataclass(frozen=True)
class Sample:
    name: str
    distro: str
    options: dict = field(default_factory=dict)   # InstallOptions fields
    view: dict = field(default_factory=dict)      # ClusterView fields the plan looks at

    def objects(self) -> list[dict]:
        """The custom resources the plan creates (Installation, APIServer), as it would send them,
        and the FelixConfiguration fields it sets, as they are stored."""
        opts = plan.InstallOptions(distro=self.distro, **self.options)
        view = ClusterView(offline=True, **self.view)
        ops = plan.build(opts, view, [], manifests.load_custom_resources(None))
        created = [op.obj for op in ops if op.action == "create" and op.step in ("installation", "apiserver",
                                                                              "custom-resources")]
        return created + [o for o in map(plan.felix_as_stored, ops) if o]


SAMPLES = [
    Sample("kubeadm", "kubeadm", {"api_server": "lb.example.com:6443"}),
    Sample("kind", "kind", {"api_server": KIND_API}),
    Sample("kops", "kops", {"api_server": "api.internal.c1.example.com:443"}),
    Sample("openshift", "openshift", {"api_server": "api.ocp1.example.com:6443"}),
    Sample("eks", "eks", {"api_server": "ABC.gr7.us-west-2.eks.amazonaws.com:443"}),
    Sample("eks-bottlerocket", "eks", {"api_server": "ABC.gr7.us-west-2.eks.amazonaws.com:443",
                                       "bottlerocket": True}),
    Sample("eks-aws-vpc-cni", "eks", {"api_server": "ABC.gr7.us-west-2.eks.amazonaws.com:443"},
           {"aws_node": True}),
    Sample("aks", "aks", {"api_server": "c1-dns-12345678.hcp.westeurope.azmk8s.io:443"}),
    Sample("mke", "mke"),
    Sample("kind-dual-stack-cross-subnet", "kind",
           {"api_server": KIND_API, "pool_cidrs": ("10.244.0.0/16", "fd00:10:244::/56"),
            "encapsulation": "VXLANCrossSubnet"}),
    Sample("kubeadm-air-gapped-registry", "kubeadm",
           {"api_server": "lb.example.com:6443", "registry": "registry.example.internal:5000/"}),
    Sample("kubeadm-dsr", "kubeadm", {"api_server": "lb.example.com:6443", "dsr": True}),
]


def digest(obj: dict) -> str:
    """sha256 of the object's canonical JSON (sorted keys, no spaces)."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def rendered() -> dict[str, dict]:
    """{"sample/Kind": object} for every sample (a sample sets at most one object of a kind)."""
    out = {}
    for sample in SAMPLES:
        for obj in sample.objects():
            key = f"{sample.name}/{obj['kind']}"
            if key in out:
                raise ValueError(f"sample {key} sets two objects of one kind; a digest needs one")
            out[key] = obj
    return out
