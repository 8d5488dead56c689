"""Plots where a picture reads faster than a table: request rates and error ratios by handler, latency
quantiles by handler, storage action latency, and the GitLab fork's families when present.

Each function returns a matplotlib ``Figure`` (embedded as PNG in the report) or a :class:`Note` saying
why there is nothing to draw. Figures are made without pyplot, so nothing is shown twice.
"""

from __future__ import annotations

import math
from typing import Any, Callable

from ..figures import png_figure
from .compute import View
from .source import Metrics
from .views import Note, latency_table, quantile_table, request_table, storage_action_table

_QCOLOURS = {"p50": "#4c9be8", "p95": "#f0a030", "p99": "#d62728"}
_CLASS_COLOURS = {"2xx": "#2ca02c", "3xx": "#8c8c8c", "4xx": "#f0a030", "5xx": "#d62728"}


def _view(metrics: Metrics | View | None) -> View | None:
    if isinstance(metrics, View) or metrics is None:
        return metrics
    return metrics.view


_figure = png_figure  # every plot renders as PNG (runbooklib.figures)


def plot_requests(metrics: Metrics | View | None):
    """Request rate (or count) by handler split by status class, and the 4xx/5xx ratio by handler; with a
    Prometheus history, the rate and 5xx ratio over the last hour instead."""
    history = getattr(metrics, "history", None)
    if history is not None and len(history) and history["time"].nunique() >= 3:
        return _plot_history(history)
    table = request_table(metrics)
    if not len(table):
        return Note("No registry_http_requests_total samples: the registry has served no request yet.")
    fig = _figure(11, 0.45 * len(table) + 1.8)
    left, right = fig.subplots(1, 2, sharey=True)
    windowed = table["basis"].iloc[0] == "window"
    scale = table["requests"] / table["per_s"] if windowed else None
    y = range(len(table))
    start = [0.0] * len(table)
    for cls, colour in _CLASS_COLOURS.items():
        values = list(table[cls] / scale) if windowed and scale is not None else list(table[cls])
        values = [0.0 if (isinstance(v, float) and math.isnan(v)) else v for v in values]
        left.barh(list(y), values, left=start, color=colour, label=cls)
        start = [a + b for a, b in zip(start, values)]
    left.set_yticks(list(y), list(table["handler"]))
    left.set_xlabel("requests per second (scrape window)" if windowed else "requests since the registry started")
    left.set_title("Requests by handler and status class")
    left.legend(fontsize=8, loc="best")
    ratios4 = [(r["4xx"] / r["requests"] * 100) if r["requests"] else 0 for _, r in table.iterrows()]
    ratios5 = [r["5xx_ratio"] * 100 for _, r in table.iterrows()]
    ys = list(y)
    right.barh([v - 0.2 for v in ys], ratios4, height=0.4, color=_CLASS_COLOURS["4xx"], label="4xx (401 challenges are normal)")
    right.barh([v + 0.2 for v in ys], ratios5, height=0.4, color=_CLASS_COLOURS["5xx"], label="5xx")
    right.set_xlabel("% of the handler's requests")
    right.set_title("Error ratio by handler")
    right.set_xlim(0, max(5.0, max(ratios4 + ratios5 + [0]) * 1.1))
    right.legend(fontsize=8, loc="best")
    for ax in (left, right):
        ax.grid(axis="x", alpha=0.3)
    return fig


def _plot_history(history: Any):
    fig = _figure(11, 3.8)
    left, right = fig.subplots(1, 2, sharex=True)
    for handler, part in history.groupby("handler"):
        part = part.sort_values("time")
        errors = part["errors_per_s"] if "errors_per_s" in part else 0.0 * part["requests_per_s"]
        ratio = (errors / part["requests_per_s"].where(part["requests_per_s"] > 0) * 100).fillna(0.0).clip(upper=100)
        left.plot(part["time"], part["requests_per_s"], linewidth=1.2, marker=".", markersize=3, label=handler)
        right.plot(part["time"], ratio, linewidth=1.2, marker=".", markersize=3, label=handler)
    left.set_xlim(history["time"].min(), history["time"].max())
    left.set_title("Requests per second by handler (Prometheus)")
    left.set_ylabel("requests/s")
    left.set_ylim(bottom=0)
    right.set_title("5xx ratio by handler")
    right.set_ylabel("% of requests")
    right.set_ylim(bottom=0)
    left.legend(fontsize=7, ncols=2)
    for ax in (left, right):
        ax.grid(alpha=0.3)
        for label in ax.get_xticklabels():
            label.set_rotation(30)
    return fig


def _quantile_bars(table: Any, labels: list[str], title: str, xlabel: str):
    fig = _figure(10, 0.5 * len(table) + 1.6)
    ax = fig.add_subplot()
    y = list(range(len(table)))
    height = 0.26
    for offset, q in zip((-height, 0.0, height), ("p50", "p95", "p99")):
        values = [max(v, 1e-6) if isinstance(v, (int, float)) and not math.isnan(v) else 0 for v in table[q]]
        ax.barh([v + offset for v in y], values, height=height, color=_QCOLOURS[q], label=q)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    finite = [v for q in ("p50", "p95", "p99") for v in table[q] if isinstance(v, (int, float)) and v > 0
              and not math.isinf(v)]
    if finite and max(finite) / min(finite) > 20:
        ax.set_xscale("log")
    else:
        xlabel = xlabel.replace(" (log scale)", "")
    ax.set_xlabel(xlabel)
    bases = set(table["basis"]) if "basis" in table else set()
    when = ("scrape window" if bases == {"window"} else "since the registry started" if bases == {"lifetime"}
            else "scrape window where active, else since start")
    ax.set_title(f"{title} ({when})")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3, which="both")
    return fig


def plot_latency(metrics: Metrics | View | None):
    """p50/p95/p99 request latency by handler, from the histogram buckets (log scale)."""
    table = latency_table(metrics)
    if not len(table):
        return Note("No registry_http_request_duration_seconds observations yet.")
    return _quantile_bars(table, list(table["handler"]), "Request latency by handler", "seconds (log scale)")


def plot_storage_actions(metrics: Metrics | View | None, top_n: int = 15):
    """p50/p95/p99 latency of the slowest storage driver actions (log scale)."""
    table = storage_action_table(metrics, top_n)
    if not len(table):
        return Note("No registry_storage_action_seconds observations yet.")
    labels = [f"{d} {a}" for d, a in zip(table["driver"], table["action"])]
    return _quantile_bars(table, labels, "Storage driver action latency", "seconds (log scale)")


# --- the GitLab fork's families ------------------------------------------------------------------------


def _panel_notifications(view: View, ax: Any) -> bool:
    delivered = view.lifetime("registry_notifications_delivery_total", ("endpoint", "delivery_type"))
    pending = view.gauge("registry_notifications_pending", ("endpoint",))
    if not delivered and not pending:
        return False
    endpoints = sorted({k[0] for k in delivered} | {k[0] for k in pending})
    y = list(range(len(endpoints)))
    ok = [delivered.get((e, "delivered"), 0.0) for e in endpoints]
    lost = [delivered.get((e, "lost"), 0.0) for e in endpoints]
    pend = [pending.get((e,), 0.0) for e in endpoints]
    ax.barh([v - 0.27 for v in y], ok, height=0.27, color="#2ca02c", label="delivered")
    ax.barh(y, lost, height=0.27, color="#d62728", label="lost")
    ax.barh([v + 0.27 for v in y], pend, height=0.27, color="#f0a030", label="pending now")
    ax.set_yticks(y, endpoints)
    ax.set_xscale("symlog")
    ax.set_title("Notifications by endpoint")
    ax.legend(fontsize=7)
    return True


def _panel_bbm(view: View, ax: Any) -> bool:
    progress = view.gauge("registry_database_bbm_progress_percent", ("migration_name", "status"))
    if not progress:
        return False
    keys = sorted(progress)
    colours = {"failed": "#d62728", "finished": "#2ca02c"}
    ax.barh(range(len(keys)), [progress[k] for k in keys], color=[colours.get(k[1], "#4c9be8") for k in keys])
    ax.set_yticks(range(len(keys)), [f"{n} ({s})" for n, s in keys])
    ax.set_xlim(0, 100)
    ax.set_xlabel("% done")
    ax.set_title("Batched background migrations")
    return True


def _panel_database(view: View, ax: Any) -> bool:
    status = view.gauge("registry_database_lb_pool_status", ("replica", "status"))
    lag = view.gauge("registry_database_lb_lag_bytes", ("replica",))
    if not status and not lag:
        return False
    replicas = sorted({k[0] for k in status} | {k[0] for k in lag})
    colours = ["#d62728" if status.get((r, "quarantined"), 0) > 0 else "#2ca02c" for r in replicas]
    ax.barh(range(len(replicas)), [lag.get((r,), 0.0) / 1048576 for r in replicas], color=colours)
    ax.set_yticks(range(len(replicas)), replicas)
    ax.set_xlabel("replication lag (MiB); red = quarantined")
    ax.set_title("Database load balancer replicas")
    return True


def _panel_gc(view: View, ax: Any) -> bool:
    runs = view.lifetime("registry_gc_runs_total", ("worker", "error"))
    postpones = view.lifetime("registry_gc_postpones_total", ("worker",))
    if not runs and not postpones:
        return False
    workers = sorted({k[0] for k in runs} | {k[0] for k in postpones})
    y = list(range(len(workers)))
    ax.barh([v - 0.27 for v in y], [runs.get((w, "false"), 0.0) for w in workers], height=0.27, color="#2ca02c",
            label="runs ok")
    ax.barh(y, [runs.get((w, "true"), 0.0) for w in workers], height=0.27, color="#d62728", label="runs with error")
    ax.barh([v + 0.27 for v in y], [postpones.get((w,), 0.0) for w in workers], height=0.27, color="#f0a030",
            label="postpones")
    ax.set_yticks(y, workers)
    ax.set_xscale("symlog")
    ax.set_title("Online garbage collection")
    ax.legend(fontsize=7)
    return True


def _panel_storage(view: View, ax: Any) -> bool:
    bars: dict[str, float] = {}
    for label, family, where in (
        ("rate limited", "registry_storage_rate_limit_total", None),
        ("backend retries", "registry_storage_storage_backend_retries_total", None),
        ("URL cache hits", "registry_storage_urlcache_requests_total", {"result": "hit"}),
        ("URL cache misses", "registry_storage_urlcache_requests_total", {"result": "miss"}),
        ("CDN redirects", "registry_storage_cdn_redirects_total", {"bypass": "false"}),
        ("CDN bypassed", "registry_storage_cdn_redirects_total", {"bypass": "true"}),
        ("access events dropped", "registry_storage_access_tracker_dropped_events", None),
    ):
        if view.has(family):
            bars[label] = sum(view.lifetime(family, (), where).values())
    if not bars:
        return False
    bad = {"rate limited", "backend retries", "URL cache misses", "CDN bypassed", "access events dropped"}
    names = list(bars)
    ax.barh(range(len(names)), [bars[n] for n in names],
            color=["#d62728" if n in bad and bars[n] > 0 else "#4c9be8" for n in names])
    ax.set_yticks(range(len(names)), names)
    ax.set_xscale("symlog")
    ax.set_title("Storage (since the registry started)")
    return True


_PANELS: tuple[Callable[[View, Any], bool], ...] = (_panel_notifications, _panel_bbm, _panel_database, _panel_gc,
                                                    _panel_storage)


def plot_gitlab_families(metrics: Metrics | View | None):
    """Small panels for the GitLab fork's families that are present: notifications, background migrations,
    database load balancing, online GC, storage middleware."""
    view = _view(metrics)
    if view is None:
        return Note("No metrics were read.")
    drawers = [p for p in _PANELS if _has_data(p, view)]
    if not drawers:
        return Note("None of the GitLab fork's families (notifications, BBM, database, GC, storage middleware) is "
                    "exposed here: an upstream Distribution registry, or a fork without those features in use.")
    cols = 2 if len(drawers) > 1 else 1
    rows = math.ceil(len(drawers) / cols)
    fig = _figure(11, 3.0 * rows)
    axes = fig.subplots(rows, cols, squeeze=False).ravel()
    for ax, draw in zip(axes, drawers):
        draw(view, ax)
        ax.grid(axis="x", alpha=0.3)
    for ax in axes[len(drawers):]:
        ax.set_axis_off()
    return fig


def _has_data(panel: Callable[[View, Any], bool], view: View) -> bool:
    from matplotlib.figure import Figure

    probe = Figure().add_subplot()
    return panel(view, probe)


def plot_quantiles(metrics: Metrics | View | None, family: str, by: tuple[str, ...], title: str = ""):
    """p50/p95/p99 of any histogram family by the given labels."""
    table = quantile_table(metrics, family, by)
    if not len(table):
        return Note(f"No {family} observations.")
    table = table.sort_values("p99", ascending=False).reset_index(drop=True)
    labels = [" ".join(str(r[b]) for b in by) or "all" for _, r in table.iterrows()]
    return _quantile_bars(table, labels, title or family, "value (log scale)")
