"""Bucket health: blobs, repositories, tags, layer links, abandoned uploads, incomplete multipart uploads.

The blobs are listed along their 256 ``blobs/sha256/XX/`` shards and the ``repositories/`` subtree along
its top-level prefixes, both in parallel (see listing.py for the cost model), or both are read from an S3
Inventory report without any LIST call: DuckDB computes the same numbers from the inventory's files in
bounded memory (inventory_db.py, with the SQL of inventory_sql.py), or an engine such as Athena or Trino
runs that SQL and its CSV results are read back. Either way the report's tables and plots come from the
same aggregates (:class:`Aggregates`). Multipart uploads, the lifecycle rule that aborts them and
CloudWatch's daily storage metrics are asked for separately.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..findings import Finding, Status
from .client import S3Target, make_client
from .errors import S3Failure, attempt
from .listing import ListStats, list_blobs, list_partitioned
from .markers import failure_finding

SEED_BUCKET = "Storage (bucket metrics)"
SEED_EOF = "AWS S3 with the GitLab registry error when pushing large images"
STALE_UPLOAD_S = 24 * 3600  # an upload session older than a day is abandoned (the registry purges at 168 h by default)
MAX_STARTEDAT_READS = 500
MAX_LIST_PARTS = 200


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _as_dt(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if isinstance(value, str) and value:
        text = value.strip().replace("Z", "+00:00")
        if "." in text:  # Go writes nanoseconds: keep microseconds for fromisoformat
            head, _, tail = text.partition(".")
            digits = "".join(ch for ch in tail if ch.isdigit())
            zone = tail[len(digits):]
            text = f"{head}.{digits[:6].ljust(6, '0')}{zone}"
        try:
            parsed = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
    return None


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
                lm = _as_dt(obj.get("LastModified"))
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
        when = _as_dt(body.strip())
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
        from . import inventory_sql as Q
        from .inventory import InventoryError, read_inventory
        from .inventory_db import is_results_folder, read_results, run_inventory

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


def _from_ms(ms: Any) -> dt.datetime | None:
    if ms is None or ms == "":
        return None
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(milliseconds=int(ms))


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
        m.repos.uploads[(repo, uuid)] = UploadSession(repo, uuid, last_modified=_from_ms(last_ms), objects=int(objects),
                                                      data_bytes=int(data_bytes or 0), startedat_key=startedat_key or "")
    if "markers" in res.sets:  # the marker scan's result set (bucket-metrics itself reports only their count)
        m.markers = [Marker(key, str(etag or "").strip('"'), int(size or 0), _iso(_from_ms(ms)), kind, repo or "")
                     for key, etag, size, ms, kind, repo in sorted(res.rows("markers"), key=lambda r: (r[0], r[1] or ""))]
    created = res.created
    if created is None and res.sets.get("inventory_time"):
        created = _from_ms(res.sets["inventory_time"][0][0])
    if created is not None:
        m.measured_at = created
    m.engine = dict(res.stats)


def _iso(when: dt.datetime | None) -> str:
    return when.isoformat() if when else ""


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
                        f"Nothing below {m.prefix!r} in bucket {m.bucket!r} ({m.source}): is this the registry's bucket "
                        "and rootdirectory?", ev, "Check `s3_bucket` and `s3_root` against `storage.s3.bucket` / "
                        "`rootdirectory`.", (SEED_BUCKET,))]
    detail = (f"{count} blobs, {_human(total)}. {loose_n} blobs ({_human(loose_b)}) are referenced by no "
              "repository's layer or manifest link: garbage collection would reclaim them.")
    return [Finding("bucket.blobs", Status.OK, "Blob store", detail, ev,
                    "" if not loose_n else "Reclaim unreferenced blobs with the registry's garbage collector "
                    "(Omnibus: `gitlab-ctl registry-garbage-collect`; source: `registry garbage-collect config.yml`; "
                    "Helm: the chart's garbage-collect job). It needs the registry read-only or stopped.",
                    (SEED_BUCKET,))]


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
                   f"{ev['repositories']} repositories, {ev['tags']} tags, {ev['layer_links']} layer links.", ev, "",
                   (SEED_BUCKET,))]
    dangling = table[table["dangling_links"] > 0]
    if len(dangling):
        out.append(Finding("bucket.dangling_layer_links", Status.WARN, "Layer links to missing blobs",
                           f"{int(dangling['dangling_links'].sum())} layer links in {len(dangling)} repositories point "
                           "to blobs that are not in blobs/: pulls of those layers fail with `blob unknown`.",
                           {"repositories": dangling.head(50).to_dict(orient="records")},
                           "Re-push the affected images; if a copy between buckets was interrupted, re-run the copy "
                           "for blobs/ first.", (SEED_BUCKET,)))
    return out


def _uploadpurging(registry: Any) -> dict[str, Any] | None:
    if registry is None:
        return None
    value = registry.get("storage.maintenance.uploadpurging")
    return value if isinstance(value, dict) else {}


def check_uploads(m: BucketMetrics, registry: Any = None, stale_after_s: float = STALE_UPLOAD_S) -> list[Finding]:
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
                        f"{len(sessions)} upload session(s) in _uploads/, none older than {stale_after_s / 3600:.0f} h.",
                        ev, "", (SEED_BUCKET,))]
    disabled = isinstance(purging, dict) and str(purging.get("enabled", True)).lower() in ("false", "0", "no")
    detail = (f"{len(stale)} of {len(sessions)} upload session(s) are older than {stale_after_s / 3600:.0f} h "
              f"(oldest {max(s.age_s(now) or 0 for s in stale) / 3600:.0f} h, from `startedat`): pushes that "
              "broke off and were never finished or cancelled.")
    if disabled:
        detail += " The registry's upload purging is disabled, so they are never removed."
    return [Finding("bucket.uploads_stale", Status.WARN, "Abandoned upload sessions in _uploads/", detail, ev,
                    "Let the registry purge them: `storage.maintenance.uploadpurging: {enabled: true, age: 168h, "
                    "interval: 24h, dryrun: false}` (Omnibus: `registry['storage']['maintenance'] = {'uploadpurging' => "
                    "{'enabled' => true, 'age' => '168h', 'interval' => '24h', 'dryrun' => false}}`, then "
                    "`gitlab-ctl reconfigure`; Helm: `registry.maintenance.uploadpurging`). Their S3 multipart uploads "
                    "are aborted by a lifecycle rule (see the multipart finding).", (SEED_BUCKET,))]


# ------------------------------------------------------------------------------------------- multipart


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
            scan.uploads.append(MultipartUpload(key, u["UploadId"], _as_dt(u.get("Initiated")), registry_upload=reg))
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
                        f"No multipart upload is pending under {scan.prefix or 'the bucket'}; {rule}.", ev,
                        "" if scan.abort_rule_days is not None else _lifecycle_remedy(scan.bucket), (seed,))]
    old = [a for a in ages if a >= STALE_UPLOAD_S]
    detail = (f"{len(ups)} incomplete multipart upload(s) under {scan.prefix or 'the bucket'} "
              f"({ev.get('registry_uploads', 0)} are registry upload sessions), {_human(known_bytes)} in their parts "
              f"(listed for {scan.parts_listed}); {len(old)} older than a day; {rule}.")
    if orphans:
        detail += (f" {len(orphans)} belong to no upload session left in _uploads/ (orphans: the registry will "
                   "never finish nor abort them).")
    status = Status.WARN if (old or orphans or scan.abort_rule_days is None) else Status.OK
    return [Finding(f"{fid}_incomplete", status, "Incomplete multipart uploads", detail, ev,
                    _lifecycle_remedy(scan.bucket) if scan.abort_rule_days is None else "", (seed,))]


# ------------------------------------------------------------------------------------------ cloudwatch


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
                        f"No CloudWatch client: {type(exc).__name__}: {exc}", {}, "", refs)]
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
                            f"{metric}: {out.failure.title} ({out.failure.code}). The listing above is the "
                            "authoritative count; CloudWatch needs `cloudwatch:GetMetricStatistics` and exists only "
                            "on AWS.", out.failure.evidence(), "", refs)]
        points = sorted(out.value.get("Datapoints") or [], key=lambda p: p.get("Timestamp"))
        if points:
            values[metric] = {"value": int(points[-1].get("Average", 0)), "at": points[-1]["Timestamp"]}
    if not values:
        return [Finding("bucket.cloudwatch", Status.SKIP, "No CloudWatch storage datapoints",
                        "CloudWatch returned no BucketSizeBytes/NumberOfObjects for the last 3 days (they are "
                        "published once a day, on AWS only; an S3-compatible store has none).", {}, "", refs)]
    ev = dict(values)
    detail = ", ".join(f"{k} {v['value']}" for k, v in values.items())
    if m is not None and not m.problem:
        ev["listed_registry_bytes"] = m.blob_bytes
        detail += f" (the registry's blobs listed here: {m.blob_bytes} bytes; CloudWatch counts the whole bucket, daily)"
    return [Finding("bucket.cloudwatch", Status.OK, "CloudWatch storage metrics", detail + ".", ev, "", refs)]


def check_scan_cost(m: BucketMetrics) -> list[Finding]:
    """What the scan cost, in S3 requests (what a real bucket bills and throttles on)."""
    ev = {"source": m.source, "requests": m.requests,
          "blobs": m.blob_stats.to_dict() if m.blob_stats else None,
          "repositories": m.repo_stats.to_dict() if m.repo_stats else None}
    if m.engine:  # an inventory read by DuckDB (files, shards, seconds, memory_limit) or an engine's CSV files
        ev["inventory_engine"] = dict(m.engine)
    n = m.requests.get("requests", 0) if isinstance(m.requests, dict) else 0
    return [Finding("bucket.scan_cost", Status.OK, "Cost of this scan",
                    f"{n} S3 requests ({m.source}); {m.requests.get('throttled', 0)} throttled answers were retried.",
                    ev, "", (SEED_BUCKET,))]


# ------------------------------------------------------------------------------------------------ plots


def _figure(width: float, height: float):
    """A figure that renders as PNG everywhere (runbooklib.figures)."""
    from ..figures import png_figure

    return png_figure(width, height)


def plot_blob_sizes(m: BucketMetrics):
    """Histogram of blob sizes on a log scale: one bar per octave (a doubling of size), the same bars
    whether the sizes were listed or aggregated by a query engine."""
    fig = _figure(8, 3.2)
    ax = fig.subplots()
    octaves = {o: v for o, v in m.size_octaves().items() if o >= 0}
    if octaves:
        edges = [2.0 ** o for o in octaves]
        ax.bar(edges, [n for n, _ in octaves.values()], width=edges, align="edge", color="#4878a8",
               edgecolor="white", linewidth=0.5)
        ax.set_xscale("log", base=2)
    ax.set_xlabel("blob size (bytes)")
    ax.set_ylabel("blobs")
    ax.set_title(f"{sum(n for n, _ in octaves.values())} blobs, {_human(sum(b for _, b in octaves.values()))}")
    return fig


def plot_bytes_by_repository(m: BucketMetrics, top_n: int = 20):
    """Bytes referenced by each of the top-N repositories' layer links."""
    table = top_repositories(m, top_n)
    fig = _figure(8, max(2.0, 0.28 * len(table) + 1))
    ax = fig.subplots()
    if len(table):
        ax.barh(table["repository"][::-1], table["referenced_bytes"][::-1] / 2 ** 20, color="#6a9a58")
    ax.set_xlabel("MiB referenced by layer links")
    ax.set_title(f"Top {len(table)} repositories by referenced bytes")
    ax.tick_params(axis="y", labelsize=8)
    return fig


def plot_upload_ages(m: BucketMetrics):
    """Ages of the upload sessions left in _uploads/ (hours)."""
    fig = _figure(8, 3.0)
    ax = fig.subplots()
    ages = [a / 3600 for a in (u.age_s(m.measured_at) for u in m.repos.uploads.values()) if a is not None]
    if ages:
        ax.hist(ages, bins=min(30, max(5, len(ages))), color="#b8860b")
    ax.axvline(STALE_UPLOAD_S / 3600, color="#cf222e", linestyle="--", label="stale (24 h)")
    ax.set_xlabel("age (hours)")
    ax.set_ylabel("upload sessions")
    ax.set_title(f"{len(ages)} upload sessions in _uploads/")
    ax.legend(loc="upper right")
    return fig
