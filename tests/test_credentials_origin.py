"""Credentials stay with their origin: the GitLab token only goes to the configured API origin (no cross-origin
or https→http pagination Link, no redirect), and registry Basic credentials go to a plain-http token realm only
on loopback or with `allow_insecure_realm`; where they go is stated as a finding.

Hostile servers are real local HTTP(S) servers on 127.0.0.1 (free ports) that record every request's headers.
A non-loopback plain-http realm cannot be served locally (any local address is loopback), so the decision
function is unit-tested with such URLs and the end-to-end tests withhold before any connection is made.
"""

from __future__ import annotations

import base64
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

import httpx
import pytest

from runbooklib.findings import Status
from runbooklib.gitlab import GitLabClient, GitLabError, error_finding
from runbooklib.probes.endpoint import RegistryEndpoint
from runbooklib.probes.auth import (check_token_flow, is_loopback_host, realm_policy, request_token, url_origin)

pytestmark = pytest.mark.timeout(60)

TOKEN = "glpat-origin-pinned-secret"
USER, PASSWORD = "sre", "hunter2-origin-test"
BASIC = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
FOREIGN_REALM = "http://gitlab.example.com/jwt/auth"


class Recorder:
    """A local HTTP(S) server in a thread: every request's method, path and headers are kept in ``seen``;
    ``answer(handler)`` returns (status, headers, body) for each request."""

    def __init__(self, answer: Callable[["Recorder", BaseHTTPRequestHandler], tuple[int, dict, bytes]] | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.seen: list[dict] = []
        self.answer = answer or (lambda srv, h: (200, {"Content-Type": "application/json"}, b"[]"))
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                recorder.seen.append({"method": self.command, "path": self.path,
                                      "headers": {k.lower(): v for k, v in self.headers.items()}})
                status, headers, body = recorder.answer(recorder, self)
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_HEAD = _any

            def log_message(self, *args) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.scheme = "https" if tls is not None else "http"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str = "", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def carried(self, header: str) -> list[dict]:
        return [r for r in self.seen if header.lower() in r["headers"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def servers():
    made: list[Recorder] = []

    def make(answer=None, tls=None) -> Recorder:
        srv = Recorder(answer, tls)
        made.append(srv)
        return srv

    yield make
    for srv in made:
        srv.close()


def _json(body, **headers) -> tuple[int, dict, bytes]:
    return 200, {"Content-Type": "application/json", **headers}, json.dumps(body).encode()


def _client(verify=True) -> httpx.Client:
    return httpx.Client(timeout=5, trust_env=False, verify=verify)


# ---------------------------------------------------------------------------------------------- GitLab token


def test_gitlab_token_is_not_sent_to_another_origin_named_by_a_pagination_link(servers):
    other = servers()
    api = servers(lambda srv, h: _json([{"id": 1}], Link=f'<{other.url("/api/v4/projects?page=2&per_page=100")}>; '
                                                         'rel="next"'))
    gl = GitLabClient(api.url("/api/v4"), TOKEN, http=_client())
    with pytest.raises(GitLabError) as caught:
        gl.paginate("projects")
    err = caught.value
    assert err.kind == "cross_origin"
    assert other.seen == [], "the other origin must receive no request at all"
    assert len(api.carried("private-token")) == 1  # the first page went to the configured origin, with the token
    assert other.url("/api/v4/projects") in err.message and api.url("/api/v4") in err.message
    assert TOKEN not in err.message and TOKEN not in json.dumps(err.evidence)
    f = error_finding(err, "Projects")
    assert f.id == "gitlab.cross_origin" and f.status is Status.FAIL
    assert other.url("/api/v4/projects") in f.detail and "external_url" in f.remedy


def test_a_link_to_the_same_port_under_another_host_name_is_another_origin(servers):
    api = servers(lambda srv, h: _json([{"id": 1}], Link=f'<{srv.url("/api/v4/projects?page=2", "localhost")}>; '
                                                         'rel="next"'))
    gl = GitLabClient(api.url("/api/v4"), TOKEN, http=_client())
    with pytest.raises(GitLabError) as caught:
        list(gl.pages("projects"))
    assert caught.value.kind == "cross_origin" and "localhost" in caught.value.message
    assert len(api.seen) == 1  # nothing went to localhost:<same port> (it is the same socket: it would show here)


def test_a_same_origin_link_is_still_followed(servers):
    def answer(srv, h):
        if "page=2" in h.path:
            return _json([{"id": 2}])
        return _json([{"id": 1}], Link=f'<{srv.url("/api/v4/projects?page=2&per_page=100")}>; rel="next"')

    api = servers(answer)
    gl = GitLabClient(api.url("/api/v4"), TOKEN, http=_client())
    assert [p["id"] for p in gl.paginate("projects")] == [1, 2]
    assert len(api.carried("private-token")) == 2


def test_gitlab_token_is_not_sent_from_https_down_to_http(servers, tmp_path):
    from runbooklib.lab import pki

    ca_key, leaf_key = pki.new_rsa_key(), pki.new_rsa_key()
    ca = pki.issue_cert(ca_key, None, ca_key, "origin test CA", is_ca=True)
    leaf = pki.issue_cert(ca_key, ca, leaf_key, "127.0.0.1", san_hosts=("127.0.0.1",))
    pki.write_key(tmp_path / "leaf.key", leaf_key)
    pki.write_cert(tmp_path / "leaf.crt", leaf)
    pki.write_cert(tmp_path / "ca.crt", ca)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "leaf.crt", tmp_path / "leaf.key")

    plain = servers()
    api = servers(lambda srv, h: _json([{"id": 1}], Link=f'<{plain.url("/api/v4/projects?page=2")}>; rel="next"'),
                  tls=server_ctx)
    client_ctx = ssl.create_default_context(cafile=str(tmp_path / "ca.crt"))
    gl = GitLabClient(api.url("/api/v4"), TOKEN, http=_client(client_ctx))
    with pytest.raises(GitLabError) as caught:
        gl.paginate("projects")
    err = caught.value
    assert err.kind == "cross_origin" and "https down to plain http" in err.message
    assert plain.url("/api/v4/projects") in err.message and api.url("/api/v4") in err.message
    assert plain.seen == [] and len(api.carried("private-token")) == 1


def test_an_absolute_url_outside_the_api_origin_is_refused_before_any_request(servers):
    other = servers()
    gl = GitLabClient("http://127.0.0.1:1/api/v4", TOKEN, http=_client())
    with pytest.raises(GitLabError) as caught:
        gl.request(other.url("/api/v4/user"))
    assert caught.value.kind == "cross_origin" and other.seen == [] and gl.requests == 0


def test_a_redirect_is_not_followed_with_the_token(servers):
    other = servers()
    api = servers(lambda srv, h: (302, {"Location": other.url("/api/v4/projects")}, b""))
    redirecting = httpx.Client(timeout=5, trust_env=False, follow_redirects=True)  # even a client that would
    gl = GitLabClient(api.url("/api/v4"), TOKEN, http=redirecting)
    with pytest.raises(GitLabError):
        gl.paginate("projects")
    assert other.seen == []


# ---------------------------------------------------------------------------------------------- realm policy


@pytest.mark.parametrize("host, loopback", [
    ("localhost", True), ("LOCALHOST.", True), ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True),
    ("[::1]", True), ("::ffff:127.0.0.1", True),
    ("gitlab.example.com", False), ("localhost.example.com", False), ("127.0.0.1.nip.io", False),
    ("0.0.0.0", False), ("10.0.0.1", False), ("::", False), ("", False),
])
def test_loopback_is_decided_by_the_literal_host_never_by_dns(host, loopback):
    assert is_loopback_host(host) is loopback


def test_plain_http_realm_on_another_host_gets_no_credentials_and_a_warning():
    p = realm_policy(FOREIGN_REALM, "https://registry.example.com")
    assert not p.send and "cleartext" in p.reason
    f = p.finding()
    assert f.id == "token.realm_insecure" and f.status is Status.WARN
    assert "withheld" in f.title.lower() and "NOT sent" in f.detail and "allow_insecure_realm" in f.remedy
    assert f.evidence["credentials_sent"] is False and f.evidence["realm_origin"] == "http://gitlab.example.com"


def test_allow_insecure_realm_sends_them_but_still_warns():
    p = realm_policy(FOREIGN_REALM, "https://registry.example.com", allow_insecure_realm=True)
    assert p.send
    f = p.finding()
    assert f.id == "token.realm_insecure" and f.status is Status.WARN and "cleartext" in f.title


def test_https_realm_on_the_gitlab_host_is_normal_and_stated_as_context():
    # Omnibus: registry.example.com's realm is gitlab.example.com/jwt/auth
    p = realm_policy("https://gitlab.example.com/jwt/auth", "https://registry.example.com")
    assert p.send and p.cross_origin
    f = p.finding()
    assert f.id == "token.realm_other_origin" and f.status is Status.INFO
    assert "https://gitlab.example.com" in f.title and "https://registry.example.com" in f.detail


def test_same_origin_https_realm_says_nothing():
    assert realm_policy("https://gitlab.example.com/jwt/auth", "https://gitlab.example.com").finding() is None
    assert realm_policy("https://gitlab.example.com:443/jwt/auth", "https://gitlab.example.com/").finding() is None


@pytest.mark.parametrize("realm", ["http://127.0.0.1:5000/jwt/auth", "http://localhost/jwt/auth",
                                   "http://[::1]:8080/jwt/auth", "http://127.0.0.2/jwt/auth"])
def test_plain_http_to_loopback_is_allowed(realm):
    p = realm_policy(realm, "http://127.0.0.1:5000")
    assert p.send
    assert p.finding() is None or p.finding().status is Status.INFO


@pytest.mark.parametrize("realm", ["ftp://gitlab.example.com/jwt/auth", "/jwt/auth", "Protected by OAuth 2.0"])
def test_a_realm_that_is_not_an_http_url_gets_no_credentials(realm):
    p = realm_policy(realm, "https://registry.example.com")
    assert not p.send and p.finding().status is Status.WARN


def test_the_configured_realm_is_named_as_the_source():
    p = realm_policy("https://gitlab.example.com/jwt/auth", "https://registry.example.com",
                     realm_url="https://gitlab.example.com/jwt/auth")
    assert p.configured and "`realm_url`" in p.finding().detail


def test_origin_compares_scheme_host_and_default_port():
    assert url_origin("https://GitLab.Example.com/x") == url_origin("https://gitlab.example.com:443/y")
    assert url_origin("http://h/") != url_origin("https://h/")
    assert url_origin("http://h:8080/") != url_origin("http://h/")


def test_request_token_withholds_credentials_from_a_plain_http_foreign_realm():
    seen: list[httpx.Request] = []
    client = httpx.Client(transport=httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200, json={})))
    answer = request_token(client, FOREIGN_REALM, "container_registry", "registry:catalog:*", USER, PASSWORD)
    assert seen == [] and answer.token == "" and answer.problem.startswith("credentials withheld")
    assert PASSWORD not in answer.problem
    # anonymous token requests carry no secret and still go
    request_token(client, FOREIGN_REALM, "container_registry", "registry:catalog:*")
    assert len(seen) == 1 and "authorization" not in seen[0].headers
    request_token(client, FOREIGN_REALM, "container_registry", "registry:catalog:*", USER, PASSWORD,
                  allow_insecure_realm=True)
    assert seen[-1].headers["authorization"] == BASIC


# ---------------------------------------------------------------------------------------------- token flow, end to end


def _registry(realm: str):
    challenge = f'Bearer realm="{realm}",service="container_registry",scope="registry:catalog:*"'

    def answer(srv, h):
        if h.headers.get("Authorization", "").startswith("Bearer "):
            return _json({"repositories": []}, **{"Docker-Distribution-Api-Version": "registry/2.0"})
        return 401, {"WWW-Authenticate": challenge, "Docker-Distribution-Api-Version": "registry/2.0",
                     "Content-Type": "application/json"}, b'{"errors":[]}'
    return answer


def _realm(srv, h):
    token = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ0ZXN0In0.sig"
    return _json({"token": token})


def test_token_flow_states_that_credentials_go_to_a_realm_on_another_loopback_host(servers):
    realm = servers(_realm)
    realm_url = realm.url("/jwt/auth", host="localhost")  # another host name (and port) than the registry's
    registry = servers(_registry(realm_url))
    with _client() as client:
        found = {f.id: f for f in check_token_flow(client, RegistryEndpoint(registry.url(), USER, PASSWORD))}
    note = found["token.realm_other_origin"]
    assert note.status is Status.INFO and f"localhost:{realm.port}" in note.title
    assert registry.url() in note.detail and note.evidence["realm_source"] == "challenge"
    assert [r["headers"]["authorization"] for r in realm.carried("authorization")] == [BASIC]  # loopback: sent
    assert registry.carried("authorization")[0]["headers"]["authorization"].startswith("Bearer ")
    assert "token.issued" in found


def test_token_flow_on_two_loopback_ports_names_the_other_origin(servers):
    realm = servers(_realm)
    registry = servers(_registry(realm.url("/jwt/auth")))
    with _client() as client:
        ids = [f.id for f in check_token_flow(client, RegistryEndpoint(registry.url(), USER, PASSWORD))]
    assert ids[0] == "token.realm_other_origin" and "token.issued" in ids


def test_token_flow_withholds_credentials_from_a_plain_http_realm_that_is_not_loopback(servers):
    registry = servers(_registry(FOREIGN_REALM))
    with _client() as client:
        found = check_token_flow(client, RegistryEndpoint(registry.url(), USER, PASSWORD))
    assert [f.id for f in found] == ["token.realm_insecure"]
    assert found[0].status is Status.WARN and FOREIGN_REALM in found[0].detail
    assert registry.carried("authorization") == []  # nothing but the anonymous challenge request
    assert PASSWORD not in json.dumps([f.to_dict() for f in found])


def test_every_other_token_caller_withholds_too(servers):
    from runbooklib.probes.catalog import check_empty_tag_names
    from runbooklib.probes.push import check_canary_push
    from runbooklib.probes.schema1 import check_schema1_live
    from runbooklib.probes.trust import probe_token

    registry = servers(_registry(FOREIGN_REALM))
    with _client() as client:
        probe = probe_token(client, RegistryEndpoint(registry.url(), USER, PASSWORD))
        assert probe.error.startswith("credentials withheld")
        push = {f.id: f for f in check_canary_push(client, RegistryEndpoint(registry.url(), USER, PASSWORD))}
        assert "credentials withheld" in push["push.canary.auth"].detail
        schema1 = check_schema1_live(client, RegistryEndpoint(registry.url(), USER, PASSWORD))
        assert schema1[0].id == "schema1.live.not_run" and "withheld" in schema1[0].title
        tags = check_empty_tag_names(client, RegistryEndpoint(registry.url(), USER, PASSWORD))
        assert tags[0].id == "tags.not_checked" and "credentials withheld" in tags[0].detail
    assert registry.carried("authorization") == []
    assert all(r["method"] in ("GET", "HEAD") for r in registry.seen)  # nothing was pushed


def test_registry_tags_pagination_never_carries_the_bearer_token_to_another_origin():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from runbooklib.gitlab.registry import registry_tags
    from runbooklib.probes.http import make_client

    seen: list[str | None] = []

    class Other(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"tags": ["stolen"]}')

        def log_message(self, *args):
            pass

    other = ThreadingHTTPServer(("127.0.0.1", 0), Other)
    threading.Thread(target=other.serve_forever, daemon=True).start()

    class Registry(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Link", f'<http://127.0.0.1:{other.server_port}/v2/g/p/tags/list?last=a>; rel="next"')
            self.end_headers()
            self.wfile.write(b'{"name": "g/p", "tags": ["a"]}')

        def log_message(self, *args):
            pass

    registry = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=registry.serve_forever, daemon=True).start()
    try:
        with make_client(5) as client:
            result = registry_tags(client, RegistryEndpoint(f"http://127.0.0.1:{registry.server_port}", "u", "p"), "g/p")
    finally:
        registry.shutdown()
        other.shutdown()
    assert seen == [] and result.tags == ["a"] and "another origin" in result.error
