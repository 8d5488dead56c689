"""The push path through the lab's real NGINX: each fault diagnosed by its notebook with the hop trace, the
healthy path pushed and cleaned up, and real skopeo pushes failing the way the seed describes."""

import base64
import json
import os
import shutil
import subprocess

import pytest

from runbooklib import scenarios
from runbooklib.findings import Finding
from runbooklib.lab import component_nginx as nginx
from runbooklib.lab import control, procs
from runbooklib.lab.image import build_oci_layout
from runbooklib.probes.endpoint import RegistryEndpoint
from runbooklib.probes.har import check_har, write_har
from runbooklib.probes.http import make_client
from runbooklib.probes.push import CANARY_REPOSITORY, check_canary_push, run_canary
from tests.conftest import _need, runbook

pytestmark = [pytest.mark.lab]


@pytest.fixture(scope="module")
def healthy(tmp_path_factory):
    """A healthy lab of this module's own: the canary and the schema1 probe write to it."""
    _need("docker-registry", "skopeo", "nginx")
    state = tmp_path_factory.mktemp("push-lab")
    lab = control.up(state, [], free_ports=True)
    yield lab
    control.down(state)


def _via_nginx(lab, canary=True):
    args = ["-p", "registry_url", nginx.proxied_url(lab), "-p", "ca_bundle", str(nginx.ca_path(lab))]
    return args + (["-p", "canary_push", "true"] if canary else [])


def _run(lab, scenario, out, *extra):
    r = runbook("run", scenario, "-f", str(lab.params_path), "-o", str(out), *extra)
    path = out / f"{scenario}.findings.json"
    assert path.exists(), r.stderr
    data = json.loads(path.read_text())
    return r.returncode, {f["id"]: f for f in data["findings"]}


def _routes(found):
    return {r["scenario"] for r in scenarios.route([Finding.from_dict(f) for f in found.values()])}


def _canary_keys(lab):
    import boto3

    s3 = boto3.client("s3", endpoint_url=lab.url("s3"), region_name=control.REGION,
                      aws_access_key_id=lab.secret("s3_access_key"), aws_secret_access_key=lab.secret("s3_secret_key"))
    prefix = f"docker/registry/v2/repositories/{CANARY_REPOSITORY}/"
    listed = s3.list_objects_v2(Bucket=control.BUCKET, Prefix=prefix).get("Contents", [])
    return [o["Key"][len(prefix):] for o in listed]


def _skopeo(lab, tmp_path, name, payload=None):
    """A real client pushing through NGINX (trusting the lab CA), as a user would."""
    layout = lab.state_dir / "oci" / "image"
    if payload is not None:
        layout = tmp_path / "big"
        build_oci_layout(layout, "latest", payload)
    certs = tmp_path / "certs"
    certs.mkdir(exist_ok=True)
    shutil.copy(nginx.ca_path(lab), certs / "ca.crt")
    host = f"127.0.0.1:{lab.ports['nginx']}"
    auth = tmp_path / "auth.json"
    token = base64.b64encode(f"{control.USERNAME}:{lab.secret('password')}".encode()).decode()
    auth.write_text(json.dumps({"auths": {host: {"auth": token}}}))
    argv = ["skopeo", "--insecure-policy", "copy", "--retry-times", "0", "--dest-cert-dir", str(certs),
            "--dest-authfile", str(auth), f"oci:{layout}:latest", f"docker://{host}/{name}:latest"]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=control.clean_env())


def test_healthy_path_canary_push_through_nginx_is_ok_and_cleaned_up(healthy, tmp_path):
    lab = healthy
    rc, found = _run(lab, "push-retry-relative-urls", tmp_path / "o", *_via_nginx(lab))
    assert rc == 0, found
    ok = found["push.canary.ok"]
    hops = ok["evidence"]["hops"]
    assert [h["method"] for h in hops[:6]] == ["GET", "GET", "POST", "PATCH", "PATCH", "PUT"]
    assert all(h["server"] == "nginx" for h in hops if h.get("origin") == "registry")
    steps = {h["step"] for h in hops}
    assert {"manifest PUT (OCI)", "manifest PUT (Docker schema 2)", "HEAD blob", "GET blob"} <= steps
    assert found["push.canary.cleaned"]["status"] == "ok"
    assert found["nginx.port.ok"]["status"] == "ok" and found["nginx.headers.ok"]["status"] == "ok"
    assert not [k for k in _canary_keys(lab) if "/_manifests/tags/" in k or k.startswith(("_layers", "_uploads"))]
    html = (tmp_path / "o" / "push-retry-relative-urls.html").read_text()
    assert lab.secret("password") not in html and "runbook-canary" in html

    real = _skopeo(lab, tmp_path, "group/project/copy")
    assert real.returncode == 0, real.stderr


def test_canary_that_cannot_authenticate_points_at_the_token_runbooks_and_leaves_nothing(healthy):
    lab = healthy
    before = _canary_keys(lab)
    client = make_client(10, str(nginx.ca_path(lab)))
    found = {f.id: f for f in check_canary_push(client, RegistryEndpoint(nginx.proxied_url(lab), control.USERNAME, "wrong"))}
    f = found["push.canary.auth"]
    assert f.status.value == "fail" and "token-untrusted-key" in f.remedy and "Nothing was pushed" in f.detail
    assert found["push.canary.nothing_left"].status.value == "ok"
    assert [h["method"] for h in f.evidence["hops"]] == ["GET", "GET"]
    assert _canary_keys(lab) == before


@pytest.mark.parametrize("faulted_lab", [["missing-forwarded-proto"]], indirect=True)
def test_missing_forwarded_proto_gives_http_locations_and_a_failing_real_push(faulted_lab, tmp_path):
    lab = faulted_lab
    rc, found = _run(lab, "push-retry-relative-urls", tmp_path / "o", *_via_nginx(lab))
    assert rc == 1
    down = found["hops.location.scheme_downgrade"]
    port = lab.ports["nginx"]
    assert down["evidence"]["hops"][0]["location"].startswith(f"http://127.0.0.1:{port}/v2/{CANARY_REPOSITORY}/")
    assert "400" in str(down["evidence"]["hops"]) and "plain HTTP" in down["detail"]
    assert found["nginx.headers.missing_forwarded_proto"]["status"] == "fail"
    assert found["push.canary.failed"]["status"] == "fail"
    assert found["push.canary.cleaned"]["status"] == "ok"  # the open upload was cancelled
    assert "push-retry-relative-urls" in _routes(found)
    real = _skopeo(lab, tmp_path, "group/project/copy")
    assert real.returncode != 0 and "StatusCode: 400" in real.stderr and "400 The plain HTTP request" in real.stderr


@pytest.mark.parametrize("faulted_lab", [["small-body-limit"]], indirect=True)
def test_small_body_limit_gives_413_for_layers_above_a_megabyte(faulted_lab, tmp_path):
    lab = faulted_lab
    rc, found = _run(lab, "push-retry-relative-urls", tmp_path / "o", *_via_nginx(lab))
    assert rc == 1
    big = found["hops.body_too_large"]
    assert big["evidence"]["hops"][0]["status"] == 413 and big["evidence"]["hops"][0]["origin"] == "proxy"
    assert found["nginx.body_size.limited"]["status"] == "fail" and "1m" in found["nginx.body_size.limited"]["title"]
    assert "body-limit-413" in _routes(found)
    small = _skopeo(lab, tmp_path, "group/project/small")
    assert small.returncode == 0, small.stderr  # the seed image's layer is tiny: only big layers fail
    real = _skopeo(lab, tmp_path, "group/project/big", payload=os.urandom(2 * 1024 * 1024))
    assert real.returncode != 0 and "413" in real.stderr


@pytest.mark.parametrize("faulted_lab", [["storage-403"]], indirect=True)
def test_storage_403_is_attributed_to_storage_by_canary_capture_and_real_client(faulted_lab, tmp_path):
    lab = faulted_lab
    rc, found = _run(lab, "push-403", tmp_path / "o", *_via_nginx(lab))
    assert rc == 1
    assert found["redirect.on"]["status"] == "ok"
    f = found["hops.forbidden.storage"]
    assert "hops.forbidden.registry" not in found
    trace = found["push.canary.failed"]["evidence"]["hops"]
    redirect, denied = trace[-5], trace[-4]  # ... HEAD blob 307, HEAD storage 403, then the clean-up
    assert (redirect["status"], redirect["origin"]) == (307, "registry")
    assert (denied["status"], denied["origin"], denied["server"]) == (403, "storage", "AmazonS3")
    assert denied["url"].startswith(lab.options["s3_fault_proxy"]) and "X-Amz-Signature=[REDACTED]" in denied["url"]
    assert f["evidence"]["hops"][0]["method"] == "HEAD" and "push-403" in _routes(found)

    # a capture recorded from the lab traffic (HAR, as mitmdump would write it), analysed like any capture
    client = make_client(10, str(nginx.ca_path(lab)))
    har = write_har(run_canary(client, nginx.proxied_url(lab), control.USERNAME, lab.secret("password")),
                    tmp_path / "push.har")
    assert lab.secret("password") not in har.read_text()
    captured = {f.id: f for f in check_har(str(har), lab.url("registry"))}
    assert captured["hops.forbidden.storage"].status.value == "fail"
    assert captured["har.loaded"].evidence["client_url"] == nginx.proxied_url(lab)

    real = _skopeo(lab, tmp_path, "group/project/app")  # the blob exists: skopeo HEADs it, follows the 307
    assert real.returncode != 0 and "403" in real.stderr


@pytest.mark.parametrize("faulted_lab", [["ipv6-upstream"]], indirect=True)
def test_ipv6_upstream_is_named_by_config_probe_and_nginx_log(faulted_lab, tmp_path):
    lab = faulted_lab
    client = make_client(5, str(nginx.ca_path(lab)))
    endpoint = RegistryEndpoint(nginx.proxied_url(lab), control.USERNAME, lab.secret("password"))
    canary = {f.id: f for f in check_canary_push(client, endpoint)}
    assert canary["push.canary.no_api"].status.value == "fail"
    assert canary["hops.proxy_bad_gateway"].evidence["scenario"] == "ipv6-listener"
    logs = f"[{lab.registry_log_dir}, {nginx.log_dir(lab)}]"
    rc, found = _run(lab, "ipv6-listener", tmp_path / "o", "-p", "log_paths", logs)
    assert rc == 1
    f = found["ipv6.upstream_refused"]
    assert f["evidence"]["answers"] == {"::1": "refused"} and f["evidence"]["127.0.0.1"] == "open"
    assert 'registry_http_addr\'] = "127.0.0.1:5000"' in f["remedy"]
    assert found["logs.nginx_ipv6_upstream_refused"]["status"] == "fail"
    assert "ipv6-listener" in _routes(found)
    real = _skopeo(lab, tmp_path, "group/project/copy")
    assert real.returncode != 0 and "502" in real.stderr
    pid = lab.pids["nginx"]["pid"]  # NGINX renames its process: `lab down` must still find and stop it
    assert "nginx" in control.down(lab.state_dir) and not procs.is_alive(pid)


def test_old_docker_client_against_a_registry_without_schema1_fails_the_schema1_runbook(healthy, tmp_path):
    lab = healthy
    from runbooklib.probes.schema1 import check_schema1_live

    live = check_schema1_live(make_client(5), RegistryEndpoint(lab.url("registry"), control.USERNAME, lab.secret("password")))
    assert [f.id for f in live] == ["schema1.live.refused"] and live[0].evidence["status"] == 500
    # an old client (Docker 1.9's user agent) pushes a schema1 manifest: the registry logs it, refuses it
    from runbooklib.probes.schema1 import probe_manifest

    client = make_client(5)
    scope = "repository:group/project/app:pull,push"
    token = client.get(f"{lab.url('issuer')}/jwt/auth", auth=(control.USERNAME, lab.secret("password")),
                       params={"service": control.SERVICE, "scope": scope}).json()["token"]
    body, _ = probe_manifest("group/project/app", "old")
    r = client.put(f"{lab.url('registry')}/v2/group/project/app/manifests/old", content=body, headers={
        "Authorization": f"Bearer {token}", "User-Agent": "docker/1.9.1 go/go1.4.2 kernel/3.13.0 os/linux arch/amd64",
        "Content-Type": "application/vnd.docker.distribution.manifest.v1+prettyjws"})
    assert r.status_code == 500
    rc, found = _run(lab, "schema1-old-clients", tmp_path / "b")
    assert rc == 1
    f = found["schema1.old_clients.refused"]
    assert f["evidence"]["docker_versions"] == ["1.9.1"] and "compatibility_schema1_enabled" in f["remedy"]
    assert "schema1-old-clients" in _routes(found)
