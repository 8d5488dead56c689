"""The signature catalogue: every known registry/NGINX/Rails error line, as data.

Each pattern is written in the subset that RE2 and POSIX ERE (``grep -E``) read the same way: no ``\\d``,
``\\s``, ``(?:``, lazy quantifiers or look-around; named groups ``(?P<name>...)`` mark the fields to
extract and are stripped for grep. That keeps the scanner honest: its union pattern is exactly what
``grep -cE`` runs in the benchmark, so both must count the same lines.

A pattern never has to cross a line: grep matches line by line, and :func:`re2_pattern` adds ``\\n`` to
every negated class so RE2 cannot either when it searches a whole buffer (``.`` never matches ``\\n``).
Patterns use no ``^``/``$``: over a buffer RE2 would read them as its start and end.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import re2


Severity = Literal["fail", "warn", "info"]
Kind = Literal["line", "aggregate"]

_NAMED_GROUP = re.compile(r"\(\?P<([A-Za-z_][A-Za-z0-9_]*)>")


def latin1_options() -> re2.Options:
    """RE2 over raw bytes: Latin-1 makes ``.`` and classes match any byte, as ``LC_ALL=C grep`` does."""
    opts = re2.Options()
    opts.encoding = re2.Options.Encoding.LATIN1
    opts.max_mem = 64 << 20  # room for the union's DFA so it never falls back to the slow NFA
    return opts


def re2_pattern(pattern: str) -> str:
    """The pattern as RE2 runs it over a buffer of many lines: negated classes stop at newlines."""
    return pattern.replace("[^", "[^\\n")


def ere_pattern(pattern: str) -> str:
    """The pattern as ``grep -E`` reads it: named groups become plain groups."""
    return _NAMED_GROUP.sub("(", pattern)


@dataclass(frozen=True)
class Signature:
    """One known log line (or, for ``kind="aggregate"``, the prefilter of a detector over many lines)."""

    id: str
    scenario: str
    severity: Severity
    anchors: tuple[str, ...]
    pattern: str
    meaning: str
    kind: Kind = "line"
    benign_methods: tuple[str, ...] = ()  # when every hit is one of these methods the hits are routine

    def __reduce__(self):
        # pickled (to worker processes) without the compiled regexes cached on the instance
        return (self.__class__, tuple(getattr(self, f.name) for f in dataclasses.fields(self)))

    @property
    def fields(self) -> tuple[str, ...]:
        """Names of the values the pattern extracts (its named groups)."""
        return tuple(_NAMED_GROUP.findall(self.pattern))

    @property
    def finding_id(self) -> str:
        return "logs." + self.id.replace("-", "_")

    @cached_property
    def regex(self):
        """Compiled RE2 (bytes, Latin-1) for classifying one line."""
        return re2.compile(re2_pattern(self.pattern).encode("latin-1"), latin1_options())

    @cached_property
    def anchor_bytes(self) -> tuple[bytes, ...]:
        return tuple(a.encode("latin-1") for a in self.anchors)

    def search(self, line: bytes):
        """The match on one line, or None; the literal anchors are checked first because they are cheap."""
        for anchor in self.anchor_bytes:
            if anchor in line:
                return self.regex.search(line)
        return None


# logrus's TTY format colours each field name: ``\x1b[31merr.code\x1b[0m=unknown``. Patterns that tie a field
# to its value allow one SGR escape around the name (written without ``\x1b``, which grep -E cannot read:
# ``[^ -~]`` is any byte outside printable ASCII, ESC included)
_E = r"([^ -~]\[[0-9;]*m)?"


def _kv(key: str) -> str:
    """``key`` then ``=`` (logfmt, TTY with colours) or ``":"`` (JSON), before the value."""
    return key + r'("|' + _E + r")?[:=]" + '"?'


# statuses are exactly three digits, so nothing needs to follow them (and no ``$``, which RE2 reads as
# end of buffer, not end of line)
_STATUS = (r'HTTP/[0-9.]+" {code} |http\.response\.status' + _E.replace("{", "{{").replace("}", "}}")
           + r'={code}|"(http\.response\.)?status":{code}')
_UNKNOWN_THEN_DETAIL = _kv(r"err\.code") + r'(unknown|UNKNOWN)"?[ ,]"?' + _E + _kv(r"err\.detail")
_CLIENT_STATUS = r"(received unexpected HTTP status|unexpected status( from [A-Z]+ request to [^ ]+)?): {code}"
BODY_LIMIT_SCENARIO = "body-limit-413"
JWT_SCENARIO = "jwt-auth-refused"

CATALOGUE: tuple[Signature, ...] = (
    # --- token auth (seed: "token signed by untrusted key"; "Before investigating": token flow) ----------
    Signature(
        "token-untrusted-key", "token-untrusted-key", "fail", ("signed by untrusted key",),
        # any ID shape: libtrust's "ABCD:EFGH:...", Distribution 3.x's JWKS key IDs, thumbprints
        r'token signed by untrusted key with ID: \\?"(?P<key_id>[^"\\]+)',
        "The registry does not trust the key that signed the token: GitLab's registry key and the "
        "registry's rootcertbundle are not a pair.",
    ),
    Signature(
        "token-no-signing-key", "token-untrusted-key", "fail", ("unable to get token signing key",),
        r"unable to get token signing key",
        "The token names no key the registry can use (no kid / x5c header, or an unknown key type).",
    ),
    Signature(
        "token-untrusted-issuer", "token-untrusted-key", "fail", ("untrusted issuer",),
        r'token from untrusted issuer: \\?"(?P<issuer>[^"\\]*)',
        "The token's issuer differs from the registry's auth.token.issuer (GitLab's registry issuer).",
    ),
    Signature(
        "token-wrong-audience", "triage", "fail", ("another audience",),
        r'token intended for another audience: \\?"(?P<audience>[^"\\]*)',
        "The token was issued for another service than the registry's auth.token.service.",
    ),
    Signature(
        "token-expired", "triage", "warn", ("not to be used after",),
        r"token not to be used after (?P<not_after>[0-9-]+ [0-9:.]+ [-+][0-9]{4} [A-Z]+) - currently "
        r"(?P<now>[0-9-]+ [0-9:.]+)",
        "The token had expired when it reached the registry: clocks disagree or the token lives too short.",
    ),
    Signature(
        "token-not-yet-valid", "triage", "fail", ("not to be used before",),
        r"token not to be used before (?P<not_before>[0-9-]+ [0-9:.]+ [-+][0-9]{4} [A-Z]+) - currently "
        r"(?P<now>[0-9-]+ [0-9:.]+)",
        "The token is not valid yet for the registry: GitLab's clock runs ahead of the registry's.",
    ),
    Signature(
        "auth-invalid-token", "token-untrusted-key", "warn", ("invalid token",),
        r"error authorizing context: invalid token",
        "The registry rejected a token; the line just before it says why (key, issuer, audience, time).",
    ),
    Signature(
        "auth-insufficient-scope", "triage", "warn", ("insufficient scope",),
        r"error authorizing context: insufficient scope",
        "A valid token did not grant the action asked for (permissions, or a token for another path).",
    ),
    Signature(
        "auth-token-required", "triage", "info", ("authorization token required",),
        r"error authorizing context: authorization token required",
        "A request came without a token: the normal first step of every client (it answers the challenge).",
    ),
    # --- storage -------------------------------------------------------------------------------------
    Signature(
        "s3-unexpected-eof", "s3-push-unexpected-eof", "fail", ("unexpected EOF",),
        _UNKNOWN_THEN_DETAIL + r'unexpected EOF|"code":"(UNKNOWN|unknown)".*"detail":"unexpected EOF',
        "A blob upload to S3 broke off (unexpected EOF): large layers need a smaller storage chunksize.",
    ),
    Signature(
        # registry 2.0-2.2 put the failure in the message itself
        "upload-copy-unexpected-eof", "s3-push-unexpected-eof", "fail",
        ("unknown error copying into upload", "unknown error reading request payload"),
        r"unknown error (copying into upload|reading request payload): unexpected EOF",
        "The registry lost a blob upload half-way (unexpected EOF while copying it to storage): large layers on "
        "S3 need a smaller storage chunksize; proxies that cut long uploads cause it too.",
    ),
    Signature(
        "blob-patch-unexpected-eof", "s3-push-unexpected-eof", "warn", ("client disconnected during blob PATCH",),
        r'client disconnected during blob PATCH.*unexpected EOF',
        "A client went away in the middle of a blob PATCH (unexpected EOF): with large layers on S3, look at "
        "the chunksize and at proxies cutting long uploads.",
    ),
    Signature(
        "s3-access-denied", "s3-permissions", "fail",
        ("AccessDenied", "Access Denied", "status code: 403", "StatusCode: 403"),
        r'AccessDenied|Access Denied|s3aws: [^"]*status code: 403|s3_v2: [^"]*StatusCode: 403',
        "S3 refused the registry's request (403 AccessDenied): the IAM policy lacks an action or the bucket.",
    ),
    Signature(
        "s3-bad-credentials", "s3-permissions", "fail",
        ("InvalidAccessKeyId", "SignatureDoesNotMatch", "NoCredentialProviders", "ExpiredToken",
         "The AWS Access Key Id you provided does not exist", "The request signature we calculated does not match"),
        r"(?P<s3_error>InvalidAccessKeyId|SignatureDoesNotMatch|NoCredentialProviders|ExpiredToken|"
        r"The AWS Access Key Id you provided does not exist in our records|"
        r"The request signature we calculated does not match the signature you provided)",
        "S3 did not accept the registry's credentials (unknown key, wrong secret, none found, or expired).",
    ),
    Signature(
        "s3-wrong-region", "s3-permissions", "fail",
        ("AuthorizationHeaderMalformed", "PermanentRedirect", "IllegalLocationConstraintException"),
        r"the region '(?P<region>[a-z0-9-]+)' is wrong; expecting '(?P<expected_region>[a-z0-9-]+)'|"
        r"PermanentRedirect|IllegalLocationConstraintException",
        "The registry talks to the bucket with the wrong region or endpoint.",
    ),
    Signature(
        "s3-clock-skew", "s3-permissions", "fail",
        ("RequestTimeTooSkewed", "difference between the request time and the current time"),
        r"RequestTimeTooSkewed|The difference between the request time and the current time is too large",
        "S3 refused the registry's signed requests because the registry's clock is off (RequestTimeTooSkewed).",
    ),
    Signature(
        "s3-slow-down", "bucket-metrics", "warn", ("SlowDown", "Please reduce your request rate"),
        r"SlowDown|Please reduce your request rate",
        "S3 throttles the registry (503 SlowDown): too many requests on the bucket's prefixes.",
    ),
    Signature(
        "s3-session-error", "s3-permissions", "fail", ("failed to create new session with aws config",),
        r"failed to create new session with aws config",
        "The registry's S3 driver could not even start its AWS session (configuration, CA bundle, credentials).",
    ),
    Signature(
        "registry-panic", "triage", "fail", ("panic: ",),
        r"panic: (?P<panic>[^\t]{1,120})",
        "A Go program (the registry, at start-up or on a request) panicked; the panic message names the cause.",
    ),
    Signature(
        "gcs-http2-error", "gcs-http2", "fail", ("http2: ", "stream error: stream ID"),
        r"(?P<http2_error>http2: server sent GOAWAY|stream error: stream ID [0-9]+; [A-Z_]+|"
        r"http2: client connection lost)",
        "The registry's HTTP/2 connection to its storage (GCS) broke: pushes fail with 502 and CPU spikes.",
    ),
    Signature(
        "health-check-failed", "debug-server-metrics", "fail", ("health check failed",),
        r"health check failed",
        "The registry's storage health check fails: every /v2/ request answers 503 until it recovers.",
    ),
    Signature(
        "http-503", "debug-server-metrics", "warn", ("503",),
        _STATUS.format(code=503),
        "The registry (or its proxy) answered 503 Service Unavailable: usually the storage health check.",
    ),
    # --- TLS -----------------------------------------------------------------------------------------
    Signature(
        "tls-handshake-unknown-ca", "x509-unknown-authority", "fail", ("TLS handshake error",),
        r"http: TLS handshake error from (?P<client>[^ ]+): (remote error: (tls: )?(unknown certificate "
        r"authority|bad certificate)|x509: certificate signed by unknown authority)",
        "Clients reject the registry's certificate during the TLS handshake: they do not trust its CA.",
    ),
    Signature(
        "x509-unknown-authority", "x509-unknown-authority", "fail",
        ("x509: certificate signed by unknown authority", "certificate verify failed"),
        r"x509: certificate signed by unknown authority|certificate verify failed: (self[- ]signed "
        r"certificate|unable to get local issuer certificate)",
        "A client does not trust the certificate it was shown (self-signed or private CA).",
    ),
    Signature(
        "x509-hostname-mismatch", "x509-unknown-authority", "fail",
        ("x509: certificate is valid for", "x509: certificate is not valid for any names"),
        r'x509: certificate is valid for (?P<valid_for>([^,"]+, )*[^,"]+), not (?P<host>[^ "\\]+)|'
        r'x509: certificate is not valid for any names, but wanted to match (?P<wanted>[^ "\\]+)',
        "The certificate does not name the host the client connected to.",
    ),
    Signature(
        "x509-expired", "x509-unknown-authority", "fail", ("x509: certificate has expired or is not yet valid",),
        r"x509: certificate has expired or is not yet valid",
        "A client refused the certificate it was shown: expired, not valid yet, or the client's clock is off.",
    ),
    Signature(
        "client-403-empty-body", "push-403", "fail", ("error parsing HTTP 403 response body",),
        r"error parsing HTTP 403 response body",
        "The Docker client got a 403 without a registry error body: a hop other than the registry said 403.",
    ),
    # --- proxy and routing ---------------------------------------------------------------------------
    Signature(
        "nginx-ipv6-upstream-refused", "ipv6-listener", "fail", ("while connecting to upstream",),
        # the refusal comes as "connect() failed" (asynchronous) or "connect() to [::1]:5000 failed" (at once);
        # without an IPv6 loopback the kernel answers 99 (glibc and musl word it differently)
        r'connect\(\) (to \[[0-9a-f:.]*\]:[0-9]+ )?failed \((111: Connection refused|99: Cannot assign requested '
        r'address|99: Address not available)\) while connecting to upstream.*upstream: '
        r'"(?P<upstream>https?://\[[0-9a-f:.]+\](:[0-9]+)?)',
        "NGINX proxies to the registry on [::1] (localhost resolved to IPv6) but the registry listens on IPv4.",
    ),
    Signature(
        "nginx-upstream-refused", "triage", "fail", ("Connection refused",),
        r"connect\(\) (to [^ ]+ )?failed \(111: Connection refused\) while connecting to upstream",
        "NGINX cannot reach the registry: nothing listens where it proxies to.",
    ),
    Signature(
        "http-502", "triage", "warn", ("502",),
        _STATUS.format(code=502),
        "A proxy answered 502 Bad Gateway: the registry behind it failed or is unreachable.",
    ),
    Signature(
        "http-500", "triage", "warn", ("500",),
        _STATUS.format(code=500),
        "A request failed with 500 Internal Server Error.",
    ),
    Signature(
        "push-403-response", "push-403", "fail", ("403",),
        r'"(HEAD|GET|PUT|PATCH|POST) /v2/[^ "]*/blobs/[^ "]* HTTP/[0-9.]+" 403 |'
        r'http\.request\.method' + _E + r'=(HEAD|PUT|PATCH|POST) .*http\.request\.uri' + _E + r'="?/v2/[^ "]*/blobs/.*'
        r'http\.response\.status' + _E + r'=403|"method":"(HEAD|PUT|PATCH|POST)".*"status":403,.*"uri":"/v2/[^"]*/blobs/',
        "A blob request of a push got 403: storage permissions (HEAD after the redirect) or the proxy.",
    ),
    # --- clients and manifests -----------------------------------------------------------------------
    Signature(
        "schema1-manifest", "schema1-old-clients", "warn", ("manifest.v1", "schema1", "schema v1"),
        r"application/vnd\.docker\.distribution\.manifest\.v1\+(prettyjws|json)|schema1|schema v1",
        "A schema1 (Docker image manifest v1) manifest was sent or asked for: an old client.",
    ),
    Signature(
        "old-docker-client", "schema1-old-clients", "warn", ("docker/0.", "docker/1."),
        r"docker/(?P<docker_version>(0\.[0-9]+|1\.[0-9])\.[0-9]+)",
        "A Docker client 1.9 or older talked to the registry: it pushes schema1 manifests.",
    ),
    Signature(
        "blob-unknown", "triage", "warn", ("blob unknown", "BLOB_UNKNOWN"),
        _kv(r"err\.code") + r'blob unknown|"code":"BLOB_UNKNOWN"',
        "A blob was asked for that the registry does not have (routine for HEAD checks before a push).",
        benign_methods=("HEAD",),
    ),
    Signature(
        "manifest-unknown", "triage", "warn", ("manifest unknown", "MANIFEST_UNKNOWN"),
        _kv(r"err\.code") + r'manifest unknown|"code":"MANIFEST_UNKNOWN"',
        "A manifest (tag or digest) was asked for that the registry does not have.",
        benign_methods=("HEAD",),
    ),
    Signature(
        "registry-unknown-error", "triage", "warn", ("unknown", "UNKNOWN"),
        _UNKNOWN_THEN_DETAIL + r'(?P<detail>[^"\\]*)',
        "The registry failed a request with an unclassified error; the detail names the cause.",
    ),
    Signature(
        "request-error", "logs", "info", ("response completed with error",),
        r"response completed with error",
        "The registry answered a request with an error (each one is listed in the failing requests).",
    ),
    # --- GitLab Rails --------------------------------------------------------------------------------
    Signature(
        "missing-registry-key", "missing-registry-key", "fail", ("registry.key",),
        # missing (ENOENT) or not readable (EACCES); Omnibus' gitlab-registry.key or a source install's
        # config/registry.key
        r'(?P<reason>No such file or directory|Permission denied) @ rb_sysopen - (?P<key_path>[^" )]*registry\.key)',
        "GitLab cannot read its registry key (missing or not readable), so it cannot sign registry tokens "
        "(repository deletion fails).",
    ),
    Signature(
        "registry-key-invalid", "missing-registry-key", "fail", ("Neither PUB key nor PRIV key",),
        r"OpenSSL::PKey::RSAError[^A-Za-z]*Neither PUB key nor PRIV key",
        "GitLab could not load its registry key (empty or not an RSA key): it cannot sign registry tokens.",
    ),
    Signature(
        "rails-registry-ipv6", "ipv6-listener", "fail", ("Failed to open TCP connection to localhost",),
        r"Failed to open TCP connection to localhost:(?P<port>[0-9]+) \(Cannot assign requested address",
        "GitLab reaches the registry API at localhost, which resolves to ::1 where nothing can listen (no IPv6 "
        "loopback): registry pages and deletions fail with 500.",
    ),
    Signature(
        "rails-jwt-auth-error", JWT_SCENARIO, "warn", ("/jwt/auth",),
        r'"path":"/jwt/auth[^"]*".*"status":(?P<status>[45][0-9][0-9])',
        "GitLab's token endpoint /jwt/auth refused or failed a token request.",
    ),
    Signature(
        "rails-jwt-auth-failed", JWT_SCENARIO, "warn", ("JWT authentication failed",),
        # GitLab's auth_json.log (JwtController#log_authentication_failed): the login that /jwt/auth refused
        r'JWT authentication failed.*"http_user":"(?P<http_user>[^"]*)"',
        "GitLab's /jwt/auth refused a login (auth_json.log names the user): wrong password, 2FA without a personal "
        "access token, an expired token or a blocked user.",
    ),
    # --- request bodies too large (NGINX, an outer proxy, the client's view) ---------------------------
    Signature(
        "body-too-large-413", BODY_LIMIT_SCENARIO, "fail", ("413", "too large body"),
        r"error parsing HTTP 413 response body|413 Request Entity Too Large|413 Payload Too Large|"
        r"client intended to send too large body|StatusCode: 413|" + _STATUS.format(code=413),
        "A request body (a layer) was refused as too large (413) by NGINX or a proxy in front of the registry: "
        "client_max_body_size or the proxy's body limit.",
    ),
    # --- garbage collection (beyond the troubleshooting page) ---------------------------------------------
    Signature(
        "gc-manifest-eligible", "gc-broke-pulls", "warn", ("manifest eligible for deletion",),
        r"manifest eligible for deletion",
        "A garbage collection run with --delete-untagged removed untagged manifests: on registry 2.x that includes "
        "the platform manifests of multi-arch images, whose pulls then fail.",
    ),
    # --- storage redirects clients cannot follow (beyond the troubleshooting page) ----------------------
    Signature(
        "storage-redirect-unreachable", "storage-redirect-unreachable", "fail", ("X-Amz-", "X-Goog-"),
        # a client (skopeo, containerd, dockerd) following the registry's 307 to a presigned URL it cannot reach
        r'Get \\?"https?://(?P<storage_host>[^/"\\ ]+)/[^"\\ ]*X-(Amz|Goog)-Signature=[^"\\ ]*\\?": '
        r"(dial tcp|net/http: TLS handshake timeout|context deadline exceeded)",
        "A client followed the registry's redirect to a presigned storage URL and could not connect to the "
        "storage host (an endpoint only the registry's network reaches).",
    ),
    Signature(
        "storage-url-expired", "storage-redirect-unreachable", "fail", ("Request has expired",),
        r"Request has expired",
        "The storage refused a presigned URL as expired: its validity ended before the client used it (short "
        "expiry, or the registry's clock behind the storage's).",
    ),
    # --- clients and CI (docker push/login, BuildKit, kaniko, skopeo/podman, GitLab Runner job logs) ----
    Signature(
        "client-denied", "push-403", "fail",
        ("requested access to the resource is denied", "access to the requested resource is not authorized"),
        # registry 2.1's wording was "unauthorized: access to the requested resource is not authorized"
        r"requested access to the resource is denied|access to the requested resource is not authorized",
        "The registry (or a hop before it) denied the push: no push permission for this path, a token for "
        "another project, or a 403 from a proxy.",
    ),
    Signature(
        "client-unauthorized", "token-untrusted-key", "fail", ("authentication required", "login attempt to "),
        # docker's "unauthorized: ...", kaniko's UNAUTHORIZED: \"authentication required\", old docker login's
        # "login attempt to https://.../v2/ failed with status: 401 Unauthorized"
        r'(unauthorized|UNAUTHORIZED): (\\?")?authentication required|login attempt to [^ ]+ failed with status: 401',
        "The registry refused the token the client got from GitLab (the registry log says why: key, issuer, "
        "audience or clock).",
    ),
    Signature(
        "client-basic-denied", JWT_SCENARIO, "fail", ("HTTP Basic: Access denied", "failed to fetch oauth token"),
        # GitLab's /jwt/auth answer, and BuildKit's view of a 401 from the token endpoint
        r"HTTP Basic: Access denied|failed to fetch oauth token: unexpected status( from [A-Z]+ request to [^ ]+)?: 401",
        "GitLab's /jwt/auth refused the client's credentials (wrong password, a password where 2FA needs a "
        "token, or an expired CI job token).",
    ),
    Signature(
        "client-http-500", "s3-push-unexpected-eof", "fail", ("unexpected HTTP status: 500", "unexpected status"),
        _CLIENT_STATUS.format(code="500"),
        "The registry answered 500 during a push: most often a blob upload to S3 that broke off (chunksize) or "
        "S3 refusing the registry; the registry log names which.",
    ),
    Signature(
        "client-http-502", "triage", "fail", ("unexpected HTTP status: 502", "unexpected status"),
        _CLIENT_STATUS.format(code="502"),
        "A proxy in front of the registry answered 502 Bad Gateway: the registry behind it failed or is down.",
    ),
    Signature(
        "client-http-503", "debug-server-metrics", "fail", ("unexpected HTTP status: 503", "unexpected status"),
        _CLIENT_STATUS.format(code="503"),
        "The registry answered 503 Service Unavailable: usually its storage health check fails.",
    ),
    Signature(
        "blob-upload-unknown", "push-retry-relative-urls", "fail", ("blob upload unknown", "BLOB_UPLOAD_UNKNOWN"),
        r"blob upload unknown|BLOB_UPLOAD_UNKNOWN",
        "The registry did not know the upload the client continued: upload URLs that do not lead back to it "
        "(proxy headers, relative URLs) or registries behind one balancer without a shared http.secret.",
    ),
    Signature(
        "client-retrying", "push-retry-relative-urls", "warn", ("etrying in ", "Upload failed, retrying"),
        r"[Rr]etrying in [0-9]+ second|Upload failed, retrying",
        "The client retries layer uploads: a push retry loop when it goes on (proxy headers, relative URLs, "
        "body limits).",
    ),
    # --- notifications to GitLab (issue #19): Distribution 2.8's retryingSink, the fork's backoffSink ----
    Signature(
        "notification-refused", "notifications", "fail", ("unaccepted",),
        # 2.8: "retryingsink: error writing events: httpSink{URL}: response status 401 Unauthorized unaccepted,
        # retrying"; the fork logs the same error text in the `error` field of "backoffSink: error writing event"
        r'httpSink\{(?P<endpoint>[^}]+)\}: response status (?P<status>40[13])[^,"\\]* unaccepted',
        "The notification endpoint refuses the registry's events (401/403): for GitLab, the endpoint's Authorization "
        "header is not GitLab's registry notification_secret. The registry retries the same event forever.",
    ),
    Signature(
        "notification-rejected", "notifications", "warn", ("unaccepted",),
        r'httpSink\{(?P<endpoint>[^}]+)\}: response status (?P<status>400|402|40[4-9]|4[1-9][0-9]|5[0-9][0-9])'
        r'[^,"\\]* unaccepted',
        "The notification endpoint answers the registry's events with an error status (a wrong URL, an event it "
        "does not accept, or a failing receiver): they are retried and queue up.",
    ),
    Signature(
        "notification-unreachable", "notifications", "fail", ("error posting",),
        r'httpSink\{(?P<endpoint>[^}]+)\}: error posting: [^,]*: (?P<reason>[^,"\\]+)',
        "The registry cannot reach its notification endpoint (connection refused, DNS, TLS, timeout): events "
        "queue up and are retried.",
    ),
    Signature(
        "notification-backoff", "notifications", "warn", ("encountered too many errors",),
        r'httpSink\{(?P<endpoint>[^}]+)\} encountered too many errors, backing off',
        "A notification endpoint failed `threshold` times in a row: the registry waits `backoff` before trying the "
        "same events again.",
    ),
    Signature(
        "notification-events-lost", "notifications", "fail", ("these events will be lost",),
        r'eventqueue: error writing events to (?P<sink>[^,]+), these events will be lost',
        "The registry gave up on notification events (GitLab's fork after `maxretries`, or at shutdown): GitLab "
        "never learns of those pushes and deletes.",
    ),
    # --- the registry's Redis cache (issue #19; real lines in tests/data/logs/redis/) ---------------------
    Signature(
        "redis-unreachable", "redis-cache-down", "fail", ("error connecting to redis instance",),
        # 2.8 logs it with "redis: error connecting: <same error>" right after: one signature is enough
        r'error connecting to redis instance (?P<redis_addr>[^ :]+:[0-9]+): (?P<reason>[^"\\]+)',
        "The registry cannot reach its Redis cache: it falls back to the storage for every blob descriptor "
        "(slower, not broken).",
    ),
    Signature(
        "redis-auth-failed", "redis-cache-down", "fail", ("redis: error connecting: ",),
        r'redis: error connecting: (?P<redis_error>WRONGPASS|NOAUTH|ERR invalid password|ERR AUTH|ERR Client sent AUTH|'
        r'ERR DB index)',
        "Redis refuses the registry's AUTH (or SELECT): the cache is never used and every blob descriptor comes "
        "from the storage.",
    ),
    # --- aggregate detectors: the pattern is only their prefilter ------------------------------------
    Signature(
        "push-retry-loop", "push-retry-relative-urls", "fail", ("/blobs/uploads/",),
        r"/blobs/uploads/",
        "Clients start blob uploads again and again without finishing them: a push retry loop "
        "(the registry's upload Location URLs do not work behind the proxy).",
        kind="aggregate",
    ),
)

BY_ID: dict[str, Signature] = {s.id: s for s in CATALOGUE}
LINE_SIGNATURES: tuple[Signature, ...] = tuple(s for s in CATALOGUE if s.kind == "line")
AGGREGATES: tuple[Signature, ...] = tuple(s for s in CATALOGUE if s.kind == "aggregate")
SEVERITY_RANK = {"fail": 2, "warn": 1, "info": 0}


def union_pattern(signatures: tuple[Signature, ...] = LINE_SIGNATURES) -> str:
    """All patterns as one alternation (still with named groups; see :func:`ere_pattern`)."""
    return "|".join(f"({s.pattern})" for s in signatures)


def grep_union(signatures: tuple[Signature, ...] = LINE_SIGNATURES) -> str:
    """The ERE that ``LC_ALL=C grep -cE`` runs to count the same lines the scanner counts."""
    return ere_pattern(union_pattern(signatures))
