"""Notebook outline: triage."""

SCENARIO = 'triage'

OUTLINE = dict(
    intro="""
**Symptom:** pushes, pulls or logins against the GitLab container registry fail and you do not yet know
which part is to blame.

The steps GitLab's page asks for *before investigating specific
issues*: synchronised clocks, requests forwarded to the registry (`curl /v2/_catalog` answers a Bearer
challenge for `container_registry`), and the token flow GitLab and the registry share.

Each step below calls one check from `runbooklib` and shows its findings: what was seen, what it means,
and the fix for Omnibus, Helm and source installs. Opened in JupyterLab, the defaults target the lab
(`runbook lab up`); in automation run `runbook run triage -f params.yaml -o DIR`.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.probes.api import check_forwarding
from runbooklib.probes.auth import check_token_flow
from runbooklib.probes.clock import check_clocks
from runbooklib.probes.debug import check_health
from runbooklib.probes.tls import check_tls
from runbooklib.logs.focus import check_all_logs
from runbooklib.metrics import check_metrics_verdict
from runbooklib.config.nginx_checks import check_nginx_config
from runbooklib.probes.push import check_canary_push
from runbooklib.probes.catalog import check_empty_tag_names
from runbooklib.probes.pull import check_pull_path
from runbooklib.probes.bodylimit import check_body_limit
from runbooklib.probes.gcpulls import check_tagged_pulls
""",
    steps=[
        ("""
## 1. Are requests forwarded to the registry?
GitLab's documented `curl --noproxy "*" https://<host>:<port>/v2/_catalog`: without credentials the registry must
answer **401** with `Docker-Distribution-Api-Version: registry/2.0` and
`Www-Authenticate: Bearer realm=…,service="container_registry"`. A 200 means token auth is off; a 404 or
an HTML page means the request never reached the registry (check NGINX's port); 502/503 mean the
upstream is down or unhealthy; no answer at all is named (refused, DNS, TLS, timeout).
""", "rb.add(check_forwarding(rb.http, rb.p.registry_url, rb.p.service))"),
        ("""
## 2. Is the registry's certificate trusted?
For an `https://` registry URL: the certificate the registry (or its proxy) presents, verified the way a
client verifies it (system store, or `ca_bundle`). Self-signed, unknown CA, missing intermediate,
expired or wrong-host certificates are what clients report as
`x509: certificate signed by unknown authority` (go to `x509-unknown-authority`).
""", "rb.add(check_tls(rb.p.registry_url, rb.p.ca_bundle, rb.p.timeout_s))"),
        ("""
## 3. Does the token flow work end to end?
What `docker login` does: take the realm from the challenge (or `realm_url`), ask GitLab's `/jwt/auth`
for a token with HTTP Basic, then present it to the registry. A refusal at the realm is a credentials
problem; `invalid_token` from the registry means it does not trust GitLab's token (go to
`token-untrusted-key`); `insufficient_scope` on the catalog means the token was trusted but the user is
not an administrator, which is fine.
""", "rb.add(check_token_flow(rb.http, rb.registry))"),
        ("""
## 3b. Do repositories list a tag with an empty name?
With catalog access (administrators), `tags/list` of the first repositories: a `""` tag comes from zero-byte
marker objects in S3 and breaks GitLab's tag views and cleanup (go to `empty-name-tags`).
""", "rb.add(check_empty_tag_names(rb.http, rb.registry))"),
        ("""
## 3c. Does an existing image read back, storage redirect included?
HEAD and GET of one layer of an existing image, as Docker does, following the registry's redirect to the
storage without the registry token. Read-only (no canary): a 403 from the storage, the proxy or the registry
is named by the hop that answered it (go to `push-403`).
""", "rb.add(check_pull_path(rb.http, rb.registry))"),
        ("""
## 3c+. Do the listed tags pull completely?
With catalog access, a few tags of the first repositories walked like a pull (manifest, each platform manifest
of a multi-arch index, a HEAD of each config and layer). A tag that is listed but answers `manifest unknown` or
`blob unknown` lost content it references, usually to a garbage collection (go to `gc-broke-pulls`).
""", "rb.add(check_tagged_pulls(rb.http, rb.registry, max_repositories=5, max_tags=5))"),
        ("""
## 3d. Do large request bodies reach the registry?
One request without credentials and with a 2 MiB body (larger than NGINX's default 1m) to the upload endpoint:
the registry answers 401 and stores nothing, so a `413` comes from a proxy or load balancer in front of it,
named by its answer (go to `body-limit-413`).
""", "rb.add(check_body_limit(rb.http, rb.p.registry_url))"),
        ("""
## 4. Are the clocks in sync?
Tokens carry `nbf`/`exp`; the registry allows 60 s of skew. The `Date` headers of the registry and the
realm are compared with this host's UTC clock: a warning above 30 s, a failure above 60 s.
""", "rb.add(check_clocks(rb.http, rb.p.registry_url, rb.p.realm_url))"),
        ("""
## 5. What does the registry's own health check say?
With the debug server enabled (`http.debug.addr`), `/debug/health` answers `{}` when healthy and names
each failing check (for example the storage driver) otherwise.
""", "rb.add(check_health(rb.http, rb.p.debug_url))"),
        ("""
## 6. What do the registry's metrics say?
With `debug_url`, one scrape of its Prometheus endpoint judged by the metric catalogue's health rules (5xx
ratio and latency by handler, storage latency, goroutines, file descriptors; on GitLab's fork also
notifications, database load balancing, migrations, online GC and storage limits), since the registry
started. Rates, quantiles and plots are in `debug-server-metrics`.
""", "rb.add(check_metrics_verdict(rb.http, rb.p.debug_url))"),
        ("""
## 7. What do the logs say?
When `log_paths` is given (registry, NGINX and GitLab Rails logs: files, folders or globs), every known error
signature of the troubleshooting page is counted; each finding names the runbook to run next.
""", "rb.add(check_all_logs(rb.log_scan))"),
        ("""
## 8. NGINX in front of the registry
When `nginx_config` is given: the port of `registry_url` is one NGINX listens on (or a proxy of `proxy_configs`
in front of it does), TLS for https,
`Host` and `X-Forwarded-Proto` are forwarded, and request bodies are not limited.
""", "rb.add(check_nginx_config(rb.p.nginx_config, rb.p.registry_url, proxy_configs=rb.p.proxy_configs))"),
        ("""
## 9. Canary push (only with `canary_push: true`)
A small random image pushed through `registry_url` into `runbook-canary` and deleted again; every hop is
recorded and the failing one named.
""", "rb.add(check_canary_push(rb.http, rb.registry, enabled=rb.p.canary_push))"),
        ("""
## The request path at a glance
Each box is one hop a `docker push` or `pull` crosses, coloured by the worst finding about it (grey: not
checked in this run). Hover a box for the finding that coloured it.
""", "rb.request_path()"),
        ("""
## Where to go next
The findings above, routed to the runbooks that dig deeper (routing rules live in
`runbooklib/scenarios.py`). An empty table means triage found nothing to follow.
""", "rb.next_runbooks()"),
    ],
)
