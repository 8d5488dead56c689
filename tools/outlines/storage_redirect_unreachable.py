"""Notebook outline: storage-redirect-unreachable."""

SCENARIO = 'storage-redirect-unreachable'

OUTLINE = dict(
    intro="""
**Symptom:** pushes work (or the first layers do), but `docker pull` of existing images hangs or fails on the
layers with `dial tcp: lookup minio…: no such host`, `i/o timeout`, or `403 Forbidden` / `Request has expired`
from a host that is not the registry; the registry's log shows only successful `307` answers.

With `storage.redirect` on (the default for
S3, GCS and Azure), the registry answers a blob request with a `307` to a presigned storage URL, and the client
downloads the bytes from the storage itself. The registry signs that URL for *its own* storage endpoint: an
in-cluster MinIO Service, a private IP or a VPC endpoint works for the registry and for nobody else, and an
expiry shorter than the transfer (or a registry clock behind the storage's) turns it into a 403.

This runbook reads where redirects go from config.yml, then follows one redirect from the client's side: it
names the storage host, whether it answers, and how long the URL is valid. The registry token is never sent
to the storage host.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.probes.redirect import check_blob_redirect, check_redirect_config
from runbooklib.logs.focus import check_logs_for
""",
    steps=[
        ("""
## 1. Registry configuration
""", 'rb.read_configs("registry")'),
        ("""
## 2. Where do redirects send clients?
`storage.redirect.disable` and the storage endpoint from config.yml: a single-label, `.svc.cluster.local`,
`.internal` or private-address endpoint is one only the registry's network can reach, and every presigned URL
names it.
""", "rb.add(check_redirect_config(rb.cfg.registry))"),
        ("""
## 3. Follow a blob redirect as a client does
HEAD of one layer of an existing image, without following: the `Location` is read for its host, signing time
and validity (`X-Amz-Date` + `X-Amz-Expires`, GCS or Azure equivalents), then the first byte is fetched from
that host without the registry token. No answer names the failure (DNS, refused, timeout, TLS); a 403
`Request has expired`, or a validity already over by the storage's clock, is an expiry problem.
""", "rb.add(check_blob_redirect(rb.http, rb.registry, registry=rb.cfg.registry))"),
        ("""
## 4. What the logs say
Client logs (skopeo, dockerd, CI jobs) that show a `Get "<presigned URL>": dial tcp …` failure or the storage's
`Request has expired`, when `log_paths` includes them. The registry itself logs nothing about it.
""", 'rb.add(check_logs_for(rb.log_scan, "storage-redirect-unreachable"))'),
    ],
)
