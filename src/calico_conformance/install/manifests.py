"""The install inputs: the Tigera operator manifest (a local file, a directory or a URL, so that
air-gapped installs work from a local copy) and the custom resources, tweaked for eBPF the way
the document says."""
from __future__ import annotations

import base64
import copy
import re
import urllib.parse
import urllib.request
from pathlib import Path

import yaml

from calico_conformance.install import data
from calico_conformance.vocabulary.errors import UsageError

CUSTOM_RESOURCES = Path(__file__).with_name("custom-resources-v3.29.1.yaml")
MAX_MANIFEST_BYTES = 64 << 20    # a release's operator manifest with its CRDs is ~2 MiB


def _parse(text: str, where: str) -> list[dict]:
    try:
        # libyaml where PyYAML has it: a full operator manifest (CRDs included) is megabytes.
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        docs = [d for d in yaml.load_all(text, Loader=loader) if d]
    except yaml.YAMLError as exc:
        raise UsageError(f"{where} is not valid YAML: {str(exc).splitlines()[0]}") from None
    bad = [d for d in docs if not isinstance(d, dict) or "apiVersion" not in d or "kind" not in d]
    if bad or not docs:
        raise UsageError(f"{where} does not hold Kubernetes objects (apiVersion/kind)")
    return docs


def _request(source: str):
    """A request for ``source``; credentials in the URL (a private mirror) become a Basic
    Authorization header, which urllib does not do by itself."""
    parts = urllib.parse.urlsplit(source)
    if parts.username is None:
        return urllib.request.Request(source)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    netloc = host + (f":{parts.port}" if parts.port else "")
    user = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
    return urllib.request.Request(urllib.parse.urlunsplit(parts._replace(netloc=netloc)),
                                  headers={"Authorization": "Basic " + base64.b64encode(user.encode()).decode()})


def is_url(source: str | None) -> bool:
    return bool(source) and source.startswith(("http://", "https://"))


def read_source(source: str, *, timeout: float = 30.0) -> str:
    if is_url(source):
        try:
            with urllib.request.urlopen(_request(source), timeout=timeout) as resp:   # noqa: S310 (user-given URL)
                body = resp.read(MAX_MANIFEST_BYTES + 1)
            if len(body) > MAX_MANIFEST_BYTES:
                raise UsageError(f"{source} is larger than {MAX_MANIFEST_BYTES >> 20} MiB; is it a manifest?")
            return body.decode()
        except UnicodeDecodeError:
            raise UsageError(f"{source} is not UTF-8 text, so not a manifest; check the URL") from None
        except ValueError as exc:    # urllib's word for a URL it cannot parse
            raise UsageError(f"cannot fetch {source}: {exc}; check the URL") from None
        except OSError as exc:
            raise UsageError(f"cannot fetch {source}: {getattr(exc, 'reason', exc)}; for an air-gapped install "
                             "pass a local copy with --operator-manifest PATH or --calico-manifests DIR, or a mirror "
                             "with --release-url URL") from None
    path = Path(source).expanduser()
    if path.is_dir():
        path = path / "tigera-operator.yaml"
    try:
        return path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None


_RELEASE = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")


def release_base(version: str, url_template: str | None = None) -> str:
    """Where a Calico release's manifests are served: ``--release-url`` (with ``{version}``, for a
    mirror) or the path the document links for v3.29.1, for any release."""
    m = _RELEASE.match(version.strip())
    if not m:
        raise UsageError(f"--calico-version {version}: the installer needs a release, like v3.29.1 or v3.31.7")
    tag = f"v{m.group(1)}.{m.group(2)}.{m.group(3)}"
    template = url_template or data.defaults()["release_manifests"]
    if url_template is not None:
        _check_release_url(url_template)
    # replace, not str.format: any other brace in a URL is the URL's own
    return template.replace("{version}", tag) if "{version}" in template else f"{template.rstrip('/')}/{tag}"


def _check_release_url(url: str) -> None:
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port    # noqa: B018 (raises on a port that is not a number)
    except ValueError as exc:
        raise UsageError(f"--release-url {url}: not a URL ({exc}); give http(s)://HOST/PATH/{{version}}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"--release-url {url}: not an http(s) URL; give http(s)://HOST/PATH/{{version}}, "
                         "or --calico-manifests DIR for a local copy")


def is_release(version: str | None) -> bool:
    """v3.29.1 names a release; v3.29 only a support-matrix row."""
    return bool(version and _RELEASE.match(version.strip()))


def _ships_crds_apart(version: str) -> bool:
    major, minor, _ = map(int, _RELEASE.match(version.strip()).groups())
    return (major, minor) >= (3, 30)


def operator_sources(operator_manifest: str | None, calico_manifests: str | None,
                     operator_crds: str | None = None, calico_version: str | None = None,
                     release_url: str | None = None) -> list[str]:
    """The manifests to apply, CRDs first: from v3.30 a release ships its CRDs apart, in
    operator-crds.yaml, and tigera-operator.yaml no longer holds them."""
    if calico_version and not (operator_manifest or calico_manifests):
        base = release_base(calico_version, release_url)
        main = f"{base}/tigera-operator.yaml"
        crds = operator_crds or (f"{base}/operator-crds.yaml" if _ships_crds_apart(calico_version) else None)
        return [crds, main] if crds else [main]
    main = operator_manifest or (str(Path(calico_manifests) / "tigera-operator.yaml") if calico_manifests
                                 else data.defaults()["operator_manifest"])
    crds = operator_crds
    if not crds and calico_manifests and (Path(calico_manifests) / "operator-crds.yaml").is_file():
        crds = str(Path(calico_manifests) / "operator-crds.yaml")
    return [crds, main] if crds else [main]


def custom_resources_source(calico_manifests: str | None, calico_version: str | None = None,
                            release_url: str | None = None) -> str | None:
    """The custom-resources.yaml to tweak; None: the built-in v3.29.1 one."""
    if calico_manifests:
        path = Path(calico_manifests) / "custom-resources.yaml"
        return str(path) if path.is_file() else None
    if calico_version:
        return f"{release_base(calico_version, release_url)}/custom-resources.yaml"
    return None


def _identity(obj: dict) -> tuple:
    meta = obj.get("metadata") or {}
    return obj["apiVersion"], obj["kind"], meta.get("namespace"), meta.get("name")


def load_operator(source: str) -> list[dict]:
    return _parse(read_source(source), source)


def unique(objects: list[dict]) -> list[dict]:
    """Every object once, the first kept (v3.29's tigera-operator.yaml repeats the CRDs that its
    operator-crds.yaml holds)."""
    seen, out = set(), []
    for obj in objects:
        if _identity(obj) not in seen:
            seen.add(_identity(obj))
            out.append(obj)
    return out


def load_custom_resources(source: str | None) -> list[dict]:
    if source is None:
        return _parse(CUSTOM_RESOURCES.read_text(), str(CUSTOM_RESOURCES))
    return _parse(read_source(source), source)


def tweak(custom_resources: list[dict], *, pool_cidrs: list[str], encapsulation: str,
          bottlerocket: bool, ip_pools: bool = True, registry: str | None = None) -> list[dict]:
    """The document's edit: calicoNetwork.linuxDataplane BPF in the Installation (flexVolumePath on
    EKS Bottlerocket), its IP pools using VXLAN over our pod CIDRs. Other resources pass through."""
    out = []
    for doc in custom_resources:
        doc = copy.deepcopy(doc)
        if doc["kind"] == "Installation":
            spec = doc.setdefault("spec", {})
            network = spec.setdefault("calicoNetwork", {}) or {}
            spec["calicoNetwork"] = network
            network["linuxDataplane"] = "BPF"
            template = (network.get("ipPools") or [{}])[0]
            if ip_pools:
                pools = []
                for cidr in pool_cidrs:
                    v6 = ":" in cidr
                    pool = {**template, "cidr": cidr, "encapsulation": encapsulation,
                            "name": "default-ipv6-ippool" if v6 else "default-ipv4-ippool",
                            "blockSize": 122 if v6 else template.get("blockSize", 26)}
                    pools.append(pool)
                network["ipPools"] = pools
            else:
                network.pop("ipPools", None)
            if bottlerocket:
                spec["flexVolumePath"] = data.defaults()["bottlerocket_flexvolume_path"]
            if registry:
                spec["registry"] = registry
        out.append(doc)
    kinds = [d["kind"] for d in out]
    if "Installation" not in kinds:
        raise UsageError("the custom resources hold no Installation; check --calico-manifests DIR/custom-resources.yaml")
    return out
