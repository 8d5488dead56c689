"""Log scan speed against grep: `python -m runbooklib.logs FILE --json` vs `LC_ALL=C grep -cE UNION FILE`.

Writes a deterministic registry log (svlogd-prefixed logfmt, the registry's access log, JSON lines;
about 0.1 % of lines match a signature and 0.5 % are blob-upload lines the retry detector reads) into a
temp dir, times both commands alternately (medians of 3 runs each, page cache warmed once for both),
prints the medians, the ratio, the scan's peak RSS, and checks that both counted the same lines.
``--match-rate 0.3`` makes 30 % of the lines match (an incident: every request fails the same way), drawn
from several real signatures. ``--rotated 20`` then does the same for a folder of 20 rotated ``.gz`` files
(logrotate's ``registry.log.N.gz``) against ``zgrep -cE``. The temp dir is deleted afterwards.

    python benchmarks/logs.py              # 1 GiB
    python benchmarks/logs.py --size-mib 128
    python benchmarks/logs.py --size-mib 256 --match-rate 0.3 --rotated 20

Where the time goes at 30 % matching (one process, py-spy, 2026-12-01, with the C module of
``runbooklib/logs/_native.c``): Hyperscan's pass ~45 %, interpreter start and imports (numpy most) ~20 %, the
rest is per-batch counting (times, fields and methods in C, minutes and combinations in numpy), upload lines
for the retry detector and the first 10,000 rows of the events table. Two processes on this machine's two
vCPUs use ~40 % more CPU than one, so the pair is ~1.2x faster than one process, not 2x. Without the C
module (no libhyperscan-dev; `RUNBOOK_LOGS_ENGINE=python` forces it) the hyperscan wheel's path takes ~1.7x as long at 30 %
matching (1.4x grep here). The default 1 GiB at 0.1 % matching: 0.3x grep with the C module.
The scan is timed as installed: from byte-compiled modules (one untimed run writes them).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runbooklib.logs.signatures import grep_union  # noqa: E402

TARGET_RATIO = 1.0
TARGET_RSS_MIB = 128
HOST = "registry.example.com"


def _hex(rng: random.Random, n: int) -> str:
    return "%0*x" % (n, rng.getrandbits(4 * n))


def _uuid(rng: random.Random) -> str:
    h = _hex(rng, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _stamp(i: int) -> tuple[str, str, str]:
    sec = i % 86400
    hh, mm, ss = sec // 3600, sec // 60 % 60, sec % 60
    return (f"2026-11-27_{hh:02d}:{mm:02d}:{ss:02d}.{i % 100000:05d}",
            f"2026-11-27T{hh:02d}:{mm:02d}:{ss:02d}.{i % 1000000000:09d}Z",
            f"27/Nov/2026:{hh:02d}:{mm:02d}:{ss:02d} +0000")


def _filler(rng: random.Random, i: int) -> str:
    sv, iso, clf = _stamp(i)
    repo = rng.choice(["group/project/app", "gitlab-org/build/cng/gitlab-webservice-ee", "team/api",
                       "ops/base-images/debian"])
    digest = "sha256:" + _hex(rng, 64)
    rid = _uuid(rng)
    ua = rng.choice(["docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.1.0 os/linux arch/amd64",
                     "containerd/1.6.24", "skopeo/1.9.3", "buildkit/v0.12"])
    kind = rng.randrange(5)
    if kind == 0:
        return (f'{sv} time="{iso}" level=info msg="authorized request" go.version=go1.19.8 '
                f'http.request.host="{HOST}" http.request.id={rid} http.request.method=GET '
                f'http.request.remoteaddr="10.0.{i % 250}.{i % 200}:5{i % 9999:04d}" '
                f'http.request.uri="/v2/{repo}/blobs/{digest}" http.request.useragent="{ua}" '
                f'vars.digest="{digest}" vars.name={repo}')
    if kind == 1:
        return (f'{sv} time="{iso}" level=info msg="response completed" go.version=go1.19.8 '
                f'http.request.host="{HOST}" http.request.id={rid} http.request.method=GET '
                f'http.request.remoteaddr="10.0.{i % 250}.{i % 200}:5{i % 9999:04d}" '
                f'http.request.uri="/v2/{repo}/manifests/v1.{i % 97}" http.request.useragent="{ua}" '
                f'http.response.contenttype="application/vnd.docker.distribution.manifest.v2+json" '
                f'http.response.duration=12.{i % 999}ms http.response.status=200 http.response.written={i % 9000}')
    if kind == 2:
        return (f'{sv} 10.0.{i % 250}.{i % 200} - - [{clf}] "GET /v2/{repo}/blobs/{digest} HTTP/1.1" 200 '
                f'{i % 99999} "" "{ua}"')
    if kind == 3:
        return json.dumps({"go.version": "go1.19.8", "http.request.host": HOST, "http.request.id": rid,
                           "http.request.method": "HEAD", "http.request.remoteaddr": f"10.1.{i % 250}.{i % 200}:443",
                           "http.request.uri": f"/v2/{repo}/blobs/{digest}", "http.request.useragent": ua,
                           "http.response.duration": "3.1ms", "http.response.status": 200,
                           "level": "info", "msg": "response completed", "time": iso}, separators=(",", ":"))
    return json.dumps({"correlation_id": _hex(rng, 26).upper(), "duration_ms": i % 300, "host": HOST,
                       "level": "info", "method": "GET", "msg": "access", "proto": "HTTP/1.1",
                       "remote_addr": f"10.2.{i % 250}.{i % 200}:443", "status": 200, "system": "http",
                       "time": iso, "uri": f"/v2/{repo}/manifests/{digest}", "user_agent": ua,
                       "written_bytes": i % 5000}, separators=(",", ":"))


def _upload(rng: random.Random, i: int) -> str:
    sv, iso, clf = _stamp(i)
    repo, uid = rng.choice(["group/project/app", "team/api"]), _uuid(rng)
    kind = rng.randrange(3)
    if kind == 0:
        return f'{sv} 10.0.0.{i % 200} - - [{clf}] "POST /v2/{repo}/blobs/uploads/ HTTP/1.1" 202 0 "" "docker/24.0.7"'
    if kind == 1:
        return (f'{sv} time="{iso}" level=info msg="response completed" http.request.method=PATCH '
                f'http.request.uri="/v2/{repo}/blobs/uploads/{uid}?_state={_hex(rng, 40)}" http.response.status=202')
    return (f'{sv} 10.0.0.{i % 200} - - [{clf}] "PUT /v2/{repo}/blobs/uploads/{uid}?_state={_hex(rng, 40)}'
            f'&digest=sha256%3A{_hex(rng, 64)} HTTP/1.1" 201 0 "" "docker/24.0.7"')


def _signature(rng: random.Random, i: int) -> str:
    sv, iso, clf = _stamp(i)
    key = ":".join(_hex(rng, 4).upper() for _ in range(12))
    return rng.choice([
        f'{sv} time="{iso}" level=info msg="token signed by untrusted key with ID: \\"{key}\\""',
        f'{sv} time="{iso}" level=warning msg="error authorizing context: invalid token" go.version=go1.19.8 '
        f'http.request.uri=/v2/_catalog',
        f'{sv} time="{iso}" level=error msg="response completed with error" err.code=unknown '
        f'err.detail="unexpected EOF" err.message="unknown error" http.request.method=PATCH',
        f'{sv} time="{iso}" level=error msg="response completed with error" err.code="blob unknown" '
        f'err.detail="sha256:{_hex(rng, 64)}" http.request.method=GET http.response.status=404',
        f'{sv} 10.0.0.1 - - [{clf}] "GET /v2/group/project/app/manifests/latest HTTP/1.1" 503 125 "" "docker/1.6.2"',
        json.dumps({"level": "info", "msg": 'token intended for another audience: "other"', "time": iso}),
        json.dumps({"code": "UNKNOWN", "correlation_id": _hex(rng, 26).upper(), "detail": "s3aws: AccessDenied: "
                    "Access Denied\n\tstatus code: 403", "level": "error", "method": "PUT",
                    "msg": "response completed with error", "status": 500, "time": iso,
                    "uri": "/v2/x/blobs/uploads/a"}),
        f'{sv} 2026/11/27 15:40:37 http: TLS handshake error from 10.0.0.9:57394: remote error: tls: unknown '
        f'certificate authority',
        f'{sv} time="{iso}" level=error msg="response completed with error" err.code=unknown '
        f'err.detail="gcs: Post \\"https://storage.googleapis.com/upload\\": http2: server sent GOAWAY and closed '
        f'the connection; LastStreamID=1999, ErrCode=NO_ERROR"',
    ])


def write_log(path: Path, size: int, seed: int = 20261127, match_rate: float = 0.001) -> int:
    """A deterministic log of about ``size`` bytes where ``match_rate`` of the lines match a signature (drawn
    from several real ones) and 0.5 % more are upload lines; returns the number of lines."""
    rng = random.Random(seed)
    pool = [_filler(rng, i) for i in range(20_000)]
    lines = 0
    i = 0
    written = 0
    block_lines = 20_000
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        while written < size:
            block = rng.choices(pool, k=block_lines)
            for j in range(block_lines):
                r = rng.random()
                if r < match_rate:
                    block[j] = _signature(rng, i + j)
                elif r < match_rate + 0.005:
                    block[j] = _upload(rng, i + j)
            text = "\n".join(block) + "\n"
            if written + len(text) > size:
                text = text[:text.rfind("\n", 0, size - written) + 1]
            if not text:
                break
            fh.write(text)
            written += len(text)
            lines += text.count("\n")
            i += block_lines
    return lines


def write_rotated(folder: Path, files: int, size: int, match_rate: float, seed: int = 20261127) -> int:
    """``files`` logrotate-style gzip files (``registry.log.1.gz`` newest .. ``registry.log.N.gz`` oldest) of
    about ``size`` bytes of text in all; returns the number of lines."""
    import gzip

    folder.mkdir(parents=True, exist_ok=True)
    lines = 0
    for n in range(1, files + 1):
        plain = folder / f"registry.log.{n}"
        lines += write_log(plain, size // files, seed + n, match_rate)
        with open(plain, "rb") as src, gzip.open(folder / f"registry.log.{n}.gz", "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        plain.unlink()
    return lines


def _tree_rss_kib(pid: int) -> int:
    """Resident KiB of a process and all its descendants, now (0 when it is gone)."""
    total = 0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                total += next((int(x.split()[1]) for x in fh if x.startswith("VmRSS:")), 0)
            with open(f"/proc/{p}/task/{p}/children") as fh:
                todo.extend(int(c) for c in fh.read().split())
        except (OSError, ValueError):
            continue
    return total


def _run(argv: list[str], env: dict[str, str], rss_file: Path | None = None) -> tuple[float, str, int, int]:
    """Wall seconds, stdout, peak RSS (KiB) of the largest process and peak RSS of all processes together.

    The first comes from /usr/bin/time when given ``rss_file`` (a fork of this process would otherwise count
    the parent's pages it inherited before exec; Linux reports the largest of the process and the children
    it waited for); the second from sampling the process tree every 20 ms (so it may miss a short peak).
    """
    if rss_file is not None and os.path.exists("/usr/bin/time"):
        argv = ["/usr/bin/time", "-f", "%M", "-o", str(rss_file), *argv]
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    tree = [0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            tree[0] = max(tree[0], _tree_rss_kib(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    if rss_file is not None:
        sampler.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - t0
    stop.set()
    if sampler.is_alive():
        sampler.join()
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{argv[:3]} failed ({proc.returncode}): {err.decode(errors='replace')[-500:]}")
    peak = 0
    if rss_file is not None and rss_file.exists():
        peak = int(rss_file.read_text().split()[-1])
    return wall, out.decode(), peak, tree[0]


def _grep_count(out: str) -> int:
    """``grep -c``'s count, or the sum of ``zgrep -c``'s ``file:count`` lines."""
    return sum(int(line.rsplit(":", 1)[-1]) for line in out.split() if line.strip())


def compare(title: str, grep_cmd: list[str], target: str, size: int, runs: int, tmp: Path) -> bool:
    """Time grep and the scan (default workers, then one process) alternately; print medians, the ratio,
    RSS and whether the counts agree; True when within the targets."""
    env = {**os.environ, "LC_ALL": "C"}
    ours_cmd = [sys.executable, "-m", "runbooklib.logs", target, "--json"]
    # as installed: pip byte-compiles a package, so the scan reads .pyc files (kept under tmp here; a
    # PYTHONDONTWRITEBYTECODE in the environment would make every run compile the sources again)
    env_ours = {**env, "PYTHONPATH": str(ROOT), "PYTHONPYCACHEPREFIX": str(tmp / "pycache")}
    env_ours.pop("PYTHONDONTWRITEBYTECODE", None)
    _run(ours_cmd + ["--workers", "1"], env_ours)  # writes the .pyc files, untimed
    grep_name = grep_cmd[0] + " -cE union"
    variants = {grep_name: (grep_cmd, env), "runbooklib.logs": (ours_cmd, env_ours),
                "  ... --workers 1": (ours_cmd + ["--workers", "1"], env_ours)}
    times: dict[str, list[float]] = {k: [] for k in variants}
    rss: dict[str, list[int]] = {k: [] for k in variants}
    tree: dict[str, list[int]] = {k: [] for k in variants}
    counts: dict[str, int] = {}
    print(f"--- {title}")
    print(f"load average before: {os.getloadavg()[0]:.2f} (other work on this machine skews every run alike)")
    for _ in range(runs):  # interleaved, so load from elsewhere hits every command alike
        for name, (cmd, cmd_env) in variants.items():
            is_grep = cmd is grep_cmd
            wall, out, peak, whole = _run(cmd, cmd_env, None if is_grep else tmp / "rss")
            times[name].append(wall)
            rss[name].append(peak)
            tree[name].append(whole)
            counts[name] = _grep_count(out) if is_grep else json.loads(out)["lines_matched"]
    med = {k: statistics.median(v) for k, v in times.items()}
    g, o, o1 = med[grep_name], med["runbooklib.logs"], med["  ... --workers 1"]
    for name, m in med.items():
        runs_s = [round(x, 2) for x in times[name]]
        print(f"{name:18}: median {m:.2f} s  ({size / 1048576 / m:4.0f} MiB/s)  runs {runs_s}")
    print(f"ratio ours/{grep_cmd[0]}: {o / g:.2f}  (single process: {o1 / g:.2f}; target <= {TARGET_RATIO})")
    peak_mib = max(rss["runbooklib.logs"]) / 1024
    whole_mib = max(tree["runbooklib.logs"]) / 1024
    print(f"peak RSS of the scan: {peak_mib:.1f} MiB in the largest process (main or worker), {whole_mib:.1f} MiB "
          f"all processes together (sampled); single process {max(rss['  ... --workers 1']) / 1024:.1f} MiB; "
          f"target <= {TARGET_RSS_MIB} per process")
    grep_count, ours_count = counts[grep_name], counts["runbooklib.logs"]
    same = grep_count == ours_count == counts["  ... --workers 1"]
    print(f"matched lines: {grep_cmd[0]} {grep_count:,}, ours {ours_count:,} / {counts['  ... --workers 1']:,}  "
          f"({'equal' if same else 'DIFFERENT'})")
    ok = same and o / g <= TARGET_RATIO and peak_mib <= TARGET_RSS_MIB
    print("PASS" if ok else "FAIL")
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--match-rate", type=float, default=0.001,
                    help="share of lines that match a signature (0.3: an incident; default 0.001)")
    ap.add_argument("--rotated", type=int, default=0, metavar="N",
                    help="also compare N rotated .gz files (size-mib of text in all) against zgrep -cE")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true", help="keep the generated log (prints its path)")
    ap.add_argument("--write", nargs=2, metavar=("PATH", "BYTES"), help=argparse.SUPPRESS)
    ap.add_argument("--write-rotated", nargs=3, metavar=("DIR", "FILES", "BYTES"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if not 0 <= args.match_rate <= 0.995:
        ap.error("--match-rate is a share of lines: 0 .. 0.995 (0.5 % of lines are upload lines)")
    if args.write:
        print(write_log(Path(args.write[0]), int(args.write[1]), match_rate=args.match_rate))
        return 0
    if args.write_rotated:
        folder, files, size = args.write_rotated
        print(write_rotated(Path(folder), int(files), int(size), args.match_rate))
        return 0

    tmp = Path(tempfile.mkdtemp(prefix="runbook-logs-bench-"))
    try:
        log = tmp / "current"
        t0 = time.perf_counter()
        rate = ["--match-rate", str(args.match_rate)]
        # written by a child so this process stays small
        gen = subprocess.run([sys.executable, __file__, *rate, "--write", str(log), str(args.size_mib << 20)],
                             capture_output=True, text=True, check=True)
        n_lines = int(gen.stdout.strip())
        size = log.stat().st_size
        print(f"wrote {size / 1048576:.0f} MiB, {n_lines:,} lines, {args.match_rate:.1%} matching, in "
              f"{time.perf_counter() - t0:.1f} s: {log}")
        pattern = grep_union()
        subprocess.run(["cat", str(log)], stdout=subprocess.DEVNULL, check=True)  # warm the page cache once
        ok = compare(f"one plain file, {args.match_rate:.1%} of lines matching", ["grep", "-cE", pattern, str(log)],
                     str(log), size, args.runs, tmp)
        if args.keep:
            keep = Path(tempfile.gettempdir()) / f"runbook-logs-bench-{args.size_mib}.log"
            shutil.move(str(log), keep)
            print(f"kept {keep}")
        else:
            log.unlink()
        if args.rotated:
            folder = tmp / "rotated"
            t0 = time.perf_counter()
            gen = subprocess.run([sys.executable, __file__, *rate, "--write-rotated", str(folder), str(args.rotated),
                                  str(args.size_mib << 20)], capture_output=True, text=True, check=True)
            files = sorted(folder.iterdir())
            packed = sum(f.stat().st_size for f in files)
            print(f"wrote {len(files)} rotated .gz files, {packed / 1048576:.0f} MiB compressed "
                  f"({int(gen.stdout.strip()):,} lines) in {time.perf_counter() - t0:.1f} s: {folder}")
            for f in files:
                subprocess.run(["cat", str(f)], stdout=subprocess.DEVNULL, check=True)
            ok = compare(f"{len(files)} rotated .gz files, {args.match_rate:.1%} of lines matching",
                         ["zgrep", "-cE", pattern, *map(str, files)], str(folder), args.size_mib << 20, args.runs,
                         tmp) and ok
        return 0 if ok else 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
