"""The lab runs the real registry, S3 and token issuer; these tests hold it to what the seed documents."""

import json
import os

import httpx
import pytest

from runbooklib.lab import control, procs
from runbooklib.tokens import decode_unverified, libtrust_key_id
from tests.conftest import runbook

pytestmark = [pytest.mark.lab]


def _token(lab, scope="registry:catalog:*"):
    realm = f"{lab.url('issuer')}/jwt/auth"
    r = httpx.get(realm, params={"service": "container_registry", "scope": scope},
                  auth=(control.USERNAME, lab.secret("password")), timeout=10, trust_env=False)
    assert r.status_code == 200
    assert set(r.json()) == {"token"}  # GitLab returns only `token`
    return r.json()["token"]


def test_registry_answers_the_documented_challenge(lab):
    r = httpx.get(f"{lab.url('registry')}/v2/_catalog", timeout=10, trust_env=False)
    assert r.status_code == 401
    assert r.headers["docker-distribution-api-version"] == "registry/2.0"
    assert r.headers["www-authenticate"] == (
        f'Bearer realm="{lab.url("issuer")}/jwt/auth",service="container_registry",scope="registry:catalog:*"')
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"


def test_issuer_token_opens_the_catalog_with_the_seeded_nested_image(lab):
    token = _token(lab)
    r = httpx.get(f"{lab.url('registry')}/v2/_catalog", headers={"Authorization": f"Bearer {token}"},
                  timeout=10, trust_env=False)
    assert r.status_code == 200
    assert control.SEED_IMAGE in r.json()["repositories"]


def test_token_looks_like_gitlabs(lab):
    from cryptography import x509

    header, claims = decode_unverified(_token(lab, f"repository:{control.SEED_IMAGE}:pull"))
    cert = x509.load_pem_x509_certificate(lab.issuer_cert_path.read_bytes())
    assert header["alg"] == "RS256" and header["kid"] == libtrust_key_id(cert.public_key())
    assert claims["nbf"] == claims["iat"] - 5
    assert claims["aud"] == "container_registry" and claims["iss"] == control.ISSUER
    assert claims["access"] == [{"type": "repository", "name": control.SEED_IMAGE, "actions": ["pull"]}]


def test_wrong_password_is_refused_at_the_realm(lab):
    r = httpx.get(f"{lab.url('issuer')}/jwt/auth", params={"service": "container_registry"},
                  auth=(control.USERNAME, "wrong"), timeout=10, trust_env=False)
    assert r.status_code == 401


def test_registry_log_is_kept_like_omnibus_with_svlogd_prefixes(lab):
    httpx.get(f"{lab.url('registry')}/v2/_catalog", timeout=10, trust_env=False)
    lines = (lab.registry_log_dir / "current").read_text().splitlines()
    assert lines, "registry log is empty"
    import re
    assert all(re.match(r"\d{4}-\d\d-\d\d_\d\d:\d\d:\d\d\.\d{5} ", line) for line in lines)
    assert any("authorization token required" in line for line in lines)


def test_params_file_holds_references_not_secret_values(lab):
    text = lab.params_path.read_text()
    assert lab.secret("password") not in text and lab.secret("s3_secret_key") not in text
    assert "password: file:" in text
    assert oct(os.stat(lab.secrets_dir / "password").st_mode & 0o777) == "0o600"


def test_up_on_a_running_lab_says_so(lab):
    r = runbook("lab", "up", "--state-dir", str(lab.state_dir), "--free-ports")
    assert r.returncode == 2 and "already running" in r.stderr


def test_unknown_fault_is_refused_with_the_valid_names(tmp_path):
    r = runbook("lab", "up", "--state-dir", str(tmp_path / "l"), "--fault", "no-such-fault")
    assert r.returncode == 2 and "no-such-fault" in r.stderr and "none" in r.stderr
    assert not (tmp_path / "l" / "lab.json").exists()


def test_up_down_through_the_cli_leaves_no_process_behind(tmp_path):
    state = tmp_path / "cli-lab"
    up = runbook("lab", "up", "--state-dir", str(state), "--free-ports")
    try:
        assert up.returncode == 0, up.stderr
        pids = {n: p["pid"] for n, p in json.loads((state / "lab.json").read_text())["pids"].items()}
        assert {"s3", "issuer", "registry-log", "registry"} <= set(pids)
        assert all(procs.is_alive(p) for p in pids.values())
        st = runbook("lab", "status", "--state-dir", str(state))
        assert st.returncode == 0 and json.loads(st.stdout)["running"] is True
    finally:
        down = runbook("lab", "down", "--state-dir", str(state))
    assert down.returncode == 0
    assert not any(procs.is_alive(p) for p in pids.values())
    assert runbook("lab", "status", "--state-dir", str(state)).returncode == 1


def test_failed_start_stops_what_it_started(tmp_path, monkeypatch):
    def broken(lab):
        raise control.LabError("seeding the lab: simulated failure")

    monkeypatch.setattr(control, "_seed", broken)
    with pytest.raises(control.LabError, match="simulated"):
        control.up(tmp_path / "l", [], free_ports=True)
    saved = control.Lab.load(tmp_path / "l")
    assert saved is not None and saved.pids == {}
