"""`jwt-auth-refused` (issue #19): the lab's /jwt/auth stand-in answers each refusal as GitLab does, and the runbook
tells 401 from 403 from "200 but fewer actions than asked"; secrets never reach a finding."""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer

import pytest

from runbooklib import scenarios
from runbooklib.findings import Finding, Status
from runbooklib.lab import issuer as issuer_mod
from runbooklib.lab.pki import new_rsa_key, write_key
from runbooklib.probes.endpoint import RegistryEndpoint
from runbooklib.probes.http import make_client
from runbooklib.probes.jwt_auth import check_jwt_auth
from tests.conftest import runbook
from tests.test_metrics import _Server

REPO = "group/project/app"
SECRETS = {"password": "pw-Lh2Kd9", "pat_registry": "glpat-Rr4Tq1", "pat_read_registry": "glpat-Yy8Uu2",
           "pat_read_api": "glpat-Ii5Oo3", "pat_expired": "glpat-Pp6Aa4", "password_blocked": "pw-Ss7Dd5",
           "job_token": "glcbt-Ff9Gg6"}


@pytest.fixture(scope="module")
def realm(tmp_path_factory):
    """The lab's real /jwt/auth stand-in, in this process, with the jwt-auth-refused fault's accounts."""
    from runbooklib.lab.fault_jwt import ACCOUNTS

    d = tmp_path_factory.mktemp("realm")
    for name, value in SECRETS.items():
        (d / name).write_text(value + "\n")
    write_key(d / "key.pem", new_rsa_key())
    cfg = {"port": 0, "key_path": str(d / "key.pem"), "issuer": "gitlab-issuer", "username": "lab-user",
           "password_file": str(d / "password"), "rails_log": str(d / "production_json.log"),
           "two_factor_users": ["lab-user"],
           "accounts": [{**a, "secret_file": str(d / name)} for name, a in ACCOUNTS.items()]}
    server = ThreadingHTTPServer(("127.0.0.1", 0), issuer_mod.make_handler(issuer_mod.Issuer(cfg)))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwt/auth", d
    server.shutdown()
    server.server_close()


def _check(realm_url, username, secret, repository=REPO, service="container_registry"):
    with make_client(3) as client:
        return check_jwt_auth(client, RegistryEndpoint("", username, secret, service=service, realm_url=realm_url), repository)


@pytest.mark.parametrize("username,secret,ids", [
    ("lab-user", "password", ["jwt.refused.credentials"]),  # 2FA: the password is refused
    ("lab-user", "pat_expired", ["jwt.refused.credentials"]),
    ("blocked-user", "password_blocked", ["jwt.refused.credentials"]),
    ("lab-user", "pat_read_api", ["jwt.refused.no_registry_scope"]),
    ("lab-user", "pat_read_registry", ["jwt.granted", "jwt.scope.reduced"]),
    ("gitlab-ci-token", "job_token", ["jwt.scope.none", "jwt.scope.none"]),  # a job of other/project
    ("lab-user", "pat_registry", ["jwt.granted", "jwt.granted"]),
])
def test_each_refusal_is_told_apart_and_no_secret_is_shown(realm, username, secret, ids):
    url, _ = realm
    found = _check(url, username, SECRETS[secret])
    assert [f.id for f in found] == ids
    text = json.dumps([f.to_dict() for f in found])
    assert SECRETS[secret] not in text
    worst = max(f.status.severity for f in found)
    assert (worst == Status.FAIL.severity) == (secret != "pat_registry")


def test_the_stand_in_answers_gitlab_s_bodies(realm):
    url, _ = realm
    refused = _check(url, "lab-user", SECRETS["password"])[0].evidence["answer"]
    assert refused["errors"][0]["code"] == "UNAUTHORIZED"
    assert refused["errors"][0]["message"].startswith("HTTP Basic: Access denied. If a password was provided")
    denied = _check(url, "lab-user", SECRETS["pat_read_api"])[0].evidence["answer"]
    assert denied == {"errors": [{"code": "DENIED", "message": "access forbidden"}], "http_status": 403}
    reduced = _check(url, "lab-user", SECRETS["pat_read_registry"])[1]
    assert reduced.evidence["asked"] == ["pull", "push"] and reduced.evidence["granted"] == ["pull"]
    unknown = _check(url, "lab-user", SECRETS["pat_registry"], service="other")
    assert unknown[0].id == "jwt.service_unknown"


def test_rails_logs_of_the_refusals_match_their_signatures(realm):
    from runbooklib.logs import BY_ID

    url, d = realm
    _check(url, "blocked-user", SECRETS["password_blocked"])
    prod = (d / "production_json.log").read_text().splitlines()
    auth = (d / "auth_json.log").read_text().splitlines()
    assert any(BY_ID["rails-jwt-auth-error"].search(line.encode()) for line in prod)
    hits = [BY_ID["rails-jwt-auth-failed"].search(line.encode()) for line in auth]
    fields = [{(k.decode() if isinstance(k, bytes) else k): v for k, v in m.groupdict().items()} for m in hits if m]
    assert {"http_user": b"blocked-user"} in fields
    assert not any(v in "\n".join(prod + auth) for v in SECRETS.values())


def test_the_older_gitlab_2fa_message_names_the_personal_access_token():
    server = _Server()
    legacy = ("HTTP Basic: Access denied\nYou must use a personal access token with 'api' scope for Git over HTTP.\n"
              "You can generate one at https://gitlab.example.com/profile/personal_access_tokens")
    server.routes["/jwt/auth"] = (401, "application/json",
                                  json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": legacy}]}).encode(), 0)
    try:
        found = _check(server.url + "/jwt/auth", "someone", "a-password")
    finally:
        server.close()
    assert found[0].id == "jwt.refused.credentials" and "two-factor" in found[0].detail


def test_bad_inputs_give_skips_that_say_what_to_provide():
    with make_client(1) as client:
        no_repo = check_jwt_auth(client, RegistryEndpoint("http://127.0.0.1:1", "u", "p"), "")
        no_user = check_jwt_auth(client, RegistryEndpoint("http://127.0.0.1:1", "", ""), REPO)
    assert no_repo[0].status is Status.SKIP and "repository" in no_repo[0].detail
    assert no_user[0].status is Status.SKIP and "username" in no_user[0].detail


def test_bad_credentials_in_triage_route_to_jwt_auth_refused():
    f = Finding("token.bad_credentials", Status.FAIL, "x")
    assert "jwt-auth-refused" in [r["scenario"] for r in scenarios.route([f])]


# -- the lab --------------------------------------------------------------------------------------------------


def _run(lab, scenario, out, *extra):
    r = runbook("run", scenario, "-f", str(lab.params_path), "-o", str(out), *extra)
    data = json.loads((out / f"{scenario}.findings.json").read_text())
    return r.returncode, {f["id"]: f for f in data["findings"]}


def test_healthy_lab_grants_pull_and_push(lab, tmp_path):
    rc, found = _run(lab, "jwt-auth-refused", tmp_path)
    assert rc == 0
    assert found["jwt.granted"]["evidence"]["granted"] == ["pull", "push"]
    assert not [i for i, f in found.items() if i.startswith("jwt.") and f["status"] in ("warn", "fail", "error")]


@pytest.mark.parametrize("faulted_lab", [["jwt-auth-refused"]], indirect=True)
def test_2fa_password_and_read_only_token_are_named_and_triage_routes_here(faulted_lab, tmp_path):
    rc, found = _run(faulted_lab, "jwt-auth-refused", tmp_path / "a")
    assert rc == 1
    assert found["jwt.refused.credentials"]["cause"] == "registry-credentials-refused"
    assert found["logs.rails_jwt_auth_failed"]["evidence"]["fields"]["http_user"] == ["lab-user"]
    assert found["logs.rails_jwt_auth_error"]["evidence"]["fields"]["status"] == ["401"]
    secret = faulted_lab.secrets_dir / "pat_read_registry"
    rc, found = _run(faulted_lab, "jwt-auth-refused", tmp_path / "b", "-p", "password", f"file:{secret}")
    assert rc == 1 and found["jwt.scope.reduced"]["evidence"]["granted"] == ["pull"]
    assert secret.read_text().strip() not in (tmp_path / "b" / "jwt-auth-refused.html").read_text()
    rc, triage = _run(faulted_lab, "triage", tmp_path / "t")
    routed = {r["scenario"] for r in scenarios.route([Finding.from_dict(f) for f in triage.values()])}
    assert rc == 1 and "jwt-auth-refused" in routed
