"""Registry, NGINX and GitLab Rails logs: readers, the signature catalogue, a grep-fast scanner, checks.

    scan = scan_logs(["/var/log/gitlab/registry", "/var/log/gitlab/nginx/gitlab_registry_error.log"])
    check_logs(scan)            # Findings naming the runbook to run next
    signature_table(scan)       # what matched, when, with which extracted fields
    plot_timeline(scan)         # events per minute by signature
    top_failing_requests(scan)  # failing requests by path and status
    suggested_scenarios(scan)   # runbooks to run next, and why
"""

from .checks import check_logs
from .formats import Event, parse_line, parse_time
from .readers import PathProblem, expand_paths, iter_events, read_events
from .redact import redact_line
from .engine import scan_logs
from ..timebounds import parse_bound
from .scan import FileInfo, LogScan, SignatureStats
from .signatures import BY_ID, CATALOGUE, Signature, grep_union
from .views import Suggestion, plot_timeline, signature_table, suggested_scenarios, top_failing_requests

__all__ = [
    "BY_ID", "CATALOGUE", "Event", "FileInfo", "LogScan", "PathProblem", "Signature", "SignatureStats",
    "Suggestion", "check_logs", "expand_paths", "grep_union", "iter_events", "parse_bound", "parse_line",
    "parse_time", "plot_timeline", "read_events", "redact_line", "scan_logs", "signature_table",
    "suggested_scenarios", "top_failing_requests",
]
