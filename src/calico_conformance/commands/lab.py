"""`calico-conformance lab build`: the real components the lab can run (kube-apiserver, kube-proxy,
etcd where the system has none, Calico's CRDs), built from their Go modules into a cache outside
the repo; felix is reported with the reason it cannot be built here. docs/real-calico.md.

Exit codes: 0 everything asked for is in the cache (felix, when not named, only reported);
1 a step failed, or felix was named and cannot be built; 2 usage error."""
from __future__ import annotations

import sys
import time

from calico_conformance.realk8s import build, cache
from calico_conformance.realk8s.components import ALL
from calico_conformance.realk8s.gotool import BuildError

NAME = "lab"
HELP = "real components for the lab: `lab build` builds kube-apiserver, kube-proxy (and etcd) from Go modules"


def configure(parser):
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    b = sub.add_parser("build", help="build what is missing into the cache (quick when it is all there)",
                       description="Build kube-apiserver and kube-proxy (Kubernetes v1.30), etcd where the "
                                   "system has none new enough, and fetch Calico's CRDs, each from its Go "
                                   "module, into a cache keyed by component and version. Naming `felix` "
                                   "tries its module resolution and fails with the proxy's answer.")
    b.add_argument("components", nargs="*", metavar="COMPONENT",
                   help=f"{', '.join(ALL)} (default: what the lab needs)")
    b.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="where built components live (default: $CC_CACHE_DIR or /var/cache/calico-conformance)")


def run(args) -> int:
    if getattr(args, "action", None) != "build":
        print("calico-conformance lab: choose an action: build (see `calico-conformance lab build --help`)",
              file=sys.stderr)
        return 2

    store = cache.Cache(cache.root(args.cache_dir))
    names = list(dict.fromkeys(args.components)) or build.default_components()
    build.check_names(names)
    start = time.monotonic()
    say = lambda line: print(f"lab build: {line}", flush=True)
    say(f"cache {store.root}; components: {', '.join(names)}")
    try:
        outcome = build.build(names, store, progress=say)
    except BuildError as exc:
        print(f"calico-conformance lab build: step `{exc.step}` failed: {exc.reason}", file=sys.stderr)
        return 1
    took = time.monotonic() - start
    done = outcome.built + outcome.cached
    say(f"done in {took:.1f} s: {len(outcome.built)} built, {len(outcome.cached)} from the cache"
        + (f" ({', '.join(done)})" if done else ""))
    if "felix" in args.components and "felix" in outcome.blocked:
        print(f"calico-conformance lab build: step `felix` failed: {outcome.blocked['felix']}", file=sys.stderr)
        return 1
    return 0
