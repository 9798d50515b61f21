"""``calico-conformance install``: install Calico in eBPF mode the way the newer document says,
for one distribution; ``--dry-run -o yaml`` prints every object and patch in order instead."""
from __future__ import annotations

import sys

from calico_conformance.install import data, flow, render
from calico_conformance.install.plan import InstallOptions
from calico_conformance.install.run import Installer
from calico_conformance.k8s import connect
from calico_conformance.redact import redact_text, redact_urls

NAME = "install"
HELP = "install Calico in eBPF mode (doc: v3.29 steps, per distribution); --dry-run prints them"


def add_install_arguments(parser) -> None:
    """Options shared with the targets' --install (argparse flavour)."""
    parser.add_argument("--api-server", metavar="HOST:PORT",
                        help="the API server's stable address for kubernetes-services-endpoint "
                             "(default: found per distribution)")
    parser.add_argument("--calico-version", metavar="RELEASE",
                        help="install this Calico release (e.g. v3.31.7): its tigera-operator.yaml, "
                             "operator-crds.yaml (v3.30+) and custom-resources.yaml from --release-url "
                             "(default: v3.29.1, the release the document links)")
    parser.add_argument("--release-url", metavar="URL",
                        help="where release manifests are served, with {version} in it (an internal "
                             "mirror; default: the Calico repository's manifests path)")
    parser.add_argument("--operator-manifest", metavar="PATH_OR_URL",
                        help="the tigera-operator manifest (default: the chosen release's)")
    parser.add_argument("--operator-crds", metavar="PATH_OR_URL",
                        help="the operator's CRDs where the release ships them apart (operator-crds.yaml, "
                             "Calico v3.30+), applied before the operator manifest")
    parser.add_argument("--calico-manifests", metavar="DIR",
                        help="a directory with tigera-operator.yaml (and operator-crds.yaml, v3.30+) and "
                             "custom-resources.yaml (air-gapped)")
    parser.add_argument("--pod-cidr", action="append", metavar="CIDR",
                        help="IP pool CIDR, repeat for dual stack (default: 192.168.0.0/16)")
    parser.add_argument("--encapsulation", default="VXLAN", choices=["VXLAN", "VXLANCrossSubnet"],
                        help="IP pool encapsulation (default: VXLAN)")
    parser.add_argument("--bottlerocket", action="store_true", default=None,
                        help="EKS nodes run Bottlerocket (default: detected from the nodes)")
    parser.add_argument("--registry", metavar="REGISTRY", help="Installation spec.registry (air-gapped mirror)")
    parser.add_argument("--dsr", action="store_true", help="also set bpfExternalServiceMode: DSR")
    parser.add_argument("--ignore-preflight", action="store_true",
                        help="install even where the support matrix says the release does not support the "
                             "cluster in eBPF mode (default: refuse before any change)")
    parser.add_argument("--install-timeout", type=float, default=None, metavar="SECONDS",
                        help="how long to wait for TigeraStatus Available (default: 600)")
    parser.add_argument("--configmap-wait", type=float, default=None, metavar="SECONDS",
                        help="wait before restarting an operator that predates the ConfigMap (default: 60)")


def configure(parser) -> None:
    parser.add_argument("--distro", metavar="NAME",
                        help=f"one of: {', '.join(data.names())} (default: detected from the cluster)")
    parser.add_argument("--dry-run", action="store_true", help="print the steps; change nothing")
    parser.add_argument("-o", "--output", choices=["text", "yaml"], default="text",
                        help="dry-run output: text (a step list) or yaml (every object and patch)")
    parser.add_argument("--kubeconfig", metavar="PATH", help="kubeconfig (default: $KUBECONFIG or ~/.kube/config)")
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context (default: the current one)")
    add_install_arguments(parser)


def options_from(args):
    return InstallOptions(distro=args.distro, api_server=args.api_server,
                          operator_manifest=args.operator_manifest, operator_crds=args.operator_crds,
                          calico_manifests=args.calico_manifests,
                          pool_cidrs=tuple(args.pod_cidr or ()), encapsulation=args.encapsulation,
                          bottlerocket=args.bottlerocket, registry=args.registry, dsr=args.dsr,
                          ignore_preflight=args.ignore_preflight, calico_version=args.calico_version,
                          release_url=args.release_url,
                          configmap_wait_s=args.configmap_wait, timeout_s=args.install_timeout)


def run(args) -> int:
    if args.distro:
        data.distro(args.distro)      # unknown names fail before anything else
    opts = options_from(args)
    warn = lambda line: print(f"calico-conformance: {redact_text(line)}", file=sys.stderr)   # noqa: E731
    if args.dry_run:
        kube = None
        if args.kubeconfig or args.context:
            kube = connect(args.kubeconfig, args.context)
        _, plan = flow.make_plan(opts, kube, dry_run=True, warn=warn)
        out = render.render_yaml(plan) if args.output == "yaml" else render.render_text(plan)
        sys.stdout.write(redact_urls(out))     # sources may be URLs with a mirror's credentials
        return 0
    kube = connect(args.kubeconfig, args.context)
    distro, plan = flow.make_plan(opts, kube, warn=warn)
    print(f"calico-conformance: installing Calico in eBPF mode on a {distro} cluster ({len(plan)} steps)",
          file=sys.stderr)
    Installer(kube).apply(plan)
    print("calico-conformance: installed; `calico-conformance uninstall` reverts it", file=sys.stderr)
    return 0
