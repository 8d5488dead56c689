"""The metric catalogue against the seed's own tables, every rule on the GitLab-fork fixture (tripped and
healthy), quantile arithmetic, and bad metrics endpoints / Prometheus servers turned into one clear finding."""

from __future__ import annotations

import importlib.util
import json
import math
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from runbooklib.findings import Status
from runbooklib.metrics import (CATALOGUE, RULES, View, check_catalogue_coverage, check_metric_rules,
                                check_metrics_verdict, collect_metrics, histogram_quantile, load_snapshots,
                                parse_exposition, plot_gitlab_families, plot_latency, plot_requests,
                                plot_storage_actions, seed_families)
from runbooklib.metrics.catalogue import DEFAULT_BUCKETS
from runbooklib.probes.http import make_client
from tests.conftest import REFERENCE

DATA = Path(__file__).parent / "data" / "metrics"
SEED = REFERENCE / "prometheus-metrics-tables.md"
TRIPPED = (DATA / "gitlab-fork-tripped-1.prom", DATA / "gitlab-fork-tripped-2.prom")
HEALTHY = (DATA / "gitlab-fork-healthy-1.prom", DATA / "gitlab-fork-healthy-2.prom")


# --- the catalogue is the seed's tables ------------------------------------------------------------------


def seed_tables() -> list[dict]:
    """Every row of the seed's Prometheus metric tables: name, type (from the heading), labels, label
    values (enumerations only) and buckets."""
    text = SEED.read_text(encoding="utf-8")
    section = text
    rows, kind = [], None
    for line in section.splitlines():
        heading = re.match(r"^#+\s+(Counters|Gauges|Histograms)\s*$", line)
        if heading:
            kind = {"Counters": "counter", "Gauges": "gauge", "Histograms": "histogram"}[heading.group(1)]
            continue
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        labels = tuple(re.findall(r"`([a-z_]+)`", cells[2])) if cells[2] != "None" else ()
        values, buckets = {}, ()
        for part in cells[3].split("<br>"):
            m = re.match(r"^`([a-z_]+)`: ((?:`[^`]+`(?:, )?)+)$", part.strip())
            if m:
                values[m.group(1)] = tuple(re.findall(r"`([^`]+)`", m.group(2)))
        if kind == "histogram":
            listed = re.search(r"`\[([^\]]*)\]`", cells[3])
            buckets = tuple(float(x) for x in listed.group(1).split(",")) if listed else DEFAULT_BUCKETS
        rows.append({"name": cells[0].strip("`"), "type": kind, "labels": labels, "values": values,
                     "buckets": buckets})
    return rows


def test_every_metric_of_the_seed_tables_is_in_the_catalogue_as_the_seed_describes_it():
    if not SEED.exists():
        pytest.fail(f"the seed document is missing: {SEED}")
    rows = seed_tables()
    assert len(rows) == 47  # notifications 8, BBM 8, database 14, GC 7, storage 10
    for row in rows:
        spec = CATALOGUE.get(row["name"])
        assert spec is not None, row["name"]
        assert spec.type == row["type"], row["name"]
        assert spec.labels == row["labels"], row["name"]
        for label, values in row["values"].items():
            assert set(values) <= set(spec.label_values.get(label, ())), (row["name"], label)
        if row["type"] == "histogram":
            assert spec.buckets == row["buckets"], row["name"]
    assert {s.name for s in seed_families()} == {r["name"] for r in rows}


def _fixture_module():
    spec = importlib.util.spec_from_file_location("make_fixtures", DATA / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_fixture_files_are_what_the_generator_writes():
    mod = _fixture_module()
    for name, (trip, second) in mod.FILES.items():
        assert (DATA / name).read_text() == mod.scrape(trip, second), f"regenerate {name}: make_fixtures.py"


def test_fixture_exposes_every_seed_family_with_its_type_and_buckets():
    parsed = parse_exposition(TRIPPED[0].read_text())
    assert not parsed.problems
    for spec in seed_families():
        fam = parsed.families[spec.name]
        assert fam.type == spec.type
        if spec.type == "histogram":
            bounds = {s.label("le") for s in fam.samples if s.name.endswith("_bucket")}
            assert len(bounds) == len(spec.buckets) + 1  # plus +Inf


# --- rules: each fires on the tripped fixture and stays quiet on the healthy one --------------------------


@pytest.fixture(scope="module")
def tripped():
    return {f.id: f for f in check_metric_rules(load_snapshots(*map(str, TRIPPED)))}


@pytest.fixture(scope="module")
def healthy():
    return {f.id: f for f in check_metric_rules(load_snapshots(*map(str, HEALTHY)))}


@pytest.mark.parametrize("rule", [r.id for r in RULES])
def test_rule_fires_on_the_tripped_fixture_and_stays_quiet_on_the_healthy_one(rule, tripped, healthy):
    fid = f"metrics.{rule}"
    assert tripped[fid].status in (Status.WARN, Status.FAIL), tripped[fid]
    assert tripped[fid].remedy
    assert healthy[fid].status is Status.OK, healthy[fid]


def test_lost_and_dropped_notifications_fail_and_name_the_endpoint(tripped):
    lost = tripped["metrics.notifications.lost"]
    assert lost.status is Status.FAIL and "gitlab-rails" in lost.detail and "still happening" in lost.detail
    assert lost.evidence[0]["since_start"] == 15 and lost.evidence[0]["in_window"] == 3


def test_stalled_migration_needs_two_scrapes():
    single = {f.id: f for f in check_metric_rules(load_snapshots(str(TRIPPED[1])))}
    assert "metrics.bbm.stalled" not in single
    assert "bbm.stalled" in json.dumps(single["metrics.rules.not_evaluated"].evidence)


def test_rules_on_an_upstream_registry_explain_the_absent_gitlab_families():
    text = "\n".join(line for line in TRIPPED[0].read_text().splitlines()
                     if not re.match(r"^(# (HELP|TYPE) )?registry_(notifications|bbm|database|gc)_", line)) + "\n"
    m = View(_snapshot(text))
    found = {f.id: f for f in check_metric_rules(m)}
    skipped = found["metrics.rules.not_evaluated"]
    assert skipped.status is Status.SKIP
    assert any("GitLab's fork with `notifications.endpoints`" in why for why in skipped.evidence["by_reason"])
    coverage = check_catalogue_coverage(m)[0]
    assert "registry_notifications_pending" in json.dumps(coverage.evidence["absent_by_reason"])


def test_coverage_lists_families_the_catalogue_does_not_know():
    text = TRIPPED[0].read_text() + "# TYPE registry_something_new_total counter\nregistry_something_new_total 3\n"
    coverage = check_catalogue_coverage(View(_snapshot(text)))[0]
    assert coverage.evidence["not_in_catalogue"] == ["registry_something_new_total"]


def _snapshot(text: str):
    from runbooklib.metrics import Snapshot

    parsed = parse_exposition(text)
    return Snapshot("test", time.time(), parsed.families, tuple(parsed.problems))


def test_plots_render_for_the_fork_fixture():
    m = load_snapshots(*map(str, TRIPPED))
    for plot in (plot_requests, plot_latency, plot_storage_actions, plot_gitlab_families):
        png = plot(m)._repr_png_()
        assert png.startswith(b"\x89PNG")


# --- quantiles ------------------------------------------------------------------------------------------


def test_quantile_interpolates_inside_the_bucket_like_prometheus():
    buckets = [(0.1, 10.0), (0.5, 20.0), (1.0, 20.0), (math.inf, 20.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)  # rank 10 ends the first bucket
    assert histogram_quantile(0.75, buckets) == pytest.approx(0.3)  # rank 15: halfway through (0.1, 0.5]
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.05)  # first bucket starts at 0
    assert histogram_quantile(0.9, [(1.0, 5.0), (math.inf, 10.0)]) == 1.0  # +Inf bucket: highest finite bound
    assert math.isnan(histogram_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]))  # no observation
    assert math.isnan(histogram_quantile(0.5, [(1.0, 3.0)]))  # no +Inf bucket
    assert histogram_quantile(-0.1, buckets) == -math.inf and histogram_quantile(1.1, buckets) == math.inf
    assert histogram_quantile(0.5, [(0.1, 10.0), (0.5, 8.0), (math.inf, 20.0)]) == pytest.approx(0.1)  # made monotonic


# --- bad input --------------------------------------------------------------------------------------------


def test_parser_keeps_going_past_unknown_types_and_garbled_lines():
    text = ("# TYPE weird fancytype\nweird 1\n# TYPE s stateset\ns{s=\"a\"} 1\n# TYPE ok gauge\nok 2\n"
            "this is not a metric\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 1\n"
            "h_sum 1\nh_count 1\n")
    parsed = parse_exposition(text)
    assert parsed.families["weird"].type == "untyped" and parsed.families["ok"].samples[0].value == 2
    assert parsed.families["h"].type == "histogram" and parsed.bad_lines == 1
    assert any("fancytype" in p for p in parsed.problems)


class _Server:
    """A real HTTP server on loopback answering fixed bodies: another service on the port, a proxy's
    error page, a cut-off response, a Prometheus that refuses or hangs."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[int, str, bytes, float]] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                path = self.path.split("?")[0]
                status, ctype, body, delay = outer.routes.get(path, (404, "text/plain", b"404 page not found\n", 0))
                if delay:
                    time.sleep(delay)
                if status == 0:  # close without answering
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        class Quiet(ThreadingHTTPServer):
            def handle_error(self, request, client_address):  # a client that timed out: expected here
                pass

        self.httpd = Quiet(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = _Server()
    yield s
    s.close()


TEXT = "text/plain; version=0.0.4; charset=utf-8"


@pytest.mark.parametrize("status,ctype,body,fid,usable", [
    (404, "text/plain", b"404 page not found\n", "metrics.not_found", False),
    (200, "text/html", b"<!DOCTYPE html><html><body>Sign in</body></html>", "metrics.html", False),
    (200, "text/plain", b"hello, this is not prometheus\nat all\n", "metrics.garbage", False),
    (200, "application/json", b'{"status": "ok"}', "metrics.garbage", False),
    (200, TEXT, b"", "metrics.empty", False),
    (502, "text/plain", b"bad gateway", "metrics.bad_status", False),
    (401, "text/plain", b"unauthorized", "metrics.forbidden", False),
    (200, TEXT, b'# TYPE registry_http_requests_total counter\nregistry_http_requests_total{code="200",handler="base",'
                b'method="get"} 3\nregistry_http_requests_total{code="4', "metrics.truncated", True),
    (200, TEXT, b"# TYPE registry_x odd\nregistry_x 1\n", "metrics.partly_unparsed", True),
])
def test_a_bad_metrics_endpoint_gives_one_clear_finding(server, status, ctype, body, fid, usable):
    server.routes["/metrics"] = (status, ctype, body, 0)
    with make_client(2) as client:
        m = collect_metrics(client, server.url, "/metrics", "", 0)
    ids = [f.id for f in m.findings]
    assert fid in ids
    assert m.ok is usable
    bad = [f for f in m.findings if f.status is not Status.OK]
    assert len(bad) == 1


def test_refused_silent_and_closing_endpoints_are_named(server):
    from runbooklib.lab.procs import free_port

    with make_client(0.5) as client:
        refused = collect_metrics(client, f"http://127.0.0.1:{free_port()}", "/metrics", "", 0)
        server.routes["/slow"] = (200, TEXT, b"x 1\n", 2.0)
        slow = collect_metrics(client, server.url, "/slow", "", 0)
        server.routes["/close"] = (0, TEXT, b"", 0)
        closed = collect_metrics(client, server.url, "/close", "", 0)
    assert refused.findings[0].id == "metrics.unreachable" and "refused" in refused.findings[0].title
    assert slow.findings[0].id == "metrics.unreachable" and "timed out" in slow.findings[0].title
    assert closed.findings[0].id == "metrics.unreachable"


@pytest.mark.parametrize("status,body,delay,fid", [
    (400, b'{"status":"error","errorType":"bad_data","error":"parse error"}', 0, "metrics.prometheus_error"),
    (503, b'{"status":"error","errorType":"timeout","error":"query timed out"}', 0, "metrics.prometheus_error"),
    (200, b"<html>Grafana</html>", 0, "metrics.prometheus_bad_answer"),
    (200, b'{"status":"success","data":{}}', 2.0, "metrics.prometheus_unreachable"),
])
def test_a_failing_prometheus_gives_one_clear_finding(server, status, body, delay, fid):
    server.routes["/api/v1/metadata"] = (status, "application/json", body, delay)
    with make_client(0.5) as client:
        m = collect_metrics(client, "", "/metrics", server.url, 5)
    assert [f.id for f in m.findings] == [fid]
    assert not m.ok


def test_prometheus_without_registry_series_says_so(server):
    server.routes["/api/v1/metadata"] = (200, "application/json", b'{"status":"success","data":{}}', 0)
    server.routes["/api/v1/query"] = (200, "application/json",
                                      b'{"status":"success","data":{"resultType":"vector","result":[]}}', 0)
    with make_client(2) as client:
        m = collect_metrics(client, "", "/metrics", server.url, 5)
    assert [f.id for f in m.findings] == ["metrics.prometheus_no_registry"]


def test_a_failing_prometheus_falls_back_to_the_debug_server(server):
    server.routes["/api/v1/metadata"] = (500, "text/plain", b"oops", 0)
    server.routes["/metrics"] = (200, TEXT, TRIPPED[0].read_bytes(), 0)
    with make_client(2) as client:
        m = collect_metrics(client, server.url, "/metrics", server.url, 0)
    assert m.ok and m.source == "scrape"
    assert [f.id for f in m.findings] == ["metrics.scraped", "metrics.prometheus_bad_answer"]


def test_triage_verdict_names_the_tripped_rules_and_is_quiet_when_healthy(server):
    server.routes["/bad/metrics"] = (200, TEXT, TRIPPED[1].read_bytes(), 0)
    server.routes["/good/metrics"] = (200, TEXT, HEALTHY[1].read_bytes(), 0)
    with make_client(2) as client:
        bad = check_metrics_verdict(client, server.url + "/bad")
        good = check_metrics_verdict(client, server.url + "/good")
        off = check_metrics_verdict(client, server.url + "/nothing")
        none = check_metrics_verdict(client, "")
    assert bad[0].id == "metrics.verdict" and bad[0].status is Status.FAIL
    assert "metrics.notifications.lost" in bad[0].evidence["tripped"]
    assert good[0].id == "metrics.verdict" and good[0].status is Status.OK
    assert off[0].status is Status.SKIP and none[0].status is Status.SKIP


@pytest.mark.parametrize("errors,status", [(0, Status.OK), (1, Status.OK), (3, Status.WARN), (10, Status.FAIL)])
def test_a_one_off_server_error_is_not_an_alarm_but_a_pattern_is(errors, status):
    text = ("# TYPE registry_http_requests_total counter\n"
            'registry_http_requests_total{code="200",handler="manifest",method="get"} 100\n'
            f'registry_http_requests_total{{code="500",handler="manifest",method="put"}} {errors}\n')
    found = {f.id: f for f in check_metric_rules(View(_snapshot(text)))}
    assert found["metrics.http.5xx_ratio"].status is status
