"""Write the GitLab-fork metric fixtures: two scrapes 30 s apart of a registry whose values trip every rule
(``gitlab-fork-tripped-{1,2}.prom``) and of a healthy one (``gitlab-fork-healthy-{1,2}.prom``).

Names, types, labels, label values and buckets follow the seed's tables ("Prometheus metrics"), through
the catalogue (which tests/test_metrics_catalogue.py checks against the seed itself); the upstream
Distribution families and the Go runtime gauges the fork also emits are included. Only the values are
invented, each chosen to sit clearly on one side of a rule's threshold.

Run: python tests/data/metrics/make_fixtures.py (the files are committed; a test checks they are current).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

from runbooklib.metrics.catalogue import CATALOGUE, DEFAULT_BUCKETS  # noqa: E402

SIZE_BUCKETS = tuple(float(1024 * 2 ** i) for i in range(22))  # Distribution's request/response size buckets
EP = "gitlab-rails"


def _fmt(v: float) -> str:
    if v == math.inf:
        return "+Inf"
    if float(v).is_integer() and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{str(v)}"' for k, v in labels.items())
    return "{" + inner + "}"


class Exposition:
    """Lines grouped by family, as the text format requires (HELP and TYPE once, then every sample)."""

    def __init__(self) -> None:
        self.families: dict[str, list[str]] = {}

    def head(self, name: str) -> list[str]:
        if name not in self.families:
            spec = CATALOGUE[name]
            self.families[name] = [f"# HELP {name} {spec.meaning}", f"# TYPE {name} {spec.type}"]
        return self.families[name]

    def value(self, name: str, labels: dict[str, str], v: float) -> None:
        self.head(name).append(f"{name}{_labels(labels)} {_fmt(v)}")

    def hist(self, name: str, labels: dict[str, str], observations: list[tuple[float, float]],
             buckets: tuple[float, ...] | None = None) -> None:
        """``observations``: (value, how many times observed)."""
        lines = self.head(name)
        bounds = buckets or CATALOGUE[name].buckets or DEFAULT_BUCKETS
        total = sum(n for _, n in observations)
        for le in (*bounds, math.inf):
            count = sum(n for v, n in observations if v <= le)
            lines.append(f"{name}_bucket{_labels({**labels, 'le': _fmt(le)})} {_fmt(count)}")
        lines.append(f"{name}_sum{_labels(labels)} {_fmt(round(sum(v * n for v, n in observations), 6))}")
        lines.append(f"{name}_count{_labels(labels)} {_fmt(total)}")

    def text(self) -> str:
        return "\n".join(line for lines in self.families.values() for line in lines) + "\n"


def scrape(trip: bool, second: bool) -> str:
    """One exposition. ``trip``: values that trip every rule; ``second``: the scrape 30 s later."""
    e = Exposition()
    s = 1 if second else 0  # counters grow between the scrapes

    def grow(first: float, later: float) -> float:
        return later if second else first

    # --- notifications --------------------------------------------------------------------------------
    n = "registry_notifications_"
    base = {"action": "push", "artifact": "manifest", "endpoint": EP}
    if trip:
        for kind, a, b in (("Events", 1000, 1100), ("Successes", 700, 720), ("Failures", 300, 380), ("Dropped", 5, 7)):
            e.value(n + "events_total", {"type": kind, **base}, grow(a, b))
        e.value(n + "status_total", {"code": "200 OK", "endpoint": EP}, grow(700, 720))
        e.value(n + "status_total", {"code": "401 Unauthorized", "endpoint": EP}, grow(300, 380))
        e.value(n + "errors_total", {"endpoint": EP}, grow(42, 50))
        e.value(n + "delivery_total", {"endpoint": EP, "delivery_type": "delivered"}, grow(700, 720))
        e.value(n + "delivery_total", {"endpoint": EP, "delivery_type": "lost"}, grow(12, 15))
        e.value(n + "pending", {"endpoint": EP}, grow(120, 480))
        e.hist(n + "retries_count", {"endpoint": EP}, [(0, 600), (5, 300 + 50 * s), (10, 100 + 30 * s)])
        e.hist(n + "http_latency_seconds", {"endpoint": EP}, [(2.0, 700), (5.0, 300 + 80 * s)])
        e.hist(n + "total_latency_seconds", {"endpoint": EP}, [(2.0, 600), (40.0, 400 + 80 * s)])
    else:
        for kind, a, b in (("Events", 1000, 1010), ("Successes", 1000, 1010), ("Failures", 0, 0), ("Dropped", 0, 0)):
            e.value(n + "events_total", {"type": kind, **base}, grow(a, b))
        e.value(n + "status_total", {"code": "200 OK", "endpoint": EP}, grow(1000, 1010))
        e.value(n + "errors_total", {"endpoint": EP}, 0)
        e.value(n + "delivery_total", {"endpoint": EP, "delivery_type": "delivered"}, grow(1000, 1010))
        e.value(n + "delivery_total", {"endpoint": EP, "delivery_type": "lost"}, 0)
        e.value(n + "pending", {"endpoint": EP}, grow(2, 1))
        e.hist(n + "retries_count", {"endpoint": EP}, [(0, 1000 + 10 * s)])
        e.hist(n + "http_latency_seconds", {"endpoint": EP}, [(0.02, 990 + 10 * s), (0.2, 10)])
        e.hist(n + "total_latency_seconds", {"endpoint": EP}, [(0.03, 990 + 10 * s), (0.3, 10)])

    # --- batched background migrations ------------------------------------------------------------------
    mig = {"migration_name": "copy_media_types", "migration_id": "1"}
    e.value("registry_bbm_runs_total", {}, grow(100, 100) if trip else grow(100, 103))
    e.value("registry_bbm_migrated_tuples_total", mig, grow(50000, 50000) if trip else grow(50000, 52000))
    e.value("registry_bbm_job_batch_size", mig, 1000)
    progress = "registry_database_bbm_progress_percent"
    if trip:
        e.value(progress, {"migration_id": "1", "migration_name": "copy_media_types", "status": "running"}, 42)
        e.value(progress, {"migration_id": "3", "migration_name": "fix_manifest_refs", "status": "failed"}, 37)
    else:
        e.value(progress, {"migration_id": "1", "migration_name": "copy_media_types", "status": "running"},
                grow(40, 45))
    e.value(progress, {"migration_id": "2", "migration_name": "backfill_layers", "status": "finished"}, 100)
    e.hist("registry_bbm_run_duration_seconds", {}, [(3.0, 100), (20.0, 3 * s)])
    e.hist("registry_bbm_job_duration_seconds", mig, [(4.0, 50 + s)])
    e.hist("registry_bbm_query_duration_seconds", mig, [(0.7, 500 + 10 * s)])
    e.hist("registry_bbm_sleep_duration_seconds", {"worker": "bbm"}, [(10.0, 100 + s)])

    # --- database ---------------------------------------------------------------------------------------
    d = "registry_database_"
    e.value(d + "queries_total", {"name": "get_manifest"}, grow(5000, 5100))
    e.value(d + "queries_total", {"name": "list_tags"}, grow(800, 820))
    if trip:
        e.value(d + "lb_lsn_cache_hits_total", {"result": "hit"}, grow(100, 110))
        e.value(d + "lb_lsn_cache_hits_total", {"result": "miss"}, grow(900, 990))
    else:
        e.value(d + "lb_lsn_cache_hits_total", {"result": "hit"}, grow(900, 950))
        e.value(d + "lb_lsn_cache_hits_total", {"result": "miss"}, grow(100, 105))
    e.value(d + "lb_pool_events_total", {"event": "replica_added", "reason": "discovered"}, 2)
    if trip:
        e.value(d + "lb_pool_events_total", {"event": "replica_quarantined", "reason": "replication_lag"}, grow(2, 3))
        e.value(d + "lb_targets_total", {"target_type": "replica", "fallback": "false", "reason": "selected"},
                grow(1000, 1010))
        e.value(d + "lb_targets_total", {"target_type": "primary", "fallback": "true", "reason": "all_quarantined"},
                grow(400, 480))
        e.value(d + "lb_targets_total", {"target_type": "primary", "fallback": "true", "reason": "not_up_to_date"},
                grow(100, 110))
        e.value(d + "lb_pool_size", {}, 0)
        for replica in ("replica-1", "replica-2"):
            e.value(d + "lb_pool_status", {"replica": replica, "status": "online"}, 0)
            e.value(d + "lb_pool_status", {"replica": replica, "status": "quarantined"}, 1)
        e.value(d + "lb_lag_bytes", {"replica": "replica-1"}, 536870912)
        e.value(d + "lb_lag_bytes", {"replica": "replica-2"}, 1024)
        e.value(d + "migrations_total", {"migration_type": "pre_deployment"}, 152)
        e.value(d + "migrations_total", {"migration_type": "post_deployment"}, 31)
        rows = {"gc_blob_review_queue": 4000, "gc_manifest_review_queue": 900, "gc_blob_review_queue_overdue": 250,
                "gc_manifest_review_queue_overdue": 12, "applied_pre_migrations": 150, "applied_post_migrations": 30}
    else:
        e.value(d + "lb_targets_total", {"target_type": "replica", "fallback": "false", "reason": "selected"},
                grow(10000, 10500))
        e.value(d + "lb_targets_total", {"target_type": "primary", "fallback": "false", "reason": "selected"},
                grow(100, 104))
        e.value(d + "lb_pool_size", {}, 2)
        for replica in ("replica-1", "replica-2"):
            e.value(d + "lb_pool_status", {"replica": replica, "status": "online"}, 1)
            e.value(d + "lb_pool_status", {"replica": replica, "status": "quarantined"}, 0)
        e.value(d + "lb_lag_bytes", {"replica": "replica-1"}, 1024)
        e.value(d + "lb_lag_bytes", {"replica": "replica-2"}, 2048)
        e.value(d + "migrations_total", {"migration_type": "pre_deployment"}, 150)
        e.value(d + "migrations_total", {"migration_type": "post_deployment"}, 30)
        rows = {"gc_blob_review_queue": 10, "gc_manifest_review_queue": 5, "gc_blob_review_queue_overdue": 0,
                "gc_manifest_review_queue_overdue": 0, "applied_pre_migrations": 150, "applied_post_migrations": 30}
    for query, value in rows.items():
        e.value(d + "rows", {"query_name": query}, value)
    e.hist(d + "query_duration_seconds", {"name": "get_manifest"}, [(0.003, 5000 + 100 * s), (0.02, 50)])
    e.hist(d + "query_duration_seconds", {"name": "list_tags"},
           [(0.01, 700), (4.0, 100 + 20 * s)] if trip else [(0.01, 800 + 20 * s)])
    e.hist(d + "lb_lsn_cache_operation_duration_seconds", {"operation": "get", "error": "false"}, [(0.001, 1000 + 50 * s)])
    e.hist(d + "lb_lsn_cache_operation_duration_seconds", {"operation": "set", "error": "false"}, [(0.001, 300 + 5 * s)])
    e.hist(d + "lb_lookup_seconds", {"lookup_type": "srv", "error": "false"}, [(0.004, 60 + s)])
    e.hist(d + "lb_lookup_seconds", {"lookup_type": "srv", "error": "true"}, [(5.0, 7 + s)] if trip else [])
    e.hist(d + "lb_lag_seconds", {"replica": "replica-1"},
           [(0.01, 100), (45.0, 20 + 5 * s)] if trip else [(0.01, 120 + 5 * s)])
    e.hist(d + "lb_lag_seconds", {"replica": "replica-2"}, [(0.01, 120 + 5 * s)])
    e.hist(d + "row_count_collection_duration_seconds", {}, [(0.3, 60 + s)])

    # --- garbage collection -------------------------------------------------------------------------------
    g = "registry_gc_"
    for worker, event in (("blobs", ""), ("manifests", "manifest_delete")):
        ok_runs = grow(500, 510) if not trip or worker == "manifests" else grow(60, 60)
        e.value(g + "runs_total", {"worker": worker, "noop": "false", "error": "false", "dangling": "false",
                                   "event": event}, ok_runs)
        bad = grow(40, 60) if trip and worker == "blobs" else 0
        e.value(g + "runs_total", {"worker": worker, "noop": "false", "error": "true", "dangling": "false",
                                   "event": event}, bad)
        e.value(g + "postpones_total", {"worker": worker}, grow(15, 25) if trip and worker == "blobs" else 0)
        e.hist(g + "run_duration_seconds", {"worker": worker, "noop": "false", "error": "false", "dangling": "false",
                                            "event": event}, [(0.05, 500 + 10 * s)])
        e.hist(g + "sleep_duration_seconds", {"worker": worker}, [(5.0, 500 + 10 * s)])
    for backend in ("storage", "database"):
        for artifact in ("blob", "manifest"):
            e.value(g + "deletes_total", {"backend": backend, "artifact": artifact}, grow(300, 305))
            e.hist(g + "delete_duration_seconds", {"backend": backend, "artifact": artifact, "error": "false"},
                   [(0.02, 300 + 5 * s)])
    e.hist(g + "delete_duration_seconds", {"backend": "storage", "artifact": "blob", "error": "true"},
           [(0.5, 9 + s)] if trip else [])
    e.value(g + "storage_deleted_bytes_total", {"media_type": "application/vnd.oci.image.layer.v1.tar+gzip"},
            grow(3_000_000_000, 3_100_000_000))

    # --- storage (GitLab fork) ----------------------------------------------------------------------------
    st = "registry_storage_"
    if trip:
        e.value(st + "cdn_redirects_total", {"backend": "googlecdn", "bypass": "false", "bypass_reason": ""},
                grow(100, 105))
        e.value(st + "cdn_redirects_total", {"backend": "googlecdn", "bypass": "true", "bypass_reason": "ip_address"},
                grow(800, 850))
        e.value(st + "rate_limit_total", {}, grow(17, 30))
        e.value(st + "storage_backend_retries_total", {"retry_type": "native"}, grow(120, 160))
        e.value(st + "storage_backend_retries_total", {"retry_type": "custom"}, grow(3, 5))
        e.value(st + "urlcache_requests_total", {"result": "hit", "reason": ""}, grow(100, 101))
        e.value(st + "urlcache_requests_total", {"result": "miss", "reason": "not_found"}, grow(900, 960))
        e.value(st + "access_tracker_dropped_events", {}, grow(33, 40))
    else:
        e.value(st + "cdn_redirects_total", {"backend": "googlecdn", "bypass": "false", "bypass_reason": ""},
                grow(900, 950))
        e.value(st + "cdn_redirects_total", {"backend": "googlecdn", "bypass": "true", "bypass_reason": "ip_address"},
                10)
        e.value(st + "rate_limit_total", {}, 0)
        e.value(st + "storage_backend_retries_total", {"retry_type": "native"}, 0)
        e.value(st + "urlcache_requests_total", {"result": "hit", "reason": ""}, grow(950, 990))
        e.value(st + "urlcache_requests_total", {"result": "miss", "reason": "expired"}, grow(50, 52))
        e.value(st + "access_tracker_dropped_events", {}, 0)
    for top_n, value in (("1", 900), ("10", 5000), ("100", 20000), ("1000", 40000), ("10000", 45000), ("all", 46000)):
        e.value(st + "object_accesses_topn", {"top_n": top_n}, value)
    e.hist(st + "blob_download_bytes", {"redirect": "true"}, [(30_000_000, 800 + 10 * s)])
    e.hist(st + "blob_download_bytes", {"redirect": "false"}, [(800_000, 100 + s)])
    e.hist(st + "blob_upload_bytes", {}, [(50_000_000, 200 + 2 * s), (2_500_000_000, 3)])
    e.hist(st + "urlcache_object_size", {}, [(600, 1000 + 10 * s)])
    e.hist(st + "object_accesses_distribution", {}, [(15, 40000), (300, 5000), (6000, 100)])

    # --- upstream Distribution families (the fork emits them too) -----------------------------------------
    h = "registry_http_"
    requests = [("200", "manifest", "get", 1000, 1100 if not trip else 1050), ("200", "blob", "get", 500, 550),
                ("401", "base", "get", 300, 330), ("404", "blob", "head", 20, 22), ("201", "manifest", "put", 40, 44)]
    if trip:
        requests.append(("500", "manifest", "get", 100, 150))
    for code, handler, method, a, b in requests:
        e.value(h + "requests_total", {"code": code, "handler": handler, "method": method}, grow(a, b))
    manifest_obs = [(0.02, 1000), (8.0, 100 + 50 * s)] if trip else [(0.02, 1000 + 100 * s), (0.2, 5)]
    for handler, method, obs in (("manifest", "get", manifest_obs), ("blob", "get", [(0.5, 500 + 50 * s)]),
                                 ("base", "get", [(0.002, 300 + 30 * s)]), ("blob", "head", [(0.01, 20 + 2 * s)]),
                                 ("manifest", "put", [(0.05, 40 + 4 * s)])):
        e.hist(h + "request_duration_seconds", {"handler": handler, "method": method}, obs)
    for handler in ("manifest", "blob", "base"):
        e.hist(h + "request_size_bytes", {"handler": handler}, [(0.0, 100 + 10 * s)], SIZE_BUCKETS)
        e.hist(h + "response_size_bytes", {"handler": handler}, [(2048.0, 100 + 10 * s)], SIZE_BUCKETS)
        e.value(h + "in_flight_requests", {"handler": handler}, 250 if trip and handler == "manifest" else 1)
    for action in ("Stat", "GetContent", "PutContent", "Reader", "List"):
        slow = trip and action == "Stat"
        e.hist("registry_storage_action_seconds", {"action": action, "driver": "s3aws"},
               [(0.01, 1000), (5.0, 80 + 20 * s)] if slow else [(0.01, 1000 + 50 * s)])
    cache = ({"Request": (1000, 1100), "Hit": (100, 105), "Miss": (900, 995), "Error": (12, 15)} if trip else
             {"Request": (1000, 1100), "Hit": (900, 990), "Miss": (100, 110), "Error": (0, 0)})
    for kind, (a, b) in cache.items():
        e.value(st + "cache_total", {"type": kind}, grow(a, b))

    # --- Go runtime ---------------------------------------------------------------------------------------
    e.value("go_goroutines", {}, 25000 if trip else 150)
    e.value("go_memstats_heap_alloc_bytes", {}, 2.5e9 if trip else 8.0e7)
    e.value("process_resident_memory_bytes", {}, 3.0e9 if trip else 1.2e8)
    e.value("process_open_fds", {}, 1000 if trip else 80)
    e.value("process_max_fds", {}, 1024)
    return e.text()


FILES = {
    "gitlab-fork-tripped-1.prom": (True, False),
    "gitlab-fork-tripped-2.prom": (True, True),
    "gitlab-fork-healthy-1.prom": (False, False),
    "gitlab-fork-healthy-2.prom": (False, True),
}


def main() -> None:
    for name, (trip, second) in FILES.items():
        (HERE / name).write_text(scrape(trip, second))
        print(f"wrote {name}")


if __name__ == "__main__":
    main()
