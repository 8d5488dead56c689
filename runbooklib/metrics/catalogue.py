"""The metric catalogue: every family of GitLab's documented Prometheus tables, plus the upstream Distribution families.

Data, not code: each :class:`MetricSpec` says what a family is (type, labels, label values, buckets), what it
means, which group of GitLab's documented page it belongs to, which registry emits it and when. The health rules that
read these families live in :mod:`runbooklib.metrics.rules` and name the families they need, so a table of
the catalogue can show which rule watches which family.

Sources: ``gitlab`` = GitLab's registry fork only (GitLab's documented tables); ``upstream`` = Docker Distribution
2.x families, also emitted by the fork; ``runtime`` = the Go client library's process and runtime families.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

SEED_METRICS = "Prometheus metrics"

DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
NOTIFY_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0)
BBM_DURATION = (0.5, 1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0, 1800.0, 3600.0)
SLEEP_DURATION = (0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 600.0, 900.0, 1800.0, 3600.0, 7200.0, 10800.0,
                  21600.0, 43200.0, 86400.0)
_GIB = 1073741824
BLOB_BYTES = (524288.0, 1048576.0, 67108864.0, 134217728.0, 268435456.0, 536870912.0) + tuple(
    float(n * _GIB) for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 20, 30, 40, 50))
UPSTREAM_HTTP_DURATION = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 60.0)

GROUPS = {
    "notifications": "Notifications",
    "bbm": "Batched background migrations (BBM)",
    "database": "Database",
    "gc": "Garbage collection (GC)",
    "storage": "Storage",
    "http": "HTTP (upstream Distribution)",
    "runtime": "Go runtime and process",
}

# Why a family may be missing from an endpoint, by condition key (shown when the catalogue expects a family
# that the endpoint lacks).
CONDITIONS = {
    "gitlab": "GitLab's registry fork only: an upstream Docker Distribution registry (like the lab's 2.8) never emits it",
    "notifications": "GitLab's fork with `notifications.endpoints` configured (upstream 2.8 counts notifications "
                     "only in /debug/vars)",
    "database": "GitLab's fork with the metadata database on (`database.enabled: true`)",
    "loadbalancing": "GitLab's fork with database load balancing on (`database.loadbalancing.enabled: true`)",
    "bbm": "GitLab's fork with the metadata database and its batched background migrations running",
    "gc": "GitLab's fork with the metadata database (online garbage collection workers)",
    "cdn": "GitLab's fork with a CDN storage middleware (`middleware.storage: googlecdn`)",
    "urlcache": "GitLab's fork with the URL cache middleware (redis cache configured)",
    "access_tracker": "GitLab's fork with object access tracking enabled",
    "rate_limit": "GitLab's fork, after the storage backend first answered with a rate limit (429/503 SlowDown)",
    "retries": "GitLab's fork, after its first retried storage request",
    "blob_bytes": "GitLab's fork, after the first blob upload or download",
    "cache": "`storage.cache.blobdescriptor` configured (inmemory or redis); Omnibus and the chart set it",
    "traffic": "emitted after the first request of its kind: an idle registry has none",
    "runtime": "every registry built with the Go Prometheus client",
}


@dataclass(frozen=True)
class MetricSpec:
    """One metric family: what the registry emits and what it means."""

    name: str
    type: str  # counter | gauge | histogram
    group: str
    meaning: str
    labels: tuple[str, ...] = ()
    label_values: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    buckets: tuple[float, ...] = ()
    source: str = "gitlab"  # gitlab | upstream | runtime
    condition: str = "gitlab"  # a CONDITIONS key: when the family is emitted

    @property
    def why_absent(self) -> str:
        return CONDITIONS.get(self.condition, self.condition)


def _m(name: str, type_: str, group: str, meaning: str, labels: tuple[str, ...] = (),
       values: dict[str, tuple[str, ...]] | None = None, buckets: tuple[float, ...] = (),
       source: str = "gitlab", condition: str = "gitlab") -> MetricSpec:
    return MetricSpec(name, type_, group, meaning, labels, MappingProxyType(dict(values or {})), buckets, source,
                      condition)


_SPECS: tuple[MetricSpec, ...] = (
    # --- Notifications (seed: "Notifications Metrics") ---------------------------------------------------
    _m("registry_notifications_events_total", "counter", "notifications", "The total number of events.",
       ("type", "action", "artifact", "endpoint"), {"type": ("Successes", "Failures", "Events", "Dropped")},
       condition="notifications"),
    _m("registry_notifications_status_total", "counter", "notifications",
       "The number of HTTP responses per status code received from the notifications endpoint.",
       ("code", "endpoint"), {"code": ("200 OK", "404 Not Found")}, condition="notifications"),
    _m("registry_notifications_errors_total", "counter", "notifications",
       "The number of events that errored during sending. Sending requests might be retried.", ("endpoint",),
       condition="notifications"),
    _m("registry_notifications_delivery_total", "counter", "notifications",
       "The number of events delivered or lost. An event is lost once the number of retries is exhausted.",
       ("endpoint", "delivery_type"), {"delivery_type": ("delivered", "lost")}, condition="notifications"),
    _m("registry_notifications_pending", "gauge", "notifications",
       "The gauge of pending events in queue, represented by queue length.", ("endpoint",),
       condition="notifications"),
    _m("registry_notifications_retries_count", "histogram", "notifications",
       "The histogram of cumulative delivery retries.", ("endpoint",),
       buckets=(0.0, 1.0, 2.0, 3.0, 5.0, 10.0, 15.0, 20.0, 30.0, 50.0), condition="notifications"),
    _m("registry_notifications_http_latency_seconds", "histogram", "notifications",
       "The histogram of HTTP delivery latency.", ("endpoint",), buckets=NOTIFY_LATENCY, condition="notifications"),
    _m("registry_notifications_total_latency_seconds", "histogram", "notifications",
       "The histogram of total delivery latency.", ("endpoint",), buckets=NOTIFY_LATENCY, condition="notifications"),
    # --- Batched background migrations (seed: "Batched background migration (BBM) metrics") --------------
    _m("registry_bbm_runs_total", "counter", "bbm", "A counter for batched migration worker runs.", condition="bbm"),
    _m("registry_bbm_migrated_tuples_total", "counter", "bbm",
       "A counter for total batched migration records migrated.", ("migration_name", "migration_id"),
       condition="bbm"),
    _m("registry_bbm_job_batch_size", "gauge", "bbm", "A gauge for the batch size of a batched migration job.",
       ("migration_name", "migration_id"), condition="bbm"),
    _m("registry_database_bbm_progress_percent", "gauge", "bbm",
       "Background migration progress percentage (0-100).", ("migration_id", "migration_name", "status"),
       condition="bbm"),
    _m("registry_bbm_run_duration_seconds", "histogram", "bbm",
       "A histogram of latencies for batched migration worker runs.", buckets=BBM_DURATION, condition="bbm"),
    _m("registry_bbm_job_duration_seconds", "histogram", "bbm",
       "A histogram of latencies for a batched migration job.", ("migration_name", "migration_id"),
       buckets=BBM_DURATION, condition="bbm"),
    _m("registry_bbm_query_duration_seconds", "histogram", "bbm",
       "A histogram of latencies for batched migration database queries.", ("migration_name", "migration_id"),
       buckets=BBM_DURATION, condition="bbm"),
    _m("registry_bbm_sleep_duration_seconds", "histogram", "bbm",
       "A histogram of sleep durations between BBM worker runs.", ("worker",), buckets=SLEEP_DURATION,
       condition="bbm"),
    # --- Database (seed: "Database metrics") -------------------------------------------------------------
    _m("registry_database_queries_total", "counter", "database", "A counter for database queries.", ("name",),
       condition="database"),
    _m("registry_database_lb_lsn_cache_hits_total", "counter", "database",
       "A counter for database load balancing LSN cache hits and misses.", ("result",),
       {"result": ("hit", "miss")}, condition="loadbalancing"),
    _m("registry_database_lb_pool_events_total", "counter", "database",
       "A counter of replicas added or removed from the database load balancer pool.", ("event", "reason"),
       {"event": ("replica_added", "replica_removed", "replica_quarantined", "replica_reintegrated"),
        "reason": ("replication_lag", "connectivity", "removed_from_dns", "discovered")}, condition="loadbalancing"),
    _m("registry_database_lb_targets_total", "counter", "database",
       "A counter for primary and replica target elections during database load balancing.",
       ("target_type", "fallback", "reason"),
       {"target_type": ("primary", "replica"), "fallback": ("true", "false"),
        "reason": ("selected", "no_cache", "no_replica", "error", "not_up_to_date", "all_quarantined")},
       condition="loadbalancing"),
    _m("registry_database_lb_pool_size", "gauge", "database",
       "A gauge for the current number of replicas in the load balancer pool.", condition="loadbalancing"),
    _m("registry_database_lb_pool_status", "gauge", "database",
       "A gauge for the current status of each replica in the load balancer pool.", ("replica", "status"),
       {"status": ("online", "quarantined")}, condition="loadbalancing"),
    _m("registry_database_lb_lag_bytes", "gauge", "database",
       "A gauge for the replication lag in bytes for each replica.", ("replica",), condition="loadbalancing"),
    _m("registry_database_migrations_total", "gauge", "database",
       "A gauge for the total number of database migrations (applied + pending)", ("migration_type",),
       {"migration_type": ("pre_deployment", "post_deployment")}, condition="database"),
    _m("registry_database_rows", "gauge", "database",
       "A gauge for the number of rows in database tables defined by the `query_name` label.", ("query_name",),
       {"query_name": ("gc_blob_review_queue", "gc_manifest_review_queue", "gc_blob_review_queue_overdue",
                       "gc_manifest_review_queue_overdue", "applied_pre_migrations", "applied_post_migrations")},
       condition="database"),
    _m("registry_database_query_duration_seconds", "histogram", "database",
       "A histogram of latencies for database queries.", ("name",), buckets=DEFAULT_BUCKETS, condition="database"),
    _m("registry_database_lb_lsn_cache_operation_duration_seconds", "histogram", "database",
       "A histogram of latencies for database load balancing LSN cache operations.", ("operation", "error"),
       {"operation": ("set", "get"), "error": ("true", "false")}, DEFAULT_BUCKETS, condition="loadbalancing"),
    _m("registry_database_lb_lookup_seconds", "histogram", "database",
       "A histogram of latencies for database load balancing DNS lookups.", ("lookup_type", "error"),
       {"lookup_type": ("srv", "host"), "error": ("true", "false")}, DEFAULT_BUCKETS, condition="loadbalancing"),
    _m("registry_database_lb_lag_seconds", "histogram", "database",
       "A histogram of replication lag in seconds for each replica.", ("replica",),
       buckets=(0.001, 0.01, 0.1, 0.5, 1.0, 5.0, 10.0, 20.0, 30.0, 60.0), condition="loadbalancing"),
    _m("registry_database_row_count_collection_duration_seconds", "histogram", "database",
       "A histogram of total duration for collecting all database row count queries in a single run.",
       buckets=(0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0), condition="database"),
    # --- Garbage collection (seed: "Garbage collection (GC) metrics") ------------------------------------
    _m("registry_gc_runs_total", "counter", "gc", "A counter for online GC worker runs.",
       ("worker", "noop", "error", "dangling", "event"),
       {"noop": ("true", "false"), "error": ("true", "false"), "dangling": ("true", "false")}, condition="gc"),
    _m("registry_gc_deletes_total", "counter", "gc", "A counter of artifacts deleted during online GC.",
       ("backend", "artifact"), {"backend": ("storage", "database"), "artifact": ("blob", "manifest")},
       condition="gc"),
    _m("registry_gc_storage_deleted_bytes_total", "counter", "gc",
       "A counter for bytes deleted from storage during online GC.", ("media_type",), condition="gc"),
    _m("registry_gc_postpones_total", "counter", "gc", "A counter for online GC review postpones.", ("worker",),
       condition="gc"),
    _m("registry_gc_run_duration_seconds", "histogram", "gc", "A histogram of latencies for online GC worker runs.",
       ("worker", "noop", "error", "dangling", "event"),
       {"noop": ("true", "false"), "error": ("true", "false"), "dangling": ("true", "false")}, DEFAULT_BUCKETS,
       condition="gc"),
    _m("registry_gc_delete_duration_seconds", "histogram", "gc",
       "A histogram of latencies for artifact deletions during online GC.", ("backend", "artifact", "error"),
       {"backend": ("storage", "database"), "artifact": ("blob", "manifest"), "error": ("true", "false")},
       DEFAULT_BUCKETS, condition="gc"),
    _m("registry_gc_sleep_duration_seconds", "histogram", "gc",
       "A histogram of sleep durations between online GC worker runs.", ("worker",), buckets=SLEEP_DURATION,
       condition="gc"),
    # --- Storage (seed: "Storage metrics") ---------------------------------------------------------------
    _m("registry_storage_cdn_redirects_total", "counter", "storage",
       "A counter of CDN redirections for blob downloads.", ("backend", "bypass", "bypass_reason"),
       {"bypass": ("true", "false")}, condition="cdn"),
    _m("registry_storage_rate_limit_total", "counter", "storage",
       "A counter of requests to the storage driver that hit a rate limit.", condition="rate_limit"),
    _m("registry_storage_storage_backend_retries_total", "counter", "storage",
       "A counter of retires made while communicating with storage backend.", ("retry_type",),
       {"retry_type": ("native", "custom")}, condition="retries"),
    _m("registry_storage_urlcache_requests_total", "counter", "storage",
       "A counter of the URL cache middleware requests.", ("result", "reason"), {"result": ("hit", "miss")},
       condition="urlcache"),
    _m("registry_storage_access_tracker_dropped_events", "counter", "storage",
       "A counter of dropped events in the access tracker due to timeout.", condition="access_tracker"),
    _m("registry_storage_object_accesses_topn", "gauge", "storage",
       "Total accesses for top N most frequently accessed objects.", ("top_n",),
       {"top_n": ("1", "10", "100", "1000", "10000", "all")}, condition="access_tracker"),
    _m("registry_storage_blob_download_bytes", "histogram", "storage",
       "A histogram of blob download sizes for the storage backend.", ("redirect",),
       {"redirect": ("true", "false")}, BLOB_BYTES, condition="blob_bytes"),
    _m("registry_storage_blob_upload_bytes", "histogram", "storage",
       "A histogram of new blob upload bytes for the storage backend.", buckets=BLOB_BYTES, condition="blob_bytes"),
    _m("registry_storage_urlcache_object_size", "histogram", "storage", "A histogram of object sizes in the URL cache.",
       buckets=(100.0, 250.0, 500.0, 750.0, 1000.0, 1500.0, 2048.0, 3072.0, 5120.0, 10240.0), condition="urlcache"),
    _m("registry_storage_object_accesses_distribution", "histogram", "storage",
       "Distribution of access counts across all objects.",
       buckets=(10.0, 20.0, 40.0, 80.0, 160.0, 320.0, 640.0, 1280.0, 2560.0, 5120.0, 10240.0),
       condition="access_tracker"),
    # --- Upstream Docker Distribution (2.x) families, also in the fork -----------------------------------
    _m("registry_http_requests_total", "counter", "http",
       "Requests served, by route handler, method and status code.", ("code", "handler", "method"),
       source="upstream", condition="traffic"),
    _m("registry_http_request_duration_seconds", "histogram", "http",
       "Request latency by route handler and method (time to the last byte written).", ("handler", "method"),
       buckets=UPSTREAM_HTTP_DURATION, source="upstream", condition="traffic"),
    _m("registry_http_request_size_bytes", "histogram", "http", "Request body sizes by route handler.",
       ("handler",), source="upstream", condition="traffic"),
    _m("registry_http_response_size_bytes", "histogram", "http", "Response body sizes by route handler.",
       ("handler",), source="upstream", condition="traffic"),
    _m("registry_http_in_flight_requests", "gauge", "http", "Requests being served now, by route handler.",
       ("handler",), source="upstream", condition="traffic"),
    _m("registry_storage_action_seconds", "histogram", "storage",
       "Storage driver call latency by driver and action (Stat, GetContent, PutContent, List, Move, Delete, ...).",
       ("driver", "action"), buckets=DEFAULT_BUCKETS, source="upstream", condition="traffic"),
    _m("registry_storage_cache_total", "counter", "storage",
       "Blob descriptor cache lookups by outcome (Request, Hit, Miss, Error).", ("type",),
       {"type": ("Request", "Hit", "Miss", "Error")}, source="upstream", condition="cache"),
    # --- Go runtime / process (client_golang) -----------------------------------------------------------
    _m("go_goroutines", "gauge", "runtime", "Goroutines that currently exist (a leak grows without bound).",
       source="runtime", condition="runtime"),
    _m("go_memstats_heap_alloc_bytes", "gauge", "runtime", "Heap bytes allocated and still in use.",
       source="runtime", condition="runtime"),
    _m("process_resident_memory_bytes", "gauge", "runtime", "Resident memory of the registry process.",
       source="runtime", condition="runtime"),
    _m("process_open_fds", "gauge", "runtime", "Open file descriptors (sockets included).", source="runtime",
       condition="runtime"),
    _m("process_max_fds", "gauge", "runtime", "The file descriptor limit of the process.", source="runtime",
       condition="runtime"),
)

CATALOGUE: Mapping[str, MetricSpec] = MappingProxyType({s.name: s for s in _SPECS})

# Families of the client library that need no catalogue entry each: never listed as uncatalogued.
RUNTIME_PREFIXES = ("go_", "process_", "promhttp_")


def spec(name: str) -> MetricSpec | None:
    """The catalogue entry of a family name as written in an exposition (``_total`` optional for counters)."""
    return CATALOGUE.get(name) or CATALOGUE.get(name + "_total")


def canonical_name(name: str, type_: str) -> str:
    """The catalogue's spelling of a parsed family: the text parser drops a counter's ``_total`` suffix."""
    if type_ == "counter" and name + "_total" in CATALOGUE:
        return name + "_total"
    if name in CATALOGUE:
        return name
    return name + "_total" if type_ == "counter" and not name.endswith("_total") else name


def seed_families() -> list[MetricSpec]:
    """The families of GitLab's documented tables (GitLab's fork)."""
    return [s for s in _SPECS if s.source == "gitlab"]


def catalogue_frame():
    """The catalogue as a DataFrame (one row per family)."""
    import pandas as pd

    rows = [{"family": s.name, "type": s.type, "group": GROUPS[s.group], "source": s.source,
             "labels": ", ".join(s.labels), "buckets": len(s.buckets) or "", "meaning": s.meaning}
            for s in _SPECS]
    return pd.DataFrame(rows)
