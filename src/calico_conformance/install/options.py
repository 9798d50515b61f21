"""The installer's options, declared once. `calico-conformance install` adds them to its argparse
parser and the real-cluster targets (`run --target kubeconfig --install`) to pytest's option
group: both take ``add_argument``'s keywords, so one table serves both."""
from __future__ import annotations

from calico_conformance.install import data
from calico_conformance.install.manifests import is_release
from calico_conformance.install.plan import InstallOptions

# (flags, keywords). --calico-version is not here: `run` has its own (the documents a cluster is
# held to, and with --install also the release installed); `install` adds the release one.
OPTIONS: tuple[tuple[tuple[str, ...], dict], ...] = (
    (("--distro",), dict(default=None, metavar="NAME",
                         help=f"one of: {', '.join(data.names())} (default: detected from the cluster)")),
    (("--api-server",), dict(default=None, metavar="HOST:PORT",
                             help="the API server's stable address for kubernetes-services-endpoint "
                                  "(default: found per distribution)")),
    (("--release-url",), dict(default=None, metavar="URL",
                              help="where release manifests are served, with {version} in it (an internal "
                                   "mirror; default: the Calico repository's manifests path)")),
    (("--operator-manifest",), dict(default=None, metavar="PATH_OR_URL",
                                    help="the tigera-operator manifest (default: the chosen release's)")),
    (("--operator-crds",), dict(default=None, metavar="PATH_OR_URL",
                                help="the operator's CRDs where the release ships them apart "
                                     "(operator-crds.yaml, Calico v3.30+), applied before the operator manifest")),
    (("--calico-manifests",), dict(default=None, metavar="DIR",
                                   help="a directory with tigera-operator.yaml (and operator-crds.yaml, v3.30+) "
                                        "and custom-resources.yaml (air-gapped)")),
    (("--pod-cidr",), dict(action="append", default=None, metavar="CIDR",
                           help="IP pool CIDR, repeat for dual stack (default: 192.168.0.0/16)")),
    (("--encapsulation",), dict(default=None, choices=list(data.ENCAPSULATIONS),
                                help="the IP pool's encapsulation (default: VXLAN, which the document recommends; "
                                     "NodePort traffic is forwarded in felix's own VXLAN whatever the pool uses)")),
    (("--bottlerocket",), dict(action="store_true", default=None,
                               help="EKS nodes run Bottlerocket (default: detected from the nodes)")),
    (("--registry",), dict(default=None, metavar="REGISTRY",
                           help="Installation spec.registry (an air-gapped mirror)")),
    (("--dsr",), dict(action="store_true", default=False,
                      help="also set bpfExternalServiceMode: DSR (with --install: for the run, restored at the end)")),
    (("--ignore-preflight",), dict(action="store_true", default=False,
                                   help="install even where the support matrix says the release does not support "
                                        "the cluster in eBPF mode (default: refuse before any change)")),
    (("--install-timeout",), dict(type=float, default=None, metavar="SECONDS",
                                  help="how long to wait for TigeraStatus Available (default: 600)")),
    (("--configmap-wait",), dict(type=float, default=None, metavar="SECONDS",
                                 help="wait before restarting an operator that predates the ConfigMap (default: 60)")),
)


def add_to(add) -> None:
    """``add``: ``parser.add_argument`` (argparse) or ``group.addoption`` (pytest)."""
    for flags, keywords in OPTIONS:
        add(*flags, **keywords)


def install_options(get, *, distro: str | None = None, release_only: bool = False) -> InstallOptions:
    """The installer's options from ``get(dest)`` (an option's value, None where unset).
    ``release_only``: a --calico-version that names no release (v3.29, a matrix row) installs the
    default release (the target's --calico-version also picks the documents)."""
    version = get("calico_version")
    return InstallOptions(
        distro=get("distro") or distro, api_server=get("api_server"),
        operator_manifest=get("operator_manifest"), operator_crds=get("operator_crds"),
        calico_manifests=get("calico_manifests"), pool_cidrs=tuple(get("pod_cidr") or ()),
        encapsulation=get("encapsulation") or "", bottlerocket=get("bottlerocket"), registry=get("registry"),
        dsr=bool(get("dsr")), ignore_preflight=bool(get("ignore_preflight")),
        calico_version=version if not release_only or is_release(version) else None,
        release_url=get("release_url"), configmap_wait_s=get("configmap_wait"), timeout_s=get("install_timeout"))
