"""Secrets in configs never reach evidence, reprs or findings; unreadable configs become Findings."""

from __future__ import annotations

import json

import pytest

from runbooklib.config import (
    check_config_readable,
    is_secret_key,
    load_config,
    read_gitlab_rb,
    read_gitlab_yml,
    read_registry_config,
    redact_config,
)
from runbooklib.findings import Status
from tests.conftest import ROOT

DATA = ROOT / "tests" / "data" / "config"
SECRETS = ["wJalrXUtnFEMI", "3f1b7a0c9d2e48d5b6a1c0ffee", "n0t1f1cat10nS3cr3tValue", "Sup3rS3cretN0tification",
           "helmS3cretKeyDoNotShow", "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"]


def _all_views() -> list[object]:
    views: list[object] = []
    for cfg in (read_registry_config(DATA / "omnibus-config.yml"),
                read_registry_config(DATA / "distribution-gcs.yml"),
                read_registry_config(DATA / "helm-values.yaml", helm_storage=DATA / "helm-storage-secret.yaml")):
        keys = [k for k in ("storage.s3.secretkey", "http.secret", "storage.gcs.credentials",
                            "notifications.endpoints.0.headers", "storage") if cfg.get(k) is not None]
        views += [cfg.to_dict(), cfg.evidence(), cfg.evidence(*keys), repr(cfg), repr(cfg.storage)]
    g = read_gitlab_yml(DATA / "gitlab.yml")
    views += [g.to_dict(), g.evidence(), g.evidence("notification_secret"), repr(g), g.notification_secret]
    rb = read_gitlab_rb(DATA / "gitlab.rb")
    views += [rb.to_dict(), rb.evidence(), rb.evidence("registry['storage']", "gitlab_rails['registry_notification_secret']"),
              repr(rb), rb.mapped_settings(), [a.to_dict() for a in rb.assignments], repr(rb.assignments)]
    for name, kind in (("omnibus-config.yml", "registry"), ("helm-values.yaml", "registry"),
                       ("gitlab.yml", "gitlab_yml"), ("gitlab.rb", "gitlab_rb"), ("gitlab-garbage.rb", "gitlab_rb")):
        views += [f.to_dict() for f in check_config_readable(DATA / name, kind)]
    return views


def test_secret_keys_never_appear_in_evidence():
    text = json.dumps(_all_views(), default=str)
    for secret in SECRETS:
        assert secret not in text, secret
    assert "[REDACTED]" in text


def test_the_raw_secret_is_still_there_for_checks_that_need_it():
    cfg = read_registry_config(DATA / "omnibus-config.yml")
    assert cfg.storage.options["secretkey"].startswith("wJalrXUtnFEMI")
    assert cfg.get("http.secret").startswith("3f1b7a0c")
    assert read_gitlab_rb(DATA / "gitlab.rb").registry_storage[1]["secretkey"].startswith("wJalrXUtnFEMI")


def test_accesskey_shows_only_its_ends_and_other_diagnostic_values_stay_visible():
    cfg = read_registry_config(DATA / "omnibus-config.yml")
    d = cfg.to_dict()
    assert d["storage"]["accesskey"] == "AKIA…CESS"
    assert d["storage"]["options"]["accesskey"] == "AKIA…CESS"
    assert "AKIAEXAMPLEACCESS" not in repr(cfg)
    assert d["token"]["service"] == "container_registry" and d["token"]["issuer"] == "omnibus-gitlab-issuer"
    assert d["http"]["has_secret"] is True and d["storage"]["has_secretkey"] is True


@pytest.mark.parametrize("key, secret", [
    ("secretkey", True), ("secret", True), ("password", True), ("db_password", True), ("token", True),
    ("auth_token", True), ("http_secret", True), ("notification_secret", True), ("Authorization", True),
    ("private_key", True), ("accountkey", True), ("AWS_SECRET_ACCESS_KEY", True), ("credentials", True),
    ("registry['http_secret']", True), ("gitlab_rails['registry_notification_secret']", True), ("dsn", True),
    ("accesskey", False),  # partly masked, not a secret key name ("tokenService", False), ("tokenIssuer", False), ("keyfile", False), ("key", False),
    ("rootcertbundle", False), ("registry_key_path", False), ("secretName", False), ("password_file", False),
    ("bucket", False), ("registry['storage']", False), ("GODEBUG", False), (None, False),
])
def test_secret_like_key_names(key, secret):
    assert is_secret_key(key) is secret


def test_redact_config_masks_values_not_structure():
    value = {
        "auth": {"token": {"realm": "https://g/jwt/auth", "service": "container_registry"}},
        "storage": {"s3": {"accesskey": "AK", "secretkey": "SK", "chunksize": 1}},
        "http": {"secret": "HS", "tls": {"key": "/etc/tls.key"}},
        "headers": {"Authorization": ["Bearer X", "Y"]},
        "empty": {"password": "", "secret": None, "token_enabled": True},
        "redis": {"addr": "redis://user:pa55word@redis:6379/0"},
        "inline": "-----BEGIN RSA PRIVATE KEY-----\nabc\n-----END RSA PRIVATE KEY-----\n",
        "list": [{"password": "P"}, ("a", "b")],
    }
    out = redact_config(value)
    assert out["auth"]["token"] == value["auth"]["token"]
    assert out["storage"]["s3"] == {"accesskey": "[REDACTED]", "secretkey": "[REDACTED]", "chunksize": 1}
    assert out["http"] == {"secret": "[REDACTED]", "tls": {"key": "/etc/tls.key"}}
    assert out["headers"]["Authorization"] == ["[REDACTED]", "[REDACTED]"]
    assert out["empty"] == {"password": "", "secret": None, "token_enabled": True}
    assert out["redis"]["addr"] == "redis://user:[REDACTED]@redis:6379/0"
    assert "abc" not in out["inline"] and "[REDACTED]" in out["inline"]
    assert out["list"] == [{"password": "[REDACTED]"}, ["a", "b"]]
    assert value["storage"]["s3"]["secretkey"] == "SK"  # a copy: the input is untouched


# ---------------------------------------------------------------------------------------------- Findings


def test_check_config_readable_is_ok_for_good_files():
    for name, kind in (("omnibus-config.yml", "registry"), ("helm-values.yaml", "registry_config"),
                       ("gitlab.yml", "gitlab_config"), ("gitlab.rb", "gitlab_rb")):
        findings = check_config_readable(DATA / name, kind)
        assert [f.id for f in findings] == ["config.readable"], (name, findings)
        assert findings[0].status is Status.OK and str(DATA / name) in findings[0].detail


def test_check_config_readable_turns_a_missing_file_into_an_error_finding(tmp_path):
    [f] = check_config_readable(tmp_path / "config.yml", "registry")
    assert (f.id, f.status) == ("config.unreadable", Status.ERROR)
    assert f.detail == f"{tmp_path / 'config.yml'}: no such file"


def test_check_config_readable_turns_bad_yaml_into_an_error_finding_with_file_and_line(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("version: 0.1\nhttp:\n  addr: :5000\n   debug: x\n")
    [f] = check_config_readable(path, "registry")
    assert (f.id, f.status) == ("config.invalid", Status.ERROR)
    assert f.detail.startswith(f"{path}:4: invalid YAML")
    assert f.evidence["line"] == 4 and f.evidence["line_text"] == "   debug: x"


def test_check_config_readable_withholds_an_offending_line_that_may_hold_a_secret(tmp_path):
    path = tmp_path / "config.yml"
    path.write_text("storage:\n  s3:\n    secretkey: abc: VERYSECRET\n")
    [f] = check_config_readable(path, "registry")
    assert f.id == "config.invalid" and "VERYSECRET" not in json.dumps(f.to_dict())


def test_check_config_readable_skips_when_no_path_is_given():
    [f] = check_config_readable("", "gitlab_rb")
    assert (f.id, f.status) == ("config.not_given", Status.SKIP)


def test_check_config_readable_warns_about_registry_lines_it_did_not_evaluate():
    findings = check_config_readable(DATA / "gitlab-garbage.rb", "gitlab_rb")
    assert [f.id for f in findings] == ["config.readable", "config.not_understood"]
    warn = findings[1]
    assert warn.status is Status.WARN
    assert [nu["line"] for nu in warn.evidence["not_understood"]] == [2, 3, 11, 14, 15, 24]
    assert "line 2: string interpolation" in warn.detail


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown config kind"):
        check_config_readable("x", "nginx")
    assert load_config(DATA / "gitlab.rb", "gitlab.rb").registry("log_level") == "debug"
