"""Tables over a metrics collection: requests by handler, latency quantiles, slowest storage actions, the
catalogue with what this endpoint exposes. Each returns a DataFrame (rendered by the notebook)."""

from __future__ import annotations

import math
from typing import Sequence

from .catalogue import CATALOGUE, GROUPS
from .compute import View, histograms
from .source import Metrics

QUANTILES = (0.5, 0.95, 0.99)


class Note(str):
    """A short message where a table or plot has nothing to show (renders as markdown in a notebook)."""

    def _repr_markdown_(self) -> str:
        return f"*{self}*"


def _view(metrics: Metrics | View | None) -> View | None:
    if isinstance(metrics, View) or metrics is None:
        return metrics
    return metrics.view


def quantile_table(metrics: Metrics | View | None, family: str, by: Sequence[str],
                   qs: Sequence[float] = QUANTILES):
    """p50/p95/p99 (and count, mean) of a histogram per group: over the scrape window for groups that saw
    observations there, else since the registry started (column ``basis``)."""
    import pandas as pd

    view = _view(metrics)
    columns = [*by, "count", *[f"p{round(q * 100)}" for q in qs], "mean", "basis"]
    if view is None or not view.has(family):
        return pd.DataFrame(columns=columns)
    rows = []
    for key, (h, basis) in sorted(view.histograms_by_group(family, by).items()):
        if h.count <= 0:
            continue
        rows.append({**dict(zip(by, key)), "count": h.count,
                     **{f"p{round(q * 100)}": h.quantile(q) for q in qs}, "mean": h.mean, "basis": basis})
    return pd.DataFrame(rows, columns=columns)


def latency_table(metrics: Metrics | View | None):
    """Request latency quantiles per handler (``registry_http_request_duration_seconds``), slowest p99 first."""
    table = quantile_table(metrics, "registry_http_request_duration_seconds", ("handler",))
    return table.sort_values("p99", ascending=False, kind="stable").reset_index(drop=True) if len(table) else table


def storage_action_table(metrics: Metrics | View | None, top_n: int = 20):
    """The slowest storage driver actions by p99 (``registry_storage_action_seconds``)."""
    table = quantile_table(metrics, "registry_storage_action_seconds", ("driver", "action"))
    if not len(table):
        return table
    table["total_s"] = table["mean"] * table["count"]
    return table.sort_values("p99", ascending=False, kind="stable").head(top_n).reset_index(drop=True)


def request_table(metrics: Metrics | View | None):
    """Requests per handler by status class, with rates over the window and the 5xx ratio."""
    import pandas as pd

    view = _view(metrics)
    columns = ["handler", "requests", "per_s", "2xx", "3xx", "4xx", "5xx", "5xx_ratio", "basis"]
    if view is None or not view.has("registry_http_requests_total"):
        return pd.DataFrame(columns=columns)
    basis = "window"
    counts = view.window("registry_http_requests_total", ("handler", "code"))
    if counts is None or not any(counts.values()):
        basis, counts = "lifetime", view.lifetime("registry_http_requests_total", ("handler", "code"))
    per: dict[str, dict[str, float]] = {}
    for (handler, code), n in counts.items():
        row = per.setdefault(handler, {"2xx": 0.0, "3xx": 0.0, "4xx": 0.0, "5xx": 0.0, "requests": 0.0})
        cls = f"{code[:1]}xx" if code[:1] in "2345" and code else "other"
        row[cls] = row.get(cls, 0.0) + n
        row["requests"] += n
    rows = []
    for handler, row in sorted(per.items()):
        rate = row["requests"] / view.interval_s if basis == "window" and view.interval_s else math.nan
        rows.append({"handler": handler, "requests": row["requests"], "per_s": rate, "2xx": row["2xx"],
                     "3xx": row["3xx"], "4xx": row["4xx"], "5xx": row["5xx"],
                     "5xx_ratio": row["5xx"] / row["requests"] if row["requests"] else 0.0, "basis": basis})
    return pd.DataFrame(rows, columns=columns)


def catalogue_table(metrics: Metrics | View | None = None):
    """The whole catalogue: every family of GitLab's documented tables and the upstream ones, whether this endpoint
    exposes it (with its series count), and which rules read it."""
    import pandas as pd

    from .rules import rules_for

    view = _view(metrics)
    rows = []
    for spec in CATALOGUE.values():
        fam = view.last.family(spec.name) if view is not None else None
        series = 0
        if fam is not None:
            series = len({tuple(kv for kv in s.labels if kv[0] != "le") for s in fam.samples})
        rows.append({"family": spec.name, "group": GROUPS[spec.group], "type": spec.type, "source": spec.source,
                     "present": fam is not None, "series": series, "rules": ", ".join(rules_for(spec.name)),
                     "labels": ", ".join(spec.labels), "meaning": spec.meaning,
                     "when emitted": "" if fam is not None else spec.why_absent})
    return pd.DataFrame(rows)


def histogram_buckets(metrics: Metrics | View | None, family: str, by: Sequence[str] = ()):
    """The cumulative buckets a quantile is computed from (lifetime), one row per group and bound."""
    import pandas as pd

    view = _view(metrics)
    rows = []
    if view is not None:
        for key, h in sorted(histograms(view.last, family, by).items()):
            for le, count in h.buckets:
                rows.append({**dict(zip(by, key)), "le": le, "cumulative_count": count})
    return pd.DataFrame(rows, columns=[*by, "le", "cumulative_count"])
