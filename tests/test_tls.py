"""TLS diagnosis against local servers presenting certificates made in the test."""

import datetime as dt
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding

from runbooklib.findings import Status
from runbooklib.lab.pki import issue_cert, new_rsa_key, write_cert, write_key
from runbooklib.probes.tls import check_tls, host_matches

NOW = dt.datetime.now(dt.timezone.utc)


class _H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a):
        pass


def _serve(tmp_path, chain, key, tls=True):
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _H)
    if tls:
        certfile, keyfile = tmp_path / "srv.crt", tmp_path / "srv.key"
        certfile.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in chain))
        write_key(keyfile, key)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the test serve weak keys
        ctx.load_cert_chain(certfile, keyfile)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


@pytest.fixture(scope="module")
def pki():
    root_key = new_rsa_key()
    root = issue_cert(root_key, None, root_key, "Test Root CA", is_ca=True)
    inter_key = new_rsa_key()
    inter = issue_cert(root_key, root, inter_key, "Test Intermediate CA", is_ca=True)
    leaf_key = new_rsa_key()
    leaf = issue_cert(inter_key, inter, leaf_key, "registry.test", ("127.0.0.1", "registry.test"),
                      aia_url="http://ca.test/inter.crt")
    return dict(root_key=root_key, root=root, inter_key=inter_key, inter=inter, leaf_key=leaf_key, leaf=leaf)


@pytest.fixture
def bundle(tmp_path, pki):
    path = tmp_path / "ca.pem"
    write_cert(path, pki["root"])
    return str(path)


def _ids(findings):
    return {f.id.rsplit(".", 1)[1]: f for f in findings}


def _run(tmp_path, chain, key, ca_bundle=""):
    srv = _serve(tmp_path, chain, key)
    try:
        return _ids(check_tls(f"https://127.0.0.1:{srv.server_port}", ca_bundle, timeout_s=5))
    finally:
        srv.shutdown()


def test_full_chain_with_the_ca_in_the_bundle_is_trusted(tmp_path, pki, bundle):
    got = _run(tmp_path, [pki["leaf"], pki["inter"]], pki["leaf_key"], bundle)
    assert set(got) == {"ok"}
    assert got["ok"].evidence["chain"][1] == "CN=Test Intermediate CA"


def test_self_signed_certificate_is_named_with_its_fingerprint(tmp_path):
    key = new_rsa_key()
    cert = issue_cert(key, None, key, "127.0.0.1", ("127.0.0.1",))
    got = _run(tmp_path, [cert], key)
    f = got["self_signed"]
    assert f.status is Status.FAIL and "unknown authority" in f.detail
    assert len(f.evidence["sha256"].split(":")) == 32
    assert "/etc/docker/certs.d/127.0.0.1:" in f.remedy and "trusted-certs" in f.remedy


def test_leaf_without_its_intermediate_is_a_missing_intermediate(tmp_path, pki, bundle):
    got = _run(tmp_path, [pki["leaf"]], pki["leaf_key"], bundle)
    assert "missing_intermediate" in got
    assert "Test Intermediate CA" in got["missing_intermediate"].detail


def test_chain_from_a_ca_not_in_the_store_is_unknown_ca(tmp_path, pki):
    got = _run(tmp_path, [pki["leaf"], pki["inter"]], pki["leaf_key"], "")
    assert "unknown_ca" in got and "system store" in got["unknown_ca"].detail


def test_expired_certificate_names_its_dates(tmp_path, pki, bundle):
    key = new_rsa_key()
    cert = issue_cert(pki["inter_key"], pki["inter"], key, "registry.test", ("127.0.0.1",),
                      not_before=NOW - dt.timedelta(days=30), not_after=NOW - dt.timedelta(days=1))
    got = _run(tmp_path, [cert, pki["inter"]], key, bundle)
    assert got["expired"].status is Status.FAIL
    assert cert.not_valid_after_utc.isoformat() in got["expired"].detail


def test_certificate_for_another_host_is_wrong_host(tmp_path, pki, bundle):
    key = new_rsa_key()
    cert = issue_cert(pki["inter_key"], pki["inter"], key, "other.test", ("other.test",))
    got = _run(tmp_path, [cert, pki["inter"]], key, bundle)
    assert "wrong_host" in got and "other.test" in got["wrong_host"].detail


def test_weak_rsa_key_is_a_warning(tmp_path, pki, bundle):
    key = new_rsa_key(1024)
    cert = issue_cert(pki["inter_key"], pki["inter"], key, "registry.test", ("127.0.0.1",))
    got = _run(tmp_path, [cert, pki["inter"]], key, bundle)
    assert got["weak_key"].status is Status.WARN and "1024" in got["weak_key"].detail


def test_ec_leaf_is_described_and_accepted(tmp_path, pki, bundle):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = issue_cert(pki["inter_key"], pki["inter"], key, "registry.test", ("127.0.0.1",))
    got = _run(tmp_path, [cert, pki["inter"]], key, bundle)
    assert set(got) == {"ok"} and got["ok"].evidence["key"].startswith("EC secp256r1")


def test_plain_http_on_the_tls_port_is_diagnosed(tmp_path):
    srv = _serve(tmp_path, [], None, tls=False)
    try:
        got = _ids(check_tls(f"https://127.0.0.1:{srv.server_port}", timeout_s=5))
    finally:
        srv.shutdown()
    assert "plain_http" in got and "HTTP/1.0 200" in got["plain_http"].evidence["http_answer"]


def test_wildcard_matches_one_label_only(pki):
    key = new_rsa_key()
    cert = issue_cert(key, None, key, "x", ("*.example.com",))
    assert host_matches(cert, "registry.example.com")
    assert not host_matches(cert, "a.registry.example.com") and not host_matches(cert, "example.com")
