"""Notebook outline: gcs-http2."""

SCENARIO = 'gcs-http2'

OUTLINE = dict(
    intro="""
**Symptom:** pushes to a registry on Google Cloud Storage fail with `502 Bad Gateway`, and the registry's
CPU spikes while large images are pushed.

The registry's Go HTTP client talks HTTP/2 to GCS; the workaround is `GODEBUG=http2client=0` in the
registry's environment. This runbook checks the storage driver, every place that variable can be set
(Omnibus `registry['env']` and its runit env folder, Helm `registry.extraEnv`, the running process's
environment when readable) and the symptoms in the logs.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.probes.gcs import check_gcs_http2
from runbooklib.logs.focus import check_logs_for
""",
    steps=[
        ("""
## 1. Configuration
`registry_config` may be the registry's config.yml or Helm values (`helm get values`); `gitlab_rb` holds
Omnibus's `registry['env']`.
""", 'rb.read_configs("registry", "gitlab_rb")'),
        ("""
## 2. GCS, and is HTTP/2 to it disabled?
The storage driver, then `GODEBUG` wherever it can be set. What counts is the running process: a setting
in gitlab.rb that is not in the process's environment was not applied (reconfigure / restart).
""", "rb.add(check_gcs_http2(rb.cfg.registry, rb.cfg.gitlab_rb, rb.p.registry_config, rb.log_scan))"),
        ("""
## 3. HTTP/2 errors in the logs
`http2: server sent GOAWAY`, `stream error: stream ID ...`, `http2: client connection lost` from the
registry's storage client.
""", 'rb.add(check_logs_for(rb.log_scan, "gcs-http2"))'),
    ],
)
