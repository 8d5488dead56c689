"""The registry's Prometheus metrics: scrape or query them, judge them against the catalogue's rules,
compute rates and quantiles, and plot them.

Typical use (what the `debug-server-metrics` notebook does)::

    m = collect_metrics(client, debug_url, "/metrics", prometheus_url="", interval=10)
    check_metric_rules(m); check_catalogue_coverage(m); plot_latency(m); latency_table(m)
"""

from .catalogue import CATALOGUE, GROUPS, MetricSpec, catalogue_frame, seed_families, spec
from .compute import Histogram, View, histogram_quantile, histograms
from .parse import Family, Sample, Snapshot, parse_exposition
from .plots import plot_gitlab_families, plot_latency, plot_quantiles, plot_requests, plot_storage_actions
from .rules import (RULES, Rule, check_catalogue_coverage, check_metric_rules, check_metrics_verdict,
                    evaluate_rules)
from .source import Metrics, collect_metrics, load_snapshots, query_prometheus, query_range, scrape
from .views import (Note, catalogue_table, histogram_buckets, latency_table, quantile_table, request_table,
                    storage_action_table)

__all__ = [
    "CATALOGUE", "GROUPS", "MetricSpec", "catalogue_frame", "seed_families", "spec",
    "Histogram", "View", "histogram_quantile", "histograms",
    "Family", "Sample", "Snapshot", "parse_exposition",
    "plot_gitlab_families", "plot_latency", "plot_quantiles", "plot_requests", "plot_storage_actions",
    "RULES", "Rule", "check_catalogue_coverage", "check_metric_rules", "check_metrics_verdict", "evaluate_rules",
    "Metrics", "collect_metrics", "load_snapshots", "query_prometheus", "query_range", "scrape",
    "Note", "catalogue_table", "histogram_buckets", "latency_table", "quantile_table", "request_table",
    "storage_action_table",
]
