"""A deterministic registry-shaped S3 Inventory with known counts, for tests and ``benchmarks/inventory.py``.

The bucket holds ``objects`` objects (about): 40 % blobs, the rest repositories of 60 link objects each (5
tags with their current and index links, 10 manifest revisions, 40 layer links), abandoned and fresh upload
sessions, a repository that only has an upload, a layer link in 997 that names a blob that is not there, a
tenth of the blobs that no link names, zero-byte markers at every level, and a few keys that are no part of
the registry. The files are written by DuckDB (Parquet, or CSV gzip with URL-encoded keys) in AWS's layout
with a manifest; the ground truth (:func:`truth`) is computed from the generator's arithmetic with numpy,
not by running the SQL under test.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .layout import classify_marker

V2 = "docker/registry/v2/"
TAGS, REVISIONS, LAYERS = 5, 10, 40
PER_REPO = 2 * TAGS + REVISIONS + LAYERS
DANGLING_EVERY, DANGLING_AT = 997, 5
LAYER_MUL, REVISION_MUL, INDEX_MUL = 7919, 104729, 31
MARKER_EVERY = 500
CREATED = dt.datetime(2025, 1, 15, 6, 0, tzinfo=dt.timezone.utc)
EMPTY_MD5 = "d41d8cd98f00b204e9800998ecf8427e"


@dataclass(frozen=True)
class Shape:
    """The counts that make the bucket (everything else follows from them)."""

    blobs: int
    repos: int
    referenced_pool: int  # links name blobs [0, referenced_pool); the others are unreferenced
    uploads: int
    groups: int
    root: str = ""

    @property
    def prefix(self) -> str:
        return self.root + V2

    def repo(self, r: int) -> str:
        return f"group-{r % self.groups}/sub-{(r // self.groups) % 7}/project-{r}"

    @property
    def marker_repos(self) -> range:
        return range(0, self.repos, MARKER_EVERY)


def shape(objects: int, root: str = "") -> Shape:
    blobs = max(8, int(objects * 0.4))
    repos = max(2, (objects - blobs) // PER_REPO)
    pool = max(1, int(blobs * 0.9))
    while math.gcd(pool, LAYER_MUL) != 1 or math.gcd(pool, REVISION_MUL) != 1:
        pool -= 1
    return Shape(blobs, repos, pool, max(3, repos // 100), max(1, min(97, repos // 10)), root)


def _uuid(u: int) -> str:
    return f"{(u * 2654435761) % (1 << 32):08x}-0000-4000-8000-{u:012x}"


def extras(s: Shape) -> list[tuple[str, int]]:
    """The hand-placed keys: markers at every level, keys that are not blobs or links, an upload-only repo."""
    rp = s.prefix + "repositories/"
    out: list[tuple[str, int]] = []
    for r in s.marker_repos:
        out += [(f"{rp}{s.repo(r)}/_manifests/tags/", 0), (f"{rp}{s.repo(r)}/", 0)]
    out += [(f"{rp}group-0/", 0), (f"{rp}{s.repo(0)}/_manifests/", 0), (rp, 0),
            (f"{rp}{s.repo(0)}/_layers/", 12),  # a key ending in / that holds data: not a marker
            (f"{s.prefix}blobs/sha256/", 0), (f"{s.prefix}blobs/sha256/ab/{'cd' * 32}/extra", 5),
            (f"{rp}README", 10), (f"{rp}{s.repo(1)}/_state/x", 3), (f"{rp}{s.repo(2)}/_uploads/zz", 4),
            (f"{rp}uploads-only/img/_uploads/{_uuid(10 ** 9)}/startedat", 20),
            (f"{rp}uploads-only/img/_uploads/{_uuid(10 ** 9)}/data", 777),
            ("README.txt", 1), (f"{s.prefix}other/", 0)]
    return out


def _rows_sql(s: Shape, fmt: str, bucket: str) -> str:
    rp = s.prefix + "repositories/"
    created = CREATED.strftime("%Y-%m-%d %H:%M:%S")
    base = f"TIMESTAMP '{created}' - INTERVAL 10 DAY"
    values = ", ".join(f"('{k}', {n})" for k, n in extras(s))
    key = "replace(url_encode(key), '%2F', '/')" if fmt == "CSV" else "key"
    return f"""
WITH rows AS (
  SELECT '{s.prefix}blobs/sha256/' || substr(dg(i), 1, 2) || '/' || dg(i) || '/data' AS key, bsize(i) AS size,
         {base} + to_seconds(i % 86400) AS lm, 'b' AS w
  FROM range({s.blobs}) t(i)
  UNION ALL
  SELECT '{rp}' || repo(t // {LAYERS}) || '/_layers/sha256/' ||
         CASE WHEN t % {DANGLING_EVERY} = {DANGLING_AT} THEN dg({s.blobs} + t) ELSE dg((t * {LAYER_MUL}) % {s.referenced_pool}) END
         || '/link', 71, {base} + to_seconds(t % 86400), 'l'
  FROM range({LAYERS * s.repos}) t(t)
  UNION ALL
  SELECT '{rp}' || repo(x // {REVISIONS}) || '/_manifests/revisions/sha256/' ||
         dg((x * {REVISION_MUL} + 1) % {s.referenced_pool}) || '/link', 71, {base}, 'r'
  FROM range({REVISIONS * s.repos}) t(x)
  UNION ALL
  SELECT '{rp}' || repo(k // {TAGS}) || '/_manifests/tags/v' || (k % {TAGS}) || '/current/link', 71, {base}, 't'
  FROM range({TAGS * s.repos}) t(k)
  UNION ALL
  SELECT '{rp}' || repo(k // {TAGS}) || '/_manifests/tags/v' || (k % {TAGS}) || '/index/sha256/' ||
         dg((k * {INDEX_MUL}) % {s.referenced_pool}) || '/link', 71, {base}, 'i'
  FROM range({TAGS * s.repos}) t(k)
  UNION ALL
  SELECT '{rp}' || repo((u * 37) % {s.repos}) || '/_uploads/' || uuid(u) || '/' || p.part,
         CASE p.part WHEN 'data' THEN 1000 + u WHEN 'startedat' THEN 20 ELSE 100 END,
         TIMESTAMP '{created}' - to_hours((u % 4) * 20 + 1), 'u'
  FROM range({s.uploads}) t(u), (VALUES ('startedat'), ('data'), ('hashstates/sha256/0')) p(part)
  UNION ALL
  SELECT key, size, TIMESTAMP '{created}' - INTERVAL 2 DAY, 'x' FROM (VALUES {values}) v(key, size)
)
SELECT '{bucket}' AS bucket, {key} AS key, size,
       {"strftime(lm, '%Y-%m-%dT%H:%M:%S.%gZ')" if fmt == "CSV" else "CAST(lm AS TIMESTAMP_MS)"} AS last_modified_date,
       CASE WHEN size = 0 THEN '{EMPTY_MD5}' ELSE printf('%016x%016x', hash(key), hash(w || key)) END AS e_tag,
       'STANDARD' AS storage_class,
       CAST(hash(key) % {{files}} AS INTEGER) AS part
FROM rows"""


def _macros(con: Any, s: Shape) -> None:
    con.execute("CREATE MACRO dg(i) AS printf('%016x%016x%016x%016x', hash(i), hash(i + 1000000000000000), "
                "hash(i + 2000000000000000), i)")
    con.execute(f"CREATE MACRO repo(r) AS 'group-' || (r % {s.groups}) || '/sub-' || ((r // {s.groups}) % 7) "
                "|| '/project-' || r")
    con.execute("CREATE MACRO bsize(i) AS CASE WHEN i = 3 THEN 0 ELSE "
                "(1 + ((i * 2654435761) % 4294967296) % 1024) * (1 << ((((i * 2654435761) % 4294967296) >> 10) % 21)) END")
    con.execute("CREATE MACRO uuid(u) AS printf('%08x-0000-4000-8000-%012x', (u * 2654435761) % 4294967296, u)")


def write(folder: Path | str, objects: int, fmt: str = "Parquet", files: int | None = None,
          bucket: str = "registry", root: str = "", threads: int | None = None,
          memory_limit: str = "4GiB") -> tuple[Path, Shape]:
    """Write the inventory (manifest.json + data files, AWS's layout) below ``folder``; returns the manifest
    path and the shape (pass it to :func:`truth`)."""
    import duckdb

    s = shape(objects, root)
    fmt = {"csv": "CSV", "parquet": "Parquet"}[fmt.lower()]
    files = files or max(1, math.ceil(objects / 1_000_000))
    root_dir = Path(folder)
    data_dir = root_dir / bucket / "registry-inventory" / "data"
    man_dir = root_dir / bucket / "registry-inventory" / CREATED.strftime("%Y-%m-%dT%H-%MZ")
    stage = root_dir / ".staging"
    shutil.rmtree(stage, ignore_errors=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    man_dir.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(config={"memory_limit": memory_limit, "preserve_insertion_order": False,
                                 "temp_directory": str(root_dir / ".spill"),
                                 **({"threads": threads} if threads else {})})
    try:
        con.execute("SET enable_progress_bar = false")
        _macros(con, s)
        sql = _rows_sql(s, fmt, bucket).replace("{files}", str(files))
        opts = ("FORMAT csv, HEADER false, QUOTE '\"', FORCE_QUOTE *, COMPRESSION gzip" if fmt == "CSV"
                else "FORMAT parquet, COMPRESSION snappy")
        con.execute(f"COPY ({sql}) TO '{stage}' ({opts}, PARTITION_BY (part), OVERWRITE_OR_IGNORE)")
    finally:
        con.close()
    entries = []
    ext = ".csv.gz" if fmt == "CSV" else ".parquet"
    n = 0
    for part_dir in sorted(stage.glob("part=*"), key=lambda p: int(p.name.split("=")[1])):
        for f in sorted(part_dir.iterdir()):
            name = f"part-{n:05d}{ext}"
            dest = data_dir / name
            f.replace(dest)
            h = hashlib.md5()  # noqa: S324
            with open(dest, "rb") as fh:
                for chunk in iter(lambda: fh.read(8 << 20), b""):
                    h.update(chunk)
            entries.append({"key": f"{bucket}/registry-inventory/data/{name}", "size": dest.stat().st_size,
                            "MD5checksum": h.hexdigest()})
            n += 1
    shutil.rmtree(stage, ignore_errors=True)
    shutil.rmtree(root_dir / ".spill", ignore_errors=True)
    schema = ("Bucket, Key, Size, LastModifiedDate, ETag, StorageClass" if fmt == "CSV" else
              "message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional int64 size; "
              "optional int64 last_modified_date (TIMESTAMP_MILLIS); optional binary e_tag (UTF8); "
              "optional binary storage_class (UTF8); }")
    manifest = {"sourceBucket": bucket, "destinationBucket": "arn:aws:s3:::inventory-destination",
                "version": "2016-11-30", "creationTimestamp": str(int(CREATED.timestamp() * 1000)),
                "fileFormat": fmt, "fileSchema": schema, "files": entries}
    path = man_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2))
    return path, s


def truth(s: Shape) -> dict[str, Any]:
    """What every count must be, from the generator's arithmetic (numpy), not from the SQL."""
    import numpy as np

    i = np.arange(s.blobs, dtype=np.int64)
    h = (i * 2654435761) % (1 << 32)
    size = (1 + h % 1024) << ((h >> 10) % 21)
    if s.blobs > 3:
        size[3] = 0
    t = np.arange(LAYERS * s.repos, dtype=np.int64)
    dangling = t % DANGLING_EVERY == DANGLING_AT
    target = (t * LAYER_MUL) % s.referenced_pool
    x = np.arange(REVISIONS * s.repos, dtype=np.int64)
    referenced = np.zeros(s.blobs, dtype=bool)
    referenced[target[~dangling]] = True
    referenced[(x * REVISION_MUL + 1) % s.referenced_pool] = True
    repo_of = t // LAYERS
    ref_bytes = np.bincount(repo_of[~dangling], weights=size[target[~dangling]].astype(np.float64),
                            minlength=s.repos).astype(np.int64)
    dangling_per_repo = np.bincount(repo_of[dangling], minlength=s.repos).astype(np.int64)
    octave = np.where(size > 0, np.frexp(np.maximum(size, 1).astype(np.float64))[1] - 1, -1)
    sizes: dict[tuple[int, bool], list[int]] = {}
    for o in np.unique(octave):
        for flag in (False, True):
            sel = (octave == o) & (referenced == flag)
            if sel.any():
                sizes[(int(o), flag)] = [int(sel.sum()), int(size[sel].sum())]
    ex = extras(s)
    rp = s.prefix + "repositories/"
    names = {s.repo(r) for r in range(s.repos)} | {"uploads-only/img"}
    markers = {}
    for key, n in ex:
        if key.startswith(rp) and key.endswith("/") and n == 0:
            markers[key] = classify_marker(key[len(rp):], names)
    under_blobs = sum(1 for k, _ in ex if k.startswith(s.prefix + "blobs/sha256/"))
    under_repos = sum(1 for k, _ in ex if k.startswith(rp))
    uploads = {(s.repo((u * 37) % s.repos), _uuid(u)): (3, 1000 + u) for u in range(s.uploads)}
    uploads[("uploads-only/img", _uuid(10 ** 9))] = (2, 777)
    stale = sum(1 for u in range(s.uploads) if (u % 4) * 20 + 1 >= 24) + 1  # the upload-only one is 2 days old
    repo_objects = PER_REPO * s.repos + 3 * s.uploads + under_repos
    return {
        "objects": s.blobs + repo_objects + under_blobs + sum(1 for k, _ in ex if not k.startswith((rp, s.prefix + "blobs/sha256/"))),
        "blob_objects": s.blobs + under_blobs, "blob_other": under_blobs,
        "blobs": s.blobs, "blob_bytes": int(size.sum()),
        "unreferenced_blobs": int((~referenced).sum()), "unreferenced_bytes": int(size[~referenced].sum()),
        "blob_sizes": sizes,
        "repository_objects": repo_objects,
        "repositories": s.repos, "tags": TAGS * s.repos, "manifests": REVISIONS * s.repos,
        "layer_links": LAYERS * s.repos, "referenced_bytes": int(ref_bytes.sum()),
        "dangling_links": int(dangling.sum()),
        "per_repo": {"referenced_bytes": ref_bytes, "dangling_links": dangling_per_repo},
        "named_repositories": len(names),
        "slash_keys": sum(1 for k, _ in ex if k.startswith(rp) and k.endswith("/")),
        "slash_keys_with_data": sum(1 for k, n in ex if k.startswith(rp) and k.endswith("/") and n),
        "markers": markers, "uploads": uploads, "stale_uploads": stale,
    }
