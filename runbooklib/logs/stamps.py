"""Times of many lines at once: an incident's matched lines timed with array operations, not a call each.

Most registry log lines carry their time in one of three fixed-width shapes: svlogd's stamp in front of
every line Omnibus writes (``2026-11-27_15:40:37.12345 ``), an ISO time in UTC (``time="..."`` in logfmt,
``"time":"..."`` in JSON, or at the start of a CRI / ``kubectl --timestamps`` line), and the access log's
``[27/Nov/2026:15:40:37 +0000]``. Fixed width means the stamps of a whole batch can be gathered into one
byte matrix, checked for shape and turned into integers ("keys": microseconds since 1970, UTC). A stamp
that is not exactly such a shape (another zone, a day the calendar lacks, a stray byte) gets NO_KEY, and
:func:`.formats.quick_time` reads that line instead: a key is only ever the time ``quick_time`` gives
(``tests/test_logs_stamps.py`` holds the two to that on generated and real lines).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np

from .bulk import native_module
from .formats import CLF_STAMP, quick_time, time_field

NO_KEY = np.iinfo(np.int64).min
CHUNK_LINES = 4096  # lines gathered at once: the (lines x width) matrices stay well under 1 MiB
MINUTE = 60_000_000  # key // MINUTE: minutes since 1970
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
_MONTHS = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"]
_MONTH_CODES = np.array([m[0] << 16 | m[1] << 8 | m[2] for m in _MONTHS], np.int64)
_MONTH_ORDER = np.argsort(_MONTH_CODES)


class _Layout:
    """A fixed-width stamp: which columns hold which number, which hold which punctuation."""

    def __init__(self, width: int, numbers: list[list[int]], punctuation: dict[int, bytes]) -> None:
        self.width = width
        self.offsets = np.arange(width, dtype=np.int64)
        self.digits = np.array(sorted(c for cols in numbers for c in cols), np.int64)
        where = {c: k for k, c in enumerate(self.digits.tolist())}
        # per number: its columns among self.digits and their decimal weights
        self.parts = [(np.array([where[c] for c in cols], np.int64),
                       10 ** np.arange(len(cols) - 1, -1, -1, dtype=np.int64)) for cols in numbers]
        self.punct_cols = np.array(sorted(punctuation), np.int64)
        self.punct = np.array([punctuation[c][0] for c in sorted(punctuation)], np.uint8)

    def read(self, data: np.ndarray, at: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The bytes at each offset (an (n, width) matrix; past the buffer's end: 0), its numbers (an
        (n, k) matrix), and whether every digit column held a digit and every punctuation column its mark."""
        idx = at[:, None] + self.offsets
        if len(idx) and int(idx[-1, -1]) >= len(data) or (len(idx) and int(idx.max()) >= len(data)):
            m = np.where(idx < len(data), data[np.minimum(idx, len(data) - 1)], 0).astype(np.uint8)
        else:
            m = data[idx]
        digits = m[:, self.digits] - np.uint8(48)  # wraps around below '0': one comparison checks both ends
        ok = (digits < 10).all(axis=1) & (m[:, self.punct_cols] == self.punct).all(axis=1)
        # weighted sums per number, not a matmul: integer matmul is slow, and a float one would start BLAS
        # threads in a process that may fork its workers
        wide = digits.astype(np.int64)
        numbers = np.column_stack([wide[:, cols] @ weights for cols, weights in self.parts])
        return m, numbers, ok


_DATE_TIME = [[0, 1, 2, 3], [5, 6], [8, 9], [11, 12], [14, 15], [17, 18]]
_SVLOGD = _Layout(26, [*_DATE_TIME, [20, 21, 22, 23, 24]],
                  {4: b"-", 7: b"-", 10: b"_", 13: b":", 16: b":", 19: b".", 25: b" "})
_ISO = _Layout(32, _DATE_TIME, {4: b"-", 7: b"-", 13: b":", 16: b":"})
_CLF = _Layout(27, [[7, 8, 9, 10], [0, 1], [12, 13], [15, 16], [18, 19], [22, 23, 24, 25]],
               {2: b"/", 6: b"/", 11: b":", 14: b":", 17: b":", 20: b" ", 21: b"+", 26: b"]"})
_FRACTION_WEIGHTS = 10 ** np.arange(5, -1, -1, dtype=np.int64)


@lru_cache(maxsize=4096)
def _day_number(ymd: int) -> int | None:
    """Days since 1970-01-01 of the date YYYYMMDD, None when the calendar has no such day."""
    try:
        return dt.date(ymd // 10000, ymd // 100 % 100, ymd % 100).toordinal() - _EPOCH_ORDINAL
    except ValueError:
        return None


def _keys(n: np.ndarray, micro, ok) -> np.ndarray:
    """Microseconds since 1970 (UTC) from columns year, month, day, hour, minute, second of ``n`` where
    ``ok`` and the calendar has that time; NO_KEY elsewhere. A batch holds few dates: each is looked up once."""
    dates, which = np.unique(n[:, 0] * 10000 + n[:, 1] * 100 + n[:, 2], return_inverse=True)
    numbers = [_day_number(d) for d in dates.tolist()]
    days = np.array([-1 if d is None else d for d in numbers], np.int64)[which]
    ok = ok & np.array([d is not None for d in numbers], bool)[which] & (n[:, 3] <= 23) & (n[:, 4] <= 59) \
        & (n[:, 5] <= 59)
    keys = (((days * 24 + n[:, 3]) * 60 + n[:, 4]) * 60 + n[:, 5]) * 1_000_000 + micro
    return np.where(ok, keys, NO_KEY)


def svlogd_keys(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per line ``data[starts[i]:ends[i]]``: the key of its svlogd stamp, or NO_KEY where it has none."""
    out = np.full(len(starts), NO_KEY, np.int64)
    for lo in range(0, len(starts), CHUNK_LINES):
        s, e = starts[lo:lo + CHUNK_LINES], ends[lo:lo + CHUNK_LINES]
        rows = np.flatnonzero(e - s >= 26)
        if len(rows):
            _, n, ok = _SVLOGD.read(data, s[rows])
            out[lo + rows] = _keys(n, n[:, 6] * 10, ok)
    return out


def iso_keys(data: np.ndarray, at: np.ndarray, limits: np.ndarray, *, at_start: bool) -> np.ndarray:
    """Per ISO time ``data[at[i]:limits[i]]`` (``2026-11-27T15:40:37[.fff]``): its key when it is UTC as
    written, else NO_KEY. A value (after ``time=`` or ``"time":``; ``limits`` ends it) may use ``T``, space
    or ``_`` and ``.`` or ``,``, and ends in ``Z`` or nothing; a line's leading stamp (CRI, ``kubectl
    --timestamps``; ``limits``: the line's end) is read as quick_time reads it: ``T``, ``.``, then ``Z``."""
    out = np.full(len(at), NO_KEY, np.int64)
    for lo in range(0, len(at), CHUNK_LINES):
        a, room = at[lo:lo + CHUNK_LINES], limits[lo:lo + CHUNK_LINES] - at[lo:lo + CHUNK_LINES]
        m, n, ok = _ISO.read(data, a)
        ok &= np.isin(m[:, 10], (84,) if at_start else (84, 32, 95)) & (room >= 19)
        dotted = np.isin(m[:, 19], (46,) if at_start else (46, 44)) & (room > 19)
        fraction = m[:, 20:32] - np.uint8(48)
        run = np.cumprod(fraction < 10, axis=1).sum(axis=1)  # digits after the dot
        micro = np.where(np.arange(6) < run[:, None], fraction[:, :6], 0).astype(np.int64) @ _FRACTION_WEIGHTS
        after = np.where(dotted, 20 + run, 19)  # the column after the time (a zone, or the value's end)
        ok &= ~dotted | ((run >= 1) & (run <= 11) & (after <= room))
        zulu = (after < room) & (m[np.arange(len(m)), np.minimum(after, 31)] == 90)
        ok &= zulu if at_start else zulu | (after == room)
        out[lo:lo + len(a)] = _keys(n, np.where(dotted, micro, 0), ok)
    return out


def clf_keys(data: np.ndarray, at: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per offset ``at[i]`` (``27/Nov/2026:15:40:37 +0000`` just after an access log's ``[``): its key when
    the zone is +0000, else NO_KEY."""
    out = np.full(len(at), NO_KEY, np.int64)
    for lo in range(0, len(at), CHUNK_LINES):
        a, e = at[lo:lo + CHUNK_LINES], ends[lo:lo + CHUNK_LINES]
        m, n, ok = _CLF.read(data, a)
        code = m[:, 3].astype(np.int64) << 16 | m[:, 4].astype(np.int64) << 8 | m[:, 5]
        pos = np.minimum(np.searchsorted(_MONTH_CODES[_MONTH_ORDER], code), 11)
        ok &= (_MONTH_CODES[_MONTH_ORDER][pos] == code) & (n[:, 5] == 0) & (a + 26 < e)
        n = np.column_stack([n[:, 0], _MONTH_ORDER[pos] + 1, n[:, 1], n[:, 2], n[:, 3], n[:, 4]])
        out[lo:lo + len(a)] = _keys(n, np.zeros(len(a), np.int64), ok)
    return out


def key_time(key: int) -> dt.datetime:
    """The UTC time a key stands for."""
    return _EPOCH + dt.timedelta(microseconds=key)


@lru_cache(maxsize=4096)
def minute_time(minute: int) -> dt.datetime:
    """The UTC minute a ``key // MINUTE`` stands for."""
    return _EPOCH + dt.timedelta(minutes=minute)


def time_key(t: dt.datetime) -> int:
    """The key of ``t``: a line's key is >= ``time_key(lo)`` exactly when its time is >= lo."""
    return (t - _EPOCH) // dt.timedelta(microseconds=1)


def line_keys(buf, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The key of every line ``buf[starts[i]:ends[i]]``: its time as quick_time reads it, or NO_KEY when
    it has none. Stamps of the three common shapes are read together (in C where ``_native`` was built);
    the rest one by one by quick_time."""
    native = native_module()
    if native is not None:
        keys = np.frombuffer(native.keys(buf, np.ascontiguousarray(starts, np.int64),
                                         np.ascontiguousarray(ends, np.int64)), np.int64)
        return _read_rest(buf, starts, ends, keys, np.flatnonzero(keys == NO_KEY))
    return _array_keys(buf, starts, ends)


def _read_rest(buf, starts: np.ndarray, ends: np.ndarray, keys: np.ndarray, unread: np.ndarray) -> np.ndarray:
    """``keys`` with the lines at ``unread`` read by quick_time."""
    for i in unread.tolist():
        t = quick_time(buf[int(starts[i]):int(ends[i])])
        if t is not None:
            keys[i] = time_key(t)
    return keys


def _array_keys(buf, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """:func:`line_keys` with numpy alone."""
    data = np.frombuffer(buf, dtype=np.uint8)
    try:
        keys = svlogd_keys(data, starts, ends)
        rest = np.flatnonzero(keys == NO_KEY)
        if not len(rest):
            return keys
        lengths = ends[rest] - starts[rest]
        fourth = np.where(lengths > 4, data[np.minimum(starts[rest] + 4, len(data) - 1)], 0)
        eleventh = np.where(lengths > 10, data[np.minimum(starts[rest] + 10, len(data) - 1)], 0)
        at_start = (fourth == 45) | (fourth == 47)  # "-" or "/": quick_time looks at the start first
        leading = rest[at_start & (fourth == 45) & (eleventh == 84)].tolist()  # ISO with a "T"
        slow = rest[at_start & ~((fourth == 45) & (eleventh == 84))].tolist()
        inside = rest[~at_start]
        a_list = starts[inside].tolist()
        found = list(map(time_field, map(buf.__getitem__, map(slice, a_list, ends[inside].tolist()))))
        iso, iso_at, iso_end, clf, clf_at = [], [], [], [], []
        for i, a, f in zip(inside.tolist(), a_list, found):
            if f is None:
                slow.append(i)
            elif f.re is CLF_STAMP:
                clf.append(i)
                clf_at.append(a + f.start(1))
            else:
                iso.append(i)
                iso_at.append(a + f.start(1))
                iso_end.append(a + f.end(1))
        if leading:
            keys[leading] = iso_keys(data, starts[leading], ends[leading], at_start=True)
        if iso:
            keys[iso] = iso_keys(data, np.array(iso_at, np.int64), np.array(iso_end, np.int64), at_start=False)
        if clf:
            keys[clf] = clf_keys(data, np.array(clf_at, np.int64), ends[clf])
        unread = np.union1d(np.array(slow, np.int64), np.array(leading + iso + clf, np.int64)[
            keys[leading + iso + clf] == NO_KEY]).astype(np.int64)
    finally:
        del data  # a memory map cannot close while an array looks into it
    return _read_rest(buf, starts, ends, keys, unread)

