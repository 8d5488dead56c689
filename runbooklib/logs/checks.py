"""check_logs: a LogScan as Findings, each naming the runbook to run next and how to fix the cause."""

from __future__ import annotations

from ..findings import Finding, Status
from .scan import LogScan, SignatureStats, _iso
from .signatures import AGGREGATES, BY_ID

SEED_LOGS = "Before investigating: check for errors in the registry logs and the GitLab production logs"

_STATUS = {"fail": Status.FAIL, "warn": Status.WARN, "info": Status.INFO}

_TOKEN_PAIR = (
    "GitLab signs registry tokens with `gitlab-registry.key`; the registry trusts only the certificate(s) in "
    "`auth.token.rootcertbundle`. They must be one key pair (compare the key ID above with the certificate's, "
    "or the two `openssl ... -modulus` hashes as in GitLab's documentation).\n"
    "- Omnibus: `gitlab_rails['registry_key_path']` (default /var/opt/gitlab/gitlab-rails/etc/gitlab-registry.key) "
    "and /var/opt/gitlab/registry/gitlab-registry.crt (`registry['internal_certificate']`). After a restore or a "
    "move, copy both from the same host, `gitlab-ctl reconfigure`, `gitlab-ctl restart registry`.\n"
    "- Helm: the registry certificate secret (`global.registry.certificate`) must match the key GitLab signs with; "
    "recreate the pair and restart the registry and webservice pods.\n"
    "- Source: gitlab.yml `registry.key` and the registry's config.yml `auth.token.rootcertbundle`."
)
_CLOCK = (
    "Synchronise the clocks of GitLab and the registry (NTP: `timedatectl status`, chrony); the registry allows "
    "60 s of leeway. The `triage` runbook measures both clocks. Long pushes can also outlive the token: raise "
    "the container registry token duration (Admin > Settings > CI/CD > Container Registry)."
)
_S3_IAM = (
    "Give the registry's S3 user the actions the S3 driver needs on the bucket and its objects: "
    "`s3:ListBucket`, `s3:GetBucketLocation`, `s3:ListBucketMultipartUploads`, `s3:PutObject`, `s3:GetObject`, "
    "`s3:DeleteObject`, `s3:ListMultipartUploadParts`, `s3:AbortMultipartUpload`; check access key, secret "
    "key, region and endpoint.\n"
    "- Omnibus: `registry['storage'] = { 's3' => { 'accesskey', 'secretkey', 'bucket', 'region', "
    "'regionendpoint' } }`, then `gitlab-ctl reconfigure`.\n"
    "- Helm: the secret named by `registry.storage.secret` (key `config`).\n"
    "- Source: config.yml `storage.s3`. The `s3-permissions` runbook tests each action."
)
_TLS = (
    "Clients must trust the CA that signed the registry's certificate, or the registry must use a publicly "
    "trusted certificate.\n"
    "- Docker clients: put the CA in `/etc/docker/certs.d/<registry host:port>/ca.crt` (or the system store "
    "with `update-ca-certificates`) and restart Docker; runners need it in their job images too.\n"
    "- Omnibus: `registry_nginx['ssl_certificate']`/`['ssl_certificate_key']`; for GitLab's own calls add the CA "
    "to /etc/gitlab/trusted-certs and reconfigure.\n"
    "- Helm: `global.certificates.customCAs`, the registry Ingress TLS secret.\n"
    "- Source: config.yml `http.tls` or the NGINX `ssl_certificate` in front of the registry."
)
_HEALTH = (
    "The debug server's `/debug/health` names the failing check (usually the storage driver) and `/metrics` "
    "shows storage errors: run `debug-server-metrics`. Omnibus: `registry['debug_addr'] = \"localhost:5001\"`; "
    "Helm: `registry.debug.addr.port`; source: config.yml `http.debug.addr`. Then fix what the check reports "
    "(storage credentials, network, bucket)."
)
_SCHEMA1 = (
    "Upgrade the Docker clients (1.10+ push schema2). If old clients must keep working:\n"
    "- Omnibus: `registry['compatibility_schema1_enabled'] = true`, then `gitlab-ctl reconfigure`.\n"
    "- Source: config.yml `compatibility: schema1: enabled: true`, restart the registry.\n"
    "- Helm: `registry.compatibility.schema1.enabled: true`.\n"
    "Newer registries drop schema1 entirely: the client upgrade is the lasting fix."
)
_NOT_FOUND = (
    "HEAD 404s are routine: clients check whether a blob exists before pushing it. GET 404s mean the content "
    "is gone or never was: check the tag with `GET /v2/<name>/tags/list`, whether a cleanup policy removed it "
    "(`cleanup-policy`), or whether garbage collection removed a blob still referenced."
)

# signature id -> (title, remedy)
REMEDIES: dict[str, tuple[str, str]] = {
    "token-untrusted-key": ("Tokens signed by a key the registry does not trust", _TOKEN_PAIR),
    "token-no-signing-key": ("Tokens without a usable signing key", _TOKEN_PAIR),
    "auth-invalid-token": ("Registry rejects tokens as invalid",
                           "The line just before each rejection names the reason (key, issuer, audience, "
                           "time); the findings for those lines carry the fix. If none is there, raise the "
                           "registry log level to debug (`debug-logs`).\n\n" + _TOKEN_PAIR),
    "token-untrusted-issuer": ("Tokens from an issuer the registry does not trust",
                               "GitLab's registry issuer and the registry's `auth.token.issuer` must be equal.\n"
                               "- Omnibus: `gitlab_rails['registry_issuer']` (default `omnibus-gitlab-issuer`) "
                               "sets both for the bundled registry; an external registry needs the same value "
                               "in its config.yml.\n- Helm: `registry.tokenIssuer`.\n- Source: gitlab.yml "
                               "`registry.issuer` and config.yml `auth.token.issuer`."),
    "token-wrong-audience": ("Tokens issued for another service",
                             "The registry's `auth.token.service` (Helm: `registry.tokenService`) must name the "
                             "service GitLab issues tokens for, `container_registry`, and clients must ask "
                             "the realm for that service (it comes from the registry's challenge). The `triage` "
                             "runbook shows the challenge."),
    "token-expired": ("Tokens expired when they reached the registry", _CLOCK),
    "token-not-yet-valid": ("Tokens not yet valid: GitLab's clock runs ahead", _CLOCK),
    "auth-insufficient-scope": ("Tokens without the rights asked for",
                                "The user or job lacks the permission (Reporter to pull, Developer to push) "
                                "or the image path is not the project's path (special characters in group "
                                "or project paths: `path-naming`). Check which user pushed and the project "
                                "membership; `triage` replays the token flow."),
    "auth-token-required": ("Requests without a token (the normal first step)",
                            "Nothing to fix on its own: every client first calls without a token and follows "
                            "the challenge. Many of them without a following authorized request mean clients "
                            "cannot get a token from the realm: run `triage`."),
    "s3-unexpected-eof": ("Blob uploads to S3 break off (unexpected EOF)",
                          "Set a chunk size for the S3 driver (GitLab's documentation uses 25 MB):\n"
                          "- Omnibus: `registry['storage'] = { 's3' => { ..., 'chunksize' => 25000000 } }`, "
                          "then `gitlab-ctl reconfigure`.\n"
                          "- Helm: `chunksize: 25000000` under `s3` in the registry storage secret.\n"
                          "- Source: config.yml `storage.s3.chunksize: 25000000`, restart the registry."),
    "s3-access-denied": ("S3 denies the registry's requests (403 AccessDenied)", _S3_IAM),
    "s3-bad-credentials": ("S3 does not accept the registry's credentials", _S3_IAM),
    "s3-wrong-region": ("The registry uses the wrong S3 region or endpoint", _S3_IAM),
    "gcs-http2-error": ("HTTP/2 errors between the registry and its storage (GCS)",
                        "Disable HTTP/2 for the registry's outbound client with `GODEBUG=http2client=0`:\n"
                        "- Omnibus: `registry['env'] = { 'GODEBUG' => 'http2client=0' }`, reconfigure.\n"
                        "- Helm: `registry.extraEnv: { GODEBUG: http2client=0 }`.\n"
                        "- Source: set the variable in the registry service's environment."),
    "health-check-failed": ("The registry's storage health check fails", _HEALTH),
    "http-503": ("Requests answered 503 Service Unavailable", _HEALTH),
    "tls-handshake-unknown-ca": ("Clients reject the registry's TLS certificate", _TLS),
    "x509-unknown-authority": ("Clients do not trust the certificate (unknown authority)", _TLS),
    "x509-hostname-mismatch": ("The certificate does not name the registry host",
                               "Reissue the certificate with the registry host (`registry_external_url`'s "
                               "host) in its subjectAltName, or connect with the name the certificate has.\n\n"
                               + _TLS),
    "client-403-empty-body": ("A push got a 403 that did not come from the registry",
                              "A 403 without a registry error body comes from another hop: object storage after "
                              "the redirect (GitLab's documented HEAD on S3) or a proxy. Run `push-403` to find the hop; "
                              "for S3 check that the policy allows `s3:GetObject` (which covers HEAD), or "
                              "disable redirects (Omnibus `registry['storage']['redirect'] = { 'disable' => "
                              "true }`; config.yml `storage.redirect.disable: true`)."),
    "push-403-response": ("Blob requests of pushes answered 403",
                          "Find which hop said 403 (`push-403`): the registry itself (token scope), the proxy "
                          "(request size or method rules), or object storage after a redirect (IAM policy "
                          "lacks HEAD/GET: `s3-permissions`)."),
    "nginx-ipv6-upstream-refused": ("NGINX proxies to the registry on IPv6 [::1], where nothing listens",
                                    "`localhost` resolves to ::1 but the registry listens on IPv4.\n"
                                    "- Omnibus: `registry['registry_http_addr'] = \"127.0.0.1:5000\"` in "
                                    "/etc/gitlab/gitlab.rb, then `gitlab-ctl reconfigure`.\n"
                                    "- Source: `proxy_pass http://127.0.0.1:5000;` (not localhost) in NGINX, "
                                    "or make the registry's `http.addr` listen on both.\n"
                                    "- Helm: not applicable to the chart's Ingress; check the Service address."),
    "nginx-upstream-refused": ("NGINX cannot connect to the registry",
                               "Nothing listens where NGINX proxies to. Omnibus: `gitlab-ctl status registry`, "
                               "compare `registry['registry_http_addr']` with the NGINX upstream; Helm: registry "
                               "pods and Service; source: the registry process and its `http.addr`."),
    "http-502": ("Proxy answered 502 Bad Gateway",
                 "The proxy got no valid answer from the registry: check that the registry runs and the upstream "
                 "address (`triage`). With HTTP/2 errors towards GCS in the registry log, run `gcs-http2`."),
    "http-500": ("Requests failed with 500 Internal Server Error",
                 "Find the registry's error line for the same request (same time or correlation id): its "
                 "`err.detail` names the cause. Storage errors lead to `s3-permissions`."),
    "schema1-manifest": ("Schema1 manifests in use (old clients)", _SCHEMA1),
    "old-docker-client": ("Docker clients 1.9 or older", _SCHEMA1),
    "blob-unknown": ("Blobs asked for that the registry does not have", _NOT_FOUND),
    "manifest-unknown": ("Manifests asked for that the registry does not have", _NOT_FOUND),
    "registry-unknown-error": ("Registry requests failed with unclassified errors",
                               "Read `err.detail` in the examples: storage errors point to `s3-permissions` or "
                               "`bucket-metrics`; for more context raise the log level (`debug-logs`)."),
    "request-error": ("Registry requests answered with an error",
                      "Listed for context: the other findings and the failing-requests table say which matter."),
    "missing-registry-key": ("GitLab cannot read its registry key (missing or not readable)",
                             "GitLab needs the registry key to sign tokens, even to delete repositories. "
                             "`Errno::ENOENT`: the file is missing; `Errno::EACCES`: it exists but the user "
                             "GitLab runs as (git) cannot read it: `chown git` / `chmod 0600` it.\n"
                             "- Omnibus: temporarily set `gitlab_rails['registry_enabled'] = true`, "
                             "`gitlab-ctl reconfigure` (it writes the key), retry the removal; or restore the "
                             "key at `gitlab_rails['registry_key_path']`.\n"
                             "- Helm: check the registry key secret mounted into webservice/sidekiq.\n"
                             "- Source: gitlab.yml `registry.key` (default `config/registry.key` in the GitLab "
                             "folder) must point at a key file the git user can read."),
    "rails-jwt-auth-error": ("GitLab's /jwt/auth refused or failed token requests",
                             "401: wrong credentials (with 2FA use a personal access token); 403: no access to "
                             "the project; 500: a GitLab error, see `exception.class` (Errno::ENOENT on "
                             "gitlab-registry.key: `missing-registry-key`). `triage` replays the token flow."),
    "upload-copy-unexpected-eof": ("Blob uploads broke off while the registry copied them (unexpected EOF)",
                                   "Registry 2.0-2.2 wording of the S3 large-push failure: set the S3 "
                                   "`chunksize` (see `s3-push-unexpected-eof`), and check that no proxy cuts "
                                   "long uploads (`proxy_read_timeout`, `client_body_timeout`)."),
    "s3-clock-skew": ("S3 refuses the registry's requests: its clock is off (RequestTimeTooSkewed)",
                      "S3 allows 15 minutes between the request's signature time and its own: synchronise the "
                      "registry host's clock (NTP: `timedatectl status`, chrony). " + _S3_IAM),
    "s3-slow-down": ("S3 throttles the registry (SlowDown)",
                     "Too many requests per prefix: spread the load (fewer concurrent pushes/GC runs), ask AWS to "
                     "raise the bucket's limits, and watch the registry's storage metrics (`bucket-metrics`)."),
    "s3-session-error": ("The registry's S3 driver could not start", _S3_IAM),
    "registry-panic": ("A panic: the program crashed",
                       "The panic message says why (its other findings name the cause when it is a known one). "
                       "A registry that panics at start-up restarts in a loop: read the first lines of its log "
                       "after the restart (Omnibus: `gitlab-ctl tail registry`; Helm: `kubectl logs --previous`)."),
    "x509-expired": ("A certificate was refused as expired or not yet valid",
                     "Renew the certificate (check `openssl x509 -noout -dates`), or fix the clock of the side that "
                     "refused it.\n\n" + _TLS),
    "body-too-large-413": ("Request bodies refused as too large (413)",
                           "Docker sends each layer in one PATCH: every proxy on the way must accept any size.\n"
                           "- Omnibus: the bundled NGINX sets `client_max_body_size 0` for the registry; check "
                           "`registry_nginx['custom_gitlab_server_config']` and any outer proxy.\n"
                           "- NGINX (source, or an outer proxy): `client_max_body_size 0;` in the registry's "
                           "server block.\n"
                           "- Helm / ingress-nginx: `nginx.ingress.kubernetes.io/proxy-body-size: \"0\"`.\n"
                           "- CDNs and cloud load balancers (Cloudflare, Azure Application Gateway) have their own "
                           "upload limits: bypass them for the registry host."),
    "client-denied": ("The client was denied access (push or pull)",
                      "The registry refuses a token without the asked action: check the user's or job's role "
                      "(Developer to push), that the image path is the project's path (`path-naming`), and "
                      "whether a proxy or object storage said 403 (`push-403`)."),
    "client-unauthorized": ("The registry refused the client's token (unauthorized)",
                            "The client got a token from GitLab but the registry rejected it; the registry log "
                            "names the reason.\n\n" + _TOKEN_PAIR),
    "client-basic-denied": ("GitLab refused the client's credentials",
                            "Use a personal, project or deploy token with `read_registry`/`write_registry` (2FA "
                            "accounts cannot use their password); in CI use `$CI_REGISTRY_USER` / "
                            "`$CI_REGISTRY_PASSWORD`. `triage` replays the token flow."),
    "client-http-500": ("The registry answered 500 to a push",
                        "Look for the matching `err.code=unknown` line in the registry log: `unexpected EOF` "
                        "(`s3-push-unexpected-eof`: set the S3 chunksize) or an S3 error (`s3-permissions`)."),
    "client-http-502": ("A proxy answered 502 to the client",
                        "The registry behind the proxy failed or is down: check it runs and the proxy's upstream "
                        "(`triage`, `ipv6-listener`)."),
    "client-http-503": ("The registry answered 503 to the client", _HEALTH),
    "blob-upload-unknown": ("The registry did not recognise uploads the client continued",
                            "Upload URLs must come back to the registry that started the upload: forward `Host` "
                            "and `X-Forwarded-Proto` or turn on relative URLs (`push-retry-relative-urls`); with "
                            "several registries behind one balancer give them the same `http.secret`."),
    "client-retrying": ("The client retries layer uploads",
                        "A few retries are a flaky network; a retry loop that ends in an error is the push "
                        "problem of `push-retry-relative-urls` (headers, relative URLs) or a body limit (413)."),
    "registry-key-invalid": ("GitLab cannot load its registry key",
                             "The key file exists but is not a usable RSA private key (empty, truncated, or a "
                             "certificate). Restore the key that pairs with the registry's rootcertbundle (see "
                             "`missing-registry-key` and `token-untrusted-key`)."),
    "rails-registry-ipv6": ("GitLab cannot reach the registry API at localhost (IPv6)",
                            "`localhost` resolved to ::1. Point GitLab at the registry's IPv4 address: Omnibus "
                            "`gitlab_rails['registry_api_url'] = \"http://127.0.0.1:5000\"`; source: gitlab.yml "
                            "`registry.api_url`. Run `ipv6-listener`."),
    "notification-refused": ("The registry's notifications are refused (401/403)",
                             "Give the registry's endpoint the secret GitLab expects: run the `notifications` runbook, "
                             "which compares both sides by digest.\n"
                             "- Omnibus: `gitlab_rails['registry_notification_secret']` = the `Authorization` header in "
                             "`registry['notifications']`, then `gitlab-ctl reconfigure`.\n"
                             "- Helm: `global.registry.notificationSecret` for both sides.\n"
                             "- Source: gitlab.yml `registry.notification_secret` = config.yml's endpoint header."),
    "notification-unreachable": ("The registry cannot reach its notification endpoint",
                                 "Check the endpoint URL from the registry host (`curl -X POST <url>` must answer 401, "
                                 "not a connection error); run the `notifications` runbook."),
    "push-retry-loop": ("Pushes stuck in retry loops (uploads restarted, never finished)",
                        "The upload URLs the registry hands out do not work through the proxy.\n"
                        "- Omnibus: `registry['env'] = { 'REGISTRY_HTTP_RELATIVEURLS' => true }`, reconfigure.\n"
                        "- Source: config.yml `http.relativeurls: true`.\n"
                        "- Docker Compose: the same `registry['env']` in GITLAB_OMNIBUS_CONFIG, and both "
                        "`external_url` and `registry_external_url` on https.\n"
                        "- Custom proxies: forward `Host` and `X-Forwarded-Proto` (`proxy_set_header "
                        "X-Forwarded-Proto $scheme;`)."),
}


def _refs(scenario: str) -> tuple[str, ...]:
    from ..scenarios import CATALOGUE as SCENARIOS  # only when a signature is found (the spec is ~30 ms to import)

    sc = SCENARIOS.get(scenario)
    return (SEED_LOGS, sc.seed_section) if sc and scenario not in ("logs",) else (SEED_LOGS,)


def _when(st_first, st_last) -> str:
    if st_first is None:
        return "(no timestamps)"
    if st_first == st_last:
        return f"at {_iso(st_first)}"
    return f"from {_iso(st_first)} to {_iso(st_last)}"


def _signature_finding(st: SignatureStats) -> Finding:
    sig = st.signature
    title, remedy = REMEDIES.get(sig.id, (sig.meaning, ""))
    severity = st.effective_severity
    fields = st.field_summary()
    detail = f"{st.count} line(s) {_when(st.first_seen, st.last_seen)} in {len(st.sources)} file(s). {sig.meaning}"
    if fields:
        detail += " Extracted: " + "; ".join(f"{k} = {', '.join(v[:3])}" for k, v in fields.items()) + "."
    if st.routine:
        detail += f" Every hit was a {'/'.join(sorted(st.methods))} request: routine."
    if severity != "info" and sig.scenario != "logs":
        detail += f" Next: run the `{sig.scenario}` runbook."
    evidence = {
        "signature": sig.id,
        "scenario": sig.scenario,
        "count": st.count,
        "first_seen": _iso(st.first_seen),
        "last_seen": _iso(st.last_seen),
        "fields": fields,
        "methods": dict(st.methods.most_common(5)),
        "files": dict(st.sources.most_common(5)),
        "examples": list(st.examples),
    }
    return Finding(sig.finding_id, _STATUS[severity], title, detail=detail, evidence=evidence, remedy=remedy, refs=_refs(sig.scenario))


def _retry_finding(scan: LogScan) -> Finding | None:
    loops = scan.uploads.loops()
    if not loops:
        return None
    agg = AGGREGATES[0]
    title, remedy = REMEDIES[agg.id]
    worst = loops[0]
    detail = (f"{len(loops)} repositor{'y' if len(loops) == 1 else 'ies'} with blob uploads started again and "
              f"again but rarely finished; worst: {worst.describe()}. {agg.meaning} "
              f"Next: run the `{agg.scenario}` runbook.")
    evidence = {"signature": agg.id, "scenario": agg.scenario, "repositories": [r.to_json() for r in loops[:20]]}
    return Finding(agg.finding_id, Status.FAIL, title, detail=detail, evidence=evidence, remedy=remedy, refs=_refs(agg.scenario))


_PROBLEM_IDS = {"missing": "logs.path_missing", "unreadable": "logs.path_unreadable", "empty": "logs.path_empty",
                "corrupt": "logs.file_corrupt"}


def check_logs(scan: LogScan) -> list[Finding]:
    """One finding per matched signature (worst first) and per detected retry loop, one per path that could
    not be read, one per file in an unknown format, and an ok finding when no known error was found."""
    findings = [_signature_finding(st) for st in scan.matched]
    loop = _retry_finding(scan)
    if loop is not None:
        findings.insert(sum(1 for f in findings if f.status == Status.FAIL), loop)
    for p in scan.problems:
        findings.append(Finding(
            _PROBLEM_IDS[p.kind], Status.ERROR if p.kind != "empty" else Status.WARN,
            f"Log path not read: {p.path}", detail=f"{p.path}: {p.reason}. The other paths were scanned.",
            evidence={"path": p.path, "kind": p.kind, "reason": p.reason},
            remedy="Check the path (Omnibus: /var/log/gitlab/registry/, /var/log/gitlab/nginx/, "
            "/var/log/gitlab/gitlab-rails/; Helm: `kubectl logs` of the registry pods saved to a file) and that "
            "this user may read it (`sudo`, or the `adm`/`git` group).",
            refs=(SEED_LOGS,),
        ))
    for f in scan.files:
        if f.format == "unknown" and f.sampled_lines:
            findings.append(Finding(
                "logs.unknown_format", Status.WARN, f"Log format not recognised: {f.path}",
                detail=f"None of the first {f.sampled_lines} lines is a registry, NGINX, Rails, client or CI log line; "
                "signatures were still searched, but times and request fields are missing."
                + (f" First line not read: {f.unparsed_sample!r}." if f.unparsed_sample else ""),
                evidence=f.to_json(),
                remedy="Point `log_paths` at the registry (`current`), NGINX (`gitlab_registry_*.log`) and Rails "
                "(`production_json.log`) logs.",
                refs=(SEED_LOGS,),
            ))
    signature_ids = {st.signature.finding_id for st in scan.stats.values()} | {AGGREGATES[0].finding_id}
    alarming = any(f.status in (Status.FAIL, Status.WARN) for f in findings if f.id in signature_ids)
    read = [f for f in scan.files if f.skipped in (None, "last written before since")]
    if read and not alarming:
        window = ""
        if scan.since or scan.until:
            window = f" between {_iso(scan.since) or 'the start'} and {_iso(scan.until) or 'the end'}"
        findings.append(Finding(
            "logs.no_known_errors", Status.OK, "No known error signature in the logs",
            detail=f"{len(read)} file(s), {scan.bytes_scanned / 1048576:.1f} MiB scanned{window}: none of the "
            f"{len(BY_ID)} known signatures matched a warning or failure.",
            evidence={"files": [f.path for f in read], "bytes": scan.bytes_scanned, "unparsed": scan.unparsed,
             "counts": scan.counts}, refs=(SEED_LOGS,),
        ))
    return findings
