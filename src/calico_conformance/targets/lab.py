"""``--target lab``: the reference lab as a target. Dataplane behaviour comes from a profile."""
from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import socket
import tempfile
from functools import cached_property
from pathlib import Path

from calico_conformance import netns, processes
from calico_conformance.executor import NetnsExecutor
from calico_conformance.lab import felixlog, ipv6, profiles, realfelix
from calico_conformance.lab.builder import REQUIRED_TOOLS, Lab, LabError, require_root
from calico_conformance.lab.capture import LabCapture
from calico_conformance.lab.objects import lab_objects, load_overrides, with_overrides
from calico_conformance.lab.rules import calico_address
from calico_conformance.lab.topology import CLIENT_IP, LabSpec, Topology
from calico_conformance.realcalico import build as felix_builds, packages, versions as felix_versions
from calico_conformance.realk8s import build as k8s_builds, etcd, versions as k8s_versions
from calico_conformance.realk8s.cache import Cache, root
from calico_conformance.realk8s.components import COMPONENTS
from calico_conformance.targets.base import Node, NodePortService, Target
from calico_conformance.targets.capture import NodeCapture
from calico_conformance.targets.clients import exchange_from
from calico_conformance.vocabulary.errors import ExecutorError, TargetError, UsageError
from calico_conformance.vocabulary.exchange import HttpExchange
from calico_conformance.vocabulary.facts import LAB_NOTICE, ClusterFacts, NodeFacts
from calico_conformance.vocabulary.frames import CapturePoint
from calico_conformance.workloads import httpget, synprobe


def add_options(parser) -> None:
    group = parser.getgroup("calico-conformance lab", "the reference lab (--target lab)")
    group.addoption("--lab-dataplane", default=profiles.DEFAULT_PROFILE, metavar="NAME",
                    help="dataplane profile the lab emulates; `--lab-dataplane list` lists them "
                         f"(default: {profiles.DEFAULT_PROFILE})")
    group.addoption("--lab-inject", default=None, metavar="PROGRAM",
                    help="after bring-up, run PROGRAM with the lab described as JSON on stdin, to "
                         "put your own faults in; if it fails, the run stops")
    group.addoption("--lab-capture", default="lab", choices=("lab", "tcpdump"),
                    help="how the lab captures: lab (its own AF_PACKET sockets, which know each "
                         "frame's direction) or tcpdump (as on real nodes: tcpdump -w in each node's "
                         "namespace, pcap files read back, direction from the interface's MAC)")
    group.addoption("--lab-felix", default=None, metavar="TAG",
                    help="the felix build a real-felix profile (calico-*) runs: a tag `calico-conformance lab build "
                         f"felix` built ({', '.join(felix_versions.SUPPORTED)}, or the name you gave your own "
                         "checkout's build); default: the one of --calico-version's release, else "
                         f"{felix_versions.DEFAULT}")
    group.addoption("--lab-nodes", type=int, default=2, metavar="N",
                    help="number of lab nodes, 2-9 (default: 2)")
    group.addoption("--lab-client", default="external", metavar="NODE",
                    help="where the client runs: external (default: a host outside the cluster) or a "
                         "lab node's name (node1): a client on a node, whose NodePort connections "
                         "Calico's connect-time load balancing sends straight to the pod")
    group.addoption("--lab-objects", action="append", default=[], metavar="PATH",
                    help="show the checks these Kubernetes objects (kubectl -o json/yaml files, or a "
                         "cluster-info dump directory) in place of the lab's own objects of the same "
                         "kinds, e.g. to see the support checks judge a cluster shape; repeatable")


class LabClient:
    """The client: kernel TCP connections opened in the client namespace (or a node's)."""

    def __init__(self, ns: str, address6: str | None = None, *, name: str = "client",
                 address: str = CLIENT_IP):
        self.netns = ns
        self.name = name
        self.address = address
        self.address6 = address6
        self.uplink = "eth0"

    def send_syn(self, host: str, port: int):
        """A scapy-crafted SYN from the client namespace; returns what was sent."""
        syn, raw = synprobe.craft(self.address, host, port)
        synprobe.send(lambda *a: netns.socket_in(self.netns, *a), raw, host)
        return syn

    def http_get(self, host: str, port: int, *, timeout: float = 2.0, path: str = "/") -> HttpExchange:
        v6 = ":" in host
        sock = netns.socket_in(self.netns, socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
        out = httpget.http_get(host, port, timeout, bind=self.address6 if v6 else self.address,
                               path=path, sock=sock)
        return exchange_from(host, port, out)


class LabTarget(Target):
    name = "lab"

    def __init__(self, spec: LabSpec, profile: profiles.Profile, object_files: tuple[str, ...] = (),
                 capture: str = "lab", client: str = "external", felix_build=None):
        self.capture = capture
        self.client_node = None if client == "external" else client
        self.topo = Topology(spec)
        self.profile = profile
        self.object_files = object_files
        self.felix_build = felix_build
        self.lab = Lab(self.topo, profile, felix_build=felix_build)
        self._injectors: list[processes.Process] = []
        self._injector_logs: list[str] = []

    def up(self) -> "LabTarget":
        self.lab.up()
        if self.client_node:
            self._connect_time_lb(self.topo.node_by_name(self.client_node))
        return self

    def _connect_time_lb(self, node) -> None:
        """Calico's connect-time load balancing for processes on ``node``: a connect() to a
        NodePort on any node goes straight to the pod (felix/bpf-gpl/connect.h; the lab
        rewrites it at the output hook, which the wire cannot tell from a socket rewrite)."""
        addrs = ", ".join(n.address for n in self.topo.nodes)
        b = self.topo.backend
        ruleset = ("table ip cclab-ctlb {\n  chain connect {\n    type nat hook output priority -100; "
                   f"policy accept;\n    ip daddr {{ {addrs} }} tcp dport {self.topo.spec.node_port} "
                   f"dnat to {b.ip}:{b.port}\n  }}\n}}\n")
        result = NetnsExecutor(node.netns, node.name).run(["nft", "-f", "-"], input=ruleset, timeout=20)
        if not result.succeeded:
            raise TargetError(f"cannot emulate connect-time load balancing on {node.name}: {result.describe()}")

    def inject(self, program: str) -> None:
        """Run the user's fault injector, a shell command line (``sh -c``), with the lab description
        on stdin. It runs in a process group of its own, so whatever it leaves running (a fault
        generator, say) lives while the checks run and is ended with the lab."""
        # Output goes to a file, not a pipe: a background child keeping a pipe open must not make
        # us wait for it.
        fd, log = tempfile.mkstemp(prefix="cc-inject-", suffix=".log")
        os.close(fd)
        self._injector_logs.append(log)
        proc = processes.Process("--lab-inject program", ["sh", "-c", program], Path(log),
                                 stdin=json.dumps(self.describe()))
        self._injectors.append(proc)
        try:
            code = proc.wait(timeout=60)
        except ExecutorError:
            raise TargetError(f"--lab-inject program `{program}` did not finish within 60 s") from None
        if code != 0:
            raise TargetError(f"--lab-inject program `{program}` failed (exit {code}): {proc.last_log_line()}")

    def _end_injectors(self) -> None:
        for proc in self._injectors:
            proc.stop(timeout=1.0)
        for log in self._injector_logs:
            with contextlib.suppress(OSError):
                os.unlink(log)
        self._injectors, self._injector_logs = [], []

    def describe(self) -> dict:
        lab = {**self.topo.describe(), "profile": self.profile.name}
        if self.profile.ipv6:
            lab["ipv6"] = {"client": ipv6.CLIENT6, "backend": ipv6.backend_ip(self.topo),
                           "tunnel_iface": ipv6.TUNNEL_DEV6,
                           "nodes": {n.name: ipv6.node_ip(n) for n in self.topo.nodes}}
        return lab

    def close(self) -> None:
        self._end_injectors()
        self.lab.down()

    @cached_property
    def _nodes(self) -> list[Node]:
        return [Node(name=n.name, address=n.address, executor=NetnsExecutor(n.netns, n.name),
                     uplink="eth0", address6=ipv6.node_ip(n) if self.profile.ipv6 else None,
                     calico_address=calico_address(self.profile, n)[0])
                for n in self.topo.nodes]

    def nodes(self):
        return self._nodes

    def external_client(self) -> LabClient:
        if self.client_node:
            node = self.topo.node_by_name(self.client_node)
            return LabClient(node.netns, ipv6.node_ip(node) if self.profile.ipv6 else None,
                             name=node.name, address=node.address)
        return LabClient(self.topo.client_ns, ipv6.CLIENT6 if self.profile.ipv6 else None)

    def nodeport_service(self) -> NodePortService:
        b = self.topo.backend
        return NodePortService(namespace="calico-conformance", name="backend",
                               node_port=self.topo.spec.node_port, protocol="TCP", backend_ip=b.ip,
                               backend_port=b.port, backend_node=b.node, backend_host_iface=b.host_iface,
                               backend_ip6=ipv6.backend_ip(self.topo) if self.profile.ipv6 else None,
                               local_node_port=self.topo.spec.node_port_local)

    def start_capture(self, points):
        where = {}
        for point in points:
            if point.node == "client":
                where[point] = (self.topo.client_ns, point.iface)
            else:
                where[point] = (self.topo.node_by_name(point.node).netns, point.iface)
        if self.capture == "tcpdump":   # the real targets' capture, through each namespace
            return NodeCapture({p: NetnsExecutor(ns, p.node) for p, (ns, _) in where.items()})
        return LabCapture(where)

    def client_capture_point(self) -> CapturePoint | None:
        return None if self.client_node else CapturePoint("client", "eth0")

    @cached_property
    def _host_facts(self) -> tuple[str, str, str]:
        return platform.release(), platform.machine(), _os_image()

    def facts(self) -> ClusterFacts:
        kernel, arch, os_image = self._host_facts
        return ClusterFacts(
            target=self.name, calico_version=self._felix_version(), kubernetes_version=self._kubernetes_version(),
            distribution="lab", datastore="kubernetes", felix=self.profile.felix,
            node_felix=profiles.node_settings(self.profile, self.topo),
            nodes=tuple(NodeFacts(n.name, felixlog.kernel_of(self.profile, n.name, kernel), arch, os_image)
                        for n in self.topo.nodes),
            is_lab=True, lab_profile=self.profile.name, lab_felix=self._felix_described())

    def _kubernetes_version(self) -> str:
        # With real components the API felix and kube-proxy talk to is a real kube-apiserver of this version.
        return k8s_versions.KUBERNETES if self.profile.real_components else "v1.31.0-lab"

    def _felix_version(self) -> str | None:
        """Real felix's version as felix itself reports it at start-up (None: emulated)."""
        if self.lab.real_felix is None:
            return None
        for log in self.lab.real_felix.logs().values():
            found = felixlog.reported_version(log)
            if found:
                return found
        return self.felix_build.tag

    def _felix_described(self) -> str | None:
        if self.felix_build is None:
            return None
        source = self.felix_build.source
        commit = (source.get("commit") or "")[:8]
        origin = os.path.basename(source.get("origin") or source.get("path") or "") or "unknown source"
        return f"felix {self._felix_version()} (" + (f"commit {commit}, " if commit else "") + f"built from {origin})"

    def felix_logs(self) -> dict[str, str]:
        if self.lab.real_felix is not None:
            return self.lab.real_felix.logs()
        return felixlog.logs(self.topo, self.profile)

    def snapshot(self) -> list[dict]:
        return with_overrides(lab_objects(self.topo, self.profile, self._host_facts), self.object_files)


def _os_image() -> str:
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "unknown"


def _settings(options) -> tuple[LabSpec, profiles.Profile, tuple[str, ...], str]:
    """(spec, profile, object files, client) from the options, or a one-line UsageError."""
    profile = profiles.get(options.getoption("lab_dataplane"))
    nodes = options.getoption("lab_nodes")
    try:
        spec = LabSpec(nodes=nodes)
    except ValueError as exc:
        raise UsageError(f"--lab-nodes {nodes}: {exc}") from None
    files = tuple(options.getoption("lab_objects") or ())
    if files:
        load_overrides(files)   # a bad file is a usage error before anything is built
    client = options.getoption("lab_client")
    names = [n.name for n in Topology(spec).nodes]
    if client != "external" and client not in names:
        raise UsageError(f"--lab-client {client}: no such lab node; choose external or one of {', '.join(names)}")
    return spec, profile, files, client


def felix_tag(version: str | None, build: str | None = None) -> str:
    """The felix build a real-felix profile runs: --lab-felix's tag as it is, else for
    --calico-version the tag this project builds of that release (v3.31 -> v3.31.7), else the
    default tag."""
    if build:
        return build
    if version is None:
        return felix_versions.DEFAULT
    wanted = version if version.startswith("v") else f"v{version}"
    for tag in felix_versions.SUPPORTED:
        if wanted == tag or tag.startswith(wanted + "."):
            return tag
    raise UsageError(f"--calico-version {version}: the real-felix profiles run felix "
                     f"{' or '.join(felix_versions.SUPPORTED)} (built by `calico-conformance lab build felix`); "
                     "a build of your own is chosen with --lab-felix TAG")


def felix_build(options, profile: profiles.Profile):
    """The built felix a real-felix profile runs (None for an emulated one); a missing build is a
    usage error naming the command that makes it."""
    if not profile.real_felix:
        if options.getoption("lab_felix"):
            raise UsageError(f"--lab-felix picks the felix a real-felix profile runs (calico-*); --lab-dataplane "
                             f"{profile.name} emulates it")
        return None
    tag = felix_tag(options.getoption("calico_version"), options.getoption("lab_felix"))
    found = felix_builds.installed(Cache(root()), tag)
    if found is None:
        raise UsageError(f"--lab-dataplane {profile.name} runs real felix {tag}, which is not built here; run "
                         f"`calico-conformance lab build felix --calico-version {tag}` (docs/real-calico.md)")
    return found


def prepare(options, progress) -> None:
    """A real-component profile's first use on this machine: build what it runs and the cache
    lacks (the same steps as `calico-conformance lab build`, minutes when Go's caches are cold,
    then cached), saying so. A step that fails raises BuildError naming it."""
    if options.getoption("lab_dataplane") not in profiles.PROFILES:
        return           # check() says what is wrong with the name
    profile = profiles.get(options.getoption("lab_dataplane"))
    if not profile.real_components:
        return
    packages.ensure(packages.CONTROL_PLANE, progress)
    store = Cache(root())
    wanted = [c for c in profile.real_components if c in COMPONENTS] + (["etcd"] if etcd.find(store) is None else [])
    missing = [c for c in wanted if not store.has(c, COMPONENTS[c].version, COMPONENTS[c].wrapper.recipe())]
    if missing:
        progress(f"--lab-dataplane {profile.name} runs {', '.join(missing)}, not built on this machine yet: "
                 "building it now (once; minutes when Go's caches are cold)")
        k8s_builds.build(missing, store, progress=progress)
    if profile.real_felix:
        packages.ensure(packages.RUN, progress)
        tag = felix_tag(options.getoption("calico_version"), options.getoption("lab_felix"))
        if felix_builds.installed(store, tag) is None:
            if tag not in felix_versions.SUPPORTED:
                raise UsageError(f"--lab-felix {tag}: no felix build of that name in {store.root}; build yours with "
                                 f"`calico-conformance lab build felix --calico-source DIR --calico-version {tag}`")
            progress(f"--lab-dataplane {profile.name} runs felix {tag}, not built on this machine yet: building it "
                     "from Calico's source now (once; see `calico-conformance lab build --help` for where the "
                     "source comes from)")
            felix_builds.build_felix(tag, store, progress=progress)


def check(options) -> None:
    """Root, the tools the lab calls, and every lab option, before anything is built."""
    require_root()
    missing = [tool for tool in REQUIRED_TOOLS if not shutil.which(tool)]
    if missing:
        raise LabError(f"the lab needs {', '.join(missing)}, not found on PATH; run ./bootstrap "
                       "(it installs nftables, iptables, tcpdump, ethtool, iputils-ping)")
    _, profile, _, _ = _settings(options)
    felix_build(options, profile)
    _runnable_here(profile)


def _runnable_here(profile: profiles.Profile) -> None:
    """A real-felix profile this kernel cannot run is refused in one line, saying where it runs."""
    if profile.real_felix and (lacking := realfelix.kernel_lacks(profile)):
        raise UsageError(f"--lab-dataplane {profile.name}: {lacking}; run it in a guest with a kernel that has "
                         "them: add --kernel 6.12 (or 5.10, 6.1)")


def header(options) -> list[str]:
    """Which dataplane, and whether the run judges real felix or checks the suite."""
    name = options.getoption("lab_dataplane")
    real = name in profiles.PROFILES and profiles.PROFILES[name].real_felix
    return [f"calico-conformance: target lab, lab dataplane {name}",
            "NOTE: " + ("real felix runs on the lab's nodes: this run judges that felix (which one: the target line "
                        "below)" if real else LAB_NOTICE)]


def info_request(options) -> str | None:
    """``--lab-dataplane list``: the profiles, instead of a run."""
    return profiles.listing() if options.getoption("lab_dataplane") == "list" else None


def create(options) -> LabTarget:
    spec, profile, files, client = _settings(options)
    _runnable_here(profile)
    target = LabTarget(spec, profile, files, capture=options.getoption("lab_capture"), client=client,
                       felix_build=felix_build(options, profile)).up()
    program = options.getoption("lab_inject")
    if program:
        try:
            target.inject(program)
        except BaseException:
            target.close()
            raise
    return target
