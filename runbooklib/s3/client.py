"""An S3 client built from the runbook parameters or from the registry's own `storage.s3` section.

Every client made here is bounded (connect and read timeouts, a fixed number of attempts with backoff)
and counted: a :class:`RequestCounter` hooked into botocore's events sees every HTTP attempt, every retry
and every throttling answer, so findings and benchmarks can say what a scan cost in requests.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from ..config.registry import RegistryConfig
from ..errors import DEFAULT_TIMEOUT_S

REGISTRY_ROOT = "docker/registry/v2/"
THROTTLE_CODES = frozenset({"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
                            "TooManyRequestsException", "ServiceUnavailable", "503", "RequestThrottled"})
DEFAULT_ATTEMPTS = 4  # one try and three retries with botocore's exponential backoff (standard mode)


def mask_key_id(value: str) -> str:
    """An access key ID shown as the AWS console does: enough to tell which key, not the key itself."""
    if not value:
        return ""
    if len(value) <= 8:
        return "…" + value[-2:]
    return f"{value[:4]}…{value[-4:]}"


def normalise_root(root: str | None) -> str:
    """`rootdirectory` as the S3 driver applies it: ``/`` or empty -> no prefix, ``/a/b/`` -> ``a/b/``."""
    text = (root or "").strip().strip("/")
    return f"{text}/" if text else ""


@dataclass(frozen=True, repr=False)
class S3Settings:
    """Where the registry's objects are and how to sign for them. The secret never leaves this object."""

    bucket: str = ""
    region: str = ""
    endpoint: str = ""
    root: str = ""
    access_key: str = ""
    secret_key: str = field(default="", compare=False)
    session_token: str = field(default="", compare=False)
    source: str = "parameters"  # parameters | registry config
    secure: bool = True

    @property
    def prefix(self) -> str:
        """Key prefix of the registry's tree: ``<root>docker/registry/v2/``."""
        return normalise_root(self.root) + REGISTRY_ROOT

    @property
    def uses_default_chain(self) -> bool:
        return not (self.access_key and self.secret_key)

    def same_credentials(self, other: "S3Settings") -> bool:
        return (self.access_key, self.secret_key, self.session_token) == (
            other.access_key, other.secret_key, other.session_token)

    def describe(self) -> dict[str, Any]:
        """Safe evidence: the access key ID masked, the secret only as present / absent."""
        return {
            "source": self.source,
            "bucket": self.bucket,
            "region": self.region or "(not set)",
            "endpoint": self.endpoint or "(AWS)",
            "rootdirectory": self.root or "/",
            "key_prefix": self.prefix,
            "access_key": mask_key_id(self.access_key) or "(default credential chain)",
            "secret_key": "set" if self.secret_key else "not set",
        }

    def __repr__(self) -> str:
        return f"S3Settings({self.describe()!r})"


def settings_from_params(p: Mapping[str, Any]) -> S3Settings:
    """From the runbook vocabulary (`s3_bucket`, `s3_region`, `s3_endpoint`, `s3_root`, resolved secrets)."""
    def get(name: str) -> str:
        return str(p.get(name, "") or "")

    return S3Settings(bucket=get("s3_bucket"), region=get("s3_region"), endpoint=get("s3_endpoint"),
                      root=get("s3_root"), access_key=get("s3_access_key"), secret_key=get("s3_secret_key"),
                      source="parameters")


def settings_from_registry(cfg: RegistryConfig | None) -> S3Settings | None:
    """From a RegistryConfig's `storage.s3` (None when the registry does not use the s3 driver)."""
    storage = getattr(cfg, "storage", None)
    if storage is None or (storage.driver or "") not in ("s3", "s3_v2"):
        return None
    opts = dict(storage.options or {})
    endpoint = str(opts.get("regionendpoint") or "")
    secure = str(opts.get("secure", True)).lower() not in ("false", "0", "no")
    if endpoint and "://" not in endpoint:
        endpoint = ("https://" if secure else "http://") + endpoint
    return S3Settings(bucket=str(opts.get("bucket") or ""), region=str(opts.get("region") or ""),
                      endpoint=endpoint, root=str(opts.get("rootdirectory") or ""),
                      access_key=str(opts.get("accesskey") or ""), secret_key=str(opts.get("secretkey") or ""),
                      session_token=str(opts.get("sessiontoken") or ""), source="registry config", secure=secure)


class RequestCounter:
    """Counts what botocore sends: HTTP attempts per operation, retries, throttling answers, errors.

    Thread-safe (scans run in a thread pool). ``requests`` counts HTTP attempts, so a retried call counts
    twice, as S3 bills it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.by_operation: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.calls = 0
        self.throttled = 0

    # botocore event handlers -------------------------------------------------------------------------
    def _on_send(self, event_name: str = "", **_: Any) -> None:
        op = event_name.rsplit(".", 1)[-1]
        with self._lock:
            self.by_operation[op] += 1

    def _on_needs_retry(self, response: Any = None, attempts: int = 1, caught_exception: Any = None,
                        event_name: str = "", **_: Any) -> None:
        code = ""
        if response is not None:
            parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else {}
            err = (parsed or {}).get("Error") or {}
            code = str(err.get("Code") or "")
            status = (parsed or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
            if not code and status in (429, 503):
                code = str(status)
        elif caught_exception is not None:
            code = type(caught_exception).__name__
        if not code:
            return
        with self._lock:
            self.errors[code] += 1
            if code in THROTTLE_CODES:
                self.throttled += 1

    def _on_call(self, **_: Any) -> None:
        with self._lock:
            self.calls += 1

    def attach(self, client: Any) -> Any:
        events = client.meta.events
        events.register("before-send.s3", self._on_send)
        events.register("before-call.s3", self._on_call)
        events.register("needs-retry.s3", self._on_needs_retry)
        events.register("before-send.cloudwatch", self._on_send)
        events.register("before-call.cloudwatch", self._on_call)
        return client

    # reading -----------------------------------------------------------------------------------------
    @property
    def requests(self) -> int:
        with self._lock:
            return sum(self.by_operation.values())

    @property
    def retries(self) -> int:
        """HTTP attempts beyond the first of each call (throttling, 5xx, dropped connections)."""
        with self._lock:
            return max(0, sum(self.by_operation.values()) - self.calls)

    @property
    def list_requests(self) -> int:
        with self._lock:
            return sum(n for op, n in self.by_operation.items() if op.startswith("List"))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            attempts = sum(self.by_operation.values())
            return {"requests": attempts, "by_operation": dict(sorted(self.by_operation.items())),
                    "retries": max(0, attempts - self.calls), "throttled": self.throttled,
                    "errors": dict(self.errors)}

    def since(self, before: dict[str, Any]) -> dict[str, Any]:
        """Requests made after an earlier ``snapshot()``."""
        now = self.snapshot()
        ops = {k: v - before["by_operation"].get(k, 0) for k, v in now["by_operation"].items()}
        ops = {k: v for k, v in ops.items() if v}
        return {"requests": now["requests"] - before["requests"], "by_operation": ops,
                "retries": now["retries"] - before["retries"], "throttled": now["throttled"] - before["throttled"]}

    def __repr__(self) -> str:
        return f"RequestCounter({self.snapshot()!r})"


@dataclass
class S3Target:
    """A bucket to look at: settings, a bounded boto3 client and its request counter.

    ``problem`` is set (and ``client`` None) when no client could be made, e.g. no bucket was named; every
    check given such a target returns a skip/error finding instead of raising.
    """

    settings: S3Settings
    client: Any = None
    counter: RequestCounter = field(default_factory=RequestCounter)
    timeout_s: float = DEFAULT_TIMEOUT_S
    workers: int = 8
    problem: str = ""

    @property
    def bucket(self) -> str:
        return self.settings.bucket

    @property
    def prefix(self) -> str:
        return self.settings.prefix

    @property
    def repositories_prefix(self) -> str:
        return self.prefix + "repositories/"

    @property
    def blobs_prefix(self) -> str:
        return self.prefix + "blobs/sha256/"

    @property
    def ok(self) -> bool:
        return self.client is not None and not self.problem

    def __repr__(self) -> str:
        state = f"problem={self.problem!r}" if self.problem else f"requests={self.counter.requests}"
        return f"S3Target({self.settings.describe()!r}, {state})"

    def _repr_html_(self) -> str:
        import html
        import json

        body = {**self.settings.describe(), "requests so far": self.counter.requests}
        if self.problem:
            body["problem"] = self.problem
        return "<pre>" + html.escape(json.dumps(body, indent=2, ensure_ascii=False)) + "</pre>"


def _raw_timestamp(value: str) -> str:
    return value


S3_BODY_CAP = 8 << 20  # an S3 answer we parse whole (a LIST page, an error, a 71-byte link) is far smaller


def _bound_http_session(client: Any, total_s: float, cap: int = S3_BODY_CAP) -> None:
    """Give every HTTP attempt of ``client`` one total deadline and a byte cap on answers read whole.

    botocore bounds each socket read, not their sum: an endpoint that trickles bytes or sends gigabytes
    would hold a scan forever. Each attempt runs in a worker thread joined with the deadline (an abandoned
    attempt can read at most ``cap`` bytes more); a timeout is raised as botocore's ReadTimeoutError, so
    the usual retry and error handling applies.
    """
    from botocore.exceptions import HTTPClientError, ReadTimeoutError
    from botocore.httpsession import URLLib3Session

    session = client._endpoint.http_session
    if not isinstance(session, URLLib3Session):
        return

    class BoundedSession(type(session)):  # type: ignore[misc]
        def send(self, request: Any) -> Any:
            whole = not request.stream_output
            request.stream_output = True
            outcome: dict[str, Any] = {}

            def attempt() -> None:
                try:
                    response = URLLib3Session.send(self, request)
                    if whole:
                        parts, size = [], 0
                        for part in response.raw.stream(1 << 16, decode_content=False):
                            size += len(part)
                            if size > cap:
                                response.raw.close()
                                raise HTTPClientError(error=f"answer larger than {cap >> 20} MiB")
                            parts.append(part)
                        response._content = b"".join(parts)
                    outcome["response"] = response
                except BaseException as exc:  # handed to the caller's thread below
                    outcome["error"] = exc

            worker = threading.Thread(target=attempt, daemon=True, name="s3-attempt")
            worker.start()
            worker.join(total_s)
            if worker.is_alive():
                raise ReadTimeoutError(endpoint_url=request.url,
                                       error=f"no complete answer within the total deadline of {total_s:g} s")
            if "error" in outcome:
                raise outcome["error"]
            return outcome["response"]

    session.__class__ = BoundedSession


def make_client(settings: S3Settings, timeout_s: float = DEFAULT_TIMEOUT_S, max_attempts: int = DEFAULT_ATTEMPTS,
                pool: int = 10, service: str = "s3") -> Any:
    """A boto3 client bounded by ``timeout_s`` per connect/read, with standard-mode retries and backoff.

    Empty keys mean boto3's default chain (environment, profile, instance or pod role). Path-style
    addressing is used with a custom endpoint (MinIO, moto, Ceph), as the registry's driver does.
    """
    import boto3
    import botocore.session
    from botocore.config import Config

    config = Config(
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        retries={"total_max_attempts": max(1, int(max_attempts)), "mode": "standard"},
        max_pool_connections=max(2, pool),
        signature_version="s3v4" if service == "s3" else None,
        s3={"addressing_style": "path"} if settings.endpoint else None,
        user_agent_extra="registry-runbooks",
        tcp_keepalive=True,
    )
    core = botocore.session.Session()
    # Keep timestamps as the ISO strings S3 sends: parsing them is ~3/4 of botocore's CPU per listed object
    # (measured: 57 -> 15 µs per object), and the checks here read them as strings anyway.
    core.get_component("response_parser_factory").set_parser_defaults(timestamp_parser=_raw_timestamp)
    session = boto3.session.Session(
        botocore_session=core,
        aws_access_key_id=settings.access_key or None,
        aws_secret_access_key=settings.secret_key or None,
        aws_session_token=settings.session_token or None,
        region_name=settings.region or "us-east-1",
    )
    kwargs: dict[str, Any] = {"config": config}
    if settings.endpoint:
        kwargs["endpoint_url"] = settings.endpoint
        if settings.endpoint.startswith("http://"):
            kwargs["use_ssl"] = False
    client = session.client(service, **kwargs)
    _bound_http_session(client, timeout_s)
    return client


def connect(settings: S3Settings, timeout_s: float = DEFAULT_TIMEOUT_S, workers: int = 8,
            max_attempts: int = DEFAULT_ATTEMPTS) -> S3Target:
    """A counted, bounded target for these settings; a problem instead of an exception when it cannot be made."""
    counter = RequestCounter()
    if not settings.bucket:
        return S3Target(settings, None, counter, timeout_s, workers,
                        problem="no bucket: give `s3_bucket` (or a registry config whose storage.s3 names one)")
    if settings.endpoint and not settings.endpoint.startswith(("http://", "https://")):
        return S3Target(settings, None, counter, timeout_s, workers,
                        problem=f"s3_endpoint {settings.endpoint!r} is not an http(s) URL")
    try:
        client = make_client(settings, timeout_s, max_attempts, pool=workers + 2)
    except Exception as exc:  # botocore raises many kinds for bad regions/endpoints: name it, don't crash
        return S3Target(settings, None, counter, timeout_s, workers,
                        problem=f"cannot make an S3 client: {type(exc).__name__}: {exc}")
    counter.attach(client)
    return S3Target(settings, client, counter, timeout_s, workers)


def connect_s3(p: Mapping[str, Any], registry: RegistryConfig | None = None, workers: int = 8) -> S3Target:
    """The notebook's S3 target: the `s3_*` parameters, or the registry config's `storage.s3` when
    `s3_bucket` is empty. Parameters given alongside a config fill the gaps the config leaves."""
    timeout = float(p.get("timeout_s", DEFAULT_TIMEOUT_S))
    from_params = settings_from_params(p)
    from_registry = settings_from_registry(registry) if registry is not None else None
    settings = from_params
    if not from_params.bucket and from_registry is not None:
        settings = from_registry
        if from_params.access_key and from_params.secret_key and not from_registry.access_key:
            settings = replace(settings, access_key=from_params.access_key, secret_key=from_params.secret_key)
    return connect(settings, timeout, workers)


def connect_registry_s3(registry: RegistryConfig | None, timeout_s: float = DEFAULT_TIMEOUT_S, workers: int = 8) -> S3Target | None:
    """A target with the credentials the registry itself uses (None without an s3 storage section)."""
    settings = settings_from_registry(registry) if registry is not None else None
    return connect(settings, timeout_s, workers) if settings is not None else None
