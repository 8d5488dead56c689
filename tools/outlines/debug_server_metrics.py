"""Notebook outline: debug-server-metrics."""

SCENARIO = 'debug-server-metrics'

OUTLINE = dict(
    intro="""
**Symptom:** the registry is slow, answers 503, or misbehaves without a clear error, and you want its own
account: health checks, memory, request rates, error ratios, latencies, storage calls, and (on GitLab's
fork) notifications, database load balancing, background migrations and online GC.

It covers two sections: "Enable the Registry debug server" (`/debug/health`, `/debug/vars`, and the warning that
the endpoint exposes sensitive data) and "Prometheus metrics" (every table: notifications, batched background
migrations, database, garbage collection, storage). Metrics come from the debug server's Prometheus endpoint
(two scrapes `interval` seconds apart give rates) or from a Prometheus server (`prometheus_url`) that scrapes
it. Every family of GitLab's documented tables is in `runbooklib.metrics.catalogue`, with health rules where a value
signals trouble.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.probes.debug_server import (check_debug_config, check_debug_exposure, check_debug_health,
                                            check_debug_vars, check_pprof)
from runbooklib.metrics import (collect_metrics, check_catalogue_coverage, check_metric_rules, plot_requests,
                                request_table, plot_latency, latency_table, plot_storage_actions,
                                storage_action_table, plot_gitlab_families, catalogue_table)
""",
    steps=[
        ("""
## 1. Configuration
The registry's `config.yml` (or Helm values) and `gitlab.rb`, for the debug address (`http.debug.addr`,
`registry['debug_addr']`) and the Prometheus switch and path (`http.debug.prometheus`, `registry['debug']`).
""", 'rb.read_configs("registry", "gitlab_rb")'),
        ("""
## 2. Is the debug server configured, and where?
The configured address and metrics path, compared with `debug_url` and `metrics_path` (a wrong port or path
explains a failing scrape); config.yml and gitlab.rb must agree on Omnibus.
""", "rb.add(check_debug_config(rb.cfg.registry, rb.cfg.gitlab_rb, rb.p.debug_url, rb.p.metrics_path))"),
        ("""
## 3. Is it exposed beyond loopback? (security)
GitLab's documentation: *sensitive information may be available from the debug endpoint; access must be locked down*.
An address of `0.0.0.0`, `:5001` or a network address in the config, or an answer on one of this host's
non-loopback addresses, means anyone who reaches the host can read `/debug/vars`, `/debug/pprof` and
`/metrics`.
""", "rb.add(check_debug_exposure(rb.http, rb.p.debug_url, rb.cfg.registry, rb.cfg.gitlab_rb))"),
        ("""
## 4. Health checks
`/debug/health` answers `{}` when healthy; otherwise it names each failing check. A failing storage driver
check is quoted with the driver's own error and its likely cause: while it fails, every `/v2/` request
answers 503 `UNAVAILABLE`.
""", "rb.add(check_debug_health(rb.http, rb.p.debug_url))"),
        ("""
## 5. /debug/vars
The expvar page: the process's memory and GC, its command line, and (on upstream registries, which have no
notification metrics) each notification endpoint's queue, failures and errors. Endpoint headers carry
secrets and are never shown.
""", "rb.add(check_debug_vars(rb.http, rb.p.debug_url))"),
        ("""
## 6. /debug/pprof
Whether profiles are served, and how many goroutines run right now (a number that keeps growing between
runs is a leak).
""", "rb.add(check_pprof(rb.http, rb.p.debug_url))"),
        ("""
## 7. Read the metrics
From Prometheus when `prometheus_url` is given (instant queries at now − `interval` and now, plus an hour of
request rates), else two scrapes of `debug_url` + `metrics_path`, `interval` seconds apart. An HTML page,
garbage, a cut-off body, a 404 (metrics off) or a Prometheus error is named here.
""", "m = collect_metrics(rb.http, rb.p.debug_url, rb.p.metrics_path, rb.p.prometheus_url, rb.p.interval)\nrb.add(m.findings)"),
        ("""
## 8. What this endpoint exposes
Families of the catalogue present and absent (with the reason: GitLab-fork only, database off, no
notifications configured, no traffic yet), and families the catalogue does not know.
""", "rb.add(check_catalogue_coverage(m))"),
        ("""
## 9. Health rules
Each rule whose families are present: notification events lost or dropped, failures, a growing queue;
replicas quarantined or lagging; pending migrations; background migrations failed or stalled; GC errors and
postpones; storage rate limits, retries, cache and CDN misses; 5xx ratio and latency by handler; slow
storage actions; goroutines and file descriptors. The rule's threshold is in each finding's detail.
""", "rb.add(check_metric_rules(m))"),
        ("""
## 10. Requests and errors by handler
Request rate (over the scrape window, or since start when the window was idle) split by status class, and
the error ratio per handler. 401s on `base` are the normal token challenge.
""", "plot_requests(m)"),
        ("""
The same numbers as a table.
""", "request_table(m)"),
        ("""
## 11. Latency by handler
p50/p95/p99 computed from the `registry_http_request_duration_seconds` buckets with linear interpolation
inside the bucket, as Prometheus' `histogram_quantile` does.
""", "plot_latency(m)"),
        ("""
The quantiles per handler, slowest p99 first.
""", "latency_table(m)"),
        ("""
## 12. Storage driver actions
`registry_storage_action_seconds` per driver action: slow `Stat`/`GetContent` calls make every request slow.
""", "plot_storage_actions(m)"),
        ("""
The slowest storage actions.
""", "storage_action_table(m)"),
        ("""
## 13. GitLab fork families
Notifications, background migrations, database load balancing, online GC and storage middleware, when the
registry exposes them.
""", "plot_gitlab_families(m)"),
        ("""
## 14. The whole catalogue
Every family of GitLab's documented tables and the upstream ones: type, labels, meaning, whether it is present here
and which rules read it.
""", "catalogue_table(m)"),
    ],
)
