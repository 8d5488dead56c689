"""The scale path: read an S3 Inventory report instead of listing the bucket (no LIST call at all).

A bucket with hundreds of millions of objects is too large to list from a laptop; S3 Inventory writes
its object list daily as CSV (gzip), ORC or Parquet files described by a ``manifest.json``:

``{"sourceBucket", "destinationBucket": "arn:aws:s3:::<dest>", "version", "creationTimestamp" (epoch ms),
"fileFormat": "CSV"|"ORC"|"Parquet", "fileSchema": "Bucket, Key, Size, ..." (CSV) or the ORC/Parquet schema,
"files": [{"key", "size", "MD5checksum"}]}``

CSV files have no header, their columns follow ``fileSchema`` and keys are URL-encoded. The manifest is
read from ``s3://bucket/key`` (with the runbook's S3 client) or a local file/folder (an ``aws s3 sync`` of
the inventory prefix); each data file's MD5 is checked against the manifest.

The checks read an inventory through DuckDB (inventory_db.py: one file at a time, bounded memory, the SQL of
inventory_sql.py). :meth:`Inventory.rows` (every row as a Python tuple, each file read whole) stays as the
reference the tests compare that path with, and for small inventories read row by row.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import hashlib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import unquote_plus

from ..errors import RunbookError
from ..timebounds import parse_timestamp
from .client import S3Target

Row = tuple[str, int, str, str]  # key, size, etag, last_modified (ISO)


class InventoryError(RunbookError, ValueError):
    """The inventory cannot be used; the message says which file and why."""


_PARQUET_NAMES = {"key": "key", "size": "size", "etag": "e_tag", "last_modified": "last_modified_date",
                  "is_latest": "is_latest", "is_delete_marker": "is_delete_marker"}
_CSV_NAMES = {"key": "Key", "size": "Size", "etag": "ETag", "last_modified": "LastModifiedDate",
              "is_latest": "IsLatest", "is_delete_marker": "IsDeleteMarker"}


@dataclass
class Inventory:
    """A parsed manifest and a way to read its files."""

    source: str
    manifest: dict[str, Any]
    file_format: str
    columns: list[str]
    files: list[dict[str, Any]]
    target: S3Target | None = field(default=None, repr=False)
    base: Path | None = None

    @property
    def created(self) -> dt.datetime | None:
        try:
            return dt.datetime.fromtimestamp(int(self.manifest["creationTimestamp"]) / 1000, dt.timezone.utc)
        except (KeyError, TypeError, ValueError):
            return None

    @property
    def source_bucket(self) -> str:
        return str(self.manifest.get("sourceBucket") or "")

    @property
    def destination_bucket(self) -> str:
        return str(self.manifest.get("destinationBucket") or "").rsplit(":", 1)[-1]

    def describe(self) -> dict[str, Any]:
        return {"manifest": self.source, "format": self.file_format, "files": len(self.files),
                "source_bucket": self.source_bucket,
                "created": self.created.isoformat() if self.created else None}

    # reading -----------------------------------------------------------------------------------------
    def _bytes(self, entry: dict[str, Any]) -> bytes:
        key = str(entry.get("key") or "")
        if self.base is not None:
            path = _local_file(self.base, key)
            if path is None:
                raise InventoryError(f"inventory file {key!r} not found beside {self.source}")
            data = path.read_bytes()
        else:
            assert self.target is not None and self.target.client is not None
            from .errors import attempt

            out = attempt(self.target.client.get_object, Bucket=self.destination_bucket, Key=key)
            if not out.ok:
                assert out.failure is not None
                raise InventoryError(f"s3://{self.destination_bucket}/{key}: {out.failure.title} ({out.failure.code})")
            data = out.value["Body"].read()
        want = str(entry.get("MD5checksum") or "")
        if want and hashlib.md5(data).hexdigest() != want:  # noqa: S324 - the manifest's own checksum
            raise InventoryError(f"inventory file {key!r}: MD5 differs from the manifest (incomplete copy?)")
        return data

    def rows(self) -> Iterator[Row]:
        """Every current object as ``(key, size, etag, last_modified)``; delete markers and old versions skipped."""
        for entry in self.files:
            data = self._bytes(entry)
            if self.file_format == "CSV":
                yield from _csv_rows(data, self.columns, str(entry.get("key")))
            elif self.file_format in ("Parquet", "ORC"):
                yield from _arrow_rows(data, self.file_format, str(entry.get("key")))
            else:
                raise InventoryError(f"unsupported inventory format {self.file_format!r}")


def _local_file(base: Path, key: str) -> Path | None:
    """A manifest's file key, found beside a downloaded manifest (full key, or its tail under an ancestor)."""
    parts = [p for p in key.split("/") if p]
    for ancestor in [base, *list(base.parents)[:4]]:
        for skip in range(len(parts)):
            candidate = ancestor.joinpath(*parts[skip:])
            if candidate.is_file():
                return candidate
    return None


def _csv_rows(data: bytes, columns: list[str], name: str) -> Iterator[Row]:
    index = {c: i for i, c in enumerate(columns)}
    if "Key" not in index:
        raise InventoryError(f"{name}: the CSV schema has no Key column")
    ik, isz, iet, ilm = index["Key"], index.get("Size"), index.get("ETag"), index.get("LastModifiedDate")
    ilatest, idel = index.get("IsLatest"), index.get("IsDeleteMarker")
    raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
    for rec in csv.reader(io.StringIO(raw.decode("utf-8"))):
        if not rec:
            continue
        if idel is not None and rec[idel] == "true":
            continue
        if ilatest is not None and rec[ilatest] == "false":
            continue
        size = rec[isz] if isz is not None else ""
        yield (unquote_plus(rec[ik]), int(size) if size else 0, rec[iet] if iet is not None else "",
               rec[ilm] if ilm is not None else "")


def _arrow_rows(data: bytes, fmt: str, name: str) -> Iterator[Row]:
    try:
        import pyarrow as pa
    except ImportError:
        raise InventoryError(f"{name}: reading {fmt} inventories needs pyarrow (pip install pyarrow)") from None
    try:
        if fmt == "Parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(pa.BufferReader(data))
        else:
            import pyarrow.orc as orc

            table = orc.ORCFile(pa.BufferReader(data)).read()
    except Exception as exc:  # pyarrow raises many types for a corrupt file
        raise InventoryError(f"{name}: not a readable {fmt} file ({type(exc).__name__})") from None
    names = set(table.column_names)
    if "key" not in names:
        raise InventoryError(f"{name}: no `key` column")
    for batch in table.to_batches(max_chunksize=50000):
        cols = batch.to_pydict()
        keys = cols["key"]
        sizes = cols.get("size") or [0] * len(keys)
        etags = cols.get("e_tag") or [""] * len(keys)
        lms = cols.get("last_modified_date") or [None] * len(keys)
        latest = cols.get("is_latest")
        deleted = cols.get("is_delete_marker")
        for i, key in enumerate(keys):
            if (deleted and deleted[i]) or (latest is not None and latest[i] is False):
                continue
            lm = lms[i]
            yield (key, int(sizes[i] or 0), etags[i] or "", lm.isoformat() if hasattr(lm, "isoformat") else str(lm or ""))


def _columns(manifest: dict[str, Any], fmt: str) -> list[str]:
    schema = str(manifest.get("fileSchema") or "")
    if fmt == "CSV":
        return [c.strip() for c in schema.split(",") if c.strip()]
    return re.findall(r"(\w+)\s*(?:\(|;|:)", schema)


def read_inventory(location: str, target: S3Target | None = None) -> Inventory:
    """Parse a manifest from ``s3://bucket/key`` or a local manifest.json (or the folder holding it)."""
    if location.startswith("s3://"):
        if target is None or target.client is None:
            raise InventoryError("an s3:// inventory needs the S3 parameters to read it")
        bucket, _, key = location[5:].partition("/")
        if not key.endswith(".json"):
            key = key.rstrip("/") + "/manifest.json"
        from .errors import attempt

        out = attempt(target.client.get_object, Bucket=bucket, Key=key)
        if not out.ok:
            assert out.failure is not None
            raise InventoryError(f"s3://{bucket}/{key}: {out.failure.title} ({out.failure.code})")
        text = out.value["Body"].read().decode("utf-8", "replace")
        base = None
    else:
        path = Path(location).expanduser()
        if path.is_dir():
            found = sorted(path.rglob("manifest.json"))
            if not found:
                raise InventoryError(f"{path}: no manifest.json in this folder")
            path = found[-1]  # the newest dated folder sorts last
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise InventoryError(f"{path}: cannot read ({exc.strerror})") from None
        base = path.parent
    try:
        manifest = json.loads(text)
    except ValueError:
        raise InventoryError(f"{location}: manifest is not JSON") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("files"), list):
        raise InventoryError(f"{location}: not an S3 Inventory manifest (no `files` list)")
    fmt = str(manifest.get("fileFormat") or "CSV")
    fmt = {"csv": "CSV", "parquet": "Parquet", "orc": "ORC"}.get(fmt.lower(), fmt)
    inv = Inventory(location, manifest, fmt, _columns(manifest, fmt), manifest["files"], target, base)
    if fmt == "CSV" and "Key" not in inv.columns:
        raise InventoryError(f"{location}: fileSchema {manifest.get('fileSchema')!r} has no Key column")
    if target is not None and inv.source_bucket and target.bucket and inv.source_bucket != target.bucket:
        raise InventoryError(f"{location}: the inventory is of bucket {inv.source_bucket!r}, not {target.bucket!r}")
    return inv


# ------------------------------------------------------------------------------------- writing (for tests)


def write_inventory(folder: Path, source_bucket: str, rows: list[Row], fmt: str = "CSV", files: int = 2,
                    created: dt.datetime | None = None) -> Path:
    """Write an inventory in the documented layout (manifest.json + data files); returns the manifest path.

    Used by tests and the benchmark to build inventories of buckets they made; a real one comes from S3."""
    created = created or dt.datetime.now(dt.timezone.utc)
    stamp = created.strftime("%Y-%m-%dT%H-%MZ")
    root = Path(folder)
    data_dir = root / source_bucket / "registry-inventory" / "data"
    man_dir = root / source_bucket / "registry-inventory" / stamp
    data_dir.mkdir(parents=True, exist_ok=True)
    man_dir.mkdir(parents=True, exist_ok=True)
    chunks = [rows[i::files] for i in range(max(1, files))]
    entries = []
    for n, chunk in enumerate(chunks):
        chunk = sorted(chunk)
        if fmt == "CSV":
            out = io.StringIO()
            w = csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n")
            for key, size, etag, lm in chunk:
                from urllib.parse import quote_plus

                w.writerow([source_bucket, quote_plus(key, safe="/"), str(size), lm, etag, "STANDARD"])
            data = gzip.compress(out.getvalue().encode())
            name = f"part-{n:04d}.csv.gz"
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table({
                "bucket": [source_bucket] * len(chunk), "key": [r[0] for r in chunk],
                "size": pa.array([r[1] for r in chunk], pa.int64()), "e_tag": [r[2] for r in chunk],
                "last_modified_date": pa.array([parse_timestamp(r[3]) for r in chunk], pa.timestamp("ms", tz="UTC")),
                "storage_class": ["STANDARD"] * len(chunk)})
            sink = io.BytesIO()
            pq.write_table(table, sink)
            data = sink.getvalue()
            name = f"part-{n:04d}.parquet"
        (data_dir / name).write_bytes(data)
        entries.append({"key": f"{source_bucket}/registry-inventory/data/{name}", "size": len(data),
                        "MD5checksum": hashlib.md5(data).hexdigest()})  # noqa: S324
    schema = ("Bucket, Key, Size, LastModifiedDate, ETag, StorageClass" if fmt == "CSV" else
              "message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional int64 size; "
              "optional binary e_tag (UTF8); optional int64 last_modified_date (TIMESTAMP_MILLIS); "
              "optional binary storage_class (UTF8); }")
    manifest = {"sourceBucket": source_bucket, "destinationBucket": "arn:aws:s3:::inventory-destination",
                "version": "2016-11-30", "creationTimestamp": str(int(created.timestamp() * 1000)),
                "fileFormat": fmt, "fileSchema": schema, "files": entries}
    path = man_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2))
    (man_dir / "manifest.checksum").write_text(hashlib.md5(path.read_bytes()).hexdigest())  # noqa: S324
    return path
