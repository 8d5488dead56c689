"""The scale path's engine: an S3 Inventory analysed by embedded DuckDB, in bounded memory.

Each data file of the manifest is read once, by DuckDB itself from the local folder (an ``aws s3 sync`` of
the inventory) or streamed from S3 with the runbook's own boto3 client into a private spill folder (one
file at a time, the next one downloading while the current one is read), its MD5 checked against the
manifest before anything is read from it. Its rows are classified on the way in (inventory_sql.py:
``registry_objects``: only the registry's two subtrees, only the columns a result needs); the result
sets are computed from them (:func:`run_inventory`: in one pass, or shard by shard for an inventory too
large for ``memory_limit``). DuckDB keeps to ``memory_limit`` and spills into the private folder
(``tempfile.mkdtemp``, mode 0700, below ``spill_dir``) beyond it; the folder is removed afterwards,
whatever happens. ORC files are handed to DuckDB through pyarrow, a stripe at a time (DuckDB has no ORC
reader of its own).

The result sets an engine such as Athena or Trino returns for the same SQL (their CSV, in one folder) are
read by :func:`read_results` into the same :class:`InventoryResults`.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..timebounds import parse_timestamp
from . import inventory_sql as Q
from .inventory import Inventory, InventoryError

DEFAULT_MEMORY_LIMIT = "1GiB"
_UNITS = {"": 1, "b": 1, "k": 10 ** 3, "kb": 10 ** 3, "kib": 2 ** 10, "m": 10 ** 6, "mb": 10 ** 6, "mib": 2 ** 20,
          "g": 10 ** 9, "gb": 10 ** 9, "gib": 2 ** 30, "t": 10 ** 12, "tb": 10 ** 12, "tib": 2 ** 40}
MIN_MEMORY = 64 << 20
_CHUNK = 8 << 20


def parse_memory(value: str | int | float | None) -> int:
    """Bytes in ``"1GiB"``, ``"512MB"``, ``"2g"`` or a number of bytes; ValueError naming the value."""
    if value in (None, ""):
        value = DEFAULT_MEMORY_LIMIT
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        n = int(value)
    else:
        m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(value))
        if not m or m.group(2).lower() not in _UNITS:
            raise ValueError(f"memory_limit {value!r}: give bytes or a size such as 1GiB, 512MiB, 2GB")
        n = int(float(m.group(1)) * _UNITS[m.group(2).lower()])
    if n < MIN_MEMORY:
        raise ValueError(f"memory_limit {value!r}: at least {MIN_MEMORY >> 20} MiB")
    return n


@dataclass
class InventoryResults:
    """The result sets of inventory_sql.py, wherever they were computed (rows as tuples, columns as in
    :data:`inventory_sql.RESULT_COLUMNS`)."""

    source: str
    created: dt.datetime | None = None
    sets: dict[str, list[tuple]] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)

    def rows(self, name: str) -> list[tuple]:
        if name not in self.sets:
            raise InventoryError(f"{self.source}: the result set `{name}` is missing")
        return self.sets[name]

    def summary(self) -> dict[str, int]:
        rows = self.rows("summary")
        if len(rows) != 1:
            raise InventoryError(f"{self.source}: the result set `summary` has {len(rows)} rows, not 1")
        return {k: int(v or 0) for k, v in zip(Q.RESULT_COLUMNS["summary"], rows[0])}


# ------------------------------------------------------------------------------------------ DuckDB path


class _Progress:
    """One tqdm step per data file (plain text on stderr, like the listings' bars)."""

    def __init__(self, enabled: bool, total: int, desc: str) -> None:
        self.bar = None
        if enabled:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=" file", file=sys.stderr, mininterval=0.5,
                            dynamic_ncols=False, ncols=90)

    def step(self, rows: int) -> None:
        if self.bar is not None:
            self.bar.set_postfix_str(f"{rows:,} registry objects", refresh=False)
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _md5_file(path: Path) -> str:
    h = hashlib.md5()  # noqa: S324 - the manifest's own checksum
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                return h.hexdigest()
            h.update(chunk)


class _Fetcher:
    """The data files in manifest order, each as a local path whose MD5 was checked. The next file is
    prepared by a background thread while DuckDB reads the current one: from S3 it is downloaded into the
    spill folder (at most the current file and the next one on disk, each removed once read); a local file
    is hashed."""

    def __init__(self, inv: Inventory, folder: Path) -> None:
        self.inv, self.folder = inv, folder
        self.remote = inv.base is None
        self.fetched_bytes = 0
        self._next: tuple[int, threading.Thread, dict[str, Any]] | None = None

    def _key(self, index: int) -> str:
        return str(self.inv.files[index].get("key") or "")

    def _local(self, index: int, out: dict[str, Any]) -> None:
        from .inventory import _local_file

        key = self._key(index)
        assert self.inv.base is not None
        path = _local_file(self.inv.base, key)
        if path is None:
            out["error"] = f"inventory file {key!r} not found beside {self.inv.source}"
            return
        try:
            out.update(path=path, md5=_md5_file(path), size=0)
        except OSError as exc:
            out["error"] = f"inventory file {key!r}: cannot read ({exc.strerror})"

    def _download(self, index: int, out: dict[str, Any]) -> None:
        key = self._key(index)
        suffix = "".join(Path(key).suffixes[-2:]) or ".data"
        path = self.folder / f"file-{index:05d}{suffix}"
        target = self.inv.target
        assert target is not None and target.client is not None
        from .errors import attempt

        last = ""
        for _ in range(3):  # a body cut mid-way is fetched again (botocore retried the request itself)
            got = attempt(target.client.get_object, Bucket=self.inv.destination_bucket, Key=key)
            if not got.ok:
                assert got.failure is not None
                out["error"] = f"s3://{self.inv.destination_bucket}/{key}: {got.failure.title} ({got.failure.code})"
                return
            h = hashlib.md5()  # noqa: S324 - the manifest's own checksum
            size = 0
            try:
                with open(path, "wb") as fh:
                    for chunk in got.value["Body"].iter_chunks(1 << 20):
                        fh.write(chunk)
                        h.update(chunk)
                        size += len(chunk)
            except Exception as exc:  # a connection reset or read timeout while streaming the body
                last = f"{type(exc).__name__}: {exc}"[:200]
                continue
            out.update(path=path, md5=h.hexdigest(), size=size)
            return
        path.unlink(missing_ok=True)
        out["error"] = f"s3://{self.inv.destination_bucket}/{key}: download failed 3 times ({last})"

    def _start(self, index: int) -> None:
        out: dict[str, Any] = {}
        work = self._download if self.remote else self._local
        t = threading.Thread(target=work, args=(index, out), daemon=True, name="inventory-fetch")
        t.start()
        self._next = (index, t, out)

    def get(self, index: int) -> Path:
        if self._next is None or self._next[0] != index:
            self.close()
            self._start(index)
        assert self._next is not None
        _, thread, out = self._next
        thread.join()
        self._next = None
        if index + 1 < len(self.inv.files):
            self._start(index + 1)
        if "error" in out:
            raise InventoryError(out["error"])
        self.fetched_bytes += out["size"]
        want = str(self.inv.files[index].get("MD5checksum") or "")
        if want and out["md5"] != want:
            self.done(out["path"])
            raise InventoryError(f"inventory file {self._key(index)!r}: MD5 differs from the manifest "
                                 f"({'incomplete download' if self.remote else 'incomplete copy'}?)")
        return out["path"]

    def done(self, path: Path) -> None:
        if self.remote:
            path.unlink(missing_ok=True)

    def close(self) -> None:
        if self._next is not None:
            self._next[1].join()
            out = self._next[2]
            if self.remote and "path" in out:
                Path(out["path"]).unlink(missing_ok=True)
            self._next = None


def _connect(folder: Path, memory: int, threads: int | None = None):
    import duckdb

    config: dict[str, Any] = {"memory_limit": f"{max(memory >> 20, 64)}MiB", "temp_directory": str(folder / "spill"),
              "preserve_insertion_order": False, "threads": threads or max(1, os.cpu_count() or 1),
              "enable_external_access": True, "autoinstall_known_extensions": False,
              "autoload_known_extensions": False}
    # An in-memory database: its blocks are evicted to temp_directory beyond memory_limit like any spill
    # (measured twice as fast as a database file, which compresses every block it writes).
    con = duckdb.connect(":memory:", config=config)
    try:  # our bar counts files; DuckDB's would print to stdout
        con.execute("SET enable_progress_bar = false")
    except duckdb.Error:  # in a Jupyter kernel DuckDB refuses to touch the setting without ipywidgets
        pass
    return con


def _source(con: Any, inv: Inventory, path: Path, index: int) -> tuple[str, list[str], str]:
    """A relation for one data file, the inventory columns it has and how its last_modified_date is typed."""
    lit = Q._lit(str(path))
    fmt = inv.file_format
    if fmt == "CSV":
        cols = [Q.FIELDS.get(c, c.lower()) for c in inv.columns]
        spec = "{" + ", ".join(f"{Q._lit(c)}: 'VARCHAR'" for c in cols) + "}"
        rel = (f"read_csv({lit}, header = false, columns = {spec}, quote = '\"', escape = '\"', "
               "auto_detect = false, delim = ',', null_padding = true)")
        return rel, cols, "timestamp"
    if fmt == "ORC":
        import pyarrow as pa
        import pyarrow.orc as orc

        try:
            f = orc.ORCFile(str(path))
        except Exception as exc:
            raise InventoryError(f"inventory file {index}: not a readable ORC file ({type(exc).__name__})") from None
        schema = f.schema
        reader = pa.RecordBatchReader.from_batches(schema, (f.read_stripe(i) for i in range(f.nstripes)))
        con.register(f"orc_{index}", reader)
        return f"orc_{index}", list(schema.names), _lm_kind(str(schema.field("last_modified_date").type)
                                                             if "last_modified_date" in schema.names else "")
    if fmt != "Parquet":
        raise InventoryError(f"unsupported inventory format {fmt!r}")
    rel = f"read_parquet({lit})"
    try:
        described = con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()
    except Exception as exc:
        raise InventoryError(f"inventory file {index}: not a readable Parquet file ({type(exc).__name__})") from None
    types = {name: str(typ) for name, typ, *_ in described}
    return rel, list(types), _lm_kind(types.get("last_modified_date", ""))


def _lm_kind(type_name: str) -> str:
    t = type_name.upper()
    return "epoch_ms" if t in ("BIGINT", "INT64", "INTEGER", "INT32") else "timestamp"


# The partial result sets of the shards, added up at the end (every column of both is a sum or a key).
_PARTIALS = ("CREATE TABLE partial_blob_sizes (octave INTEGER, referenced BOOLEAN, blobs BIGINT, bytes HUGEINT); "
             "CREATE TABLE partial_repositories (repository VARCHAR, tags BIGINT, manifests BIGINT, "
             "layer_links BIGINT, referenced_bytes HUGEINT, dangling_links BIGINT)")
_MERGED = {
    "blob_sizes": "SELECT octave, referenced, sum(blobs) AS blobs, sum(bytes) AS bytes FROM partial_blob_sizes "
                  "GROUP BY octave, referenced ORDER BY octave, referenced",
    "repositories": "SELECT repository, sum(tags) AS tags, sum(manifests) AS manifests, sum(layer_links) AS layer_links, "
                    "sum(referenced_bytes) AS referenced_bytes, sum(dangling_links) AS dangling_links "
                    "FROM partial_repositories GROUP BY repository ORDER BY referenced_bytes DESC, repository",
}
# Measured on 2 cores: the result sets of 10 M objects (7.6 M distinct digests) are computed in one pass
# within 1 GiB; past that the inventory is sharded, and a shard is fastest when it holds about half as much
# (its blob aggregate and layer join then stay in memory instead of spilling).
OBJECTS_PER_GIB = 11_000_000
SHARD_OBJECTS_PER_GIB = 5_000_000
BYTES_PER_OBJECT = {"CSV": 61, "Parquet": 94, "ORC": 94}  # an inventory file's bytes per object (gzip, snappy)
_TABLE = ("CREATE TABLE registry_objects (kind VARCHAR, repo VARCHAR, digest VARCHAR, size BIGINT, "
          "upload VARCHAR, part VARCHAR, key VARCHAR, e_tag VARCHAR, last_modified_ms BIGINT)")


def shards_for(inv: Inventory, memory: int) -> int:
    """How many digest shards keep one shard's blob aggregate and layer join within ``memory``, from the
    inventory's size in its manifest (1: everything in one pass, no shard files)."""
    total = sum(int(f.get("size") or 0) for f in inv.files)
    objects = total / BYTES_PER_OBJECT.get(inv.file_format, 94)
    if objects <= OBJECTS_PER_GIB * memory / 2 ** 30:
        return 1
    return max(2, min(256, -int(-objects // (SHARD_OBJECTS_PER_GIB * memory / 2 ** 30))))


def run_inventory(inv: Inventory, layout: Q.Layout, want: Iterable[str] = Q.METRICS_RESULTS,
                  memory_limit: str | int = DEFAULT_MEMORY_LIMIT, spill_dir: str = "", progress: bool = True,
                  threads: int | None = None, shards: int | None = None) -> InventoryResults:
    """Compute the result sets ``want`` from an inventory with DuckDB.

    Each data file (see :class:`_Fetcher`) is read once and its rows classified (``registry_objects``).
    When the whole fits (:func:`shards_for`), the rows go into one DuckDB table and the result sets are
    computed on it. A larger inventory is split on the way in by a hash of the digest into shards (Parquet
    files in the spill folder, one per shard and input file; rows without a digest make one more shard):
    a blob and every link naming it fall into the same shard, so per shard ``blobs`` and the ``blob_sizes``
    and ``repositories`` result sets are exact and add up (summed at the end), and one shard's hash tables
    fit in ``memory_limit``. ``summary``, ``uploads``, ``markers`` and ``repository_names`` then read all
    the shards at once (they only group by repository or keep a few rows).
    """
    try:
        import duckdb
    except ImportError:
        raise InventoryError("reading an inventory needs duckdb (pip install duckdb)") from None
    want = tuple(want)
    try:
        memory = parse_memory(memory_limit)
    except ValueError as exc:
        raise InventoryError(str(exc)) from None
    base = Path(spill_dir).expanduser() if spill_dir else None
    if base is not None and not base.is_dir():
        raise InventoryError(f"spill_dir {base}: not a folder")
    folder = Path(tempfile.mkdtemp(prefix="runbook-inventory-", dir=str(base) if base else None))  # mode 0700
    staged = folder / "staged"
    res = InventoryResults(inv.source, inv.created)
    t0 = time.perf_counter()
    con = None
    fetcher = _Fetcher(inv, folder)
    bar = _Progress(progress, len(inv.files), "inventory files")
    per_shard = [n for n in ("blob_sizes", "repositories") if n in want]
    n_shards = max(1, shards or (shards_for(inv, memory) if per_shard else 1))
    sharded = n_shards > 1
    res.stats["shards"] = n_shards
    step = "starting DuckDB"
    objects = 0
    try:
        con = _connect(folder, memory, threads)
        if not sharded:
            con.execute(_TABLE)
        for index in range(len(inv.files)):
            step = f"reading inventory file {index + 1} of {len(inv.files)}"
            path = fetcher.get(index)
            try:
                rel, cols, lm = _source(con, inv, path, index)
                if "key" not in cols:
                    raise InventoryError(f"inventory file {inv.files[index].get('key')!r}: no key column")
                rows = Q.classify_select(layout, f"({Q.objects_select(inv.file_format, cols, rel, lm)}) AS o",
                                         blobs=bool(per_shard))
                if sharded:
                    shard = f"CASE WHEN digest IS NULL THEN {n_shards} ELSE hash(digest) % {n_shards} END"
                    got = con.execute(f"COPY (SELECT *, {shard} AS shard FROM ({rows}) AS r) TO {Q._lit(str(staged))} "
                                      "(FORMAT parquet, PARTITION_BY (shard), OVERWRITE_OR_IGNORE, COMPRESSION lz4, "
                                      f"FILENAME_PATTERN 'f{index:05d}_{{i}}', ROW_GROUP_SIZE 65536)").fetchone()
                else:
                    got = con.execute(f"INSERT INTO registry_objects\n{rows}").fetchone()
                objects += int(got[0]) if got else 0
                if inv.file_format == "ORC":
                    con.unregister(f"orc_{index}")
            except InventoryError:
                raise
            except duckdb.Error as exc:  # a broken file: name it, not a traceback
                raise InventoryError(f"inventory file {inv.files[index].get('key')!r}: "
                                     f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from None
            finally:
                fetcher.done(path)
            bar.step(objects)
        bar.close()
        res.stats["read_s"] = round(time.perf_counter() - t0, 2)
        queries = Q.results(layout)

        def view(glob: str) -> None:
            con.execute("CREATE OR REPLACE VIEW registry_objects AS SELECT * EXCLUDE (shard) FROM "
                        f"read_parquet({Q._lit(str(staged / glob))}, hive_partitioning = true, union_by_name = true)")

        if sharded and per_shard:
            con.execute(_PARTIALS)
            for k in range(n_shards + 1):
                if not (staged / f"shard={k}").is_dir():
                    continue
                step = f"shard {k + 1} of {n_shards + 1}"
                view(f"shard={k}/*.parquet")
                con.execute(f"CREATE OR REPLACE TABLE blobs AS\n{Q.RELATIONS['blobs']}")
                for shard_set in per_shard:
                    con.execute(f"INSERT INTO partial_{shard_set}\n{queries[shard_set]}")
            con.execute("DROP TABLE IF EXISTS blobs")
            res.stats["shards_s"] = round(time.perf_counter() - t0 - res.stats["read_s"], 2)
        elif per_shard:
            step = "aggregating the blobs"
            con.execute(f"CREATE TABLE blobs AS\n{Q.RELATIONS['blobs']}")
        if sharded:
            if objects:
                view("*/*.parquet")
            else:  # nothing below the registry's prefixes: the queries still run, on no rows
                con.execute(_TABLE)
        for name in want:
            step = f"computing the result set {name}"
            sql = _MERGED[name] if sharded and name in per_shard else queries[name]
            res.sets[name] = con.execute(sql).fetchall()
        res.stats.update(files=len(inv.files), downloaded_bytes=fetcher.fetched_bytes, registry_objects=objects,
                         wall_s=round(time.perf_counter() - t0, 2), memory_limit=memory,
                         engine=f"duckdb {duckdb.__version__}")
    except duckdb.Error as exc:  # out of memory or temp space, an interrupted query: a finding, not a traceback
        raise InventoryError(f"DuckDB, {step}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]} "
                             f"(memory_limit {memory >> 20} MiB, spill folder in {folder.parent})") from None
    finally:
        bar.close()
        fetcher.close()
        if con is not None:
            con.close()
        shutil.rmtree(folder, ignore_errors=True)
    return res


# ----------------------------------------------------------------------------------- an engine's CSVs


def _typed(name: str, column: str, value: str) -> Any:
    if column in ("repository", "uuid", "key", "e_tag", "kind", "startedat_key"):
        return value
    if column == "referenced":
        return value.strip().lower() in ("true", "1", "t")
    if value == "":
        return None
    try:
        return int(value)
    except ValueError:
        return int(float(value))


def is_results_folder(location: str) -> bool:
    path = Path(location).expanduser()
    return path.is_dir() and not location.startswith("s3://") and any(
        _which(p) for p in sorted(path.glob("*.csv"))[:50])


def _which(path: Path) -> str:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), [])
    except (OSError, UnicodeDecodeError):
        return ""
    names = tuple(h.strip().strip('"').lower() for h in header)
    for name, cols in Q.RESULT_COLUMNS.items():
        if names == cols:
            return name
    return ""


def read_results(location: str, want: Iterable[str] = Q.METRICS_RESULTS) -> InventoryResults:
    """The result sets from a folder of CSV files (Athena's or ``trino --output-format CSV_HEADER``), each
    recognised by its header whatever its file name."""
    folder = Path(location).expanduser()
    if not folder.is_dir():
        raise InventoryError(f"{folder}: not a folder of query results")
    res = InventoryResults(f"query results {folder}")
    found: dict[str, Path] = {}
    for path in sorted(folder.glob("*.csv")):
        name = _which(path)
        if name and name in found:
            raise InventoryError(f"{folder}: two files hold the result set `{name}` ({found[name].name}, {path.name})")
        if name:
            found[name] = path
    missing = [n for n in want if n not in found]
    if missing:
        raise InventoryError(f"{folder}: no CSV with the header of {', '.join(missing)} "
                             f"(run `runbook inventory-sql` and save each result set's CSV here)")
    for name, path in found.items():
        cols = Q.RESULT_COLUMNS[name]
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            next(reader)
            try:
                res.sets[name] = [tuple(_typed(name, c, v) for c, v in zip(cols, rec)) for rec in reader if rec]
            except ValueError as exc:
                raise InventoryError(f"{path}: a value is not a number ({exc})") from None
        res.stats[name] = path.name
    stamp = folder / "created.txt"
    if stamp.is_file():
        res.created = parse_timestamp(stamp.read_text().strip())
    return res


def from_epoch_ms(ms: Any) -> dt.datetime | None:
    """An engine's millisecond Unix time (how the result sets carry ``last_modified_date``) as UTC."""
    if ms is None or ms == "":
        return None
    return dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(milliseconds=int(ms))


def iso_or_empty(when: dt.datetime | None) -> str:
    return when.isoformat() if when else ""
