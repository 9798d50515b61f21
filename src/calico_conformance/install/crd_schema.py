"""Check a custom resource against its CustomResourceDefinition as the API server would, before
anything is applied: the OpenAPI v3 schema (types, enums, patterns, required fields, with the
Kubernetes extensions ``nullable`` and ``x-kubernetes-int-or-string``) and the fields the server
would silently prune because the structural schema does not know them. A misspelt or too-new
field in the Installation would otherwise vanish on apply and leave eBPF mode off without an error.

CEL rules (``x-kubernetes-validations``) are not evaluated; ``unevaluated_rules`` counts them so
that a caller can say so."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from calico_conformance.vocabulary.errors import UsageError

# jsonschema costs ~0.4 s to import: only an install (or its dry run) pays for it.


def _null_allowed(keyword: str):
    """``nullable: true`` lets null through the field's type and enum, as the API server does."""
    def check(validator, expected, value, schema):
        import jsonschema
        if value is None and schema.get("nullable"):
            return
        yield from jsonschema.Draft7Validator.VALIDATORS[keyword](validator, expected, value, schema)
    return check


def _int_or_string(validator, flag, value, schema):
    import jsonschema
    if flag and not (isinstance(value, (int, str)) and not isinstance(value, bool)):
        yield jsonschema.ValidationError(f"{value!r} is neither an integer nor a string")


_MID_FLAGS = re.compile(r"\(\?([imsU]+)\)")


@functools.lru_cache(maxsize=512)
def go_pattern(pattern: str) -> re.Pattern | None:
    """A Go (RE2) pattern as Python compiles it, None if it cannot. Calico's CRDs write
    ``^(?i)(Tunnel|DSR)?$``: RE2 applies a mid-pattern flag to the rest of the group, which
    Python spells as a scoped group ``^(?i:(Tunnel|DSR)?$)``."""
    match = _MID_FLAGS.search(pattern)
    if match and match.start() > 0 and "(" not in pattern[:match.start()]:
        flags = match.group(1).replace("U", "")
        rest = pattern[match.end():]
        pattern = pattern[:match.start()] + (f"(?{flags}:{rest})" if flags else rest)
    try:
        return re.compile(pattern.replace("\\z", "\\Z"))
    except re.error:
        return None


def _pattern(validator, pattern, value, schema):
    import jsonschema
    if not isinstance(value, str):
        return
    compiled = go_pattern(pattern)
    if compiled is not None and not compiled.search(value):
        yield jsonschema.ValidationError(f"{value!r} does not match {pattern!r}")


@functools.lru_cache(maxsize=None)
def openapi_validator():
    """OpenAPI v3.0 as Kubernetes reads it: Draft 7 keywords plus two of its own, patterns in Go's syntax."""
    import jsonschema
    return jsonschema.validators.extend(jsonschema.Draft7Validator, {
        "type": _null_allowed("type"), "enum": _null_allowed("enum"), "pattern": _pattern,
        "x-kubernetes-int-or-string": _int_or_string})


@dataclass(frozen=True)
class CrdSchema:
    crd_name: str          # installations.operator.tigera.io
    version: str           # v1
    schema: dict           # the version's openAPIV3Schema

    @property
    def is_open(self) -> bool:
        """A schema that lets everything through (as the project's own test manifest has)."""
        return bool(self.schema.get("x-kubernetes-preserve-unknown-fields")) and "properties" not in self.schema

    def describe(self) -> str:
        return f"CRD {self.crd_name} {self.version}"


def find(objects: list[dict], api_version: str, kind: str) -> CrdSchema | None:
    """The served schema for ``api_version``/``kind`` among ``objects`` (an operator manifest)."""
    group, _, version = api_version.rpartition("/")
    for crd in objects:
        spec = crd.get("spec") or {}
        if crd.get("kind") != "CustomResourceDefinition" or spec.get("group") != group \
                or (spec.get("names") or {}).get("kind") != kind:
            continue
        for served in spec.get("versions") or []:
            if served.get("name") == version and served.get("served", True):
                schema = (served.get("schema") or {}).get("openAPIV3Schema") \
                    or (spec.get("validation") or {}).get("openAPIV3Schema")   # apiextensions v1beta1 style
                if isinstance(schema, dict):
                    return CrdSchema(crd["metadata"]["name"], version, schema)
    return None


def _path(parts) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(object)"


def schema_problems(obj: dict, schema: dict) -> list[str]:
    """Every schema violation as "field.path: message", in a stable order."""
    errors = sorted(openapi_validator()(schema).iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
    return [f"{_path(e.absolute_path)}: {e.message}" for e in errors]


def pruned_fields(value, schema: dict, path: tuple = ()) -> list[str]:
    """The fields the API server would drop: unknown to a structural schema that does not say
    ``x-kubernetes-preserve-unknown-fields``. At the top, apiVersion/kind/metadata are the server's."""
    if not isinstance(schema, dict) or schema.get("x-kubernetes-preserve-unknown-fields"):
        return []
    out: list[str] = []
    if isinstance(value, dict):
        known = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            where = path + (key,)
            if not path and key in ("apiVersion", "kind", "metadata"):
                continue
            if key in known:
                out += pruned_fields(item, known[key], where)
            elif isinstance(extra, dict):
                out += pruned_fields(item, extra, where)
            elif extra is not True:
                out.append(f"{_path(where)}: unknown field, the API server would drop it")
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for i, item in enumerate(value):
            out += pruned_fields(item, schema["items"], path + (i,))
    return out


def problems(obj: dict, crd: CrdSchema) -> list[str]:
    return schema_problems(obj, crd.schema) + pruned_fields(obj, crd.schema)


def unevaluated_rules(schema) -> int:
    """How many CEL rules the schema holds (this check does not run them)."""
    if isinstance(schema, dict):
        return len(schema.get("x-kubernetes-validations") or []) + sum(unevaluated_rules(v) for v in schema.values())
    if isinstance(schema, list):
        return sum(unevaluated_rules(v) for v in schema)
    return 0


def verify(obj: dict, objects: list[dict], source: str) -> str | None:
    """How ``obj`` was checked against the CRDs in ``objects`` (None: they hold no schema for it).
    Refuses, in one line, an object that the operator's own CRD would reject or prune."""
    crd = find(objects, obj.get("apiVersion", ""), obj.get("kind", ""))
    if crd is None or crd.is_open:
        return None
    found = problems(obj, crd)
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise UsageError(f"the {obj['kind']} does not validate against the operator's {crd.describe()} in "
                         f"{source}: {found[0]}{more}; the objects must fit the release being installed: fix them, "
                         "or give that release's manifests (--operator-manifest, --calico-manifests)")
    rules = unevaluated_rules(crd.schema)
    return f"against the operator's {crd.describe()} in {source}" + \
        (f" ({rules} CEL rules not evaluated)" if rules else "")
