"""OpenSSH servers on the lab's nodes, so ``--target ssh`` can be run against the lab over real SSH.

One ``/usr/sbin/sshd`` per node, started in the node's network namespace with ``ip netns exec``
(so a session sees the node's /sys, as ``NetnsExecutor`` commands do), listening only on the
node's fabric address, with its own sshd_config: public keys only, root only, from the lab's
client address only, no forwarding. The keys are made for the run with ssh-keygen: one host key
per node (the client checks them against a known_hosts file, StrictHostKeyChecking=yes) and one
client key.

Nothing is left behind: each sshd is told by the kernel to exit when the process that started it
dies (PR_SET_PDEATHSIG, so even a SIGKILLed run's servers end), ``stop()`` ends the servers and
whatever their sessions left running in the node namespaces (a detached tcpdump), and removes the
key directory. A SIGKILLed run's key directory carries its pid in the name and is removed by the
next lab bring-up (``sweep_stale``). sshd needs its privilege-separation directory /run/sshd;
where the host has none, the lab makes one (marked as its own) and the last lab sshd removes it.
"""
from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import shutil
import signal
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from calico_conformance import netns, processes
from calico_conformance.executor import NetnsExecutor, run_local
from calico_conformance.lab import sweeper
from calico_conformance.lab.topology import CLIENT_IP, PREFIX, Topology
from calico_conformance.vocabulary.errors import ExecutorError, UsageError

SSHD = "/usr/sbin/sshd"          # absolute: sshd re-executes itself for every connection
PORT = 22
USER = "root"
PRIVSEP_DIR = "/run/sshd"        # compiled into Debian's sshd; the pre-auth child chroots here
PRIVSEP_MARK = ".made-by-calico-conformance-lab"
READY_TIMEOUT_S = 10.0


class SshdError(UsageError):
    pass


@dataclass(frozen=True)
class SshAccess:
    """What an SSH client needs to reach the lab's nodes."""
    identity_file: str
    known_hosts: str
    user: str = USER
    port: int = PORT

    def options(self) -> dict:
        """ssh -o options: this run's host keys only, this key only, no ~/.ssh state touched."""
        return {"StrictHostKeyChecking": "yes", "UserKnownHostsFile": self.known_hosts,
                "GlobalKnownHostsFile": "/dev/null", "IdentitiesOnly": "yes", "LogLevel": "ERROR"}


def _sshd_config(keys: str, node) -> str:
    return "\n".join([
        f"ListenAddress {node.address}:{PORT}",
        f"HostKey {keys}/{node.name}_host_ed25519",
        "PidFile none",
        f"AuthorizedKeysFile {keys}/authorized_keys",
        # The key directory is a private (0700) mkdtemp directory, but it sits in the
        # world-writable temp directory, which StrictModes would refuse as a path component.
        "StrictModes no",
        "PubkeyAuthentication yes",
        "AuthenticationMethods publickey",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "HostbasedAuthentication no",
        "PermitRootLogin prohibit-password",
        f"AllowUsers {USER}",
        "UsePAM no",
        "PermitEmptyPasswords no",
        "PermitUserEnvironment no",
        "AllowTcpForwarding no",
        "AllowAgentForwarding no",
        "AllowStreamLocalForwarding no",
        "X11Forwarding no",
        "PermitTunnel no",
        "PrintMotd no",
        "PrintLastLog no",
        "UseDNS no",
        # A home of its own (empty): a lab node is a fresh machine, and the host's root dotfiles
        # must not run in every session (bash sources ~/.bashrc under sshd; on the build machines
        # a pyenv init there forks ~100 processes per command).
        f"SetEnv HOME={keys}/home",
        # Classic curve25519 only: the default post-quantum hybrid (sntrup761) costs ~0.2 s of
        # CPU per connection on a busy 2-core machine, and every node command is a connection.
        "KexAlgorithms curve25519-sha256,curve25519-sha256@libssh.org",
        # The suite's captures open a handful of connections per node at once.
        "MaxStartups 64:30:128",
        "LogLevel INFO",             # one "Accepted publickey" line per connection: logins()
    ]) + "\n"


def _keygen(path: str, comment: str) -> str:
    """An ed25519 key pair at ``path`` (no passphrase); returns the public key line."""
    try:
        result = run_local(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path], timeout=20)
    except ExecutorError:
        raise SshdError("ssh-keygen is not installed; install openssh-client (apt-get install "
                        "openssh-client openssh-server)") from None
    if not result.succeeded:
        raise SshdError(f"ssh-keygen failed: {(result.stderr.strip().splitlines() or ['no message'])[-1]}")
    with open(path + ".pub") as f:
        return f.read().strip()


# ---- /run/sshd, shared by every lab sshd on the host ------------------------------------------

@contextlib.contextmanager
def _privsep_lock():
    fd = os.open(os.path.dirname(PRIVSEP_DIR), os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _key_dir_prefix(run_id: str = "") -> str:
    return os.path.join(tempfile.gettempdir(), f"{PREFIX}-{run_id}")


def _key_dirs() -> list[str]:
    return glob.glob(_key_dir_prefix() + "*-sshd-*")


def _owner_alive(path: str) -> bool:
    pid = sweeper._owner_pid(os.path.basename(path))
    return pid is None or pid == os.getpid() or sweeper.alive(pid)


def _claim_privsep() -> None:
    with _privsep_lock():
        if not os.path.isdir(PRIVSEP_DIR):
            os.mkdir(PRIVSEP_DIR, 0o755)
            open(os.path.join(PRIVSEP_DIR, PRIVSEP_MARK), "w").close()


def _release_privsep() -> None:
    """Remove /run/sshd if a lab made it and no lab sshd is left (called after our key dir went)."""
    with _privsep_lock():
        if os.path.exists(os.path.join(PRIVSEP_DIR, PRIVSEP_MARK)) and not any(map(_owner_alive, _key_dirs())):
            shutil.rmtree(PRIVSEP_DIR, ignore_errors=True)


def _netns_pids(ns: str) -> list[int]:
    out = run_local(["ip", "netns", "pids", ns], timeout=10).stdout
    return [int(p) for p in out.split() if p.isdigit() and int(p) != os.getpid()]


def _kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def sweep_stale() -> list[str]:
    """Key directories of runs that died hard, and what their sessions left running in their
    namespaces (run before the namespaces themselves are swept, while they can still be found)."""
    for ns in sweeper.stale():
        _kill(_netns_pids(ns))
    gone = [d for d in _key_dirs() if not _owner_alive(d)]
    for d in gone:
        shutil.rmtree(d, ignore_errors=True)
    if gone:
        _release_privsep()
    return gone


# ---- the servers ------------------------------------------------------------------------------

class LabSshd:
    """One sshd per lab node. ``start()`` returns once every node answers with an SSH banner."""

    def __init__(self, topo: Topology):
        self.topo = topo
        self.keys: str | None = None
        self.access: SshAccess | None = None
        self._procs: dict[str, processes.Process] = {}

    def start(self) -> SshAccess:
        if not os.path.exists(SSHD):
            raise SshdError(f"{SSHD} is not installed; install openssh-server (apt-get install openssh-server)")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self.access

    def _start(self) -> None:
        self.keys = tempfile.mkdtemp(prefix=os.path.basename(_key_dir_prefix(self.topo.spec.run_id)) + "-sshd-")
        _claim_privsep()
        os.mkdir(os.path.join(self.keys, "home"), 0o700)
        client_key = os.path.join(self.keys, "client_ed25519")
        pub = _keygen(client_key, "calico-conformance-lab-client")
        with open(os.path.join(self.keys, "authorized_keys"), "w") as f:
            f.write(f'from="{CLIENT_IP}",restrict {pub}\n')
        known = []
        for node in self.topo.nodes:
            host_pub = _keygen(os.path.join(self.keys, f"{node.name}_host_ed25519"), node.name)
            known.append(f"{node.address} {' '.join(host_pub.split()[:2])}")
            config = os.path.join(self.keys, f"{node.name}_sshd_config")
            with open(config, "w") as f:
                f.write(_sshd_config(self.keys, node))
        known_hosts = os.path.join(self.keys, "known_hosts")
        with open(known_hosts, "w") as f:
            f.write("\n".join(known) + "\n")
        for node in self.topo.nodes:
            # ip, then sshd, keep this pid, and the kernel sends it SIGTERM when this process dies,
            # however it dies (processes.py: setpriv --pdeathsig)
            self._procs[node.name] = processes.Process(
                f"sshd on lab {node.name}", NetnsExecutor(node.netns, node.name).wrap(
                    [SSHD, "-D", "-e", "-f", os.path.join(self.keys, f"{node.name}_sshd_config")]),
                Path(self.keys) / f"{node.name}_sshd.log", death_signal="TERM")
        for node in self.topo.nodes:
            self._wait_ready(node)
        self.access = SshAccess(identity_file=client_key, known_hosts=known_hosts)

    def _wait_ready(self, node) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        proc = self._procs[node.name]
        while True:
            if not proc.alive():
                raise SshdError(f"sshd on lab {node.name} exited at start: {self._last_log_line(node)}")
            try:
                with netns.socket_in(node.netns, socket.AF_INET, socket.SOCK_STREAM) as s:
                    s.settimeout(1.0)
                    s.connect((node.address, PORT))
                    if s.recv(64).startswith(b"SSH-2.0-"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SshdError(f"sshd on lab {node.name} did not answer on {node.address}:{PORT} "
                                f"within {READY_TIMEOUT_S:g} s: {self._last_log_line(node)}")
            time.sleep(0.05)

    def _last_log_line(self, node) -> str:
        try:
            with open(os.path.join(self.keys, f"{node.name}_sshd.log"), errors="replace") as f:
                return (f.read().strip().splitlines() or ["no output"])[-1]
        except OSError:
            return "no output"

    def logins(self, node_name: str) -> int:
        """How many SSH sessions the node's server accepted so far."""
        with open(os.path.join(self.keys, f"{node_name}_sshd.log"), errors="replace") as f:
            return sum(line.startswith("Accepted publickey for ") for line in f)

    def inventory(self, kubeconfig: str | None = None) -> dict:
        """A ``--target ssh`` inventory for the lab's nodes (the suite runs in the client namespace)."""
        a = self.access
        inv = {"defaults": {"user": a.user, "port": a.port, "identity_file": a.identity_file,
                            "options": a.options()},
               "nodes": [{"name": n.name, "host": n.address} for n in self.topo.nodes]}
        if kubeconfig:
            inv["kubeconfig"] = kubeconfig
        return inv

    def stop(self) -> None:
        """Idempotent: the servers, what their sessions left in the node namespaces, the keys."""
        for proc in self._procs.values():
            proc.stop(timeout=5)
        if self._procs:
            for node in self.topo.nodes:
                if netns.exists(node.netns):
                    _kill(_netns_pids(node.netns))
        self._procs = {}
        self.access = None
        if self.keys:
            shutil.rmtree(self.keys, ignore_errors=True)
            self.keys = None
            _release_privsep()
