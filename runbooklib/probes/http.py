"""One place that makes bounded HTTP clients and names transport failures in plain words."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from typing import Any

import httpx

from ..errors import DEFAULT_TIMEOUT_S, RunbookError
from .bounded import DEFAULT_BODY_CAP, BoundedTransport, truncated

USER_AGENT = "registry-runbooks/0.1 (+runbooklib)"


class CABundleError(RunbookError, ValueError):
    """`ca_bundle` cannot be used: missing, not a regular file, or holds no certificate."""


def ssl_context_for(ca_bundle: str) -> ssl.SSLContext:
    """A verifying context trusting ``ca_bundle``; CABundleError (one line naming the file) when unusable."""
    from ..safefile import UnsafeFile, read_bytes

    try:
        pem = read_bytes(ca_bundle, 16 << 20)
    except UnsafeFile as exc:
        raise CABundleError(f"ca_bundle {exc.path}: {exc.reason}") from None
    try:
        return ssl.create_default_context(cadata=pem.decode("ascii", "replace"))
    except (ssl.SSLError, ValueError) as exc:
        raise CABundleError(f"ca_bundle {ca_bundle}: holds no usable PEM certificate ({exc})") from None


def make_client(timeout_s: float = DEFAULT_TIMEOUT_S, ca_bundle: str = "", verify: bool = True,
                body_cap: int = DEFAULT_BODY_CAP) -> httpx.Client:
    """A client whose every request ends within ``timeout_s`` in total (connect, TLS, headers and body
    together) and reads at most ``body_cap`` bytes of any answer.

    No proxy from the environment is used: like GitLab's documented ``curl --noproxy "*"``, we want to see what
    the registry itself answers. An unusable ``ca_bundle`` raises CABundleError; callers that must not
    fail use :func:`check_ca_bundle` first.
    """
    verify_arg: Any = verify
    if verify and ca_bundle:
        verify_arg = ssl_context_for(ca_bundle)
    return httpx.Client(
        timeout=httpx.Timeout(timeout_s),
        transport=BoundedTransport(timeout_s, body_cap, verify=verify_arg),
        trust_env=False,
        follow_redirects=False,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    )


@dataclass(frozen=True)
class TransportFailure:
    """Why a request got no HTTP answer: kind is dns, refused, tls, timeout, reset or protocol."""

    kind: str
    message: str

    @property
    def title(self) -> str:
        return {
            "dns": "host name does not resolve",
            "refused": "connection refused",
            "tls": "TLS handshake failed",
            "timeout": "timed out",
            "reset": "connection reset or closed",
            "protocol": "not an HTTP answer",
        }.get(self.kind, self.kind)


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def describe_failure(exc: Exception) -> TransportFailure:
    """Classify an httpx transport exception by walking its cause chain."""
    chain = _chain(exc)
    text = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        return TransportFailure("timeout", text)
    for e in chain:
        if isinstance(e, ssl.SSLError):
            return TransportFailure("tls", str(e))
        if isinstance(e, socket.gaierror):
            return TransportFailure("dns", str(e))
        if isinstance(e, ConnectionRefusedError):
            return TransportFailure("refused", str(e))
        if isinstance(e, (ConnectionResetError, BrokenPipeError)):
            return TransportFailure("reset", str(e))
    low = text.lower()
    if "certificate" in low or "ssl" in low or "tls" in low:
        return TransportFailure("tls", text)
    if "name or service not known" in low or "nodename nor servname" in low or "name resolution" in low:
        return TransportFailure("dns", text)
    if "connection refused" in low or "errno 111" in low:
        return TransportFailure("refused", text)
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.LocalProtocolError)):
        if "without sending" in low or "disconnected" in low:
            return TransportFailure("reset", text)
        return TransportFailure("protocol", text)
    if isinstance(exc, httpx.ReadError) or isinstance(exc, httpx.WriteError):
        return TransportFailure("reset", text)
    return TransportFailure("protocol", text)


@dataclass(frozen=True)
class Exchange:
    """A request and either its response or the transport failure that prevented one."""

    method: str
    url: str
    response: httpx.Response | None
    failure: TransportFailure | None

    @property
    def ok(self) -> bool:
        return self.response is not None

    def evidence(self, body_limit: int = 400) -> dict[str, Any]:
        """Small, safe evidence: status, selected headers, the start of the body (as text, never HTML)."""
        ev: dict[str, Any] = {"request": f"{self.method} {self.url}"}
        if self.failure is not None:
            ev["error"] = f"{self.failure.kind}: {self.failure.message}"
            return ev
        r = self.response
        assert r is not None
        ev["status"] = r.status_code
        keep = ("server", "content-type", "date", "docker-distribution-api-version", "www-authenticate", "location")
        ev["headers"] = {k: v for k, v in r.headers.items() if k.lower() in keep}
        body = r.text[:body_limit] if r.content else ""
        if body:
            ev["body"] = body
        if truncated(r):
            ev["body_truncated_at_bytes"] = len(r.content)
        return ev


def exchange(client: httpx.Client, method: str, url: str, **kwargs: Any) -> Exchange:
    """Send one request; transport failures become data instead of exceptions."""
    try:
        response = client.request(method, url, **kwargs)
        response.read()
        return Exchange(method, url, response, None)
    except httpx.InvalidURL as exc:
        return Exchange(method, url, None, TransportFailure("protocol", f"invalid URL: {exc}"))
    except httpx.UnsupportedProtocol as exc:
        return Exchange(method, url, None, TransportFailure("protocol", f"unsupported URL: {exc}"))
    except httpx.HTTPError as exc:
        return Exchange(method, url, None, describe_failure(exc))
