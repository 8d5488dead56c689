"""Incomplete multipart uploads, the lifecycle rule that aborts them, and CloudWatch's daily storage metrics.

These are asked of S3 separately from the bucket listing (metrics.py): a registry that crashed mid-push leaves
multipart uploads that cost money and never show up in a LIST of the bucket.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..findings import Finding, Status
from .client import S3Target, make_client
from .errors import S3Failure, attempt
from ..timebounds import parse_timestamp
from .markers import failure_finding
from .metrics import MAX_LIST_PARTS, SEED_BUCKET, STALE_UPLOAD_S, BucketMetrics, _human, _now

@dataclass
class MultipartUpload:
    key: str
    upload_id: str
    initiated: dt.datetime | None
    parts: int | None = None
    bytes: int | None = None
    registry_upload: str = ""  # "<repository> <uuid>" when the key is a registry upload's data


@dataclass
class MultipartScan:
    """Incomplete multipart uploads under the registry's prefix and the lifecycle rule that aborts them."""

    bucket: str
    prefix: str
    uploads: list[MultipartUpload] = field(default_factory=list)
    abort_rule_days: int | None = None
    lifecycle: str = ""  # found | none | unknown (why)
    failure: S3Failure | None = None
    problem: str = ""
    parts_listed: int = 0
    measured_at: dt.datetime = field(default_factory=_now)
    requests: dict[str, Any] = field(default_factory=dict)

    def table(self):
        import pandas as pd

        now = self.measured_at
        rows = [{"key": u.key, "initiated": u.initiated.isoformat() if u.initiated else "",
                 "age_h": round((now - u.initiated).total_seconds() / 3600, 1) if u.initiated else None,
                 "parts": u.parts, "bytes": u.bytes, "registry_upload": u.registry_upload} for u in self.uploads]
        return pd.DataFrame(rows, columns=["key", "initiated", "age_h", "parts", "bytes", "registry_upload"])

    def _repr_html_(self) -> str:
        return (f"<p>{len(self.uploads)} incomplete multipart upload(s); lifecycle abort rule: "
                f"{self.abort_rule_days if self.abort_rule_days is not None else self.lifecycle}</p>"
                + (self.table().head(50).to_html(index=False, escape=True) if self.uploads else ""))


def _abort_rule(target: S3Target, scan: MultipartScan) -> None:
    out = attempt(target.client.get_bucket_lifecycle_configuration, Bucket=target.bucket)
    if not out.ok:
        assert out.failure is not None
        scan.lifecycle = "none" if out.failure.kind == "not_found" else f"unknown ({out.failure.title})"
        return
    days = []
    for rule in out.value.get("Rules") or []:
        if rule.get("Status") != "Enabled":
            continue
        abort = rule.get("AbortIncompleteMultipartUpload") or {}
        prefix = (rule.get("Filter") or {}).get("Prefix", rule.get("Prefix", "")) or ""
        if "DaysAfterInitiation" in abort and target.prefix.startswith(prefix):
            days.append(int(abort["DaysAfterInitiation"]))
    scan.lifecycle = "found" if days else "none"
    scan.abort_rule_days = min(days) if days else None


def scan_multipart(target: S3Target) -> MultipartScan:
    """ListMultipartUploads under the registry's prefix, ListParts for up to 200 of them, the lifecycle rule."""
    scan = MultipartScan(target.bucket, target.prefix)
    if not target.ok:
        scan.problem = target.problem
        return scan
    before = target.counter.snapshot()
    kwargs: dict[str, Any] = {"Bucket": target.bucket, "Prefix": target.prefix, "MaxUploads": 1000}
    rp = target.repositories_prefix
    while True:
        out = attempt(target.client.list_multipart_uploads, **kwargs)
        if not out.ok:
            scan.failure = out.failure
            break
        for u in out.value.get("Uploads") or []:
            key = u["Key"]
            reg = ""
            if key.startswith(rp) and "/_uploads/" in key and key.endswith("/data"):
                repo, _, rest = key[len(rp):].partition("/_uploads/")
                reg = f"{repo} {rest.split('/', 1)[0]}"
            scan.uploads.append(MultipartUpload(key, u["UploadId"], parse_timestamp(u.get("Initiated")), registry_upload=reg))
        if not out.value.get("IsTruncated"):
            break
        kwargs["KeyMarker"] = out.value.get("NextKeyMarker", "")
        kwargs["UploadIdMarker"] = out.value.get("NextUploadIdMarker", "")
    todo = scan.uploads[:MAX_LIST_PARTS]

    def parts(u: MultipartUpload) -> None:
        total, count, marker = 0, 0, 0
        while True:
            res = attempt(target.client.list_parts, Bucket=target.bucket, Key=u.key, UploadId=u.upload_id,
                          PartNumberMarker=marker)
            if not res.ok:
                return
            for p in res.value.get("Parts") or []:
                total += int(p.get("Size", 0))
                count += 1
            if not res.value.get("IsTruncated"):
                break
            marker = int(res.value.get("NextPartNumberMarker") or 0)
        u.parts, u.bytes = count, total

    if todo:
        with ThreadPoolExecutor(max_workers=max(1, min(target.workers, len(todo))), thread_name_prefix="parts") as pool:
            list(pool.map(parts, todo))
    scan.parts_listed = len(todo)
    _abort_rule(target, scan)
    scan.requests = target.counter.since(before)
    scan.measured_at = _now()
    return scan


LIFECYCLE_RULE = {"Rules": [{"ID": "abort-incomplete-multipart-uploads", "Status": "Enabled", "Filter": {"Prefix": ""},
                             "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}}]}


def _lifecycle_remedy(bucket: str) -> str:
    import json

    return ("Add a lifecycle rule that aborts incomplete multipart uploads (they are billed but invisible to "
            f"listings):\n`aws s3api put-bucket-lifecycle-configuration --bucket {bucket} --lifecycle-configuration "
            f"'{json.dumps(LIFECYCLE_RULE)}'`\n(keep any rules the bucket already has: this call replaces them). "
            "Uploads the registry still uses are younger than a day; 7 days is safe.")


def check_multipart(scan: MultipartScan, metrics: BucketMetrics | None = None, seed: str = SEED_BUCKET,
                    fid: str = "bucket.multipart") -> list[Finding]:
    """Incomplete multipart uploads: count, bytes, age, and whether a lifecycle rule aborts them. With the
    bucket's ``metrics``, uploads whose registry session folder is gone are named orphans."""
    if scan.problem or scan.failure is not None:
        return [failure_finding(f"{fid}_failed", "Multipart uploads", scan.failure, scan.problem, (seed,))]
    now = scan.measured_at
    ups = scan.uploads
    orphans: list[str] = []
    if metrics is not None and not metrics.problem and metrics.failure is None:
        sessions = {f"{r} {u}" for r, u in metrics.repos.uploads}
        orphans = [u.key for u in ups if u.registry_upload and u.registry_upload not in sessions]
    ages = [(now - u.initiated).total_seconds() for u in ups if u.initiated]
    known_bytes = sum(u.bytes or 0 for u in ups)
    ev: dict[str, Any] = {"incomplete_uploads": len(ups), "bytes_in_listed_parts": known_bytes,
                          "parts_listed_for": scan.parts_listed, "lifecycle_abort_rule": scan.lifecycle,
                          "abort_after_days": scan.abort_rule_days, "requests": scan.requests}
    if metrics is not None:
        ev["orphaned"] = len(orphans)
        if orphans:
            ev["orphaned_keys"] = orphans[:50]
    if ups:
        ev["registry_uploads"] = sum(1 for u in ups if u.registry_upload)
        ev["oldest_age_h"] = round(max(ages) / 3600, 1) if ages else None
        ev["uploads"] = scan.table().head(50).to_dict(orient="records")
    rule = (f"a lifecycle rule aborts them after {scan.abort_rule_days} days" if scan.abort_rule_days is not None
            else "no lifecycle rule aborts them" if scan.lifecycle == "none"
            else f"whether a lifecycle rule aborts them is {scan.lifecycle}")
    if not ups:
        return [Finding(f"{fid}", Status.OK, "No incomplete multipart uploads",
                        detail=f"No multipart upload is pending under {scan.prefix or 'the bucket'}; {rule}.", evidence=ev,
                        remedy="" if scan.abort_rule_days is not None else _lifecycle_remedy(scan.bucket), refs=(seed,))]
    old = [a for a in ages if a >= STALE_UPLOAD_S]
    detail = (f"{len(ups)} incomplete multipart upload(s) under {scan.prefix or 'the bucket'} "
              f"({ev.get('registry_uploads', 0)} are registry upload sessions), {_human(known_bytes)} in their parts "
              f"(listed for {scan.parts_listed}); {len(old)} older than a day; {rule}.")
    if orphans:
        detail += (f" {len(orphans)} belong to no upload session left in _uploads/ (orphans: the registry will "
                   "never finish nor abort them).")
    status = Status.WARN if (old or orphans or scan.abort_rule_days is None) else Status.OK
    return [Finding(f"{fid}_incomplete", status, "Incomplete multipart uploads", detail=detail, evidence=ev,
                    remedy=_lifecycle_remedy(scan.bucket) if scan.abort_rule_days is None else "", refs=(seed,))]




def check_cloudwatch(target: S3Target, m: BucketMetrics | None = None) -> list[Finding]:
    """CloudWatch's daily `BucketSizeBytes` / `NumberOfObjects`, when this identity may read them."""
    refs = (SEED_BUCKET,)
    if not target.ok:
        return [failure_finding("bucket.cloudwatch_not_checked", "CloudWatch", None, target.problem, refs)]
    try:
        cw = make_client(target.settings, target.timeout_s, 2, service="cloudwatch")
        target.counter.attach(cw)
    except Exception as exc:
        return [Finding("bucket.cloudwatch", Status.SKIP, "CloudWatch storage metrics not read",
                        detail=f"No CloudWatch client: {type(exc).__name__}: {exc}", refs=refs)]
    end = _now()
    start = end - dt.timedelta(days=3)
    values: dict[str, Any] = {}
    for metric, storage in (("BucketSizeBytes", "StandardStorage"), ("NumberOfObjects", "AllStorageTypes")):
        out = attempt(cw.get_metric_statistics, Namespace="AWS/S3", MetricName=metric, StartTime=start, EndTime=end,
                      Period=86400, Statistics=["Average"],
                      Dimensions=[{"Name": "BucketName", "Value": target.bucket}, {"Name": "StorageType", "Value": storage}])
        if not out.ok:
            assert out.failure is not None
            return [Finding("bucket.cloudwatch", Status.SKIP, "CloudWatch storage metrics not readable",
                            detail=f"{metric}: {out.failure.title} ({out.failure.code}). The listing above is the "
                            "authoritative count; CloudWatch needs `cloudwatch:GetMetricStatistics` and exists only "
                            "on AWS.", evidence=out.failure.evidence(), refs=refs)]
        points = sorted(out.value.get("Datapoints") or [], key=lambda p: p.get("Timestamp"))
        if points:
            values[metric] = {"value": int(points[-1].get("Average", 0)), "at": points[-1]["Timestamp"]}
    if not values:
        return [Finding("bucket.cloudwatch", Status.SKIP, "No CloudWatch storage datapoints",
                        detail="CloudWatch returned no BucketSizeBytes/NumberOfObjects for the last 3 days (they are "
                        "published once a day, on AWS only; an S3-compatible store has none).", refs=refs)]
    ev = dict(values)
    detail = ", ".join(f"{k} {v['value']}" for k, v in values.items())
    if m is not None and not m.problem:
        ev["listed_registry_bytes"] = m.blob_bytes
        detail += f" (the registry's blobs listed here: {m.blob_bytes} bytes; CloudWatch counts the whole bucket, daily)"
    return [Finding("bucket.cloudwatch", Status.OK, "CloudWatch storage metrics", detail=detail + ".", evidence=ev, refs=refs)]
