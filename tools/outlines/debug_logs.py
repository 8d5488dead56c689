"""Notebook outline: debug-logs."""

SCENARIO = 'debug-logs'

OUTLINE = dict(
    intro="""
**Symptom:** you need more detail from the registry than its info-level log gives (or you want to know
whether somebody left debug logging on).

GitLab's documented warning: *debug logs may contain sensitive
information such as authentication details, tokens, or repository information; enable them only when
necessary and disable them when troubleshooting is complete.* This runbook reads the configured level
(`log.level` in config.yml or Helm values, `registry['log_level']` in gitlab.rb), says how to turn debug
logging on for a while or exactly how to turn it off again for your install type, and checks what debug
logging has left in the log files.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.metrics.debug_logs import check_log_level, scan_debug_logs, check_debug_log_lines
""",
    steps=[
        ("""
## 1. Configuration
The registry's config.yml (Omnibus `/var/opt/gitlab/registry/config.yml`, a source install's file, or Helm
values) and `/etc/gitlab/gitlab.rb`.
""", 'rb.read_configs("registry", "gitlab_rb")'),
        ("""
## 2. Which log level is configured?
`debug` gives a warning and the way back (Omnibus: GitLab's documented edit of config.yml is temporary and
`gitlab-ctl reconfigure` discards it; a `registry['log_level'] = 'debug'` in gitlab.rb is permanent; Helm:
`registry.log.level` in the values). Any other level gives the steps to enable debug logging for a while.
A `level:` written at the top of config.yml instead of under `log:` is ignored by the registry and is
flagged.
""", "rb.add(check_log_level(rb.cfg.registry, rb.cfg.gitlab_rb))"),
        ("""
## 3. What is in the logs?
Debug-level lines (when, which files), lines carrying token-shaped values (JWTs, bearer credentials: shown
redacted), and storage calls naming repositories.
""", "scan = scan_debug_logs(rb.p.log_paths, rb.p.since, rb.p.until)\nrb.add(check_debug_log_lines(scan))"),
    ],
)
