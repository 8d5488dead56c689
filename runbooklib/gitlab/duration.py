"""`older_than` as GitLab reads it: ``ChronicDuration.parse(policy.older_than)``.

GitLab's settings page offers only 7d, 14d, 30d and 90d, but the cleanup service parses whatever is stored
with ChronicDuration, so the general forms count too: ``14 days``, ``2w``, ``1 month`` (30 days),
``1y`` (365.25 days), ``1:00:00`` (chrono form), ``1h30m``. Traps worth a finding: ``1m`` is one *minute*
(a month is ``mo``), and a value that parses to zero means *no* older_than at all.
"""

from __future__ import annotations

import re

from ..errors import RunbookError

ALLOWED_OLDER_THAN = ("7d", "14d", "30d", "90d")
ALLOWED_KEEP_N = (1, 5, 10, 25, 50, 100)
ALLOWED_CADENCE = ("1d", "7d", "14d", "1month", "3month")

_DAY = 86_400
UNIT_SECONDS = {
    "seconds": 1,
    "minutes": 60,
    "hours": 3_600,
    "days": _DAY,
    "weeks": 7 * _DAY,
    "months": 30 * _DAY,  # ChronicDuration: 30 days per month (GitLab keeps the default 7-day week)
    "years": 31_557_600,  # 365.25 days
}
_WORDS = {
    "seconds": "seconds", "second": "seconds", "secs": "seconds", "sec": "seconds", "s": "seconds",
    "minutes": "minutes", "minute": "minutes", "mins": "minutes", "min": "minutes", "m": "minutes",
    "hours": "hours", "hour": "hours", "hrs": "hours", "hr": "hours", "h": "hours",
    "days": "days", "day": "days", "dy": "days", "d": "days",
    "weeks": "weeks", "week": "weeks", "wks": "weeks", "wk": "weeks", "w": "weeks",
    "months": "months", "month": "months", "mos": "months", "mo": "months",
    "years": "years", "year": "years", "yrs": "years", "yr": "years", "y": "years",
}
_JOIN_WORDS = {"and", "with", "plus"}
_NUMBER_WORDS = {
    w: str(i) for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split())
}
_NUMBER_WORDS.update({"thirty": "30", "forty": "40", "fifty": "50", "sixty": "60", "seventy": "70",
                      "eighty": "80", "ninety": "90", "hundred": "100"})
_NUMBER = re.compile(r"[0-9]*\.?[0-9]+")
_CHRONO = re.compile(r"^[0-9]*\.?[0-9]+(?::[0-9]*\.?[0-9]+)+$")
_CHRONO_UNITS = ("seconds", "minutes", "hours", "days", "months", "years")  # weeks are skipped, as in Ruby


class DurationError(RunbookError, ValueError):
    """A duration GitLab's parser would not accept (it is configured to raise on unknown words)."""


def parse_duration(text: str | None) -> float | None:
    """Seconds, or None when the value means "no duration" (empty, or parses to zero) — as ChronicDuration."""
    if text is None:
        return None
    raw = str(text).lower().strip()
    if not raw:
        return None
    words = [_NUMBER_WORDS.get(w, w) for w in raw.split()]
    raw = " ".join(words)
    compact = raw.replace(" ", "")
    if _CHRONO.match(compact):
        parts = compact.split(":")[::-1]
        if len(parts) > len(_CHRONO_UNITS):
            raise DurationError(f"{text!r}: too many ':' fields")
        raw = " ".join(f"{v} {_CHRONO_UNITS[i]}" for i, v in reversed(list(enumerate(parts))))
    spaced = " ".join(_NUMBER.sub(lambda m: f" {m.group(0)} ", raw).split())
    tokens: list[str] = []
    for word in spaced.split(" "):
        if _NUMBER.fullmatch(word):
            tokens.append(word)
            continue
        word = word.strip(",")
        if not word:
            continue
        if word in _WORDS:
            tokens.append(_WORDS[word])
        elif word in UNIT_SECONDS:
            tokens.append(word)
        elif word not in _JOIN_WORDS:
            raise DurationError(f"{text!r}: {word!r} is not a duration word")
    if tokens and not _NUMBER.fullmatch(tokens[0]):
        tokens.insert(0, "1")  # "day" means one day
    total = 0.0
    for i, token in enumerate(tokens):
        if _NUMBER.fullmatch(token):
            unit = tokens[i + 1] if i + 1 < len(tokens) else "seconds"
            total += float(token) * UNIT_SECONDS.get(unit, 0)  # a number followed by a number counts 0, as in Ruby
    return total or None


def describe_seconds(seconds: float | None) -> str:
    """``2592000`` → ``30 days``; small values keep their unit so `1m` = 60 s shows as what it is."""
    if seconds is None:
        return "none"
    for unit, size in (("days", _DAY), ("hours", 3_600), ("minutes", 60)):
        if seconds >= size:
            value = seconds / size
            return f"{value:g} {unit}" if value != int(value) else f"{int(value)} {unit}"
    return f"{seconds:g} seconds"
