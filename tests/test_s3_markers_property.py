"""Property: over random bucket layouts the cleanup plan holds exactly the zero-byte markers below
repositories/, apply deletes exactly those, a key overwritten in between survives and is reported, a wrong
digest deletes nothing, and the scan stays within its request bound. moto's in-process mock is the S3."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runbooklib.lab.fault_s3 import folder_levels
from runbooklib.s3 import S3Settings, connect
from runbooklib.s3 import listing
from runbooklib.s3 import markers as markers_mod
from runbooklib.s3.markers import CleanupRefused, apply_marker_cleanup, plan_marker_cleanup, scan_markers

moto = pytest.importorskip("moto")

V2 = "docker/registry/v2/"
REPOS = V2 + "repositories/"
component = st.sampled_from(["a", "b", "grp", "x9", "web-app"])
repo_name = st.lists(component, min_size=1, max_size=3).map("/".join)
repo = st.tuples(repo_name, st.lists(st.sampled_from(["latest", "v1", "v2.0"]), max_size=3, unique=True),
                 st.integers(0, 2))
layout = st.fixed_dictionaries({
    "repos": st.lists(repo, min_size=1, max_size=5, unique_by=lambda r: r[0]),
    "marker_share": st.floats(0, 1),
    "seed": st.integers(0, 2 ** 16),
    "slash_with_data": st.integers(0, 2),
    "page": st.sampled_from([2, 3, 7, 1000]),
})


def _build(client, spec):
    import random

    rnd = random.Random(spec["seed"])
    objects: dict[str, bytes] = {}
    for i, (name, tags, layers) in enumerate(spec["repos"]):
        digest = f"{i:02x}" * 32
        for tag in tags:
            objects[f"{REPOS}{name}/_manifests/tags/{tag}/current/link"] = f"sha256:{digest}".encode()
            objects[f"{REPOS}{name}/_manifests/tags/{tag}/index/sha256/{digest}/link"] = f"sha256:{digest}".encode()
        for n in range(layers):
            layer = f"{n:02x}{i:02x}" * 16
            objects[f"{REPOS}{name}/_layers/sha256/{layer}/link"] = f"sha256:{layer}".encode()
            objects[f"{V2}blobs/sha256/{layer[:2]}/{layer}/data"] = b"layer" * 20
        objects[f"{REPOS}{name}/_manifests/revisions/sha256/{digest}/link"] = f"sha256:{digest}".encode()
    objects["outside/of/the/registry/"] = b""  # a marker outside repositories/: never planned
    objects[f"{V2}blobs/"] = b""
    folders = sorted({f for key in list(objects) for f in folder_levels(key)})
    markers = {f for f in folders if rnd.random() < spec["marker_share"]}
    with_data = set(rnd.sample([f for f in folders if f not in markers], min(spec["slash_with_data"], len(folders) - len(markers))))
    for key in markers:
        objects.setdefault(key, b"")
    for key in with_data:
        objects[key] = b"not a marker: this folder-looking key holds data"
    empty_link = f"{REPOS}{spec['repos'][0][0]}/_manifests/tags/broken/current/link"
    objects[empty_link] = b""  # zero bytes but no trailing slash: not a marker either
    client.create_bucket(Bucket="registry")
    for key, body in objects.items():
        client.put_object(Bucket="registry", Key=key, Body=body)
    return objects


def _keys(client):
    out = set()
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="registry"):
        out.update(o["Key"] for o in page.get("Contents", []))
    return out


@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(spec=layout, tamper=st.booleans())
def test_plan_holds_exactly_the_markers_and_apply_deletes_exactly_them(monkeypatch, spec, tamper):
    monkeypatch.setattr(listing, "PAGE", spec["page"])
    monkeypatch.setattr(markers_mod, "DELETE_BATCH", 3)  # DeleteObjects takes <= 1000; 3 exercises batching
    with moto.mock_aws():
        target = connect(S3Settings(bucket="registry", region="us-east-1", access_key="k", secret_key="s"), workers=4)
        objects = _build(target.client, spec)
        expected = {k for k, v in objects.items() if v == b"" and k.endswith("/") and k.startswith(REPOS)}

        scan = scan_markers(target, progress=False)
        plan = plan_marker_cleanup(scan)
        assert set(plan.keys) == expected
        assert all(i.size == 0 and i.etag for i in plan.items)

        under = [k for k in objects if k.startswith(REPOS)]
        top = {k[len(REPOS):].split("/", 1)[0] for k in under if "/" in k[len(REPOS):]}
        entries = len(top) + sum(1 for k in under if "/" not in k[len(REPOS):])
        bound = math.ceil(len(under) / spec["page"]) + scan.stats.partitions + max(1, math.ceil(entries / spec["page"]))
        assert scan.stats.requests <= bound and scan.stats.partitions == len(top)
        assert scan.objects == len(under)  # every object below repositories/ read once, no blob listed

        with pytest.raises(CleanupRefused):
            apply_marker_cleanup(plan, confirm="0" * 64)
        with pytest.raises(CleanupRefused):
            apply_marker_cleanup(plan, confirm="")
        assert _keys(target.client) == set(objects)  # a refused apply deleted nothing

        changed = ""
        if tamper and plan.items:
            changed = plan.items[len(plan.items) // 2].key
            target.client.put_object(Bucket="registry", Key=changed, Body=b"written after the plan")
        audit = apply_marker_cleanup(plan, confirm=plan.digest)
        assert audit.requests["by_operation"].get("DeleteObjects", 0) == math.ceil(len(expected - {changed}) / 3)
        assert "ListObjectsV2" not in audit.requests["by_operation"]  # apply never lists (no prefix delete)
        assert set(audit.deleted) == expected - {changed}
        assert _keys(target.client) == (set(objects) - expected) | ({changed} if changed else set())
        if changed:
            assert [s["key"] for s in audit.skipped] == [changed] and "changed" in audit.skipped[0]["reason"]
        else:
            assert audit.skipped == [] and audit.errors == []
