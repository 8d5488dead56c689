"""The S3 runbooks against the real lab: docker-registry 2.8 on a moto_server bucket, each S3 fault injected
for real, each notebook run through `runbook run` as automation would."""

from __future__ import annotations

import json

import pytest

from runbooklib import params as P
from runbooklib.findings import Status
from runbooklib.lab import control
from runbooklib.lab.fault_s3 import MISSING_ACTIONS, lab_s3
from runbooklib.probes.http import make_client
from runbooklib.s3 import (RegistryTags, S3Settings, check_credentials, check_marker_cleanup, check_markers,
                           check_permissions, check_region, connect, connect_s3, find_markers, plan_marker_cleanup,
                           probe_permissions, write_inventory)
from tests.conftest import _need, runbook

pytestmark = pytest.mark.lab
REPOS = "docker/registry/v2/repositories/"
SCENARIOS = ("s3-permissions", "empty-name-tags", "bucket-metrics", "s3-push-unexpected-eof")


def _lab(tmp_path_factory, name, faults):
    _need("docker-registry", "skopeo")
    state = tmp_path_factory.mktemp(name)
    return state, control.up(state, faults, free_ports=True)


@pytest.fixture(scope="module")
def plain_lab(tmp_path_factory):
    """A healthy lab of this module's own (tests here write to its bucket)."""
    state, lab = _lab(tmp_path_factory, "s3-plain", [])
    yield lab
    control.down(state)


@pytest.fixture(scope="module")
def marker_lab(tmp_path_factory):
    state, lab = _lab(tmp_path_factory, "s3-markers", ["empty-name-tags"])
    yield lab
    control.down(state)


def _run(lab, scenario, out, *extra):
    r = runbook("run", scenario, "-f", str(lab.params_path), "-o", str(out), *extra)
    path = out / f"{scenario}.findings.json"
    assert path.exists(), r.stderr[-2000:]
    return r.returncode, {f["id"]: f for f in json.loads(path.read_text())["findings"]}


def _target(lab, **override):
    values = {k: v for k, v in P.load_file(lab.params_path).items()}
    values.update(override)
    p = P.resolve_all({k: P.VOCABULARY[k] for k in values if k in P.VOCABULARY},
                      {k: v for k, v in values.items() if k in P.VOCABULARY})
    return connect_s3(p)


def _keys(lab):
    s3 = lab_s3(lab)
    out = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="registry"):
        out.update({o["Key"]: (o["Size"], o["ETag"]) for o in page.get("Contents", [])})
    return out


def _tags(lab):
    return RegistryTags(make_client(10), lab.url("registry"), "lab-user", lab.secret("password"))


# ------------------------------------------------------------------------------------------- healthy


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_healthy_lab_gives_no_fail_and_no_error(lab, tmp_path, scenario):
    rc, found = _run(lab, scenario, tmp_path)
    assert rc == 0
    assert not [f for f in found.values() if f["status"] in ("fail", "error")], found
    if scenario == "bucket-metrics":
        blobs = [k for k in _keys(lab) if k.startswith("docker/registry/v2/blobs/") and k.endswith("/data")]
        assert found["bucket.blobs"]["evidence"]["blobs"] == len(blobs) > 0  # the same count as a plain listing
        assert "data:image/png;base64," in (tmp_path / "bucket-metrics.html").read_text()
    if scenario == "s3-permissions":
        assert found["s3.permissions.ok"]["evidence"]["actions"]["s3:DeleteObject"] == "untested"  # read-only default


def test_wrong_bucket_region_and_endpoint_are_findings_not_tracebacks(lab):
    assert check_credentials(_target(lab, s3_bucket="no-such-bucket"))[0].id == "s3.bucket.missing"
    region = check_region(_target(lab, s3_region="eu-west-1"))[0]
    assert region.id == "s3.region.mismatch" and region.status is Status.FAIL
    down = connect(S3Settings(bucket="registry", endpoint=lab.url("s3").rsplit(":", 1)[0] + ":1",
                              access_key="a", secret_key="b"), timeout_s=2, max_attempts=1)
    assert check_credentials(down)[0].id == "s3.endpoint.unreachable"


# ------------------------------------------------------------------------------- empty-name tags


def test_lab_facts_only_the_tags_folder_marker_makes_an_empty_tag(plain_lab):
    """lab-facts.md, measured again on the real registry: one zero-byte marker at a time, then tags/list."""
    s3, tags = lab_s3(plain_lab), _tags(plain_lab)
    repo = f"{REPOS}group/project/app/"
    baseline = tags.tags("group/project/app").tags
    assert baseline and "" not in baseline
    seen = {}
    for level in ("", "_manifests/", "_manifests/tags/latest/", "_manifests/tags/"):
        s3.put_object(Bucket="registry", Key=repo + level, Body=b"")
        try:
            seen[level] = tags.tags("group/project/app").tags
        finally:
            s3.delete_object(Bucket="registry", Key=repo + level)
    assert seen == {"": baseline, "_manifests/": baseline, "_manifests/tags/latest/": baseline,
                    "_manifests/tags/": ("",) + baseline}


def test_empty_name_tags_plan_confirm_apply_removes_every_marker_and_nothing_else(marker_lab, tmp_path):
    before = _keys(marker_lab)
    planned_markers = {k for k, (size, _) in before.items() if size == 0 and k.endswith("/") and k.startswith(REPOS)}
    assert len(planned_markers) > 20 and "docker/registry/v2/blobs/" in before  # markers outside repositories/ too

    # the scale path sees the same markers without listing
    target = _target(marker_lab)
    rows = [(k, s, e.strip('"'), "") for k, (s, e) in before.items()]
    inv = find_markers(target, str(write_inventory(tmp_path / "inv", "registry", rows)), progress=False)
    assert {m.key for m in inv.markers} == planned_markers and target.counter.list_requests == 0

    rc, found = _run(marker_lab, "empty-name-tags", tmp_path / "plan")
    assert rc == 1
    assert found["markers.found"]["evidence"]["empty_tag_repositories"] == ["group/project/app", "group/sub/deep/img"]
    assert found["markers.empty_tag_listed"]["evidence"]["showing_empty_tag"] == ["group/project/app", "group/sub/deep/img"]
    planned = found["markers.cleanup_planned"]
    digest = planned["evidence"]["digest"]
    assert planned["evidence"]["keys"] == len(planned_markers) and digest in planned["detail"]
    assert _keys(marker_lab) == before  # plan only: nothing deleted

    rc, found = _run(marker_lab, "empty-name-tags", tmp_path / "wrong", "-p", "apply", "true",
                     "-p", "confirm_digest", "f" * 64)
    assert found["markers.cleanup_refused"]["status"] == "error" and _keys(marker_lab) == before
    refused = check_marker_cleanup(plan_marker_cleanup(find_markers(_target(marker_lab), progress=False)), apply=True)
    assert refused[0].id == "markers.cleanup_refused" and _keys(marker_lab) == before  # apply without a digest

    rc, found = _run(marker_lab, "empty-name-tags", tmp_path / "apply", "-p", "apply", "true",
                     "-p", "confirm_digest", digest)
    audit = found["markers.cleanup_applied"]
    assert audit["status"] == "ok" and audit["evidence"]["deleted_count"] == len(planned_markers)
    assert audit["evidence"]["empty_tag_after"] == [] and audit["evidence"]["digest"] == digest
    after = _keys(marker_lab)
    assert set(after) == set(before) - planned_markers  # every other object is still there
    assert all(after[k] == before[k] for k in after)
    answers = _tags(marker_lab).tags_of(["group/project/app", "group/sub/deep/img", "group/project/tools"])
    assert all(a.tags and "" not in a.tags for a in answers.values())
    assert check_markers(find_markers(_target(marker_lab), progress=False))[0].id == "markers.none"
    html = (tmp_path / "apply" / "empty-name-tags.html").read_text()
    assert digest in html and "cleanup_applied" in html  # the audit record is in the report


# --------------------------------------------------------------------------------- credentials / IAM


@pytest.fixture(scope="module")
def bad_secret_lab(tmp_path_factory):
    state, lab = _lab(tmp_path_factory, "s3-bad-secret", ["s3-bad-secret"])
    yield lab
    control.down(state)


def test_a_wrong_secret_is_told_from_an_unknown_key_and_the_registry_keeps_working(bad_secret_lab, tmp_path):
    rc, found = _run(bad_secret_lab, "s3-permissions", tmp_path)
    assert rc == 1
    assert found["s3.credentials.signature_mismatch"]["status"] == "fail"
    assert found["s3.credentials.registry.ok"]["status"] == "ok"  # the registry config's own key works
    assert "same access key ID" in found["s3.credentials.parameters_stale"]["detail"]
    assert found["s3.settings.differ"]["status"] == "warn"
    secret = bad_secret_lab.secret("s3_secret_key")
    assert secret not in (tmp_path / "s3-permissions.html").read_text()
    unknown = connect(S3Settings(bucket="registry", endpoint=bad_secret_lab.url("s3"), region="us-east-1",
                                 access_key="AKIAUNKNOWNKEY000000", secret_key="x"), timeout_s=5)
    assert check_credentials(unknown)[0].id == "s3.credentials.invalid_access_key"
    assert "latest" in _tags(bad_secret_lab).tags("group/project/app").tags


def test_missing_permissions_are_named_with_the_statement_to_add(tmp_path_factory, tmp_path):
    state, lab = _lab(tmp_path_factory, "s3-perms", ["s3-missing-permissions"])
    try:
        rc, found = _run(lab, "s3-permissions", tmp_path, "-p", "write_probe", "true")
        assert rc == 1
        denied = found["s3.permissions.denied"]
        assert sorted(a for a, r in denied["evidence"]["actions"].items() if r == "denied") == sorted(MISSING_ACTIONS)
        statements = denied["evidence"]["policy_to_add"]["Statement"]
        assert {a for s in statements for a in s["Action"]} == set(MISSING_ACTIONS)
        assert found["s3.permissions.probe_leftover"]["status"] == "warn"  # DeleteObject denied: the probe key stays
    finally:
        control.down(state)


def test_write_probe_on_a_healthy_bucket_cleans_up_after_itself(plain_lab):
    before = _keys(plain_lab)
    report = probe_permissions(_target(plain_lab), write=True)
    found = check_permissions(report)
    assert [f.id for f in found] == ["s3.permissions.ok"]
    assert set(report.by_action().values()) == {"allowed"}
    assert _keys(plain_lab) == before and not lab_s3(plain_lab).list_multipart_uploads(Bucket="registry").get("Uploads")


# ------------------------------------------------------------------------------------ stale uploads


def test_stale_uploads_show_in_bucket_metrics_and_corroborate_the_eof_runbook(tmp_path_factory, tmp_path):
    state, lab = _lab(tmp_path_factory, "s3-stale", ["stale-uploads"])
    try:
        rc, found = _run(lab, "bucket-metrics", tmp_path / "m")
        assert rc == 0
        stale = found["bucket.uploads_stale"]
        assert stale["evidence"]["stale"] == 3 and "purging is disabled" in stale["detail"]
        mpu = found["bucket.multipart_incomplete"]
        assert mpu["evidence"]["incomplete_uploads"] == 4 and mpu["evidence"]["orphaned"] == 1
        assert mpu["evidence"]["lifecycle_abort_rule"] == "none" and "AbortIncompleteMultipartUpload" in mpu["remedy"]
        rc, found = _run(lab, "s3-push-unexpected-eof", tmp_path / "eof")
        assert found["eof.chunksize_warn"]["evidence"]["registry_config"]["defaulted"] is True
        assert found["eof.multipart_incomplete"]["status"] == "warn"
        log = (lab.registry_log_dir / "current").read_text()
        assert "client disconnected during blob PATCH" in log and 'error="unexpected EOF"' in log
    finally:
        control.down(state)
