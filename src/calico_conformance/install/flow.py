"""From options to a plan, with or without a cluster: the one entry point the CLI and the
targets use."""
from __future__ import annotations

from calico_conformance.install import data, detect, gate, manifests, plan as planning, view as views
from calico_conformance.vocabulary.errors import UsageError


def make_plan(opts: planning.InstallOptions, kube=None, *, dry_run: bool = False,
              warn=None) -> tuple[str, list[planning.Operation]]:
    """(distribution name, operations). ``kube`` None means no cluster (dry-run only)."""
    # One read-only pass over a live cluster serves the distribution, the view and the gate.
    inv = gate.read(kube) if kube is not None else None
    if opts.distro:
        distro = data.distro(opts.distro)
    elif inv is not None:
        distro = data.distro(detect.detect_from_inventory(inv))
    else:
        raise UsageError(f"--distro is needed without a cluster; choose one of: {', '.join(data.names())}")
    opts.distro = distro.name
    view = views.read(kube, distro, inv) if kube is not None else views.ClusterView.offline_view()
    sources = manifests.operator_sources(opts.operator_manifest, opts.calico_manifests, opts.operator_crds,
                                         opts.calico_version, opts.release_url)
    operator_objs, reason = _load_operator(sources, dry_run, warn)
    if inv is not None:        # a supported cluster before any change (docs: "Supported" section)
        gate.enforce(gate.assess(inv, operator_objs), ignore=opts.ignore_preflight, dry_run=dry_run,
                     warn=warn or (lambda _line: None))
    crs = _load_custom_resources(manifests.custom_resources_source(opts.calico_manifests, opts.calico_version,
                                                                    opts.release_url), dry_run, warn)
    return distro.name, planning.build(opts, view, operator_objs, crs, operator_source=" + ".join(sources),
                                       unlisted_reason=reason)


def _may_go_without(source: str | None, dry_run: bool) -> bool:
    """A dry-run goes on without a URL it cannot fetch; a real install, or a local file, stops."""
    return dry_run and manifests.is_url(source)


def _load_operator(sources: list[str], dry_run: bool, warn) -> tuple[list[dict] | None, str]:
    """The manifests' objects in order; (None, why) when a dry-run cannot fetch a URL."""
    objs, reason = [], ""
    for source in sources:
        try:
            objs += manifests.load_operator(source)
        except UsageError as exc:
            if not _may_go_without(source, dry_run):
                raise
            reason = str(exc)
            if warn:
                warn(f"dry-run: {exc}")
    return (None if reason else manifests.unique(objs)), reason


def _load_custom_resources(source: str | None, dry_run: bool, warn) -> list[dict]:
    """The release's custom resources; a dry-run that cannot fetch them shows the built-in v3.29.1 ones."""
    try:
        return manifests.load_custom_resources(source)
    except UsageError as exc:
        if not _may_go_without(source, dry_run):
            raise
        if warn:
            warn(f"dry-run: {exc}; showing the built-in v3.29.1 custom resources instead")
        return manifests.load_custom_resources(None)
