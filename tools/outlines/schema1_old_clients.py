"""Notebook outline: schema1-old-clients."""

SCENARIO = 'schema1-old-clients'

OUTLINE = dict(
    intro="""
**Symptom:** pushes from old Docker clients (1.9 and older) fail while current clients push fine.

GitLab's registry disables schema1 manifests by default, and Docker 1.9 and older can push nothing else.
This runbook reads `compatibility.schema1.enabled`, asks the running registry (a signed schema1 manifest
that references a missing layer, so nothing is stored), looks for old clients' user agents in the logs and
says which clients fail and how to fix it.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.probes.schema1 import check_schema1_config, check_schema1_live, check_old_clients
from runbooklib.logs.focus import check_logs_for
""",
    steps=[
        ("""
## 1. Registry configuration
""", 'rb.read_configs("registry")'),
        ("""
## 2. What the config says
`compatibility.schema1.enabled` (off unless set; Omnibus: `registry['compatibility_schema1_enabled']`).
""", "rb.add(check_schema1_config(rb.cfg.registry))"),
        ("""
## 3. Old clients and schema1 manifests in the logs
User agents `docker/1.9.x` and older, and schema1 media types, in registry (or NGINX) access logs. The
live probe of the next step adds one `manifest schema v1 unsupported` line itself when schema1 is off.
""", 'rb.add(check_logs_for(rb.log_scan, "schema1-old-clients"))'),
        ("""
## 4. What the running registry does with schema1
A signed schema1 manifest whose layer does not exist: `MANIFEST_BLOB_UNKNOWN` means schema1 is accepted;
`500 UNKNOWN` (log: `manifest schema v1 unsupported`) means it is refused. Nothing is stored either way.
""", "rb.add(check_schema1_live(rb.http, rb.registry))"),
        ("""
## 5. Which clients fail
Old clients seen in the logs against what the registry accepts; a config that disagrees with the running
registry is named too.
""", "rb.add(check_old_clients(rb.log_scan, rb.report.findings))"),
    ],
)
