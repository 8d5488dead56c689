"""Listing a registry bucket by its cost in requests.

* The ``repositories/`` subtree: one delimiter request for its top-level prefixes (groups), then one flat
  listing per top-level prefix, in a bounded thread pool. Requests <= ceil(objects / 1000) + partitions + 1,
  against ~100x more for a ``Delimiter`` walk down to every repository (lab-facts.md), and no blob is listed.
* The blobs (``blobs/sha256/XX/``): one first page; a small store is finished sequentially, a larger one is
  split along its 256 shard prefixes into contiguous ranges listed in parallel; a very large one lists
  every shard on its own (no page is ever read twice then).

A consumer receives each page's ``Contents`` (list of dicts as boto3 returns them) under a lock, so it
may keep plain dicts and counters. Failures stop the listing and are returned, never raised.
"""

from __future__ import annotations

import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

from .client import S3Target
from .errors import S3Failure, classify

Consumer = Callable[[list[dict[str, Any]]], None]
PAGE = 1000
HEX = "0123456789abcdef"
SHARDS = [a + b for a in HEX for b in HEX]


@dataclass
class ListStats:
    """What one listing cost and saw."""

    what: str
    objects: int = 0
    requests: int = 0
    partitions: int = 0
    strategy: str = ""
    wall_s: float = 0.0
    cpu_s: float = 0.0
    failure: S3Failure | None = None
    truncated_by_failure: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = {"what": self.what, "objects": self.objects, "list_requests": self.requests,
             "partitions": self.partitions, "strategy": self.strategy, "wall_s": round(self.wall_s, 3),
             "client_cpu_s": round(self.cpu_s, 3)}
        if self.failure is not None:
            d["failure"] = self.failure.evidence()
        return d


class _Progress:
    """tqdm on stderr (plain text, no widgets: the HTML report must not load a widget manager)."""

    def __init__(self, enabled: bool, desc: str) -> None:
        self.bar = None
        if enabled:
            import sys

            from tqdm import tqdm

            self.bar = tqdm(desc=desc, unit=" obj", unit_scale=True, file=sys.stderr, mininterval=1.0,
                            dynamic_ncols=False, ncols=90)

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


@dataclass
class _Run:
    target: S3Target
    consume: Consumer
    progress: _Progress
    lock: threading.Lock = field(default_factory=threading.Lock)
    objects: int = 0
    requests: int = 0
    failure: S3Failure | None = None

    def page(self, contents: list[dict[str, Any]]) -> None:
        with self.lock:
            self.objects += len(contents)
            self.requests += 1
            if contents:
                self.consume(contents)
        self.progress.update(len(contents))

    def failed(self, failure: S3Failure) -> None:
        with self.lock:
            self.requests += 1
            if self.failure is None:
                self.failure = failure


def _list_range(run: _Run, prefix: str, start_after: str = "", stop_before: str = "",
                first: dict[str, Any] | None = None) -> None:
    """Flat listing of ``prefix`` from ``start_after`` up to (not including) ``stop_before``."""
    client, bucket = run.target.client, run.target.bucket
    token = ""
    response = first
    while True:
        if run.failure is not None:
            return
        if response is None:
            kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": PAGE}
            if token:
                kwargs["ContinuationToken"] = token
            elif start_after:
                kwargs["StartAfter"] = start_after
            try:
                response = client.list_objects_v2(**kwargs)
            except Exception as exc:
                run.failed(classify(exc))
                return
            contents = response.get("Contents") or []
            if stop_before and contents and contents[-1]["Key"] >= stop_before:
                run.page([c for c in contents if c["Key"] < stop_before])
                return
            run.page(contents)
        if not response.get("IsTruncated"):
            return
        token = response.get("NextContinuationToken") or ""
        if not token:
            return
        response = None


def _finish(run: _Run, stats: ListStats, t0: float, c0: float) -> ListStats:
    run.progress.close()
    stats.objects, stats.requests, stats.failure = run.objects, run.requests, run.failure
    stats.truncated_by_failure = run.failure is not None
    stats.wall_s, stats.cpu_s = time.perf_counter() - t0, time.process_time() - c0
    return stats


def list_partitioned(target: S3Target, prefix: str, consume: Consumer, progress: bool = False,
                     what: str = "") -> ListStats:
    """Flat listing of ``prefix`` split by its top-level prefixes, in parallel (see module docstring)."""
    stats = ListStats(what or prefix, strategy="flat by top-level prefix")
    t0, c0 = time.perf_counter(), time.process_time()
    run = _Run(target, consume, _Progress(progress, what or "listing"))
    partitions: list[str] = []
    token = ""
    while True:
        kwargs: dict[str, Any] = {"Bucket": target.bucket, "Prefix": prefix, "Delimiter": "/", "MaxKeys": PAGE}
        if token:
            kwargs["ContinuationToken"] = token
        try:
            response = target.client.list_objects_v2(**kwargs)
        except Exception as exc:
            run.failed(classify(exc))
            return _finish(run, stats, t0, c0)
        run.page(response.get("Contents") or [])
        partitions.extend(p["Prefix"] for p in response.get("CommonPrefixes") or [])
        token = response.get("NextContinuationToken") or ""
        if not (response.get("IsTruncated") and token):
            break
    stats.partitions = len(partitions)
    if partitions:
        workers = max(1, min(target.workers, len(partitions)))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="s3-list") as pool:
            for _ in pool.map(lambda p: _list_range(run, p), partitions):
                pass
    return _finish(run, stats, t0, c0)


def _hex_position(key: str, prefix: str) -> float:
    """Where a blob key sits in the sha256 space, 0..1 (for estimating how many pages are left)."""
    digits = key[len(prefix):len(prefix) + 2] + key[len(prefix) + 3:len(prefix) + 7]
    try:
        return (int(digits, 16) + 1) / 16 ** len(digits) if digits else 1.0
    except ValueError:
        return 1.0


def plan_blob_ranges(last_key: str, prefix: str, workers: int) -> tuple[str, list[tuple[str, str, str]]]:
    """After a truncated first page ending at ``last_key``: the strategy and the listings still to make,
    each ``(prefix, start_after, stop_before)``.

    Pages left are estimated from where ``last_key`` sits in the sha256 space (digests are uniform).
    Few pages: finish sequentially (no extra request). Many: contiguous shard ranges in parallel, about ten
    pages each so the one overlapping page per range stays a small share. Very many (>= 10 pages per
    shard): each shard by its own prefix, 256 listings that never overlap."""
    covered = _hex_position(last_key, prefix)
    pages_left = max(1, math.ceil(1 / max(covered, 1e-9) - 1))
    shard = last_key[len(prefix):len(prefix) + 2]
    index = SHARDS.index(shard) if shard in SHARDS else len(SHARDS) - 1
    rest = SHARDS[index + 1:]
    if pages_left <= 20 or not rest:
        return "sequential", [(prefix, last_key, "")]
    if pages_left >= 10 * len(SHARDS):
        jobs = [(prefix + shard + "/", last_key, "")] + [(prefix + s + "/", "", "") for s in rest]
        return "per shard", jobs
    k = max(2, min(2 * workers, pages_left // 10, len(rest) + 1))
    bounds = list(dict.fromkeys(rest[(i * len(rest)) // (k - 1)] for i in range(k - 1)))
    jobs = []
    start = last_key
    for b in bounds:
        jobs.append((prefix, start, prefix + b))
        start = prefix + b
    jobs.append((prefix, start, ""))
    return f"{len(jobs)} shard ranges", jobs


def list_blobs(target: S3Target, consume: Consumer, progress: bool = False) -> ListStats:
    """Every object under ``blobs/sha256/`` (see module docstring for the cost model)."""
    prefix = target.blobs_prefix
    stats = ListStats("blobs", strategy="single page")
    t0, c0 = time.perf_counter(), time.process_time()
    run = _Run(target, consume, _Progress(progress, "blobs"))
    try:
        first = target.client.list_objects_v2(Bucket=target.bucket, Prefix=prefix, MaxKeys=PAGE)
    except Exception as exc:
        run.failed(classify(exc))
        return _finish(run, stats, t0, c0)
    contents = first.get("Contents") or []
    run.page(contents)
    if not first.get("IsTruncated") or not contents:
        stats.partitions = 1
        return _finish(run, stats, t0, c0)
    strategy, jobs = plan_blob_ranges(contents[-1]["Key"], prefix, target.workers)
    stats.strategy, stats.partitions = strategy, len(jobs)
    if strategy == "sequential":
        _list_range(run, prefix, first=first)
        return _finish(run, stats, t0, c0)
    with ThreadPoolExecutor(max_workers=max(1, min(target.workers, len(jobs))), thread_name_prefix="s3-blobs") as pool:
        for _ in pool.map(lambda j: _list_range(run, j[0], j[1], j[2]), jobs):
            pass
    return _finish(run, stats, t0, c0)
