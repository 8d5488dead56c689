"""Notebook outline: push-retry-relative-urls."""

SCENARIO = 'push-retry-relative-urls'

OUTLINE = dict(
    intro="""
**Symptom:** `docker login` succeeds but `docker push` retries the same layers again and again (or fails
after retrying), typically when SSL is offloaded to a reverse proxy; or pushes of large layers fail with
`413 Request Entity Too Large`, or with `400 The plain HTTP request was sent to HTTPS port`.

Also GitLab's pre-check 4: which port NGINX receives requests on.

The registry answers each upload step with a `Location` to continue at. Unless `http.relativeurls` is on, it
builds that URL from the request's `X-Forwarded-Proto` and `Host`: a proxy that terminates TLS and forwards
neither sends clients to `http://` on the TLS port, and Docker retries forever. This runbook reads the
registry's and NGINX's configs, can push a small canary image through the path clients use (recording every
hop), reads a capture of a failing push, and counts restarted uploads in the logs.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.config.nginx_checks import check_nginx_config
from runbooklib.probes.push import check_canary_push, check_url_settings, trace_table
from runbooklib.probes.har import check_har, har_table
from runbooklib.logs.focus import check_logs_for
""",
    steps=[
        ("""
## 1. Registry configuration
`config.yml` says whether the registry sends relative URLs (`http.relativeurls`) or absolute ones (from
`http.host`, or from the request headers).
""", 'rb.read_configs("registry")'),
        ("""
## 2. How the registry builds upload URLs
Relative URLs are immune to proxy headers; absolute URLs need the proxy to forward `X-Forwarded-Proto` and
`Host`, or `http.host` to name the external URL.
""", "rb.add(check_url_settings(rb.cfg.registry, rb.p.registry_url))"),
        ("""
## 3. NGINX in front of the registry
The port `registry_url` uses must be one the registry's `server` block listens on (with `ssl` for https);
its `location` must forward `Host` (`$http_host`, with the port) and `X-Forwarded-Proto`, and accept any
body size (`client_max_body_size 0`: Docker sends a whole layer in one request). Includes are followed;
unknown directives and missing includes are named.
""", "rb.add(check_nginx_config(rb.p.nginx_config, rb.p.registry_url, rb.cfg.registry))"),
        ("""
## 4. Canary push (only with `canary_push: true`)
A real push through `registry_url` (give the URL clients use, i.e. NGINX's): token flow, a chunked and a
monolithic blob upload, HEAD/GET of the blob (redirects followed), OCI and Docker manifests, then everything
deleted again from the dedicated `runbook-canary` repository. Every hop is recorded; the findings after it
name the failing hop (a `Location` with another scheme or host, 413, 502/504, 403 by origin).
""", "rb.add(check_canary_push(rb.http, rb.registry, enabled=rb.p.canary_push))"),
        ("""
## 5. The canary's hop trace
One row per request: what the client did, the answer, who answered (registry, proxy, storage, realm) and
the `Location` it was sent to. Empty when the canary did not run.
""", "trace_table(rb.report.findings)"),
        ("""
## 6. A capture of the failing push (`har_file`)
The same analysis on a HAR file: `mitmdump --listen-port 9000 --set hardump=/tmp/push.har` with the Docker
daemon started with `HTTP_PROXY`/`HTTPS_PROXY=http://localhost:9000` (see `push-403` for the mitmproxy
set-up), then `docker push`; stop mitmdump to write the file.
""", "rb.add(check_har(rb.p.har_file, rb.p.registry_url, rb.p.realm_url))"),
        ("""
## 7. The capture as a table
""", "har_table(rb.p.har_file, rb.p.registry_url)"),
        ("""
## 8. Retry loops and proxy errors in the logs
Uploads started again and again without finishing (per repository), plus every log signature that points
here.
""", 'rb.add(check_logs_for(rb.log_scan, "push-retry-relative-urls"))'),
    ],
)
