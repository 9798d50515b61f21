"""Kubeconfigs for the stand-in. With ``server_url`` set, the kubeconfig names that URL (an EKS
or AKS endpoint, say) and reaches the stand-in through ``proxy-url``, as a kubeconfig may."""
from __future__ import annotations

import base64
from pathlib import Path

import yaml

def write_kubeconfig(path: Path, server, *, server_url: str | None = None, context: str = "stand-in",
                     token: str | None = None, extra_contexts: tuple[str, ...] = ()) -> Path:
    ca = base64.b64encode(Path(server.ca_file).read_bytes()).decode()
    cluster = {"server": server_url or server.url, "certificate-authority-data": ca}
    if server_url:
        cluster["proxy-url"] = server.proxy_url
    config = {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "stand-in", "cluster": cluster}],
        "users": [{"name": "tester", "user": {"token": token or server.token}}],
        "contexts": [{"name": c, "context": {"cluster": "stand-in", "user": "tester"}}
                     for c in (context, *extra_contexts)],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path
