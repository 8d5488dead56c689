"""Health rules over the metric catalogue: which values signal trouble, and what to do about them.

A rule names the families it reads, says in words what it checks (thresholds included) and returns an
outcome per evaluation: ok, warn or fail with the offending series as evidence. Rules are built from a few
shapes (a counter that should stay at zero, a ratio, a quantile of a histogram, a gauge level or trend) so
that the list below reads as data. Counters are judged since the registry started (lifetime) and the
increase over the scrape window is shown beside; ratios and quantiles use the window when it saw traffic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import httpx

from ..findings import Finding, Findings, Status
from .catalogue import CATALOGUE, GROUPS, RUNTIME_PREFIXES, SEED_METRICS, seed_families
from .compute import Key, View, Where, histograms, starts_with, total
from .source import ENABLE_REMEDY, Metrics, scrape

MIB = 1024 * 1024
_SEED_SECTION = {
    "notifications": "Prometheus metrics: Notifications Metrics",
    "bbm": "Prometheus metrics: Batched background migration (BBM) metrics",
    "database": "Prometheus metrics: Database metrics",
    "gc": "Prometheus metrics: Garbage collection (GC) metrics",
    "storage": "Prometheus metrics: Storage metrics",
    "http": "Enable the Registry debug server",
    "runtime": "Enable the Registry debug server",
}


@dataclass(frozen=True)
class Outcome:
    status: Status
    summary: str
    detail: str
    evidence: Any


@dataclass(frozen=True)
class Rule:
    """One health rule: the families it needs, what it checks, how, and the fix when it trips."""

    id: str
    group: str
    families: tuple[str, ...]
    title: str
    checks: str
    evaluate: Callable[[View], Outcome]
    remedy: str
    needs_window: bool = False


def _label_text(by: Sequence[str], key: Key) -> str:
    return ", ".join(f"{b}={v}" for b, v in zip(by, key)) or "all"


def _g(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    if abs(x) >= 1e6 or (0 < abs(x) < 1e-3):
        return f"{x:.3g}"
    return f"{x:,.3f}".rstrip("0").rstrip(".")


def _window_words(v: View) -> str:
    return f"the last {v.interval_s:.0f} s" if v.interval_s else "the scrape window"


# ---------------------------------------------------------------------------------------------- shapes


def counter_above(family: str, what: str, status: Status, where: Where | None = None, by: Sequence[str] = (),
                  threshold: float = 0.0) -> Callable[[View], Outcome]:
    """Trips when a counter (summed by ``by``) has gone above ``threshold`` since the registry started."""
    def evaluate(v: View) -> Outcome:
        life = v.lifetime(family, by, where)
        win = v.window(family, by, where)
        rows: list[dict[str, Any]] = []
        for key, value in sorted(life.items()):
            row: dict[str, Any] = {**dict(zip(by, key)), "since_start": value}
            if win is not None:
                row["in_window"] = win.get(key, 0.0)
                if v.interval_s:
                    row["per_s"] = round(row["in_window"] / v.interval_s, 4)
            rows.append(row)
        bad = [r for r in rows if r["since_start"] > threshold]
        if not bad:
            return Outcome(Status.OK, f"no {what}", f"No {what} since the registry started.", rows[:20])
        n = sum(r["since_start"] for r in bad)
        detail = f"{_g(n)} {what} since the registry started"
        if win is not None:
            recent = sum(r.get("in_window", 0.0) for r in bad)
            detail += (f", {_g(recent)} of them in {_window_words(v)} (still happening)" if recent
                       else f", none in {_window_words(v)}")
        where_text = "; ".join(_label_text(by, tuple(r[b] for b in by)) for r in bad[:5]) if by else ""
        return Outcome(status, f"{_g(n)} {what}", detail + (f" ({where_text})." if where_text else "."), bad[:20])
    return evaluate


def ratio_above(num: tuple[str, Where | None], den: tuple[str, Where | None], what: str, by: Sequence[str] = (),
                warn: float | None = None, fail: float | None = None, min_den: float = 1.0,
                fail_min: float = 5.0, warn_min: float = 1.0) -> Callable[[View], Outcome]:
    """Trips when num/den per group reaches ``warn`` (at least ``warn_min`` events) or ``fail`` (at least
    ``fail_min``); groups with fewer than ``min_den`` events in the basis are not judged."""
    def evaluate(v: View) -> Outcome:
        basis = "window"
        n_all, d_all = v.window(num[0], by, num[1]), v.window(den[0], by, den[1])
        if n_all is None or d_all is None or total(d_all) == 0:
            basis = "lifetime"
            n_all, d_all = v.lifetime(num[0], by, num[1]), v.lifetime(den[0], by, den[1])
        rows: list[dict[str, Any]] = []
        worst = Status.OK
        for key, d in sorted(d_all.items()):
            n = n_all.get(key, 0.0)
            ratio = n / d if d else 0.0
            status = Status.OK
            if d >= min_den and n > 0:
                if fail is not None and ratio >= fail and n >= fail_min:
                    status = Status.FAIL
                elif warn is not None and ratio >= warn and n >= warn_min:
                    status = Status.WARN
            worst = max(worst, status, key=lambda s: s.severity)
            rows.append({**dict(zip(by, key)), what: n, "total": d, "ratio": round(ratio, 4), "status": status.value})
        words = "over " + _window_words(v) if basis == "window" else "since the registry started"
        bad = [r for r in rows if r["status"] != "ok"]
        if not bad:
            return Outcome(Status.OK, f"{what} ratio within bounds", f"{what} ratio below the threshold {words}.",
                           {"basis": basis, "rows": rows[:20]})
        top = max(bad, key=lambda r: r["ratio"])
        label = _label_text(by, tuple(top[b] for b in by))
        return Outcome(worst, f"{what} ratio {top['ratio']:.1%} ({label})",
                       f"{len(bad)} group(s) above the threshold {words}; worst {label}: {_g(top[what])} of "
                       f"{_g(top['total'])} ({top['ratio']:.2%}).", {"basis": basis, "rows": bad[:20]})
    return evaluate


def quantile_above(family: str, q: float, limit: float | Callable[[Key], float], what: str,
                   by: Sequence[str] = (), where: Where | None = None, status: Status = Status.WARN,
                   unit: str = "s") -> Callable[[View], Outcome]:
    """Trips when the q-quantile of a histogram (per group) exceeds its limit."""
    def evaluate(v: View) -> Outcome:
        qname = f"p{round(q * 100)}"
        rows: list[dict[str, Any]] = []
        for key, (h, basis) in sorted(v.histograms_by_group(family, by, where).items()):
            if h.count <= 0:
                continue
            value = h.quantile(q)
            bound = limit(key) if callable(limit) else limit
            rows.append({**dict(zip(by, key)), "count": h.count, qname: value, "limit": bound, "basis": basis,
                         "status": (status if value > bound else Status.OK).value})
        bad = [r for r in rows if r["status"] != "ok"]
        if not bad:
            return Outcome(Status.OK, f"{what} {qname} within bounds",
                           f"{qname} of {what} within its limit for {len(rows)} group(s).", rows[:20])
        top = max(bad, key=lambda r: r[qname] / r["limit"] if r["limit"] else math.inf)
        label = _label_text(by, tuple(top[b] for b in by))
        words = "over " + _window_words(v) if top["basis"] == "window" else "since the registry started"
        u = f" {unit}" if unit else ""
        return Outcome(status, f"{what} {qname} {_g(top[qname])}{u} ({label})",
                       f"{len(bad)} group(s) above their {qname} limit; worst {label}: {_g(top[qname])}{u} "
                       f"{words} (limit {_g(top['limit'])}{u}).", bad[:20])
    return evaluate


def _mib(x: float) -> str:
    return f"{x / MIB:,.1f} MiB"


def gauge_above(family: str, limit: float, what: str, status: Status, by: Sequence[str] = (),
                where: Where | None = None, unit: str = "") -> Callable[[View], Outcome]:
    """Trips when a gauge (per group, latest scrape) is above ``limit`` (``unit="bytes"`` shows MiB)."""
    fmt = _mib if unit == "bytes" else (lambda x: f"{_g(x)}{unit}")

    def evaluate(v: View) -> Outcome:
        values = v.gauge(family, by, where)
        rows: list[dict[str, Any]] = [{**dict(zip(by, k)), "value": val} for k, val in sorted(values.items())]
        bad = [r for r in rows if r["value"] > limit]
        if not bad:
            return Outcome(Status.OK, f"{what} within bounds", f"{what}: every value at or below {fmt(limit)}.",
                           rows[:20])
        top = max(bad, key=lambda r: r["value"])
        label = _label_text(by, tuple(top[b] for b in by))
        return Outcome(status, f"{what} {fmt(top['value'])} ({label})",
                       f"{len(bad)} series above {fmt(limit)}; highest {label}: {fmt(top['value'])}.", bad[:20])
    return evaluate


def gauge_growing(family: str, what: str, by: Sequence[str] = (), min_growth: float = 1.0,
                  high: float = math.inf) -> Callable[[View], Outcome]:
    """Warns when a queue-like gauge grew by ``min_growth`` between the two scrapes, or stands above ``high``."""
    def evaluate(v: View) -> Outcome:
        last = v.gauge(family, by)
        first = v.gauge(family, by, first=True) if v.has_window else {}
        rows: list[dict[str, Any]] = []
        for key, now in sorted(last.items()):
            row: dict[str, Any] = {**dict(zip(by, key)), "now": now}
            if v.has_window:
                row["before"] = first.get(key, 0.0)
                row["growth"] = now - row["before"]
            rows.append(row)
        bad = [r for r in rows if r.get("growth", 0.0) >= min_growth or r["now"] > high]
        if not bad:
            return Outcome(Status.OK, f"{what} steady", f"{what} is not growing" +
                           ("" if v.has_window else " (one scrape: level checked only)") + ".", rows[:20])
        top = max(bad, key=lambda r: (r.get("growth", 0.0), r["now"]))
        label = _label_text(by, tuple(top[b] for b in by))
        if top.get("growth", 0.0) >= min_growth:
            detail = f"{what} grew from {_g(top['before'])} to {_g(top['now'])} in {_window_words(v)} ({label})."
        else:
            detail = f"{what} stands at {_g(top['now'])}, above {_g(high)} ({label})."
        return Outcome(Status.WARN, f"{what} growing ({label})", detail, bad[:20])
    return evaluate


def histogram_count_above(family: str, what: str, status: Status, where: Where, by: Sequence[str] = ()
                          ) -> Callable[[View], Outcome]:
    """Trips when a histogram saw any observation matching ``where`` (e.g. ``error="true"``)."""
    def evaluate(v: View) -> Outcome:
        life = histograms(v.last, family, by, where)
        win = histograms(v.last, family, by, where, since=v.first) if v.has_window else None
        rows: list[dict[str, Any]] = []
        for key, h in sorted(life.items()):
            row: dict[str, Any] = {**dict(zip(by, key)), "since_start": h.count}
            if win is not None:
                row["in_window"] = win[key].count if key in win else 0.0
            rows.append(row)
        bad = [r for r in rows if r["since_start"] > 0]
        if not bad:
            return Outcome(Status.OK, f"no {what}", f"No {what} since the registry started.", rows[:20])
        n = sum(r["since_start"] for r in bad)
        return Outcome(status, f"{_g(n)} {what}", f"{_g(n)} {what} since the registry started.", bad[:20])
    return evaluate


def present(family: str, what: str, status: Status, where: Where, by: Sequence[str]) -> Callable[[View], Outcome]:
    """Trips when any series matching ``where`` exists (e.g. a migration whose status is ``failed``)."""
    def evaluate(v: View) -> Outcome:
        values = v.gauge(family, by, where)
        if not values:
            return Outcome(Status.OK, f"no {what}", f"No {what}.", {})
        rows: list[dict[str, Any]] = [{**dict(zip(by, k)), "value": val} for k, val in sorted(values.items())]
        names = "; ".join(_label_text(by, k) for k in sorted(values)[:5])
        return Outcome(status, f"{len(rows)} {what}", f"{len(rows)} {what}: {names}.", rows[:20])
    return evaluate


def _bbm_stalled(v: View) -> Outcome:
    by = ("migration_id", "migration_name")
    running = {"running", "active"}
    now = v.gauge("registry_database_bbm_progress_percent", by, {"status": running})
    before = v.gauge("registry_database_bbm_progress_percent", by, {"status": running}, first=True)
    moved = v.window("registry_bbm_migrated_tuples_total", by) or {}
    rows, bad = [], []
    for key, pct in sorted(now.items()):
        row = {**dict(zip(by, key)), "progress_before": before.get(key), "progress_now": pct,
               "tuples_migrated_in_window": moved.get(key, 0.0)}
        rows.append(row)
        if pct < 100 and key in before and before[key] >= pct and moved.get(key, 0.0) == 0:
            bad.append(row)
    if not bad:
        return Outcome(Status.OK, "running migrations progress", f"{len(rows)} running migration(s), each moving "
                       f"in {_window_words(v)}.", rows[:20])
    names = "; ".join(f"{r['migration_name']} ({r['progress_now']:g} %)" for r in bad[:5])
    return Outcome(Status.WARN, f"{len(bad)} migration(s) stalled",
                   f"No progress and no migrated tuples in {_window_words(v)}: {names}.", bad[:20])


def _pending_migrations(v: View) -> Outcome:
    totals = v.gauge("registry_database_migrations_total", ("migration_type",))
    applied = v.gauge("registry_database_rows", ("query_name",))
    rows, bad = [], []
    for kind, query in (("pre_deployment", "applied_pre_migrations"), ("post_deployment", "applied_post_migrations")):
        if (kind,) not in totals or (query,) not in applied:
            continue
        pending = totals[(kind,)] - applied[(query,)]
        row = {"migration_type": kind, "total": totals[(kind,)], "applied": applied[(query,)], "pending": pending}
        rows.append(row)
        if pending > 0:
            bad.append(row)
    if not bad:
        return Outcome(Status.OK, "no pending migration", "Every known database migration is applied.", rows)
    text = ", ".join(f"{r['pending']:g} {r['migration_type']}" for r in bad)
    return Outcome(Status.WARN, f"pending migrations: {text}", f"Database migrations not applied yet: {text}.", bad)


def _pool_empty(v: View) -> Outcome:
    size = total(v.gauge("registry_database_lb_pool_size"))
    if size > 0:
        return Outcome(Status.OK, f"{size:g} replica(s) in the pool", f"{size:g} replica(s) serve reads.", {"pool_size": size})
    return Outcome(Status.WARN, "no replica in the pool", "Load balancing is on but the pool has no replica: every "
                   "read goes to the primary.", {"pool_size": size})


def _file_descriptors(v: View) -> Outcome:
    used, limit = total(v.gauge("process_open_fds")), total(v.gauge("process_max_fds"))
    ratio = used / limit if limit else 0.0
    ev = {"open_fds": used, "max_fds": limit, "ratio": round(ratio, 4)}
    if ratio > 0.8:
        return Outcome(Status.WARN, f"{ratio:.0%} of file descriptors in use",
                       f"{used:g} of {limit:g} file descriptors open: new connections and storage calls will fail "
                       "with `too many open files` at the limit.", ev)
    return Outcome(Status.OK, f"{ratio:.1%} of file descriptors in use", f"{used:g} of {limit:g} open.", ev)


def _http_latency_limit(key: Key) -> float:
    return 30.0 if key and key[0] in ("blob", "blob_upload_chunk") else 2.0


# ---------------------------------------------------------------------------------------------- the rules

_N = "registry_notifications_"
_DB = "registry_database_"

_NOTIFY_REMEDY = (
    "Check the notification endpoint (`notifications.endpoints` in config.yml; for GitLab the Rails "
    "`/api/v4/container_registry_event/events` URL and its `Authorization` header, which must match "
    "`registry['notification_secret']` / gitlab.yml `registry.notification_secret`). Raise `threshold`/`backoff` "
    "only after fixing the endpoint. Lost events are not resent: GitLab's registry usage data misses them."
)
_DB_LB_REMEDY = (
    "Look at the replicas' replication lag and connectivity (`pg_stat_replication` on the primary), and at the "
    "registry's `database.loadbalancing` settings (`replicacheckinterval`, `maxreplicalagbytes`, "
    "`maxreplicalagtime`). Quarantined replicas come back by themselves once healthy."
)
_GC_REMEDY = (
    "Read the registry log for `online GC` errors (`gitlab-ctl tail registry | grep -i gc` on Omnibus, `kubectl "
    "logs` on Helm); database errors or storage permission errors (s3:DeleteObject) are the usual causes. See "
    "`registry['gc']` / `gc:` settings for worker intervals."
)
_STORAGE_REMEDY = (
    "The storage backend is throttling or failing requests: check its error rates (S3 503 SlowDown, GCS 429), "
    "request rates per prefix, and the driver's `maxrequestspersecond`/retry settings in `storage`. Run the "
    "`s3-permissions` and `bucket-metrics` runbooks for S3."
)

RULES: tuple[Rule, ...] = (
    # notifications
    Rule("notifications.lost", "notifications", (_N + "delivery_total",), "Notification events lost",
         'delivery_total{delivery_type="lost"} > 0 → fail',
         counter_above(_N + "delivery_total", "events lost", Status.FAIL, {"delivery_type": "lost"}, ("endpoint",)),
         _NOTIFY_REMEDY),
    Rule("notifications.dropped", "notifications", (_N + "events_total",), "Notification events dropped",
         'events_total{type="Dropped"} > 0 → fail',
         counter_above(_N + "events_total", "events dropped", Status.FAIL, {"type": "Dropped"}, ("endpoint",)),
         _NOTIFY_REMEDY),
    Rule("notifications.failures", "notifications", (_N + "events_total",), "Notification delivery failures",
         'Failures / Events per endpoint ≥ 1 % → warn, ≥ 50 % (5+) → fail',
         ratio_above((_N + "events_total", {"type": "Failures"}), (_N + "events_total", {"type": "Events"}),
                     "failures", ("endpoint",), warn=0.01, fail=0.5), _NOTIFY_REMEDY),
    Rule("notifications.errors", "notifications", (_N + "errors_total",), "Notification send errors",
         "errors_total > 0 → warn",
         counter_above(_N + "errors_total", "send errors", Status.WARN, None, ("endpoint",)), _NOTIFY_REMEDY),
    Rule("notifications.endpoint_status", "notifications", (_N + "status_total",), "Notification endpoint answers",
         "status_total with a non-2xx code > 0 → warn",
         counter_above(_N + "status_total", "non-2xx answers from the endpoint", Status.WARN,
                       {"code": lambda c: not c.startswith("2")}, ("endpoint", "code")), _NOTIFY_REMEDY),
    Rule("notifications.pending", "notifications", (_N + "pending",), "Notification queue",
         "pending grows by 10+ between scrapes, or stands above 1000 → warn",
         gauge_growing(_N + "pending", "pending events", ("endpoint",), min_growth=10, high=1000), _NOTIFY_REMEDY),
    Rule("notifications.retries", "notifications", (_N + "retries_count",), "Notification retries",
         "p95 of retries per delivery > 3 → warn",
         quantile_above(_N + "retries_count", 0.95, 3.0, "delivery retries", ("endpoint",), unit=""), _NOTIFY_REMEDY),
    Rule("notifications.latency", "notifications", (_N + "total_latency_seconds",), "Notification delivery latency",
         "p99 of total delivery latency > 10 s → warn",
         quantile_above(_N + "total_latency_seconds", 0.99, 10.0, "delivery latency", ("endpoint",)), _NOTIFY_REMEDY),
    # batched background migrations
    Rule("bbm.failed", "bbm", (_DB + "bbm_progress_percent",), "Background migrations failed",
         'bbm_progress_percent{status="failed"} present → fail',
         present(_DB + "bbm_progress_percent", "failed background migration(s)", Status.FAIL, {"status": "failed"},
                 ("migration_id", "migration_name")),
         "Read the registry log for the migration's error, fix the cause and retry it: `registry background-migrate "
         "resume` (GitLab 17.x+); see GitLab's docs on the registry's batched background migrations."),
    Rule("bbm.stalled", "bbm", (_DB + "bbm_progress_percent", "registry_bbm_migrated_tuples_total"),
         "Background migrations progressing",
         "a running migration below 100 % whose progress and migrated tuples did not move between scrapes → warn",
         _bbm_stalled,
         "Check that the BBM worker runs (`registry_bbm_runs_total` increasing, `background_migrations.enabled`), "
         "its sleep between runs (`registry_bbm_sleep_duration_seconds`) and the registry log for migration errors.",
         needs_window=True),
    # database
    Rule("database.lb_quarantined", "database", (_DB + "lb_pool_status",), "Database replicas quarantined",
         'lb_pool_status{status="quarantined"} > 0 → warn',
         gauge_above(_DB + "lb_pool_status", 0.0, "quarantined replicas", Status.WARN, ("replica",),
                     {"status": "quarantined"}), _DB_LB_REMEDY),
    Rule("database.lb_all_quarantined", "database", (_DB + "lb_targets_total",), "All replicas quarantined",
         'lb_targets_total{reason="all_quarantined"} > 0 → fail',
         counter_above(_DB + "lb_targets_total", "elections with every replica quarantined", Status.FAIL,
                       {"reason": "all_quarantined"}), _DB_LB_REMEDY),
    Rule("database.lb_fallback", "database", (_DB + "lb_targets_total",), "Reads falling back to the primary",
         'lb_targets_total{fallback="true"} / all ≥ 10 % → warn (20+ elections)',
         ratio_above((_DB + "lb_targets_total", {"fallback": "true"}), (_DB + "lb_targets_total", None), "fallbacks",
                     warn=0.1, min_den=20), _DB_LB_REMEDY),
    Rule("database.lb_lag", "database", (_DB + "lb_lag_bytes",), "Replication lag (bytes)",
         "lb_lag_bytes per replica > 16 MiB → warn",
         gauge_above(_DB + "lb_lag_bytes", 16 * MIB, "replication lag", Status.WARN, ("replica",), unit="bytes"),
         _DB_LB_REMEDY),
    Rule("database.lb_lag_seconds", "database", (_DB + "lb_lag_seconds",), "Replication lag (time)",
         "p99 of lb_lag_seconds per replica > 10 s → warn",
         quantile_above(_DB + "lb_lag_seconds", 0.99, 10.0, "replication lag", ("replica",)), _DB_LB_REMEDY),
    Rule("database.lb_pool_empty", "database", (_DB + "lb_pool_size",), "Replicas in the load balancer pool",
         "lb_pool_size = 0 → warn", _pool_empty, _DB_LB_REMEDY),
    Rule("database.lb_lookup_errors", "database", (_DB + "lb_lookup_seconds",), "Replica DNS lookups",
         'lb_lookup_seconds{error="true"} observations > 0 → warn',
         histogram_count_above(_DB + "lb_lookup_seconds", "failed replica DNS lookups", Status.WARN,
                               {"error": "true"}, ("lookup_type",)),
         "Check `database.loadbalancing.record` / `nameserver` and DNS for the replicas' SRV or host records."),
    Rule("database.lsn_cache_misses", "database", (_DB + "lb_lsn_cache_hits_total",), "LSN cache misses",
         'lb_lsn_cache_hits_total{result="miss"} / all ≥ 50 % → warn (20+ lookups)',
         ratio_above((_DB + "lb_lsn_cache_hits_total", {"result": "miss"}), (_DB + "lb_lsn_cache_hits_total", None),
                     "misses", warn=0.5, min_den=20),
         "The LSN cache lives in Redis: check the registry's `redis.loadbalancing` connection and Redis health."),
    Rule("database.pending_migrations", "database", (_DB + "migrations_total", _DB + "rows"),
         "Database migrations applied", "migrations_total − applied_*_migrations rows > 0 → warn",
         _pending_migrations,
         "Apply them: Omnibus `gitlab-ctl registry-database migrate up` (post-deployment ones after the deploy); "
         "Helm: the chart's migrations job (`registry.database.migrations.enabled`)."),
    Rule("database.gc_queue_overdue", "database", (_DB + "rows",), "Online GC review queues",
         'rows{query_name=~".*_overdue"} > 0 → warn',
         gauge_above(_DB + "rows", 0.0, "overdue GC review tasks", Status.WARN, ("query_name",),
                     {"query_name": lambda q: q.endswith("_overdue")}), _GC_REMEDY),
    Rule("database.query_latency", "database", (_DB + "query_duration_seconds",), "Database query latency",
         "p99 per query name > 1 s → warn",
         quantile_above(_DB + "query_duration_seconds", 0.99, 1.0, "query latency", ("name",)),
         "Look at the database's load and slow query log for the named queries; check connection pool settings "
         "(`database.pool`)."),
    # garbage collection
    Rule("gc.run_errors", "gc", ("registry_gc_runs_total",), "Online GC runs failing",
         'runs_total{error="true"} / runs per worker > 0 → warn, ≥ 50 % (5+) → fail',
         ratio_above(("registry_gc_runs_total", {"error": "true"}), ("registry_gc_runs_total", None), "failed runs",
                     ("worker",), warn=1e-9, fail=0.5), _GC_REMEDY),
    Rule("gc.postpones", "gc", ("registry_gc_postpones_total",), "Online GC reviews postponed",
         "postpones_total > 0 → warn",
         counter_above("registry_gc_postpones_total", "postponed reviews", Status.WARN, None, ("worker",)), _GC_REMEDY),
    Rule("gc.delete_errors", "gc", ("registry_gc_delete_duration_seconds",), "Online GC deletions failing",
         'gc_delete_duration_seconds{error="true"} observations > 0 → warn',
         histogram_count_above("registry_gc_delete_duration_seconds", "failed deletions", Status.WARN,
                               {"error": "true"}, ("backend", "artifact")), _GC_REMEDY),
    # storage (GitLab fork)
    Rule("storage.rate_limited", "storage", ("registry_storage_rate_limit_total",), "Storage rate limits",
         "rate_limit_total > 0 → warn",
         counter_above("registry_storage_rate_limit_total", "rate-limited storage requests", Status.WARN),
         _STORAGE_REMEDY),
    Rule("storage.backend_retries", "storage", ("registry_storage_storage_backend_retries_total",),
         "Storage backend retries", "storage_backend_retries_total > 0 → warn",
         counter_above("registry_storage_storage_backend_retries_total", "retried storage requests", Status.WARN, None,
                       ("retry_type",)), _STORAGE_REMEDY),
    Rule("storage.cdn_bypass", "storage", ("registry_storage_cdn_redirects_total",), "CDN bypassed",
         'cdn_redirects_total{bypass="true"} / all ≥ 50 % → warn (20+ redirects)',
         ratio_above(("registry_storage_cdn_redirects_total", {"bypass": "true"}),
                     ("registry_storage_cdn_redirects_total", None), "bypasses", ("backend",), warn=0.5, min_den=20),
         "Blob downloads skip the CDN: check the `googlecdn` middleware's `ipfilteredby` and key settings and the "
         "`bypass_reason` label."),
    Rule("storage.urlcache_misses", "storage", ("registry_storage_urlcache_requests_total",), "URL cache misses",
         'urlcache_requests_total{result="miss"} / all ≥ 50 % → warn (20+ requests)',
         ratio_above(("registry_storage_urlcache_requests_total", {"result": "miss"}),
                     ("registry_storage_urlcache_requests_total", None), "misses", warn=0.5, min_den=20),
         "Pre-signed URLs are signed again instead of served from the cache: check Redis and the `reason` label."),
    Rule("storage.access_tracker_dropped", "storage", ("registry_storage_access_tracker_dropped_events",),
         "Access tracker events dropped", "access_tracker_dropped_events > 0 → warn",
         counter_above("registry_storage_access_tracker_dropped_events", "dropped access events", Status.WARN),
         "The access tracker cannot keep up (timeouts): check Redis latency."),
    # upstream Distribution families
    Rule("http.5xx_ratio", "http", ("registry_http_requests_total",), "Server errors by handler",
         "5xx / requests per handler ≥ 1 % (3+ errors) → warn, ≥ 5 % (5+ errors) → fail",
         ratio_above(("registry_http_requests_total", {"code": starts_with("5")}), ("registry_http_requests_total", None),
                     "5xx", ("handler",), warn=0.01, fail=0.05, warn_min=3),
         "Read the registry log for `response completed with error` with `err.code=\"unknown\"` and the storage "
         "driver's error text; `/debug/health` names a failing storage backend."),
    Rule("http.latency", "http", ("registry_http_request_duration_seconds",), "Request latency by handler",
         "p99 > 2 s for metadata handlers (base, manifest, tags, catalog, blob_upload), > 30 s for blob transfers → warn",
         quantile_above("registry_http_request_duration_seconds", 0.99, _http_latency_limit, "request latency",
                        ("handler",)),
         "Compare with `registry_storage_action_seconds`: slow storage calls make every handler slow. For blob "
         "handlers, large layers take long by nature."),
    Rule("http.in_flight", "http", ("registry_http_in_flight_requests",), "Requests in flight",
         "in_flight_requests per handler > 100 → warn",
         gauge_above("registry_http_in_flight_requests", 100.0, "requests in flight", Status.WARN, ("handler",)),
         "Requests pile up: the storage backend or the database is slow, or clients hold connections open."),
    Rule("storage.action_latency", "storage", ("registry_storage_action_seconds",), "Storage driver latency",
         "p99 per driver action > 2 s → warn",
         quantile_above("registry_storage_action_seconds", 0.99, 2.0, "storage action latency", ("driver", "action")),
         _STORAGE_REMEDY),
    Rule("storage.cache_errors", "storage", ("registry_storage_cache_total",), "Blob descriptor cache errors",
         'cache_total{type="Error"} > 0 → warn',
         counter_above("registry_storage_cache_total", "cache errors", Status.WARN, {"type": "Error"}),
         "The blob descriptor cache (redis) fails: check `redis` in config.yml and the Redis server."),
    Rule("storage.cache_misses", "storage", ("registry_storage_cache_total",), "Blob descriptor cache misses",
         'Miss / Request ≥ 50 % → warn (100+ requests)',
         ratio_above(("registry_storage_cache_total", {"type": "Miss"}), ("registry_storage_cache_total",
                                                                          {"type": "Request"}),
                     "misses", warn=0.5, min_den=100),
         "A cold or too small cache sends every lookup to storage: use redis for `storage.cache.blobdescriptor` "
         "with several registry instances."),
    # runtime
    Rule("runtime.goroutines", "runtime", ("go_goroutines",), "Goroutines", "go_goroutines > 10000 → warn",
         gauge_above("go_goroutines", 10000.0, "goroutines", Status.WARN),
         "A goroutine leak or a pile-up of slow requests: take a dump with "
         "`curl 'localhost:5001/debug/pprof/goroutine?debug=1'` on the registry host before restarting it."),
    Rule("runtime.file_descriptors", "runtime", ("process_open_fds", "process_max_fds"), "File descriptors",
         "open_fds / max_fds > 80 % → warn", _file_descriptors,
         "Raise the registry's open-files limit (`LimitNOFILE`, container ulimit) and look for leaked connections."),
)

RULES_BY_ID = {r.id: r for r in RULES}


def rules_for(family: str) -> list[str]:
    """Ids of the rules that read a family (for the catalogue table)."""
    return [r.id for r in RULES if family in r.families]


# ---------------------------------------------------------------------------------------------- checks


def _view(metrics: Metrics | View | None) -> View | None:
    if isinstance(metrics, View) or metrics is None:
        return metrics
    return metrics.view


def evaluate_rules(metrics: Metrics | View | None, lifetime_only: bool = False) -> tuple[list[Finding], list[dict[str, str]]]:
    """Every rule whose families are present, as findings; and the rules not evaluated, with the reason."""
    view = _view(metrics)
    if lifetime_only and view is not None and view.first is not None:
        view = View(view.last)
    found: list[Finding] = []
    skipped: list[dict[str, str]] = []
    for rule in RULES:
        if view is None:
            skipped.append({"rule": rule.id, "why": "no metrics were read"})
            continue
        missing = [f for f in rule.families if not view.has(f)]
        if missing:
            spec = CATALOGUE.get(missing[0])
            skipped.append({"rule": rule.id, "why": f"{missing[0]} absent: {spec.why_absent if spec else 'not emitted'}"})
            continue
        if rule.needs_window and not view.has_window:
            skipped.append({"rule": rule.id, "why": "needs two scrapes (interval > 0)"})
            continue
        try:
            out = rule.evaluate(view)
        except Exception as exc:  # a rule must never take the notebook down: say it could not judge
            found.append(Finding(f"metrics.{rule.id}", Status.ERROR, f"{rule.title}: could not be evaluated",
                                 detail=f"{type(exc).__name__}: {exc}", evidence={"families": list(rule.families)},
                                 refs=(_SEED_SECTION[rule.group],)))
            continue
        found.append(Finding(f"metrics.{rule.id}", out.status, f"{rule.title}: {out.summary}",
                             detail=f"{out.detail} Rule: {rule.checks}.", evidence=out.evidence,
                             remedy=rule.remedy if out.status is not Status.OK else "", refs=(_SEED_SECTION[rule.group],)))
    return found, skipped


def check_metric_rules(metrics: Metrics | View | None) -> Findings:
    """Every health rule whose families the registry emits, plus one skip finding listing the rules that
    could not be evaluated and why (GitLab-fork-only families on an upstream registry, one scrape only, ...)."""
    found, skipped = evaluate_rules(metrics)
    out = Findings(found)
    if skipped:
        reasons: dict[str, list[str]] = {}
        for s in skipped:
            reasons.setdefault(s["why"], []).append(s["rule"])
        out.append(Finding("metrics.rules.not_evaluated", Status.SKIP,
                           f"{len(skipped)} of {len(RULES)} rules not evaluated",
                           detail=f"{len(found)} rule(s) evaluated; the others need families this endpoint does not expose "
                           "(listed with the reason) or a second scrape.",
                           evidence={"by_reason": reasons}, refs=(SEED_METRICS,)))
    return out


def check_catalogue_coverage(metrics: Metrics | View | None) -> Findings:
    """Which catalogued families the endpoint exposes, which it lacks (and why), and which it exposes that
    the catalogue does not know."""
    view = _view(metrics)
    if view is None:
        return Findings([Finding("metrics.catalogue.not_read", Status.SKIP, "Catalogue not compared: no metrics",
                                 detail="No snapshot was read (see the findings above).", refs=(SEED_METRICS,))])
    names = set(view.last.families)
    seed = seed_families()
    seed_present = [s.name for s in seed if s.name in names]
    upstream = [s for s in CATALOGUE.values() if s.source == "upstream"]
    absent: dict[str, list[str]] = {}
    for s in CATALOGUE.values():
        if s.name not in names and s.source != "runtime":
            absent.setdefault(s.why_absent, []).append(s.name)
    unknown = sorted(n for n in names if n not in CATALOGUE and not n.startswith(RUNTIME_PREFIXES))
    by_group = {GROUPS[g]: sum(1 for s in CATALOGUE.values() if s.group == g and s.name in names) for g in GROUPS}
    if seed_present:
        flavour = "GitLab's registry fork (it exposes families of GitLab's documented tables)"
    elif any(s.name in names for s in upstream):
        flavour = ("upstream Docker Distribution, or GitLab's fork with none of its optional features used yet: "
                   "GitLab's documented tables describe GitLab's fork, so their families are absent here")
    else:
        flavour = "unknown (no registry family at all)"
    detail = (f"{len(seed_present)} of {len(seed)} families of GitLab's documented tables present, "
              f"{sum(1 for s in upstream if s.name in names)} of {len(upstream)} upstream families; "
              f"registry looks like {flavour}. {len(unknown)} family(ies) not in the catalogue"
              + (f": {', '.join(unknown[:8])}{' …' if len(unknown) > 8 else ''}." if unknown else "."))
    status = Status.OK if any(n.startswith("registry_") for n in names) else Status.WARN
    return Findings([Finding("metrics.catalogue.coverage", status, "Metric catalogue coverage", detail=detail,
                             evidence={"present_by_group": by_group, "absent_by_reason": absent, "not_in_catalogue": unknown},
                             remedy="" if status is Status.OK else "Point `debug_url` at the registry's debug server.",
                             refs=(SEED_METRICS,))])


def check_metrics_verdict(client: httpx.Client, debug_url: str, metrics_path: str = "/metrics") -> list[Finding]:
    """Triage's short verdict: one scrape, every rule judged since the registry started, one finding.

    Quiet (skip) when there is no debug_url, the debug server is unreachable (the health step says so) or
    metrics are off; warn/fail with the tripped rules otherwise.
    """
    refs = (SEED_METRICS,)
    if not debug_url:
        return [Finding("metrics.verdict.not_configured", Status.SKIP, "Metrics not read: no debug_url",
                        detail="Give `debug_url` to add the registry's own metrics to triage.", remedy=ENABLE_REMEDY, refs=refs)]
    snap, problems = scrape(client, debug_url, metrics_path)
    if snap is None:
        p = problems[0]
        if p.id in ("metrics.unreachable", "metrics.not_found"):
            return [Finding("metrics.verdict.unavailable", Status.SKIP, "Metrics not read: " + p.title, detail=p.detail,
                            evidence=p.evidence, remedy=p.remedy, refs=refs)]
        return list(problems)
    found, skipped = evaluate_rules(View(snap))
    tripped = [f for f in found if f.status in (Status.WARN, Status.FAIL, Status.ERROR)]
    worst = max((f.status for f in tripped), key=lambda s: s.severity, default=Status.OK)
    evidence = {"rules_evaluated": len(found), "rules_not_evaluated": len(skipped),
                "tripped": {f.id: {"status": f.status.value, "title": f.title} for f in tripped}}
    if not tripped:
        return [Finding("metrics.verdict", Status.OK, f"Metrics: {len(found)} health rules pass",
                        detail=f"{len(found)} rule(s) judged on {snap.source} since the registry started; none tripped.",
                        evidence=evidence, refs=refs)]
    names = "; ".join(f.title for f in tripped[:4])
    return [Finding("metrics.verdict", worst, f"Metrics: {len(tripped)} health rule(s) tripped",
                    detail=f"{names}{' …' if len(tripped) > 4 else ''}. Run `debug-server-metrics` for rates, quantiles and "
                    "plots.", evidence=evidence, remedy="See the `debug-server-metrics` runbook.", refs=refs)] + problems
