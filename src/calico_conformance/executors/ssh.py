"""SSH to a VM or bare-metal node: BatchMode (never a password prompt), a connect timeout, and the
remote argv quoted word by word, because the remote side always runs it through a shell."""
from __future__ import annotations

import shlex

from calico_conformance.executors.wrapped import WrappedExecutor

SSH_FAILED = 255   # ssh's own exit code for connection/authentication failures


class SshExecutor(WrappedExecutor):
    def __init__(self, host: str, *, user: str | None = None, port: int | None = None,
                 identity_file: str | None = None, options: dict | None = None,
                 connect_timeout: int = 10, name: str | None = None, ssh: str = "ssh",
                 sudo: bool = False):
        self.host, self.user, self.port = host, user, port
        self.identity_file, self.options = identity_file, dict(options or {})
        self.connect_timeout, self.ssh, self.sudo = connect_timeout, ssh, sudo
        self.name = name or host

    def argv(self, argv) -> list[str]:
        cmd = [self.ssh, "-o", "BatchMode=yes", "-o", f"ConnectTimeout={self.connect_timeout}"]
        for key, value in self.options.items():
            cmd += ["-o", f"{key}={value}"]
        if self.port:
            cmd += ["-p", str(self.port)]
        if self.identity_file:
            cmd += ["-i", self.identity_file]
        if self.user:
            cmd += ["-l", self.user]
        remote = (["sudo", "-n"] if self.sudo else []) + list(argv)
        return cmd + [self.host, "--", shlex.join(remote)]

    @property
    def where(self) -> str:
        return f"node {self.name} (ssh {self.host})"

    # ssh marks its own failures by exit code, not by text; its last stderr line says why.
    def transport_failure(self, result):
        if result.rc == SSH_FAILED:
            last = (result.stderr.strip().splitlines() or ["no message"])[-1]
            return (f"ssh to {self.host} failed: {last}; check the inventory's host, user "
                    "and key (BatchMode: no password prompts)")
        return None

    def missing_tool(self, argv, result):
        if result.rc == 127 and "not found" in result.stderr:
            return f"`{argv[0]}` is not installed on {self.where}; install it there"
        return None
