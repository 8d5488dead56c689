"""Notebook outline: push-403."""

SCENARIO = 'push-403'

OUTLINE = dict(
    intro="""
**Symptom:** `docker login` works, `docker push` uploads some layers and then fails with
`error parsing HTTP 403 response body: unexpected end of JSON input: ""`.

GitLab's documentation walks through it with mitmproxy.

The message is ambiguous: the 403 can come from GitLab's token realm, the registry, the proxy in front of
it, or, when storage redirects are on, from the storage itself (a presigned S3 URL the client fetches
directly, which the registry never sees). This runbook names the hop: it pushes a canary image and records
every request (or reads a capture of the failing push), and attributes each 403 by what answered it: S3's
XML `<Code>AccessDenied</Code>` / `Server: AmazonS3` / a presigned URL (storage), the registry's JSON
`DENIED`, GitLab's `/jwt/auth`, or an NGINX HTML page.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.config.nginx_checks import check_nginx_config
from runbooklib.probes.push import check_canary_push, check_storage_redirect, trace_table
from runbooklib.probes.pull import check_pull_path
from runbooklib.probes.har import check_har, har_table
from runbooklib.logs.focus import check_logs_for
""",
    steps=[
        ("""
## 1. Registry configuration
""", 'rb.read_configs("registry")'),
        ("""
## 2. Can the storage be a hop?
With `storage.redirect` on (the default for S3 and GCS unless disabled), blob HEAD/GET answer `307` with a
presigned storage URL: the client then asks the storage, and a missing `s3:GetObject` shows up as a 403
from S3, in no registry log.
""", "rb.add(check_storage_redirect(rb.cfg.registry))"),
        ("""
## 3. Read an existing blob as a client does (read-only, no canary)
HEAD and GET of a layer of an existing image, following the storage redirect without the registry token,
exactly as Docker does before and during a push. A 403 here is attributed to the hop that answered it: a
storage 403 behind a presigned URL shows up without writing anything.
""", "rb.add(check_pull_path(rb.http, rb.registry))"),
        ("""
## 4. Canary push (only with `canary_push: true`)
A real push through `registry_url` into the dedicated `runbook-canary` repository, deleted afterwards: the
HEAD of the pushed blob follows the redirect to storage without the registry token, exactly as Docker does.
Each 403 is attributed to its origin below.
""", "rb.add(check_canary_push(rb.http, rb.registry, enabled=rb.p.canary_push))"),
        ("""
## 5. The canary's hop trace
""", "trace_table(rb.report.findings)"),
        ("""
## 6. GitLab's documented mitmproxy walk-through, as a capture (`har_file`)
Install mitmproxy, trust its CA (`~/.mitmproxy/mitmproxy-ca-cert.pem` into `/usr/local/share/ca-certificates/`,
`update-ca-certificates`), run `mitmdump --listen-port 9000 --set hardump=/tmp/push.har`, start the Docker
daemon by hand with `HTTP_PROXY=http://localhost:9000 HTTPS_PROXY=http://localhost:9000 dockerd --debug`,
`docker login` and `docker push`, then stop mitmdump (it writes the HAR on exit). Give the file as
`har_file`: the table below replaces reading the mitmproxy window, and the findings name the hop.
""", "rb.add(check_har(rb.p.har_file, rb.p.registry_url, rb.p.realm_url))"),
        ("""
## 7. The capture as a table
""", "har_table(rb.p.har_file, rb.p.registry_url)"),
        ("""
## 8. NGINX rules that answer 403 themselves
`deny`, `auth_basic` or `limit_except` in the registry's server block make NGINX refuse requests with an
HTML page.
""", "rb.add(check_nginx_config(rb.p.nginx_config, rb.p.registry_url, rb.cfg.registry))"),
        ("""
## 9. What the logs say
403 answers to blob requests in access logs, and the client-side message when a client log is included.
""", 'rb.add(check_logs_for(rb.log_scan, "push-403"))'),
    ],
)
