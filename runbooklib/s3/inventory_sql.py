"""The inventory analysis as SQL, written once in DuckDB's dialect and emitted for Athena and Trino with sqlglot.

The same statements run embedded (DuckDB, inventory.py's scale path) and on a query engine next to the
bucket when one machine is not enough (``runbook inventory-sql --dialect athena|trino|duckdb``). They are
layered so that every engine sees the same text:

1. ``inventory`` — the S3 Inventory as the engine sees it: per AWS's documented schema (``bucket, key,
   version_id, is_latest, is_delete_marker, size, last_modified_date, e_tag, ...``). CSV columns are text
   and CSV keys URL-encoded; Parquet and ORC are typed.
2. ``inventory_objects`` — current objects only (no delete marker, no older version), decoded:
   ``key, size, e_tag, last_modified_ms``.
3. ``registry_objects`` — every object below the registry's ``blobs/sha256/`` and ``repositories/``
   prefixes, classified the way the listing collectors (metrics.py, markers.py) classify a key:
   ``kind`` (blob, blob_other, layer, revision, tag, manifest, upload, other, loose, slash),
   ``repo``, ``digest``, ``size``, ``upload``/``part`` for ``_uploads/`` and, only where a result needs
   it, ``key``, ``e_tag`` and ``last_modified_ms``.
4. ``blobs``: one row per blob digest, its size and whether a layer or revision link names it.
5. The result sets (:func:`results`): ``summary``, ``blob_sizes``, ``repositories``, ``uploads``,
   ``markers``, ``repository_names`` and ``inventory_time``. Their CSV (as Athena or ``trino
   --output-format CSV_HEADER`` writes them) is what ``bucket-metrics`` reads back (``inventory_results``):
   each file is recognised by its header, whatever its name.

Layers 2-4 are views on an engine. The embedded path (inventory_db.py) materialises ``registry_objects``
one inventory data file at a time, so that each file is read once, and ``blobs`` once (per digest shard
for an inventory larger than its memory: the same statements, their partial answers added up).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

DIALECTS = ("duckdb", "athena", "trino")

# AWS's documented fields, in the order of an inventory's fileSchema (CSV name -> ORC/Parquet/Athena name).
FIELDS = {
    "Bucket": "bucket", "Key": "key", "VersionId": "version_id", "IsLatest": "is_latest",
    "IsDeleteMarker": "is_delete_marker", "Size": "size", "LastModifiedDate": "last_modified_date",
    "ETag": "e_tag", "StorageClass": "storage_class", "IsMultipartUploaded": "is_multipart_uploaded",
    "ReplicationStatus": "replication_status", "EncryptionStatus": "encryption_status",
    "ObjectLockRetainUntilDate": "object_lock_retain_until_date", "ObjectLockMode": "object_lock_mode",
    "ObjectLockLegalHoldStatus": "object_lock_legal_hold_status",
    "IntelligentTieringAccessTier": "intelligent_tiering_access_tier", "BucketKeyStatus": "bucket_key_status",
    "ChecksumAlgorithm": "checksum_algorithm", "ObjectAccessControlList": "object_access_control_list",
    "ObjectOwner": "object_owner",
}
# Their types in the Athena table AWS documents for ORC and Parquet inventories (CSV: every column string).
TYPES = {
    "bucket": "string", "key": "string", "version_id": "string", "is_latest": "boolean",
    "is_delete_marker": "boolean", "size": "bigint", "last_modified_date": "timestamp", "e_tag": "string",
    "storage_class": "string", "is_multipart_uploaded": "boolean", "replication_status": "string",
    "encryption_status": "string", "object_lock_retain_until_date": "bigint", "object_lock_mode": "string",
    "object_lock_legal_hold_status": "string", "intelligent_tiering_access_tier": "string",
    "bucket_key_status": "string", "checksum_algorithm": "string", "object_access_control_list": "string",
    "object_owner": "string",
}
_TRINO_TYPES = {"string": "VARCHAR", "boolean": "BOOLEAN", "bigint": "BIGINT", "timestamp": "TIMESTAMP(3)"}

# Every result set: its columns, in order (a CSV result is recognised by this header). bucket-metrics reads
# METRICS_RESULTS, the marker scan (empty-name-tags) MARKER_RESULTS; `inventory_time` dates an engine's results.
RESULT_COLUMNS: dict[str, tuple[str, ...]] = {
    "summary": ("blob_objects", "blob_other", "repository_objects", "slash_keys", "slash_keys_with_data"),
    "blob_sizes": ("octave", "referenced", "blobs", "bytes"),
    "repositories": ("repository", "tags", "manifests", "layer_links", "referenced_bytes", "dangling_links"),
    "uploads": ("repository", "uuid", "objects", "data_bytes", "last_modified_ms", "startedat_key"),
    "markers": ("key", "e_tag", "size", "last_modified_ms", "kind", "repository"),
    "repository_names": ("repository",),
    "inventory_time": ("newest_ms",),
}
METRICS_RESULTS = ("summary", "blob_sizes", "repositories", "uploads")
MARKER_RESULTS = ("summary", "markers", "repository_names")


def columns_of(file_format: str, file_schema: str) -> list[str]:
    """The snake_case column names of a manifest's ``fileSchema`` (CSV ``"Bucket, Key, ..."``; Parquet
    ``message s3.inventory { required binary bucket (UTF8); ... }``; ORC ``struct<bucket:string,...>``)."""
    if file_format.upper() == "CSV":
        names = [c.strip() for c in file_schema.split(",") if c.strip()]
        return [FIELDS.get(n, re.sub(r"(?<!^)(?=[A-Z])", "_", n).lower()) for n in names]
    if file_format.upper() == "ORC":
        return re.findall(r"(\w+)\s*:", file_schema)
    return re.findall(r"(\w+)\s*(?:\(|;)", file_schema)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ms(expr: str) -> str:
    return f"date_diff('millisecond', TIMESTAMP '1970-01-01 00:00:00', {expr})"


def objects_select(file_format: str, columns: Iterable[str], source: str = "inventory",
                   last_modified: str = "timestamp") -> str:
    """``inventory_objects``: current objects of ``source`` as ``key, size, e_tag, last_modified_ms``.

    ``columns`` are the ones the inventory has (a missing one reads as NULL); ``last_modified`` says how a
    Parquet/ORC ``last_modified_date`` is typed (``timestamp`` or ``epoch_ms``, an int64 without a logical
    type)."""
    have = set(columns)
    csv = file_format.upper() == "CSV"
    if "key" not in have:
        raise ValueError("the inventory has no key column")
    if csv:
        key = "url_decode(replace(key, '+', ' '))"
        size = "COALESCE(TRY_CAST(NULLIF(size, '') AS BIGINT), 0)" if "size" in have else "0"
        lm = (_ms("TRY_CAST(replace(replace(last_modified_date, 'T', ' '), 'Z', '') AS TIMESTAMP)")
              if "last_modified_date" in have else "CAST(NULL AS BIGINT)")
        where = []
        if "is_delete_marker" in have:
            where.append("is_delete_marker IS DISTINCT FROM 'true'")
        if "is_latest" in have:
            where.append("is_latest IS DISTINCT FROM 'false'")
    else:
        key = "key"
        size = "COALESCE(size, 0)" if "size" in have else "0"
        if "last_modified_date" not in have:
            lm = "CAST(NULL AS BIGINT)"
        elif last_modified == "epoch_ms":
            lm = "CAST(last_modified_date AS BIGINT)"
        else:
            lm = _ms("CAST(last_modified_date AS TIMESTAMP)")
        where = []
        if "is_delete_marker" in have:
            where.append("NOT COALESCE(is_delete_marker, FALSE)")
        if "is_latest" in have:
            where.append("COALESCE(is_latest, TRUE)")
    etag = "COALESCE(e_tag, '')" if "e_tag" in have else "''"
    sql = (f"SELECT {key} AS key, {size} AS size, {etag} AS e_tag, {lm} AS last_modified_ms\n"
           f"FROM {source}")
    if where:
        sql += "\nWHERE " + " AND ".join(where)
    return sql


@dataclass(frozen=True)
class Layout:
    """The registry's two key prefixes (``<root>docker/registry/v2/blobs/sha256/`` and ``.../repositories/``)."""

    blobs_prefix: str
    repositories_prefix: str

    @classmethod
    def of_root(cls, prefix: str) -> "Layout":
        return cls(prefix + "blobs/sha256/", prefix + "repositories/")


def classify_select(layout: Layout, source: str = "inventory_objects", blobs: bool = True) -> str:
    """``registry_objects``: each key below the two prefixes, classified exactly as the listing collectors do
    (metrics.BlobCollector / RepositoryCollector, markers.MarkerCollector; positions are 1-based, ``rel`` is
    the key below ``repositories/``, ``p`` where its first ``/_`` is, ``rest`` what follows that ``/``).
    Without ``blobs`` only the ``repositories/`` subtree is kept (the marker scan never needs a blob)."""
    bp, rp = layout.blobs_prefix, layout.repositories_prefix
    lb, lr = len(bp), len(rp)
    scope = f"starts_with(key, {_lit(bp)}) OR starts_with(key, {_lit(rp)})" if blobs else f"starts_with(key, {_lit(rp)})"
    return f"""SELECT kind,
  CASE WHEN kind IN ('layer', 'revision', 'tag', 'manifest', 'upload', 'other') THEN substr(rel, 1, p - 1) END AS repo,
  CASE kind
    WHEN 'blob' THEN substr(key, {lb + 4}, greatest(length(key) - {lb + 8}, 0))
    WHEN 'layer' THEN split_part(substr(rest, 16), '/', 1)
    WHEN 'revision' THEN substr(rest, 29, greatest(length(rest) - 33, 0))
  END AS digest,
  size,
  CASE WHEN kind = 'upload' THEN split_part(rest, '/', 2) END AS upload,
  CASE WHEN kind = 'upload' THEN substr(rest, 11 + length(split_part(rest, '/', 2))) END AS part,
  CASE WHEN kind IN ('slash', 'upload') THEN key END AS key,
  CASE WHEN kind = 'slash' THEN e_tag END AS e_tag,
  CASE WHEN kind IN ('slash', 'upload') THEN last_modified_ms END AS last_modified_ms
FROM (
  SELECT key, size, e_tag, last_modified_ms, rel, p, rest,
    CASE
      WHEN rel IS NULL THEN
        CASE WHEN ends_with(key, '/data') AND substr(key, {lb + 3}, 1) = '/' THEN 'blob' ELSE 'blob_other' END
      WHEN ends_with(key, '/') THEN 'slash'
      WHEN rest IS NULL THEN 'loose'
      WHEN starts_with(rest, '_layers/sha256/') THEN 'layer'
      WHEN starts_with(rest, '_manifests/') THEN
        CASE
          WHEN ends_with(rest, '/current/link') THEN 'tag'
          WHEN starts_with(rest, '_manifests/revisions/sha256/') AND ends_with(rest, '/link') THEN 'revision'
          ELSE 'manifest'
        END
      WHEN starts_with(rest, '_uploads/') AND strpos(substr(rest, 10), '/') > 0 THEN 'upload'
      ELSE 'other'
    END AS kind
  FROM (
    SELECT key, size, e_tag, last_modified_ms, rel, p, CASE WHEN p > 1 THEN substr(rel, p + 1) END AS rest
    FROM (
      SELECT key, size, e_tag, last_modified_ms, rel, strpos(rel, '/_') AS p
      FROM (
        SELECT key, size, e_tag, last_modified_ms,
          CASE WHEN starts_with(key, {_lit(rp)}) THEN substr(key, {lr + 1}) END AS rel
        FROM {source}
        WHERE {scope}
      ) AS k
    ) AS kp
  ) AS kr
) AS c"""


# Layer 4, materialised once on the embedded path (a view on an engine): one row per blob digest, with
# whether any layer or revision link names it (one aggregate instead of a DISTINCT and a join).
RELATIONS: dict[str, str] = {
    "blobs": """SELECT digest,
  max(CASE WHEN kind = 'blob' THEN size END) AS size,
  max(CASE WHEN kind = 'blob' THEN 0 ELSE 1 END) = 1 AS referenced
FROM registry_objects
WHERE kind IN ('blob', 'layer', 'revision')
GROUP BY digest
HAVING max(CASE WHEN kind = 'blob' THEN 1 ELSE 0 END) = 1""",
}

# The octave of a size (floor(log2(size)), -1 for 0), exact for any size below 2^53: the floating-point
# estimate is corrected by comparing with powers of two.
_OCTAVE = """CASE
    WHEN size <= 0 THEN -1
    WHEN size < power(2, o) THEN o - 1
    WHEN size >= power(2, o + 1) THEN o + 1
    ELSE o
  END"""


def results(layout: Layout) -> dict[str, str]:
    """The result sets, in DuckDB's dialect, over ``registry_objects`` and ``blobs``."""
    lr = len(layout.repositories_prefix)
    return {
        "summary": """SELECT
  sum(CASE WHEN kind IN ('blob', 'blob_other') THEN 1 ELSE 0 END) AS blob_objects,
  sum(CASE WHEN kind = 'blob_other' THEN 1 ELSE 0 END) AS blob_other,
  sum(CASE WHEN kind IN ('blob', 'blob_other') THEN 0 ELSE 1 END) AS repository_objects,
  sum(CASE WHEN kind = 'slash' THEN 1 ELSE 0 END) AS slash_keys,
  sum(CASE WHEN kind = 'slash' AND size <> 0 THEN 1 ELSE 0 END) AS slash_keys_with_data
FROM registry_objects""",
        "blob_sizes": f"""SELECT octave, referenced, count(*) AS blobs, sum(size) AS bytes
FROM (
  SELECT size, referenced, {_OCTAVE} AS octave
  FROM (
    SELECT size, referenced, CAST(floor(log2(greatest(size, 1))) AS INTEGER) AS o
    FROM blobs
  ) AS s
) AS o
GROUP BY octave, referenced
ORDER BY octave, referenced""",
        "repositories": """SELECT l.repo AS repository,
  sum(CASE WHEN l.kind = 'tag' THEN 1 ELSE 0 END) AS tags,
  sum(CASE WHEN l.kind = 'revision' THEN 1 ELSE 0 END) AS manifests,
  sum(CASE WHEN l.kind = 'layer' THEN 1 ELSE 0 END) AS layer_links,
  coalesce(sum(b.size), 0) AS referenced_bytes,
  sum(CASE WHEN l.kind = 'layer' AND b.digest IS NULL THEN 1 ELSE 0 END) AS dangling_links
FROM registry_objects AS l
LEFT JOIN blobs AS b ON l.kind = 'layer' AND b.digest = l.digest
WHERE l.kind IN ('layer', 'tag', 'revision', 'manifest')
GROUP BY l.repo
ORDER BY referenced_bytes DESC, repository""",
        "uploads": """SELECT repo AS repository, upload AS uuid, count(*) AS objects,
  sum(CASE WHEN part = 'data' THEN size ELSE 0 END) AS data_bytes,
  max(last_modified_ms) AS last_modified_ms,
  max(CASE WHEN part = 'startedat' THEN key END) AS startedat_key
FROM registry_objects
WHERE kind = 'upload'
GROUP BY repo, upload
ORDER BY repository, uuid""",
        "markers": f"""WITH m AS (
  SELECT key, e_tag, size, last_modified_ms, substr(key, {lr + 1}) AS rel,
    strpos(substr(key, {lr + 1}), '/_') AS p
  FROM registry_objects
  WHERE kind = 'slash' AND size = 0
), n AS (
  SELECT DISTINCT repo
  FROM registry_objects
  WHERE repo IN (SELECT substr(rel, 1, length(rel) - 1) FROM m WHERE p <= 1 AND rel <> '')
)
SELECT m.key, m.e_tag, m.size, m.last_modified_ms,
  CASE
    WHEN m.rel = '' THEN 'repositories-root'
    WHEN m.p > 1 AND substr(m.rel, m.p + 1) = '_manifests/tags/' THEN 'tags-dir'
    WHEN m.p > 1 THEN 'inside-repository'
    WHEN n.repo IS NOT NULL THEN 'repository-root'
    ELSE 'group-level'
  END AS kind,
  CASE
    WHEN m.rel = '' THEN ''
    WHEN m.p > 1 THEN substr(m.rel, 1, m.p - 1)
    WHEN n.repo IS NOT NULL THEN n.repo
    ELSE ''
  END AS repository
FROM m
LEFT JOIN n ON m.p <= 1 AND m.rel <> '' AND n.repo = substr(m.rel, 1, length(m.rel) - 1)
ORDER BY m.key, m.e_tag""",
        "repository_names": """SELECT DISTINCT repo AS repository
FROM registry_objects
WHERE repo IS NOT NULL
ORDER BY repository""",
        # Upload ages are measured from the inventory's time: an engine's results carry it as the newest
        # object's LastModified (the embedded path reads the manifest's creationTimestamp instead).
        "inventory_time": """SELECT max(last_modified_ms) AS newest_ms
FROM inventory_objects""",
    }


# ------------------------------------------------------------------------------------------------ emitting


def transpile(sql: str, dialect: str) -> str:
    """``sql`` (DuckDB's dialect) for ``dialect``; DuckDB's own text is returned as written."""
    if dialect == "duckdb":
        return sql
    import sqlglot

    return sqlglot.transpile(sql, read="duckdb", write=dialect, pretty=True)[0]


@dataclass
class EngineTable:
    """Where an engine finds the inventory: ``location`` is the inventory's ``s3://dest/<source-bucket>/<config>/``
    folder (the one holding ``data/``, ``hive/`` and the dated manifest folders)."""

    location: str = "s3://DESTINATION-BUCKET/SOURCE-BUCKET/CONFIG-ID/"
    file_format: str = "Parquet"
    columns: tuple[str, ...] = tuple(FIELDS.values())
    table: str = "registry_inventory"
    dt: str = ""  # Athena's partition (YYYY-MM-DD-HH-MM) of the inventory to read
    files: tuple[str, ...] = ()  # s3:// paths of the data files of one inventory (from its manifest)
    schema: str = "hive.default"  # Trino: catalog.schema
    local_files: tuple[str, ...] = ()  # DuckDB: the same files downloaded beside the manifest


def _table_ddl(dialect: str, t: EngineTable) -> str:
    fmt = t.file_format.upper()
    loc = t.location.rstrip("/") + "/"
    csv = fmt == "CSV"
    if dialect == "athena":
        cols = ",\n".join(f"  `{c}` {'string' if csv else TYPES.get(c, 'string')}" for c in t.columns)
        serde = {"CSV": "org.apache.hadoop.hive.serde2.OpenCSVSerde",
                 "ORC": "org.apache.hadoop.hive.ql.io.orc.OrcSerde"}.get(
            fmt, "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe")
        output = ("org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat" if csv
                  else "org.apache.hadoop.hive.ql.io.IgnoreKeyTextOutputFormat")
        return (f"CREATE EXTERNAL TABLE IF NOT EXISTS {t.table} (\n{cols}\n)\nPARTITIONED BY (dt string)\n"
                f"ROW FORMAT SERDE '{serde}'\n"
                "STORED AS INPUTFORMAT 'org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat'\n"
                f"OUTPUTFORMAT '{output}'\n"
                f"LOCATION '{loc}hive/'\n"
                "TBLPROPERTIES (\n  'projection.enabled' = 'true',\n  'projection.dt.type' = 'date',\n"
                "  'projection.dt.format' = 'yyyy-MM-dd-HH-mm',\n  'projection.dt.range' = '2022-01-01-00-00,NOW',\n"
                "  'projection.dt.interval' = '1',\n  'projection.dt.interval.unit' = 'HOURS'\n)")
    if dialect == "trino":
        cols = ",\n".join(f"  {c} {'VARCHAR' if csv else _TRINO_TYPES[TYPES.get(c, 'string')]}" for c in t.columns)
        trino_fmt = {"CSV": "CSV", "ORC": "ORC"}.get(fmt, "PARQUET")
        return (f"CREATE TABLE IF NOT EXISTS {t.table}_files (\n{cols}\n)\n"
                f"WITH (external_location = '{loc}data/', format = '{trino_fmt}')")
    raise ValueError(dialect)


def _duckdb_source(t: EngineTable) -> str:
    fmt = t.file_format.upper()
    files = list(t.local_files or t.files) or [t.location.rstrip("/") + "/data/*"]
    listed = "[" + ", ".join(_lit(f) for f in files) + "]"
    if fmt == "CSV":
        cols = "{" + ", ".join(f"{_lit(c)}: 'VARCHAR'" for c in t.columns) + "}"
        return (f"read_csv({listed}, header = false, columns = {cols}, quote = '\"', escape = '\"', "
                "auto_detect = false, delim = ',')")
    if fmt == "ORC":
        raise ValueError("DuckDB has no ORC reader: use runbook's inventory path (it converts ORC with pyarrow)")
    return f"read_parquet({listed}, union_by_name = true)"


def program(layout: Layout, t: EngineTable, dialect: str = "duckdb",
            only: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """Every statement an engine runs, in order, as ``(name, sql)`` in ``dialect``: the table, the views,
    then one SELECT per result set (save each one's CSV into one folder for ``inventory_results``)."""
    if dialect not in DIALECTS:
        raise ValueError(f"dialect must be one of {', '.join(DIALECTS)}")
    out: list[tuple[str, str]] = []
    if dialect == "duckdb":
        out.append(("inventory", f"CREATE OR REPLACE VIEW inventory AS\nSELECT * FROM {_duckdb_source(t)}"))
    elif dialect == "athena":
        out.append(("inventory_table", _table_ddl("athena", t)))
        dt_value = t.dt or "YYYY-MM-DD-HH-MM"
        out.append(("inventory", f"CREATE OR REPLACE VIEW inventory AS\nSELECT * FROM {t.table}\n"
                                 f"WHERE dt = {_lit(dt_value)}"))
    else:
        out.append(("schema", f"USE {t.schema}"))
        out.append(("inventory_table", _table_ddl("trino", t)))
        view = f"CREATE OR REPLACE VIEW inventory AS\nSELECT * FROM {t.table}_files"
        if t.files:
            view += '\nWHERE "$path" IN (' + ", ".join(_lit(f) for f in t.files) + ")"
        out.append(("inventory", view))
    views = [("inventory_objects", objects_select(t.file_format, t.columns)),
             ("registry_objects", classify_select(layout)), *RELATIONS.items()]
    for name, sql in views:
        out.append((name, transpile(f"CREATE OR REPLACE VIEW {name} AS\n{sql}", dialect)))
    wanted = set(only) if only else set(RESULT_COLUMNS)
    for name, sql in results(layout).items():
        if name in wanted:
            out.append((name, transpile(sql, dialect)))
    return out


def engine_table(manifest: str = "", location: str = "", file_format: str = "", table: str = "",
                 schema: str = "", dt: str = "") -> EngineTable:
    """Where and what the inventory is, from its manifest.json (a local file or folder: format, columns,
    data files, the ``hive/dt=`` partition) and/or given values (which win)."""
    t = EngineTable()
    if manifest:
        from .inventory import _local_file, read_inventory

        inv = read_inventory(manifest)
        t.file_format = inv.file_format
        cols = columns_of(inv.file_format, str(inv.manifest.get("fileSchema") or ""))
        if cols and "key" in cols:
            t.columns = tuple(cols)
        keys = [str(f.get("key") or "") for f in inv.files]
        dest = inv.destination_bucket or "DESTINATION-BUCKET"
        if keys and "/data/" in keys[0]:
            t.location = f"s3://{dest}/{keys[0].rsplit('/data/', 1)[0]}/"
        t.files = tuple(f"s3://{dest}/{k}" for k in keys)
        local = [(_local_file(inv.base, k) if inv.base is not None else None) for k in keys]
        if keys and all(local):
            t.local_files = tuple(str(p) for p in local)
        stamp = re.fullmatch(r"(\d{4}-\d\d-\d\d)T(\d\d)-(\d\d)Z", inv.base.name if inv.base else "")
        if stamp:
            t.dt = f"{stamp.group(1)}-{stamp.group(2)}-{stamp.group(3)}"
        elif inv.created:
            t.dt = inv.created.strftime("%Y-%m-%d-%H-%M")
    if location:
        t.location = location if location.endswith("/") else location + "/"
    if file_format:
        fmt = {"csv": "CSV", "parquet": "Parquet", "orc": "ORC"}.get(file_format.lower())
        if fmt is None:
            raise ValueError(f"format {file_format!r}: CSV, Parquet or ORC")
        t.file_format = fmt
    if table:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", table):
            raise ValueError(f"table {table!r}: letters, digits and _ only")
        t.table = table
    if schema:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?", schema):
            raise ValueError(f"schema {schema!r}: catalog.schema, letters, digits and _ only")
        t.schema = schema
    if dt:
        if not re.fullmatch(r"\d{4}-\d\d-\d\d-\d\d-\d\d", dt):
            raise ValueError(f"dt {dt!r}: YYYY-MM-DD-HH-MM, as in the inventory's hive/dt=... folder")
        t.dt = dt
    if not t.location.startswith("s3://"):
        raise ValueError(f"location {t.location!r}: the inventory's s3://bucket/prefix/ folder")
    return t


def render(statements: list[tuple[str, str]], dialect: str) -> str:
    """The statements as one SQL script with a comment naming each (and what to do with each result)."""
    parts = [f"-- registry bucket analysis for {dialect} (runbook inventory-sql). Run the statements in order;\n"
             "-- save the CSV of each result set (summary, blob_sizes, repositories, uploads, markers,\n"
             "-- repository_names, inventory_time) into one folder: bucket-metrics reads it as\n"
             "-- `inventory_results` (each file is recognised by its header, whatever its name)."]
    for name, sql in statements:
        label = f"result set `{name}`" if name in RESULT_COLUMNS else name
        parts.append(f"-- {label}\n{sql.rstrip().rstrip(';')};")
    return "\n\n".join(parts) + "\n"
