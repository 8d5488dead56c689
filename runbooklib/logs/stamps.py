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
from typing import Any

import numpy as np

from .formats import CLF_STAMP, quick_time, time_field

NO_KEY = np.iinfo(np.int64).min
CHUNK_LINES = 4096  # lines gathered at once: the (lines x width) matrices stay well under 1 MiB
MINUTE = 60_000_000  # key // MINUTE: minutes since 1970
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], np.int64)
_MONTHS = [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"]
_MONTH_CODES = np.array([m[0] << 16 | m[1] << 8 | m[2] for m in _MONTHS], np.int64)
_MONTH_ORDER = np.argsort(_MONTH_CODES)


def _gather(data: np.ndarray, at: np.ndarray, width: int) -> np.ndarray:
    """``data[at[i]:at[i] + width]`` for every i, as an (n, width) matrix (bytes past the end read as 0)."""
    idx = at[:, None] + np.arange(width, dtype=np.int64)
    inside = idx < len(data)
    return np.where(inside, data[np.minimum(idx, len(data) - 1)], 0).astype(np.int64)


def _num(m: np.ndarray, cols: list[int]) -> tuple[np.ndarray, Any]:
    """The decimal number in columns ``cols`` of each row, and whether they all were digits."""
    digits = m[:, cols] - 48
    ok = ((digits >= 0) & (digits <= 9)).all(axis=1)
    value = np.zeros(len(m), np.int64)
    for k in range(len(cols)):
        value = value * 10 + digits[:, k]
    return value, ok


def _ymdhms(m: np.ndarray) -> tuple[np.ndarray, ...]:
    """Year, month, day, hour, minute, second of ``YYYY?MM?DD?hh?mm?ss`` at the start of each row."""
    fields = [_num(m, cols) for cols in ([0, 1, 2, 3], [5, 6], [8, 9], [11, 12], [14, 15], [17, 18])]
    return (*(value for value, _ in fields),)


def _all_digits(m: np.ndarray) -> Any:
    """Whether ``YYYY?MM?DD?hh?mm?ss`` at the start of each row is all digits."""
    digits = m[:, [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]] - 48
    return ((digits >= 0) & (digits <= 9)).all(axis=1)


def _keys(year, month, day, hour, minute, second, micro, ok) -> np.ndarray:
    """Microseconds since 1970 (UTC) for valid calendar times where ``ok``, NO_KEY elsewhere."""
    ok = ok & (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (hour <= 23) & (minute <= 59) \
        & (second <= 59)
    m = np.clip(month, 1, 12)
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    ok &= day <= _DAYS_IN_MONTH[m] + ((m == 2) & leap)
    y = year - (m <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * ((m + 9) % 12) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    keys = (((days * 24 + hour) * 60 + minute) * 60 + second) * 1_000_000 + micro
    return np.where(ok, keys, NO_KEY)


def _fraction(m: np.ndarray, col: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A fraction of a second starting at column ``col`` (after its ``.``): microseconds as ``_micro`` makes
    them (first six digits), the column just after its digits, and whether it had 1 to 11 digits."""
    digits = m[:, col:col + 12] - 48
    is_digit = (digits >= 0) & (digits <= 9)
    run = np.cumprod(is_digit, axis=1).sum(axis=1)
    micro = np.zeros(len(m), np.int64)
    for k in range(6):
        micro = micro * 10 + np.where(run > k, digits[:, k], 0)
    return micro, col + run, (run >= 1) & (run <= 11)


def svlogd_keys(data: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per line ``data[starts[i]:ends[i]]``: the key of its svlogd stamp, or NO_KEY where it has none."""
    out = np.full(len(starts), NO_KEY, np.int64)
    for lo in range(0, len(starts), CHUNK_LINES):
        s, e = starts[lo:lo + CHUNK_LINES], ends[lo:lo + CHUNK_LINES]
        rows = np.flatnonzero(e - s >= 26)
        if not len(rows):
            continue
        m = _gather(data, s[rows], 26)
        shape = (m[:, 4] == 45) & (m[:, 7] == 45) & (m[:, 10] == 95) & (m[:, 13] == 58) & (m[:, 16] == 58) \
            & (m[:, 19] == 46) & (m[:, 25] == 32)
        tens, ok = _num(m, [20, 21, 22, 23, 24])
        year, month, day, hour, minute, second = _ymdhms(m)
        out[lo + rows] = _keys(year, month, day, hour, minute, second, tens * 10, ok & shape & _all_digits(m))
    return out


def iso_keys(data: np.ndarray, at: np.ndarray, limits: np.ndarray, *, at_start: bool) -> np.ndarray:
    """Per ISO time ``data[at[i]:limits[i]]`` (``2026-11-27T15:40:37[.fff]``): its key when it is UTC as
    written, else NO_KEY. A value (after ``time=`` or ``"time":``; ``limits`` ends it) may use ``T``, space
    or ``_`` and ``.`` or ``,``, and ends in ``Z`` or nothing; a line's leading stamp (CRI, ``kubectl
    --timestamps``; ``limits``: the line's end) is read as quick_time reads it: ``T``, ``.``, then ``Z``."""
    out = np.full(len(at), NO_KEY, np.int64)
    for lo in range(0, len(at), CHUNK_LINES):
        a, room = at[lo:lo + CHUNK_LINES], limits[lo:lo + CHUNK_LINES] - at[lo:lo + CHUNK_LINES]
        m = _gather(data, a, 32)
        shape = (m[:, 4] == 45) & (m[:, 7] == 45) & np.isin(m[:, 10], (84,) if at_start else (84, 32, 95)) \
            & (m[:, 13] == 58) & (m[:, 16] == 58) & (room >= 19)
        dotted = np.isin(m[:, 19], (46,) if at_start else (46, 44)) & (room > 19)
        micro, after, frac_ok = _fraction(m, 20)
        frac_ok &= after <= room  # the fraction's digits all inside the value
        micro = np.where(dotted, micro, 0)
        after = np.where(dotted, after, 19)
        zulu = (after < room) & (m[np.arange(len(m)), np.minimum(after, 31)] == 90)
        ok = shape & (frac_ok | ~dotted) & (zulu if at_start else zulu | (after == room))
        year, month, day, hour, minute, second = _ymdhms(m)
        out[lo:lo + len(a)] = _keys(year, month, day, hour, minute, second, micro, ok & _all_digits(m))
    return out


def clf_keys(data: np.ndarray, at: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Per offset ``at[i]`` (``27/Nov/2026:15:40:37 +0000`` just after an access log's ``[``): its key when
    the zone is +0000, else NO_KEY."""
    out = np.full(len(at), NO_KEY, np.int64)
    for lo in range(0, len(at), CHUNK_LINES):
        a, e = at[lo:lo + CHUNK_LINES], ends[lo:lo + CHUNK_LINES]
        m = _gather(data, a, 27)
        shape = (m[:, 2] == 47) & (m[:, 6] == 47) & (m[:, 11] == 58) & (m[:, 14] == 58) & (m[:, 17] == 58) \
            & (m[:, 20] == 32) & (m[:, 21] == 43) & (m[:, 26] == 93)
        day, ok1 = _num(m, [0, 1])
        year, ok2 = _num(m, [7, 8, 9, 10])
        hour, ok3 = _num(m, [12, 13])
        minute, ok4 = _num(m, [15, 16])
        second, ok5 = _num(m, [18, 19])
        zone, ok6 = _num(m, [22, 23, 24, 25])
        code = m[:, 3] << 16 | m[:, 4] << 8 | m[:, 5]
        pos = np.searchsorted(_MONTH_CODES[_MONTH_ORDER], code)
        pos = np.minimum(pos, 11)
        found = _MONTH_CODES[_MONTH_ORDER][pos] == code
        month = _MONTH_ORDER[pos] + 1
        ok = shape & ok1 & ok2 & ok3 & ok4 & ok5 & ok6 & (zone == 0) & found & (a + 26 < e)
        out[lo:lo + len(a)] = _keys(year, month, day, hour, minute, second, np.zeros(len(a), np.int64), ok)
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
    it has none. Stamps of the three common shapes are read together; the rest one by one by quick_time."""
    data = np.frombuffer(buf, dtype=np.uint8)
    try:
        keys = svlogd_keys(data, starts, ends)
        rest = np.flatnonzero(keys == NO_KEY)
        if not len(rest):
            return keys
        leading: list[int] = []
        iso, iso_at, iso_end, clf, clf_at = [], [], [], [], []
        slow: list[int] = []
        for i, a, b in zip(rest.tolist(), starts[rest].tolist(), ends[rest].tolist()):
            line = buf[a:b]
            fourth = line[4:5]
            if fourth == b"-" or fourth == b"/":  # a stamp at the start: quick_time looks there first
                (leading if fourth == b"-" and line[10:11] == b"T" else slow).append(i)
                continue
            found = time_field(line)
            if found is None:
                slow.append(i)
            elif found.re is CLF_STAMP:
                clf.append(i)
                clf_at.append(a + found.start(1))
            else:
                iso.append(i)
                iso_at.append(a + found.start(1))
                iso_end.append(a + found.end(1))
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
    for i in unread.tolist():
        t = quick_time(buf[int(starts[i]):int(ends[i])])
        if t is not None:
            keys[i] = time_key(t)
    return keys

