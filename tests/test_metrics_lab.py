"""The debug server and its metrics on the real lab: the traffic burst feeds every upstream family, quantiles
agree with an independent computation from the same buckets, both notebooks run clean on a healthy lab,
each fault is named (storage down, debug server exposed, debug logging on), and a real Prometheus server
gives the same numbers as a direct scrape."""

from __future__ import annotations

import json
import math
import re
import shutil
import subprocess
import time
from collections import defaultdict

import httpx
import pytest

from runbooklib.findings import Status
from runbooklib.lab import control
from runbooklib.lab.procs import free_port, wait_for_port
from runbooklib.metrics import (Snapshot, View, check_metrics_verdict, collect_metrics, latency_table,
                                parse_exposition, storage_action_table)
from runbooklib.probes.debug_server import local_addresses
from runbooklib.probes.http import make_client
from tests.conftest import _need, runbook

pytestmark = pytest.mark.lab

UPSTREAM = ("registry_http_requests_total", "registry_http_request_duration_seconds", "registry_http_request_size_bytes",
            "registry_http_response_size_bytes", "registry_http_in_flight_requests", "registry_storage_action_seconds")


def _run(lab, scenario, out, *extra):
    r = runbook("run", scenario, "-f", str(lab.params_path), "-o", str(out), *extra)
    path = out / f"{scenario}.findings.json"
    assert path.exists(), r.stderr[-2000:]
    data = json.loads(path.read_text())
    return r.returncode, {f["id"]: f for f in data["findings"]}


def _scrape_text(lab) -> str:
    return httpx.get(lab.url("debug") + "/metrics", timeout=5, trust_env=False).text


# --- the shared healthy lab (read-only) ---------------------------------------------------------------------
# Other modules' tests send requests to the shared lab (some answered 5xx on purpose), so the tests that
# expect a clean bill of health use a quiet lab of this module's own.


@pytest.fixture(scope="module")
def quiet_lab(tmp_path_factory):
    _need("docker-registry", "skopeo")
    state = tmp_path_factory.mktemp("metrics-lab")
    running = control.up(state, [], free_ports=True)
    yield running
    control.down(state)



def test_traffic_burst_gives_every_upstream_family_data(lab):
    import yaml

    parsed = parse_exposition(_scrape_text(lab))
    expected = UPSTREAM
    if (yaml.safe_load(lab.registry_config_path.read_text()).get("storage") or {}).get("cache"):
        expected += ("registry_storage_cache_total",)  # only with storage.cache.blobdescriptor configured
    for family in expected:
        assert parsed.families[family].samples, family
    requests = parsed.families["registry_http_requests_total"].samples
    handlers = {s.label("handler") for s in requests}
    codes = {s.label("code") for s in requests}
    assert {"base", "blob", "blob_upload", "blob_upload_chunk", "catalog", "manifest", "tags"} <= handlers
    assert {"200", "201", "202", "401", "404"} <= codes
    log = (lab.state_dir / "logs" / "traffic.log").read_text()
    assert "PUT /v2/group/project/app/manifests/latest -> 201" in log and "no-such-tag -> 404" in log


def _registry_state(lab) -> tuple:
    import boto3

    token = httpx.get(lab.url("issuer") + "/jwt/auth", auth=(control.USERNAME, lab.secret("password")), timeout=5,
                      params={"service": control.SERVICE,
                              "scope": [f"repository:{control.SEED_IMAGE}:pull", "registry:catalog:*"]}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    base = lab.url("registry")
    catalog = httpx.get(base + "/v2/_catalog", headers=auth, timeout=5).json()
    tags = httpx.get(f"{base}/v2/{control.SEED_IMAGE}/tags/list", headers=auth, timeout=5).json()
    s3 = boto3.client("s3", endpoint_url=lab.url("s3"), region_name=control.REGION,
                      aws_access_key_id=lab.secret("s3_access_key"), aws_secret_access_key=lab.secret("s3_secret_key"))
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=control.BUCKET):
        keys += [(o["Key"], o["Size"]) for o in page.get("Contents", [])]
    return catalog, tags, sorted(keys)


def test_traffic_burst_leaves_the_registry_as_it_found_it(fresh_lab):
    """Other tests read the shared lab: a burst adds no repository, tag, blob or unfinished upload."""
    from runbooklib.lab import component_traffic

    before = _registry_state(fresh_lab)
    component_traffic.start(fresh_lab)
    after = _registry_state(fresh_lab)
    assert after == before
    assert not [k for k, _ in after[2] if "/_uploads/" in k]
    assert (fresh_lab.state_dir / "logs" / "traffic.log").read_text().count("manifests/latest -> 201") == 2


def _independent_quantile(q: float, buckets: dict[float, float]) -> float:
    """Prometheus' histogram_quantile, written again from its definition for this test."""
    bounds = sorted(buckets)
    total = buckets[math.inf]
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if bound == math.inf:
                return previous_bound
            return previous_bound + (bound - previous_bound) * (rank - previous_count) / (count - previous_count)
        previous_bound, previous_count = bound, count
    return math.nan


_BUCKET = re.compile(r'^(?P<family>registry_[a-z_]+)_bucket\{(?P<labels>[^}]*)\} (?P<value>\S+)$', re.M)


def _buckets_by(text: str, family: str, label: str) -> dict[str, dict[float, float]]:
    out: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for m in _BUCKET.finditer(text):
        if m.group("family") != family:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group("labels")))
        out[labels[label]][float(labels["le"])] += float(m.group("value"))
    return out


def test_quantiles_from_the_scrape_agree_with_an_independent_computation(lab):
    text = _scrape_text(lab)
    parsed = parse_exposition(text)
    view = View(Snapshot("lab", time.time(), parsed.families))
    table = latency_table(view).set_index("handler")
    expected = _buckets_by(text, "registry_http_request_duration_seconds", "handler")
    assert set(table.index) == set(expected)
    for handler, buckets in expected.items():
        for q in (0.5, 0.95, 0.99):
            assert table.loc[handler, f"p{round(q * 100)}"] == pytest.approx(_independent_quantile(q, buckets)), handler
    actions = storage_action_table(view, top_n=100).set_index("action")
    for action, buckets in _buckets_by(text, "registry_storage_action_seconds", "action").items():
        assert actions.loc[action, "p99"] == pytest.approx(_independent_quantile(0.99, buckets)), action


def test_healthy_lab_debug_server_metrics_shows_plots_and_no_fail(quiet_lab, tmp_path):
    rc, found = _run(quiet_lab, "debug-server-metrics", tmp_path, "-p", "interval", "1")
    assert rc == 0
    assert not [f for f in found.values() if f["status"] in ("fail", "error")]
    for fid in ("health.ok", "debug.loopback_only", "vars.read", "pprof.available", "metrics.scraped",
                "metrics.http.5xx_ratio", "metrics.http.latency", "metrics.storage.action_latency"):
        assert found[fid]["status"] == "ok", fid
    assert found["metrics.scraped"]["evidence"]["scrapes"] == 2
    page = (tmp_path / "debug-server-metrics.html").read_text()
    assert page.count("data:image/png;base64,") >= 3  # requests, latency, storage actions


def test_healthy_lab_debug_logs_is_quiet(quiet_lab):
    from runbooklib.config import read_gitlab_rb, read_registry_config
    from runbooklib.metrics.debug_logs import check_debug_log_lines, check_log_level, scan_debug_logs

    level = check_log_level(read_registry_config(quiet_lab.registry_config_path), read_gitlab_rb(quiet_lab.gitlab_rb_path))
    assert [(f.id, f.status) for f in level] == [("debug_logs.off", Status.OK)]
    lines = check_debug_log_lines(scan_debug_logs([str(quiet_lab.registry_log_dir)]))
    assert [(f.id, f.status) for f in lines] == [("debug_logs.no_lines", Status.OK)]


def test_triage_metrics_verdict_passes_on_the_healthy_lab(quiet_lab):
    with make_client(5) as client:
        verdict = check_metrics_verdict(client, quiet_lab.url("debug"))
    assert [(f.id, f.status) for f in verdict] == [("metrics.verdict", Status.OK)]
    assert verdict[0].evidence["rules_evaluated"] >= 5


# --- faults, each in a lab of its own ------------------------------------------------------------------------


@pytest.mark.parametrize("faulted_lab", [["storage-down"]], indirect=True)
def test_storage_down_fails_naming_the_storage_driver_error(faulted_lab, tmp_path):
    v2 = httpx.get(faulted_lab.url("registry") + "/v2/", timeout=5, trust_env=False)
    assert v2.status_code == 503 and "UNAVAILABLE" in v2.text
    rc, found = _run(faulted_lab, "debug-server-metrics", tmp_path, "-p", "interval", "0")
    assert rc == 1
    driver = found["health.storage_driver"]
    assert driver["status"] == "fail" and "refuses connections" in driver["title"]
    assert "connection refused" in driver["evidence"]["error"] and "s3aws" in driver["evidence"]["error"]
    assert str(faulted_lab.ports["s3"]) in driver["detail"]  # the S3 endpoint the driver could not reach


@pytest.mark.parametrize("faulted_lab", [["debug-exposed"]], indirect=True)
def test_debug_exposed_yields_the_security_finding(faulted_lab):
    from runbooklib.config import read_gitlab_rb, read_registry_config
    from runbooklib.probes.debug_server import check_debug_exposure, check_debug_health

    cfg, rb = read_registry_config(faulted_lab.registry_config_path), read_gitlab_rb(faulted_lab.gitlab_rb_path)
    with make_client(5) as client:
        found = check_debug_exposure(client, faulted_lab.url("debug"), cfg, rb)
        health = check_debug_health(client, faulted_lab.url("debug"))
    exposed = found[0]
    assert exposed.id == "debug.exposed" and exposed.status is Status.FAIL and "0.0.0.0" in exposed.detail
    answered = [p for p in exposed.evidence["probes"] if p["answer"] == 200]
    if local_addresses():  # this host has another address: the debug server answers on it
        assert answered and "127.0.0.1" not in answered[0]["url"]
    assert health[0].id == "health.ok"  # exposed, not broken


@pytest.mark.parametrize("faulted_lab", [["debug-logging"]], indirect=True)
def test_debug_logging_is_named_with_the_way_back(faulted_lab, tmp_path):
    rc, found = _run(faulted_lab, "debug-logs", tmp_path)
    assert rc == 0  # warnings only
    enabled = found["debug_logs.enabled"]
    assert enabled["status"] == "warn" and "gitlab-ctl reconfigure" in enabled["remedy"]
    assert found["debug_logs.lines_present"]["evidence"]["count"] > 0  # the real registry logged at debug level
    assert found["debug_logs.rb_mismatch"]["status"] == "warn"
    assert "group/project/app" in found["debug_logs.repository_paths"]["evidence"]["repositories"]


# --- a real Prometheus server scraping the lab ---------------------------------------------------------------


@pytest.fixture(scope="module")
def prometheus(quiet_lab, tmp_path_factory):
    binary = shutil.which("prometheus")
    if not binary:
        pytest.fail("prometheus is not installed: apt-get install prometheus (see `make setup`)")
    folder = tmp_path_factory.mktemp("prometheus")
    port = free_port()
    (folder / "prometheus.yml").write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        "scrape_configs:\n  - job_name: registry\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{quiet_lab.ports['debug']}']\n")
    with open(folder / "prometheus.log", "wb") as log:
        proc = subprocess.Popen([binary, f"--config.file={folder / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={folder / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                                stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=control.clean_env())
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_port(port, 30, proc, "prometheus")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # three scrapes of the registry, so rates and a window exist
            r = httpx.get(url + "/api/v1/query", params={"query": "count_over_time(up[1m])"}, timeout=2)
            result = r.json().get("data", {}).get("result", []) if r.status_code == 200 else []
            if result and float(result[0]["value"][1]) >= 3:
                break
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_prometheus_gives_the_same_quantiles_as_a_direct_scrape(quiet_lab, prometheus):
    with make_client(5) as client:
        via_prom = collect_metrics(client, "", "/metrics", prometheus, 2)
        direct = collect_metrics(client, quiet_lab.url("debug"), "/metrics", "", 0)
    assert via_prom.source == "prometheus" and len(via_prom.snapshots) == 2
    assert via_prom.findings[0].id == "metrics.prometheus" and via_prom.findings[0].status is Status.OK
    assert via_prom.history is not None and set(via_prom.history["handler"]) >= {"base", "manifest"}
    a = latency_table(via_prom).set_index("handler")
    b = latency_table(direct).set_index("handler")
    for handler in ("manifest", "tags", "catalog", "blob_upload"):  # handlers nobody calls during the test
        for q in ("p50", "p95", "p99"):
            assert a.loc[handler, q] == pytest.approx(b.loc[handler, q]), (handler, q)


def test_a_prometheus_query_error_is_a_finding(prometheus):
    from runbooklib.metrics import query_range

    with make_client(5) as client:
        frame, problem = query_range(client, prometheus, "sum(rate(registry_http_requests_total[1m]", 0, 10, 1)
    assert frame is None and problem.id == "metrics.prometheus_error" and "bad_data" in problem.title
