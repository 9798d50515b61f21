"""Objects into a real API server, the way kubectl does it: server-side apply (create or update
in one call), ``--dry-run=server`` and strict field validation on request, status written through
the status subresource (there is no kubelet or controller to write it), CRDs waited on until
Established."""
from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import yaml

MANAGER = "calico-conformance"


class ApplyError(RuntimeError):
    """The API server refused an object: which one, and the server's own message."""


def client(kubeconfig: str):

    from kubernetes import config
    from kubernetes.dynamic import DynamicClient

    # The discovery cache goes beside the run's kubeconfig (a temp dir removed with the control
    # plane); the default is a /tmp/osrcp-*.json that nothing ever removes.
    cache = Path(kubeconfig).resolve().parent / "discovery-cache.json"
    return DynamicClient(config.new_client_from_config(config_file=str(kubeconfig)), cache_file=str(cache))


def describe(obj: dict) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


def _message(exc) -> str:
    try:
        return json.loads(exc.body).get("message") or str(exc)
    except (TypeError, ValueError, AttributeError):
        return str(exc).splitlines()[0]


def _resource(dyn, obj: dict):
    from kubernetes.dynamic.exceptions import ResourceNotFoundError
    try:
        return dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
    except ResourceNotFoundError:
        dyn.resources.invalidate_cache()        # a CRD applied a moment ago
        try:
            return dyn.resources.get(api_version=obj["apiVersion"], kind=obj["kind"])
        except ResourceNotFoundError:
            raise ApplyError(f"{describe(obj)}: the API server does not serve {obj['apiVersion']} "
                             f"{obj['kind']}; is its CRD applied?") from None


def apply(dyn, obj: dict, *, dry_run: bool = False, strict: bool = True) -> dict:
    """Server-side apply ``obj`` (and its status, if it has one and is not a dry run); the object
    as the server keeps it (or would keep it)."""
    from kubernetes.dynamic.exceptions import DynamicApiError
    res = _resource(dyn, obj)
    body = copy.deepcopy(obj)
    status = body.pop("status", None)
    meta = body.setdefault("metadata", {})
    for volatile in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
        meta.pop(volatile, None)
    ns = meta.get("namespace") if res.namespaced else None
    if res.namespaced and not ns:
        ns = meta["namespace"] = "default"
    params = {"field_manager": MANAGER, "force_conflicts": True,
              "query_params": [("fieldValidation", "Strict" if strict else "Warn")]}
    if dry_run:
        params["dry_run"] = "All"
    try:
        out = res.server_side_apply(body=body, name=meta["name"], namespace=ns, **params).to_dict()
        if status and not dry_run and "status" in (res.subresources or {}):
            out = res.subresources["status"].patch(body={"status": status}, name=meta["name"], namespace=ns,
                                                   content_type="application/merge-patch+json").to_dict()
    except DynamicApiError as exc:
        raise ApplyError(f"{describe(obj)}: {_message(exc)}") from None
    return out


def apply_all(dyn, objs, **kw) -> list[dict]:
    """In order, CRDs waited on before the objects of their kinds."""
    out = []
    crds = [o for o in objs if o.get("kind") == "CustomResourceDefinition"]
    for obj in crds:
        out.append(apply(dyn, obj, **kw))
    if crds and not kw.get("dry_run"):
        wait_established(dyn, [c["metadata"]["name"] for c in crds])
    for obj in objs:
        if obj.get("kind") != "CustomResourceDefinition":
            out.append(apply(dyn, obj, **kw))
    return out


def wait_established(dyn, names: list[str], timeout: float = 60.0) -> None:
    res = dyn.resources.get(api_version="apiextensions.k8s.io/v1", kind="CustomResourceDefinition")
    deadline = time.monotonic() + timeout
    pending = set(names)
    while pending and time.monotonic() < deadline:
        for name in list(pending):
            conds = (res.get(name=name).to_dict().get("status") or {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conds):
                pending.discard(name)
        if pending:
            time.sleep(0.2)
    if pending:
        raise ApplyError(f"CRDs not Established within {timeout:g} s: {', '.join(sorted(pending))}")
    dyn.resources.invalidate_cache()


def load_yaml_files(paths) -> list[dict]:
    """The operator's CRDs are megabytes of YAML: libyaml's loader where PyYAML has it (10x faster)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    out = []
    for path in paths:
        with open(path) as fh:
            out += [d for d in yaml.load_all(fh, Loader=loader) if d]
    return out
