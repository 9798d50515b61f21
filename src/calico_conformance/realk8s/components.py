"""What ``calico-conformance lab build`` knows how to get, and from which module."""
from __future__ import annotations

from dataclasses import dataclass

from calico_conformance.realk8s import versions
from calico_conformance.realk8s.wrapper import Wrapper


def _k8s_published(module: str, required: str) -> str:
    # kubernetes requires its staging modules at v0.0.0 and replaces them with ./staging/src/...
    return versions.STAGING if module.startswith("k8s.io/") else required


def _etcd_published(module: str, required: str) -> str:
    # etcd's sibling modules are required at their real versions (client/v2 is v2.305.x)
    return required


def _k8s_stamps(version: str) -> tuple[str, ...]:
    """What kubernetes' hack/lib/version.sh sets with -X, for both packages that carry it."""
    major, minor = version.lstrip("v").split(".")[:2]
    values = {"gitVersion": version, "gitMajor": major, "gitMinor": minor, "gitTreeState": "clean"}
    return tuple(f"{pkg}.{key}={value}" for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
                 for key, value in values.items())


KUBERNETES = Wrapper(f"k8s-{versions.KUBERNETES}", "k8s.io/kubernetes", versions.KUBERNETES,
                     ("k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-proxy"), _k8s_published,
                     _k8s_stamps(versions.KUBERNETES))
ETCD = Wrapper(f"etcd-{versions.ETCD}", "go.etcd.io/etcd/server/v3", versions.ETCD,
               ("go.etcd.io/etcd/server/v3",), _etcd_published)


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    wrapper: Wrapper
    package: str


COMPONENTS = {
    "kube-apiserver": Component("kube-apiserver", versions.KUBERNETES, KUBERNETES, "k8s.io/kubernetes/cmd/kube-apiserver"),
    "kube-proxy": Component("kube-proxy", versions.KUBERNETES, KUBERNETES, "k8s.io/kubernetes/cmd/kube-proxy"),
    "etcd": Component("etcd", versions.ETCD, ETCD, "go.etcd.io/etcd/server/v3"),
}
# Not a Go-module component but something `lab build` also gets (felix: realcalico/build.py).
EXTRA = ("calico-crds",)
ALL = (*COMPONENTS, *EXTRA)
