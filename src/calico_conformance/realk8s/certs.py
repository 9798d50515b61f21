"""The certificates one control plane needs, made for the run with the openssl CLI: a CA, the
API server's serving certificate (loopback), an admin client certificate (system:masters) and the
service-account signing key. Nothing is reused between runs."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from calico_conformance.executor import run_local
from calico_conformance.vocabulary.errors import ExecutorError


@dataclass(frozen=True)
class Certs:
    dir: Path

    ca = property(lambda self: self.dir / "ca.crt")
    ca_key = property(lambda self: self.dir / "ca.key")
    server = property(lambda self: self.dir / "apiserver.crt")
    server_key = property(lambda self: self.dir / "apiserver.key")
    admin = property(lambda self: self.dir / "admin.crt")
    admin_key = property(lambda self: self.dir / "admin.key")
    kube_proxy = property(lambda self: self.dir / "kube-proxy.crt")
    kube_proxy_key = property(lambda self: self.dir / "kube-proxy.key")
    sa_key = property(lambda self: self.dir / "sa.key")
    sa_pub = property(lambda self: self.dir / "sa.pub")


def _openssl(*args: str, cwd: Path) -> None:
    result = run_local(["openssl", *args], cwd=cwd, timeout=60)
    if not result.succeeded:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ExecutorError(f"openssl {args[0]} failed: {last}")


def _signed(c: Certs, name: str, subject: str, ext: str) -> None:
    d = c.dir
    (d / f"{name}.ext").write_text(ext)
    _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", subject, cwd=d)
    _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", "2", "-out", f"{name}.crt", "-extfile", f"{name}.ext", cwd=d)


def make(directory: Path) -> Certs:
    """EC keys (fast to make); valid two days, the run is minutes."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    c = Certs(directory)
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=calico-conformance-ca",
             cwd=directory)
    _signed(c, "apiserver", "/CN=kube-apiserver",
            "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default\n"
            "extendedKeyUsage=serverAuth\n")
    _signed(c, "admin", "/O=system:masters/CN=calico-conformance-admin", "extendedKeyUsage=clientAuth\n")
    # the identity the default RBAC binds to system:node-proxier, as kubeadm gives kube-proxy
    _signed(c, "kube-proxy", "/CN=system:kube-proxy", "extendedKeyUsage=clientAuth\n")
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "sa.key", cwd=directory)
    _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=directory)
    for key in directory.glob("*.key"):
        key.chmod(0o600)
    return c
