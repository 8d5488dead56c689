"""S3 failures named in plain words: which credential problem, which permission, which network failure.

botocore raises a dozen exception types and S3 answers with error codes; a runbook needs one word for
each cause (``signature_mismatch`` is a wrong secret, ``invalid_access_key`` an unknown key ID, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, TypeVar

T = TypeVar("T")

_CODES = {
    "InvalidAccessKeyId": "invalid_access_key",
    "SignatureDoesNotMatch": "signature_mismatch",
    "ExpiredToken": "expired_token",
    "TokenRefreshRequired": "expired_token",
    "RequestExpired": "clock_skew",
    "RequestTimeTooSkewed": "clock_skew",
    "InvalidToken": "invalid_token",
    "InvalidClientTokenId": "invalid_access_key",
    "AccessDenied": "access_denied",
    "AllAccessDisabled": "access_denied",
    "AccountProblem": "access_denied",
    "403": "access_denied",
    "Forbidden": "access_denied",
    "NoSuchBucket": "no_such_bucket",
    "NoSuchKey": "not_found",
    "404": "not_found",
    "NotFound": "not_found",
    "NoSuchUpload": "not_found",
    "NoSuchLifecycleConfiguration": "not_found",
    "PermanentRedirect": "wrong_region",
    "301": "wrong_region",
    "AuthorizationHeaderMalformed": "wrong_region",
    "IllegalLocationConstraintException": "wrong_region",
    "InvalidRegion": "wrong_region",
    "SlowDown": "throttled",
    "Throttling": "throttled",
    "ThrottlingException": "throttled",
    "RequestLimitExceeded": "throttled",
    "503": "throttled",
    "ServiceUnavailable": "throttled",
    "InternalError": "server_error",
    "500": "server_error",
}

TITLES = {
    "no_credentials": "no S3 credentials found",
    "invalid_access_key": "the access key ID is unknown to S3 (InvalidAccessKeyId)",
    "signature_mismatch": "the secret key does not match the access key (SignatureDoesNotMatch)",
    "expired_token": "the session token has expired (ExpiredToken)",
    "invalid_token": "the session token is invalid (InvalidToken)",
    "clock_skew": "the request time is too far from S3's clock",
    "access_denied": "access denied (403)",
    "no_such_bucket": "the bucket does not exist",
    "not_found": "not found",
    "wrong_region": "the bucket is in another region",
    "throttled": "S3 is throttling (SlowDown / 503)",
    "server_error": "S3 answered with a server error",
    "unreachable": "the S3 endpoint cannot be reached",
    "timeout": "the S3 endpoint did not answer in time",
    "bad_endpoint": "the S3 endpoint URL is not usable",
    "inventory": "the S3 Inventory report cannot be used",
    "other": "unexpected S3 error",
}

CREDENTIAL_KINDS = frozenset({"no_credentials", "invalid_access_key", "signature_mismatch", "expired_token",
                              "invalid_token", "clock_skew"})


@dataclass(frozen=True)
class S3Failure:
    """One failed S3 call: ``kind`` (see TITLES), the S3 error ``code``, HTTP ``status``, a short message."""

    kind: str
    code: str = ""
    status: int | None = None
    message: str = ""
    region_hint: str = ""  # the bucket's region when S3 said so (x-amz-bucket-region / Region in the error)

    @property
    def title(self) -> str:
        return TITLES.get(self.kind, self.kind)

    def evidence(self) -> dict[str, Any]:
        ev: dict[str, Any] = {"kind": self.kind, "code": self.code, "status": self.status, "message": self.message}
        if self.region_hint:
            ev["bucket_region"] = self.region_hint
        return {k: v for k, v in ev.items() if v not in ("", None)}


def classify(exc: BaseException) -> S3Failure:
    """Name the cause of a boto3/botocore exception (never raises)."""
    from botocore import exceptions as bx

    if isinstance(exc, bx.ClientError):
        resp: dict[str, Any] = getattr(exc, "response", {}) or {}
        err = resp.get("Error") or {}
        code = str(err.get("Code") or "")
        meta = resp.get("ResponseMetadata") or {}
        status = meta.get("HTTPStatusCode")
        headers = meta.get("HTTPHeaders") or {}
        region = str(headers.get("x-amz-bucket-region") or err.get("Region") or "")
        message = str(err.get("Message") or "")[:300]
        kind = _CODES.get(code) or _CODES.get(str(status or ""), "other")
        if code == "AuthorizationHeaderMalformed" and "region" not in message.lower():
            kind = "other"
        return S3Failure(kind, code or str(status or ""), status, message, region)
    if isinstance(exc, bx.NoCredentialsError) or isinstance(exc, bx.PartialCredentialsError):
        return S3Failure("no_credentials", type(exc).__name__, None, str(exc))
    if isinstance(exc, (bx.ConnectTimeoutError, bx.ReadTimeoutError)):
        return S3Failure("timeout", type(exc).__name__, None, str(exc)[:300])
    if isinstance(exc, (bx.EndpointConnectionError, bx.ConnectionClosedError, bx.ProxyConnectionError)):
        return S3Failure("unreachable", type(exc).__name__, None, str(exc)[:300])
    if isinstance(exc, bx.SSLError):
        return S3Failure("unreachable", "SSLError", None, str(exc)[:300])
    if isinstance(exc, (bx.InvalidEndpointConfigurationError, ValueError)) and "endpoint" in str(exc).lower():
        return S3Failure("bad_endpoint", type(exc).__name__, None, str(exc)[:300])
    if isinstance(exc, bx.BotoCoreError):
        return S3Failure("other", type(exc).__name__, None, str(exc)[:300])
    return S3Failure("other", type(exc).__name__, None, str(exc)[:300])


@dataclass(frozen=True)
class Outcome:
    """The result of one S3 call: ``value`` when it worked, ``failure`` when it did not."""

    value: Any = None
    failure: S3Failure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


def attempt(call: Callable[..., T], *args: Any, **kwargs: Any) -> Outcome:
    """Run one boto3 call; any failure becomes data (botocore already retried what it retries)."""
    try:
        return Outcome(call(*args, **kwargs), None)
    except Exception as exc:  # every botocore failure is classified; programming errors too, named
        return Outcome(None, classify(exc))


CREDENTIAL_REMEDY = {
    "no_credentials": (
        "Give `s3_access_key` and `s3_secret_key` (env:NAME or file:PATH), or run where boto3's default chain "
        "finds credentials (AWS_PROFILE, instance or pod role)."),
    "invalid_access_key": (
        "The access key ID does not exist (deleted, deactivated, another account or another S3 provider). "
        "Create a new key for the registry's IAM user and set it in the registry's storage config:\n"
        "- Omnibus: `registry['storage'] = { 's3' => { 'accesskey' => ..., 'secretkey' => ... } }` in "
        "/etc/gitlab/gitlab.rb, then `gitlab-ctl reconfigure`.\n"
        "- Helm: update the Secret named by `registry.storage.secret` (its `config` key holds the s3 block), "
        "then restart the registry pods.\n"
        "- Source: `storage.s3.accesskey`/`secretkey` in the registry's config.yml, then restart it."),
    "signature_mismatch": (
        "The secret key does not belong to this access key ID (a typo, a rotated secret, or a secret with a "
        "stray newline/space). Set the secret that goes with this key ID:\n"
        "- Omnibus: `'secretkey'` in `registry['storage']['s3']` (gitlab.rb), `gitlab-ctl reconfigure`.\n"
        "- Helm: the `registry.storage.secret` Secret, then restart the registry pods.\n"
        "- Source: `storage.s3.secretkey` in config.yml."),
    "expired_token": (
        "Temporary credentials expired. Use a role the registry can refresh (instance profile / IRSA: leave "
        "accesskey and secretkey empty) rather than a fixed session token."),
    "invalid_token": "The session token does not belong to these keys: give the token issued with them, or none.",
    "clock_skew": "The host clock is off by more than 15 minutes: synchronise it with NTP (`chronyc tracking`).",
}
