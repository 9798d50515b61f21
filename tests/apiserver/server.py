"""A real HTTP server that stands in for the Kubernetes API server in the project's own tests.

Stateful and in-memory: objects are kept by (group, plural, namespace, name); it answers GET (one
and list, with labelSelector), POST (409 when it exists, 404 when the namespace does not), PUT,
PATCH (merge, strategic for maps and name-keyed lists, JSON patch), DELETE (a Namespace takes its
objects with it), /version and enough discovery (/api, /apis, /api/v1, /apis/G/V) for kubectl and
the Python client. A bearer token is required. Custom resources are served only while their CRD
exists, as on a real cluster. Requests are logged so tests can prove what was (not) written, and
reactors stand in for controllers (the operator, the kubelet, the service allocator).

It speaks TLS (kubectl sends no bearer token over plain HTTP) with a self-signed certificate made
by openssl for 127.0.0.1 and a few real-looking API hostnames, and it has a second, plain port that
acts as an HTTP proxy (CONNECT, then TLS to itself), so a kubeconfig can name a cluster's hostname
(an EKS or AKS endpoint) with ``proxy-url`` pointing here, as kubeconfigs may.
"""
from __future__ import annotations

import atexit
import copy
import functools
import itertools
import json
import shutil
import socketserver
import ssl
import subprocess
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

CERT_NAMES = ["localhost", "60F939227672BC3D5A1B3EC9744B2B21.gr7.us-west-2.eks.amazonaws.com",
              "mycalicocl-calicodemorg-03a087-36558dbb.hcp.canadaeast.azmk8s.io", "api.ocp1.example.com",
              "api.c1.example.com"]


@functools.lru_cache(maxsize=1)
def certificate() -> tuple[str, str]:
    """(cert.pem, key.pem): self-signed, valid for 127.0.0.1 and CERT_NAMES, made once per run."""
    d = Path(tempfile.mkdtemp(prefix="cc-apiserver-"))
    atexit.register(shutil.rmtree, d, ignore_errors=True)
    san = ",".join(["IP:127.0.0.1"] + [f"DNS:{n}" for n in CERT_NAMES])
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-keyout", str(d / "key.pem"), "-out", str(d / "cert.pem"), "-days", "2", "-subj", "/CN=stand-in",
                    "-addext", f"subjectAltName={san}", "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,digitalSignature,keyCertSign"],
                   check=True, capture_output=True, timeout=30)
    return str(d / "cert.pem"), str(d / "key.pem")


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    short: tuple[str, ...] = ()
    crd: bool = False                # served only while its CRD exists
    store_group: str | None = None   # projectcalico.org/v3 is a view of crd.projectcalico.org

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def key_group(self) -> str:
        return self.store_group if self.store_group is not None else self.group


def _r(group, version, kind, plural, namespaced, short=(), crd=False, store_group=None):
    return Resource(group, version, kind, plural, namespaced, tuple(short), crd, store_group)


RESOURCES = [
    _r("", "v1", "Namespace", "namespaces", False, ["ns"]),
    _r("", "v1", "Node", "nodes", False, ["no"]),
    _r("", "v1", "ConfigMap", "configmaps", True, ["cm"]),
    _r("", "v1", "Pod", "pods", True, ["po"]),
    _r("", "v1", "Service", "services", True, ["svc"]),
    _r("", "v1", "ServiceAccount", "serviceaccounts", True, ["sa"]),
    _r("", "v1", "Secret", "secrets", True),
    _r("", "v1", "Endpoints", "endpoints", True, ["ep"]),
    _r("apps", "v1", "DaemonSet", "daemonsets", True, ["ds"]),
    _r("apps", "v1", "Deployment", "deployments", True, ["deploy"]),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    _r("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False),
    _r("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    _r("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    _r("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False, ["crd"]),
    _r("operator.tigera.io", "v1", "Installation", "installations", False, crd=True),
    _r("operator.tigera.io", "v1", "APIServer", "apiservers", False, crd=True),
    _r("operator.tigera.io", "v1", "TigeraStatus", "tigerastatuses", False, crd=True),
    _r("crd.projectcalico.org", "v1", "FelixConfiguration", "felixconfigurations", False, crd=True),
    _r("crd.projectcalico.org", "v1", "IPPool", "ippools", False, crd=True),
    _r("crd.projectcalico.org", "v1", "ClusterInformation", "clusterinformations", False, crd=True),
    _r("projectcalico.org", "v3", "FelixConfiguration", "felixconfigurations", False, crd=True,
       store_group="crd.projectcalico.org"),
    _r("projectcalico.org", "v3", "IPPool", "ippools", False, crd=True, store_group="crd.projectcalico.org"),
    _r("operator.openshift.io", "v1", "Network", "networks", False, crd=True),
    _r("config.openshift.io", "v1", "Infrastructure", "infrastructures", False, crd=True),
]
BY_PATH = {(r.group, r.version, r.plural): r for r in RESOURCES}
BY_KIND = {(r.api_version, r.kind): r for r in RESOURCES}
WRITES = ("POST", "PUT", "PATCH", "DELETE")


@dataclass
class Request:
    method: str
    path: str
    content_type: str
    body: object


# ---- patch semantics ------------------------------------------------------------------

def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out


def strategic_patch(target, patch):
    """Strategic merge for the cases used here: maps merge, null deletes, lists of named maps
    merge by name, other lists are replaced; directives ($patch, $setElementOrder) are ignored."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            out.pop(key, None)
        elif isinstance(value, list) and isinstance(out.get(key), list) and value and all(
                isinstance(v, dict) and "name" in v for v in value + out[key]):
            merged = {item["name"]: item for item in out[key]}
            for item in value:
                merged[item["name"]] = strategic_patch(merged.get(item["name"]), item)
            out[key] = list(merged.values())
        else:
            out[key] = strategic_patch(out.get(key), value)
    return out


def json_patch(target, ops):
    doc = copy.deepcopy(target)
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent.setdefault(part, {})
        last = parts[-1]
        if op["op"] in ("add", "replace"):
            if isinstance(parent, list):
                idx = len(parent) if last == "-" else int(last)
                if op["op"] == "add":
                    parent.insert(idx, op["value"])
                else:
                    parent[idx] = op["value"]
            else:
                parent[last] = op["value"]
        elif op["op"] == "remove":
            if isinstance(parent, list):
                del parent[int(last)]
            else:
                del parent[last]
        elif op["op"] == "test":
            current = parent[int(last)] if isinstance(parent, list) else parent.get(last)
            if current != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
    return doc


def match_labels(labels: dict, selector: str | None) -> bool:
    if not selector:
        return True
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            k, v = term.split("!=", 1)
            if labels.get(k.strip()) == v.strip():
                return False
        elif "=" in term:
            k, v = term.replace("==", "=").split("=", 1)
            if labels.get(k.strip()) != v.strip():
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


# ---- the server ---------------------------------------------------------------------------

class FakeApiServer:
    scheme = "http"         # start() serves TLS; a subclass serving plain HTTP keeps "http"

    def __init__(self, *, token: str = "cc-test-token-s3cr3t-do-not-print", version: str = "v1.31.2"):
        self.token = token
        self.version = version
        self.objects: dict[tuple, dict] = {}
        self.requests: list[Request] = []
        self.reads: dict[tuple, int] = {}
        self._reactors: list[tuple[str, str, object]] = []
        self._lock = threading.RLock()
        self._rv = itertools.count(1000)
        self._httpd: ThreadingHTTPServer | None = None
        self._proxy: ThreadingHTTPServer | None = None
        cert, key = certificate()
        self.ca_file = cert
        self.ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ssl.load_cert_chain(cert, key)

    # -- lifecycle
    def start(self) -> "FakeApiServer":
        handler = type("Handler", (_Handler,), {"api": self})
        self._httpd = _TlsServer(("127.0.0.1", 0), handler, self.ssl)
        self.scheme = "https"
        self._proxy = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        for srv in (self._httpd, self._proxy):
            srv.daemon_threads = True
            threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        for srv in (self._httpd, self._proxy):
            if srv:
                srv.shutdown()
                srv.server_close()

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def proxy_url(self) -> str:
        return f"http://127.0.0.1:{self._proxy.server_address[1]}"

    # -- test helpers
    def seed(self, *objs: dict) -> None:
        for obj in objs:
            res = self.by_kind(obj["apiVersion"], obj["kind"])
            self._store(res, copy.deepcopy(obj))

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict | None:
        res = self.by_kind(api_version, kind)
        obj = self.objects.get(self._key(res, namespace, name))
        return copy.deepcopy(obj) if obj else None

    def all(self, api_version: str, kind: str) -> list[dict]:
        res = self.by_kind(api_version, kind)
        return [copy.deepcopy(o) for k, o in sorted(self.objects.items()) if k[:2] == (res.key_group, res.plural)]

    def put(self, obj: dict) -> None:
        """Change an object behind the clients' backs (a controller would)."""
        res = self.by_kind(obj["apiVersion"], obj["kind"])
        self._store(res, copy.deepcopy(obj))

    def react(self, verb: str, kind: str, fn) -> None:
        """Call ``fn(server, obj)`` after each ``verb`` ("create", "update", "read", "delete") of ``kind``."""
        self._reactors.append((verb, kind, fn))

    def writes(self) -> list[Request]:
        return [r for r in self.requests if r.method in WRITES]

    # -- the kinds served: the built-in table, plus any kind a stored CRD defines (as a real
    # API server serves a CRD's kinds once it is created)
    def resources(self) -> list[Resource]:
        out, known = list(RESOURCES), set(BY_KIND)
        for key, crd in list(self.objects.items()):
            if key[:2] != ("apiextensions.k8s.io", "customresourcedefinitions"):
                continue
            spec, names = crd.get("spec") or {}, (crd.get("spec") or {}).get("names") or {}
            for version in spec.get("versions") or []:
                res = _r(spec.get("group", ""), version.get("name", ""), names.get("kind", ""),
                         names.get("plural", ""), spec.get("scope") == "Namespaced",
                         names.get("shortNames") or (), crd=True)
                if version.get("served", True) and (res.api_version, res.kind) not in known:
                    known.add((res.api_version, res.kind))
                    out.append(res)
        return out

    def by_kind(self, api_version: str, kind: str) -> Resource:
        found = BY_KIND.get((api_version, kind)) or next(
            (r for r in self.resources() if (r.api_version, r.kind) == (api_version, kind)), None)
        if found is None:
            raise KeyError(f"the stand-in does not know {api_version} {kind} (and no CRD defines it)")
        return found

    def by_path(self, group: str, version: str, plural: str) -> Resource | None:
        return BY_PATH.get((group, version, plural)) or next(
            (r for r in self.resources() if (r.group, r.version, r.plural) == (group, version, plural)), None)

    # -- internals
    @staticmethod
    def _key(res: Resource, namespace, name):
        return (res.key_group, res.plural, namespace if res.namespaced else None, name)

    def _store(self, res: Resource, obj: dict) -> dict:
        meta = obj.setdefault("metadata", {})
        if not res.namespaced:
            meta.pop("namespace", None)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        meta.setdefault("generation", 1)
        meta["resourceVersion"] = str(next(self._rv))
        # stored under the canonical API; views (projectcalico.org/v3) rewrite apiVersion on the way out
        obj["apiVersion"] = f"{res.store_group}/v1" if res.store_group else res.api_version
        obj["kind"] = res.kind
        self.objects[self._key(res, meta.get("namespace"), meta["name"])] = obj
        return obj

    def _served_kind(self, api_version: str, kind: str) -> bool:
        return self._served(self.by_kind(api_version, kind))

    def _served(self, res: Resource) -> bool:
        if not res.crd:
            return True
        if res.store_group:   # the aggregated Calico API exists once the APIServer resource does
            return ("operator.tigera.io", "apiservers", None, "default") in self.objects
        return ("apiextensions.k8s.io", "customresourcedefinitions", None, f"{res.plural}.{res.group}") in self.objects

    def _view(self, res: Resource, obj: dict) -> dict:
        out = copy.deepcopy(obj)
        out["apiVersion"] = res.api_version
        return out

    def _fire(self, verb: str, res: Resource, obj: dict) -> None:
        for v, kind, fn in list(self._reactors):
            if v == verb and kind == res.kind:
                fn(self, obj)


class _TlsServer(ThreadingHTTPServer):
    def __init__(self, address, handler, context):
        self.context = context
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        try:     # the handshake runs in the request's thread, so a slow client blocks nobody
            request = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        super().finish_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    api: FakeApiServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True      # headers and body go out in two writes: no 40 ms delayed-ACK stall

    def log_message(self, format, *args):
        pass

    def do_CONNECT(self):
        """The proxy port: accept the tunnel, then be the API server inside it (TLS)."""
        self.send_response(200, "Connection established")
        self.end_headers()
        self.wfile.flush()
        try:
            self.connection = self.api.ssl.wrap_socket(self.connection, server_side=True)
        except (ssl.SSLError, OSError):
            self.close_connection = True
            return
        self.rfile = self.connection.makefile("rb", self.rbufsize)
        self.wfile = socketserver._SocketWriter(self.connection)
        self.close_connection = False

    # -- responses
    def _send(self, code: int, body, content_type: str = "application/json") -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _status(self, code: int, reason: str, message: str) -> None:
        self._send(code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "message": message, "reason": reason, "code": code})

    # -- dispatch
    def do_GET(self):
        self._handle("GET")

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def do_PATCH(self):
        self._handle("PATCH")

    def do_DELETE(self):
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        path, query = url.path.rstrip("/") or "/", {k: v[0] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0]
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            import yaml
            body = yaml.safe_load(raw)
        api = self.api
        with api._lock:
            api.requests.append(Request(method, path, ctype, body))
        if self.headers.get("Authorization") != f"Bearer {api.token}":
            return self._status(401, "Unauthorized", "Unauthorized")
        try:
            with api._lock:
                self._route(method, path, query, ctype, body)
        except (ValueError, KeyError, IndexError, TypeError) as exc:
            self._status(422, "Invalid", f"{type(exc).__name__}: {exc}")

    def _route(self, method, path, query, ctype, body):
        api = self.api
        parts = [p for p in path.split("/") if p]
        if path in ("/version", "/version/"):   # the Python client asks with the slash
            major, minor = api.version.lstrip("v").split(".")[:2]
            return self._send(200, {"major": major, "minor": minor, "gitVersion": api.version,
                                    "platform": "linux/amd64"})
        if path == "/api":
            return self._send(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"127.0.0.1:{api.port}"}]})
        if path == "/apis":
            return self._send(200, self._group_list())
        if parts[:1] == ["api"] and len(parts) == 2:
            return self._send(200, self._resource_list("", parts[1]))
        if parts[:1] == ["apis"] and len(parts) == 3:
            listing = self._resource_list(parts[1], parts[2])
            if not listing["resources"]:
                return self._status(404, "NotFound", "the server could not find the requested resource")
            return self._send(200, listing)
        if parts[:1] == ["api"] and len(parts) >= 3:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 4:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            return self._status(404, "NotFound", f"the server could not find the requested resource ({path})")
        namespace = None
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        plural, name, sub = rest[0], (rest[1] if len(rest) > 1 else None), (rest[2] if len(rest) > 2 else None)
        res = api.by_path(group, version, plural)
        if res is None or not api._served(res):
            return self._status(404, "NotFound", f"the server could not find the requested resource ({path})")
        if sub not in (None, "status"):
            return self._status(404, "NotFound", f"subresource {sub} is not served here")
        if name is None:
            if method == "GET":
                return self._list(res, namespace, query.get("labelSelector"))
            if method == "POST":
                return self._create(res, namespace, body)
            return self._status(405, "MethodNotAllowed", f"{method} on a collection")
        key = api._key(res, namespace, name)
        current = api.objects.get(key)
        if current is None:
            return self._status(404, "NotFound", f'{res.plural}.{res.group or "core"} "{name}" not found')
        if method == "GET":
            api.reads[key] = api.reads.get(key, 0) + 1
            api._fire("read", res, current)
            return self._send(200, api._view(res, api.objects[key]))
        if method == "PUT":
            body.setdefault("metadata", {})["name"] = name
            if namespace:
                body["metadata"]["namespace"] = namespace
            body["metadata"]["generation"] = current["metadata"].get("generation", 1) + (
                body.get("spec") != current.get("spec"))
            stored = api._store(res, body)
            api._fire("update", res, stored)
            return self._send(200, api._view(res, stored))
        if method == "PATCH":
            if ctype == "application/merge-patch+json":
                new = merge_patch(current, body)
            elif ctype == "application/strategic-merge-patch+json":
                if res.crd:
                    return self._status(415, "UnsupportedMediaType",
                                        "strategic merge patch is not supported for custom resources")
                new = strategic_patch(current, body)
            elif ctype == "application/json-patch+json":
                new = json_patch(current, body)
            elif ctype == "application/apply-patch+yaml":
                new = merge_patch(current, body)
            else:
                return self._status(415, "UnsupportedMediaType", f"patch type {ctype!r}")
            if new.get("spec") != current.get("spec"):
                new["metadata"]["generation"] = current["metadata"].get("generation", 1) + 1
            stored = api._store(res, new)
            api._fire("update", res, stored)
            return self._send(200, api._view(res, stored))
        if method == "DELETE":
            del api.objects[key]
            if res.kind == "Namespace":
                for k in [k for k in api.objects if k[2] == name]:
                    del api.objects[k]
            api._fire("delete", res, current)
            return self._send(200, api._view(res, current))
        return self._status(405, "MethodNotAllowed", method)

    def _list(self, res, namespace, selector):
        api = self.api
        items = [api._view(res, o) for k, o in sorted(api.objects.items())
                 if k[:2] == (res.key_group, res.plural) and (namespace is None or k[2] == namespace)
                 and match_labels(o["metadata"].get("labels") or {}, selector)]
        for item in items:
            api._fire("read", res, item)
        # reactors may have changed objects: answer with the stored state
        items = [api._view(res, api.objects[api._key(res, i["metadata"].get("namespace"), i["metadata"]["name"])])
                 for i in items if api._key(res, i["metadata"].get("namespace"), i["metadata"]["name"]) in api.objects]
        for item in items:
            item.pop("apiVersion", None)
            item.pop("kind", None)
        return self._send(200, {"apiVersion": res.api_version, "kind": f"{res.kind}List",
                                "metadata": {"resourceVersion": str(next(api._rv))}, "items": items})

    def _create(self, res, namespace, body):
        api = self.api
        if not isinstance(body, dict) or not body.get("metadata", {}).get("name"):
            return self._status(422, "Invalid", "metadata.name: Required value")
        if (body.get("apiVersion"), body.get("kind")) != (res.api_version, res.kind):
            return self._status(400, "BadRequest", f"the body is a {body.get('apiVersion')} {body.get('kind')}, "
                                                   f"not a {res.api_version} {res.kind}")
        if res.namespaced:
            ns = namespace or body["metadata"].get("namespace")
            if ns != namespace and body["metadata"].get("namespace"):
                return self._status(400, "BadRequest", "the namespace of the object does not match the request")
            if ("", "namespaces", None, ns) not in api.objects:
                return self._status(404, "NotFound", f'namespaces "{ns}" not found')
            body["metadata"]["namespace"] = ns
        key = api._key(res, namespace, body["metadata"]["name"])
        if key in api.objects:
            return self._status(409, "AlreadyExists",
                                f'{res.plural}.{res.group or "core"} "{body["metadata"]["name"]}" already exists')
        body.pop("status", None)     # status is a subresource: a create never sets it
        stored = api._store(res, body)
        api._fire("create", res, stored)
        return self._send(201, api._view(res, api.objects[key]))

    # -- discovery
    def _group_list(self):
        groups: dict[str, list[str]] = {}
        for r in self.api.resources():
            if r.group and self.api._served(r):
                groups.setdefault(r.group, [])
                if r.version not in groups[r.group]:
                    groups[r.group].append(r.version)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": [
            {"name": g, "versions": [{"groupVersion": f"{g}/{v}", "version": v} for v in vs],
             "preferredVersion": {"groupVersion": f"{g}/{vs[0]}", "version": vs[0]}}
            for g, vs in sorted(groups.items())]}

    def _resource_list(self, group, version):
        gv = f"{group}/{version}" if group else version
        out = []
        for r in self.api.resources():
            if (r.group, r.version) == (group, version) and self.api._served(r):
                out.append({"name": r.plural, "singularName": r.kind.lower(), "namespaced": r.namespaced,
                            "kind": r.kind, "shortNames": list(r.short),
                            "verbs": ["create", "delete", "get", "list", "patch", "update", "watch"]})
                out.append({"name": f"{r.plural}/status", "singularName": "", "namespaced": r.namespaced,
                            "kind": r.kind, "verbs": ["get", "patch", "update"]})
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}
