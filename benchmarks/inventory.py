"""S3 Inventory benchmark: `bucket_metrics(..., inventory=...)` against the bare DuckDB query over the same files.

    python benchmarks/inventory.py [N] [--objects N] [--format parquet|csv] [--memory-limit 1GiB] [--dir D]

N (default 10,000,000) objects in a deterministic registry-shaped inventory (runbooklib/s3/inventory_fixture.py:
40 % blobs, repositories of tags/revisions/layer links, upload sessions, dangling links, unreferenced blobs,
markers at every level), written once into D (default /tmp/runbook-inventory-bench) and reused. Its ground
truth comes from the generator's arithmetic (numpy), not from the SQL under test.

Each side runs in its own child process (wall time and peak RSS from wait4), with the same DuckDB settings
(memory_limit, 2 threads, a temp folder):
* ours: the runbook's path, `bucket_metrics(target, manifest)`: per-file MD5 check, one INSERT per data file,
  the result sets, the report's tables built from them;
* bare: the same SQL (runbooklib/s3/inventory_sql.py) as one `CREATE TABLE registry_objects AS ...` over all
  the files at once, then the `blobs` table and the result sets: what a person would type into DuckDB,
  without checks, progress or a report.
Printed: both walls, their ratio, both peak RSS, and whether every count matches the ground truth.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _child_ours(manifest: str, memory: str) -> dict:
    import duckdb  # noqa: F401 - imported before the clock starts, as the bare side does (a notebook has
    import pandas  # noqa: F401 - both loaded already); the path itself is what is timed

    from runbooklib.s3 import S3Settings, connect
    from runbooklib.s3.metrics import bucket_metrics

    target = connect(S3Settings(bucket="registry", region="us-east-1", access_key="k", secret_key="s"))
    t0 = time.perf_counter()
    m = bucket_metrics(target, manifest, progress=False, memory_limit=memory)
    if m.failure is not None:
        raise SystemExit(f"ours failed: {m.failure.message}")
    table = m.repository_table()
    counts = {
        "blobs": m.blob_count, "blob_bytes": m.blob_bytes, "unreferenced": list(m.unreferenced_blobs()),
        "repositories": len(table), "tags": int(table["tags"].sum()), "manifests": int(table["manifests"].sum()),
        "layer_links": int(table["layer_links"].sum()), "referenced_bytes": int(table["referenced_bytes"].sum()),
        "dangling_links": int(table["dangling_links"].sum()), "uploads": len(m.repos.uploads),
        "blob_objects": m.blobs.objects, "repository_objects": m.repos.objects, "slash_keys": m.repos.markers,
        "per_repo": {r: [int(b), int(d)] for r, b, d in zip(table["repository"], table["referenced_bytes"],
                                                              table["dangling_links"])},
    }
    return {"wall_s": time.perf_counter() - t0, "counts": counts, "engine": m.engine}


def _child_bare(manifest: str, memory: str) -> dict:
    import shutil

    import duckdb

    from runbooklib.s3 import inventory_sql as Q
    from runbooklib.s3.inventory import _local_file, read_inventory

    inv = read_inventory(manifest)
    files = [str(_local_file(inv.base, f["key"])) for f in inv.files]
    layout = Q.Layout.of_root("docker/registry/v2/")
    tmp = tempfile.mkdtemp(prefix="bare-duckdb-")
    t0 = time.perf_counter()
    con = duckdb.connect(":memory:", config={"memory_limit": memory, "temp_directory": tmp, "threads": os.cpu_count(),
                                             "preserve_insertion_order": False})
    con.execute("SET enable_progress_bar = false")
    listed = "[" + ", ".join(f"'{f}'" for f in files) + "]"
    if inv.file_format == "CSV":
        cols = [Q.FIELDS.get(c, c.lower()) for c in inv.columns]
        spec = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in cols) + "}"
        source = f"read_csv({listed}, header = false, columns = {spec}, quote = '\"', escape = '\"', auto_detect = false)"
    else:
        source = f"read_parquet({listed})"
        cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet('{files[0]}')").fetchall()]
    objects = Q.objects_select(inv.file_format, cols, source=source)
    try:
        con.execute(f"CREATE TABLE registry_objects AS {Q.classify_select(layout, f'({objects}) AS o')}")
        con.execute(f"CREATE TABLE blobs AS {Q.RELATIONS['blobs']}")
        sets = {name: con.execute(sql).fetchall() for name, sql in Q.results(layout).items()
                if name in Q.METRICS_RESULTS}
    except duckdb.Error as exc:
        return {"wall_s": time.perf_counter() - t0, "error": str(exc).splitlines()[0][:200]}
    finally:
        wall = time.perf_counter() - t0
        con.close()
        shutil.rmtree(tmp, ignore_errors=True)
    repos = sets["repositories"]
    counts = {
        "blobs": sum(r[2] for r in sets["blob_sizes"]), "blob_bytes": sum(r[3] for r in sets["blob_sizes"]),
        "unreferenced": [sum(r[2] for r in sets["blob_sizes"] if not r[1]), sum(r[3] for r in sets["blob_sizes"] if not r[1])],
        "repositories": len(repos), "tags": sum(r[1] for r in repos), "manifests": sum(r[2] for r in repos),
        "layer_links": sum(r[3] for r in repos), "referenced_bytes": sum(r[4] for r in repos),
        "dangling_links": sum(r[5] for r in repos), "uploads": len(sets["uploads"]),
        "blob_objects": sets["summary"][0][0], "repository_objects": sets["summary"][0][2],
        "slash_keys": sets["summary"][0][3],
        "per_repo": {r[0]: [int(r[4]), int(r[5])] for r in repos},
    }
    return {"wall_s": wall, "counts": counts}


def _expected(truth: dict, shape) -> dict:
    return {
        "blobs": truth["blobs"], "blob_bytes": truth["blob_bytes"],
        "unreferenced": [truth["unreferenced_blobs"], truth["unreferenced_bytes"]],
        "repositories": truth["repositories"], "tags": truth["tags"], "manifests": truth["manifests"],
        "layer_links": truth["layer_links"], "referenced_bytes": truth["referenced_bytes"],
        "dangling_links": truth["dangling_links"], "uploads": len(truth["uploads"]),
        "slash_keys": truth["slash_keys"],
        "blob_objects": truth["blob_objects"], "repository_objects": truth["repository_objects"],
        "per_repo": {shape.repo(r): [int(b), int(d)] for r, (b, d) in enumerate(
            zip(truth["per_repo"]["referenced_bytes"], truth["per_repo"]["dangling_links"]))},
    }


def _run_child(kind: str, manifest: str, memory: str, out: Path) -> tuple[dict, float, int]:
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, __file__, "--child", kind, "--manifest", manifest,
                             "--memory-limit", memory, "--out", str(out)])
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    if os.waitstatus_to_exitcode(status) != 0:
        return {"wall_s": wall, "error": f"exit {os.waitstatus_to_exitcode(status)}"}, wall, usage.ru_maxrss * 1024
    return json.loads(out.read_text()), wall, usage.ru_maxrss * 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("n", nargs="?", type=int, default=None, help="objects (default 10,000,000)")
    ap.add_argument("--objects", type=int, default=None, help="objects, e.g. 100000000")
    ap.add_argument("--format", default="parquet", choices=["parquet", "csv"])
    ap.add_argument("--files", type=int, default=None, help="data files (default: one per million objects)")
    ap.add_argument("--memory-limit", default="1GiB")
    ap.add_argument("--bare-memory-limit", default=None, help="memory_limit of the bare query (default: the same)")
    ap.add_argument("--dir", default=os.path.join(tempfile.gettempdir(), "runbook-inventory-bench"))
    ap.add_argument("--repeat", type=int, default=1, help="runs of each side (the median wall is kept)")
    ap.add_argument("--child", choices=["ours", "bare", "truth", "write"], help=argparse.SUPPRESS)
    ap.add_argument("--manifest", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child in ("truth", "write"):
        from runbooklib.s3 import inventory_fixture as F

        if args.child == "write":
            F.write(Path(args.out), args.objects, fmt=args.format, files=args.files)
        else:
            shape = F.shape(args.objects)
            Path(args.out).write_text(json.dumps(_expected(F.truth(shape), shape)))
        return 0
    if args.child:
        result = (_child_ours if args.child == "ours" else _child_bare)(args.manifest, args.memory_limit)
        Path(args.out).write_text(json.dumps(result))
        return 0

    # Writing the inventory and its ground truth take gigabytes at 100 M objects: each runs in a process of
    # its own, since a child process starts with its parent's peak RSS as its own.
    n = args.objects or args.n or 10_000_000
    folder = Path(args.dir) / f"{args.format}-{n}"
    found = sorted(folder.rglob("manifest.json")) if folder.is_dir() else []
    if found:
        manifest = found[-1]
        print(f"inventory: {manifest} (reused)", file=sys.stderr)
    else:
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--child", "write", "--objects", str(n), "--format", args.format,
               "--out", str(folder)] + (["--files", str(args.files)] if args.files else [])
        subprocess.run(cmd, check=True)
        manifest = sorted(folder.rglob("manifest.json"))[-1]
        print(f"inventory: {manifest} written in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    doc = json.loads(manifest.read_text())
    size = sum(f["size"] for f in doc["files"])
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, __file__, "--child", "truth", "--objects", str(n), "--out", f"{tmp}/t.json"],
                       check=True)
        expected = json.loads(Path(f"{tmp}/t.json").read_text())
    print(f"ground truth in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    runs: dict[str, list[tuple[dict, float, int]]] = {"ours": [], "bare": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeat):
            for kind in ("bare", "ours") if i % 2 else ("ours", "bare"):  # alternate: a busy machine hurts both
                memory = args.bare_memory_limit if kind == "bare" and args.bare_memory_limit else args.memory_limit
                res = _run_child(kind, str(manifest), memory, Path(tmp) / f"{kind}.json")
                runs[kind].append(res)
                print(f"  {kind}: {res[0]['wall_s']:.1f} s, peak RSS {res[2] / 2 ** 20:.0f} MiB"
                      + (f", FAILED: {res[0]['error']}" if "error" in res[0] else ""), file=sys.stderr)

    def pick(kind: str) -> tuple[dict, float, int]:
        return sorted(runs[kind], key=lambda r: r[0]["wall_s"])[len(runs[kind]) // 2]

    ours, bare = pick("ours"), pick("bare")
    objects = expected["blob_objects"] + expected["repository_objects"]
    print(f"\ninventory: {n:,} objects asked ({objects:,} in the registry's prefixes), {len(doc['files'])} "
          f"{doc['fileFormat']} files, {size / 2 ** 20:.0f} MiB; {os.cpu_count()} cores")
    print(f"{'':5} {'memory_limit':>12} {'wall s':>8} {'peak RSS MiB':>13} {'µs/object':>10}  counts")
    for name, (res, _, rss) in (("ours", ours), ("bare", bare)):
        memory = args.bare_memory_limit if name == "bare" and args.bare_memory_limit else args.memory_limit
        if "error" in res:
            print(f"{name:5} {memory:>12} {res['wall_s']:>8.1f} {rss / 2 ** 20:>13.0f} {'':>10}  FAILED: {res['error']}")
            continue
        bad = [k for k in expected if res["counts"].get(k) != expected[k]]
        print(f"{name:5} {memory:>12} {res['wall_s']:>8.1f} {rss / 2 ** 20:>13.0f} {1e6 * res['wall_s'] / objects:>10.2f}  "
              + ("all match" if not bad else "MISMATCH: " + ", ".join(bad)))
    ok = "error" not in ours[0] and all(ours[0]["counts"].get(k) == expected[k] for k in expected)
    if "error" not in bare[0]:
        print(f"\nratio ours / bare DuckDB: {ours[0]['wall_s'] / bare[0]['wall_s']:.2f}")
    else:
        print("\nratio ours / bare DuckDB: - (the bare query did not finish)")
    print(f"every count of ours matches the ground truth: {'yes' if ok else 'NO'}")
    if "engine" in ours[0]:
        e = ours[0]["engine"]
        print(f"ours: {e.get('shards')} shards; read {e.get('read_s')} s, shards {e.get('shards_s')} s, "
              f"{e.get('wall_s')} s in the engine; child process {ours[1]:.1f} s (with interpreter start and imports)")
    return 0 if ok else 1


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    sys.exit(main())
