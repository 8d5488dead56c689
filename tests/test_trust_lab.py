"""Each trust fault injected for real in the lab: its runbook names it with the evidence, triage routes to it."""

import json

import pytest

from runbooklib import scenarios
from runbooklib.findings import Finding
from runbooklib.lab import control
from tests.conftest import runbook

pytestmark = [pytest.mark.lab]


def _run(lab, scenario, out, *extra):
    r = runbook("run", scenario, "-f", str(lab.params_path), "-o", str(out), *extra)
    data = json.loads((out / f"{scenario}.findings.json").read_text())
    return r.returncode, {f["id"]: f for f in data["findings"]}


def _routes(found):
    return {r["scenario"] for r in scenarios.route([Finding.from_dict(f) for f in found.values()])}


@pytest.mark.parametrize("scenario", ["x509-unknown-authority", "token-untrusted-key", "missing-registry-key"])
def test_healthy_lab_gives_no_fail(lab, tmp_path, scenario):
    rc, found = _run(lab, scenario, tmp_path)
    assert rc == 0
    assert not [f for f in found.values() if f["status"] in ("fail", "error")]


@pytest.mark.parametrize("faulted_lab", [["self-signed-tls"]], indirect=True)
def test_self_signed_registry_is_diagnosed_and_routed(faulted_lab, tmp_path):
    rc, found = _run(faulted_lab, "x509-unknown-authority", tmp_path)
    assert rc == 1
    f = found["tls.registry.self_signed"]
    assert f["status"] == "fail" and f["evidence"]["subject"] == "CN=127.0.0.1"
    assert found["tls.configured.matches"]["status"] == "ok"  # the configured file is what is served
    rc, triage = _run(faulted_lab, "triage", tmp_path / "t")
    assert rc == 1 and "x509-unknown-authority" in _routes(triage)


@pytest.mark.parametrize("faulted_lab", [["self-signed-tls"]], indirect=True)
def test_trusting_the_lab_certificate_clears_the_x509_finding(faulted_lab, tmp_path):
    cert = faulted_lab.state_dir / "certs" / "registry-tls.crt"
    rc, found = _run(faulted_lab, "x509-unknown-authority", tmp_path, "-p", "ca_bundle", str(cert))
    assert rc == 0 and found["tls.registry.ok"]["status"] == "ok"


@pytest.mark.parametrize("faulted_lab", [["untrusted-token-key"]], indirect=True)
def test_untrusted_key_is_named_with_both_key_ids_and_the_logged_id(faulted_lab, tmp_path):
    rc, found = _run(faulted_lab, "token-untrusted-key", tmp_path)
    assert rc == 1
    f = found["trust.untrusted_key"]
    key_ids = f["evidence"]["key_ids"]
    trusted = list(f["evidence"]["trusted_key_ids"])
    token_kid = key_ids["live token kid"]
    assert token_kid not in trusted and len(trusted) == 1
    assert token_kid in f["detail"] and trusted[0] in f["detail"]
    logged = [v for k, v in key_ids.items() if k.startswith("registry log")]
    assert logged == [token_kid]  # the registry's own log line names the same key
    assert found["trust.pair_mismatch"]["status"] == "fail"
    rc, triage = _run(faulted_lab, "triage", tmp_path / "t")
    assert "token-untrusted-key" in _routes(triage)


@pytest.mark.parametrize("faulted_lab", [["clock-skew"]], indirect=True)
def test_clock_skew_is_measured_and_explained(faulted_lab, tmp_path):
    rc, found = _run(faulted_lab, "token-untrusted-key", tmp_path)
    assert rc == 1
    f = found["clock.token_not_yet_valid"]
    assert abs(f["evidence"]["token_iat_minus_reference_s"] - 600) < 5
    rc, triage = _run(faulted_lab, "triage", tmp_path / "t")
    assert triage["clock.realm"]["status"] == "fail"


@pytest.mark.parametrize("faulted_lab", [["missing-registry-key"]], indirect=True)
def test_missing_registry_key_is_found_in_config_realm_and_rails_log(faulted_lab, tmp_path):
    rc, found = _run(faulted_lab, "missing-registry-key", tmp_path)
    assert rc == 1
    assert found["registry_key.missing"]["evidence"]["registry.key"].endswith("gitlab-registry.key")
    assert found["token.realm_bad_answer"]["status"] == "fail"
    assert found["logs.missing_registry_key"]["status"] == "fail"
    rc, triage = _run(faulted_lab, "triage", tmp_path / "t")
    assert "missing-registry-key" in _routes(triage)


@pytest.mark.parametrize("faulted_lab", [["self-signed-tls", "untrusted-token-key"]], indirect=True)
def test_faults_compose(faulted_lab, tmp_path):
    cert = faulted_lab.state_dir / "certs" / "registry-tls.crt"
    rc, found = _run(faulted_lab, "token-untrusted-key", tmp_path, "-p", "ca_bundle", str(cert))
    assert rc == 1 and "trust.untrusted_key" in found
    rc, found = _run(faulted_lab, "x509-unknown-authority", tmp_path / "x")
    assert rc == 1 and "tls.registry.self_signed" in found


@pytest.mark.parametrize("faulted_lab", [["untrusted-token-key"]], indirect=True)
def test_runbook_logs_after_a_bad_token_names_the_scenario_and_key_id(faulted_lab, tmp_path):
    rc, found = _run(faulted_lab, "triage", tmp_path / "t")  # a login attempt with the rogue token
    kid = found["token.issued"]["evidence"]["header"]["kid"]
    r = runbook("logs", str(faulted_lab.registry_log_dir), "--json")
    assert r.returncode == 1, r.stderr
    sigs = {s["id"]: s for s in json.loads(r.stdout)["signatures"]}
    assert sigs["token-untrusted-key"]["scenario"] == "token-untrusted-key"
    assert sigs["token-untrusted-key"]["fields"]["key_id"] == [kid]
    assert set(sigs["token-untrusted-key"]) >= {"id", "scenario", "count", "first_seen", "last_seen", "fields", "examples"}


@pytest.mark.parametrize("faulted_lab", [["untrusted-token-key"]], indirect=True)
def test_logs_notebook_reports_the_signature_with_an_embedded_timeline(faulted_lab, tmp_path):
    _run(faulted_lab, "triage", tmp_path / "t")
    rc, found = _run(faulted_lab, "logs", tmp_path / "l")
    assert rc == 1
    assert found["logs.token_untrusted_key"]["evidence"]["scenario"] == "token-untrusted-key"
    page = (tmp_path / "l" / "logs.html").read_text()
    assert "data:image/png;base64," in page  # the timeline plot travels inside the page


@pytest.mark.parametrize("faulted_lab", [["empty-name-tags"]], indirect=True)
def test_triage_sees_empty_tag_names_and_routes_to_empty_name_tags(faulted_lab, tmp_path):
    rc, found = _run(faulted_lab, "triage", tmp_path)
    assert rc == 1
    f = found["tags.empty_name"]
    assert control.SEED_IMAGE in f["evidence"]["with_empty_tag"]
    assert "empty-name-tags" in _routes(found)


def test_healthy_lab_shows_no_empty_tag_name(lab, tmp_path):
    rc, found = _run(lab, "triage", tmp_path)
    assert found["tags.no_empty_name"]["evidence"]["repositories_checked"] >= 1
