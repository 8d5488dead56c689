"""Logs at incident shape: most lines match. The bulk engine (Hyperscan) and the RE2 path give the same scan,
counts equal a per-line reference counter, a folder of rotated .gz files shared out over worker processes
gives the serial result, and the scan's memory does not grow with the number of matching lines."""

from __future__ import annotations

import gzip
import json
import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from runbooklib.logs import parallel, scan_logs
from runbooklib.logs import scan as scan_mod
from runbooklib.logs.formats import quick_time
from runbooklib.logs.signatures import CATALOGUE, LINE_SIGNATURES
from runbooklib.logs.views import timeline_counts

from .test_logs_signatures import HEALTHY, SAMPLES

ROOT = Path(__file__).resolve().parent.parent
UPLOAD = b"/blobs/uploads/"


def _has_bulk() -> bool:
    from runbooklib.logs.bulk import engine

    return engine(tuple(CATALOGUE)) is not None


needs_bulk = pytest.mark.skipif(not _has_bulk(), reason="Hyperscan is not installed: the RE2 path is all there is")


def _incident(rng: random.Random, n: int, rate: float) -> bytes:
    """``n`` lines, ``rate`` of them signature lines (every sample of the catalogue), the rest healthy."""
    bad = [line for lines in SAMPLES.values() for line in lines]
    out = [rng.choice(bad) if rng.random() < rate else rng.choice(HEALTHY) for _ in range(n)]
    return ("\n".join(out) + "\n").encode("utf-8", "surrogateescape")


def _reference(data: bytes) -> tuple[int, dict[str, int], dict[str, tuple], dict[str, Counter]]:
    """What a plain per-line counter finds: lines with any signature, lines per signature, and per signature
    the earliest and latest time (read off the line the way the scanner's cheap path does) and the lines
    per minute."""
    matched, counts, times, minutes = 0, Counter(), {}, {}
    for line in data.split(b"\n"):
        hit = [s.id for s in LINE_SIGNATURES if s.search(line)]
        if not hit:
            continue
        matched += 1
        t = quick_time(line)
        for sid in hit:
            counts[sid] += 1
            if t is not None:
                lo, hi = times.get(sid, (t, t))
                times[sid] = (min(lo, t), max(hi, t))
                minutes.setdefault(sid, Counter())[t.replace(second=0, microsecond=0)] += 1
    return matched, dict(counts), times, minutes


def _without_uploads(data: bytes) -> bytes:
    """Upload lines are always parsed (for the retry detector) and take their time from the parse: left out
    where times are compared with the reference."""
    return b"\n".join(line for line in data.split(b"\n") if UPLOAD not in line)


def _spread_in_time(data: bytes, rng: random.Random) -> bytes:
    """The lines with an svlogd stamp moved to random minutes of a day (times are what the timeline counts)."""
    out = []
    for line in data.split(b"\n"):
        if line[10:11] == b"_" and line[25:26] == b" ":
            sec = rng.randrange(86400)
            line = f"2026-11-27_{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}.{sec:05d}".encode() + line[25:]
        out.append(line)
    return b"\n".join(out)


def test_a_high_match_rate_file_gives_the_counts_of_a_per_line_reference(tmp_path):
    rng = random.Random(3)
    data = _spread_in_time(_without_uploads(_incident(rng, 12000, 0.6)), rng)
    path = tmp_path / "incident.log"
    path.write_bytes(data)
    # no room in the events table: every matched line takes the bulk (cheap) path
    scan = scan_logs(path, workers=1, max_events=0)
    matched, counts, times, minutes = _reference(data)
    assert matched > 6000 and len(counts) > 20  # an incident, with many signatures
    assert scan.lines_matched == matched
    assert scan.counts == counts
    assert {sid: (st.first_seen, st.last_seen) for sid, st in scan.stats.items() if st.count and sid in times} == times
    assert {sid: st.minutes for sid, st in scan.stats.items() if st.minutes} == minutes
    assert len(minutes["token-untrusted-key"]) > 60  # spread over the day, not one bucket
    assert scan.events_dropped == matched and scan._rows == []


def test_the_timeline_of_an_incident_counts_every_line_not_only_the_events_table(tmp_path):
    rng = random.Random(4)
    data = _spread_in_time(_without_uploads(_incident(rng, 6000, 0.6)), rng)
    path = tmp_path / "incident.log"
    path.write_bytes(data)
    scan = scan_logs(path, workers=1, max_events=0)  # (rows would take their time from the parse, not the stamp)
    _, _, _, minutes = _reference(data)
    counts, label = timeline_counts(scan, ["token-untrusted-key", "http-503"])
    assert label == "minute"  # a day of lines: 1440 bins
    assert len(scan.events) == 0 and scan.lines_matched > 3000  # the events table has none of them
    for sid in ("token-untrusted-key", "http-503"):
        assert counts[sid].sum() == sum(minutes[sid].values()) > 20
        assert {k.to_pydatetime(): v for k, v in counts[sid].items() if v} == dict(minutes[sid])


def _view(scan) -> dict:
    data = scan.to_json()
    data["rows"] = scan._rows
    data["methods"] = {sid: dict(st.methods) for sid, st in scan.stats.items()}
    data["sources"] = {sid: dict(st.sources) for sid, st in scan.stats.items()}
    data["all_fields"] = {sid: {k: dict(v) for k, v in st.fields.items()} for sid, st in scan.stats.items()}
    data["minutes"] = {sid: dict(st.minutes) for sid, st in scan.stats.items()}
    return data


@needs_bulk
@pytest.mark.parametrize("max_events", [0, 50, 10_000])
def test_the_bulk_engine_and_the_re2_path_give_the_same_scan(tmp_path, monkeypatch, max_events):
    rng = random.Random(max_events)
    data = _incident(rng, 6000, 0.4) + b"no newline at the end: token signed by untrusted key with ID: \\\"EOF1"
    path = tmp_path / "mixed.log"
    path.write_bytes(data)
    bulk = scan_logs(path, workers=1, max_events=max_events)
    monkeypatch.setattr(scan_mod, "bulk_engine", lambda signatures: None)
    plain = scan_logs(path, workers=1, max_events=max_events)
    assert bulk.lines_matched > 2000
    assert _view(bulk) == _view(plain)


def _rotated(folder: Path, files: int) -> None:
    """logrotate's layout: registry.log (live, plain) and registry.log.1.gz .. N.gz, half of the lines signature
    lines, a few of them blob uploads for the retry detector."""
    folder.mkdir()
    rng = random.Random(5)
    for k in range(files, -1, -1):
        text = _incident(rng, 1500, 0.5)
        if k == 0:
            (folder / "registry.log").write_bytes(text)
        else:
            (folder / f"registry.log.{k}.gz").write_bytes(gzip.compress(text))


def test_a_rotated_gz_folder_shared_out_over_workers_gives_the_serial_result(tmp_path, monkeypatch):
    folder = tmp_path / "registry"
    _rotated(folder, 6)
    serial = scan_logs(folder, workers=1)
    monkeypatch.setattr(scan_mod, "SPREAD_MIN", 1)  # a small folder is shared out too
    monkeypatch.setattr(parallel, "STEAL", False)  # and the workers, not this process, scan every file
    shared_out = []
    real = parallel.scan_files
    monkeypatch.setattr(parallel, "scan_files", lambda *a: shared_out.append(real(*a)) or shared_out[-1])
    spread = scan_logs(folder, workers=2)
    assert shared_out == [True]  # the pool ran and did not fail
    assert [f.path for f in spread.files] == [f.path for f in serial.files]
    assert [Path(f.path).name for f in spread.files][:2] == ["registry.log.6.gz", "registry.log.5.gz"]
    assert [f.to_json() for f in spread.files] == [f.to_json() for f in serial.files]
    assert spread.lines_matched == serial.lines_matched > 4000
    assert spread.counts == serial.counts
    assert spread.bytes_scanned == serial.bytes_scanned
    for sid, st in serial.stats.items():
        other = spread.stats[sid]
        assert (other.first_seen, other.last_seen, other.fields, dict(other.sources)) == \
            (st.first_seen, st.last_seen, st.fields, dict(st.sources)), sid
    assert [r.to_json() for r in spread.uploads.loops()] == [r.to_json() for r in serial.uploads.loops()]
    assert len(spread._rows) == len(serial._rows) or spread.events_dropped > 0


_MEMORY_PROBE = """
import json, sys, tracemalloc
from runbooklib.logs import scan_logs
tracemalloc.start()
scan = scan_logs(sys.argv[1], workers=1, max_events=int(sys.argv[2]))
peak = tracemalloc.get_traced_memory()[1]
# VmHWM, not ru_maxrss: that one keeps the peak of the forked parent from before exec
hwm = next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith("VmHWM:"))
print(json.dumps({"peak": peak, "rss_kib": hwm, "matched": scan.lines_matched}))
"""


def _probe(path: Path, max_events: int) -> dict:
    out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(path), str(max_events)], capture_output=True,
                         text=True, timeout=300, cwd=ROOT, check=True)
    return json.loads(out.stdout)


def test_memory_does_not_grow_with_the_number_of_matching_lines(tmp_path):
    """Python allocations at their peak (tracemalloc, in a fresh process) for 4x as many matching lines."""
    rng = random.Random(9)
    small, big = tmp_path / "small.log", tmp_path / "big.log"
    chunk = _incident(rng, 8000, 0.7)
    small.write_bytes(chunk)
    big.write_bytes(chunk * 4)
    a, b = _probe(small, 1000), _probe(big, 1000)
    assert b["matched"] == 4 * a["matched"] > 20000
    assert b["peak"] < a["peak"] * 1.3 + (2 << 20), (a, b)
    assert b["rss_kib"] < 128 * 1024, b


# --- the review's cases: each once a difference between the bulk path, the RE2 path and a split scan ------------
def _both(monkeypatch, path: Path, **kw):
    """The scan with the bulk engine, then without it (the RE2 path)."""
    bulk = scan_logs(path, workers=1, **kw)
    with monkeypatch.context() as m:
        m.setattr(scan_mod, "bulk_engine", lambda signatures: None)
        plain = scan_logs(path, workers=1, **kw)
    return bulk, plain


@needs_bulk
def test_upload_lines_outside_the_window_are_left_out_on_both_paths(tmp_path, monkeypatch):
    # svlogd stamps just before `since`, the JSON's own time just after it; the old client matches a signature
    obj = {"level": "info", "method": "POST", "msg": "response completed", "status": 202,
           "time": "2026-11-27T16:00:00Z", "uri": "/v2/group/stuck/blobs/uploads/",
           "user_agent": "docker/1.9.1 go/go1.4"}
    path = tmp_path / "current"
    path.write_text("".join("2026-11-27_15:59:59.99999 " + json.dumps(obj) + "\n" for _ in range(6)))
    bulk, plain = _both(monkeypatch, path, since="2026-11-27T16:00:00Z")
    assert plain.uploads.loops() == [] and plain.counts == {}
    assert bulk.uploads.loops() == [] and bulk.counts == {}


@needs_bulk
def test_the_minute_cap_keeps_the_same_minutes_on_both_paths(tmp_path, monkeypatch):
    monkeypatch.setattr(scan_mod, "MAX_MINUTES", 3)
    lines = [f'2026-11-27_16:{m:02d}:00.00000 level=info msg="token signed by untrusted key with ID: \\"K\\""'
             for m in (5, 1, 3, 2, 4)]  # out of order, as merged logs are
    path = tmp_path / "current"
    path.write_text("\n".join(lines) + "\n")
    bulk, plain = _both(monkeypatch, path, max_events=0)
    kept = {m.minute for m in plain.stats["token-untrusted-key"].minutes}
    assert kept == {5, 1, 3}  # the first three minutes as the lines come
    assert {m.minute for m in bulk.stats["token-untrusted-key"].minutes} == kept
    assert bulk.stats["token-untrusted-key"].minutes_dropped == plain.stats["token-untrusted-key"].minutes_dropped == 2


def test_a_file_shared_out_in_pieces_keeps_the_examples_and_fields_of_one_pass(tmp_path, monkeypatch):
    def untrusted(key: str, tail: str = "") -> str:
        return f'level=info msg="token signed by untrusted key with ID: \\"{key}\\"" {tail}' + " " + "x" * 200

    first = [untrusted("AAAA", f"n={i}") for i in range(300)]  # one shape: its 200 tries are spent here
    second = ([untrusted(f"K{c}{d}") for c in "BCDEFGHIJK" for d in "abcde"] + [untrusted("AAAA")] * 10
              + [untrusted("ZZZZ", "a new shape")])
    path = tmp_path / "current"
    path.write_text("\n".join(first + ["h" * 70000] + second) + "\n")
    os.utime(path, (1_000_000_000, 1_000_000_000))
    one = scan_logs(path, workers=1)
    monkeypatch.setattr(scan_mod, "PARALLEL_MIN", 1)
    monkeypatch.setattr(scan_mod, "SPREAD_MIN", 1)
    monkeypatch.setattr(scan_mod, "PIECE", 64 << 10)  # the second part is another piece
    split = []
    real = parallel.scan_file
    monkeypatch.setattr(parallel, "scan_file", lambda *a: split.append(real(*a)) or split[-1])
    many = scan_logs(path, workers=3)
    assert split == [True]  # the pool ran
    a, b = one.stats["token-untrusted-key"], many.stats["token-untrusted-key"]
    assert a.count == b.count == 361
    assert b.examples == a.examples and len(a.examples) == 1  # the new shape came after the first 200 hits
    assert b.fields["key_id"]["AAAA"] == a.fields["key_id"]["AAAA"] == 310
    assert list(b.fields["key_id"]) == list(a.fields["key_id"])


@pytest.mark.parametrize("engine", ["native", "python"])
def test_an_interrupt_while_a_mapped_file_is_read_is_raised_not_swallowed(tmp_path, monkeypatch, engine):
    from runbooklib.logs import bulk, stamps

    native = bulk.native_module()
    if engine == "native" and native is None:
        pytest.skip("the C module is not built here")
    if engine == "python":
        monkeypatch.setenv(bulk.ENGINE_ENV, "python")
    path = tmp_path / "old.log"
    path.write_text('2026-11-27_16:00:00.00000 level=info msg="token signed by untrusted key with ID: \\"K\\""\n' * 50)
    os.utime(path, (1_000_000_000, 1_000_000_000))  # quiet: memory-mapped

    def interrupted(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(stamps, "svlogd_keys", interrupted)
    if engine == "native":
        monkeypatch.setattr(native, "keys", interrupted)
    monkeypatch.setattr(scan_mod._Scanner, "line", lambda *a, **kw: interrupted())  # the RE2 path too
    with pytest.raises(KeyboardInterrupt):
        scan_logs(path, workers=1)


def test_a_file_shared_out_in_pieces_gives_one_passs_minutes_cap_and_fields(tmp_path, monkeypatch):
    """Pieces hand their per-minute arrays and field values to the merge: the timeline, the minute cap and
    the first field values are those of one pass, however the file was cut."""
    rng = random.Random(12)
    lines = []
    for i in range(9000):
        sec = i * 7 % 86400  # many minutes, revisited out of order
        stamp = f"2026-11-27_{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}.00000"
        key = f"K{rng.randrange(400):03d}"  # far more key IDs than the 50 kept
        lines.append(f'{stamp} level=info msg="token signed by untrusted key with ID: \\"{key}\\""')
    path = tmp_path / "current"
    path.write_text("\n".join(lines) + "\n")
    os.utime(path, (1_000_000_000, 1_000_000_000))
    monkeypatch.setattr(scan_mod, "MAX_MINUTES", 700)
    one = scan_logs(path, workers=1).stats["token-untrusted-key"]
    monkeypatch.setattr(scan_mod, "PARALLEL_MIN", 1)
    monkeypatch.setattr(scan_mod, "SPREAD_MIN", 1)
    monkeypatch.setattr(scan_mod, "PIECE", 32 << 10)
    split = []
    real = parallel.scan_file
    monkeypatch.setattr(parallel, "scan_file", lambda *a: split.append(real(*a)) or split[-1])
    many = scan_logs(path, workers=2).stats["token-untrusted-key"]
    assert split == [True]
    assert len(one.minutes) == 700 and one.minutes_dropped > 1000
    assert (many.minutes, many.minutes_dropped) == (one.minutes, one.minutes_dropped)
    assert list(many.minutes) == list(one.minutes)  # the same minutes, kept in the same order
    assert len(one.fields["key_id"]) == 50 and many.fields["key_id"] == one.fields["key_id"]
    assert list(many.fields["key_id"]) == list(one.fields["key_id"])
