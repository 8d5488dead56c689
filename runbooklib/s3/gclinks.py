"""Storage after a garbage collection: do the repositories' links still lead to data?

A repository holds links (``_manifests/tags/<tag>/current/link``, ``_manifests/revisions/sha256/<hex>/link``,
``_layers/sha256/<hex>/link``) into the shared ``blobs/``. A GC that deleted referenced content leaves tags whose
manifest (or an index's platform manifest) has no revision link, and layer links whose blob data is gone.
One listing per repository, a HEAD per linked blob and a GET of each tagged manifest (a few KiB), all bounded.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ..findings import Finding, Status
from .client import S3Target
from .errors import attempt

SECTION = "Beyond the troubleshooting page: garbage collection that broke pulls"
MAX_LINKS = 2000
MANIFEST_CAP = 1 << 20
_LINK = re.compile(r"^(?:_manifests/revisions/sha256/(?P<rev>[0-9a-f]{64})|_layers/sha256/(?P<layer>[0-9a-f]{64})|"
                   r"_manifests/tags/(?P<tag>[^/]+)/current)/link$")


def _blob_key(target: S3Target, hex_digest: str) -> str:
    return f"{target.blobs_prefix}{hex_digest[:2]}/{hex_digest}/data"


def check_bucket_versioning(target: S3Target) -> list[Finding]:
    """Can what a GC deleted be restored from the bucket? Only with versioning on (S3 keeps old versions and
    puts a delete marker on top)."""
    refs = (SECTION,)
    if target is None or not target.ok:
        return [Finding("gc.versioning_not_checked", Status.SKIP, "Bucket versioning not checked",
                        detail="Give `s3_bucket` (and `s3_*`) or a `registry_config` with `storage.s3`.", refs=refs)]
    got = attempt(target.client.get_bucket_versioning, Bucket=target.bucket)
    if not got.ok:
        failure = got.failure
        return [Finding("gc.versioning_not_checked", Status.SKIP, "Bucket versioning could not be read",
                        detail=f"GetBucketVersioning: {failure.title if failure else '?'} (needs "
                               "`s3:GetBucketVersioning`).", evidence=failure.evidence() if failure else {}, refs=refs)]
    state = str(got.value.get("Status") or "never enabled")
    ev = {"bucket": target.bucket, "versioning": state}
    if state == "Enabled":
        return [Finding("gc.versioning_on", Status.OK, "Bucket versioning is on: deleted objects can be restored",
                        detail=f"{target.bucket}: versioning {state}. A GC's deletions are delete markers over the "
                               "previous versions: remove the markers (or copy the versions back) for the keys below.",
                        evidence=ev, refs=refs)]
    return [Finding("gc.versioning_off", Status.INFO,
                    f"Bucket versioning is {'suspended' if state == 'Suspended' else 'off'}",
                    detail=f"{target.bucket}: versioning {state}. What a GC deleted is gone from the bucket: push the "
                           "affected tags again. Turn versioning on (with a lifecycle rule expiring noncurrent versions) "
                           "before the next GC.", evidence=ev, refs=refs)]


def check_gc_storage(target: S3Target, repositories: list[str] | tuple[str, ...], max_links: int = MAX_LINKS) -> list[Finding]:
    """For each repository: tags whose manifest or platform manifests lost their revision link, and layer or
    revision links whose blob data is gone (evidence of what a GC deleted while it was still referenced)."""
    refs = (SECTION,)
    if target is None or not target.ok:
        why = target.problem if target is not None else "no S3 storage"
        return [Finding("gc.storage_not_checked", Status.SKIP, "Storage links not checked",
                        detail=f"{why}. Give `s3_bucket` (and `s3_*`) or a `registry_config` with `storage.s3`; for "
                               "filesystem storage compare `find <root>/docker/registry/v2/repositories -name link` "
                               "with `…/blobs` by hand.", refs=refs)]
    if not repositories:
        return [Finding("gc.storage_not_checked", Status.SKIP, "Storage links not checked: no repository named",
                        detail="Give `gc_output` (its repositories are checked).", refs=refs)]
    s3 = target.client
    rows: list[dict[str, Any]] = []
    problems: list[str] = []
    checked_links = 0
    head_cache: dict[str, bool] = {}

    def blob_exists(hex_digest: str) -> bool | None:
        if hex_digest not in head_cache:
            got = attempt(s3.head_object, Bucket=target.bucket, Key=_blob_key(target, hex_digest))
            if not got.ok and got.failure is not None and got.failure.status not in (404,) and \
                    got.failure.code not in ("404", "NoSuchKey", "NotFound"):
                problems.append(f"HEAD {_blob_key(target, hex_digest)}: {got.failure.title}")
                return None
            head_cache[hex_digest] = got.ok
        return head_cache[hex_digest]

    for repo in list(dict.fromkeys(repositories)):
        prefix = f"{target.repositories_prefix}{repo}/"
        revisions: set[str] = set()
        layers: set[str] = set()
        tags: dict[str, str] = {}
        token = None
        while True:
            kwargs = {"Bucket": target.bucket, "Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = attempt(s3.list_objects_v2, **kwargs)
            if not page.ok:
                problems.append(f"LIST {prefix}: {page.failure.title if page.failure else '?'}")
                break
            for obj in page.value.get("Contents") or []:
                rel = obj["Key"][len(prefix):]
                m = _LINK.match(rel)
                if not m:
                    continue
                if m["rev"]:
                    revisions.add(m["rev"])
                elif m["layer"]:
                    layers.add(m["layer"])
                elif m["tag"]:
                    tags[m["tag"]] = obj["Key"]
            if not page.value.get("IsTruncated"):
                break
            token = page.value.get("NextContinuationToken")
        for tag, key in sorted(tags.items()):
            got = attempt(s3.get_object, Bucket=target.bucket, Key=key)
            if not got.ok:
                problems.append(f"GET {key}: {got.failure.title if got.failure else '?'}")
                continue
            digest = got.value["Body"].read(200).decode("ascii", "replace").strip()
            hex_digest = digest.split(":", 1)[-1]
            if hex_digest not in revisions:
                rows.append({"repository": repo, "tag": tag, "problem": "tagged manifest has no revision link",
                             "digest": digest})
                continue
            body = attempt(s3.get_object, Bucket=target.bucket, Key=_blob_key(target, hex_digest))
            if not body.ok:
                rows.append({"repository": repo, "tag": tag, "problem": "tagged manifest's data is gone",
                             "digest": digest})
                continue
            try:
                manifest = json.loads(body.value["Body"].read(MANIFEST_CAP))
            except ValueError:
                continue
            for child in manifest.get("manifests") or [] if isinstance(manifest, dict) else []:
                child_hex = str(child.get("digest", "")).split(":", 1)[-1] if isinstance(child, dict) else ""
                if child_hex and child_hex not in revisions:
                    rows.append({"repository": repo, "tag": tag, "problem": "platform manifest of the index has no "
                                 "revision link (manifest unknown)", "digest": f"sha256:{child_hex}"})
        for kind, digests in (("layer link", layers), ("revision link", revisions)):
            for hex_digest in sorted(digests):
                if checked_links >= max_links:
                    break
                checked_links += 1
                if blob_exists(hex_digest) is False:
                    rows.append({"repository": repo, "problem": f"{kind} to blob data that is gone (blob unknown)",
                                 "digest": f"sha256:{hex_digest}"})
    ev: dict[str, Any] = {"bucket": target.bucket, "repositories": list(repositories)[:50], "links_checked": checked_links}
    found: list[Finding] = []
    if problems:
        found.append(Finding("gc.storage_errors", Status.ERROR, f"{len(problems)} storage request(s) failed",
                             detail="; ".join(problems[:5]) + ". The `s3-permissions` runbook names the cause.",
                             evidence={**ev, "problems": problems[:20]}, refs=refs))
    if rows:
        found.append(Finding(
            "gc.storage_dangling", Status.FAIL, f"{len(rows)} link(s) in storage lead to deleted content",
            detail=f"{rows[0]['repository']}: {rows[0]['problem']} ({rows[0]['digest'][:19]}…)"
                   + (f", and {len(rows) - 1} more" if len(rows) > 1 else "") + ". The repository still names "
                   "content whose manifest revision or blob data was deleted: the evidence of a GC (or a manual "
                   "deletion) that removed referenced content.",
            evidence={**ev, "links": rows[:200], "scenario": "gc-broke-pulls"},
            remedy="With bucket versioning on, restore the previous version of each listed object "
                   "(`aws s3api list-object-versions --prefix docker/registry/v2/blobs/sha256/<xx>/<hex>/`, then "
                   "delete the delete marker or copy the version back); otherwise push the tags again.",
            refs=refs))
    elif not problems:
        found.append(Finding("gc.storage_consistent", Status.OK,
                             f"Every link checked in {len(list(repositories))} repositories leads to data",
                             detail=f"{checked_links} link(s) checked; every tag's manifest and index children have "
                                    "revision links.", evidence=ev, refs=refs))
    return found
