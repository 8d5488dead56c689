"""Hop analysis: which hop of a push said what. Used by the canary push and by imported captures (HAR).

A push crosses several hops: the proxy (NGINX), the registry, GitLab's token realm and, when storage
redirects are on, the storage itself (presigned S3/GCS URLs). Clients report only the last status
("error parsing HTTP 403 response body"), so we look at every request/response pair and name

* ``Location`` headers whose scheme or host differ from what the client used (the registry builds absolute
  URLs from ``X-Forwarded-Proto`` / ``Host``; when NGINX does not forward them, clients are sent to
  ``http://`` on the TLS port and retry forever: GitLab's documented "Image push errors"),
* the origin of each 403: storage (S3 XML ``AccessDenied``, ``Server: AmazonS3``, a presigned URL), the
  registry (JSON ``DENIED``), GitLab's realm, or the proxy (an NGINX HTML page),
* 413 (NGINX ``client_max_body_size``), 502/504 at the proxy,
* the same upload restarted again and again (a retry loop).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from ..findings import Finding, Status

SEED_PUSH = "Image push errors"
SEED_403 = "Unexpected 403 error during push"
SEED_MITM = "Unexpected 403 error during push (mitmproxy)"
MASK = "[REDACTED]"

# query parameters that authenticate a request (presigned URLs, tokens) or carry signed state
_SECRET_QUERY = re.compile(
    r"^(x-amz-(signature|credential|security-token)|signature|awsaccesskeyid|x-goog-(signature|credential)|"
    r"googleaccessid|sig|se|sv|token|access_token|password|private_token|key|policy|_state)$",
    re.I,
)
_UPLOAD_START = re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/?$")
_UPLOAD_ANY = re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<uuid>[^/?]+)$")
_S3_CODE = re.compile(r"<Code>([^<]{1,80})</Code>")
_PLAIN_HTTP_TO_TLS = ("plain http request was sent to https port", "client sent an http request to an https server")
RESTART_THRESHOLD = 3


def strip_url(url: str) -> str:
    """A URL safe for evidence: no user:password, secret query values masked, ``_state`` shortened."""
    if not url:
        return ""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "[unparseable URL]"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@" + netloc.rsplit("@", 1)[1]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _SECRET_QUERY.match(k) else v) for k, v in pairs], safe="[]/:")
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def short_url(url: str, limit: int = 100) -> str:
    """A stripped URL short enough for a sentence: query values dropped, the path cut in the middle."""
    parts = urlsplit(url)
    path = parts.path if len(parts.path) <= limit else parts.path[: limit // 2] + "…" + parts.path[-limit // 3:]
    query = "?" + "&".join(k for k, _ in parse_qsl(parts.query, keep_blank_values=True)) if parts.query else ""
    return f"{parts.scheme}://{parts.netloc}{path}{query[:60]}"


@dataclass(frozen=True)
class Hop:
    """One request and what came back, as a row of the hop trace (URLs already stripped of secrets)."""

    method: str
    url: str
    status: int | None = None
    location: str = ""
    server: str = ""
    content_type: str = ""
    error_code: str = ""
    api_version: str = ""
    step: str = ""
    error: str = ""  # transport failure (refused, tls, timeout...) when there was no answer
    body_start: str = ""  # first characters of a non-JSON error body (HTML page, S3 XML), as text
    amz: bool = False  # the answer carried x-amz-* headers (S3 or an S3-compatible server)
    gitlab: bool = False  # the answer carried GitLab's headers (x-gitlab-meta, x-runtime)
    elapsed_ms: int | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in ("", None, False)}

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc.lower()

    @property
    def path(self) -> str:
        return urlsplit(self.url).path


def error_code_of(body: bytes | str, content_type: str = "") -> str:
    """The registry's ``errors[0].code`` (JSON) or S3's ``<Code>`` (XML); empty when neither."""
    if isinstance(body, bytes):
        body = body[:4096].decode("utf-8", errors="replace")
    text = body.strip()
    if not text:
        return ""
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return ""
        errs = data.get("errors") if isinstance(data, dict) else None
        if isinstance(errs, list) and errs and isinstance(errs[0], dict):
            return str(errs[0].get("code", ""))[:80]
        return ""
    m = _S3_CODE.search(text)
    return m.group(1) if m else ""


def hop_from_parts(method: str, url: str, status: int | None, headers: dict[str, str], body: bytes | str = b"",
                   step: str = "", error: str = "", elapsed_ms: int | None = None, note: str = "") -> Hop:
    """Build a hop from plain parts (lower-cased header names); used for live responses and HAR entries."""
    h = {k.lower(): v for k, v in headers.items()}
    ctype = h.get("content-type", "")
    code = error_code_of(body, ctype) if status is not None and status >= 400 else ""
    start = ""
    if status is not None and status >= 400 and not code:
        text = body[:600].decode("utf-8", errors="replace") if isinstance(body, bytes) else str(body)[:600]
        start = " ".join(text.split())[:200]
    elif code and "xml" in ctype:
        text = body[:600].decode("utf-8", errors="replace") if isinstance(body, bytes) else str(body)[:600]
        start = " ".join(text.split())[:200]
    return Hop(
        method=method.upper(), url=strip_url(url), status=status, location=strip_url(h.get("location", "")),
        server=h.get("server", ""), content_type=ctype.split(";")[0].strip(), error_code=code,
        api_version=h.get("docker-distribution-api-version", ""), step=step, error=error, body_start=start,
        amz=any(k.startswith("x-amz-") for k in h), gitlab=("x-gitlab-meta" in h or "x-runtime" in h),
        elapsed_ms=elapsed_ms, note=note,
    )


# ---------------------------------------------------------------------------------------------- origin


def origin(hop: Hop, registry_host: str = "", realm_url: str = "") -> str:
    """Who answered: ``storage``, ``registry``, ``realm``, ``proxy`` or ``unknown`` (``none`` without an answer)."""
    if hop.status is None:
        return "none"
    server = hop.server.lower()
    path = hop.path
    realm_path = urlsplit(realm_url).path if realm_url else ""
    if (realm_path and path == realm_path) or path.endswith("/jwt/auth") or hop.gitlab:
        return "realm"
    if "amazons3" in server or hop.amz or server in ("uploadserver", "minio") or "gcs" in server:
        return "storage"
    if hop.error_code and "xml" in hop.content_type:
        return "storage"
    if "/docker/registry/v2/" in path or "x-amz-" in hop.url.lower() or "x-goog-" in hop.url.lower():
        return "storage"
    if hop.api_version or (hop.error_code and hop.content_type == "application/json"):
        return "registry"
    if registry_host and hop.host and hop.host != registry_host and not path.startswith("/v2"):
        return "storage"
    if "html" in hop.content_type or hop.body_start.lower().startswith("<html") or server.startswith("nginx"):
        return "proxy"
    if path.startswith("/v2") and hop.status in (200, 201, 202, 204, 307):
        return "registry"
    return "unknown"


def trace_rows(hops: Iterable[Hop], registry_host: str = "", realm_url: str = "") -> list[dict[str, Any]]:
    """The hop trace as evidence rows (each with the hop's origin)."""
    rows = []
    for i, h in enumerate(hops, 1):
        row = {"#": i, **h.to_dict(), "origin": origin(h, registry_host, realm_url)}
        rows.append(row)
    return rows


def hops_table(hops: Iterable[Hop], registry_host: str = "", realm_url: str = ""):
    """The hop trace as a DataFrame (the table GitLab's documented mitmproxy walk-through ends in)."""
    import pandas as pd

    cols = ["#", "step", "method", "url", "status", "origin", "location", "server", "content_type", "error_code",
            "error", "note"]
    rows = trace_rows(hops, registry_host, realm_url)
    return pd.DataFrame([{c: r.get(c, "") for c in cols} for r in rows], columns=cols)


# ---------------------------------------------------------------------------------------------- analysis


@dataclass
class _Ctx:
    client_scheme: str
    client_host: str
    realm_url: str
    refs: tuple[str, ...]
    evidence_rows: list[dict[str, Any]] = field(default_factory=list)


_RELATIVE_REMEDY = (
    "Make the registry's upload URLs work for clients behind the proxy:\n"
    "- Omnibus: `registry['env'] = { \"REGISTRY_HTTP_RELATIVEURLS\" => true }` in /etc/gitlab/gitlab.rb, then "
    "`gitlab-ctl reconfigure`. If a third-party proxy offloads SSL in front of GitLab's NGINX, have it send "
    "`X-Forwarded-Proto https` and the original `Host`; make `external_url` and `registry_external_url` both https.\n"
    "- Helm: `registry.relativeurls: true` (or the Ingress must pass `X-Forwarded-Proto`/`Host`).\n"
    "- Source / own NGINX: `http.relativeurls: true` in config.yml, and in the registry's `location` block "
    "`proxy_set_header Host $http_host;` and `proxy_set_header X-Forwarded-Proto $scheme;`, then reload NGINX "
    "and restart the registry.\n"
    "- Docker Compose: `GITLAB_OMNIBUS_CONFIG: registry['env'] = { \"REGISTRY_HTTP_RELATIVEURLS\" => true }`."
)

_S3_403_REMEDY = (
    "The storage refused the client's request on a presigned (redirect) URL: the registry's storage "
    "credentials lack a permission the redirect needs (HEAD/GET of blob data is `s3:GetObject`), the bucket "
    "policy or a VPC endpoint policy denies it, or the presigned URL's clock/region is wrong.\n"
    "- Check the IAM policy against the registry's S3 sample policy (`s3:GetObject`, `s3:PutObject`, "
    "`s3:DeleteObject`, `s3:ListBucket`, `s3:GetBucketLocation`, `s3:ListMultipartUploadParts`, "
    "`s3:AbortMultipartUpload`, `s3:ListBucketMultipartUploads`) and run the `s3-permissions` runbook.\n"
    "- Or stop redirecting clients to storage: Omnibus `registry['storage'] = { 's3' => {...}, "
    "'redirect' => { 'disable' => true } }`; Helm `registry.storage` secret with `redirect: {disable: true}`; "
    "source: `storage.redirect.disable: true`."
)


def _finding(ctx: _Ctx, fid: str, status: Status, title: str, detail: str, rows: list[dict[str, Any]],
             remedy: str, refs: tuple[str, ...] | None = None, scenario: str = "") -> Finding:
    ev: dict[str, Any] = {"hops": rows}
    if scenario:
        ev["scenario"] = scenario
    return Finding(fid, status, title, detail=detail, evidence=ev, remedy=remedy, refs=refs or ctx.refs)


def _location_findings(ctx: _Ctx, hops: list[Hop], rows: list[dict[str, Any]]) -> list[Finding]:
    out = []
    downgrade, elsewhere = [], []
    for hop, row in zip(hops, rows):
        if not hop.location or hop.status is None:
            continue
        loc = urlsplit(hop.location)
        if not loc.scheme or not loc.path.startswith("/v2/"):
            continue  # relative Location, or a redirect out of the API (storage): both fine here
        src = urlsplit(hop.url)
        if src.path.startswith("/v2/") is False:
            continue
        if ctx.client_scheme == "https" and loc.scheme == "http":
            downgrade.append(row)
        elif loc.netloc.lower() != (ctx.client_host or src.netloc.lower()):
            elsewhere.append(row)
    plain = [r for h, r in zip(hops, rows)
             if h.status == 400 and any(s in h.body_start.lower() for s in _PLAIN_HTTP_TO_TLS)]
    if downgrade:
        first = downgrade[0]
        extra = (f" Following it, {len(plain)} request(s) hit the TLS port in plain HTTP and got "
                 "`400 The plain HTTP request was sent to HTTPS port`." if plain else "")
        out.append(_finding(
            ctx, "hops.location.scheme_downgrade", Status.FAIL,
            "The registry sends clients to http:// while they use https://",
            f"{len(downgrade)} response(s) carry a `Location` with `http://` although the client used https "
            f"(first: {first.get('method')} {short_url(first.get('url', ''))} → "
            f"{short_url(first.get('location', ''))}). The registry builds "
            "absolute URLs from the request: behind a proxy that terminates TLS and does not send "
            f"`X-Forwarded-Proto`, it believes the client spoke plain HTTP.{extra} Docker then retries the "
            "upload again and again (GitLab's documented retry loop) although `docker login` works.",
            downgrade[:5] + plain[:3], _RELATIVE_REMEDY, (SEED_PUSH,), "push-retry-relative-urls"))
    if elsewhere:
        first = elsewhere[0]
        out.append(_finding(
            ctx, "hops.location.host_mismatch", Status.FAIL,
            "The registry sends clients to another host or port",
            f"{len(elsewhere)} `Location` header(s) name a host other than the one the client used "
            f"({ctx.client_host or '?'}); first: {short_url(first.get('location', ''))}. The proxy does not "
            "forward the original "
            "`Host` (the registry sees the upstream address) or `http.host` in config.yml names another address.",
            elsewhere[:5], _RELATIVE_REMEDY, (SEED_PUSH,), "push-retry-relative-urls"))
    return out


def _forbidden_findings(ctx: _Ctx, hops: list[Hop], rows: list[dict[str, Any]]) -> list[Finding]:
    by_origin: dict[str, list[dict[str, Any]]] = {}
    for hop, row in zip(hops, rows):
        if hop.status == 403 and not (row["origin"] == "storage" and "expired" in hop.body_start.lower()):
            by_origin.setdefault(row["origin"], []).append(row)
    out = []
    for org, got in by_origin.items():
        first = got[0]
        what = f"{first.get('method')} {short_url(first.get('url', ''))}"
        if org == "storage":
            code = first.get("error_code") or "(no body: a HEAD answer)"
            out.append(_finding(
                ctx, "hops.forbidden.storage", Status.FAIL, "403 from the storage, not from the registry",
                f"{len(got)} request(s) got 403 from the storage backend (S3 error code {code}, "
                f"Server {first.get('server') or '?'}, content type {first.get('content_type') or '?'}); first: "
                f"{what}. The registry redirected the client to a presigned storage URL and the storage refused "
                "it: Docker prints `error parsing HTTP 403 response body: unexpected end of JSON input`.",
                got[:5], _S3_403_REMEDY, (SEED_403, SEED_MITM), "push-403"))
        elif org == "registry":
            out.append(_finding(
                ctx, "hops.forbidden.registry", Status.FAIL, "403 from the registry",
                f"{len(got)} request(s) got 403 from the registry itself (code {first.get('error_code') or '?'}); "
                f"first: {what}. The token does not grant this action on this repository (GitLab permissions, "
                "a protected or read-only repository, or storage in maintenance read-only mode).",
                got[:5],
                "Check the user's role in the project (Developer or above to push), the token scope the client "
                "asked for, and `storage.maintenance.readonly` in config.yml. The registry log line "
                "`response completed with error` names the error.",
                (SEED_403,), "push-403"))
        elif org == "realm":
            out.append(_finding(
                ctx, "hops.forbidden.realm", Status.FAIL, "403 from GitLab's token realm",
                f"{len(got)} token request(s) got 403 from GitLab (/jwt/auth); first: {what}. GitLab refused to "
                "issue a token for the requested scope (no access to the project, blocked user, or a "
                "deploy/job token without registry rights).",
                got[:5],
                "Check the user's access to the project and the token's scopes (`read_registry`, "
                "`write_registry`); see GitLab's production_json.log for the /jwt/auth request.",
                (SEED_403,), "push-403"))
        elif org == "proxy":
            out.append(_finding(
                ctx, "hops.forbidden.proxy", Status.FAIL, "403 from the proxy in front of the registry",
                f"{len(got)} request(s) got 403 as an HTML page (Server {first.get('server') or '?'}) without the "
                f"registry's API header; first: {what}. A proxy rule (`deny`, `allow`, `limit_except`, a WAF) "
                "refused it before the registry saw it.",
                got[:5],
                "Look for `deny`/`allow`/`limit_except`/`auth_basic` in the NGINX server block of the registry (or "
                "a WAF / load balancer rule); the NGINX access log shows the 403.",
                (SEED_403,), "push-403"))
        else:
            out.append(_finding(
                ctx, "hops.forbidden.unknown", Status.FAIL, "403 from an unidentified hop",
                f"{len(got)} request(s) got 403 from a hop that could not be identified; first: {what}.",
                got[:5], "Capture the traffic (see the push-403 runbook: mitmproxy / HAR) to see the full answer.",
                (SEED_403,), "push-403"))
    return out


def _status_findings(ctx: _Ctx, hops: list[Hop], rows: list[dict[str, Any]]) -> list[Finding]:
    out = []
    big = [r for h, r in zip(hops, rows) if h.status == 413]
    if big:
        out.append(_finding(
            ctx, "hops.body_too_large", Status.FAIL, "413: the proxy refuses large request bodies",
            f"{len(big)} request(s) got `413 Request Entity Too Large` (first: {big[0].get('method')} "
            f"{short_url(big[0].get('url', ''))}, Server {big[0].get('server') or '?'}). Docker sends a whole "
            "layer in one PATCH, "
            "so every layer larger than NGINX's `client_max_body_size` fails (NGINX's default is 1m).",
            big[:5],
            "Let the registry's server block accept any body size:\n"
            "- Omnibus: GitLab's registry NGINX sets `client_max_body_size 0`; check custom "
            "`registry_nginx['custom_gitlab_server_config']` / `nginx['custom_nginx_config']` and any proxy in front.\n"
            "- Helm: the Ingress annotation `nginx.ingress.kubernetes.io/proxy-body-size: \"0\"`.\n"
            "- Own NGINX: `client_max_body_size 0;` in the registry's `server` block, then `nginx -s reload`.",
            (SEED_PUSH,), "body-limit-413"))
    for code, fid, what, remedy in (
        (502, "hops.proxy_bad_gateway", "502 Bad Gateway at the proxy",
         "NGINX could not reach the registry upstream. Check where it proxies to (`proxy_pass`): an upstream on "
         "`[::1]` or `localhost` while the registry listens on 127.0.0.1 only is GitLab's documented IPv6 case (run "
         "`ipv6-listener`); with GCS storage, 502s during pushes are the HTTP/2 issue (run `gcs-http2`)."),
        (504, "hops.proxy_timeout", "504 Gateway Timeout at the proxy",
         "The registry did not answer NGINX within `proxy_read_timeout`: large layers on slow storage, or a "
         "hung registry. Raise `proxy_read_timeout` (Omnibus sets 900 s) and check the registry's health."),
    ):
        got = [r for h, r in zip(hops, rows) if h.status == code and r["origin"] in ("proxy", "unknown")]
        if got:
            out.append(_finding(ctx, fid, Status.FAIL, what,
                                f"{len(got)} request(s) answered {code} by the proxy; first: {got[0].get('method')} "
                                f"{short_url(got[0].get('url', ''))}.", got[:5], remedy, (SEED_PUSH,),
                                "ipv6-listener" if code == 502 else "push-retry-relative-urls"))
    return out


def _restart_findings(ctx: _Ctx, hops: list[Hop], rows: list[dict[str, Any]]) -> list[Finding]:
    starts: Counter[str] = Counter()
    done: Counter[str] = Counter()
    for hop in hops:
        path = hop.path
        m = _UPLOAD_START.match(path)
        if hop.method == "POST" and m and hop.status is not None:
            starts[m.group("name")] += 1
        m2 = _UPLOAD_ANY.match(path)
        if hop.method == "PUT" and m2 and hop.status == 201:
            done[m2.group("name")] += 1
    looping = {n: c for n, c in starts.items() if c - done[n] >= RESTART_THRESHOLD}
    if not looping:
        return []
    name, count = max(looping.items(), key=lambda kv: kv[1])
    sample = [r for h, r in zip(hops, rows) if _UPLOAD_START.match(h.path) and h.method == "POST"][:5]
    return [_finding(
        ctx, "hops.upload_restarts", Status.FAIL, "The same upload is started again and again",
        f"{count} blob uploads were started for {name!r} but only {done[name]} finished: the client retries "
        "the upload (a push retry loop). The usual cause is an upload `Location` the client cannot use "
        "(http:// behind a TLS proxy, another host), or a proxy that cuts the upload (413, timeouts).",
        sample, _RELATIVE_REMEDY, (SEED_PUSH,), "push-retry-relative-urls")]


def _storage_redirect_findings(ctx: _Ctx, hops: list[Hop], rows: list[dict[str, Any]]) -> list[Finding]:
    """A redirect to storage the client could not follow (no answer from the storage host), or a storage that
    answers its presigned URL with `Request has expired`: the storage-redirect-unreachable runbook's case."""
    dead, expired = [], []
    for i, (hop, row) in enumerate(zip(hops, rows)):
        prev = hops[i - 1] if i else None
        after_redirect = prev is not None and prev.status in (301, 302, 303, 307, 308) and prev.location == hop.url
        if after_redirect and hop.status is None and urlsplit(hop.url).netloc.lower() != ctx.client_host:
            dead.append(row)
        if hop.status == 403 and row["origin"] == "storage" and "expired" in hop.body_start.lower():
            expired.append(row)
    out = []
    if dead:
        first = dead[0]
        out.append(Finding(
            "hops.storage_unreachable", Status.FAIL,
            f"The storage host the registry redirects to gives no answer ({urlsplit(first['url']).netloc})",
            detail=f"{len(dead)} request(s) followed the registry's redirect to {short_url(first.get('url', ''))} and got "
                   f"no answer ({first.get('error') or 'no answer'}): the presigned storage URL names a host this "
                   "client cannot reach (an in-cluster or VPC-only endpoint).",
            evidence={"hops": dead[:5], "scenario": "storage-redirect-unreachable"},
            remedy="Run `storage-redirect-unreachable`: disable storage redirects (`storage.redirect.disable: true`; "
                   "Omnibus `registry['storage']['redirect'] = { 'disable' => true }`) or give the registry a storage "
                   "endpoint clients reach.", refs=ctx.refs))
    if expired:
        out.append(Finding(
            "hops.storage_expired", Status.FAIL, "The storage refuses the presigned URL as expired",
            detail=f"{len(expired)} request(s) to presigned storage URLs got 403 `Request has expired`: the URL's "
                   "validity ended before the client used it (short expiry, or the registry's clock behind the storage's).",
            evidence={"hops": expired[:5], "scenario": "storage-redirect-unreachable"},
            remedy="Run `storage-redirect-unreachable`: sync clocks (NTP) or disable storage redirects.", refs=ctx.refs))
    return out


def analyse_hops(hops: Iterable[Hop], client_url: str = "", realm_url: str = "",
                 source: str = "capture") -> list[Finding]:
    """Findings about a hop trace: Location scheme/host, 403 origin, 413, 502/504, upload restarts.

    ``client_url`` is the registry URL the client used (scheme and host to compare Locations with); when empty,
    the first ``/v2/`` request of the trace stands for it.
    """
    hops = list(hops)
    if not hops:
        return [Finding("hops.none", Status.SKIP, f"No hops in the {source}", detail="Nothing to analyse.",
                        refs=(SEED_MITM,))]
    if not client_url:
        first = next((h for h in hops if h.path.startswith("/v2")), hops[0])
        parts = urlsplit(first.url)
        client_url = f"{parts.scheme}://{parts.netloc}"
    cp = urlsplit(client_url)
    ctx = _Ctx(cp.scheme.lower(), cp.netloc.lower(), realm_url, (SEED_PUSH, SEED_403))
    rows = trace_rows(hops, cp.netloc.lower(), realm_url)
    found = (_location_findings(ctx, hops, rows) + _forbidden_findings(ctx, hops, rows)
             + _status_findings(ctx, hops, rows) + _restart_findings(ctx, hops, rows)
             + _storage_redirect_findings(ctx, hops, rows))
    if not found:
        origins = Counter(r["origin"] for r in rows)
        found.append(Finding(
            "hops.ok", Status.OK, f"No failing hop in the {source}",
            detail=f"{len(hops)} request(s): no Location to another scheme or host, no 403/413/502/504, no upload "
            "restarted. Answered by: " + ", ".join(f"{k} {v}" for k, v in origins.most_common()) + ".",
            evidence={"hops": rows[:40]}, refs=(SEED_PUSH, SEED_403)))
    return found
