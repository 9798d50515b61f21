"""Real felix on every lab node (built by ``calico-conformance lab build felix``), configured as
Calico's FV tests configure it (felix/fv/infrastructure/felix.go @ v3.29.7), against the lab's
real API server.

Each node gets a *holder*: a process that sits in the node's network namespace, in a mount
namespace of its own and a cgroup of its own, and keeps them alive while felix comes and goes
(felix exits to restart itself when its configuration changes). In that mount namespace:
bpffs at /sys/fs/bpf, the build's objects read-only at /usr/lib/calico/bpf (felix's
bpfdefs.ObjectDir), tmpfs at /run, and /usr/lib and /var/lib as overlays whose changes land in a
tmpfs, so nothing is written to the host's file systems. Its cgroup is a child of the host's
cgroup v2 root, made for the node; mounted inside a cgroup namespace at /run/calico/cgroup it is
the only cgroup felix sees, so felix's connect-time load balancer attaches there and its clean-up
can never detach anything from the host's cgroups.

Nothing outlives the run: felix and the holder die with the run (processes.py, pdeathsig); their
programs go with the node's namespace and the pins with the mount namespace; the cgroups are
removed here, or by the next run's sweep when this one was SIGKILLed (``sweep_stale``).
"""
from __future__ import annotations

import gzip
import os
import platform
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from calico_conformance import netns, processes
from calico_conformance.executor import NetnsExecutor
from calico_conformance.lab import bpfattach, ipv6 as lab_ipv6
from calico_conformance.lab.calicoobjects import block_cidr, block_cidr6
from calico_conformance.lab.profiles import Profile
from calico_conformance.lab.rules import calico_address
from calico_conformance.lab.topology import PREFIX, LabNode, Topology
from calico_conformance.realcalico import versions
from calico_conformance.vocabulary.errors import UsageError

HEALTH_PORT = 9099                 # felix's health endpoint, on each node's own loopback
OBJECT_DIR = "/usr/lib/calico/bpf"     # felix/bpf/bpfdefs/defs.go ObjectDir (both tags)
# felix is ready in 2-10 s on this machine; inside a guest under TCG (`run --kernel`, which sets
# CC_VM_KERNEL) everything is ~25x slower
READY_TIMEOUT_S = 600.0 if os.environ.get("CC_VM_KERNEL") else 120.0
# Where felix routes the other nodes' pod blocks, by the IP pool's encapsulation: its VXLAN
# device, its IPIP device (felix/dataplane/linux/vxlan_mgr.go, ipip_mgr.go @ v3.29.7), or, with no
# encapsulation, straight to the peer's address on the node's NIC.
ROUTE_DEVICE = {"VXLAN": "vxlan.calico", "IPIP": "tunl0", "None": "eth0"}


def route_device6(tag: str) -> str:
    """Where felix in eBPF mode routes the other nodes' IPv6 blocks (a VXLAN pool): through
    vxlan-v6.calico in v3.29 (felix/dataplane/linux/int_dataplane.go @ v3.29.7); v3.31, on a
    kernel with BTF, uses vxlan.calico for both families and removes vxlan-v6.calico
    (int_dataplane.go ~1254 @ v3.31.7; v3.30 not measured, counted with v3.31)."""
    return ROUTE_DEVICE["VXLAN"] if versions.numbers(tag) >= (3, 30) else lab_ipv6.TUNNEL_DEV6

# The mount namespace felix runs in; its scratch tmpfs is mounted over a directory of the run.
_HOLDER = r"""set -e
S="$CC_SCRATCH"
mount -t tmpfs -o mode=0700,size=64m cc-felix-scratch "$S"
mkdir -p "$S/usr" "$S/usr.work" "$S/var" "$S/var.work"
mount -t overlay cc-felix-usrlib -o lowerdir=/usr/lib,upperdir="$S/usr",workdir="$S/usr.work" /usr/lib
mount -t overlay cc-felix-varlib -o lowerdir=/var/lib,upperdir="$S/var",workdir="$S/var.work" /var/lib
mkdir -p /usr/lib/calico/bpf /var/lib/calico
mount --bind "$CC_OBJECTS" /usr/lib/calico/bpf
mount -o remount,bind,ro /usr/lib/calico/bpf
mount -t tmpfs -o mode=0755,size=64m cc-felix-run /run
mkdir -p /run/calico/cgroup
mount -t cgroup2 cc-felix-cgroup /run/calico/cgroup
mount -t bpf cc-felix-bpffs /sys/fs/bpf
echo holder-ready
exec sleep infinity
"""


class FelixError(UsageError):
    """Felix did not come up on a lab node: which, and felix's own last words."""


def cgroup2_root() -> Path:
    """Where this host's cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or
    /sys/fs/cgroup/unified on a hybrid host)."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if parts[parts.index("-") + 1] == "cgroup2":
                found.append(parts[4])
    if not found:
        raise UsageError("real felix in the lab needs a cgroup v2 hierarchy (mount -t cgroup2), and this host "
                         "has none mounted")
    return Path(min(found, key=len))


def _cgroup_name(node: LabNode) -> str:
    # the node's namespace name: cclab-<pid>-<worker>-nodeN, so the sweeper can tell a dead run's
    return node.netns


def sweep_stale(alive) -> list[str]:
    """Remove the cgroups of lab runs whose process is gone (``alive(pid)``); their processes died
    with them, so the cgroups are empty. Never touches a cgroup the lab did not name."""
    try:
        root = cgroup2_root()
    except UsageError:
        return []
    gone = []
    for path in root.glob(f"{PREFIX}-*"):
        pid = path.name.split("-")[1]
        if pid.isdigit() and int(pid) != os.getpid() and not alive(int(pid)):
            _remove_cgroup(path)
            gone.append(path.name)
    return gone


def _remove_cgroup(path: Path) -> None:
    try:
        if (path / "cgroup.procs").read_text().split():
            (path / "cgroup.kill").write_text("1")
            time.sleep(0.2)
        path.rmdir()
    except FileNotFoundError:
        pass


@dataclass
class FelixNode:
    node: LabNode
    binary: Path
    objects: Path
    workdir: Path
    env: dict
    expected_ifaces: tuple[str, ...]      # where felix in eBPF mode attaches programs
    # the other nodes' IPAM blocks, each with the device felix routes it through
    peer_routes: tuple[tuple[str, str], ...]
    bpf: bool = True
    cgroup: Path | None = None
    holder: processes.Process | None = None
    felix: processes.Process | None = None
    started_at: float = 0.0
    ready_after_s: float | None = None
    incarnations: list[Path] = field(default_factory=list)    # felix's log, one per start

    def start(self, cgroup_root: Path) -> None:
        self.cgroup = cgroup_root / _cgroup_name(self.node)
        self.cgroup.mkdir()
        scratch = self.workdir / f"scratch-{self.node.name}"
        scratch.mkdir()
        # the holder joins the node's cgroup, then the node's netns, then a new mount and cgroup namespace
        argv = ["sh", "-c", 'echo $$ > "$CC_CGROUP/cgroup.procs" && '
                            'exec ip netns exec "$CC_NETNS" unshare --cgroup sh -c "$CC_HOLDER"']
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "CC_CGROUP": str(self.cgroup),
               "CC_NETNS": self.node.netns, "CC_HOLDER": _HOLDER, "CC_SCRATCH": str(scratch),
               "CC_OBJECTS": str(self.objects)}
        self.holder = processes.Process(f"felix holder {self.node.name}", argv,
                                        self.workdir / f"holder-{self.node.name}.log", env=env)
        deadline = time.monotonic() + 20
        while "holder-ready" not in _read(self.holder.log):
            if not self.holder.alive():
                raise FelixError(f"cannot make felix's mount namespace on {self.node.name}: "
                                 f"{self.holder.last_log_line()}")
            if time.monotonic() > deadline:
                raise FelixError(f"felix's mount namespace on {self.node.name} was not ready in 20 s")
            time.sleep(0.02)
        self.start_felix()

    def start_felix(self) -> None:
        log = self.workdir / f"felix-{self.node.name}-{len(self.incarnations) + 1}.log"
        self.incarnations.append(log)
        argv = ["sh", "-c", 'echo $$ > "$CC_CGROUP/cgroup.procs" && '
                            'exec nsenter -t "$CC_HOLDER_PID" -m -n -C -- "$CC_FELIX" -c "$CC_NO_CONFIG"']
        env = {**self.env, "CC_CGROUP": str(self.cgroup), "CC_HOLDER_PID": str(self.holder.pid),
               "CC_FELIX": str(self.binary),
               # felix reads a config file when there is one; there is none: env and the datastore
               "CC_NO_CONFIG": str(self.workdir / "no-felix.cfg")}
        self.started_at = time.monotonic()
        self.felix = processes.Process(f"felix {self.node.name}", argv, log, env=env)

    # ---- what felix shows ----------------------------------------------------------------------
    def health(self, what: str = "readiness") -> int:
        try:
            with netns.inside(self.node.netns):
                sock = socket.create_connection(("127.0.0.1", HEALTH_PORT), timeout=1)
            with sock:
                sock.sendall(f"GET /{what} HTTP/1.0\r\n\r\n".encode())
                return int(sock.recv(200).split()[1])
        except (OSError, IndexError, ValueError):
            return 0

    def routed(self) -> bool:
        """Felix programmed the route to every other node's block (through the overlay, if any)."""
        run = NetnsExecutor(self.node.netns).run
        family = lambda block: "-6" if ":" in block else "-4"
        tables = {f: run(["ip", f, "route", "show"], timeout=10).stdout for f in {family(b) for b, _ in self.peer_routes}}
        return all(re.search(rf"^{re.escape(block)} .*dev {re.escape(dev)}\b", tables[family(block)], re.M)
                   for block, dev in self.peer_routes)

    def attached(self) -> bool:
        got = bpfattach.attachments(self.node.netns)
        return all(got.get(i, {}).get("ingress") and got.get(i, {}).get("egress") for i in self.expected_ifaces)

    def ready(self) -> bool:
        if not self.felix.alive():
            raise FelixError(f"felix on {self.node.name} exited ({self.felix.proc.returncode}) before it was "
                             f"ready: {last_words(self.log())}")
        return self.health() == 200 and self.routed() and (not self.bpf or self.attached())

    def log(self) -> str:
        """Every incarnation's log, in order (felix restarts itself on a configuration change)."""
        return "".join(_read(p) for p in self.incarnations)

    def rss_kb(self) -> int:
        try:
            status = Path(f"/proc/{self.felix_pid()}/status").read_text()
        except (OSError, TypeError):
            return 0
        found = re.search(r"^VmHWM:\s+(\d+)", status, re.M)
        return int(found.group(1)) if found else 0

    def felix_pid(self) -> int | None:
        """nsenter execs felix, so the process's pid is felix's."""
        return self.felix.pid if self.felix and self.felix.alive() else None

    def stop(self) -> None:
        for proc in (self.felix, self.holder):
            if proc is not None:
                proc.stop(timeout=10.0)
        self.felix = self.holder = None
        if self.cgroup is not None:
            _remove_cgroup(self.cgroup)
            self.cgroup = None


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def last_words(log: str) -> str:
    """Felix's last complaint (a warning or worse), else its last line: what to tell a user when it
    died or never got ready."""
    lines = [ln for ln in log.splitlines() if ln.strip()]
    errors = [ln for ln in lines if re.search(r"\[(WARNING|ERROR|FATAL|PANIC)\]|^panic:", ln)]
    return ((errors or lines or ["no output"])[-1])[:400]


def felix_env(node: LabNode, kubeconfig: Path, *, starts_in_iptables_mode: bool) -> dict:
    """Felix's environment, as the FV infrastructure sets it (felix/fv/infrastructure/felix.go):
    the Kubernetes datastore, the node's name, logs to stdout only, no usage reporting; its health
    endpoint on the node's own loopback. FV gives each felix a cgroup of its own by naming a child
    of the cgroup root in FELIX_DEBUGBPFCGROUPV2 (a path under felix's cgroup mount,
    felix/bpf/nat/connecttime.go ensureCgroupPath); here the cgroup namespace already makes the
    node's cgroup that root, so felix's default is the node's own."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
           "KUBECONFIG": str(kubeconfig),
           "FELIX_DATASTORETYPE": "kubernetes",
           "FELIX_FELIXHOSTNAME": node.name,
           "FELIX_LOGSEVERITYSCREEN": "Info",
           "FELIX_LOGFILEPATH": "none",
           "FELIX_LOGSEVERITYSYS": "none",
           "FELIX_USAGEREPORTINGENABLED": "false",
           "FELIX_HEALTHENABLED": "true",
           "FELIX_HEALTHHOST": "127.0.0.1",
           "FELIX_HEALTHPORT": str(HEALTH_PORT)}
    if starts_in_iptables_mode:
        # Felix in iptables mode creates the connect-time LB maps only to remove them, walking
        # every map on the host to do it; a lab that never ran eBPF mode has nothing to remove.
        # FV sets the same knob (felix/fv/infrastructure/topology.go:320 @ v3.29.7); felix reads
        # it by this exact name (felix/bpf/nat/connecttime.go:81).
        env["FELIX_DebugSkipCTLBCleanup"] = "true"
    return env


def route_as_bird(topo: Topology, profile: Profile) -> None:
    """What calico-node's BIRD programs beside felix on every node: with an IPIP or unencapsulated
    pool, felix v3.29 and v3.31 leave the routes to the other nodes' blocks to BGP (felix programs
    them itself only for VXLAN, or from v3.31 with ProgramClusterRoutes, default Disabled:
    felix/dataplane/linux/int_dataplane.go ~693-711 @ v3.31.7), so the lab plays BIRD: each block
    via its node's Calico address, through tunl0 for IPIP, straight for no encapsulation, with
    BIRD's route protocol (12)."""
    encap = profile.pool_encapsulation
    if encap == "VXLAN":
        return
    for node in topo.nodes:
        run = NetnsExecutor(node.netns).run
        lines = []
        if encap == "IPIP":
            _ensure_tunl0(run, node)
            lines.append("link set tunl0 up")
        for peer in topo.nodes:
            if peer.index != node.index:
                address, device = calico_address(profile, peer)
                lines.append(f"route replace {block_cidr(peer.index)} via {address} "
                             + ("dev tunl0 onlink" if encap == "IPIP" else f"dev {device}") + " proto 12")
        done = run(["ip", "-batch", "-"], input="\n".join(lines) + "\n", timeout=20)
        if not done.succeeded:
            raise FelixError(f"cannot route the other nodes' pod blocks on {node.name} (BGP's part): "
                             f"{done.stderr.strip()[:200]}")


def _ensure_tunl0(run, node: LabNode) -> None:
    """The IPIP device BIRD's routes go through, made as felix's ipip_mgr.go makes it: the kernel
    creates tunl0 in every namespace once its ipip module is loaded, and `ip tunnel add` loads it."""
    if not run(["ip", "link", "show", "tunl0"], timeout=10).succeeded:
        made = run(["ip", "tunnel", "add", "tunl0", "mode", "ipip"], timeout=20)
        if not made.succeeded and "File exists" not in made.stderr:
            raise FelixError(f"cannot make tunl0 on {node.name}: {made.stderr.strip()[:200]}")


def kernel_lacks(profile: Profile) -> str | None:
    """Why this kernel cannot run the profile's real felix (None: it can, or nobody can tell): an
    IPIP pool needs IPIP devices (CONFIG_NET_IPIP), which some kernels leave out."""
    if profile.pool_encapsulation != "IPIP" or Path("/sys/module/ipip").exists():
        return None
    for path in (Path("/proc/config.gz"), Path(f"/boot/config-{platform.release()}")):
        try:
            text = (gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()).decode()
        except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError):
            continue
        if not re.search(r"^CONFIG_NET_IPIP=[ym]$", text, re.M):
            return f"Linux {platform.release()} has no IPIP devices (CONFIG_NET_IPIP is not set in {path})"
        return None
    return None


class RealFelix:
    """Felix on every node of ``topo``; ``start()`` returns when each is ready: /readiness answers
    200, the route to every other node's block (each family's, dual-stack) goes where the pool's
    encapsulation and felix's version say, and
    (eBPF mode) its programs are attached to both hooks of eth0, the pool's tunnel device (felix's
    default bpfDataIfacePattern holds vxlan.calico and tunl0) and the workload's interface."""

    def __init__(self, topo: Topology, build, api, *, bpf: bool, workdir: Path, pool_encapsulation: str = "VXLAN",
                 ipv6: bool = False):
        self.topo, self.build, self.api, self.bpf, self.workdir = topo, build, api, bpf, workdir
        self.route_dev = ROUTE_DEVICE[pool_encapsulation]
        # dual-stack: the IPv6 blocks' device (VXLAN pools only, lab/calicoobjects.py)
        self.route_dev6 = route_device6(build.tag) if ipv6 else None
        self.nodes: list[FelixNode] = []
        self.timings: dict = {}

    def start(self) -> None:
        t0 = time.monotonic()
        root = cgroup2_root()
        kubeconfig = self.api.kubeconfig("felix")
        for node in self.topo.nodes:
            ifaces = list(dict.fromkeys(["eth0", self.route_dev] + ([self.route_dev6] if self.route_dev6 else [])))
            ifaces += [self.topo.backend.host_iface] if node.name == self.topo.backend.node else []
            peers = [peer for peer in self.topo.nodes if peer.index != node.index]
            routes = [(block_cidr(peer.index), self.route_dev) for peer in peers]
            routes += [(block_cidr6(peer), self.route_dev6) for peer in peers] if self.route_dev6 else []
            self.nodes.append(FelixNode(
                node, self.build.felix, self.build.bpf, self.workdir,
                felix_env(node, kubeconfig, starts_in_iptables_mode=not self.bpf), tuple(ifaces),
                tuple(routes), bpf=self.bpf))
        for fn in self.nodes:
            fn.start(root)
        self._wait_ready()
        self.timings["felix_ready_s"] = round(time.monotonic() - t0, 2)
        self.timings["felix_ready_per_node_s"] = {fn.node.name: fn.ready_after_s for fn in self.nodes}

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        pending = list(self.nodes)
        while pending:
            for fn in list(pending):
                if fn.ready():
                    fn.ready_after_s = round(time.monotonic() - fn.started_at, 2)
                    pending.remove(fn)
            if not pending:
                return
            if time.monotonic() > deadline:
                fn = pending[0]
                what = ("/readiness" if fn.health() != 200 else "its routes" if not fn.routed()
                        else "its programs on " + ", ".join(fn.expected_ifaces))
                raise FelixError(f"felix on {fn.node.name} was not ready within {READY_TIMEOUT_S:g} s (waiting for "
                                 f"{what}): {last_words(fn.log())}")
            time.sleep(0.2)

    def logs(self) -> dict[str, str]:
        return {fn.node.name: fn.log() for fn in self.nodes}

    def peak_rss_kb(self) -> dict[str, int]:
        return {fn.node.name: fn.rss_kb() for fn in self.nodes}

    def stop(self) -> None:
        for fn in self.nodes:
            fn.stop()
        self.nodes = []
