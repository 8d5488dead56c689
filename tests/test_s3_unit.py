"""S3 building blocks without the lab: settings, error names, bounded and counted clients, cost model,
chunksize, inventories. moto's in-process mock stands in for S3 where a bucket is needed."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import socket
import threading

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from runbooklib.config import parse_gitlab_rb, parse_registry_config
from runbooklib.findings import Status
from runbooklib.s3 import (S3Settings, check_chunksize, check_credentials, check_markers, check_region,
                           connect, connect_s3, find_markers, read_inventory, settings_from_registry, write_inventory)
from runbooklib.s3.errors import classify
from runbooklib.s3.layout import classify_marker
from runbooklib.s3.listing import SHARDS, plan_blob_ranges
from runbooklib.s3.metrics import bucket_metrics, check_blobs, check_repositories
from runbooklib.s3.permissions import registry_policy

moto = pytest.importorskip("moto")

REGISTRY_YML = """
version: 0.1
storage:
  s3:
    accesskey: AKIAEXAMPLEKEY12345
    secretkey: s3cr3t-value
    region: eu-central-1
    regionendpoint: minio.example:9000
    secure: false
    bucket: registry-bucket
    rootdirectory: /gitlab/registry
{chunk}
http:
  addr: :5000
"""


def _client_error(code: str, status: int = 403, headers: dict | None = None, message: str = "m") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers or {}}}, "ListObjectsV2")


@pytest.mark.parametrize("code,kind", [
    ("InvalidAccessKeyId", "invalid_access_key"), ("SignatureDoesNotMatch", "signature_mismatch"),
    ("ExpiredToken", "expired_token"), ("AccessDenied", "access_denied"), ("NoSuchBucket", "no_such_bucket"),
    ("SlowDown", "throttled"), ("RequestTimeTooSkewed", "clock_skew")])
def test_s3_error_codes_are_named_by_cause(code, kind):
    assert classify(_client_error(code)).kind == kind


def test_a_redirect_names_the_buckets_region():
    f = classify(_client_error("PermanentRedirect", 301, {"x-amz-bucket-region": "eu-west-3"}))
    assert f.kind == "wrong_region" and f.region_hint == "eu-west-3"


def test_missing_credentials_are_named():
    assert classify(NoCredentialsError()).kind == "no_credentials"


def test_settings_from_the_registry_config_keep_root_endpoint_and_secret_out_of_repr():
    cfg = parse_registry_config(REGISTRY_YML.format(chunk=""), "config.yml")
    s = settings_from_registry(cfg)
    assert s.bucket == "registry-bucket" and s.region == "eu-central-1"
    assert s.endpoint == "http://minio.example:9000"  # secure: false and no scheme: http, as the driver does
    assert s.prefix == "gitlab/registry/docker/registry/v2/"
    assert "s3cr3t-value" not in repr(s) and "AKIAEXAMPLEKEY12345" not in repr(s)
    assert s.describe()["access_key"] == "AKIA…2345"


def test_parameters_win_and_an_empty_bucket_falls_back_to_the_registry_config():
    cfg = parse_registry_config(REGISTRY_YML.format(chunk=""), "config.yml")
    params = {"s3_bucket": "", "s3_region": "", "s3_endpoint": "", "s3_root": "", "s3_access_key": "",
              "s3_secret_key": "", "timeout_s": 3}
    assert connect_s3(params, cfg).settings.source == "registry config"
    params["s3_bucket"] = "other"
    target = connect_s3(params, cfg)
    assert target.settings.source == "parameters" and target.bucket == "other" and target.prefix == "docker/registry/v2/"


def test_no_bucket_is_a_skip_not_an_exception():
    target = connect(S3Settings())
    assert not target.ok and "s3_bucket" in target.problem
    assert check_credentials(target)[0].status is Status.SKIP
    assert check_markers(find_markers(target, progress=False))[0].status is Status.SKIP


def test_a_closed_endpoint_is_an_error_finding_within_the_timeout():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    target = connect(S3Settings(bucket="b", endpoint=f"http://127.0.0.1:{port}", access_key="a", secret_key="s"),
                     timeout_s=2, max_attempts=1)
    found = check_credentials(target)
    assert found[0].id == "s3.endpoint.unreachable" and found[0].status is Status.ERROR


def test_a_silent_endpoint_times_out_within_the_bound():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)  # accepts, never answers
    try:
        target = connect(S3Settings(bucket="b", endpoint=f"http://127.0.0.1:{server.getsockname()[1]}",
                                    access_key="a", secret_key="s"), timeout_s=0.5, max_attempts=1)
        t0 = dt.datetime.now()
        found = check_credentials(target)
        assert (dt.datetime.now() - t0).total_seconds() < 5
        assert found[0].status is Status.ERROR and "timeout" in json.dumps(found[0].evidence).lower() or \
            found[0].evidence.get("kind") == "timeout"
    finally:
        server.close()


class _SlowDown(http.server.BaseHTTPRequestHandler):
    """S3 answering every request with 503 SlowDown (moto cannot throttle)."""

    def do_GET(self):  # noqa: N802
        body = b"<?xml version='1.0'?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
        self.send_response(503)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_throttling_is_retried_with_backoff_counted_and_reported():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowDown)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        target = connect(S3Settings(bucket="b", endpoint=f"http://127.0.0.1:{server.server_address[1]}",
                                    access_key="a", secret_key="s"), timeout_s=3, max_attempts=2)
        scan = find_markers(target, progress=False)
        assert scan.failure is not None and scan.failure.kind == "throttled"
        assert target.counter.throttled == 2 and target.counter.retries == 1
        f = check_markers(scan)[0]
        assert f.status is Status.ERROR and "throttl" in f.title.lower()
    finally:
        server.shutdown()


@pytest.mark.parametrize("rel,kind,repo", [
    ("", "repositories-root", ""),
    ("g/app/_manifests/tags/", "tags-dir", "g/app"),
    ("g/app/_manifests/", "inside-repository", "g/app"),
    ("g/app/_manifests/tags/v1/", "inside-repository", "g/app"),
    ("g/app/", "repository-root", "g/app"),
    ("g/", "group-level", ""),
])
def test_markers_are_classified_by_level(rel, kind, repo):
    assert classify_marker(rel, {"g/app"}) == (kind, repo)


def test_blob_listing_strategy_follows_the_estimated_pages():
    prefix = "docker/registry/v2/blobs/sha256/"
    key = lambda shard: f"{prefix}{shard}/{shard}00aa/data"  # noqa: E731
    assert plan_blob_ranges(key("40"), prefix, 8)[0] == "sequential"  # first page covered a quarter: 3 pages left
    strategy, jobs = plan_blob_ranges(key("01"), prefix, 8)  # ~128 pages left
    assert strategy.endswith("shard ranges") and 2 <= len(jobs) <= 16
    assert jobs[0][1] == key("01") and jobs[-1][2] == ""  # from the first page's end to the end, contiguous
    assert all(a[2] == b[1] for a, b in zip(jobs, jobs[1:]))
    strategy, jobs = plan_blob_ranges(f"{prefix}00/0000aa/data", prefix, 8)  # ~65k pages: every shard alone
    assert strategy == "per shard" and len(jobs) == len(SHARDS)


def test_the_policy_statement_splits_bucket_and_object_actions():
    policy = registry_policy("bkt", ["s3:DeleteObject", "s3:ListBucketMultipartUploads"])
    assert policy["Statement"] == [
        {"Effect": "Allow", "Action": ["s3:ListBucketMultipartUploads"], "Resource": "arn:aws:s3:::bkt"},
        {"Effect": "Allow", "Action": ["s3:DeleteObject"], "Resource": "arn:aws:s3:::bkt/*"}]


@pytest.mark.parametrize("chunk,status,fid", [
    ("", Status.WARN, "eof.chunksize_warn"),
    ("    chunksize: 25000000", Status.OK, "eof.chunksize_ok"),
    ("    chunksize: 10485760", Status.WARN, "eof.chunksize_warn"),
    ("    chunksize: 1048576", Status.FAIL, "eof.chunksize_fail"),
])
def test_chunksize_is_judged_against_the_seeds_range(chunk, status, fid):
    found = check_chunksize(parse_registry_config(REGISTRY_YML.format(chunk=chunk), "config.yml"))
    assert found[0].id == fid and found[0].status is status
    if status is not Status.OK:
        assert "chunksize' => 25000000" in found[0].remedy and "chunksize: 25000000" in found[0].remedy


def test_gitlab_rb_and_config_yml_disagreeing_on_chunksize_means_no_reconfigure():
    rb = parse_gitlab_rb("registry['storage'] = { 's3' => { 'bucket' => 'b', 'chunksize' => 25000000 } }\n")
    found = check_chunksize(parse_registry_config(REGISTRY_YML.format(chunk=""), "config.yml"), rb)
    assert {f.id for f in found} >= {"eof.chunksize_not_applied", "eof.chunksize_warn"}
    assert check_chunksize()[0].status is Status.SKIP


# -------------------------------------------------------------------- a bucket in moto's in-process mock

LAYOUT = {
    "g/app": {"latest": "aa" * 32, "v1": "bb" * 32},
    "g/sub/img": {"v2": "cc" * 32},
}


def _fill(s3, bucket="registry", markers=True):
    s3.create_bucket(Bucket=bucket)
    v2 = "docker/registry/v2/"
    for repo, tags in LAYOUT.items():
        for tag, digest in tags.items():
            s3.put_object(Bucket=bucket, Key=f"{v2}repositories/{repo}/_manifests/tags/{tag}/current/link",
                          Body=f"sha256:{digest}".encode())
            s3.put_object(Bucket=bucket, Key=f"{v2}repositories/{repo}/_layers/sha256/{digest}/link",
                          Body=f"sha256:{digest}".encode())
            s3.put_object(Bucket=bucket, Key=f"{v2}blobs/sha256/{digest[:2]}/{digest}/data", Body=b"x" * 5000)
    s3.put_object(Bucket=bucket, Key=f"{v2}blobs/sha256/dd/{'dd' * 32}/data", Body=b"y" * 100)  # unreferenced
    if markers:
        s3.put_object(Bucket=bucket, Key=f"{v2}repositories/g/app/_manifests/tags/", Body=b"")
        s3.put_object(Bucket=bucket, Key=f"{v2}repositories/g/app/", Body=b"")


@pytest.fixture
def mock_bucket(monkeypatch):
    for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(k, raising=False)
    with moto.mock_aws():
        target = connect(S3Settings(bucket="registry", region="us-east-1", access_key="k", secret_key="s"))
        _fill(target.client)
        yield target


def _rows(target):
    rows = []
    for page in target.client.get_paginator("list_objects_v2").paginate(Bucket=target.bucket):
        rows += [(o["Key"], o["Size"], o["ETag"].strip('"'), str(o["LastModified"])) for o in page.get("Contents", [])]
    return rows


def test_metrics_count_blobs_tags_links_and_unreferenced_bytes(mock_bucket):
    m = bucket_metrics(mock_bucket, progress=False)
    assert m.blob_count == 4 and m.blob_bytes == 3 * 5000 + 100
    table = m.repository_table().set_index("repository")
    assert table.loc["g/app", "tags"] == 2 and table.loc["g/app", "referenced_bytes"] == 10000
    assert m.unreferenced_blobs() == (1, 100)
    assert check_blobs(m)[0].evidence["unreferenced_bytes"] == 100
    assert check_repositories(m)[0].evidence["tags"] == 3


def test_region_mismatch_is_a_fail(mock_bucket):
    wrong = connect(S3Settings(bucket="registry", region="eu-west-1", access_key="k", secret_key="s"))
    found = check_region(wrong)
    assert found[0].id == "s3.region.mismatch" and found[0].evidence["bucket_region"] == "us-east-1"
    assert check_region(mock_bucket)[0].id == "s3.region.ok"


@pytest.mark.parametrize("fmt", ["CSV", "Parquet"])
def test_an_inventory_gives_the_listings_markers_and_metrics_without_listing(mock_bucket, tmp_path, fmt):
    if fmt == "Parquet":
        pytest.importorskip("pyarrow")
    manifest = write_inventory(tmp_path, "registry", _rows(mock_bucket), fmt=fmt, files=2)
    listed = find_markers(mock_bucket, progress=False)
    lists_before = mock_bucket.counter.list_requests
    from_inv = find_markers(mock_bucket, str(tmp_path), progress=False)  # the folder: manifest.json is found
    m = bucket_metrics(mock_bucket, str(manifest), progress=False)
    assert mock_bucket.counter.list_requests == lists_before  # no LIST call
    assert [(x.key, x.kind) for x in from_inv.markers] == [(x.key, x.kind) for x in listed.markers]
    assert from_inv.empty_tag_repositories == ["g/app"]
    assert m.blob_count == 4 and m.repository_table()["tags"].sum() == 3


def test_a_corrupt_inventory_file_is_an_error_finding(mock_bucket, tmp_path):
    manifest = write_inventory(tmp_path, "registry", _rows(mock_bucket), files=1)
    data = json.loads(manifest.read_text())
    data["files"][0]["MD5checksum"] = "0" * 32
    manifest.write_text(json.dumps(data))
    found = check_markers(find_markers(mock_bucket, str(manifest), progress=False))
    assert found[0].status is Status.ERROR and "MD5" in found[0].detail


def test_an_inventory_of_another_bucket_is_refused(mock_bucket, tmp_path):
    manifest = write_inventory(tmp_path, "some-other-bucket", _rows(mock_bucket), files=1)
    with pytest.raises(ValueError, match="some-other-bucket"):
        read_inventory(str(manifest), mock_bucket)


def test_a_wrong_root_is_a_warning_not_an_all_clear(mock_bucket):
    wrong = connect(S3Settings(bucket="registry", region="us-east-1", root="/elsewhere", access_key="k", secret_key="s"))
    assert check_markers(find_markers(wrong, progress=False))[0].id == "markers.nothing_listed"
    assert check_blobs(bucket_metrics(wrong, progress=False))[0].id == "bucket.empty"


def test_no_credentials_anywhere_is_named(monkeypatch, tmp_path):
    for k in [k for k in __import__("os").environ if k.startswith("AWS_") and k != "AWS_CA_BUNDLE"]:
        monkeypatch.delenv(k)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    target = connect(S3Settings(bucket="registry", region="us-east-1", endpoint="http://127.0.0.1:9"), timeout_s=1)
    found = check_credentials(target)
    assert found[0].id == "s3.credentials.no_credentials" and found[0].status is Status.FAIL
    assert "default chain" in found[0].remedy
