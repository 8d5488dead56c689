"""Times read in bulk (runbooklib/logs/stamps.py) are exactly the times quick_time reads line by line, and field
values read by Python's re are exactly RE2's: the bulk path may only be faster, never different."""

from __future__ import annotations

import datetime as dt
import random

import numpy as np
import pytest

from runbooklib.logs.fields import SHORT, FieldReader
from runbooklib.logs.formats import quick_time
from runbooklib.logs.signatures import CATALOGUE
from runbooklib.logs.stamps import NO_KEY, key_time, line_keys, time_key

from .test_logs_signatures import SAMPLES

UTC = dt.timezone.utc

SHAPES = [
    '{t_sv} time="{iso}" level=info msg="token signed by untrusted key"',
    '{t_sv} 10.0.0.1 - - [{clf}] "GET /v2/ HTTP/1.1" 401 87 "" "docker/24.0.7"',
    '{{"level":"info","msg":"access","time":"{iso}"}}',
    '{{"level": "info", "msg": "x", "time": "{iso}"}}',
    '{iso} stdout F {{"level":"error","time":"{iso}"}}',
    '10.0.0.1 - - [{clf}] "PATCH /v2/a/blobs/uploads/1 HTTP/1.1" 413 0 "-" "skopeo"',
    'level=error time={iso} msg="response completed with error"',
    '{slashed} [error] 42#42: *7 client intended to send too large body',
    'Nov 27 15:40:37 host registry[42]: level=error msg="x"',
    '{{"log":"time=\\"{iso}\\" level=info\\n","stream":"stderr","time":"{iso}"}}',
    'no time at all: token signed by untrusted key',
]


@pytest.fixture(params=["native", "arrays"])
def keys_path(request, monkeypatch):
    """line_keys in C (where _native is built) and with numpy alone: both must read what quick_time reads."""
    from runbooklib.logs import bulk

    if request.param == "native" and bulk.native_module() is None:
        pytest.skip("the C module is not built here")
    if request.param == "arrays":
        monkeypatch.setenv(bulk.ENGINE_ENV, "python")
    return request.param


def _random_time(rng: random.Random) -> dt.datetime:
    return dt.datetime(2026, 1, 1, tzinfo=UTC) + dt.timedelta(microseconds=rng.randrange(0, 400 * 86400 * 10**6))


def _stamps(rng: random.Random, t: dt.datetime) -> dict[str, str]:
    frac = rng.choice(["", ".1", ".123", ".123456", ".123456789", ",5"])
    zone = rng.choice(["Z", "Z", "Z", "+01:00", "", " UTC", "-0500"])
    sep = rng.choice(["T", "T", "T", " ", "_"])
    return {
        "t_sv": t.strftime("%Y-%m-%d_%H:%M:%S.") + f"{t.microsecond // 10:05d}",
        "iso": t.strftime(f"%Y-%m-%d{sep}%H:%M:%S") + frac + zone,
        "clf": t.strftime("%d/%b/%Y:%H:%M:%S ") + rng.choice(["+0000", "+0000", "+0100", "-0700"]),
        "slashed": t.strftime("%Y/%m/%d %H:%M:%S"),
    }


def _mutate(rng: random.Random, line: str) -> str:
    """A stray byte somewhere in the first 40 characters, now and then: shapes the bulk reader must refuse."""
    if rng.random() < 0.3 and line:
        k = rng.randrange(min(40, len(line)))
        line = line[:k] + rng.choice("0159-:_T .Z\"[]/x") + line[k + 1:]
    return line


def _keys_of(lines: list[bytes]) -> np.ndarray:
    buf = bytearray(b"\n".join(lines) + b"\n")
    starts, ends, pos = [], [], 0
    for line in lines:
        starts.append(pos)
        ends.append(pos + len(line))
        pos += len(line) + 1
    return line_keys(buf, np.array(starts, np.int64), np.array(ends, np.int64))


def test_every_bulk_key_is_the_time_quick_time_reads(keys_path):
    rng = random.Random(20261201)
    lines = []
    for _ in range(6000):
        t = _random_time(rng)
        lines.append(_mutate(rng, rng.choice(SHAPES).format(**_stamps(rng, t))).encode("latin-1"))
    keys = _keys_of(lines)
    read = 0
    for line, key in zip(lines, keys.tolist()):
        expected = quick_time(line)
        got = None if key == NO_KEY else key_time(key)
        assert got == expected, line
        read += expected is not None
    assert read > 3000  # most shapes carry a time; the mutations and the last shape do not


def test_days_the_calendar_lacks_and_year_zero_are_left_to_quick_time(keys_path):
    lines = [b"2026-02-29_10:00:00.00000 x", b"2028-02-29_10:00:00.00000 x", b"0000-01-01_00:00:00.00000 x",
             b'{"time":"2026-04-31T10:00:00Z"}', b"10.0.0.1 - - [31/Jun/2026:10:00:00 +0000] \"GET / HTTP/1.1\" 200 0"]
    keys = _keys_of(lines).tolist()
    assert [None if k == NO_KEY else key_time(k) for k in keys] == [quick_time(x) for x in lines]
    assert keys[1] == time_key(dt.datetime(2028, 2, 29, 10, tzinfo=UTC))  # a leap day is a day


@pytest.mark.parametrize("sig", [s for s in CATALOGUE if s.fields], ids=lambda s: s.id)
def test_python_re_reads_the_same_fields_as_re2_on_every_sample(sig):
    reader = FieldReader(sig)
    lines = [line.encode("latin-1") for sid, found in SAMPLES.items() if sid == sig.id for line in found]
    assert lines, f"no sample line for {sig.id}"
    for line in lines:
        m = sig.regex.search(line)
        assert m is not None
        assert reader.short(line) is not None and reader.short(line).groups() == m.groups(), line
        long_line = b" " * (SHORT + 1) + line  # the same line, too long for re: read by RE2
        assert reader.values(long_line) == m.groups(), line


def test_a_full_field_counter_counts_what_masking_every_value_would():
    """Once 50 values are kept and none of them was masked, later values are looked up unmasked: the same
    counts as masking each one first, whether the values are digests, secrets or repeats."""
    from collections import Counter

    from runbooklib.logs.fields import field_text

    sig = next(s for s in CATALOGUE if s.fields)
    reader = FieldReader(sig)
    index = reader.names[0][1]
    rng = random.Random(8)
    pool = [b"sha256:%064x" % rng.getrandbits(256) for _ in range(80)] + [b"password=hunter2", b"plain"]
    for cap in (3, 50):
        fields: dict = {}
        expected: Counter = Counter()
        for _ in range(40):  # batches
            batch: dict = {}
            for value in rng.choices(pool, k=30):
                groups = [None] * len(reader.regex.groupindex) + [None] * 8
                groups[index - 1] = value
                key = tuple(groups)
                batch[key] = batch.get(key, 0) + 1
                text = field_text(value)
                if text in expected or len(expected) < cap:
                    expected[text] += 1
            reader._admit(fields, batch, cap)
        got = fields[reader.names[0][0]]
        assert got == expected and list(got) == list(expected)
        assert len(got) == cap
