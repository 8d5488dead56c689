"""Notebook outline: logs."""

SCENARIO = 'logs'

OUTLINE = dict(
    intro="""
**Symptom:** something fails and you want the registry's own account of it: which errors, since when, for
which requests, and which runbook they point to.

Before investigating anything, GitLab's documentation says to *check for errors in the registry logs (for example
`/var/log/gitlab/registry/current`) and the GitLab production logs*. Every error message the
troubleshooting page quotes or implies is a signature here, mapped to its runbook.

Formats are detected per file: registry logfmt (with or without Omnibus's svlogd prefix) and JSON (GitLab's
fork), registry and NGINX access logs, NGINX error logs, Go TLS handshake lines and Rails
`production_json.log`; plain or gzip; folders are read with their rotated files in time order. Example lines
are redacted (tokens, Authorization headers, passwords, AWS secrets).
""",
    imports="""
from runbooklib.session import Session
from runbooklib.logs import signature_table, plot_timeline, top_failing_requests
from runbooklib.logs.focus import check_all_logs
""",
    steps=[
        ("""
## 1. Findings
One finding per signature that matched (worst first), per detected push retry loop and per path that
could not be read.
""", "rb.add(check_all_logs(rb.log_scan))"),
        ("""
## 2. Signatures
Counts, first and last time seen, and the fields extracted from the lines (key IDs, issuers, upstreams).
""", "signature_table(rb.log_scan)"),
        ("""
## 3. Timeline
Matching lines per minute, by signature: a burst that starts at a deploy or a certificate renewal reads
faster here than in a table.
""", "plot_timeline(rb.log_scan)"),
        ("""
## 4. Top failing requests
Requests that ended in an error status, grouped by path and status.
""", "top_failing_requests(rb.log_scan)"),
        ("""
## 5. Where to go next
""", "rb.next_runbooks()"),
    ],
)
