"""A real etcd + kube-apiserver on 127.0.0.1 for one run: random free ports, certificates and a
service-account key made for it, an admin kubeconfig in its own temporary directory. A context
manager starts it (ready when /readyz says so) and stops it; processes and directories go on
every exit (processes.py). There is no controller-manager or kubelet: what they would write, the
caller writes (docs/real-calico.md)."""
from __future__ import annotations

import atexit
import base64
import json
import os
import shutil
import socket
import ssl
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from calico_conformance import processes
from calico_conformance.realk8s import certs, etcd, versions
from calico_conformance.realk8s.cache import Cache, root
from calico_conformance.vocabulary.errors import UsageError

DIR_PREFIX = "cc-k8s-"
_live: set = set()


@atexit.register
def _stop_live() -> None:
    """A control plane whose owner never reached its __exit__ (SIGTERM outside a with block)."""
    for cp in list(_live):
        cp.stop()


def sweep_stale_dirs() -> list[Path]:
    """Directories of runs that were SIGKILLed (their processes died with them: processes.py)."""
    gone = []
    for path in Path(tempfile.gettempdir()).glob(f"{DIR_PREFIX}*-*"):
        pid = path.name[len(DIR_PREFIX):].split("-")[0]
        if pid.isdigit() and int(pid) != os.getpid() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(path, ignore_errors=True)
            gone.append(path)
    return gone


class ControlPlaneError(RuntimeError):
    """The control plane did not come up; one line with the component's last log line."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Binaries:
    etcd: str
    kube_apiserver: str

    @classmethod
    def from_cache(cls, cache: Cache | None = None) -> "Binaries":
        """The built apiserver and an etcd; a missing one is a UsageError naming the build command."""
        cache = cache or Cache(root())
        api = cache.binary("kube-apiserver", versions.KUBERNETES)
        found_etcd = etcd.find(cache)
        if not api.is_file() or not found_etcd:
            what = "kube-apiserver" if not api.is_file() else "etcd"
            raise UsageError(f"{what} is not built in {cache.root}; run `calico-conformance lab build` "
                             "(see docs/real-calico.md)")
        return cls(etcd=found_etcd, kube_apiserver=str(api))


@dataclass(eq=False)
class ControlPlane:
    binaries: Binaries | None = None
    service_cidr: str = "10.96.0.0/16"
    node_port_range: str = "30000-32767"
    ready_timeout: float = 90.0
    extra_args: tuple[str, ...] = ()
    log_dir: Path | None = None           # where the logs are copied at the end (evidence)
    timings: dict = field(default_factory=dict)

    def __post_init__(self):
        self.binaries = self.binaries or Binaries.from_cache()
        self.dir: Path | None = None
        self._procs: list[processes.Process] = []

    # ---- what callers use -----------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def kubeconfig(self) -> Path:
        return self.dir / "kubeconfig"

    def __enter__(self) -> "ControlPlane":
        processes.handle_signals()
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # ---- start / stop ---------------------------------------------------------------------
    def start(self) -> None:
        t0 = time.monotonic()
        sweep_stale_dirs()
        _live.add(self)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-"))
        self.dir.chmod(0o700)
        c = certs.make(self.dir / "pki")
        self.timings["certs_s"] = round(time.monotonic() - t0, 2)
        self.etcd_port, self.api_port = free_port(), free_port()
        peer = free_port()
        self._start("etcd", [
            self.binaries.etcd, "--name", "cc", "--data-dir", str(self.dir / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{self.etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{self.etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
            "--initial-cluster", f"cc=http://127.0.0.1:{peer}", "--log-level", "warn"])
        self._wait("etcd", self._etcd_ready)
        self.timings["etcd_ready_s"] = round(time.monotonic() - t0, 2)
        self._start("kube-apiserver", [
            self.binaries.kube_apiserver, "--etcd-servers", f"http://127.0.0.1:{self.etcd_port}",
            "--bind-address", "127.0.0.1", "--advertise-address", "127.0.0.1", "--secure-port", str(self.api_port),
            "--tls-cert-file", str(c.server), "--tls-private-key-file", str(c.server_key),
            "--client-ca-file", str(c.ca), "--service-account-key-file", str(c.sa_pub),
            "--service-account-signing-key-file", str(c.sa_key),
            "--service-account-issuer", "https://kubernetes.default.svc",
            "--authorization-mode", "RBAC", "--service-cluster-ip-range", self.service_cidr,
            "--service-node-port-range", self.node_port_range, "--cert-dir", str(self.dir / "apiserver-certs"),
            # No controller-manager creates the `default` ServiceAccount in new namespaces, so the
            # admission plugin that requires it would refuse every Pod.
            "--disable-admission-plugins", "ServiceAccount",
            # as kubeadm sets it: calico-node, kube-proxy and the suite's node agents are privileged
            "--allow-privileged=true",
            *self.extra_args])
        self._write_kubeconfig(c)
        self._ctx = ssl.create_default_context(cafile=str(c.ca))
        self._ctx.load_cert_chain(str(c.admin), str(c.admin_key))
        self._wait("kube-apiserver", self._api_ready)
        self.timings["apiserver_ready_s"] = round(time.monotonic() - t0, 2)

    def stop(self) -> None:
        for proc in reversed(self._procs):
            # the data is thrown away: no need to wait out the apiserver's graceful shutdown
            proc.stop(timeout=2.0 if proc.name == "kube-apiserver" else 10.0)
        self._procs = []
        if self.dir is not None:
            if self.log_dir is not None:
                self.log_dir.mkdir(parents=True, exist_ok=True)
                for log in self.dir.glob("*.log"):
                    shutil.copyfile(log, self.log_dir / log.name)
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None
        _live.discard(self)

    # ---- helpers ----------------------------------------------------------------------------
    def _start(self, name: str, argv: list[str]) -> None:
        self._procs.append(processes.Process(name, argv, self.dir / f"{name}.log"))

    def _wait(self, name: str, ready) -> None:
        proc = next(p for p in self._procs if p.name == name)
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if not proc.alive():
                raise ControlPlaneError(f"{name} exited {proc.proc.returncode} before it was ready: "
                                        f"{proc.last_log_line()}")
            if ready():
                return
            time.sleep(0.1)
        raise ControlPlaneError(f"{name} was not ready within {self.ready_timeout:g} s: {proc.last_log_line()}")

    def _etcd_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.etcd_port}/health", timeout=2) as resp:
                return json.loads(resp.read()).get("health") == "true"
        except (OSError, ValueError):
            return False

    def _api_ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/readyz", timeout=2, context=self._ctx) as resp:
                return resp.status == 200
        except OSError:
            return False

    def _write_kubeconfig(self, c: certs.Certs) -> None:
        b64 = lambda p: base64.b64encode(p.read_bytes()).decode()
        config = {"apiVersion": "v1", "kind": "Config", "current-context": "cc-real",
                  "clusters": [{"name": "cc-real", "cluster": {"server": self.url,
                                                               "certificate-authority-data": b64(c.ca)}}],
                  "users": [{"name": "cc-admin", "user": {"client-certificate-data": b64(c.admin),
                                                           "client-key-data": b64(c.admin_key)}}],
                  "contexts": [{"name": "cc-real", "context": {"cluster": "cc-real", "user": "cc-admin"}}]}
        self.kubeconfig.write_text(yaml.safe_dump(config))
        self.kubeconfig.chmod(0o600)
