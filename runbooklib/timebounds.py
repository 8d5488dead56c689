"""Time bounds as SREs type them (``since``/``until``): ISO times, Unix times, or ``30m``/``2h``/``7d`` ago.

Parameters validate them before a run and the log scanner applies them, so both read them the same way.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

_RELATIVE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_bound(value: Any, now: dt.datetime | None = None) -> dt.datetime | None:
    """``since``/``until`` as an aware UTC datetime: a datetime, a Unix time, an ISO time, or ``30m``/``2h``/``7d``
    ago."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value.astimezone(dt.timezone.utc)
    if isinstance(value, (int, float)) and not isinstance(value, bool):  # a Unix time
        return dt.datetime.fromtimestamp(value, dt.timezone.utc)
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.timezone.utc)
    text = str(value).strip()
    now = now or dt.datetime.now(dt.timezone.utc)
    if text == "now":
        return now
    m = _RELATIVE.match(text)
    if m:
        return now - dt.timedelta(**{_UNITS[m.group(2)]: float(m.group(1))})
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("_", "T"))
    except ValueError:
        raise ValueError(f"not a time: {value!r} (use ISO 8601 like 2026-11-27T15:00:00Z, or 30m, 2h, 7d)") from None
    return t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t.astimezone(dt.timezone.utc)


def parse_timestamp(value: Any) -> dt.datetime | None:
    """A timestamp as Go, GitLab and S3 write them (``...Z``, ``+00:00``, nanoseconds) as an aware UTC-or-given
    datetime; None when it is empty or not a time. Naive times are taken as UTC."""
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)
    if not value or not isinstance(value, str):
        return None
    text = value.strip().replace("Z", "+00:00")
    if "." in text:  # Go writes nanoseconds; Python takes at most microseconds
        head, _, tail = text.partition(".")
        digits = "".join(ch for ch in tail if ch.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{tail[len(digits):]}"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)
