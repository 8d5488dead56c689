"""The C module (runbooklib/logs/_native.c) gives exactly what the Python paths give: the same matched lines
with the same signatures as the hyperscan wheel, the same times as quick_time, the same whole scan; bad
arguments are refused with an error, never read past a buffer."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import numpy as np
import pytest

from runbooklib.logs import bulk, scan_logs
from runbooklib.logs.formats import quick_time
from runbooklib.logs.signatures import CATALOGUE, LINE_SIGNATURES
from runbooklib.logs.stamps import NO_KEY, key_time

from .test_logs_bulk import _incident, _view
from .test_logs_stamps import SHAPES, _random_time, _stamps

HEADERS = Path("/usr/include/hs/hs.h")
native = bulk.native_module()
needs_native = pytest.mark.skipif(native is None, reason="built only where Debian's libhyperscan-dev is installed")


def _wheel_engine(monkeypatch) -> bulk.Bulk:
    pytest.importorskip("hyperscan")
    monkeypatch.setenv(bulk.ENGINE_ENV, "python")
    engine = bulk.engine.__wrapped__(tuple(LINE_SIGNATURES))
    assert engine is not None and engine.native is None
    return engine


def _native_engine(monkeypatch) -> bulk.Bulk:
    monkeypatch.delenv(bulk.ENGINE_ENV, raising=False)
    engine = bulk.engine.__wrapped__(tuple(LINE_SIGNATURES))
    assert engine is not None and engine.native is not None
    return engine


def test_the_module_is_built_wherever_libhyperscan_dev_is_installed():
    """`make setup` installs the headers, so CI and the demo always run the C path."""
    if not HEADERS.exists():
        pytest.skip("no libhyperscan-dev here: the Python paths are all there is")
    assert native is not None, "pyproject's optional extension did not build although libhs's headers are here"


@needs_native
def test_native_lines_are_the_wheels_lines_for_any_cut_of_the_buffer(monkeypatch):
    pytest.importorskip("hyperscan")
    rng = random.Random(11)
    data = _incident(rng, 4000, 0.5) + b"last line, no newline: token signed by untrusted key with ID: \\\"EOF\""
    wheel, ours = _wheel_engine(monkeypatch), _native_engine(monkeypatch)
    cuts = [(0, len(data)), (0, 0), (len(data) - 40, len(data)), (17, 9000)]
    cuts += [tuple(sorted(rng.sample(range(len(data) + 1), 2))) for _ in range(30)]
    for start, end in cuts:
        # the scanner cuts at line starts; a cut inside a line is still read the same way by both
        a, b = wheel.batch(data, start, end), ours.batch(data, start, end)
        assert a.starts.tolist() == b.starts.tolist(), (start, end)
        assert a.ends.tolist() == b.ends.tolist(), (start, end)
        assert a.masks.tolist() == b.masks.tolist(), (start, end)
    whole = ours.batch(data, 0, len(data))
    assert len(whole.masks) > 1500 and (whole.masks & (whole.masks - 1)).any()  # lines with several signatures
    assert data[whole.starts[-1]:whole.ends[-1]].startswith(b"last line")


@needs_native
def test_native_lines_work_on_a_memory_map(tmp_path, monkeypatch):
    import mmap

    path = tmp_path / "x.log"
    path.write_bytes(_incident(random.Random(2), 500, 0.5))
    ours = _native_engine(monkeypatch)
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        found = ours.batch(mm, 0, len(mm))
        assert len(found.starts) > 100
        assert all(mm[s:e].count(b"\n") == 0 for s, e in zip(found.starts.tolist(), found.ends.tolist()))


def _keys(lines: list[bytes]) -> tuple[bytearray, np.ndarray, np.ndarray, np.ndarray]:
    buf = bytearray(b"\n".join(lines) + b"\n")
    lengths = np.array([len(x) for x in lines], np.int64)
    starts = np.concatenate(([0], np.cumsum(lengths + 1)[:-1])).astype(np.int64)
    ends = starts + lengths
    return buf, starts, ends, np.frombuffer(native.keys(buf, starts, ends), np.int64)


@needs_native
def test_native_keys_read_every_clean_stamp_themselves_and_read_it_as_quick_time_does():
    rng = random.Random(7)
    lines = []
    for _ in range(3000):
        t = _random_time(rng)
        frac = rng.choice(["", ".1", ".123456", ".123456789"])
        iso = t.strftime("%Y-%m-%dT%H:%M:%S") + frac + "Z"
        sv = t.strftime("%Y-%m-%d_%H:%M:%S.") + f"{t.microsecond // 10:05d}"
        clf = t.strftime("%d/%b/%Y:%H:%M:%S +0000")
        lines.append(rng.choice([
            f'{sv} time="{iso}" level=error msg="response completed with error"',
            f'{{"level":"error","msg":"x","time":"{iso}","uri":"/v2/"}}',
            f'{{"level": "info", "time" : "{iso}"}}',
            f'10.0.0.1 - - [{clf}] "GET /v2/ HTTP/1.1" 503 0 "-" "docker"',
            f'{iso} stderr F level=error msg="x"',
            f'level=error time={iso} msg="x"',
        ]).encode())
    _, _, _, keys = _keys(lines)
    assert (keys != NO_KEY).all()  # nothing left to quick_time
    assert [key_time(k) for k in keys.tolist()] == [quick_time(x) for x in lines]


def _scramble(rng: random.Random, line: bytes) -> bytes:
    """One to three stray edits anywhere: a byte changed, dropped or doubled."""
    b = bytearray(line)
    for _ in range(rng.randint(1, 3)):
        if not b:
            break
        k = rng.randrange(len(b))
        op = rng.random()
        if op < 0.5:
            b[k] = ord(rng.choice('0159-:_T .,Z"[]/+=x\t'))
        elif op < 0.75:
            del b[k]
        else:
            b.insert(k, b[k])
    return bytes(b)


@needs_native
def test_a_native_key_is_always_the_time_quick_time_reads_even_on_scrambled_lines():
    rng = random.Random(20261201)
    shapes = SHAPES + ['{{"time":"", "x":1, "time":"{iso}"}}', 'runtime=5 datetime={iso} time="{iso}"',
                       '[1/Nov/2026:x] [{clf}] time="{iso}"', '{{"ts":"{iso}","time":1732000000}}']
    lines = []
    for _ in range(20000):
        line = rng.choice(shapes).format(**_stamps(rng, _random_time(rng))).encode("latin-1")
        lines.append(_scramble(rng, line) if rng.random() < 0.5 else line)
    _, _, _, keys = _keys(lines)
    read = 0
    for line, key in zip(lines, keys.tolist()):
        if key != NO_KEY:
            assert key_time(key) == quick_time(line), line
            read += 1
    assert read > 5000  # most lines with a UTC time are read in C


@needs_native
def test_native_keys_refuse_lines_outside_the_buffer_and_arrays_of_another_type():
    buf = b"2026-11-27_15:40:37.12345 x\n"
    with pytest.raises(ValueError, match="outside the buffer"):
        native.keys(buf, np.array([0], np.int64), np.array([len(buf) + 1], np.int64))
    with pytest.raises(ValueError, match="outside the buffer"):
        native.keys(buf, np.array([5], np.int64), np.array([4], np.int64))
    with pytest.raises(ValueError, match="differ in length"):
        native.keys(buf, np.array([0, 1], np.int64), np.array([3], np.int64))
    with pytest.raises(TypeError, match="int64"):
        native.keys(buf, np.array([0], np.int32), np.array([3], np.int32))
    assert np.frombuffer(native.keys(buf, np.array([0], np.int64), np.array([27], np.int64)), np.int64)[0] == \
        (dt.datetime(2026, 11, 27, 15, 40, 37, 123450, dt.timezone.utc) - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) \
        // dt.timedelta(microseconds=1)


@needs_native
def test_native_lines_refuse_bad_patterns_cuts_and_databases():
    with pytest.raises(ValueError, match="1 to 63"):
        native.Lines([b"a"] * 64)
    with pytest.raises(ValueError, match="hyperscan"):
        native.Lines([b"(unclosed"])
    with pytest.raises(TypeError, match="NUL"):
        native.Lines([b"a\0b"])
    with pytest.raises(ValueError, match="cannot load|can load"):
        native.Lines.load(b"not a database")
    lines = native.Lines([b"(?:x)[^\\n]*\\n"])
    with pytest.raises(ValueError, match="outside the buffer"):
        lines.scan(b"x\n", 0, 3)
    again = native.Lines.load(lines.serialize())
    assert [np.frombuffer(a, np.int64).tolist() for a in again.scan(b"a\nx\nyx", 0, 6)] == [[2, 4], [3, 6], [1, 1]]


@needs_native
@pytest.mark.parametrize("max_events", [0, 10_000])
def test_the_native_scan_is_the_wheel_scan(tmp_path, monkeypatch, max_events):
    pytest.importorskip("hyperscan")
    rng = random.Random(max_events + 1)
    path = tmp_path / "mixed.log"
    path.write_bytes(_incident(rng, 6000, 0.4) + b"tail: token signed by untrusted key with ID: \\\"EOF1")
    bulk.engine.cache_clear()
    ours = scan_logs(path, workers=1, max_events=max_events)
    monkeypatch.setenv(bulk.ENGINE_ENV, "python")
    bulk.engine.cache_clear()
    try:
        wheel = scan_logs(path, workers=1, max_events=max_events)
    finally:
        bulk.engine.cache_clear()
    assert ours.lines_matched > 2000
    assert _view(ours) == _view(wheel)


def test_the_catalogue_fits_one_database():
    assert 0 < len(LINE_SIGNATURES) <= bulk.MAX_PATTERNS <= 63 and len(CATALOGUE) >= len(LINE_SIGNATURES)


# --- fields and methods: PCRE2 in C against Python's re --------------------------------------------------------
def _python_groups(regex, lines: list[bytes]) -> list[tuple[tuple, int]]:
    from collections import Counter

    return list(Counter(m.groups() for m in map(regex.search, lines) if m is not None).items())


def _spans(lines: list[bytes]):
    buf, starts, ends, _ = _keys(lines) if native is not None else (None, None, None, None)
    return buf, starts, ends


@needs_native
@pytest.mark.parametrize("sig", [s for s in CATALOGUE if s.fields], ids=lambda s: s.id)
def test_pcre2_reads_the_groups_python_re_reads_on_every_sample_and_scrambled_line(sig):
    import re

    from runbooklib.logs.signatures import re2_pattern

    from .test_logs_signatures import SAMPLES

    pattern = re2_pattern(sig.pattern).encode("latin-1")
    rng = random.Random(sig.id)
    lines = [line.encode("latin-1") for line in SAMPLES[sig.id]]
    lines += [_scramble(rng, rng.choice(lines)) for _ in range(400)]
    lines *= 2  # repeats: counts above one
    buf, starts, ends = _spans(lines)
    got = native.Groups(pattern).count(buf, starts, ends, 4096)
    assert got == _python_groups(re.compile(pattern), lines)
    assert sum(n for _, n in got) >= len(SAMPLES[sig.id]) * 2


@needs_native
def test_method_counts_in_c_are_what_quick_method_reads_line_by_line(monkeypatch):
    from collections import Counter

    from runbooklib.logs.fields import method_counts
    from runbooklib.logs.formats import quick_method

    rng = random.Random(5)
    shapes = ['10.0.0.1 - - [27/Nov/2026:15:40:37 +0000] "{m} /v2/a/blobs/b HTTP/1.1" 404 0',
              'level=error http.request.method={m} msg="x"', 'http.request.method\x1b[0m={m} x',
              '{{"method":"{m}","status":404}}', '2026/11/27 15:40:37 [error] 1#1: *2 x, request: "{m} /v2/ HTTP/1.1"',
              'no method here', 'method=: nothing', '] "{m}x"']
    lines = [_scramble(rng, rng.choice(shapes).format(m=rng.choice(["GET", "HEAD", "PUT", "PATCH", "X"])).encode())
             if rng.random() < 0.3 else rng.choice(shapes).format(m=rng.choice(["GET", "HEAD"])).encode()
             for _ in range(3000)]
    buf, starts, ends = _spans(lines)
    expected = Counter(filter(None, map(quick_method, lines)))
    assert method_counts(buf, starts, ends) == expected and sum(expected.values()) > 1500
    monkeypatch.setenv(bulk.ENGINE_ENV, "python")
    assert method_counts(buf, starts, ends) == expected


@needs_native
def test_groups_leave_long_lines_and_runaway_matches_to_the_caller():
    groups = native.Groups(rb"((a+)+)$")
    buf, starts, ends = _spans([b"x" * 10, b"a" * 40 + b"c"])
    assert groups.count(buf, starts, ends, 4096) is None  # PCRE2's match limit: the caller reads it
    assert groups.count(buf, starts, ends, 20) is None  # a line longer than max_len
    nested = native.Groups(rb"(((a+)(b+)))")
    line = b"a" * 3000 + b"b" * 1096
    buf, starts, ends = _spans([line, line])
    assert nested.count(buf, starts, ends, 4096) == [((line, line, b"a" * 3000, b"b" * 1096), 2)]
    with pytest.raises(ValueError, match="pcre2"):
        native.Groups(b"(unclosed")
    with pytest.raises(ValueError, match="differ in length"):
        nested.count(buf, starts, ends[:1], 4096)
    with pytest.raises(ValueError, match="outside the buffer"):
        nested.count(buf, starts, ends + 5, 4096)


@needs_native
def test_groups_refuse_a_negative_limit_an_uninitialised_reader_and_survive_a_huge_limit():
    import sys

    groups = native.Groups(rb"(x+)")
    buf, starts, ends = _spans([b"x" * 64])
    assert groups.count(buf, starts, ends, sys.maxsize) == [((b"x" * 64,), 1)]  # sized by the lines, not the limit
    with pytest.raises(ValueError, match="max_len"):
        groups.count(buf, starts, ends, -1)
    with pytest.raises(RuntimeError, match="not initialised"):
        native.Groups.__new__(native.Groups).count(buf, starts, ends, 10)


@needs_native
def test_a_database_with_pattern_ids_the_masks_cannot_hold_is_refused_when_it_reports():
    """A cached database is read back from a file: one whose ids do not fit a 63-bit mask must not scan."""
    import ctypes
    import ctypes.util

    lib = ctypes.CDLL(ctypes.util.find_library("hs") or "libhs.so.5")
    db, err = ctypes.c_void_p(), ctypes.c_void_p()
    exprs = (ctypes.c_char_p * 1)(b"(?:x)[^\\n]*\\n")
    flags, ids = (ctypes.c_uint * 1)(0), (ctypes.c_uint * 1)(1000)
    assert lib.hs_compile_multi(exprs, flags, ids, 1, 1, None, ctypes.byref(db), ctypes.byref(err)) == 0
    data, size = ctypes.c_void_p(), ctypes.c_size_t()
    assert lib.hs_serialize_database(db, ctypes.byref(data), ctypes.byref(size)) == 0
    blob = ctypes.string_at(data, size.value)
    lines = native.Lines.load(blob)
    with pytest.raises(ValueError, match="pattern id above 62"):
        lines.scan(b"a\nx\n", 0, 4)


@needs_native
def test_every_field_signature_is_read_in_c_and_syntax_pcre2_reads_otherwise_stays_in_python():
    from runbooklib.logs.fields import FieldReader, _native_groups

    readers = [FieldReader(s) for s in CATALOGUE if s.fields]
    assert readers and all(r.native is not None for r in readers)
    assert _native_groups(rb"a{,3}(b)") is None and _native_groups(rb"(b)\Z") is None
    assert _native_groups(rb"a{1,3}(b)") is not None
