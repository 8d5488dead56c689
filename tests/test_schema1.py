"""schema1: the probe's signed manifest is what a real registry verifies; accepted vs refused is told apart."""

import base64
import json
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from runbooklib.config.registry import parse_registry_config
from runbooklib.findings import Finding, Status
from runbooklib.lab import procs
from runbooklib.probes.endpoint import RegistryEndpoint
from runbooklib.probes.http import make_client
from runbooklib.probes.schema1 import check_old_clients, check_schema1_config, check_schema1_live, sign_schema1
from runbooklib.tokens import b64url_decode


def _verify_pretty_jws(body: bytes) -> dict:
    """Check a libtrust pretty signature the way the registry does: rebuild the payload, verify ES256."""
    doc = json.loads(body)
    sig = doc["signatures"][0]
    protected = json.loads(b64url_decode(sig["protected"]))
    payload = body[: protected["formatLength"]] + b64url_decode(protected["formatTail"])
    jwk = sig["header"]["jwk"]
    key = ec.EllipticCurvePublicNumbers(int.from_bytes(b64url_decode(jwk["x"]), "big"),
                                        int.from_bytes(b64url_decode(jwk["y"]), "big"), ec.SECP256R1()).public_key()
    raw = b64url_decode(sig["signature"])
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    signing_input = f"{sig['protected']}.".encode() + base64.urlsafe_b64encode(payload).rstrip(b"=")
    key.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    return json.loads(payload)


def test_signed_manifest_verifies_and_carries_the_original_payload():
    manifest = {"schemaVersion": 1, "name": "a/b", "tag": "t", "fsLayers": [], "history": []}
    assert _verify_pretty_jws(sign_schema1(manifest)) == manifest


def test_config_disabled_by_default_and_enabled_when_set():
    off = check_schema1_config(parse_registry_config("version: 0.1\nstorage: {inmemory: {}}\n", "c.yml"))
    assert off[0].id == "schema1.config.disabled" and "not set" in off[0].detail and "1.9" in off[0].detail
    on = check_schema1_config(parse_registry_config(
        "version: 0.1\nstorage: {inmemory: {}}\ncompatibility:\n  schema1:\n    enabled: true\n", "c.yml"))
    assert on[0].id == "schema1.config.enabled"
    assert check_schema1_config(None)[0].status is Status.SKIP


@pytest.fixture
def schema1_registry(tmp_path):
    """A real registry (filesystem storage, no auth) with schema1 enabled, stopped by its PID."""
    binary = shutil.which("docker-registry") or pytest.fail("docker-registry is not installed")
    port = procs.free_port()
    cfg = tmp_path / "config.yml"
    cfg.write_text(f"version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {tmp_path}/data}}}}\n"
                   f"http: {{addr: 127.0.0.1:{port}}}\ncompatibility: {{schema1: {{enabled: true}}}}\n")
    proc = subprocess.Popen([binary, "serve", str(cfg)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        procs.wait_for_port(port, 10, proc, "docker-registry")
        yield f"http://127.0.0.1:{port}", tmp_path / "data"
    finally:
        proc.terminate()
        proc.wait(10)


def test_registry_with_schema1_enabled_accepts_the_probe_and_stores_nothing(schema1_registry):
    url, data = schema1_registry
    found = check_schema1_live(make_client(5), RegistryEndpoint(url))
    assert [f.id for f in found] == ["schema1.live.accepted"]
    assert found[0].evidence["error_code"] == "MANIFEST_BLOB_UNKNOWN"
    assert not list(data.rglob("revisions"))  # no manifest was stored


def test_old_clients_verdict_combines_logs_config_and_live_answer():
    class Stats:
        count = 3
        fields = {"docker_version": {"1.9.1": 2, "1.8.3": 1}}
        examples = ["... docker/1.9.1 ..."]

    class Scan:
        paths = ["x.log"]
        stats = {"old-docker-client": Stats()}

    refused = [Finding("schema1.live.refused", Status.OK, "")]
    out = {f.id: f for f in check_old_clients(Scan(), refused)}
    assert out["schema1.old_clients.refused"].status is Status.FAIL
    assert "1.8.3" in out["schema1.old_clients.refused"].title
    accepted = [Finding("schema1.config.disabled", Status.OK, ""), Finding("schema1.live.accepted", Status.OK, "")]
    out = {f.id: f for f in check_old_clients(Scan(), accepted)}
    assert out["schema1.old_clients.supported"].status is Status.OK
    assert out["schema1.config_mismatch"].status is Status.WARN
    assert check_old_clients(None, refused)[-1].id == "schema1.old_clients.not_checked"
