"""`calico-conformance lab build`: the real components the lab can run, built into a cache outside
the repo: kube-apiserver, kube-proxy (etcd where the system has none) and Calico's CRDs from their
Go modules, and calico-felix with its BPF objects from Calico's source. docs/real-calico.md.

Exit codes: 0 everything asked for is in the cache; 1 a step failed (named: go's, make's, the
compiler's or the download's own error line); 2 usage error."""
from __future__ import annotations

import argparse
import sys
import time

from calico_conformance.realcalico import build as felix_build, source, versions
from calico_conformance.realk8s import build, cache
from calico_conformance.realk8s.components import ALL
from calico_conformance.realk8s.gotool import BuildError
from calico_conformance.vocabulary import exitcodes
from calico_conformance.vocabulary.errors import UsageError

NAME = "lab"
HELP = ("real components for the lab: `lab build` builds kube-apiserver, kube-proxy (and etcd) from Go "
        "modules and felix from Calico's source")
FELIX = "felix"
COMPONENTS = (*ALL, FELIX)

EPILOG = f"""\
where Calico's source comes from (felix), first found wins:
  1. --calico-source DIR|FILE|URL   a checkout (copied into the cache, then built), a release
                                    archive calico-<tag>.tar.xz/.tar.gz, or its http(s) URL
  2. {"$" + source.SOURCE_ENV:<31}the same forms
  3. {"$" + source.ARCHIVES_ENV:<31}a directory of calico-<tag>.tar.* (and libbpf-<version>.tar.*
                                    for tags that do not vendor libbpf)
  4. GitHub                         {source.GITHUB.format(tag='<tag>')}

examples:
  calico-conformance lab build                                   # the lab's components, felix {versions.DEFAULT}
  CC_CALICO_ARCHIVES=../shared/upstream calico-conformance lab build felix --calico-version v3.31.7
  calico-conformance lab build felix --calico-source ~/src/calico --calico-version v3.31.7-dev

The felix build needs Debian's clang-19 llvm-19 clang-16 llvm-16 (16 for the IPv6 objects)
libelf-dev zlib1g-dev libpcap-dev make gcc (installed with apt-get when run as root). A cold build
takes minutes (Go's build cache); again, seconds.
"""


def configure(parser):
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    b = sub.add_parser("build", help="build what is missing into the cache (quick when it is all there)",
                       description="Build kube-apiserver and kube-proxy (Kubernetes v1.30), etcd where the "
                                   "system has none new enough, and fetch Calico's CRDs, each from its Go "
                                   "module; and build calico-felix and its BPF objects from Calico's source "
                                   f"(tags {', '.join(versions.SUPPORTED)}); all into a cache keyed by "
                                   "component and version.",
                       epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("components", nargs="*", metavar="COMPONENT",
                   help=f"{', '.join(COMPONENTS)} (default: what the lab needs, felix {versions.DEFAULT} included)")
    b.add_argument("--cache-dir", default=None, metavar="DIR",
                   help="where built components live (default: $CC_CACHE_DIR or /var/cache/calico-conformance)")
    b.add_argument("--calico-version", default=None, metavar="TAG",
                   help=f"felix's Calico tag: {', '.join(versions.SUPPORTED)} (default: the source's own, "
                        f"else {versions.DEFAULT}); any name for a checkout given with --calico-source DIR")
    b.add_argument("--calico-source", default=None, metavar="DIR|FILE|URL",
                   help="Calico's source for felix (see below; default: $CC_CALICO_SOURCE, $CC_CALICO_ARCHIVES, "
                        "GitHub)")
    b.add_argument("--bpf-objects", default="lab", choices=felix_build.OBJECTS,
                   help="lab: the objects felix loads with bpfLogLevel Off (about a minute); all: every object "
                        "felix's Makefile builds, debug ones included (~10 min on 2 cores) (default: lab)")


def _names(args) -> list[str]:
    names = list(dict.fromkeys(args.components)) or [*build.default_components(), FELIX]
    build.check_names([n for n in names if n != FELIX])
    felix_options = [f"--{o.replace('_', '-')}" for o in ("calico_version", "calico_source")
                     if getattr(args, o) is not None] + (["--bpf-objects"] if args.bpf_objects != "lab" else [])
    if felix_options and FELIX not in names:
        raise UsageError(f"{', '.join(felix_options)} are felix's; name felix (or no component)")
    if FELIX in names:
        named = (args.calico_source, "--calico-source") if args.calico_source else source.given()
        versions.check(args.calico_version, directory=source.check(*named) if named else False)
    return names


def run(args) -> int:
    if getattr(args, "action", None) != "build":
        print("calico-conformance lab: choose an action: build (see `calico-conformance lab build --help`)",
              file=sys.stderr)
        return exitcodes.USAGE

    store = cache.Cache(cache.root(args.cache_dir))
    names = _names(args)
    start = time.monotonic()
    say = lambda line: print(f"lab build: {line}", flush=True)
    say(f"cache {store.root}; components: {', '.join(names)}")
    built, cached = [], []
    try:
        modules = [n for n in names if n != FELIX]
        if modules:
            outcome = build.build(modules, store, progress=say)
            built, cached = outcome.built, outcome.cached
        if FELIX in names:
            felix = felix_build.build_felix(args.calico_version, store, source=args.calico_source,
                                            objects=args.bpf_objects, progress=say)
            (cached if felix.cached else built).append(f"felix {felix.tag}")
    except BuildError as exc:
        print(f"calico-conformance lab build: step `{exc.step}` failed: {exc.reason}", file=sys.stderr)
        return 1
    took = time.monotonic() - start
    done = built + cached
    say(f"done in {took:.1f} s: {len(built)} built, {len(cached)} from the cache"
        + (f" ({', '.join(done)})" if done else ""))
    return 0
