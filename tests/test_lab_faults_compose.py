"""Lab faults compose in any order: one canonical order (data set-up before breakage), and data set up
through the lab's own admin path, not through a realm another fault broke."""

from __future__ import annotations

import itertools

import httpx
import pytest

from runbooklib.lab import control
from runbooklib.lab import faults as F

F.load_plugins()
NAMES = sorted(n for n in F.FAULTS if n != "none")


@pytest.mark.parametrize("a,b", list(itertools.combinations(NAMES, 2)))
def test_every_fault_pair_resolves_to_the_same_lab_in_both_orders(a, b):
    assert [f.name for f in F.resolve([a, b])] == [f.name for f in F.resolve([b, a])]


def test_faults_that_write_data_run_before_faults_that_break_the_registry():
    order = [f.name for f in F.resolve(["untrusted-token-key", "storage-down", "stale-uploads", "empty-name-tags"])]
    assert order[:2] == ["empty-name-tags", "stale-uploads"]


@pytest.mark.lab
@pytest.mark.parametrize("given", [["untrusted-token-key", "empty-name-tags"], ["empty-name-tags", "untrusted-token-key"]])
def test_untrusted_key_with_empty_name_markers_starts_in_either_order(given, tmp_path):
    from runbooklib.s3.client import S3Settings, connect

    lab = control.up(tmp_path / "lab", given, free_ports=True)
    try:
        assert lab.faults == ["empty-name-tags", "untrusted-token-key"]
        target = connect(S3Settings(bucket=control.BUCKET, region=control.REGION, endpoint=lab.url("s3"),
                                    access_key=lab.secret("s3_access_key"), secret_key=lab.secret("s3_secret_key")))
        keys = [o["Key"] for o in target.client.list_objects_v2(Bucket=control.BUCKET,
                                                                Prefix="docker/registry/v2/repositories/")["Contents"]]
        assert any(k.endswith("/") for k in keys)  # the zero-byte markers are there
        realm = httpx.get(f"{lab.url('issuer')}/jwt/auth", params={"service": "container_registry",
                          "scope": f"repository:{control.SEED_IMAGE}:pull"},
                          auth=(control.USERNAME, lab.secret("password")), timeout=10, trust_env=False)
        answer = httpx.get(f"{lab.url('registry')}/v2/{control.SEED_IMAGE}/tags/list",
                           headers={"Authorization": f"Bearer {realm.json()['token']}"}, timeout=10, trust_env=False)
        assert answer.status_code == 401  # and the realm's tokens are still untrusted
    finally:
        control.down(tmp_path / "lab")
