"""Bucket health: blobs, repositories, tags, layer links, abandoned uploads.

The blobs are listed along their 256 ``blobs/sha256/XX/`` shards and the ``repositories/`` subtree along
its top-level prefixes, both in parallel (see listing.py for the cost model), or both are read from an S3
Inventory report without any LIST call: DuckDB computes the same numbers from the inventory's files in
bounded memory (inventory_db.py, with the SQL of inventory_sql.py), or an engine such as Athena or Trino
runs that SQL and its CSV results are read back. Either way the report's tables and plots come from the
same aggregates (:class:`Aggregates`). Multipart uploads and CloudWatch are multipart.py; plots are
metrics_plots.py.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..config.registry import RegistryConfig
from ..findings import Finding, Status
from ..timebounds import parse_timestamp
from . import inventory_sql as Q
from .client import S3Target
from .errors import S3Failure, attempt
from .inventory import InventoryError, read_inventory
from .inventory_db import from_epoch_ms, is_results_folder, iso_or_empty, read_results, run_inventory
from .listing import ListStats, list_blobs, list_partitioned
from .markers import failure_finding

SEED_BUCKET = "Storage (bucket metrics)"
SEED_EOF = "AWS S3 with the GitLab registry error when pushing large images"
STALE_UPLOAD_S = 24 * 3600  # an upload session older than a day is abandoned (the registry purges at 168 h by default)
MAX_STARTEDAT_READS = 500
MAX_LIST_PARTS = 200


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class BlobCollector:
    """``blobs/sha256/XX/<hex>/data`` sizes; anything else under blobs/ is counted apart."""

    def __init__(self, blobs_prefix: str) -> None:
        self.prefix = blobs_prefix
        self.sizes: dict[str, int] = {}
        self.other = 0
        self.objects = 0

    def page(self, contents: list[dict[str, Any]]) -> None:
        plen = len(self.prefix)
        sizes = self.sizes
        for obj in contents:
            key = obj["Key"]
            if key.endswith("/data") and key[plen + 2:plen + 3] == "/":
                sizes[key[plen + 3:-5]] = obj.get("Size", 0)
            else:
                self.other += 1
        self.objects += len(contents)


@dataclass
class UploadSession:
    """One ``_uploads/<uuid>/`` folder the registry left (an unfinished or abandoned blob upload)."""

    repository: str
    uuid: str
    started: dt.datetime | None = None
    started_source: str = ""
    last_modified: dt.datetime | None = None
    objects: int = 0
    data_bytes: int = 0
    startedat_key: str = ""

    def age_s(self, now: dt.datetime) -> float | None:
        when = self.started or self.last_modified
        return (now - when).total_seconds() if when else None


class RepositoryCollector:
    """Tags, manifests, layer links and upload sessions per repository, from the ``repositories/`` keys."""

    def __init__(self, repositories_prefix: str) -> None:
        self.prefix = repositories_prefix
        self.tags: Counter[str] = Counter()
        self.revisions: Counter[str] = Counter()
        self.layers: dict[str, list[str]] = defaultdict(list)
        self.revision_digests: set[str] = set()
        self.uploads: dict[tuple[str, str], UploadSession] = {}
        self.markers = 0
        self.objects = 0

    def page(self, contents: list[dict[str, Any]]) -> None:
        plen = len(self.prefix)
        for obj in contents:
            key = obj["Key"]
            if key[-1:] == "/":
                self.markers += 1
                continue
            rel = key[plen:]
            idx = rel.find("/_")
            if idx <= 0:
                continue
            repo = rel[:idx]
            inner = rel[idx + 1:]
            if inner.startswith("_layers/sha256/"):
                self.layers[repo].append(inner[15:inner.find("/", 15)] if inner.find("/", 15) > 0 else inner[15:])
            elif inner.startswith("_manifests/"):
                if inner.endswith("/current/link"):
                    self.tags[repo] += 1
                elif inner.startswith("_manifests/revisions/sha256/") and inner.endswith("/link"):
                    self.revisions[repo] += 1
                    self.revision_digests.add(inner[28:-5])
                else:
                    self.revisions.setdefault(repo, 0)
            elif inner.startswith("_uploads/"):
                parts = inner.split("/", 2)
                if len(parts) < 3:
                    continue
                session = self.uploads.get((repo, parts[1]))
                if session is None:
                    session = self.uploads[(repo, parts[1])] = UploadSession(repo, parts[1])
                session.objects += 1
                lm = parse_timestamp(obj.get("LastModified"))
                if lm and (session.last_modified is None or lm > session.last_modified):
                    session.last_modified = lm
                if parts[2] == "startedat":
                    session.startedat_key = key
                elif parts[2] == "data":
                    session.data_bytes += int(obj.get("Size", 0) or 0)
        self.objects += len(contents)

    @property
    def repositories(self) -> set[str]:
        return set(self.layers) | set(self.tags) | set(self.revisions)


@dataclass
class Aggregates:
    """The numbers an inventory's result sets give (inventory_sql.py), in place of the collectors' per-key
    state: blob counts and bytes per size octave (referenced or not) and the repository table."""

    blob_sizes: list[tuple[int, bool, int, int]]  # (octave, referenced, blobs, bytes); octave -1 is size 0
    repositories: Any  # DataFrame, the columns of BucketMetrics.repository_table()

    @property
    def blob_count(self) -> int:
        return sum(n for _, _, n, _ in self.blob_sizes)

    @property
    def blob_bytes(self) -> int:
        return sum(b for _, _, _, b in self.blob_sizes)


REPOSITORY_COLUMNS = ["repository", "tags", "manifests", "layer_links", "referenced_bytes", "dangling_links"]


def _octave(size: int) -> int:
    """floor(log2(size)), -1 for 0 (the size classes and the size plot are built from octaves)."""
    return int(size).bit_length() - 1 if size > 0 else -1


@dataclass
class BucketMetrics:
    """Everything the bucket-metrics notebook shows, computed once. From a listing the collectors hold the
    per-key state; from an inventory ``aggregates`` hold the result sets and the collectors only the counts
    (``objects``, ``other``, ``markers``) and the upload sessions."""

    bucket: str
    prefix: str
    blobs: BlobCollector
    repos: RepositoryCollector
    blob_stats: ListStats | None = None
    repo_stats: ListStats | None = None
    source: str = "listing"
    problem: str = ""
    failure: S3Failure | None = None
    requests: dict[str, Any] = field(default_factory=dict)
    measured_at: dt.datetime = field(default_factory=_now)
    aggregates: Aggregates | None = None
    markers: list[Any] = field(default_factory=list)  # layout.Marker, when a `markers` result set was read
    engine: dict[str, Any] = field(default_factory=dict)  # how an inventory was read (files, time, memory)

    @property
    def blob_count(self) -> int:
        if self.aggregates is not None:
            return self.aggregates.blob_count
        return len(self.blobs.sizes)

    @property
    def blob_bytes(self) -> int:
        if self.aggregates is not None:
            return self.aggregates.blob_bytes
        return sum(self.blobs.sizes.values())

    def size_octaves(self) -> dict[int, tuple[int, int]]:
        """Blobs and bytes per octave (``floor(log2(size))``, -1 for empty blobs), smallest first."""
        out: dict[int, list[int]] = {}
        if self.aggregates is not None:
            for octave, _, n, b in self.aggregates.blob_sizes:
                cur = out.setdefault(int(octave), [0, 0])
                cur[0] += n
                cur[1] += b
        else:
            for size in self.blobs.sizes.values():
                cur = out.setdefault(_octave(size), [0, 0])
                cur[0] += 1
                cur[1] += size
        return {o: (v[0], v[1]) for o, v in sorted(out.items())}

    def size_classes(self) -> dict[str, int]:
        """Blob counts per power-of-four size class, as :func:`size_histogram` gives them."""
        return size_classes_of_octaves({o: n for o, (n, _) in self.size_octaves().items()})

    @property
    def repository_count(self) -> int:
        if self.aggregates is not None:
            return len(self.aggregates.repositories)
        return len(self.repos.repositories)

    @property
    def tag_count(self) -> int:
        if self.aggregates is not None:
            return int(self.aggregates.repositories["tags"].sum()) if len(self.aggregates.repositories) else 0
        return sum(self.repos.tags.values())

    def repository_table(self):
        """Per repository: tags, manifests, layer links, referenced bytes, dangling links (DataFrame)."""
        import pandas as pd

        if self.aggregates is not None:
            frame = self.aggregates.repositories.copy()
            return frame.sort_values(["referenced_bytes", "repository"], ascending=[False, True], ignore_index=True)
        sizes = self.blobs.sizes
        rows = []
        for repo in sorted(self.repos.repositories):
            layers = self.repos.layers.get(repo, [])
            referenced = sum(sizes.get(h, 0) for h in layers)
            dangling = sum(1 for h in layers if h not in sizes)
            rows.append({"repository": repo, "tags": self.repos.tags.get(repo, 0),
                         "manifests": self.repos.revisions.get(repo, 0), "layer_links": len(layers),
                         "referenced_bytes": referenced, "dangling_links": dangling})
        frame = pd.DataFrame(rows, columns=REPOSITORY_COLUMNS)
        return frame.sort_values(["referenced_bytes", "repository"], ascending=[False, True], ignore_index=True)

    def upload_table(self, now: dt.datetime | None = None):
        import pandas as pd

        now = now or self.measured_at
        rows = [{"repository": u.repository, "uuid": u.uuid, "age_h": round((u.age_s(now) or 0) / 3600, 2),
                 "started": u.started.isoformat() if u.started else "", "age_from": u.started_source or "LastModified",
                 "objects": u.objects, "data_bytes": u.data_bytes} for u in self.repos.uploads.values()]
        frame = pd.DataFrame(rows, columns=["repository", "uuid", "age_h", "started", "age_from", "objects", "data_bytes"])
        return frame.sort_values(["age_h", "repository", "uuid"], ascending=[False, True, True], ignore_index=True)

    def unreferenced_blobs(self) -> tuple[int, int]:
        """Blobs no repository links to as a layer or manifest: what garbage-collect would remove."""
        if self.aggregates is not None:
            loose_rows = [(n, b) for _, ref, n, b in self.aggregates.blob_sizes if not ref]
            return sum(n for n, _ in loose_rows), sum(b for _, b in loose_rows)
        referenced = set(self.repos.revision_digests)
        for layers in self.repos.layers.values():
            referenced.update(layers)
        loose = [s for h, s in self.blobs.sizes.items() if h not in referenced]
        return len(loose), sum(loose)

    def _repr_html_(self) -> str:
        import html

        return (f"<p>{self.blob_count} blobs ({_human(self.blob_bytes)}), {self.repository_count} repositories, "
                f"{self.tag_count} tags, {len(self.repos.uploads)} upload sessions "
                f"(source: {html.escape(self.source)}).</p>")


def _human(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def _read_startedat(target: S3Target, sessions: list[UploadSession]) -> None:
    """The registry writes the upload's start time (RFC 3339) into ``startedat``: that is its age."""
    todo = [s for s in sessions if s.startedat_key][:MAX_STARTEDAT_READS]

    def read(s: UploadSession) -> None:
        out = attempt(target.client.get_object, Bucket=target.bucket, Key=s.startedat_key)
        if not out.ok:
            return
        try:
            body = out.value["Body"].read(200).decode("utf-8", "replace")
        except Exception:  # a broken body is just not an age
            return
        when = parse_timestamp(body.strip())
        if when:
            s.started, s.started_source = when, "startedat"

    if todo:
        with ThreadPoolExecutor(max_workers=max(1, min(target.workers, len(todo))), thread_name_prefix="startedat") as pool:
            list(pool.map(read, todo))


def bucket_metrics(target: S3Target, inventory: str = "", progress: bool = True, memory_limit: str = "1GiB",
                   spill_dir: str = "", results: str = "") -> BucketMetrics:
    """List the blobs and the repositories subtree and gather the metrics; or read them from an S3 Inventory
    (``inventory``: its manifest.json, ``s3://`` or local, analysed by DuckDB within ``memory_limit``, spilling
    into a private folder below ``spill_dir``); or from the CSV result sets an engine returned for
    ``runbook inventory-sql`` (``results``: their folder)."""
    blobs = BlobCollector(target.blobs_prefix)
    repos = RepositoryCollector(target.repositories_prefix)
    m = BucketMetrics(target.bucket, target.prefix, blobs, repos)
    if results or inventory:

        where = results or inventory
        m.source = f"query results {where}" if results or is_results_folder(inventory) else f"inventory {where}"
        try:
            if m.source.startswith("query results"):
                res = read_results(where, Q.METRICS_RESULTS)
            else:
                inv = read_inventory(inventory, target if target.client is not None else None)
                if inv.created:
                    m.source += f" (made {inv.created.isoformat(timespec='minutes')})"
                res = run_inventory(inv, Q.Layout(target.blobs_prefix, target.repositories_prefix),
                                    Q.METRICS_RESULTS, memory_limit, spill_dir, progress)
            fill_from_results(m, res)
        except InventoryError as exc:
            m.failure = S3Failure("inventory", "", None, str(exc))
        m.requests = target.counter.snapshot() if target.client is not None else {}
        return m
    if not target.ok:
        m.problem = target.problem
        return m
    before = target.counter.snapshot()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="metrics") as pool:
        fb = pool.submit(list_blobs, target, blobs.page, progress)
        fr = pool.submit(list_partitioned, target, target.repositories_prefix, repos.page, progress, "repositories/")
        m.blob_stats, m.repo_stats = fb.result(), fr.result()
    m.failure = m.blob_stats.failure or m.repo_stats.failure
    if m.failure is None:
        _read_startedat(target, list(repos.uploads.values()))
    m.requests = target.counter.since(before)
    m.measured_at = _now()
    return m


def fill_from_results(m: BucketMetrics, res: Any) -> None:
    """Put an inventory's result sets (inventory_db.InventoryResults) into ``m``: the aggregates, the counts,
    the upload sessions and the markers, so that every check and plot reads them as it reads a listing."""
    import pandas as pd

    from .layout import Marker

    summary = res.summary()
    m.blobs.objects, m.blobs.other = summary["blob_objects"], summary["blob_other"]
    m.repos.objects, m.repos.markers = summary["repository_objects"], summary["slash_keys"]
    table = pd.DataFrame([tuple(r) for r in res.rows("repositories")], columns=REPOSITORY_COLUMNS)
    for col in REPOSITORY_COLUMNS[1:]:
        table[col] = table[col].astype("int64")
    m.aggregates = Aggregates([(int(o), bool(r), int(n), int(b or 0)) for o, r, n, b in res.rows("blob_sizes")], table)
    m.repos.uploads = {}
    for repo, uuid, objects, data_bytes, last_ms, startedat_key in res.rows("uploads"):
        m.repos.uploads[(repo, uuid)] = UploadSession(repo, uuid, last_modified=from_epoch_ms(last_ms), objects=int(objects),
                                                      data_bytes=int(data_bytes or 0), startedat_key=startedat_key or "")
    if "markers" in res.sets:  # the marker scan's result set (bucket-metrics itself reports only their count)
        m.markers = [Marker(key, str(etag or "").strip('"'), int(size or 0), iso_or_empty(from_epoch_ms(ms)), kind, repo or "")
                     for key, etag, size, ms, kind, repo in sorted(res.rows("markers"), key=lambda r: (r[0], r[1] or ""))]
    created = res.created
    if created is None and res.sets.get("inventory_time"):
        created = from_epoch_ms(res.sets["inventory_time"][0][0])
    if created is not None:
        m.measured_at = created
    m.engine = dict(res.stats)


def feed_rows(m: BucketMetrics, rows: Iterable[tuple[str, int, str, str]]) -> None:
    """Feed ``(key, size, etag, last_modified)`` rows (an inventory) to the collectors, in batches."""
    bp, rp = m.blobs.prefix, m.repos.prefix
    blob_batch: list[dict[str, Any]] = []
    repo_batch: list[dict[str, Any]] = []
    for key, size, etag, lm in rows:
        if key.startswith(bp):
            blob_batch.append({"Key": key, "Size": size})
        elif key.startswith(rp):
            repo_batch.append({"Key": key, "Size": size, "ETag": etag, "LastModified": lm})
        if len(blob_batch) >= 10000:
            m.blobs.page(blob_batch)
            blob_batch = []
        if len(repo_batch) >= 10000:
            m.repos.page(repo_batch)
            repo_batch = []
    m.blobs.page(blob_batch)
    m.repos.page(repo_batch)


# ------------------------------------------------------------------------------------------------ findings


def _failed(m: BucketMetrics, fid: str, what: str) -> list[Finding] | None:
    if m.problem or m.failure is not None:
        return [failure_finding(fid, what, m.failure, m.problem, (SEED_BUCKET,))]
    return None


def size_histogram(sizes: Iterable[int]) -> dict[str, int]:
    """Counts per power-of-four size class (``<1 KiB``, ``1-4 KiB``, ...)."""
    octaves: Counter[int] = Counter(_octave(s) for s in sizes)
    return size_classes_of_octaves(octaves)


def size_classes_of_octaves(octaves: dict[int, int]) -> dict[str, int]:
    """Power-of-four size classes from blob counts per octave: class 0 holds octaves below 10 (< 1 KiB),
    class c >= 1 the octaves 8 + 2c and 9 + 2c (exact integers, as the SQL computes them)."""
    bins: Counter[int] = Counter()
    for octave, n in octaves.items():
        if n:
            bins[0 if octave < 10 else (octave - 10) // 2 + 1] += n
    out = {}
    for b in sorted(bins):
        lo = 0 if b == 0 else 1024 * 4 ** (b - 1)
        out[f"{_human(lo)}–{_human(1024 * 4 ** b)}" if b else "<1 KiB"] = bins[b]
    return out


def check_blobs(m: BucketMetrics) -> list[Finding]:
    failed = _failed(m, "bucket.blobs_failed", "Blob listing")
    if failed:
        return failed
    count, total = m.blob_count, m.blob_bytes
    loose_n, loose_b = m.unreferenced_blobs()
    ev = {"blobs": count, "bytes": total, "human": _human(total), "size_classes": m.size_classes(),
          "unreferenced_blobs": loose_n, "unreferenced_bytes": loose_b, "other_objects_under_blobs": m.blobs.other,
          "listing": m.blob_stats.to_dict() if m.blob_stats else {"source": m.source}}
    if not count and not m.repos.objects:
        return [Finding("bucket.empty", Status.WARN, "No registry data in this bucket",
                        detail=f"Nothing below {m.prefix!r} in bucket {m.bucket!r} ({m.source}): is this the registry's bucket "
                        "and rootdirectory?", evidence=ev, remedy="Check `s3_bucket` and `s3_root` against `storage.s3.bucket` / "
                        "`rootdirectory`.", refs=(SEED_BUCKET,))]
    detail = (f"{count} blobs, {_human(total)}. {loose_n} blobs ({_human(loose_b)}) are referenced by no "
              "repository's layer or manifest link: garbage collection would reclaim them.")
    return [Finding("bucket.blobs", Status.OK, "Blob store", detail=detail, evidence=ev,
                    remedy="" if not loose_n else "Reclaim unreferenced blobs with the registry's garbage collector "
                    "(Omnibus: `gitlab-ctl registry-garbage-collect`; source: `registry garbage-collect config.yml`; "
                    "Helm: the chart's garbage-collect job). It needs the registry read-only or stopped.",
                    refs=(SEED_BUCKET,))]


def top_repositories(m: BucketMetrics, top_n: int = 20):
    """The top-N repositories by bytes their layer links reference."""
    return m.repository_table().head(max(1, int(top_n or 20)))


def check_repositories(m: BucketMetrics, top_n: int = 20) -> list[Finding]:
    failed = _failed(m, "bucket.repositories_failed", "Repository listing")
    if failed:
        return failed
    table = m.repository_table()
    tags = table["tags"]
    ev = {"repositories": len(table), "tags": int(tags.sum()) if len(table) else 0,
          "tags_per_repository": {"max": int(tags.max()) if len(table) else 0,
                                  "median": float(tags.median()) if len(table) else 0.0},
          "layer_links": int(table["layer_links"].sum()) if len(table) else 0,
          "top": table.head(max(1, int(top_n or 20))).to_dict(orient="records"),
          "listing": m.repo_stats.to_dict() if m.repo_stats else {"source": m.source}}
    out = [Finding("bucket.repositories", Status.OK, "Repositories, tags and layer links",
                   detail=f"{ev['repositories']} repositories, {ev['tags']} tags, {ev['layer_links']} layer links.", evidence=ev,
                   refs=(SEED_BUCKET,))]
    dangling = table[table["dangling_links"] > 0]
    if len(dangling):
        out.append(Finding("bucket.dangling_layer_links", Status.WARN, "Layer links to missing blobs",
                           detail=f"{int(dangling['dangling_links'].sum())} layer links in {len(dangling)} repositories point "
                           "to blobs that are not in blobs/: pulls of those layers fail with `blob unknown`.",
                           evidence={"repositories": dangling.head(50).to_dict(orient="records")},
                           remedy="Re-push the affected images; if a copy between buckets was interrupted, re-run the copy "
                           "for blobs/ first.", refs=(SEED_BUCKET,)))
    return out


def _uploadpurging(registry: RegistryConfig | None) -> dict[str, Any] | None:
    if registry is None:
        return None
    value = registry.get("storage.maintenance.uploadpurging")
    return value if isinstance(value, dict) else {}


def check_uploads(m: BucketMetrics, registry: RegistryConfig | None = None, stale_after_s: float = STALE_UPLOAD_S) -> list[Finding]:
    """Upload sessions left in ``_uploads/``: how many, how old (from ``startedat``), how many bytes."""
    failed = _failed(m, "bucket.uploads_failed", "Upload listing")
    if failed:
        return failed
    now = m.measured_at
    sessions = list(m.repos.uploads.values())
    stale = [s for s in sessions if (s.age_s(now) or 0) >= stale_after_s]
    purging = _uploadpurging(registry)
    ev: dict[str, Any] = {"sessions": len(sessions), "stale": len(stale), "stale_after_h": stale_after_s / 3600,
                          "bytes": sum(s.data_bytes for s in sessions)}
    if purging is not None:
        ev["uploadpurging"] = purging or "(not set: enabled, age 168h, interval 24h)"
    if sessions:
        ev["oldest"] = m.upload_table(now).head(20).to_dict(orient="records")
    if not stale:
        return [Finding("bucket.uploads", Status.OK, "No abandoned upload sessions",
                        detail=f"{len(sessions)} upload session(s) in _uploads/, none older than {stale_after_s / 3600:.0f} h.",
                        evidence=ev, refs=(SEED_BUCKET,))]
    disabled = isinstance(purging, dict) and str(purging.get("enabled", True)).lower() in ("false", "0", "no")
    detail = (f"{len(stale)} of {len(sessions)} upload session(s) are older than {stale_after_s / 3600:.0f} h "
              f"(oldest {max(s.age_s(now) or 0 for s in stale) / 3600:.0f} h, from `startedat`): pushes that "
              "broke off and were never finished or cancelled.")
    if disabled:
        detail += " The registry's upload purging is disabled, so they are never removed."
    return [Finding("bucket.uploads_stale", Status.WARN, "Abandoned upload sessions in _uploads/", detail=detail, evidence=ev,
                    remedy="Let the registry purge them: `storage.maintenance.uploadpurging: {enabled: true, age: 168h, "
                    "interval: 24h, dryrun: false}` (Omnibus: `registry['storage']['maintenance'] = {'uploadpurging' => "
                    "{'enabled' => true, 'age' => '168h', 'interval' => '24h', 'dryrun' => false}}`, then "
                    "`gitlab-ctl reconfigure`; Helm: `registry.maintenance.uploadpurging`). Their S3 multipart uploads "
                    "are aborted by a lifecycle rule (see the multipart finding).", refs=(SEED_BUCKET,))]


def check_scan_cost(m: BucketMetrics) -> list[Finding]:
    """What the scan cost, in S3 requests (what a real bucket bills and throttles on)."""
    ev = {"source": m.source, "requests": m.requests,
          "blobs": m.blob_stats.to_dict() if m.blob_stats else None,
          "repositories": m.repo_stats.to_dict() if m.repo_stats else None}
    if m.engine:  # an inventory read by DuckDB (files, shards, seconds, memory_limit) or an engine's CSV files
        ev["inventory_engine"] = dict(m.engine)
    n = m.requests.get("requests", 0) if isinstance(m.requests, dict) else 0
    return [Finding("bucket.scan_cost", Status.OK, "Cost of this scan",
                    detail=f"{n} S3 requests ({m.source}); {m.requests.get('throttled', 0)} throttled answers were retried.",
                    evidence=ev, refs=(SEED_BUCKET,))]
