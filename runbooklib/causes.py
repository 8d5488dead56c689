"""Root causes: the few things that are actually wrong, each with one diagnosis and one fix per install type.

A fault is usually seen several times: triage sees the registry refuse a token, the log scan sees the
registry's "untrusted key" lines, the trust runbook compares the keys. Each of those findings keeps its own
id (what was observed); this catalogue says which *cause* an observation establishes, and which symptoms a
cause explains, so an incident index shows one row per cause with the evidence from every runbook that saw
it. The finding code never needs to know: the mapping lives here, like the routing rules in scenarios.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any, Iterable, Mapping

DOCS = "https://docs.gitlab.com/administration/packages/container_registry_troubleshooting/"
_SEVERITY = {"fail": 4, "error": 3, "warn": 2}


@dataclass(frozen=True)
class Cause:
    """One root cause: what is wrong (diagnosis), how to fix it per install type, and which findings show it."""

    key: str
    title: str
    diagnosis: str
    shows: tuple[str, ...]  # finding id patterns (fnmatch) that establish this cause
    explains: tuple[str, ...] = ()  # symptoms it accounts for when established
    remedy: Mapping[str, str] = field(default_factory=dict)  # install type -> fix (Markdown)
    scenario: str = ""  # the runbook that digs into it
    docs: str = DOCS
    suggests: tuple[str, ...] = ()  # weaker evidence: establishes it only when no established cause explains it

    def matches(self, finding_id: str) -> bool:
        return any(fnmatchcase(finding_id, p) for p in self.shows)

    def explains_symptom(self, finding_id: str) -> bool:
        return any(fnmatchcase(finding_id, p) for p in self.explains)

    def suggested_by(self, finding_id: str) -> bool:
        return any(fnmatchcase(finding_id, p) for p in self.suggests)


CAUSES: tuple[Cause, ...] = (
    Cause("not-a-registry", "registry_url does not reach the registry",
          "Whatever answers at the registry URL (a web page, GitLab's sign-in, a redirect) is not the container "
          "registry, so clients never talk to it.",
          ("forwarding.not_registry", "forwarding.gitlab_ui", "forwarding.redirect", "forwarding.http_to_https"),
          ("tags.*", "token.no_realm", "clock.registry", "pull.not_run"),
          {"Omnibus": "Set `registry_external_url` to the registry's own host/port and run `gitlab-ctl reconfigure`.",
           "Helm": "Point the registry Ingress (`registry.ingress`) host at the registry service.",
           "Source": "Make the NGINX server block for the registry host/port `proxy_pass` `/v2/` to the registry."},
          "triage"),
    Cause("registry-unreachable", "The registry does not answer",
          "Connections to the registry are refused, time out or fail before any HTTP answer.",
          ("forwarding.unreachable",), ("token.*", "tags.not_checked", "pull.not_run", "clock.*"),
          {"Omnibus": "`gitlab-ctl status registry`; `gitlab-ctl tail registry`.",
           "Helm": "`kubectl get pods -l app=registry`; check the Service and Ingress.",
           "Source": "Check the registry process and that it listens on `http.addr`."}, "triage"),
    Cause("token-key-mismatch", "GitLab signs tokens with a key the registry does not trust",
          "The registry's `rootcertbundle` does not hold the certificate of the key GitLab signs tokens with, so "
          "every token is `invalid_token` and logins or pulls fail.",
          ("trust.pair_mismatch", "trust.untrusted_key", "logs.token_untrusted_key", "logs.token_no_signing_key"),
          ("logs.auth_invalid_token", "push.canary.auth", "pull.not_run", "tags.not_checked", "schema1.live.no_token",
           "token.invalid_token", "logs.client_unauthorized"),
          {"Omnibus": "Make `gitlab_rails['registry_key_path']` and `registry['internal_certificate']` a matching "
                      "pair (or remove both to let `gitlab-ctl reconfigure` regenerate them), then `gitlab-ctl restart registry`.",
           "Helm": "Use one `registry.certificate` secret for both GitLab (`global.registry.certificate`) and the registry.",
           "Source": "Put the certificate of GitLab's `registry.key` into the registry's `auth.token.rootcertbundle` "
                     "and restart the registry."}, "token-untrusted-key",
          suggests=("token.invalid_token", "logs.auth_invalid_token")),
    Cause("registry-key-missing", "GitLab cannot read its registry signing key",
          "`gitlab-registry.key` is missing or unreadable: GitLab cannot issue tokens or delete repositories.",
          ("registry_key.missing", "registry_key.unusable", "token.realm_bad_answer", "logs.missing_registry_key",
           "logs.registry_key_invalid"),
          ("token.*", "push.canary.auth", "logs.rails_jwt_auth_error"),
          {"Omnibus": "Restore `/var/opt/gitlab/gitlab-rails/etc/gitlab-registry.key` from backup (or run "
                      "`gitlab-ctl reconfigure` to regenerate the pair), then `gitlab-ctl restart`.",
           "Helm": "Check the `registry.certificate` secret is mounted in the webservice pods.",
           "Source": "Make `config/registry.key` readable by the GitLab user."}, "missing-registry-key"),
    Cause("certificate-untrusted", "Clients do not trust the registry's certificate",
          "The registry (or its realm) presents a certificate clients cannot verify: self-signed, from an unknown "
          "CA, missing its intermediate, or expired.",
          ("tls.*.self_signed", "tls.*.unknown_ca", "tls.*.missing_intermediate", "tls.*.verify_failed",
           "tls.*.expired", "logs.x509_*", "logs.tls_*"),
          ("tls.*.handshake",),
          {"Omnibus": "Serve a certificate from a trusted CA with its full chain (`registry_nginx['ssl_certificate']`), "
                      "or add the CA to `/etc/gitlab/trusted-certs/` and each client's trust store.",
           "Helm": "`global.certificates.customCAs` for GitLab; the Ingress TLS secret with the full chain.",
           "Source": "Full chain in the server certificate file; the CA in `/etc/docker/certs.d/<host:port>/ca.crt` on clients."},
          "x509-unknown-authority"),
    Cause("forwarded-proto-missing", "The proxy does not tell the registry the request was HTTPS",
          "NGINX terminates TLS without `X-Forwarded-Proto`/`Host`, so the registry hands out `http://` upload "
          "URLs and pushes retry forever.",
          ("nginx.headers.*", "hops.location.*", "urls.http_host"),
          ("hops.upload_restarts", "logs.push_retry_loop", "push.canary.failed", "logs.blob_upload_unknown", "logs.client_retrying"),
          {"Omnibus": "Keep Omnibus's `gitlab-registry.conf` (it sets the headers); for an external proxy add "
                      "`proxy_set_header X-Forwarded-Proto $scheme;` and `Host $http_host`.",
           "Helm": "Ingress annotations that pass `X-Forwarded-Proto`; or `registry.relativeurls: true`.",
           "Source": "`proxy_set_header X-Forwarded-Proto $scheme;` `proxy_set_header Host $http_host;`, or "
                     "`http.relativeurls: true` in config.yml."}, "push-retry-relative-urls"),
    Cause("proxy-body-limit", "A proxy refuses large layers (413)",
          "A proxy's `client_max_body_size` (or a load balancer's limit) is smaller than the layers clients push.",
          ("hops.body_too_large", "nginx.body_size.limited", "logs.body_too_large_413", "body_limit.refused",
           "body_limit.hop_limited"), ("push.canary.failed", "body_limit.no_answer", "hops.unexplained"),
          {"Omnibus": "`registry_nginx['client_max_body_size'] = 0` (Omnibus's default), then `gitlab-ctl reconfigure`.",
           "Helm": "`nginx.ingress.kubernetes.io/proxy-body-size: \"0\"` on the registry Ingress.",
           "Source": "`client_max_body_size 0;` in the registry's server block (and in every proxy in front)."},
          "body-limit-413"),
    Cause("storage-403", "The storage refuses the presigned URLs clients are redirected to",
          "With `storage.redirect` on, clients fetch blobs from the bucket directly; the bucket answers 403 "
          "(policy, KMS, or a proxy/CDN in between), which the registry never logs.",
          ("hops.forbidden.storage", "hops.forbidden.cdn"),
          ("pull.failed", "push.canary.failed", "logs.client_403_empty_body", "logs.push_403_response", "logs.client_denied"),
          {"Omnibus": "Fix the bucket policy for the presigned GETs, or `registry['storage']['redirect'] = { 'disable' => true }`.",
           "Helm": "`registry.storage` secret: `redirect: {disable: true}`, or fix the bucket policy.",
           "Source": "`storage.redirect.disable: true` in config.yml, or fix the bucket policy."}, "push-403"),
    Cause("gc-deleted-referenced", "Garbage collection deleted content that tags still reference",
          "An offline `registry garbage-collect` removed manifests or blobs that a tag still needs: with "
          "`--delete-untagged`, registry 2.x deletes the platform manifests of multi-arch indexes; run without "
          "read-only mode, it deletes blobs of pushes in flight. Tags stay listed while pulls fail.",
          ("gc.index_children_deleted", "gc.pull_broken", "gc.storage_dangling"),
          ("gc.index_children_at_risk", "gc.untagged_removed", "logs.manifest_unknown", "logs.blob_unknown",
           "logs.gc_manifest_eligible", "pull.failed", "gc.versioning_off"),
          {"Omnibus": "`gitlab-ctl registry-garbage-collect` without `-m` while multi-arch images are stored (or move "
                      "to the metadata database and its online GC); `registry['storage']` `maintenance` `readonly` "
                      "during any GC; restore deleted objects from bucket versioning or push the tags again.",
           "Helm": "Run `registry garbage-collect` without `--delete-untagged` and with `registry.maintenance.readonly."
                   "enabled: true` for the window (or use the metadata database's online GC); restore from bucket "
                   "versioning or push again.",
           "Source": "`storage.maintenance.readonly.enabled: true` during `registry garbage-collect`, no "
                     "`--delete-untagged` on 2.x with indexes; restore from bucket versioning or push again."},
          "gc-broke-pulls", docs="", suggests=("gc.index_children_at_risk", "logs.gc_manifest_eligible")),
    Cause("storage-redirect-unreachable", "Clients cannot follow the registry's redirect to storage",
          "With `storage.redirect` on, the registry sends clients a presigned URL for its own storage endpoint; that "
          "endpoint is reachable only inside the registry's network (an in-cluster Service, a private IP or VPC "
          "endpoint), or the URL is expired when used (short expiry, clocks apart), so pulls of existing layers "
          "fail while the registry's own storage access works.",
          ("redirect.storage_unreachable", "redirect.expired", "hops.storage_unreachable", "hops.storage_expired",
           "logs.storage_redirect_unreachable", "logs.storage_url_expired"),
          ("pull.failed", "pull.not_run", "push.canary.failed", "hops.unexplained", "redirect.endpoint_internal",
           "redirect.short_expiry"),
          {"Omnibus": "`registry['storage'] = { 's3' => { ... }, 'redirect' => { 'disable' => true } }` (or a "
                      "`regionendpoint` clients reach), then `gitlab-ctl reconfigure`; keep clocks in sync (NTP).",
           "Helm": "`redirect: {disable: true}` in the `registry.storage` secret, or a `regionendpoint` clients "
                   "resolve (not the in-cluster MinIO Service).",
           "Source": "`storage.redirect.disable: true` in config.yml (or a reachable `storage.s3.regionendpoint`), "
                     "then restart the registry."},
          "storage-redirect-unreachable", docs="", suggests=("redirect.endpoint_internal",)),
    Cause("ipv6-upstream", "NGINX proxies to an address the registry does not listen on",
          "NGINX reaches the registry on `[::1]` (localhost resolving to IPv6) while the registry listens on IPv4.",
          ("nginx.upstream.*", "hops.proxy_bad_gateway", "logs.nginx_ipv6_upstream_refused", "logs.rails_registry_ipv6",
           "ipv6.localhost", "ipv6.upstream_*"), ("logs.http_502", "logs.client_http_502", "logs.nginx_upstream_refused"),
          {"Omnibus": "`registry['registry_http_addr'] = \"127.0.0.1:5000\"` and `registry_nginx` proxying to 127.0.0.1.",
           "Helm": "Not applicable (Services address pods by IP).",
           "Source": "`proxy_pass http://127.0.0.1:5000;` (not localhost) or make the registry listen on both."},
          "ipv6-listener"),
    Cause("empty-tag-markers", "Zero-byte folder markers make empty tag names",
          "Copy tools (AWS DataSync, some sync scripts) left zero-byte `…/` objects under `repositories/`; the "
          "registry lists them as tags with an empty name, which breaks GitLab's tag views and cleanup.",
          ("tags.empty_name", "markers.found", "*.empty_tag_listed"), ("cleanup.*",),
          {"Omnibus": "Run `empty-name-tags` and apply its plan (deletes only the zero-byte markers it lists).",
           "Helm": "Same runbook against the bucket; no chart change.", "Source": "Same runbook against the bucket."},
          "empty-name-tags"),
    Cause("s3-chunksize", "S3 multipart chunks too small for large layers",
          "The registry's S3 `chunksize` is at or near the 5 MiB default: large layers are pushed in many parts and "
          "long uploads break off (`unexpected EOF`), as GitLab's troubleshooting page describes.",
          ("eof.chunksize_warn", "eof.chunksize_fail"),
          ("logs.blob_patch_unexpected_eof", "eof.multipart_incomplete", "logs.s3_unexpected_eof", "logs.upload_copy_unexpected_eof",
           "logs.client_http_500"),
          {"Omnibus": "`registry['storage'] = { 's3' => { ..., 'chunksize' => 25000000 } }` (25 MB or more), then "
                      "`gitlab-ctl reconfigure`.",
           "Helm": "`chunksize: 25000000` in the `registry.storage` secret's s3 section.",
           "Source": "`storage.s3.chunksize: 25000000` in config.yml."}, "s3-push-unexpected-eof"),
    Cause("storage-unhealthy", "The registry's storage health check fails",
          "The registry cannot reach or use its storage, so it answers 503 to every `/v2/` request.",
          ("health.storage_driver", "health.failing", "forwarding.upstream_down", "logs.health_check_failed"),
          ("logs.http_503", "logs.client_http_503"),
          {"Omnibus": "Check `registry['storage']` credentials, endpoint and region; `gitlab-ctl tail registry`.",
           "Helm": "Check the `registry.storage` secret and network policy to the bucket.",
           "Source": "Check `storage.s3` in config.yml and the bucket's reachability."}, "s3-permissions"),
    Cause("s3-credentials", "The S3 credentials or permissions are wrong",
          "The key is unknown, the secret does not match, or the IAM policy lacks an action the registry needs.",
          ("s3.permissions.errors", "s3.permissions.denied", "s3.credentials.*", "s3.region.mismatch", "s3.bucket.missing", "logs.s3_access_denied",
           "logs.s3_bad_credentials", "logs.s3_wrong_region", "logs.s3_session_error"), ("logs.health_check_failed",),
          {"Omnibus": "Fix `registry['storage']['s3']` (accesskey, secretkey, region) and the IAM policy.",
           "Helm": "Fix the `registry.storage` secret and the IAM role/policy.",
           "Source": "Fix `storage.s3` in config.yml and the IAM policy."}, "s3-permissions"),
    Cause("clock-skew", "Clocks disagree between GitLab, the registry and clients",
          "Tokens look expired or not yet valid because the machines' clocks differ by more than a minute.",
          ("clock.*", "logs.token_not_yet_valid", "logs.s3_clock_skew"), ("token.invalid_token", "clock.token*", "logs.auth_invalid_token", "trust.token_times*"),
          {"Omnibus": "Run NTP (chrony/systemd-timesyncd) on the GitLab and registry hosts.",
           "Helm": "Nodes' time sync (chrony on the node image).", "Source": "Run NTP on every host."}, "triage"),
    Cause("debug-exposed", "The registry's debug server is reachable from outside",
          "The debug address listens beyond loopback: `/debug/pprof` and `/debug/vars` leak internals, and registry "
          "2.8's `/debug/vars` shows its configuration with the notification endpoint's `Authorization` header and the "
          "Redis password in clear (rotate both if it was reachable).",
          ("debug.exposed",), (),
          {"Omnibus": "`registry['debug_addr'] = \"localhost:5001\"`.",
           "Helm": "Keep `registry.debug.addr.port` inside the pod; no Service for it.",
           "Source": "`http.debug.addr: localhost:5001`."}, "debug-server-metrics"),
    Cause("abandoned-uploads", "Abandoned uploads are left in storage",
          "Upload sessions in `_uploads/` and incomplete S3 multipart uploads outlive the pushes that started them: "
          "they cost storage, and multipart parts never show up in a listing of the bucket.",
          ("bucket.uploads_stale", "bucket.multipart_incomplete"), (),
          {"Omnibus": "Keep upload purging on (`registry['storage']['maintenance'] = { 'uploadpurging' => { "
                      "'enabled' => true, 'age' => '168h', 'interval' => '24h' } }`) and add an S3 lifecycle rule "
                      "with `AbortIncompleteMultipartUpload`.",
           "Helm": "`registry.maintenance.uploadpurging.enabled: true` (with `age`, `interval`) and the S3 "
                   "lifecycle rule.",
           "Source": "`storage.maintenance.uploadpurging` in config.yml and the S3 lifecycle rule."},
          "bucket-metrics"),
    Cause("debug-logging-on", "The registry logs at debug level",
          "Debug logs are large and can hold tokens and repository details; GitLab asks to turn them off once "
          "troubleshooting is done.",
          ("debug_logs.enabled", "debug_logs.rb_debug", "debug_logs.lines_present", "debug_logs.token*"), ("debug_logs.rb_mismatch",),
          {"Omnibus": "`registry['log_level'] = 'info'` in gitlab.rb, `gitlab-ctl reconfigure` (it also undoes a hand "
                      "edit of config.yml), then rotate the logs that hold debug lines.",
           "Helm": "`registry.log.level: info` and `helm upgrade`.",
           "Source": "`log.level: info` in config.yml and restart the registry."}, "debug-logs"),
    Cause("notification-secret-mismatch", "GitLab refuses the registry's notifications (secret mismatch)",
          "The `Authorization` header of the registry's notification endpoint is not GitLab's "
          "`registry.notification_secret` (or GitLab has none): GitLab answers 401 to every event, the registry "
          "retries the oldest one forever and queues the rest in memory; GitLab never learns of pushes and deletes.",
          ("notify.secret_mismatch", "notify.secret_missing", "notify.auth_header_missing", "notify.delivery.refused",
           "notify.queue.refused", "logs.notification_refused"),
          ("vars.notifications_failing", "notify.queue.*", "logs.notification_backoff", "logs.notification_events_lost",
           "metrics.notifications*"),
          {"Omnibus": "Set `gitlab_rails['registry_notification_secret']` to the value of the `Authorization` header in "
                      "`registry['notifications']` (and `registry['notification_secret']`), then `gitlab-ctl reconfigure`.",
           "Helm": "Use one secret for both sides: `global.registry.notificationSecret`, referenced by the endpoint's "
                   "`headers.Authorization` in `registry.notifications`.",
           "Source": "Make gitlab.yml's `registry.notification_secret` equal config.yml's "
                     "`notifications.endpoints[].headers.Authorization`; restart the registry and GitLab."},
          "notifications",
          docs="https://docs.gitlab.com/administration/packages/container_registry/#configure-container-registry-notifications"),
    Cause("notification-endpoint-unreachable", "The registry cannot reach GitLab's notification endpoint",
          "The endpoint URL in the registry's `notifications` points where nothing answers (wrong host or port, DNS, "
          "firewall, TLS trust): every event fails without an HTTP answer and is retried forever.",
          ("notify.delivery.unreachable", "notify.queue.unreachable", "logs.notification_unreachable"),
          ("vars.notifications_failing", "notify.queue.*", "logs.notification_backoff", "logs.notification_events_lost",
           "logs.notification_rejected", "metrics.notifications*"),
          {"Omnibus": "Fix the `url` of `registry['notifications']` (GitLab's URL + `/api/v4/container_registry_event/events`, "
                      "reachable from the registry host), then `gitlab-ctl reconfigure`.",
           "Helm": "`registry.notifications.endpoints[].url`: the webservice Service, e.g. "
                   "`http://<release>-webservice-default:8181/api/v4/container_registry_event/events`.",
           "Source": "Fix `notifications.endpoints[].url` in config.yml (test with `curl -X POST <url>` from the registry "
                     "host: 401 means reachable); restart the registry."},
          "notifications",
          docs="https://docs.gitlab.com/administration/packages/container_registry/#configure-container-registry-notifications"),
    Cause("registry-credentials-refused", "GitLab refuses the client's credentials for the registry",
          "GitLab's `/jwt/auth` answers 401 `HTTP Basic: Access denied`: a wrong password, a password on an account "
          "with two-factor authentication (a personal access token is needed), an expired or revoked token, a blocked "
          "user, or a CI job token of a finished job.",
          ("jwt.refused.credentials", "logs.rails_jwt_auth_failed"),
          ("token.bad_credentials", "logs.client_basic_denied", "logs.rails_jwt_auth_error", "push.canary.auth",
           "pull.not_run", "tags.not_checked"),
          {"Omnibus": "Use a personal access token with `read_registry`/`write_registry` as the password (required with "
                      "2FA); unblock the user in Admin → Users; in CI use `$CI_REGISTRY_USER`/`$CI_REGISTRY_PASSWORD`.",
           "Helm": "The same: the credentials are GitLab's; the webservice pods' `auth_json.log` names the refused login.",
           "Source": "The same: `log/auth_json.log` (`JWT authentication failed`, `http_user`) names the refused login."},
          "jwt-auth-refused", docs="https://docs.gitlab.com/user/packages/container_registry/authenticate_with_container_registry/",
          suggests=("token.bad_credentials", "logs.client_basic_denied")),
    Cause("registry-token-scope", "GitLab's registry token lacks the scope or rights the client needs",
          "The credentials are valid, but GitLab refuses registry tokens (403 DENIED: no `read_registry`/`write_registry` "
          "scope) or issues a token with fewer actions than asked (no `write_registry`, a role below Developer, a CI "
          "job token used on another project): pushes end in `denied: requested access to the resource is denied`.",
          ("jwt.refused.no_registry_scope", "jwt.scope.reduced", "jwt.scope.none"),
          ("logs.client_denied", "logs.auth_insufficient_scope", "logs.rails_jwt_auth_error"),
          {"Omnibus": "Create a token with `read_registry` and `write_registry`; give the user Developer or more in the "
                      "project; for CI job tokens push only to the job's own project or add it to the target's allowlist.",
           "Helm": "The same (GitLab permissions, not chart settings).",
           "Source": "The same (GitLab permissions, not configuration)."},
          "jwt-auth-refused", docs="https://docs.gitlab.com/user/packages/container_registry/authenticate_with_container_registry/"),
    Cause("redis-cache-unavailable", "The registry's Redis cache is down or refuses the registry",
          "`storage.cache.blobdescriptor: redis` points at a Redis that does not answer, or that refuses the registry's "
          "AUTH/SELECT: the registry logs a connection error per attempt and looks every blob descriptor up in the "
          "storage instead, so requests are slower but still answered.",
          ("redis.unreachable", "redis.auth_refused", "redis.auth_required", "redis.db_refused", "redis.config.no_addr",
           "logs.redis_unreachable", "logs.redis_auth_failed"),
          ("redis.cache.no_hits", "redis.health.*", "redis.unexpected"),
          {"Omnibus": "Start Redis (or fix the registry's Redis address and password in gitlab.rb), then "
                      "`gitlab-ctl reconfigure`; `gitlab-ctl tail registry` must stop showing `error connecting to redis`.",
           "Helm": "Fix `registry.redis.cache` (host, port, password secret) or the Redis deployment; `helm upgrade`.",
           "Source": "Fix `redis.addr` / `redis.password` / `redis.db` in config.yml (or start Redis); restart the "
                     "registry. `storage.cache.blobdescriptor: inmemory` works without Redis meanwhile."},
          "redis-cache-down", docs="https://distribution.github.io/distribution/about/configuration/#redis"),
)

BY_KEY = {c.key: c for c in CAUSES}


def cause_of(finding_id: str, status: str = "fail") -> str:
    """The cause a finding establishes ('' for none, and for ok/skip/info findings, which establish nothing)."""
    if status not in _SEVERITY:
        return ""
    return next((c.key for c in CAUSES if c.matches(finding_id)), "")


def group(findings: Iterable[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Merged findings (dicts with id, status, title, scenario) -> (causes, other symptoms).

    A cause row: key, title, diagnosis, severity (worst status of its evidence), scenario, remedy, docs, and
    its evidence (each finding that shows it or a symptom it explains). Symptoms without a found cause stand
    alone, one row per id with every runbook that saw it. Both lists: worst first, then earliest seen.
    """
    items = [dict(f, _order=i) for i, f in enumerate(findings) if f.get("status") in _SEVERITY]
    rows: dict[str, dict[str, Any]] = {}
    for f in items:  # strong evidence establishes its cause
        key = cause_of(str(f["id"]), str(f["status"]))
        if key:
            _add(rows, BY_KEY[key], f)

    def explaining(finding_id: str) -> dict[str, Any] | None:
        return next((rows[k] for k in rows if BY_KEY[k].explains_symptom(finding_id)), None)

    weak = [f for f in items if not cause_of(str(f["id"]), str(f["status"]))]
    for f in weak:  # weak evidence establishes a cause only when none found so far explains it
        if explaining(str(f["id"])) is None:
            suggested = next((c for c in CAUSES if c.suggested_by(str(f["id"]))), None)
            if suggested is not None:
                _add(rows, suggested, f)
                f["_claimed"] = True
    for f in weak:
        if f.get("_claimed"):
            continue
        explained = explaining(str(f["id"]))
        if explained is not None:
            explained["evidence"].append(_evidence(f, symptom=True))
    others: dict[str, dict[str, Any]] = {}
    claimed = {(e["scenario"], e["id"]) for r in rows.values() for e in r["evidence"]}
    for f in items:
        if (f.get("scenario", ""), f["id"]) in claimed:
            continue
        row = others.setdefault(str(f["id"]), {"id": f["id"], "title": f["title"], "status": f["status"],
                                               "scenarios": [], "remedy": f.get("remedy", ""), "_order": f["_order"]})
        if _SEVERITY[str(f["status"])] > _SEVERITY[row["status"]]:
            row["status"] = f["status"]
        if f.get("scenario") and f["scenario"] not in row["scenarios"]:
            row["scenarios"].append(f["scenario"])
    order = lambda r: (-_SEVERITY[r["status"]], r["_order"])  # noqa: E731
    causes = sorted(rows.values(), key=order)
    rest = sorted(others.values(), key=order)
    for r in causes + rest:
        r.pop("_order", None)
    return causes, rest


def _evidence(f: Mapping[str, Any], symptom: bool = False) -> dict[str, Any]:
    return {"scenario": f.get("scenario", ""), "id": f["id"], "title": f["title"], "status": f["status"],
            "symptom": symptom}


def _add(rows: dict[str, dict[str, Any]], cause: Cause, f: Mapping[str, Any]) -> None:
    row = rows.get(cause.key)
    if row is None:
        row = rows[cause.key] = {"key": cause.key, "title": cause.title, "diagnosis": cause.diagnosis,
                                 "status": f["status"], "scenario": cause.scenario, "remedy": dict(cause.remedy),
                                 "docs": cause.docs, "evidence": [], "_order": f["_order"]}
    if _SEVERITY[str(f["status"])] > _SEVERITY[row["status"]]:
        row["status"] = f["status"]
    row["evidence"].append(_evidence(f))
