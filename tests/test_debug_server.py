"""Debug server probes and debug-log checks without a lab: addresses, configs, /debug/vars secrets, the
log level per install type, and what debug logging leaves in log files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbooklib.config import parse_gitlab_rb, parse_registry_config, read_registry_config
from runbooklib.findings import Status
from runbooklib.metrics.debug_logs import check_debug_log_lines, check_log_level, scan_debug_logs
from runbooklib.probes.debug_server import (check_debug_config, check_debug_exposure, check_debug_vars, classify_host,
                                            explain_storage_error, local_addresses, split_addr)
from runbooklib.probes.http import make_client
from tests.test_metrics import _Server

CONFIG = Path(__file__).parent / "data" / "config"


def _cfg(debug_addr: str | None, level: str = "info", extra: str = "") -> object:
    debug = f"  debug:\n    addr: {debug_addr}\n    prometheus:\n      enabled: true\n      path: /metrics\n" if debug_addr else ""
    text = f"version: 0.1\nlog:\n  level: {level}\nhttp:\n  addr: 127.0.0.1:5000\n{debug}storage:\n  inmemory: {{}}\n{extra}"
    return parse_registry_config(text, "config.yml")


@pytest.mark.parametrize("addr,host,port,kind", [
    ("localhost:5001", "localhost", 5001, "loopback"),
    ("127.0.0.1:5001", "127.0.0.1", 5001, "loopback"),
    ("[::1]:5001", "::1", 5001, "loopback"),
    (":5001", "", 5001, "all"),
    ("0.0.0.0:5001", "0.0.0.0", 5001, "all"),
    ("[::]:5001", "::", 5001, "all"),
    ("10.0.0.5:5001", "10.0.0.5", 5001, "network"),
    ("registry.internal:5001", "registry.internal", 5001, "network"),
])
def test_debug_addresses_are_classified_as_go_listens_on_them(addr, host, port, kind):
    assert split_addr(addr) == (host, port)
    assert classify_host(host) == kind


def test_local_addresses_leave_out_loopback_and_link_local():
    for address in local_addresses():
        assert not address.startswith(("127.", "fe80")) and address != "::1"


@pytest.mark.parametrize("addr,status,fid", [
    ("0.0.0.0:5001", Status.FAIL, "debug.exposed"),
    (":5001", Status.FAIL, "debug.exposed"),
    ("localhost:5001", Status.OK, "debug.loopback_only"),
])
def test_exposure_is_judged_from_the_configured_address(addr, status, fid):
    with make_client(1) as client:
        found = check_debug_exposure(client, "", _cfg(addr))
    assert [(f.id, f.status) for f in found] == [(fid, status)]
    if status is Status.FAIL:
        assert "localhost:5001" in found[0].remedy and "gitlab-ctl reconfigure" in found[0].remedy


def test_helm_debug_port_on_the_pod_ip_is_a_warning_not_a_failure():
    with make_client(1) as client:
        found = check_debug_exposure(client, "", read_registry_config(CONFIG / "helm-values.yaml"))
    assert found[0].id == "debug.exposed" and found[0].status is Status.WARN
    assert "NetworkPolicy" in found[0].remedy


def test_gitlab_rb_debug_addr_counts_too():
    rb = parse_gitlab_rb("registry['debug_addr'] = \"0.0.0.0:5001\"\n", "gitlab.rb")
    with make_client(1) as client:
        found = check_debug_exposure(client, "", None, rb)
    assert found[0].status is Status.FAIL and "registry['debug_addr']" in found[0].detail


def test_debug_config_findings_name_what_disagrees():
    rb = parse_gitlab_rb("registry['debug_addr'] = \"localhost:5002\"\n", "gitlab.rb")
    found = {f.id: f for f in check_debug_config(_cfg("localhost:5001"), rb, "http://127.0.0.1:5003", "/prom")}
    assert found["debug.config.addr"].status is Status.OK
    assert found["debug.config.mismatch"].status is Status.WARN
    assert "-p metrics_path /metrics" in found["debug.config.path_mismatch"].remedy
    assert found["debug.config.port_mismatch"].status is Status.WARN
    off = check_debug_config(_cfg(None), None)
    assert [f.id for f in off] == ["debug.config.disabled"]
    assert check_debug_config(None, None)[0].status is Status.SKIP


def test_prometheus_switched_off_is_named():
    text = "version: 0.1\nhttp:\n  debug:\n    addr: localhost:5001\nstorage:\n  inmemory: {}\n"
    found = {f.id: f for f in check_debug_config(parse_registry_config(text, "config.yml"), None)}
    assert found["debug.config.prometheus_off"].status is Status.WARN
    assert "registry['debug']" in found["debug.config.prometheus_off"].remedy


@pytest.mark.parametrize("message,needle", [
    ('s3aws: Get "http://s3:9000/b?max-keys=1": dial tcp 10.0.0.1:9000: connect: connection refused', "refuses"),
    ("s3aws: AccessDenied: Access Denied\n\tstatus code: 403", "permission"),
    ("s3aws: NoSuchBucket: The specified bucket does not exist", "bucket does not exist"),
    ("s3aws: InvalidAccessKeyId: The AWS Access Key Id you provided does not exist", "access key"),
    ('gcs: Get "https://storage.googleapis.com/x": dial tcp: lookup storage.googleapis.com: no such host', "resolve"),
])
def test_storage_driver_errors_are_explained(message, needle):
    assert needle in explain_storage_error(message)


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


def test_debug_vars_never_show_notification_headers_or_url_credentials(server):
    secret = "Bearer s3cr3t-notification-token"
    payload = {"cmdline": ["/usr/bin/registry", "serve", "/etc/docker/registry/config.yml"],
               "memstats": {"HeapAlloc": 10 << 20, "Sys": 50 << 20, "NumGC": 7, "PauseTotalNs": 1000000},
               "registry": {"notifications": {"endpoints": [{
                   "name": "gitlab", "url": "https://user:pa55@gitlab.example.com/api/v4/container_registry_event/events",
                   "Headers": {"Authorization": [secret]},
                   "Metrics": {"Pending": 2000, "Events": 100, "Successes": 40, "Failures": 60, "Errors": 3,
                               "Statuses": {"401 Unauthorized": 60}}}]}}}
    server.routes["/debug/vars"] = (200, "application/json", json.dumps(payload).encode(), 0)
    with make_client(2) as client:
        found = {f.id: f for f in check_debug_vars(client, server.url)}
    text = json.dumps([f.to_dict() for f in found.values()])
    assert "s3cr3t" not in text and "pa55" not in text
    assert found["vars.read"].evidence["heap_alloc_mib"] == 10.0
    failing = found["vars.notifications_failing"]
    assert failing.status is Status.WARN and "60 failures" in failing.detail


def test_debug_vars_that_are_not_json_are_named(server):
    server.routes["/debug/vars"] = (200, "text/html", b"<html>nope</html>", 0)
    with make_client(2) as client:
        assert check_debug_vars(client, server.url)[0].id == "vars.unexpected"


# --- debug logs -------------------------------------------------------------------------------------------


def test_debug_level_on_omnibus_warns_and_says_reconfigure_discards_the_edit():
    cfg = parse_registry_config((CONFIG / "omnibus-config.yml").read_text().replace("level: info", "level: debug", 1),
                                "/var/opt/gitlab/registry/config.yml")
    rb = parse_gitlab_rb("registry['log_level'] = 'info'\n", "/etc/gitlab/gitlab.rb")
    found = {f.id: f for f in check_log_level(cfg, rb)}
    enabled = found["debug_logs.enabled"]
    assert enabled.status is Status.WARN and "tokens" in enabled.detail
    assert "gitlab-ctl reconfigure` discards it" in enabled.remedy
    assert found["debug_logs.rb_mismatch"].status is Status.WARN


def test_debug_level_in_gitlab_rb_is_permanent_and_the_revert_edits_gitlab_rb():
    rb = parse_gitlab_rb("registry['log_level'] = 'debug'\n", "/etc/gitlab/gitlab.rb")
    found = {f.id: f for f in check_log_level(None, rb)}
    assert "remove that line" in found["debug_logs.enabled"].remedy


def test_debug_level_in_helm_values_reverts_with_helm_upgrade():
    found = {f.id: f for f in check_log_level(read_registry_config(CONFIG / "helm-values.yaml"), None)}
    assert "helm upgrade" in found["debug_logs.enabled"].remedy and "registry.log.level: info" in found[
        "debug_logs.enabled"].remedy


def test_info_level_explains_how_to_enable_debug_temporarily():
    found = {f.id: f for f in check_log_level(_cfg("localhost:5001"), None)}
    off = found["debug_logs.off"]
    assert off.status is Status.OK and "log.level: debug" in off.remedy


def test_top_level_level_key_is_flagged_as_ignored():
    found = {f.id: f for f in check_log_level(_cfg(None, extra="level: debug\n"), None)}
    assert found["debug_logs.misplaced_level"].status is Status.WARN
    assert found["debug_logs.off"].status is Status.OK  # the registry still logs at info


def test_tokens_in_debug_logs_are_counted_and_never_shown(tmp_path):
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJsYWItdXNlciJ9.c2lnbmF0dXJlLXZhbHVl"
    log = tmp_path / "current"
    log.write_text(
        'time="2026-11-27T10:00:00Z" level=debug msg="authorizing request" http.request.uri=/v2/\n'
        f'time="2026-11-27T10:00:01Z" level=debug msg="request" http.request.header.authorization="Bearer {jwt}"\n'
        'time="2026-11-27T10:00:02Z" level=debug msg="s3aws.List(\\"/docker/registry/v2/repositories/group/app/_manifests/tags\\")"\n'
        'time="2026-11-27T10:00:03Z" level=info msg="response completed"\n')
    found = {f.id: f for f in check_debug_log_lines(scan_debug_logs([str(log)]))}
    assert found["debug_logs.lines_present"].evidence["count"] == 3
    assert found["debug_logs.tokens_in_logs"].status is Status.WARN
    assert jwt not in json.dumps([f.to_dict() for f in found.values()])
    assert found["debug_logs.repository_paths"].evidence["repositories"] == ["group/app"]
    assert check_debug_log_lines(scan_debug_logs([]))[0].status is Status.SKIP
