"""Arithmetic on snapshots: sums by label, counter increases between two scrapes, histogram quantiles.

Quantiles follow Prometheus' ``histogram_quantile``: find the bucket where the rank ``q × count`` falls and
interpolate linearly inside it (from 0 for the first bucket); a rank in the ``+Inf`` bucket returns the
highest finite bound. Counter increases treat a drop as a restart (the new value is the increase), like
``increase()``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from .parse import Family, Labels, Sample, Snapshot

Where = Mapping[str, Any]  # label -> value | collection of values | predicate(value) -> bool
Key = tuple[str, ...]


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """The q-quantile (0..1) from cumulative ``(upper bound, count)`` buckets, as Prometheus computes it.

    NaN when there are fewer than two buckets, no ``+Inf`` bucket or no observations.
    """
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted((float(le), float(c)) for le, c in buckets)
    if len(ordered) < 2 or ordered[-1][0] != math.inf:
        return math.nan
    fixed: list[tuple[float, float]] = []  # Prometheus forces cumulative counts to be monotonic
    running = 0.0
    for le, count in ordered:
        running = max(running, count)
        fixed.append((le, running))
    total = fixed[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    index = next((i for i, (_, c) in enumerate(fixed[:-1]) if c >= rank), len(fixed) - 1)
    if index == len(fixed) - 1:
        return fixed[-2][0]
    upper, count = fixed[index]
    if index == 0 and upper <= 0:
        return upper
    lower = 0.0
    if index > 0:
        lower, below = fixed[index - 1]
        count -= below
        rank -= below
    if count == 0:
        return lower
    return lower + (upper - lower) * (rank / count)


def _matches(labels: Labels, where: Where | None) -> bool:
    if not where:
        return True
    d = dict(labels)
    for key, want in where.items():
        value = d.get(key, "")
        if callable(want):
            if not want(value):
                return False
        elif isinstance(want, str):
            if value != want:
                return False
        elif value not in want:
            return False
    return True


def _key(labels: Labels, by: Sequence[str]) -> Key:
    d = dict(labels)
    return tuple(d.get(b, "") for b in by)


def _series_key(labels: Labels) -> Labels:
    return tuple(kv for kv in labels if kv[0] != "le")


def _value_samples(fam: Family) -> Iterable[Sample]:
    """The samples that carry a counter's or gauge's value (histograms and summaries have none)."""
    if fam.type in ("histogram", "summary", "gaugehistogram"):
        return ()
    return (s for s in fam.samples if not s.name.endswith("_created"))


def series(snap: Snapshot | None, family: str, where: Where | None = None) -> dict[Labels, float]:
    """Each series' value (counter/gauge) keyed by its labels."""
    fam = snap.family(family) if snap is not None else None
    if fam is None:
        return {}
    return {s.labels: s.value for s in _value_samples(fam) if _matches(s.labels, where)}


def sum_by(values: Mapping[Labels, float], by: Sequence[str] = ()) -> dict[Key, float]:
    """Sum series values over every label not in ``by`` (like PromQL ``sum by (...)``); NaN values skipped."""
    out: dict[Key, float] = {}
    for labels, value in values.items():
        if math.isnan(value):
            continue
        key = _key(labels, by)
        out[key] = out.get(key, 0.0) + value
    return out


def increases(first: Mapping[Labels, float], last: Mapping[Labels, float]) -> dict[Labels, float]:
    """Per-series counter increase between two scrapes; a drop means a restart, a new series counts from 0."""
    out: dict[Labels, float] = {}
    for labels, now in last.items():
        before = first.get(labels, 0.0)
        out[labels] = now if now < before else now - before
    return out


@dataclass(frozen=True)
class Histogram:
    """One (aggregated) histogram: cumulative buckets, sum and count."""

    buckets: tuple[tuple[float, float], ...]
    sum: float
    count: float

    def quantile(self, q: float) -> float:
        return histogram_quantile(q, self.buckets)

    @property
    def mean(self) -> float:
        return self.sum / self.count if self.count else math.nan


def _raw_histograms(snap: Snapshot | None, family: str, where: Where | None) -> dict[Labels, dict[str, Any]]:
    fam = snap.family(family) if snap is not None else None
    if fam is None:
        return {}
    out: dict[Labels, dict[str, Any]] = {}
    for s in fam.samples:
        key = _series_key(s.labels)
        if not _matches(key, where):
            continue
        entry = out.setdefault(key, {"buckets": {}, "sum": 0.0, "count": 0.0})
        if s.name.endswith("_bucket"):
            try:
                le = float(s.label("le", "nan"))
            except ValueError:
                continue
            if not math.isnan(le):
                entry["buckets"][le] = s.value
        elif s.name.endswith("_sum"):
            entry["sum"] = s.value
        elif s.name.endswith("_count"):
            entry["count"] = s.value
    return out


def histograms(snap: Snapshot | None, family: str, by: Sequence[str] = (), where: Where | None = None,
               since: Snapshot | None = None) -> dict[Key, Histogram]:
    """Histograms of ``family`` summed by ``by``; with ``since``, only the observations made after that
    earlier snapshot (bucket by bucket, restarts handled like counters)."""
    now = _raw_histograms(snap, family, where)
    before = _raw_histograms(since, family, where) if since is not None else {}
    acc: dict[Key, dict[str, Any]] = {}
    for labels, entry in now.items():
        prev = before.get(labels)
        reset = prev is not None and entry["count"] < prev["count"]
        if prev is None or reset:
            prev = {"buckets": {}, "sum": 0.0, "count": 0.0}
        key = _key(labels, by)
        tgt = acc.setdefault(key, {"buckets": {}, "sum": 0.0, "count": 0.0})
        for le, c in entry["buckets"].items():
            tgt["buckets"][le] = tgt["buckets"].get(le, 0.0) + max(c - prev["buckets"].get(le, 0.0), 0.0)
        tgt["sum"] += entry["sum"] - prev["sum"]
        tgt["count"] += max(entry["count"] - prev["count"], 0.0)
    return {k: Histogram(tuple(sorted(v["buckets"].items())), v["sum"], v["count"]) for k, v in acc.items()}


@dataclass(frozen=True)
class View:
    """What rules and tables read: the last snapshot, and the one before it when two were taken.

    ``window`` values are increases between the two snapshots (``None`` with a single snapshot);
    ``lifetime`` values are totals since the registry process started.
    """

    last: Snapshot
    first: Snapshot | None = None

    @property
    def has_window(self) -> bool:
        return self.first is not None

    @property
    def interval_s(self) -> float | None:
        if self.first is None:
            return None
        return max(self.last.taken_at - self.first.taken_at, 0.0) or None

    def has(self, family: str) -> bool:
        return family in self.last

    def lifetime(self, family: str, by: Sequence[str] = (), where: Where | None = None) -> dict[Key, float]:
        return sum_by(series(self.last, family, where), by)

    def window(self, family: str, by: Sequence[str] = (), where: Where | None = None) -> dict[Key, float] | None:
        if self.first is None:
            return None
        return sum_by(increases(series(self.first, family, where), series(self.last, family, where)), by)

    def gauge(self, family: str, by: Sequence[str] = (), where: Where | None = None,
              first: bool = False) -> dict[Key, float]:
        snap = self.first if first else self.last
        if snap is None:
            return {}
        return sum_by(series(snap, family, where), by)

    def histograms_by_group(self, family: str, by: Sequence[str] = (), where: Where | None = None
                            ) -> dict[Key, tuple[Histogram, str]]:
        """Per group: its observations over the window when it had any there, else since the process
        started; each with its basis (a handler idle during the window still shows its history)."""
        life = histograms(self.last, family, by, where)
        win = histograms(self.last, family, by, where, since=self.first) if self.first is not None else {}
        out: dict[Key, tuple[Histogram, str]] = {}
        for key, h in life.items():
            w = win.get(key)
            out[key] = (w, "window") if w is not None and w.count > 0 else (h, "lifetime")
        return out


def total(values: Mapping[Key, float] | None) -> float:
    return float(sum(values.values())) if values else 0.0


def not_in(*values: str) -> Callable[[str], bool]:
    """A label predicate for ``where``: the value is none of these."""
    excluded = set(values)
    return lambda v: v not in excluded


def starts_with(prefix: str) -> Callable[[str], bool]:
    return lambda v: v.startswith(prefix)
