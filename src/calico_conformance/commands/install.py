"""``calico-conformance install``: install Calico in eBPF mode the way the newer document says,
for one distribution; ``--dry-run -o yaml`` prints every object and patch in order instead."""
from __future__ import annotations

import sys

from calico_conformance.install import data, flow, options as install_opts, render
from calico_conformance.install.run import Installer
from calico_conformance.k8s import access, connect
from calico_conformance.redact import redact_text, redact_urls

NAME = "install"
HELP = "install Calico in eBPF mode (doc: v3.29 steps, per distribution); --dry-run prints them"


def configure(parser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="print the steps; change nothing")
    parser.add_argument("-o", "--output", choices=["text", "yaml"], default="text",
                        help="dry-run output: text (a step list) or yaml (every object and patch)")
    access.add_to(parser.add_argument)
    parser.add_argument("--calico-version", metavar="RELEASE",
                        help="install this Calico release (e.g. v3.31.7): its tigera-operator.yaml, "
                             "operator-crds.yaml (v3.30+) and custom-resources.yaml from --release-url "
                             "(default: v3.29.1, the release the document links)")
    install_opts.add_to(parser.add_argument)


def options_from(args):
    return install_opts.install_options(lambda name: getattr(args, name, None))


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
