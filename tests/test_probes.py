"""Probes against small local servers that misbehave in exactly one way."""

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from runbooklib.findings import Status
from runbooklib.probes.api import check_forwarding, parse_bearer_challenge
from runbooklib.probes.clock import check_clock
from runbooklib.probes.debug import check_health
from runbooklib.probes.http import make_client
from runbooklib.lab.procs import free_port


def _serve(status, headers=None, body=b""):
    class H(BaseHTTPRequestHandler):
        def date_time_string(self, timestamp=None):
            return (headers or {}).get("Date") or super().date_time_string(timestamp)

        def do_GET(self):
            self.send_response(status)
            for k, v in (headers or {}).items():
                if k != "Date":
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv, f"http://127.0.0.1:{srv.server_port}"


@pytest.fixture
def client():
    with make_client(3.0) as c:
        yield c


def test_bearer_challenge_parses_quoted_params():
    c = parse_bearer_challenge('Bearer realm="https://g/jwt/auth",service="container_registry",scope="registry:catalog:*",error="invalid_token"')
    assert c == {"realm": "https://g/jwt/auth", "service": "container_registry", "scope": "registry:catalog:*",
                 "error": "invalid_token"}
    assert parse_bearer_challenge('Basic realm="x"') is None


@pytest.mark.parametrize("status,headers,body,fid", [
    (200, {"Content-Type": "application/json"}, b'{"repositories":[]}', "forwarding.no_auth"),
    (404, {"Content-Type": "text/html"}, b"<html>404 Not Found</html>", "forwarding.not_registry"),
    (200, {"Content-Type": "text/html"}, b"<html><body>GitLab</body></html>", "forwarding.not_registry"),
    (502, {"Content-Type": "text/html"}, b"<html>502 Bad Gateway</html>", "forwarding.upstream_down"),
    (503, {"Content-Type": "application/json"}, b'{"errors":[{"code":"UNAVAILABLE","message":"service unavailable","detail":"health check failed"}]}', "forwarding.upstream_down"),
    (401, {"WWW-Authenticate": 'Basic realm="registry"'}, b"", "forwarding.not_registry"),
    (401, {"WWW-Authenticate": 'Basic realm="registry"', "Docker-Distribution-Api-Version": "registry/2.0"}, b"",
     "forwarding.not_token_auth"),
    (401, {"WWW-Authenticate": 'Bearer realm="http://x/jwt/auth",service="other"',
           "Docker-Distribution-Api-Version": "registry/2.0"}, b"", "forwarding.service_mismatch"),
])
def test_each_deviation_from_the_challenge_is_named(client, status, headers, body, fid):
    srv, url = _serve(status, headers, body)
    try:
        findings = check_forwarding(client, url)
    finally:
        srv.shutdown()
    assert findings[0].id == fid and findings[0].status is Status.FAIL
    assert findings[0].remedy


def test_missing_api_version_header_is_a_warning_next_to_an_ok_challenge(client):
    srv, url = _serve(401, {"WWW-Authenticate": 'Bearer realm="http://x/jwt/auth",service="container_registry"'})
    try:
        ids = {f.id: f.status for f in check_forwarding(client, url)}
    finally:
        srv.shutdown()
    assert ids == {"forwarding.ok": Status.OK, "forwarding.api_version_header": Status.WARN}


def test_connection_refused_is_named(client):
    port = free_port()
    f = check_forwarding(client, f"http://127.0.0.1:{port}")[0]
    assert f.id == "forwarding.unreachable" and "connection refused" in f.title
    assert "refused" in f.evidence["error"]


def test_unresolvable_host_is_named_dns(client):
    f = check_forwarding(client, "http://registry.invalid:5000")[0]
    assert f.status is Status.FAIL and "does not resolve" in f.title


def test_silent_server_times_out_within_the_bound():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    try:
        with make_client(1.0) as c:
            t0 = time.monotonic()
            f = check_forwarding(c, f"http://127.0.0.1:{listener.getsockname()[1]}")[0]
            took = time.monotonic() - t0
    finally:
        stop.set()
        listener.close()
    assert f.id == "forwarding.unreachable" and f.title.endswith("timed out")
    assert took < 3.0


def test_clock_skew_beyond_the_leeway_fails(client):
    from email.utils import formatdate

    srv, url = _serve(200, {"Date": formatdate(time.time() + 120, usegmt=True)})
    srv2, url2 = _serve(200, {"Date": formatdate(time.time() - 40, usegmt=True)})
    try:
        fs = {f.id: f for f in check_clock(client, {"registry": url, "realm": url2})}
    finally:
        srv.shutdown()
        srv2.shutdown()
    assert fs["clock.registry"].status is Status.FAIL and "ahead" in fs["clock.registry"].title
    assert fs["clock.realm"].status is Status.WARN and "behind" in fs["clock.realm"].title


def test_failing_health_check_names_the_check(client):
    body = b'{"storagedriver_s3":"s3aws: RequestError: send request failed"}'
    srv, url = _serve(503, {"Content-Type": "application/json"}, body)
    try:
        f = check_health(client, url)[0]
    finally:
        srv.shutdown()
    assert f.status is Status.FAIL and "storagedriver_s3" in f.detail
