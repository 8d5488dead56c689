"""storage-redirect-unreachable: the presigned URL read for host and validity, the redirect followed from the
client's side without the registry token, and the real lab fault (an in-cluster regionendpoint) named by
the runbook and by triage."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest

from runbooklib.findings import Finding
from runbooklib.probes.endpoint import RegistryEndpoint
from runbooklib.probes.hops import analyse_hops, hop_from_parts
from runbooklib.probes.redirect import check_blob_redirect, check_redirect_config, looks_internal, presigned_info
from runbooklib.scenarios import route
from tests.conftest import runbook

REGISTRY = "https://registry.example.com"
STORAGE = "https://s3.eu-west-1.amazonaws.com"
DIGEST = "sha256:" + "ab" * 32
SIGNED = "20261201T100000Z"
EXPIRED_XML = ('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired'
               '</Message><X-Amz-Expires>1200</X-Amz-Expires><Expires>2026-12-01T10:20:00Z</Expires></Error>')


def _presigned(expires: int = 1200, host: str = STORAGE) -> str:
    return (f"{host}/bucket/docker/registry/v2/blobs/sha256/ab/{'ab' * 32}/data?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            f"&X-Amz-Credential=AKIAEXAMPLE%2F20261201%2Feu-west-1%2Fs3%2Faws4_request&X-Amz-Date={SIGNED}"
            f"&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host&X-Amz-Signature=deadbeef")


def _registry(storage_answer, location: str, seen: list, registry_date: str = "Tue, 01 Dec 2026 10:00:00 GMT"):
    """A fake registry (token auth, one repository with one layer) that redirects blobs to ``location``."""
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {"digest": "sha256:" + "cd" * 32}, "layers": [{"digest": DIGEST}]}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        url = str(request.url)
        if url.startswith(REGISTRY):
            path = request.url.path
            api = {"Docker-Distribution-Api-Version": "registry/2.0", "Date": registry_date}
            if path == "/jwt/auth":
                return httpx.Response(200, json={"token": "registry-token"})
            if "authorization" not in request.headers:
                return httpx.Response(401, headers={**api, "Www-Authenticate":
                                      f'Bearer realm="{REGISTRY}/jwt/auth",service="container_registry"'})
            if path == "/v2/_catalog":
                return httpx.Response(200, json={"repositories": ["group/app"]}, headers=api)
            if path.endswith("/tags/list"):
                return httpx.Response(200, json={"name": "group/app", "tags": ["latest"]}, headers=api)
            if "/manifests/" in path:
                return httpx.Response(200, json=manifest, headers=api)
            if "/blobs/" in path:
                return httpx.Response(307, headers={**api, "Location": location})
        return storage_answer(request)

    return httpx.Client(transport=httpx.MockTransport(handler), follow_redirects=False)


def _run(storage_answer, location: str, **kwargs):
    seen: list = []
    client = _registry(storage_answer, location, seen, kwargs.pop("registry_date", "Tue, 01 Dec 2026 10:00:00 GMT"))
    found = {f.id: f for f in check_blob_redirect(client, RegistryEndpoint(REGISTRY, "user", "s3cr3t-pass"), **kwargs)}
    return found, seen


def test_presigned_urls_are_read_for_host_signing_time_and_validity():
    aws = presigned_info(_presigned(900, "http://minio.gitlab.svc.cluster.local:9000"))
    assert (aws["host"], aws["port"], aws["style"], aws["expires_in_s"]) == ("minio.gitlab.svc.cluster.local", 9000,
                                                                             "aws-sigv4", 900)
    assert aws["expires_at"] == "2026-12-01T10:15:00+00:00"
    gcs = presigned_info("https://storage.googleapis.com/b/o?X-Goog-Date=20261201T100000Z&X-Goog-Expires=60&"
                         "X-Goog-Signature=ff")
    assert gcs["style"] == "gcs-v4" and gcs["expires_at"] == "2026-12-01T10:01:00+00:00"
    azure = presigned_info("https://acct.blob.core.windows.net/c/o?sv=2020&se=2026-12-01T10:05:00Z&sig=xx")
    assert azure["style"] == "azure-sas" and azure["host"] == "acct.blob.core.windows.net"
    assert presigned_info("https://example.com/plain")["style"] == ""


@pytest.mark.parametrize("host,internal", [("minio", True), ("gitlab-minio-svc.gitlab.svc.cluster.local", True),
                                           ("10.0.3.7", True), ("s3.internal", True), ("s3.amazonaws.com", False),
                                           ("52.95.110.1", False)])
def test_internal_endpoints_are_told_from_public_ones(host, internal):
    assert bool(looks_internal(host)) is internal


def test_an_unreachable_storage_host_is_named_and_never_gets_the_registry_token():
    def dns_failure(request):
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    location = _presigned(host="http://minio.gitlab.svc.cluster.local:9000")
    found, seen = _run(dns_failure, location)
    f = found["redirect.storage_unreachable"]
    assert f.status.value == "fail" and "minio.gitlab.svc.cluster.local:9000" in f.title
    assert "does not resolve" in f.title and "svc.cluster.local" in f.detail
    assert f.evidence["signing"]["expires_in_s"] == 1200
    assert "deadbeef" not in json.dumps(f.to_dict()) and "X-Amz-Signature=[REDACTED]" in f.evidence["location"]
    storage = [r for r in seen if r.url.host == "minio.gitlab.svc.cluster.local"]
    assert storage and all("authorization" not in r.headers for r in storage)
    registry = [r for r in seen if r.url.host == "registry.example.com" and r.url.path.startswith("/v2/group")]
    assert registry and all(r.headers.get("authorization") == "Bearer registry-token" for r in registry)
    assert {r["scenario"] for r in route(list(found.values()))} == {"storage-redirect-unreachable"}


def test_a_storage_that_says_request_has_expired_is_an_expiry_not_a_permission_problem():
    found, _ = _run(lambda r: httpx.Response(403, text=EXPIRED_XML, headers={"Content-Type": "application/xml"}),
                    _presigned(), now=dt.datetime(2026, 12, 1, 10, 0, 5, tzinfo=dt.timezone.utc))
    f = found["redirect.expired"]
    assert f.status.value == "fail" and "Request has expired" in f.detail and "2026-12-01T10:20:00" in f.detail
    hops = [hop_from_parts("GET", _presigned(), 403, {"content-type": "application/xml", "server": "AmazonS3"},
                           EXPIRED_XML)]
    ids = {x.id for x in analyse_hops(hops, REGISTRY)}
    assert "hops.storage_expired" in ids and "hops.forbidden.storage" not in ids


def test_a_registry_clock_behind_the_storage_makes_urls_expired_on_arrival():
    # the registry signed at 10:00 for 60 s; the storage's clock says 10:05 and (like moto) serves it anyway
    found, _ = _run(lambda r: httpx.Response(206, content=b"x", headers={"Date": "Tue, 01 Dec 2026 10:05:00 GMT"}),
                    _presigned(60), now=dt.datetime(2026, 12, 1, 10, 5, 1, tzinfo=dt.timezone.utc))
    f = found["redirect.expired"]
    assert "2026-12-01T10:05:00" in f.detail and f.evidence["registry_clock_minus_this_host_s"] == -301


def test_a_reachable_storage_with_a_short_expiry_is_a_warning_and_a_long_one_is_ok():
    ok = lambda r: httpx.Response(206, content=b"x", headers={"Date": "Tue, 01 Dec 2026 10:00:01 GMT"})  # noqa: E731
    now = dt.datetime(2026, 12, 1, 10, 0, 1, tzinfo=dt.timezone.utc)
    short, _ = _run(ok, _presigned(120), now=now)
    assert short["redirect.reachable"].status.value == "ok" and short["redirect.short_expiry"].status.value == "warn"
    long, _ = _run(ok, _presigned(1200), now=now)
    assert set(long) == {"redirect.reachable"}


def test_bad_inputs_skip_and_say_what_to_give():
    cfg = check_redirect_config(None)
    assert [f.status.value for f in cfg] == ["skip"] and "registry_config" in cfg[0].detail
    no_url = check_blob_redirect(httpx.Client(), RegistryEndpoint(""))
    assert no_url[0].status.value == "skip" and "registry_url" in no_url[0].detail

    def refused(request):
        raise httpx.ConnectError("[Errno 111] Connection refused", request=request)

    down = check_blob_redirect(httpx.Client(transport=httpx.MockTransport(refused)), RegistryEndpoint("http://127.0.0.1:9"))
    assert down[0].id == "redirect.not_checked" and down[0].status.value == "skip" and "username" in down[0].detail


# ------------------------------------------------------------------------------------------------ the lab


def _findings(path):
    return {f["id"]: f for f in json.loads(path.read_text())["findings"]}


def test_healthy_lab_serves_blobs_itself_and_nothing_warns(lab):
    from runbooklib.config import load_config
    from runbooklib.lab import control
    from runbooklib.probes.http import make_client

    registry = load_config(str(lab.registry_config_path), "registry")
    found = check_redirect_config(registry) + check_blob_redirect(
        make_client(10), RegistryEndpoint(lab.url("registry"), control.USERNAME, lab.secret("password")), registry=registry)
    assert {f.id: f.status.value for f in found} == {"redirect.config_off": "ok", "redirect.not_used": "ok"}


def test_in_cluster_regionendpoint_is_named_by_the_runbook_and_by_triage(lab_with, tmp_path):
    lab = lab_with("storage-redirect-unreachable")  # read-only: shared with the generated fault test
    r = runbook("run", "storage-redirect-unreachable", "-f", str(lab.params_path), "-o", str(tmp_path / "run"))
    assert r.returncode == 1, r.stderr
    found = _findings(tmp_path / "run" / "storage-redirect-unreachable.findings.json")
    f = found["redirect.storage_unreachable"]
    assert f["cause"] == "storage-redirect-unreachable"
    assert f["evidence"]["storage_host"] == "gitlab-minio-svc.gitlab.svc.cluster.local"
    assert "regionendpoint" in f["evidence"]["from_config"] and f["evidence"]["signing"]["expires_in_s"] > 0
    assert found["redirect.endpoint_internal"]["status"] == "warn"
    assert lab.secret("password") not in (tmp_path / "run" / "storage-redirect-unreachable.html").read_text()

    bundle = tmp_path / "bundle"
    r = runbook("triage", "-f", str(lab.params_path), "-o", str(bundle))
    assert r.returncode == 1, r.stderr
    triage = [Finding.from_dict(x) for x in json.loads((bundle / "triage.findings.json").read_text())["findings"]]
    assert "storage-redirect-unreachable" in {x["scenario"] for x in route(triage)}
    assert _findings(bundle / "storage-redirect-unreachable.findings.json")["redirect.storage_unreachable"]["status"] \
        == "fail"


def test_a_hop_trace_that_dies_after_the_redirect_names_the_storage_host():
    location = _presigned(host="http://minio.gitlab.svc.cluster.local:9000")
    hops = [hop_from_parts("GET", f"{REGISTRY}/v2/group/app/blobs/{DIGEST}", 307,
                           {"location": location, "docker-distribution-api-version": "registry/2.0"}),
            hop_from_parts("GET", location, None, {}, error="dns: [Errno -2] Name or service not known")]
    found = {f.id: f for f in analyse_hops(hops, REGISTRY)}
    f = found["hops.storage_unreachable"]
    assert "minio.gitlab.svc.cluster.local:9000" in f.title and f.evidence["scenario"] == "storage-redirect-unreachable"
    own = f"{REGISTRY}/v2/group/app/blobs/{DIGEST}?moved=1"  # a redirect within the registry is not storage
    same_host = [hop_from_parts("GET", f"{REGISTRY}/v2/group/app/blobs/{DIGEST}", 307, {"location": own}),
                 hop_from_parts("GET", own, None, {}, error="reset")]
    assert "hops.storage_unreachable" not in {x.id for x in analyse_hops(same_host, REGISTRY)}
