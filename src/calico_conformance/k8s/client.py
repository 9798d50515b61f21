"""Objects in and out of the API server as plain dicts, through the official client.

Core kinds go through ``CoreV1Api`` (its method names follow the kind: ``read_namespaced_config_map``),
every grouped kind (apps, rbac, CRDs, Calico, the operator, OpenShift) through ``CustomObjectsApi``,
whose paths are generic. Responses are read raw (``_preload_content=False``) and parsed as JSON, so
an object the typed models would reject (a CR, a partial object) still comes back whole.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import yaml

from calico_conformance.k8s import resources
from calico_conformance.k8s.resources import Ref
from calico_conformance.redact import redact_text
from calico_conformance.vocabulary.errors import TargetError

PATCH_TYPES = {"merge": "application/merge-patch+json",
               "strategic": "application/strategic-merge-patch+json",
               "json": "application/json-patch+json"}


class Conflict(TargetError):
    """The object already exists (HTTP 409)."""


def obj_ref(obj: dict) -> tuple[str, str, str, str | None]:
    meta = obj.get("metadata", {})
    return obj["apiVersion"], obj["kind"], meta.get("name", ""), meta.get("namespace")


def _default_kubeconfig() -> str:
    return os.environ.get("KUBECONFIG") or str(Path.home() / ".kube" / "config")


MAX_KUBECONFIG_BYTES = 4 << 20   # a kubeconfig with embedded certificates is a few KiB


def require_kubeconfig(kubeconfig: str | None = None) -> str:
    """The kubeconfig path(s) to use; a missing file is a one-line error that names where the
    path came from (the option, $KUBECONFIG, or the default)."""
    path = kubeconfig or _default_kubeconfig()
    if not any(Path(p).expanduser().is_file() for p in path.split(os.pathsep) if p):
        if kubeconfig:
            what = "is a directory" if Path(kubeconfig).expanduser().is_dir() else "does not exist"
            raise TargetError(f"kubeconfig {path} {what}; give the path of a kubeconfig file "
                              "(the one `kubectl config view` uses)")
        if os.environ.get("KUBECONFIG"):
            raise TargetError(f"KUBECONFIG names {path}, which is not a file; fix KUBECONFIG "
                              "or pass --kubeconfig PATH")
        raise TargetError(f"no kubeconfig at {path}; pass --kubeconfig PATH (or set KUBECONFIG)")
    return path


def check_kubeconfig(path: str) -> None:
    """Each file of ``path`` is readable YAML holding a mapping, and not huge: the kubernetes
    client would otherwise end in a YAML or TypeError traceback. Raises ``TargetError``."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for name in (p for p in path.split(os.pathsep) if p):
        file = Path(name).expanduser()
        if not file.is_file():
            continue     # the client skips missing files of a KUBECONFIG list, as kubectl does
        try:
            if file.stat().st_size > MAX_KUBECONFIG_BYTES:
                raise TargetError(f"kubeconfig {name} is larger than {MAX_KUBECONFIG_BYTES >> 20} MiB, "
                                  "so it is not a kubeconfig; give the right file with --kubeconfig")
            data = yaml.load(file.read_bytes(), Loader=loader)
        except OSError as exc:
            raise TargetError(f"cannot read kubeconfig {name}: {exc.strerror or exc}") from None
        except (yaml.YAMLError, RecursionError, UnicodeDecodeError, ValueError) as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}" if mark is not None else ""
            raise TargetError(f"kubeconfig {name} is not valid YAML{where}; fix it or pass another "
                              "with --kubeconfig") from None
        if not isinstance(data, dict):
            shape = "empty" if data is None else f"a YAML {type(data).__name__}, not a mapping"
            raise TargetError(f"kubeconfig {name} is {shape}; a kubeconfig has clusters, users and "
                              "contexts (see `kubectl config view`)")


def connect(kubeconfig: str | None = None, context: str | None = None, *,
            timeout: float = 10.0) -> "Kube":
    """A client for the cluster of ``context`` in ``kubeconfig`` that has answered /version."""
    api, path = api_client(kubeconfig, context)
    kube = Kube(api, kubeconfig=path, context=context, timeout=timeout)
    kube.version()
    return kube


def api_client(kubeconfig: str | None = None, context: str | None = None):
    """-> (the kubernetes ApiClient of ``context`` in ``kubeconfig``, the path used), loaded but
    not yet used: nothing is contacted. Every bad kubeconfig is a one-line ``TargetError``."""
    from kubernetes import client, config
    path = require_kubeconfig(kubeconfig)
    check_kubeconfig(path)
    cfg = client.Configuration()
    cfg.retries = 0          # an unreachable API should fail in seconds, not after urllib3's retries
    try:
        api = config.new_client_from_config(config_file=path, context=context, client_configuration=cfg)
    except config.ConfigException as exc:
        if context:
            try:
                names = [c["name"] for c in config.list_kube_config_contexts(config_file=path)[0]]
            except Exception:
                names = []
            if context not in names:
                raise TargetError(f"context {context!r} is not in {path}; choose one of: "
                                  f"{', '.join(names) or '(none)'} with --context") from None
        raise TargetError(f"cannot use kubeconfig {path}: {redact_text(str(exc))}; "
                          "fix it or pass another with --kubeconfig") from None
    except (OSError, ValueError) as exc:
        raise TargetError(f"cannot read kubeconfig {path}: {redact_text(str(exc))}") from None
    except (TypeError, AttributeError, KeyError, IndexError) as exc:   # a field of the wrong shape
        raise TargetError(f"kubeconfig {path} is malformed ({type(exc).__name__}: "
                          f"{redact_text(str(exc))[:120]}); compare it with `kubectl config view`") from None
    return api, path


class Kube:
    def __init__(self, api_client, *, kubeconfig: str | None = None, context: str | None = None,
                 timeout: float = 20.0):
        from kubernetes import client
        self.api_client = api_client
        self.kubeconfig, self.context, self.timeout = kubeconfig, context, timeout
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self._discovered: dict[tuple[str, str], Ref] = {}

    @property
    def host(self) -> str:
        """The API server URL the kubeconfig names (what `kubectl cluster-info` prints)."""
        return self.api_client.configuration.host

    # ---- plumbing -------------------------------------------------------------------
    def _call(self, fn, *args, what: str, raw: bool = False, **kwargs):
        from kubernetes.client.exceptions import ApiException
        kwargs.setdefault("_request_timeout", self.timeout)
        try:
            resp = fn(*args, _preload_content=False, **kwargs)
        except ApiException as exc:
            if exc.status in (401, 403):
                raise TargetError(f"the API server refused to {what} ({exc.status} {exc.reason}); "
                                  "check the kubeconfig's credentials and RBAC") from None
            raise _ApiError(exc.status, _message(exc.body) or str(exc.reason), what) from None
        except Exception as exc:   # urllib3 connection / TLS / timeout errors
            if type(exc).__module__.startswith(("urllib3", "socket", "ssl")) or isinstance(exc, OSError):
                raise TargetError(f"cannot reach the API server at {self.host} to {what}: "
                                  f"{redact_text(_short(exc))}; is the cluster up, and are --kubeconfig "
                                  "and --context right?") from None
            raise
        data = resp.data
        if raw:
            return data or b""
        return json.loads(data) if data else {}

    def ref(self, api_version: str, kind: str) -> Ref:
        ref = resources.known(api_version, kind) or self._discovered.get((api_version, kind))
        if ref:
            return ref
        group, _, version = api_version.rpartition("/")
        try:
            if group:
                listing = self._call(self.custom.get_api_resources, group, version,
                                     what=f"discover {api_version}")
            else:
                listing = self._call(self.core.get_api_resources, what="discover v1")
        except _ApiError as exc:
            if exc.status == 404:
                raise TargetError(f"the cluster does not serve {api_version}; is its CRD installed?") from None
            raise
        ref = resources.from_discovery(api_version, kind, listing)
        if not ref:
            raise TargetError(f"the cluster serves {api_version} but not kind {kind}")
        self._discovered[(api_version, kind)] = ref
        return ref

    def served(self, api_version: str, kind: str) -> bool:
        """Whether the API currently serves ``kind`` (discovery, never cached as absent)."""
        self._discovered.pop((api_version, kind), None)
        group, _, version = api_version.rpartition("/")
        try:
            listing = (self._call(self.custom.get_api_resources, group, version, what="discover")
                       if group else self._call(self.core.get_api_resources, what="discover"))
        except _ApiError:
            return False
        return resources.from_discovery(api_version, kind, listing) is not None

    def _dispatch(self, verb: str, ref: Ref, namespace: str | None, *, what: str, **kw):
        """Call ``verb`` for ``ref``: CoreV1Api for core kinds (methods named after the kind),
        CustomObjectsApi otherwise. ``kw`` (name, body, options) goes by keyword: both APIs name those
        alike. Only a list has an all-namespaces form."""
        every_ns = verb == "list" and ref.namespaced and not namespace
        in_ns = ref.namespaced and not every_ns
        if ref.core:
            method = (f"{verb}_{ref.snake}_for_all_namespaces" if every_ns else
                      f"{verb}_{'namespaced_' if in_ns else ''}{ref.snake}")
            if in_ns:
                kw["namespace"] = namespace
            return self._call(getattr(self.core, method), what=what, **kw)
        verb = "get" if verb == "read" else verb      # CustomObjectsApi says get where CoreV1Api says read
        method = (f"{verb}_custom_object_for_all_namespaces" if every_ns else
                  f"{verb}_{'namespaced' if in_ns else 'cluster'}_custom_object")
        # The path prefix goes by position: one method calls plural "resource_plural".
        scope = (namespace, ref.plural) if in_ns else (ref.plural,)
        return self._call(getattr(self.custom, method), ref.group, ref.version, *scope, what=what, **kw)

    # ---- verbs ----------------------------------------------------------------------
    def version(self) -> dict:
        from kubernetes import client
        return self._call(client.VersionApi(self.api_client).get_code, what="read /version")

    def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict | None:
        ref = self.ref(api_version, kind)
        what = f"read {ref.describe(name, namespace)}"
        try:
            return self._dispatch("read", ref, namespace, name=name, what=what)
        except _ApiError as exc:
            if exc.status == 404:
                return None
            raise exc.error() from None

    def list(self, api_version: str, kind: str, namespace: str | None = None, *,
             label_selector: str | None = None) -> list[dict]:
        ref = self.ref(api_version, kind)
        what = f"list {ref.api_version} {ref.plural}"
        kw = {"label_selector": label_selector} if label_selector else {}
        try:
            out = self._dispatch("list", ref, namespace, what=what, **kw)
        except _ApiError as exc:
            if exc.status == 404:      # the resource type is not served (no CRD): nothing to list
                return []
            raise exc.error() from None
        items = out.get("items") or []
        for item in items:             # list items carry no apiVersion/kind; put them back
            item.setdefault("apiVersion", ref.api_version)
            item.setdefault("kind", ref.kind)
        return items

    def pod_log(self, name: str, namespace: str, *, container: str | None = None,
                limit_bytes: int = 2 << 20) -> str | None:
        """The first ``limit_bytes`` of a container's current log (start-up lines come first), or
        None where the API server cannot give it (no kubelet to ask, the pod gone)."""
        kw = {"limit_bytes": limit_bytes, **({"container": container} if container else {})}
        try:
            data = self._call(self.core.read_namespaced_pod_log, name, namespace, raw=True,
                              what=f"read the log of pod {namespace}/{name}", **kw)
        except _ApiError:
            return None
        return data.decode("utf-8", "replace")

    def create(self, obj: dict) -> dict:
        api_version, kind, name, namespace = obj_ref(obj)
        ref = self.ref(api_version, kind)
        ns = namespace if ref.namespaced else None
        what = f"create {ref.describe(name, ns)}"
        try:
            return self._dispatch("create", ref, ns, body=obj, what=what)
        except _ApiError as exc:
            if exc.status == 409:
                raise Conflict(f"{ref.describe(name, ns)} already exists") from None
            raise exc.error() from None

    def patch(self, api_version: str, kind: str, name: str, patch, *, namespace: str | None = None,
              patch_type: str = "merge") -> dict:
        ref = self.ref(api_version, kind)
        ns = namespace if ref.namespaced else None
        what = f"patch ({patch_type}) {ref.describe(name, ns)}"
        try:
            return self._dispatch("patch", ref, ns, name=name, body=patch, what=what,
                                  _content_type=PATCH_TYPES[patch_type])
        except _ApiError as exc:
            raise exc.error() from None

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        """Delete; False if it was not there."""
        ref = self.ref(api_version, kind)
        ns = namespace if ref.namespaced else None
        what = f"delete {ref.describe(name, ns)}"
        try:
            self._dispatch("delete", ref, ns, name=name, what=what)
            return True
        except _ApiError as exc:
            if exc.status == 404:
                return False
            raise exc.error() from None

    def create_or_merge(self, obj: dict) -> tuple[str, dict]:
        """Create ``obj``, or merge-patch it onto the existing one. Returns ("created"|"patched", obj)."""
        try:
            return "created", self.create(obj)
        except Conflict:
            api_version, kind, name, namespace = obj_ref(obj)
            body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
            return "patched", self.patch(api_version, kind, name, body, namespace=namespace)


class _ApiError(Exception):
    def __init__(self, status, message, what):
        super().__init__(message)
        self.status, self.message, self.what = status, message, what

    def error(self) -> TargetError:
        return TargetError(f"cannot {self.what}: API answered {self.status}: {redact_text(self.message)}")


def _message(body) -> str:
    try:
        return json.loads(body).get("message", "")
    except (TypeError, ValueError, AttributeError):
        return str(body or "")[:200]


def _short(exc: Exception) -> str:
    text = str(exc)
    reason = getattr(exc, "reason", None)
    if reason is not None:
        text = str(reason)
    return text.split("\n")[0][:200]
