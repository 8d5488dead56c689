"""Real lines from real components: the lab's registry (svlogd + logfmt), a JSON-logging registry over TLS
with skopeo as the client, and NGINX proxying to an IPv6 upstream nobody listens on."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import time
import uuid

import httpx
import pytest

from runbooklib.findings import Status
from runbooklib.lab import control
from runbooklib.lab.pki import load_key, new_rsa_key, self_signed_cert, write_cert, write_key
from runbooklib.lab.procs import free_port, wait_for_port
from runbooklib.logs import check_logs, scan_logs, suggested_scenarios, top_failing_requests
from runbooklib.tokens import libtrust_key_id, sign_jwt

pytestmark = pytest.mark.lab
LOG_LAG_S = 3.0  # the registry's log reaches svlogd's file a little after the response


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A lab of this module's own (same machinery as conftest's): these tests make the registry log
    failures on purpose, and the session's shared lab must stay healthy for the tests that read its log."""
    from tests.conftest import _need

    _need("docker-registry", "skopeo")
    state = tmp_path_factory.mktemp("logs-lab")
    running = control.up(state, [], free_ports=True)
    yield running
    control.down(state)


def wait_for(predicate, timeout: float = LOG_LAG_S):
    """Poll the log until it shows what we caused (or give the last scan back for the assertion)."""
    deadline = time.monotonic() + timeout
    while True:
        got = predicate()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def events_for(lab, signature: str, uri_part: str):
    """The scan of the lab's log and its events of ``signature`` on a URI containing ``uri_part`` (None when
    there are none yet)."""
    scan = scan_logs(lab.registry_log_dir, workers=1)
    ev = scan.events
    hits = ev[ev["signatures"].str.contains(signature) & ev["uri"].fillna("").str.contains(uri_part, regex=False)]
    return (scan, hits) if len(hits) else None


def token(key, **claims) -> str:
    now = int(time.time())
    body = {"iss": control.ISSUER, "sub": control.USERNAME, "aud": control.SERVICE, "exp": now + 300, "nbf": now - 5,
            "iat": now, "jti": secrets.token_hex(8),
            "access": [{"type": "repository", "name": control.SEED_IMAGE, "actions": ["pull"]}]}
    body.update(claims)
    return sign_jwt({"typ": "JWT", "alg": "RS256", "kid": libtrust_key_id(key.public_key())}, body, key)


def test_a_request_without_token_is_counted_as_authorization_token_required(lab):
    name = f"nobody/{uuid.uuid4().hex[:12]}"
    r = httpx.get(f"{lab.url('registry')}/v2/{name}/tags/list", timeout=5)
    assert r.status_code == 401
    found = wait_for(lambda: events_for(lab, "auth-token-required", name))
    assert found, "the registry never logged the request"
    scan, hits = found
    assert len(hits) == 1
    assert scan.counts["auth-token-required"] >= 1
    assert hits.iloc[0]["method"] == "GET" and hits.iloc[0]["format"] == "svlogd+logfmt"


def test_a_token_signed_by_a_foreign_key_is_named_with_its_key_id(lab):
    rogue = new_rsa_key()
    key_id = libtrust_key_id(rogue.public_key())
    r = httpx.get(f"{lab.url('registry')}/v2/{control.SEED_IMAGE}/tags/list",
                  headers={"Authorization": f"Bearer {token(rogue)}"}, timeout=5)
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]

    def seen():
        scan = scan_logs(lab.registry_log_dir, workers=1)
        return scan if key_id in scan.stats["token-untrusted-key"].fields.get("key_id", {}) else None

    scan = wait_for(seen)
    assert scan is not None, f"the registry never logged key {key_id}"
    assert scan.stats["token-untrusted-key"].fields["key_id"][key_id] == 1
    (finding,) = [f for f in check_logs(scan) if f.id == "logs.token_untrusted_key"]
    assert finding.status == Status.FAIL
    assert "`token-untrusted-key`" in finding.detail
    assert key_id in finding.evidence["fields"]["key_id"]
    assert finding.evidence["scenario"] == "token-untrusted-key"
    assert "token-untrusted-key" in [s.scenario for s in suggested_scenarios(scan)]


@pytest.mark.parametrize("claims,signature,field", [
    ({"aud": "another-service"}, "token-wrong-audience", ("audience", "another-service")),
    ({"iss": "someone-else"}, "token-untrusted-issuer", ("issuer", "someone-else")),
    ({"exp": 1_700_000_000, "nbf": 1_699_999_000, "iat": 1_699_999_000}, "token-expired", None),
])
def test_a_token_the_registry_refuses_is_named_by_its_reason(lab, claims, signature, field):
    good_key = load_key(lab.issuer_key_path)
    marker = uuid.uuid4().hex[:10]
    claims = {**claims, "jti": marker}
    r = httpx.get(f"{lab.url('registry')}/v2/{control.SEED_IMAGE}/tags/list",
                  headers={"Authorization": f"Bearer {token(good_key, **claims)}"}, timeout=5)
    assert r.status_code == 401
    before = time.time()

    def seen():
        scan = scan_logs(lab.registry_log_dir, since=before - 5, workers=1)
        st = scan.stats[signature]
        if not st.count:
            return None
        if field and field[1] not in st.fields.get(field[0], {}):
            return None
        return scan

    scan = wait_for(seen)
    assert scan is not None, f"no {signature} line in the registry log"
    assert scan.stats["auth-invalid-token"].count >= 1  # the registry's follow-up line


def test_pulling_an_unknown_blob_with_a_valid_token_is_blob_unknown(lab):
    auth = httpx.get(f"{lab.url('issuer')}/jwt/auth", params={"service": control.SERVICE,
                     "scope": f"repository:{control.SEED_IMAGE}:pull"},
                     auth=(control.USERNAME, lab.secret("password")), timeout=5)
    assert auth.status_code == 200
    digest = "sha256:" + "0" * 56 + secrets.token_hex(4)
    r = httpx.get(f"{lab.url('registry')}/v2/{control.SEED_IMAGE}/blobs/{digest}",
                  headers={"Authorization": f"Bearer {auth.json()['token']}"}, timeout=5)
    assert r.status_code == 404 and "BLOB_UNKNOWN" in r.text

    found = wait_for(lambda: events_for(lab, "blob-unknown", digest))
    assert found, "the registry never logged the unknown blob"
    scan, hits = found
    assert set(hits["method"]) == {"GET"} and set(hits["status"]) == {404}
    statuses = {f.id: f.status for f in check_logs(scan)}
    assert statuses["logs.blob_unknown"] == Status.WARN  # a GET, not a routine HEAD
    assert any(path.endswith(digest) for path in top_failing_requests(scan, n=50)["path"])


# --- a registry with JSON logs and TLS, and skopeo as the client ------------------------------------------------
@pytest.fixture
def tls_json_registry(tmp_path):
    if not shutil.which("docker-registry"):
        pytest.fail("needs docker-registry (make setup)")
    key = new_rsa_key()
    write_key(tmp_path / "tls.key", key)
    write_cert(tmp_path / "tls.crt", self_signed_cert(key, "127.0.0.1", san_hosts=("127.0.0.1",)))
    port = free_port()
    (tmp_path / "config.yml").write_text(
        "version: 0.1\nlog: {level: info, formatter: json}\nstorage: {inmemory: {}}\n"
        f"http: {{addr: 127.0.0.1:{port}, "
        f"tls: {{certificate: {tmp_path / 'tls.crt'}, key: {tmp_path / 'tls.key'}}}}}\n")
    log = tmp_path / "registry.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(["docker-registry", "serve", str(tmp_path / "config.yml")], stdout=out, stderr=out,
                                env=env, start_new_session=True)
    try:
        wait_for_port(port, 10, proc, "docker-registry")
        yield port, log
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_client_that_does_not_trust_the_certificate_shows_on_both_sides(tls_json_registry, tmp_path):
    if not shutil.which("skopeo"):
        pytest.fail("needs skopeo (make setup)")
    port, registry_log = tls_json_registry
    res = subprocess.run(["skopeo", "inspect", f"docker://127.0.0.1:{port}/group/app:latest"], capture_output=True,
                         text=True, timeout=30)
    assert res.returncode != 0
    client_log = tmp_path / "skopeo.log"
    client_log.write_text(res.stderr)

    def seen():
        scan = scan_logs([registry_log, client_log], workers=1)
        return scan if scan.stats["tls-handshake-unknown-ca"].count else None

    scan = wait_for(seen)
    assert scan is not None, registry_log.read_text()[-2000:]
    assert scan.stats["x509-unknown-authority"].count == 1  # the client's side, in Go's words
    assert scan.stats["tls-handshake-unknown-ca"].fields["client"]
    formats = {f.path: f.format for f in scan.files}
    assert formats[str(registry_log)].startswith("json")  # the registry's JSON formatter, for real
    suggested = [s.scenario for s in suggested_scenarios(scan)]
    assert suggested[0] == "x509-unknown-authority"


# --- NGINX in front of a registry that listens on IPv4 only -------------------------------------------------------
@pytest.fixture
def nginx_to_ipv6(tmp_path):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.path.exists(nginx):
        pytest.fail("needs nginx (make setup)")
    port, upstream = free_port(), free_port()
    for sub in ("logs", "tmp"):
        (tmp_path / sub).mkdir()
    temp = " ".join(f"{k}_temp_path {tmp_path / 'tmp' / k};" for k in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                       "scgi"))
    (tmp_path / "nginx.conf").write_text(f"""
pid {tmp_path / 'nginx.pid'};
error_log {tmp_path / 'logs' / 'gitlab_registry_error.log'} error;
events {{ worker_connections 64; }}
http {{
  {temp}
  access_log {tmp_path / 'logs' / 'gitlab_registry_access.log'} combined;
  server {{
    listen 127.0.0.1:{port};
    server_name registry.example.com;
    location /v2/ {{ proxy_pass http://[::1]:{upstream}; }}
  }}
}}
""")
    proc = subprocess.Popen([nginx, "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf"), "-g", "daemon off;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_port(port, 10, proc, "nginx")
        yield port, upstream, tmp_path / "logs"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_nginx_refused_by_an_ipv6_upstream_points_to_the_ipv6_listener(nginx_to_ipv6):
    port, upstream, logs = nginx_to_ipv6
    r = httpx.get(f"http://127.0.0.1:{port}/v2/", timeout=5)
    assert r.status_code == 502

    def seen():
        scan = scan_logs(logs, workers=1)
        return scan if scan.stats["nginx-ipv6-upstream-refused"].count and scan.stats["http-502"].count else None

    scan = wait_for(seen)
    assert scan is not None
    assert scan.stats["nginx-ipv6-upstream-refused"].field_summary() == {"upstream": [f"http://[::1]:{upstream}"]}
    formats = sorted(f.format for f in scan.files)
    assert formats == ["combined", "nginx-error"]
    suggested = [s.scenario for s in suggested_scenarios(scan)]
    assert suggested[0] == "ipv6-listener"
    (f,) = [f for f in check_logs(scan) if f.id == "logs.nginx_ipv6_upstream_refused"]
    assert "registry_http_addr" in f.remedy
