"""`--calico-version vX.Y.Z` installs that release: its tigera-operator.yaml, its operator-crds.yaml
(v3.30+) and its custom-resources.yaml, from the release path or a mirror (--release-url), here a
real HTTP server on 127.0.0.1 serving release directories."""
from __future__ import annotations

import base64
import copy
import functools
import http.server
import threading

import pytest
import yaml

from calico_conformance.install import manifests
from tests.apiserver.fixtures import Options, seeds
from tests.install_helpers import run_cli, split_stream

CR = seeds.OPERATOR_MANIFEST.parents[2] / "src" / "calico_conformance" / "install" / "custom-resources-v3.29.1.yaml"
OPERATOR_IMAGES = {"v3.29.1": "quay.io/tigera/operator:v1.36.2", "v3.31.7": "quay.io/tigera/operator:v1.40.15"}


def write_release(root, version: str) -> None:
    """A release directory as Calico publishes it: v3.30+ keep the CRDs in operator-crds.yaml."""
    objs = copy.deepcopy(seeds.operator_objects())
    for obj in objs:
        if obj["kind"] == "Deployment":
            obj["spec"]["template"]["spec"]["containers"][0]["image"] = OPERATOR_IMAGES[version]
    directory = root / version
    directory.mkdir(parents=True)
    crds = [o for o in objs if o["kind"] == "CustomResourceDefinition"]
    if version >= "v3.30":
        objs = [o for o in objs if o["kind"] != "CustomResourceDefinition"]
    (directory / "operator-crds.yaml").write_text(yaml.safe_dump_all(crds))
    (directory / "tigera-operator.yaml").write_text(yaml.safe_dump_all(objs))
    (directory / "custom-resources.yaml").write_text(
        CR.read_text().replace("VXLANCrossSubnet", "VXLAN") if version >= "v3.30" else CR.read_text())


class Mirror:
    def __init__(self, root, auth: str | None = None):
        self.requests: list[str] = []
        mirror = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                if auth and self.headers.get("Authorization") != "Basic " + base64.b64encode(auth.encode()).decode():
                    self.send_error(401, "Unauthorized")
                    return
                super().do_GET()

            def log_message(self, *args):
                mirror.requests.append(self.path)

        handler = functools.partial(Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _serve(tmp_path, monkeypatch, auth=None):
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)     # the mirror is on this host
    for version in OPERATOR_IMAGES:
        write_release(tmp_path / "releases", version)
    return Mirror(tmp_path / "releases", auth)


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    served = _serve(tmp_path, monkeypatch)
    yield served
    served.close()


@pytest.fixture
def private_mirror(tmp_path, monkeypatch):
    served = _serve(tmp_path, monkeypatch, auth="ci-bot:hunter2 token")
    yield served
    served.close()


def dry_run(capsys, mirror, version, *extra, url=None):
    return run_cli(capsys, "install", "--distro", "kind", "--api-server", "172.18.0.2:6443", "--dry-run", "-o",
                   "yaml", "--calico-version", version, "--release-url", url or mirror.url + "/{version}", *extra)


def test_a_v3_31_release_is_installed_from_its_three_manifests(capsys, mirror):
    rc, out, err = dry_run(capsys, mirror, "v3.31.7")
    assert rc == 0 and err == "", err
    assert sorted(mirror.requests) == sorted(
        f"/v3.31.7/{f}" for f in ("operator-crds.yaml", "tigera-operator.yaml", "custom-resources.yaml"))
    docs = split_stream(out)
    created = [(d["body"]["kind"], d["body"]["metadata"]["name"]) for d in docs
               if d["comments"]["step"].split(": ")[0] == "operator" and d["body"]]
    first_other = next(i for i, (kind, _) in enumerate(created) if kind != "CustomResourceDefinition")
    assert all(kind != "CustomResourceDefinition" for kind, _ in created[first_other:])   # CRDs first
    deployment = next(d["body"] for d in docs if d["body"] and d["body"]["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith("operator:v1.40.15")
    inst = next(d for d in docs if d["body"] and d["body"]["kind"] == "Installation")
    assert inst["body"]["spec"]["calicoNetwork"]["ipPools"][0]["encapsulation"] == "VXLAN"
    assert f"{mirror.url}/v3.31.7/operator-crds.yaml + {mirror.url}/v3.31.7/tigera-operator.yaml" in inst["text"]


def test_a_v3_29_release_has_its_crds_in_the_operator_manifest(capsys, mirror):
    rc, out, err = dry_run(capsys, mirror, "3.29.1")
    assert rc == 0 and err == "", err
    assert set(mirror.requests) == {"/v3.29.1/tigera-operator.yaml", "/v3.29.1/custom-resources.yaml"}
    assert "# validated: against the operator's CRD installations.operator.tigera.io v1" in out


def test_a_mirror_url_without_a_version_placeholder_gets_the_version_appended(capsys, mirror):
    rc, _, err = dry_run(capsys, mirror, "v3.31.7", url=mirror.url)
    assert rc == 0 and err == "", err
    assert manifests.release_base("v3.31.7", "https://mirror.example.internal/calico/") == \
        "https://mirror.example.internal/calico/v3.31.7"
    assert manifests.release_base("v3.31.7").endswith("/calico/v3.31.7/manifests")


@pytest.mark.parametrize("version", ["v3.31", "latest", "3"])
def test_a_version_that_is_not_a_release_is_one_line(capsys, version):
    rc, out, err = run_cli(capsys, "install", "--distro", "kind", "--api-server", "172.18.0.2:6443", "--dry-run",
                           "--calico-version", version)
    assert rc == 2 and out == "" and err.count("\n") == 1
    assert f"--calico-version {version}: the installer needs a release, like v3.29.1" in err


def test_a_release_the_mirror_lacks_stops_a_real_install_before_any_write(capsys, mirror, apiserver, kubeconfig):
    apiserver.seed(*seeds.kubeadm())
    rc, out, err = run_cli(capsys, "install", "--kubeconfig", str(kubeconfig), "--calico-version", "v3.30.0",
                           "--release-url", mirror.url + "/{version}")
    assert rc == 2 and err.count("\n") == 1
    assert f"cannot fetch {mirror.url}/v3.30.0/operator-crds.yaml" in err and "--release-url" in err, err
    assert apiserver.writes() == []


def test_the_suites_calico_version_picks_the_release_only_when_it_names_one():
    from calico_conformance.targets.clustersetup import install_options
    assert install_options(Options(calico_version="v3.31.7", release_url="http://m/{version}")).calico_version \
        == "v3.31.7"
    assert install_options(Options(calico_version="v3.29")).calico_version is None     # a matrix row only
    assert install_options(Options()).calico_version is None


def test_a_private_mirror_gets_the_urls_credentials_and_they_never_reach_the_output(capsys, private_mirror):
    base = private_mirror.url.replace("http://", "http://ci-bot:hunter2%20token@")
    rc, out, err = run_cli(capsys, "install", "--distro", "kind", "--api-server", "172.18.0.2:6443", "--dry-run",
                           "--calico-version", "v3.31.7", "--release-url", base + "/{version}")
    assert rc == 0 and err == "", err                      # fetched with Basic auth
    assert len(private_mirror.requests) == 3
    assert "hunter2" not in out and "http://REDACTED@127.0.0.1" in out
    # wrong credentials: the 401, with the URL's credentials masked
    rc, out, err = run_cli(capsys, "install", "--distro", "kind", "--api-server", "172.18.0.2:6443", "--dry-run",
                           "--calico-version", "v3.31.7", "--release-url", base.replace("hunter2", "x") + "/{version}")
    assert rc == 0 and "Unauthorized" in err and "http://REDACTED@127.0.0.1" in err
    assert "hunter2" not in out + err and "ci-bot" not in out + err
