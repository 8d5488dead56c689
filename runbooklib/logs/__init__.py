"""Registry, NGINX and GitLab Rails logs: readers, the signature catalogue, a grep-fast scanner, checks.

    scan = scan_logs(["/var/log/gitlab/registry", "/var/log/gitlab/nginx/gitlab_registry_error.log"])
    check_logs(scan)            # Findings naming the runbook to run next
    signature_table(scan)       # what matched, when, with which extracted fields
    plot_timeline(scan)         # events per minute by signature
    top_failing_requests(scan)  # failing requests by path and status
    suggested_scenarios(scan)   # runbooks to run next, and why

Names are imported on first use (PEP 562): ``python -m runbooklib.logs`` and the scanner's worker processes
start in a fraction of the time, which is most of what a scan of a small file costs.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

_WHERE = {
    "check_logs": ".checks",
    "Event": ".formats", "parse_line": ".formats", "parse_time": ".formats",
    "PathProblem": ".readers", "expand_paths": ".readers", "iter_events": ".readers", "read_events": ".readers",
    "redact_line": ".redact",
    "scan_logs": ".engine",
    "parse_bound": "..timebounds",
    "FileInfo": ".scan", "LogScan": ".scan", "SignatureStats": ".scan",
    "BY_ID": ".signatures", "CATALOGUE": ".signatures", "Signature": ".signatures", "grep_union": ".signatures",
    "Suggestion": ".views", "plot_timeline": ".views", "signature_table": ".views",
    "suggested_scenarios": ".views", "top_failing_requests": ".views",
}

__all__ = [
    "BY_ID", "CATALOGUE", "Event", "FileInfo", "LogScan", "PathProblem", "Signature", "SignatureStats",
    "Suggestion", "check_logs", "expand_paths", "grep_union", "iter_events", "parse_bound", "parse_line",
    "parse_time", "plot_timeline", "read_events", "redact_line", "scan_logs", "signature_table",
    "suggested_scenarios", "top_failing_requests",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(where, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


if TYPE_CHECKING:
    from ..timebounds import parse_bound
    from .checks import check_logs
    from .engine import scan_logs
    from .formats import Event, parse_line, parse_time
    from .readers import PathProblem, expand_paths, iter_events, read_events
    from .redact import redact_line
    from .scan import FileInfo, LogScan, SignatureStats
    from .signatures import BY_ID, CATALOGUE, Signature, grep_union
    from .views import Suggestion, plot_timeline, signature_table, suggested_scenarios, top_failing_requests
