"""The inventory path on DuckDB and the same SQL for Athena/Trino: counts against a generated inventory's
ground truth, results identical to the per-key Python collectors (the listing path's code), every emitted
statement parsed back as Trino, an engine's CSV results read back into the same report, memory bounded and
spill folders removed, S3 streaming with the MD5 check, and a cleanup plan from a stale inventory that never
deletes a changed object. Small generated inventories: each test takes a second or two."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
from pathlib import Path

import pytest

from runbooklib.findings import Status
from runbooklib.s3 import S3Settings, connect, find_markers, write_inventory
from runbooklib.s3 import inventory_fixture as F
from runbooklib.s3 import inventory_sql as Q
from runbooklib.s3.inventory import read_inventory
from runbooklib.s3.inventory_db import parse_memory, run_inventory
from runbooklib.s3.markers import apply_marker_cleanup, check_markers, plan_marker_cleanup, scan_markers_from_rows
from runbooklib.s3.metrics import (BlobCollector, BucketMetrics, RepositoryCollector, bucket_metrics, check_blobs,
                                   check_repositories, check_uploads, feed_rows, size_histogram)
from tests.conftest import runbook

duckdb = pytest.importorskip("duckdb")
sqlglot = pytest.importorskip("sqlglot")

V2 = "docker/registry/v2/"
R, B = V2 + "repositories/", V2 + "blobs/sha256/"
LAYOUT = Q.Layout.of_root(V2)
OBJECTS = 6000


def _target(bucket: str = "registry"):
    return connect(S3Settings(bucket=bucket, region="us-east-1", access_key="k", secret_key="s"))


@pytest.fixture(scope="module", params=["Parquet", "CSV"])
def generated(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"gen-{request.param}")
    manifest, shape = F.write(folder, OBJECTS, fmt=request.param, files=3, threads=1)
    return manifest, shape, F.truth(shape)


def _view(m: BucketMetrics) -> dict:
    """Everything the report shows of a BucketMetrics, as plain data."""
    return {"blobs": m.blob_count, "bytes": m.blob_bytes, "unreferenced": m.unreferenced_blobs(),
            "size_classes": m.size_classes(), "octaves": m.size_octaves(),
            "repositories": m.repository_table().to_dict(orient="records"),
            "uploads": m.upload_table().to_dict(orient="records"),
            "objects": (m.blobs.objects, m.blobs.other, m.repos.objects, m.repos.markers),
            "findings": [(f.id, f.status, f.detail) for f in check_blobs(m) + check_repositories(m) + check_uploads(m)],
            "html": m._repr_html_().split("(source:")[0]}


def _reference(manifest: Path, prefix: str = V2) -> BucketMetrics:
    """The listing path's collectors fed the inventory's rows one by one (the code before DuckDB)."""
    inv = read_inventory(str(manifest))
    m = BucketMetrics("registry", prefix, BlobCollector(prefix + "blobs/sha256/"), RepositoryCollector(prefix + "repositories/"))
    feed_rows(m, inv.rows())
    m.measured_at = inv.created
    return m


# ------------------------------------------------------------------------------------- ground truth


def test_generated_inventory_gives_every_count_of_its_ground_truth(generated):
    manifest, shape, truth = generated
    m = bucket_metrics(_target(), str(manifest), progress=False)
    assert m.failure is None and m.aggregates is not None
    assert (m.blob_count, m.blob_bytes) == (truth["blobs"], truth["blob_bytes"])
    assert m.unreferenced_blobs() == (truth["unreferenced_blobs"], truth["unreferenced_bytes"])
    assert {(o, r): [n, b] for o, r, n, b in m.aggregates.blob_sizes} == truth["blob_sizes"]
    assert (m.blobs.objects, m.blobs.other, m.repos.objects) == (truth["blob_objects"], truth["blob_other"],
                                                                  truth["repository_objects"])
    table = m.repository_table().set_index("repository")
    assert len(table) == truth["repositories"]
    assert (table["tags"].sum(), table["manifests"].sum(), table["layer_links"].sum()) == (
        truth["tags"], truth["manifests"], truth["layer_links"])
    per_repo = truth["per_repo"]
    for r in range(shape.repos):
        row = table.loc[shape.repo(r)]
        assert (row["referenced_bytes"], row["dangling_links"]) == (per_repo["referenced_bytes"][r],
                                                                    per_repo["dangling_links"][r])
    assert {k: (s.objects, s.data_bytes) for k, s in m.repos.uploads.items()} == truth["uploads"]
    assert check_uploads(m)[0].evidence["stale"] == truth["stale_uploads"]
    assert m.repos.markers == truth["slash_keys"]
    dangling = [f for f in check_repositories(m) if f.id == "bucket.dangling_layer_links"]
    assert dangling and str(truth["dangling_links"]) in dangling[0].detail


def test_the_marker_scan_of_a_generated_inventory(generated):
    manifest, shape, truth = generated
    scan = find_markers(_target(), str(manifest), progress=False)
    assert {mk.key: (mk.kind, mk.repository) for mk in scan.markers} == truth["markers"]
    assert scan.objects == truth["repository_objects"] and scan.slash_keys_with_data == truth["slash_keys_with_data"]
    assert len(scan.repositories) == truth["named_repositories"]
    assert check_markers(scan)[0].id == "markers.found"


# ------------------------------------------------------------------ the same as the per-key collectors

D = {n: f"{n:x}" * 64 for n in range(1, 10)}  # 64 hex characters each
EDGE_KEYS = [
    (f"{R}g/app/_layers/sha256/{D[1][:64]}/link", 71), (f"{R}g/app/_manifests/tags/v1/current/link", 71),
    (f"{R}g/app/_manifests/tags/v1/index/sha256/{D[1][:64]}/link", 71),
    (f"{R}g/app/_manifests/revisions/sha256/{D[2][:64]}/link", 71),
    (f"{R}g/app/_manifests/revisions/sha256/{D[3][:64]}/link", 71),  # names no blob: only "referenced"
    (f"{R}g/app/_layers/sha256/{D[9][:64]}/link", 71),  # dangling
    (f"{R}g/app/_layers/sha256/{D[1][:64]}", 71),  # no /link: still a layer link of D1
    (f"{R}g/app/_layers/sha256//link", 71),  # empty digest
    (f"{R}g/app/_layers/sha256/{D[4][:64]}/extra/deeper", 5),
    (f"{R}g/app/_manifests/revisions/sha256/link", 71), (f"{R}g/app/_manifests/foo", 1),
    (f"{R}g/app/_state/x", 3), (f"{R}g/only-manifest/_manifests/x", 1),
    (f"{R}_hidden/_layers/sha256/{D[2][:64]}/link", 71),  # starts with _: the first /_ is later
    (f"{R}/_x", 1), (f"{R}README", 2), (f"{R}g//_layers/sha256/{D[1][:64]}/link", 71),
    (f"{R}g/sp ace+plus/_layers/sha256/{D[1][:64]}/link", 71), (f"{R}g/ünï/_manifests/tags/t/current/link", 71),
    (f"{R}g/upl/_uploads/u1/startedat", 20), (f"{R}g/upl/_uploads/u1/data", 500),
    (f"{R}g/upl/_uploads/u1/hashstates/sha256/0", 9), (f"{R}g/upl/_uploads/u2", 4), (f"{R}g/upl/_uploads//data", 7),
    (R, 0), (f"{R}g/", 0), (f"{R}g/app/", 0), (f"{R}g/app/_manifests/tags/", 0), (f"{R}g/app/_manifests/", 0),
    (f"{R}g/app/_layers/", 3), (f"{R}nobody/", 0), (f"{R}g/upl/", 0), (f"{R}g/sp ace+plus/", 0),
    (f"{B}aa/{D[1][:64]}/data", 5000), (f"{B}bb/{D[2][:64]}/data", 0), (f"{B}cc/{D[4][:64]}/data", 1 << 30),
    (f"{B}dd/{D[5][:64]}/data", 4096), (f"{B}ee/{D[5][:64]}/data", 4096),  # one digest in two shards
    (f"{B}aa/data", 3), (f"{B}ab/x/y/data", 1023), (f"{B}zz", 1), (B, 0), (f"{B}ff/{D[6][:64]}/data", 1024),
    ("other/x", 1), (f"{V2}misc", 1), (f"{V2}repositories", 1),
]


def _edge_rows():
    when = dt.datetime(2025, 1, 10, 12, 0, tzinfo=dt.timezone.utc)
    rows = []
    for n, (key, size) in enumerate(EDGE_KEYS):
        lm = (when - dt.timedelta(hours=n)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        etag = "d41d8cd98f00b204e9800998ecf8427e" if size == 0 else hashlib.md5(key.encode()).hexdigest()
        rows.append((key, size, etag, lm))
    return rows


@pytest.mark.parametrize("fmt", ["CSV", "Parquet"])
def test_duckdb_results_are_identical_to_the_per_key_collectors(tmp_path, fmt):
    manifest = write_inventory(tmp_path, "registry", _edge_rows(), fmt=fmt, files=3,
                               created=dt.datetime(2025, 1, 11, tzinfo=dt.timezone.utc))
    new = bucket_metrics(_target(), str(manifest), progress=False)
    old = _reference(manifest)
    assert new.aggregates is not None and old.aggregates is None
    assert _view(new) == _view(old)
    assert new.size_classes() == size_histogram(old.blobs.sizes.values())
    inv = read_inventory(str(manifest))
    listed = scan_markers_from_rows(inv.rows(), "registry", R)
    scan = find_markers(_target(), str(manifest), progress=False)
    assert [(x.key, x.etag, x.kind, x.repository) for x in scan.markers] == \
        [(x.key, x.etag, x.kind, x.repository) for x in listed.markers]
    assert (scan.objects, scan.repositories, scan.slash_keys_with_data) == (
        listed.objects, listed.repositories, listed.slash_keys_with_data)
    assert check_markers(scan)[0].detail == check_markers(listed)[0].detail.replace(listed.source, scan.source)


def test_old_versions_and_delete_markers_are_left_out(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys = [f"{B}aa/{D[1][:64]}/data", f"{B}bb/{D[2][:64]}/data", f"{B}cc/{D[3][:64]}/data", f"{B}dd/{D[4][:64]}/data"]
    table = pa.table({"bucket": ["registry"] * 4, "key": keys, "version_id": ["a", "b", "c", "d"],
                      "is_latest": [True, False, True, None], "is_delete_marker": [False, False, True, None],
                      "size": pa.array([10, 20, 0, 40], pa.int64()),
                      "last_modified_date": pa.array([1_700_000_000_000] * 4, pa.int64()),  # int64 without a type
                      "e_tag": ["x"] * 4})
    data_dir = tmp_path / "registry" / "inv" / "data"
    data_dir.mkdir(parents=True)
    sink = io.BytesIO()
    pq.write_table(table, sink)
    (data_dir / "a.parquet").write_bytes(sink.getvalue())
    manifest = tmp_path / "registry" / "inv" / "2025-01-01T00-00Z" / "manifest.json"
    manifest.parent.mkdir()
    manifest.write_text(json.dumps({"sourceBucket": "registry", "fileFormat": "Parquet", "fileSchema": "",
                                    "files": [{"key": "registry/inv/data/a.parquet",
                                               "MD5checksum": hashlib.md5(sink.getvalue()).hexdigest()}]}))
    m = bucket_metrics(_target(), str(manifest), progress=False)
    assert (m.blob_count, m.blob_bytes) == (2, 50)  # the current version of a and d; b is old, c deleted


# --------------------------------------------------------------------------- Athena / Trino / DuckDB SQL


@pytest.mark.parametrize("fmt", ["Parquet", "ORC", "CSV"])
@pytest.mark.parametrize("dialect", ["athena", "trino"])
def test_every_statement_transpiles_and_parses_back_as_trino(dialect, fmt):
    cols = ("bucket", "key", "size", "last_modified_date", "e_tag", "storage_class", "is_latest", "is_delete_marker")
    table = Q.EngineTable(file_format=fmt, columns=cols, dt="2025-01-15-06-00",
                          files=("s3://dest/registry/cfg/data/a.parquet",))
    statements = Q.program(LAYOUT, table, dialect)
    names = [n for n, _ in statements]
    assert set(Q.RESULT_COLUMNS) <= set(names) and {"inventory_objects", "registry_objects", "blobs"} <= set(names)
    for name, sql in statements:
        if name == "inventory_table" and dialect == "athena":
            ddl = sqlglot.parse_one(sql, read="athena")  # Hive DDL, as Athena takes it
            assert "SymlinkTextInputFormat" in ddl.sql("athena") and "projection.dt.format" in sql
            continue
        parsed = sqlglot.parse_one(sql, read="trino")
        assert parsed is not None, name
        for duck_only in ("::", "ANTI JOIN", "EPOCH_MS", "REGEXP_MATCHES", "LIST_", "STRUCT_PACK"):
            assert duck_only not in sql.upper(), (name, duck_only)
        if name in Q.RESULT_COLUMNS:  # each result set has the columns bucket-metrics reads back
            assert [s.alias_or_name for s in parsed.selects] == list(Q.RESULT_COLUMNS[name]), name


def _run_program(statements, con=None):
    con = con or duckdb.connect()
    out = {}
    for name, sql in statements:
        if name in Q.RESULT_COLUMNS:
            out[name] = con.execute(sql).fetchall()
        else:
            con.execute(sql)
    return out


def test_the_emitted_duckdb_program_runs_as_is_and_matches_the_ground_truth(generated, tmp_path):
    manifest, shape, truth = generated
    r = runbook("inventory-sql", "--dialect", "duckdb", "--manifest", str(manifest), "-o", str(tmp_path / "sql"))
    assert r.returncode == 0, r.stderr
    script = (tmp_path / "sql" / "registry-duckdb.sql").read_text()
    con = duckdb.connect()
    con.execute(script.rsplit("-- result set `summary`", 1)[0])  # the views
    sets = {name: con.execute((tmp_path / "sql" / f).read_text()).fetchall()
            for f in sorted(p.name for p in (tmp_path / "sql").glob("[0-9]*.sql"))
            for name in [f.split("-", 1)[1][:-4]] if name in Q.RESULT_COLUMNS}
    blobs = sum(n for _, _, n, _ in sets["blob_sizes"])
    loose = [(n, b) for _, ref, n, b in sets["blob_sizes"] if not ref]
    assert blobs == truth["blobs"] and sum(n for n, _ in loose) == truth["unreferenced_blobs"]
    assert sum(b for _, _, _, b in sets["blob_sizes"]) == truth["blob_bytes"]
    assert len(sets["repositories"]) == truth["repositories"]
    assert sum(r[5] for r in sets["repositories"]) == truth["dangling_links"]
    assert sum(r[4] for r in sets["repositories"]) == truth["referenced_bytes"]
    assert {r[0]: (r[4], r[5]) for r in sets["markers"]} == truth["markers"]
    assert len(sets["repository_names"]) == truth["named_repositories"]
    embedded = run_inventory(read_inventory(str(manifest)), LAYOUT, Q.METRICS_RESULTS, progress=False)
    for name in Q.METRICS_RESULTS:  # the embedded path computes exactly what the emitted SQL does
        assert sorted(embedded.sets[name], key=repr) == sorted(sets[name], key=repr), name


def test_trino_text_read_back_by_duckdb_gives_the_same_results(generated):
    """sqlglot's Trino text, turned back into DuckDB's dialect, computes the same result sets: the functions
    were mapped, not only the syntax."""
    manifest, _, _ = generated
    table = Q.engine_table(str(manifest))
    native = _run_program(Q.program(LAYOUT, table, "duckdb"))
    con = duckdb.connect()
    con.execute(Q.program(LAYOUT, table, "duckdb")[0][1])  # DuckDB's own reader stands in for the Trino table
    back = []
    for name, sql in Q.program(LAYOUT, table, "trino"):
        if name in ("schema", "inventory_table", "inventory"):
            continue
        back.append((name, sqlglot.transpile(sql, read="trino", write="duckdb")[0]))
    again = _run_program(back, con)
    for name in Q.RESULT_COLUMNS:
        assert sorted(again[name], key=repr) == sorted(native[name], key=repr), name


def test_inventory_sql_cli_derives_table_partition_and_files_from_the_manifest(generated):
    manifest, _, _ = generated
    r = runbook("inventory-sql", "--dialect", "athena", "--manifest", str(manifest), "--root", "/")
    assert r.returncode == 0, r.stderr
    assert "CREATE EXTERNAL TABLE IF NOT EXISTS registry_inventory" in r.stdout
    assert "LOCATION 's3://inventory-destination/registry/registry-inventory/hive/'" in r.stdout
    assert "WHERE dt = '2025-01-15-06-00'" in r.stdout
    t = runbook("inventory-sql", "--dialect", "trino", "--manifest", str(manifest), "--schema", "hive.inv")
    assert t.returncode == 0 and "USE hive.inv" in t.stdout and '"$path" IN (' in t.stdout
    bad = runbook("inventory-sql", "--dialect", "mysql")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    bad = runbook("inventory-sql", "--dt", "yesterday")
    assert bad.returncode == 2 and "YYYY-MM-DD-HH-MM" in bad.stderr


def _athena_csv(folder: Path, sets: dict) -> None:
    """Write each result set as Athena does: a header, every value quoted, booleans as true/false; names are
    the query ids Athena gives, not the result sets'."""
    folder.mkdir()
    for n, (name, rows) in enumerate(sets.items()):
        with open(folder / f"{n:04x}a9c1-query-id.csv", "w", newline="") as fh:
            w = csv.writer(fh, quoting=csv.QUOTE_ALL)
            w.writerow(Q.RESULT_COLUMNS[name])
            for row in rows:
                w.writerow(["true" if v is True else "false" if v is False else "" if v is None else v for v in row])


def test_an_engines_csv_results_give_the_same_report_and_plots(generated, tmp_path):
    manifest, _, _ = generated
    sets = _run_program(Q.program(LAYOUT, Q.engine_table(str(manifest)), "duckdb"))
    _athena_csv(tmp_path / "results", sets)
    direct = bucket_metrics(_target(), str(manifest), progress=False)
    engine = bucket_metrics(_target(), results=str(tmp_path / "results"), progress=False)
    assert engine.failure is None and engine.source.startswith("query results")
    assert engine.measured_at == F.CREATED - dt.timedelta(hours=1)  # the newest object: the freshest upload
    engine.measured_at = direct.measured_at
    assert _view(engine) == _view(direct)
    scan = find_markers(_target(), str(tmp_path / "results"), progress=False)  # the marker scan reads them too
    direct_scan = find_markers(_target(), str(manifest), progress=False)
    assert [(x.key, x.kind, x.repository, x.etag) for x in scan.markers] == \
        [(x.key, x.kind, x.repository, x.etag) for x in direct_scan.markers]
    assert (scan.objects, scan.repositories) == (direct_scan.objects, direct_scan.repositories)


def test_a_results_folder_missing_a_result_set_is_an_error_finding(tmp_path):
    _athena_csv(tmp_path / "results", {"summary": [(1, 0, 0, 0, 0)]})
    m = bucket_metrics(_target(), results=str(tmp_path / "results"), progress=False)
    found = check_blobs(m)[0]
    assert found.status is Status.ERROR and "blob_sizes" in found.detail


# --------------------------------------------------------------------------- memory, spill, streaming


def test_memory_limit_spill_folder_and_progress(generated, tmp_path, capsys):
    manifest, _, truth = generated
    spill = tmp_path / "spill"
    spill.mkdir()
    m = bucket_metrics(_target(), str(manifest), progress=True, memory_limit="64MiB", spill_dir=str(spill))
    assert m.blob_count == truth["blobs"] and m.engine["memory_limit"] == 64 << 20
    assert list(spill.iterdir()) == []  # the private folder is gone
    err = capsys.readouterr().err
    assert "inventory files" in err and "3/3" in err
    assert parse_memory("1GiB") == 1 << 30 and parse_memory("512MB") == 512 * 10 ** 6
    bad = bucket_metrics(_target(), str(manifest), progress=False, memory_limit="lots")
    assert check_blobs(bad)[0].status is Status.ERROR and "memory_limit" in check_blobs(bad)[0].detail
    gone = bucket_metrics(_target(), str(manifest), progress=False, spill_dir=str(tmp_path / "nope"))
    assert "spill_dir" in check_blobs(gone)[0].detail


def test_sharded_and_single_pass_give_the_same_result_sets(generated, tmp_path):
    """A large inventory is split by digest into shards (Parquet in the spill folder): same answers."""
    manifest, _, _ = generated
    inv = read_inventory(str(manifest))
    one = run_inventory(inv, LAYOUT, Q.RESULT_COLUMNS.keys() - {"inventory_time"}, progress=False, shards=1)
    spill = tmp_path / "spill"
    spill.mkdir()
    many = run_inventory(inv, LAYOUT, Q.RESULT_COLUMNS.keys() - {"inventory_time"}, progress=False, shards=5,
                         spill_dir=str(spill))
    assert (one.stats["shards"], many.stats["shards"]) == (1, 5) and list(spill.iterdir()) == []
    for name in one.sets:
        assert sorted(one.sets[name], key=repr) == sorted(many.sets[name], key=repr), name
    edge = write_inventory(tmp_path / "edge", "registry", _edge_rows(), fmt="CSV", files=2)
    a = run_inventory(read_inventory(str(edge)), LAYOUT, progress=False, shards=1)
    b = run_inventory(read_inventory(str(edge)), LAYOUT, progress=False, shards=3)
    assert all(sorted(a.sets[n], key=repr) == sorted(b.sets[n], key=repr) for n in a.sets)


def test_orc_inventories_are_read_through_arrow(tmp_path):
    import pyarrow.orc as orc
    import pyarrow.parquet as pq

    manifest = write_inventory(tmp_path / "p", "registry", _edge_rows(), fmt="Parquet", files=2)
    doc = json.loads(manifest.read_text())
    for entry in doc["files"]:
        src = next((tmp_path / "p").rglob(Path(entry["key"]).name))
        dest = src.with_suffix(".orc")
        orc.write_table(pq.read_table(src), str(dest))
        entry["key"] = entry["key"].replace(".parquet", ".orc")
        entry["MD5checksum"] = hashlib.md5(dest.read_bytes()).hexdigest()
        src.unlink()
    doc.update(fileFormat="ORC", fileSchema="struct<bucket:string,key:string,size:bigint,e_tag:string,"
                                            "last_modified_date:timestamp,storage_class:string>")
    manifest.write_text(json.dumps(doc))
    assert _view(bucket_metrics(_target(), str(manifest), progress=False)) == _view(_reference(manifest))


moto = pytest.importorskip("moto")


@pytest.fixture
def mock_s3(monkeypatch):
    for k in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(k, raising=False)
    with moto.mock_aws():
        target = _target()
        target.client.create_bucket(Bucket="registry")
        target.client.create_bucket(Bucket="inventory-destination")
        yield target


def _upload_inventory(target, manifest: Path, root: Path) -> str:
    doc = json.loads(manifest.read_text())
    for entry in doc["files"]:
        target.client.put_object(Bucket="inventory-destination", Key=entry["key"],
                                 Body=(root / entry["key"]).read_bytes())
    key = str(manifest.relative_to(root))
    target.client.put_object(Bucket="inventory-destination", Key=key, Body=manifest.read_bytes())
    return f"s3://inventory-destination/{key}"


def test_an_inventory_on_s3_is_streamed_file_by_file_with_its_md5_checked(mock_s3, tmp_path):
    manifest, shape = F.write(tmp_path / "inv", 3000, files=3, threads=1)
    truth = F.truth(shape)
    url = _upload_inventory(mock_s3, manifest, tmp_path / "inv")
    spill = tmp_path / "spill"
    spill.mkdir()
    m = bucket_metrics(mock_s3, url, progress=False, spill_dir=str(spill))
    assert m.failure is None and (m.blob_count, m.blob_bytes) == (truth["blobs"], truth["blob_bytes"])
    assert m.engine["downloaded_bytes"] == sum(f["size"] for f in json.loads(manifest.read_text())["files"])
    assert m.requests["by_operation"].get("GetObject") == 4 and "ListObjectsV2" not in m.requests["by_operation"]
    assert list(spill.iterdir()) == []
    first = json.loads(manifest.read_text())["files"][1]["key"]
    mock_s3.client.put_object(Bucket="inventory-destination", Key=first, Body=b"not the file the manifest names")
    broken = bucket_metrics(mock_s3, url, progress=False, spill_dir=str(spill))
    found = check_blobs(broken)[0]
    assert found.status is Status.ERROR and "MD5" in found.detail and list(spill.iterdir()) == []


def test_a_plan_from_a_stale_inventory_never_deletes_a_changed_object(mock_s3, tmp_path):
    s3 = mock_s3.client
    keys = {f"{R}g/app/_manifests/tags/v1/current/link": b"sha256:" + b"a" * 64,
            f"{R}g/app/_manifests/tags/": b"", f"{R}g/app/": b"", f"{R}g/other/_manifests/tags/": b"",
            f"{R}g/other/_layers/sha256/{'b' * 64}/link": b"sha256:" + b"b" * 64}
    for key, body in keys.items():
        s3.put_object(Bucket="registry", Key=key, Body=body)
    rows = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket="registry"):
        rows += [(o["Key"], o["Size"], o["ETag"].strip('"'), str(o["LastModified"])) for o in page["Contents"]]
    manifest = write_inventory(tmp_path, "registry", rows, fmt="Parquet", files=1)
    # after the inventory was made: one marker now holds data, another is gone
    s3.put_object(Bucket="registry", Key=f"{R}g/app/", Body=b"written after the inventory")
    s3.delete_object(Bucket="registry", Key=f"{R}g/other/_manifests/tags/")
    lists_before = mock_s3.counter.list_requests
    plan = plan_marker_cleanup(find_markers(mock_s3, str(manifest), progress=False))
    assert set(plan.keys) == {f"{R}g/app/_manifests/tags/", f"{R}g/app/", f"{R}g/other/_manifests/tags/"}
    audit = apply_marker_cleanup(plan, plan.digest)
    assert audit.deleted == [f"{R}g/app/_manifests/tags/"]
    reasons = {s["key"]: s["reason"] for s in audit.skipped}
    assert reasons[f"{R}g/app/"].startswith("changed") and reasons[f"{R}g/other/_manifests/tags/"].startswith("gone")
    assert s3.get_object(Bucket="registry", Key=f"{R}g/app/")["Body"].read() == b"written after the inventory"
    assert mock_s3.counter.list_requests == lists_before  # neither the plan nor the apply listed


@pytest.mark.lab  # runs the notebook end to end (a kernel each)
def test_the_bucket_metrics_runbook_reports_the_same_from_an_inventory_and_from_engine_results(tmp_path):
    manifest, shape = F.write(tmp_path / "inv", 5000, files=2, threads=1)
    sets = _run_program(Q.program(LAYOUT, Q.engine_table(str(manifest)), "duckdb"))
    _athena_csv(tmp_path / "results", sets)
    common = ["-p", "s3_bucket", "registry", "-p", "s3_endpoint", "http://127.0.0.1:9", "-p", "timeout_s", "2",
              "-p", "s3_access_key", "env:HOME", "-p", "s3_secret_key", "env:HOME"]
    found = {}
    for name, extra in (("inventory", ["-p", "inventory", str(manifest)]),
                        ("results", ["-p", "inventory_results", str(tmp_path / "results")])):
        r = runbook("run", "bucket-metrics", *common, *extra, "-o", str(tmp_path / name))
        path = tmp_path / name / "bucket-metrics.findings.json"
        assert path.exists(), r.stderr[-2000:]
        found[name] = {f["id"]: f for f in json.loads(path.read_text())["findings"]}
        assert (tmp_path / name / "bucket-metrics.html").read_text().count("data:image/png;base64,") >= 3
    a, b = found["inventory"], found["results"]
    assert set(a) == set(b) and "bucket.dangling_layer_links" in a
    for fid in ("bucket.blobs", "bucket.repositories", "bucket.dangling_layer_links"):
        assert a[fid]["status"] == b[fid]["status"] and a[fid]["detail"] == b[fid]["detail"], fid
    assert a["bucket.blobs"]["evidence"]["size_classes"] == b["bucket.blobs"]["evidence"]["size_classes"]
    assert a["bucket.repositories"]["evidence"]["top"] == b["bucket.repositories"]["evidence"]["top"]
