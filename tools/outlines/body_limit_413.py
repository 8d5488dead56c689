"""Notebook outline: body-limit-413."""

SCENARIO = 'body-limit-413'

OUTLINE = dict(
    intro="""
**Symptom:** `docker push` fails on large layers with `413 Request Entity Too Large` (or
`error parsing HTTP 413 response body: invalid character '<'`), small images push fine, and the registry's own
NGINX already has `client_max_body_size 0`.

GitLab's page covers the registry's NGINX; here a hop in front of it (a
load balancer, an ingress, a CDN or WAF, a second NGINX) refuses the body first. Docker sends a layer in one
`PATCH`, so any hop's limit is the path's limit.

This runbook tells which hop answered: it sends one unauthenticated 2 MiB body (the registry answers 401 and
stores nothing) and reads the answer's `Server` header and body shape (an NGINX page signed with its
`server_tokens`, a load balancer's page, or the registry's JSON), compares each hop's configured
`client_max_body_size` when their configs are given, and can push a canary to see the 413 in a real upload.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.probes.bodylimit import check_body_limit, check_hop_limits
from runbooklib.probes.push import check_canary_push, trace_table
from runbooklib.probes.har import check_har
from runbooklib.logs.focus import check_logs_for
""",
    steps=[
        ("""
## 1. Which hop answers a large body?
`POST /v2/runbook-canary/blobs/uploads/` with a 2 MiB body and no credentials, through `registry_url` (the URL
clients use). The registry answers 401 (JSON errors, `Docker-Distribution-Api-Version`) without storing
anything; a `413` names its sender by its `Server` header and page signature, compared with the `Server`
header every answer at that URL carries (the outermost hop's).
""", "rb.add(check_body_limit(rb.http, rb.p.registry_url))"),
        ("""
## 2. Each hop's configured limit
`client_max_body_size` of each proxy in front (`proxy_configs`, outermost first) and of the registry's NGINX
(`nginx_config`). Unset means NGINX's default, 1m.
""", "rb.add(check_hop_limits(rb.p.nginx_config, rb.p.proxy_configs, rb.p.registry_url))"),
        ("""
## 3. Canary push (only with `canary_push: true`)
A real push of a 2 MiB layer into `runbook-canary` through `registry_url`, deleted afterwards: the hop trace
shows the `PATCH` that got 413 and who answered it.
""", "rb.add(check_canary_push(rb.http, rb.registry, enabled=rb.p.canary_push))"),
        ("""
## 4. The canary's hop trace
""", "trace_table(rb.report.findings)"),
        ("""
## 5. A capture of the failing push (`har_file`)
A HAR recorded by a browser or `mitmdump` while `docker push` failed: every 413 in it is attributed to its hop.
""", "rb.add(check_har(rb.p.har_file, rb.p.registry_url, rb.p.realm_url))"),
        ("""
## 6. What the logs say
`413` answers in access logs, NGINX's `client intended to send too large body` and the clients' `StatusCode:
413` lines, when `log_paths` includes them.
""", 'rb.add(check_logs_for(rb.log_scan, "body-limit-413"))'),
    ],
)
