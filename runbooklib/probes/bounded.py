"""An httpx transport with one total deadline per request and a byte cap on every answer.

httpx bounds each phase (connect, each read) but not their sum: a server that trickles one byte per second
never trips a read timeout, and a 2 GB body is read whole. Here every socket operation of a request
(connect, TLS, writes, the header reads and the body reads) gets at most the time left until the
request's deadline, and the body stops at ``cap`` bytes: the answer is kept, marked truncated.
"""

from __future__ import annotations

import ssl
import threading
import time
import typing

import httpcore
import httpx

DEFAULT_BODY_CAP = 8 << 20  # 8 MiB: no registry, realm, debug or API answer we read needs more


class DeadlineExceeded(httpcore.ReadTimeout):
    """The request's total deadline passed (raised as httpx.ReadTimeout by httpx's exception mapping)."""


class _Clock:
    """The running request's deadline, per thread (a client may serve several threads)."""

    def __init__(self, total_s: float) -> None:
        self.total_s = total_s
        self._local = threading.local()

    def start(self) -> None:
        self._local.deadline = time.monotonic() + self.total_s

    def clamp(self, timeout: float | None) -> float:
        deadline = getattr(self._local, "deadline", None)
        if deadline is None:
            return timeout if timeout is not None else self.total_s
        left = deadline - time.monotonic()
        if left <= 0:
            raise DeadlineExceeded(f"no complete answer within the total deadline of {self.total_s:g} s")
        return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, clock: _Clock) -> None:
        self._inner = inner
        self._clock = clock

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._clock.clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._clock.clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, self._clock.clamp(timeout)),
                               self._clock)

    def get_extra_info(self, info: str) -> typing.Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, clock: _Clock) -> None:
        self._inner = httpcore.SyncBackend()
        self._clock = clock

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, self._clock.clamp(timeout), local_address, socket_options)
        return _DeadlineStream(stream, self._clock)

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: typing.Iterable[typing.Any] | None = None) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, self._clock.clamp(timeout), socket_options)
        return _DeadlineStream(stream, self._clock)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class CappedBody(httpx.SyncByteStream):
    """The response body up to ``cap`` bytes; ``truncated`` tells whether more was offered."""

    def __init__(self, inner: httpx.SyncByteStream, cap: int) -> None:
        self._inner = inner
        self.cap = cap
        self.received = 0
        self.truncated = False

    def __iter__(self) -> typing.Iterator[bytes]:
        for part in self._inner:
            room = self.cap - self.received
            if len(part) > room:
                self.truncated = True
                if room > 0:
                    self.received += room
                    yield part[:room]
                break
            self.received += len(part)
            yield part

    def close(self) -> None:
        self._inner.close()


def _no_constant(name: str) -> typing.Any:
    raise ValueError(f"{name} is not a JSON number")


class BoundedResponse(httpx.Response):
    """A response whose ``json()`` fails only with ValueError (what every caller handles): deep nesting and
    the non-JSON constants NaN/Infinity a hostile server may send are refused, not passed on."""

    def json(self, **kwargs: typing.Any) -> typing.Any:
        kwargs.setdefault("parse_constant", _no_constant)
        try:
            return super().json(**kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None


class BoundedTransport(httpx.BaseTransport):
    """``httpx.HTTPTransport`` whose requests each end within ``total_s`` and read at most ``cap`` bytes."""

    def __init__(self, total_s: float, cap: int = DEFAULT_BODY_CAP, verify: typing.Any = True) -> None:
        self.clock = _Clock(total_s)
        self.cap = cap
        self.dead: dict[tuple[str, str, int | None], tuple[type, str]] = {}
        self._inner = httpx.HTTPTransport(verify=verify, trust_env=False)
        old = self._inner._pool  # same pool settings, our network backend
        self._inner._pool = httpcore.ConnectionPool(ssl_context=old._ssl_context, network_backend=_DeadlineBackend(self.clock))
        old.close()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        origin = (request.url.scheme, request.url.host, request.url.port)
        earlier = self.dead.get(origin)
        if earlier is not None:  # a dead host costs one timeout per run, not one per probe
            kind, message = earlier
            raise kind(f"not tried again: {message} (earlier in this run)", request=request)
        self.clock.start()
        try:
            response = self._inner.handle_request(request)
        except (httpx.TimeoutException, httpx.ConnectError) as exc:
            self.dead[origin] = (type(exc), str(exc) or type(exc).__name__)
            raise
        body = CappedBody(typing.cast(httpx.SyncByteStream, response.stream), self.cap)
        return BoundedResponse(response.status_code, headers=response.headers, stream=body,
                               extensions={**response.extensions, "runbook_body": body})

    def close(self) -> None:
        self._inner.close()


def truncated(response: httpx.Response) -> bool:
    """Whether the body was cut at the byte cap (the rest was never read)."""
    body = response.extensions.get("runbook_body")
    return bool(body is not None and body.truncated)
