"""`notifications` (issue #19): secrets compared by digest, the live POST against the GitLab stand-in's events API,
the registry's queue on /debug/vars, the log signatures on real lines, and the fault in the lab end to end."""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from runbooklib import scenarios
from runbooklib.config import parse_gitlab_rb, parse_gitlab_yml, parse_registry_config
from runbooklib.findings import Finding, Status
from runbooklib.lab import gitlab_standin
from runbooklib.lab.procs import free_port
from runbooklib.logs import BY_ID, scan_logs
from runbooklib.probes.http import make_client
from runbooklib.probes.notifications import (EVENTS_PATH, check_notification_delivery, check_notification_queue,
                                             check_notification_secrets)
from tests.conftest import runbook
from tests.test_metrics import _Server

DATA = Path(__file__).parent / "data" / "logs" / "notifications"


def _registry(url: str, header: str | None) -> object:
    headers = f"\n      headers:\n        Authorization: [{header}]" if header is not None else ""
    text = (f"version: 0.1\nstorage:\n  inmemory: {{}}\nnotifications:\n  endpoints:\n    - name: gitlab-rails\n"
            f"      url: {url}{headers}\n      timeout: 500ms\n")
    return parse_registry_config(text, "config.yml")


def _gitlab_yml(secret: str | None) -> object:
    value = "null" if secret is None else f'"{secret}"'
    return parse_gitlab_yml(f"production:\n  registry:\n    enabled: true\n    notification_secret: {value}\n", "gitlab.yml")


@pytest.fixture
def standin(tmp_path):
    """The lab's real GitLab stand-in (its events API), in this process, knowing one notification secret."""
    secret = tmp_path / "notification_secret"
    secret.write_text("the-gitlab-side-secret\n")
    gl = gitlab_standin.GitLab({"notification_secret_file": str(secret)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), gitlab_standin.make_handler(gl))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", gl
    server.shutdown()
    server.server_close()


def test_secrets_that_differ_fail_and_name_the_settings_without_showing_a_value():
    rb = parse_gitlab_rb("gitlab_rails['registry_notification_secret'] = 'rails-side-Xq7Zw'\n"
                         "registry['notification_secret'] = 'registry-side-Kp3Vb'\n", "gitlab.rb")
    found = check_notification_secrets(_registry("https://gitlab.example.com" + EVENTS_PATH, "registry-side-Kp3Vb"),
                                       _gitlab_yml("rails-side-Xq7Zw"), rb)
    assert [f.id for f in found] == ["notify.secret_mismatch"] and found[0].status is Status.FAIL
    assert found[0].cause == "notification-secret-mismatch"
    text = json.dumps(found[0].to_dict())
    assert "Xq7Zw" not in text and "Kp3Vb" not in text
    digests = {r["side"]: set() for r in found[0].evidence["secrets"]}
    for r in found[0].evidence["secrets"]:
        digests[r["side"]].add(r["digest"])
    assert len(digests["registry"]) == 1 and len(digests["GitLab"]) == 1 and digests["registry"] != digests["GitLab"]
    assert "registry.notification_secret" in found[0].detail and "gitlab_rails['registry_notification_secret']" in found[0].detail


def test_equal_secrets_pass_and_gitlab_without_a_secret_fails():
    reg = _registry("https://gitlab.example.com" + EVENTS_PATH, "same")
    assert [(f.id, f.status) for f in check_notification_secrets(reg, _gitlab_yml("same"))] == [
        ("notify.secret_match", Status.OK)]
    missing = check_notification_secrets(reg, _gitlab_yml(None))
    assert missing[0].id == "notify.secret_missing" and missing[0].status is Status.FAIL
    no_header = check_notification_secrets(_registry("https://gitlab.example.com" + EVENTS_PATH, None), _gitlab_yml("x"))
    assert no_header[0].id == "notify.auth_header_missing"


def test_bad_inputs_give_skips_or_info_that_say_what_to_provide():
    assert check_notification_secrets()[0].status is Status.SKIP
    only_gitlab = check_notification_secrets(_registry("https://gitlab.example.com" + EVENTS_PATH, "x"))
    assert only_gitlab[0].id == "notify.secret_not_compared" and "gitlab_config" in only_gitlab[0].detail
    plain = parse_registry_config("version: 0.1\nstorage:\n  inmemory: {}\n", "config.yml")
    assert check_notification_secrets(plain, _gitlab_yml("x"))[0].status is Status.INFO
    with make_client(2) as client:
        no_debug = check_notification_queue(client, "")
        assert no_debug[0].status is Status.SKIP and "debug_url" in no_debug[0].detail
        assert check_notification_delivery(client, None)[0].status is Status.SKIP
        assert check_notification_delivery(client, plain)[0].status is Status.INFO


def test_the_standin_answers_as_gitlab_and_the_delivery_check_tells_refused_from_accepted(standin):
    url, gl = standin
    with make_client(3) as client:
        refused = check_notification_delivery(client, _registry(url + EVENTS_PATH, "not-the-secret"))
        accepted = check_notification_delivery(client, _registry(url + EVENTS_PATH, "the-gitlab-side-secret"))
        r = client.post(url + EVENTS_PATH, json={"events": [{"action": "pull"}]},
                        headers={"Authorization": "the-gitlab-side-secret"})
    assert refused[0].id == "notify.delivery.refused" and refused[0].evidence["status"] == 401
    assert json.loads(refused[0].evidence["body"]) == {"message": "401 Unauthorized"}
    assert "not-the-secret" not in json.dumps(refused[0].to_dict())
    assert accepted[0].id == "notify.delivery.accepted" and accepted[0].status is Status.OK
    assert r.status_code == 400 and "action" in r.json()["error"]  # GitLab takes push and delete events only
    assert gl.events_received == 0  # the probe's empty list changed nothing


def test_an_endpoint_where_nothing_listens_is_unreachable():
    with make_client(2) as client:
        found = check_notification_delivery(client, _registry(f"http://127.0.0.1:{free_port()}{EVENTS_PATH}", "x"))
    assert found[0].id == "notify.delivery.unreachable" and "refused" in found[0].detail
    assert found[0].cause == "notification-endpoint-unreachable"


def _vars(pending, failures, errors, statuses):
    return json.dumps({"registry": {"notifications": {"endpoints": [{
        "name": "gitlab-rails", "url": "http://gitlab/api/v4/container_registry_event/events",
        "Headers": {"Authorization": ["s3cr3t-header"]},
        "Metrics": {"Pending": pending, "Events": pending + 5, "Successes": 5, "Failures": failures,
                    "Errors": errors, "Statuses": statuses}}]}}}).encode()


@pytest.mark.parametrize("pending,failures,errors,statuses,fid", [
    (26, 103, 4, {"401 Unauthorized": 103}, "notify.queue.refused"),
    (12, 0, 40, {}, "notify.queue.unreachable"),
    (0, 3, 0, {"401 Unauthorized": 3}, "notify.queue.recovered"),
    (0, 0, 0, {"200 OK": 5}, "notify.queue.ok"),
])
def test_queue_counters_are_classified_and_headers_never_copied(pending, failures, errors, statuses, fid):
    server = _Server()
    try:
        server.routes["/debug/vars"] = (200, "application/json", _vars(pending, failures, errors, statuses), 0)
        with make_client(2) as client:
            found = check_notification_queue(client, server.url, window_s=0)
    finally:
        server.close()
    assert [f.id for f in found] == [fid]
    assert "s3cr3t-header" not in json.dumps(found[0].to_dict())


def test_real_and_public_notification_lines_match_their_signatures():
    lines = (DATA / "registry-2.8-notification-401.log").read_text().splitlines()
    lines += (DATA / "public-wordings.log").read_text().splitlines()
    hits = {sig: [ln for ln in lines if BY_ID[sig].search(ln.encode())] for sig in
            ("notification-refused", "notification-unreachable", "notification-backoff", "notification-rejected",
             "notification-events-lost")}
    assert {k: len(v) for k, v in hits.items()} == {"notification-refused": 3, "notification-unreachable": 4,
                                                  "notification-backoff": 2, "notification-rejected": 1,
                                                  "notification-events-lost": 1}
    assert _fields("notification-unreachable", lines[1])["reason"] == "connection refused"
    assert _fields("notification-refused", lines[4])["status"] == "401"
    assert _fields("notification-unreachable", lines[-1])["reason"] == "no such host"


def _fields(sig_id, line):
    m = BY_ID[sig_id].search(line.encode())
    return {k.decode() if isinstance(k, bytes) else k: v.decode() for k, v in m.groupdict().items() if v is not None}


def test_log_scan_of_the_real_capture_names_the_scenario_and_never_the_secret(tmp_path):
    log = tmp_path / "current"
    text = (DATA / "registry-2.8-notification-401.log").read_text()
    log.write_text(text.replace("REGISTRY-SIDE-SECRET-REPLACED", "registry-0123456789abcdef0123456789abcdef"))
    scan = scan_logs([str(log)])
    assert scan.stats["notification-refused"].count == 2
    from runbooklib.logs.focus import check_logs_for

    found = {f.id: f for f in check_logs_for(scan, "notifications")}
    assert found["logs.notification_refused"].evidence["scenario"] == "notifications"
    assert "0123456789abcdef0123456789abcdef" not in json.dumps([f.to_dict() for f in found.values()])


def test_debug_vars_finding_routes_to_the_notifications_runbook():
    f = Finding("vars.notifications_failing", Status.WARN, "x")
    assert [r["scenario"] for r in scenarios.route([f])] == ["notifications"]


# -- the lab --------------------------------------------------------------------------------------------------


def _run(lab, scenario, out):
    r = runbook("run", scenario, "-f", str(lab.params_path), "-o", str(out))
    data = json.loads((out / f"{scenario}.findings.json").read_text())
    return r.returncode, {f["id"]: f for f in data["findings"]}


def test_healthy_lab_gives_no_notification_warning(lab, tmp_path):
    rc, found = _run(lab, "notifications", tmp_path)
    assert rc == 0
    bad = [i for i, f in found.items() if f["status"] in ("warn", "fail", "error")]
    assert not bad, bad
    assert found["notify.queue.none"]["status"] == "info"


@pytest.mark.parametrize("faulted_lab", [["notification-secret-mismatch"]], indirect=True)
def test_secret_mismatch_is_named_with_evidence_and_triage_routes_to_it(faulted_lab, tmp_path):
    rc, found = _run(faulted_lab, "notifications", tmp_path / "n")
    assert rc == 1
    assert found["notify.secret_mismatch"]["cause"] == "notification-secret-mismatch"
    assert found["notify.delivery.refused"]["evidence"]["status"] == 401
    queue = found["notify.queue.refused"]["evidence"]["endpoint"]
    assert queue["pending"] > 0 and queue["statuses"].get("401 Unauthorized", 0) > 0
    assert found["logs.notification_refused"]["evidence"]["fields"]["status"] == ["401"]
    secret = (faulted_lab.secrets_dir / "notification_secret_registry").read_text().strip()
    assert secret not in (tmp_path / "n" / "notifications.html").read_text()
    rc, triage = _run(faulted_lab, "triage", tmp_path / "t")
    routed = {r["scenario"] for r in scenarios.route([Finding.from_dict(f) for f in triage.values()])}
    assert rc == 1 and "notifications" in routed
