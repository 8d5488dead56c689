"""`redis-cache-down` (issue #19): the RESP probe against a real Debian redis-server, the config and debug-server
checks, the log signatures on real 2.8 lines, and the faulted lab end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from runbooklib import scenarios
from runbooklib.config import parse_registry_config
from runbooklib.findings import Finding, Status
from runbooklib.lab import procs
from runbooklib.logs import BY_ID
from runbooklib.probes.http import make_client
from runbooklib.probes.redis import check_redis_config, check_redis_debug, check_redis_probe, probe_redis
from tests.conftest import runbook
from tests.test_metrics import _Server

DATA = Path(__file__).parent / "data" / "logs" / "redis"
PASSWORD = "redis-Tz4Wq8"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory):
    """The lab's kind of Redis: Debian's redis-server, loopback, a free port, requirepass, no persistence."""
    binary = shutil.which("redis-server")
    if not binary:
        pytest.fail("redis-server is not installed: run `make setup` (installs the Debian packages)")
    d = tmp_path_factory.mktemp("redis")
    port = procs.free_port()
    (d / "redis.conf").write_text(f'bind 127.0.0.1\nport {port}\ndir {d}\nsave ""\nappendonly no\n'
                                  f"requirepass {PASSWORD}\n")
    proc = subprocess.Popen([binary, str(d / "redis.conf")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        procs.wait_for_port(port, 10, proc, "redis-server")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(5)


def _cfg(addr: str | None, password: str | None = None, blob: str = "redis", db: int = 0):
    redis = ""
    if addr is not None:
        redis = f"redis:\n  addr: {addr}\n  db: {db}\n" + (f"  password: {password}\n" if password else "")
    return parse_registry_config(f"version: 0.1\nstorage:\n  inmemory: {{}}\n  cache:\n    blobdescriptor: {blob}\n"
                                 + redis, "config.yml")


@pytest.mark.parametrize("password,db,outcome,fid", [
    (PASSWORD, 0, "ok", "redis.reachable"),
    ("wrong-password", 0, "auth_refused", "redis.auth_refused"),
    (None, 0, "auth_required", "redis.auth_required"),
    (PASSWORD, 99, "db_refused", "redis.db_refused"),
])
def test_the_probe_tells_each_redis_answer_apart_without_showing_the_password(redis_server, password, db, outcome, fid):
    assert probe_redis(redis_server, password or "", db, 3)["outcome"] == outcome
    found = check_redis_probe(_cfg(redis_server, password, db=db), 3)
    assert [f.id for f in found] == [fid]
    assert (found[0].status is Status.OK) == (outcome == "ok")
    text = json.dumps(found[0].to_dict())
    assert PASSWORD not in text and "wrong-password" not in text
    if outcome == "auth_refused":
        assert "WRONGPASS" in found[0].detail and found[0].cause == "redis-cache-unavailable"


def test_a_closed_port_is_unreachable_and_the_fallback_is_stated():
    found = check_redis_probe(_cfg(f"127.0.0.1:{procs.free_port()}", "x"), 2)
    assert found[0].id == "redis.unreachable" and found[0].evidence["outcome"] == "refused"
    assert "slower, not broken" in found[0].detail


def test_config_checks_and_bad_inputs_say_what_to_provide():
    assert check_redis_config(None)[0].status is Status.SKIP
    not_used = check_redis_config(_cfg(None, blob="inmemory"))
    assert not_used[0].id == "redis.not_configured" and "blobdescriptor: redis" in not_used[0].detail
    assert check_redis_config(_cfg(None))[0].id == "redis.config.no_addr"
    ok = check_redis_config(_cfg("127.0.0.1:6379", "s3cret-Rd"))[0]
    assert ok.status is Status.OK and ok.evidence["password_set"] is True and "s3cret-Rd" not in json.dumps(ok.to_dict())
    assert check_redis_probe(_cfg(None, blob="inmemory"))[0].id == "redis.probe.not_run"
    with make_client(2) as client:
        no_debug = check_redis_debug(client, "")
    assert no_debug[0].status is Status.SKIP and "debug_url" in no_debug[0].detail


def test_helm_secret_references_are_named_and_not_probed():
    text = ("registry:\n  redis:\n    cache:\n      enabled: true\n      host: redis.example.internal\n      port: 6380\n"
            "      password:\n        enabled: true\n        secret: gitlab-redis-secret\n        key: redis-password\n")
    cfg = parse_registry_config(text, "values.yaml")
    found = check_redis_probe(cfg)
    assert found[0].id == "redis.probe.password_in_kubernetes"
    assert "gitlab-redis-secret" in found[0].detail and "redis.example.internal -p 6380" in found[0].detail


def test_helm_notification_header_in_a_kubernetes_secret_is_named_not_compared():
    from runbooklib.probes.notifications import check_notification_secrets

    text = ("registry:\n  notifications:\n    endpoints:\n      - name: gitlab\n"
            "        url: http://gitlab-webservice-default:8181/api/v4/container_registry_event/events\n"
            "        headers:\n          Authorization:\n            secret: gitlab-registry-notification\n"
            "            key: secret\n")
    gitlab = "production:\n  registry:\n    notification_secret: plain-Nt5\n"
    from runbooklib.config import parse_gitlab_yml

    found = check_notification_secrets(parse_registry_config(text, "values.yaml"), parse_gitlab_yml(gitlab, "gitlab.yml"))
    assert found[0].id == "notify.secret_in_kubernetes" and "gitlab-registry-notification" in found[0].detail
    assert "plain-Nt5" not in json.dumps(found[0].to_dict())


@pytest.mark.parametrize("with_redis,counters,fid", [
    (True, 'registry_storage_cache_total{type="Miss"} 98\nregistry_storage_cache_total{type="Request"} 98\n',
     "redis.cache.no_hits"),
    (True, 'registry_storage_cache_total{type="Hit"} 90\nregistry_storage_cache_total{type="Request"} 100\n',
     "redis.cache.hits"),
    (False, 'registry_storage_cache_total{type="Request"} 5\n', "redis.debug.no_redis"),
])
def test_debug_counters_are_read_and_the_redis_password_in_debug_vars_never_copied(with_redis, counters, fid):
    server = _Server()
    registry = {"redis": {"Active": 0, "Config": {"Addr": "127.0.0.1:6379", "Password": "vars-Pw9Xc"}}} if with_redis else {}
    server.routes["/debug/vars"] = (200, "application/json", json.dumps({"registry": registry}).encode(), 0)
    server.routes["/debug/health"] = (200, "application/json", b"{}", 0)
    server.routes["/metrics"] = (200, "text/plain", counters.encode(), 0)
    try:
        with make_client(2) as client:
            found = {f.id: f for f in check_redis_debug(client, server.url)}
    finally:
        server.close()
    assert fid in found
    assert ("redis.health.no_check" in found) == with_redis  # 2.8 registers no Redis health check
    assert "vars-Pw9Xc" not in json.dumps([f.to_dict() for f in found.values()])


def test_real_registry_lines_match_the_redis_signatures():
    lines = (DATA / "registry-2.8-redis.log").read_text().splitlines()
    unreachable = [ln for ln in lines if BY_ID["redis-unreachable"].search(ln.encode())]
    auth = [ln for ln in lines if BY_ID["redis-auth-failed"].search(ln.encode())]
    assert len(unreachable) == 1 and len(auth) == 2
    m = BY_ID["redis-unreachable"].search(unreachable[0].encode())
    fields = {(k.decode() if isinstance(k, bytes) else k): v.decode() for k, v in m.groupdict().items() if v}
    assert fields["reason"].endswith("connection refused") and fields["redis_addr"].startswith("127.0.0.1:")


def test_redis_findings_route_to_the_runbook():
    f = Finding("redis.unreachable", Status.FAIL, "x")
    assert [r["scenario"] for r in scenarios.route([f])] == ["redis-cache-down"]


# -- the lab --------------------------------------------------------------------------------------------------


def _run(lab, scenario, out):
    r = runbook("run", scenario, "-f", str(lab.params_path), "-o", str(out))
    data = json.loads((out / f"{scenario}.findings.json").read_text())
    return r.returncode, {f["id"]: f for f in data["findings"]}


def test_healthy_lab_without_redis_gives_skips_not_warnings(lab, tmp_path):
    rc, found = _run(lab, "redis-cache-down", tmp_path)
    assert rc == 0
    assert found["redis.not_configured"]["status"] == "skip"
    assert not [i for i, f in found.items() if f["status"] in ("warn", "fail", "error")]


@pytest.mark.parametrize("faulted_lab", [["redis-cache-down"]], indirect=True)
def test_redis_down_is_named_with_evidence_and_triage_routes_here(faulted_lab, tmp_path):
    rc, found = _run(faulted_lab, "redis-cache-down", tmp_path / "r")
    assert rc == 1
    assert found["redis.unreachable"]["evidence"]["outcome"] == "refused"
    assert found["redis.unreachable"]["cause"] == "redis-cache-unavailable"
    assert found["redis.health.no_check"]["evidence"]["health"] == {}  # the registry reports healthy meanwhile
    assert found["logs.redis_unreachable"]["evidence"]["count"] > 0
    cache = next(f for i, f in found.items() if i.startswith("redis.cache."))  # Redis was up while seeding
    latency = cache["evidence"]["latency"]  # what the cache saves
    assert latency["storage_stat_calls"] > 0 and latency["blob_mean_ms"] > 0
    password = (faulted_lab.secrets_dir / "redis_password").read_text().strip()
    assert password not in (tmp_path / "r" / "redis-cache-down.html").read_text()
    rc, triage = _run(faulted_lab, "triage", tmp_path / "t")
    routed = {r["scenario"] for r in scenarios.route([Finding.from_dict(f) for f in triage.values()])}
    assert "redis-cache-down" in routed


@pytest.mark.parametrize("faulted_lab", [["notification-endpoint-down", "redis-auth-refused"]], indirect=True)
def test_unreachable_notifications_and_a_refused_redis_password_compose_and_are_each_named(faulted_lab, tmp_path):
    rc, found = _run(faulted_lab, "redis-cache-down", tmp_path / "r")
    assert rc == 1 and found["redis.auth_refused"]["evidence"]["reply"].startswith("-WRONGPASS")
    assert found["logs.redis_auth_failed"]["evidence"]["fields"]["redis_error"] == ["WRONGPASS"]
    assert found["redis.cache.no_hits"]["evidence"]["cache_total"].get("Hit", 0) == 0
    rc, found = _run(faulted_lab, "notifications", tmp_path / "n")
    assert rc == 1 and found["notify.secret_match"]["status"] == "ok"  # the secrets agree: the URL is the problem
    assert found["notify.delivery.unreachable"]["cause"] == "notification-endpoint-unreachable"
    assert found["notify.queue.unreachable"]["evidence"]["endpoint"]["errors"] > 0
