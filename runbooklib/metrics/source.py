"""Where metrics come from: the debug server's Prometheus endpoint, or a Prometheus server that scrapes it.

Two snapshots ``interval`` seconds apart turn counters into rates: two scrapes of the debug server, or two
instant queries of Prometheus (at now − interval and now, so nothing waits). Every way this can go wrong
(refused, 404 because metrics are off, an HTML login page, garbage, a cut-off body, a Prometheus error or
timeout) becomes one finding that says what was seen and what to do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from ..findings import Finding, Findings, Status
from ..probes.api import transport_remedy
from ..probes.bounded import truncated
from ..probes.http import exchange
from .catalogue import CATALOGUE, canonical_name
from .compute import View
from .parse import cap_series, Family, Sample, Snapshot, parse_exposition

SEED_DEBUG = "Enable the Registry debug server"
SEED_METRICS = "Prometheus metrics"
ACCEPT = "text/plain;version=0.0.4;q=1,*/*;q=0.1"  # the text format, never protobuf or OpenMetrics
PROM_SELECTOR = '{__name__=~"registry_.*|go_goroutines|go_memstats_heap_alloc_bytes|process_.*"}'
MAX_INTERVAL_S = 600.0

ENABLE_REMEDY = (
    "Enable the debug server and its Prometheus endpoint:\n"
    "- Omnibus (/etc/gitlab/gitlab.rb), then `gitlab-ctl reconfigure`:\n"
    "  registry['debug_addr'] = \"localhost:5001\"\n"
    "  registry['debug'] = { 'prometheus' => { 'enabled' => true, 'path' => '/metrics' } }\n"
    "- Helm: `registry.metrics.enabled: true` (path `registry.metrics.path`, default /metrics; the debug port is "
    "`registry.debug.addr.port`, default 5001), then `helm upgrade`.\n"
    "- Source: `http.debug: {addr: localhost:5001, prometheus: {enabled: true, path: /metrics}}` in config.yml, "
    "then restart the registry.\n"
    "Check with `curl localhost:5001/metrics`."
)


@dataclass
class Metrics:
    """One or two snapshots of the registry's metrics, the findings about reading them, and (Prometheus
    only) a request-rate history for plots."""

    source: str  # scrape | prometheus | none
    url: str
    snapshots: tuple[Snapshot, ...] = ()
    findings: Findings = field(default_factory=Findings)
    history: Any = None  # DataFrame(time, handler, requests_per_s, errors_per_s) from query_range

    @property
    def ok(self) -> bool:
        return bool(self.snapshots)

    @property
    def view(self) -> View | None:
        if not self.snapshots:
            return None
        return View(self.snapshots[-1], self.snapshots[0] if len(self.snapshots) > 1 else None)

    def _repr_html_(self) -> str:
        return self.findings._repr_html_()


def metrics_url(debug_url: str, metrics_path: str = "/metrics") -> str:
    path = metrics_path or "/metrics"
    return debug_url.rstrip("/") + "/" + path.lstrip("/")


# --------------------------------------------------------------------------------------------- scraping


def scrape(client: httpx.Client, debug_url: str, metrics_path: str = "/metrics") -> tuple[Snapshot | None, list[Finding]]:
    """GET the exposition and parse it; the snapshot is None when nothing usable came back."""
    refs = (SEED_METRICS,)
    url = metrics_url(debug_url, metrics_path)
    taken = time.time()
    ex = exchange(client, "GET", url, headers={"Accept": ACCEPT})
    if not ex.ok:
        assert ex.failure is not None
        return None, [Finding("metrics.unreachable", Status.FAIL, f"Metrics endpoint unreachable: {ex.failure.title}",
                              detail=f"GET {url} failed before any HTTP answer ({ex.failure.kind}): {ex.failure.message}.",
                              evidence=ex.evidence(), remedy=transport_remedy(ex.failure, url) + "\n\n" + ENABLE_REMEDY, refs=refs)]
    r = ex.response
    assert r is not None
    ev = ex.evidence(body_limit=200)
    if r.status_code == 404:
        return None, [Finding("metrics.not_found", Status.FAIL, "No metrics at this path (404)",
                              detail=f"{url} answered 404: Prometheus metrics are off, or served at another path than "
                              f"`{metrics_path}` (`http.debug.prometheus.path`).", evidence=ev, remedy=ENABLE_REMEDY, refs=refs)]
    if r.status_code in (401, 403):
        return None, [Finding("metrics.forbidden", Status.FAIL, f"Metrics endpoint refused the request ({r.status_code})",
                              detail=f"{url} answered {r.status_code}: the registry's debug server never asks for credentials, "
                              "so something in front of it (a proxy, an ingress) does.", evidence=ev,
                              remedy="Scrape the debug port directly from the registry host or pod, or give this runbook "
                              "the Prometheus server that scrapes it (`prometheus_url`).", refs=refs)]
    if r.status_code != 200:
        return None, [Finding("metrics.bad_status", Status.FAIL, f"Metrics endpoint answered {r.status_code}",
                              detail=f"{url} answered {r.status_code} instead of 200 with metrics.", evidence=ev,
                              remedy="Check that `debug_url` points at the registry's debug server (`http.debug.addr`) and "
                              "`metrics_path` at its Prometheus path.", refs=refs)]
    text = r.text
    ctype = r.headers.get("content-type", "")
    head = text.lstrip()[:200].lower()
    if not text.strip():
        return None, [Finding("metrics.empty", Status.FAIL, "Metrics endpoint answered an empty body",
                              detail=f"{url} answered 200 with nothing in it: not a Prometheus exposition.", evidence=ev,
                              remedy="Something other than the registry answers on this address, or a proxy dropped "
                              "the body. Compare with `curl -s localhost:5001/metrics | head` on the registry host.",
                              refs=refs)]
    if "html" in ctype or head.startswith(("<!doctype", "<html", "<?xml", "<")):
        return None, [Finding("metrics.html", Status.FAIL, "Metrics endpoint answered an HTML page",
                              detail=f"{url} answered HTML ({ctype or 'no content type'}), not Prometheus text: a login page, "
                              "a proxy's error page or another service on this port.", evidence=ev,
                              remedy="Point `debug_url` at the registry's debug address (`http.debug.addr`, Omnibus "
                              "`registry['debug_addr']`) and `metrics_path` at `http.debug.prometheus.path`.", refs=refs)]
    text, dropped = cap_series(text)
    parsed = parse_exposition(text)
    ev["families"] = len(parsed.families)
    if parsed.problems:
        ev["problems"] = parsed.problems[:8]
    if not parsed.families:
        return None, [Finding("metrics.garbage", Status.FAIL, "Metrics endpoint answered something that is not metrics",
                              detail=f"{url} answered 200 ({ctype or 'no content type'}) but no line parses as a Prometheus "
                              f"sample: {parsed.problems[0] if parsed.problems else 'nothing recognisable'}.", evidence=ev,
                              remedy="Point `debug_url`/`metrics_path` at the registry's Prometheus endpoint.", refs=refs)]
    snap = Snapshot(url, taken, dict(parsed.families), tuple(parsed.problems), len(r.content))
    found: list[Finding] = []
    if truncated(r):
        found.append(Finding("metrics.body_capped", Status.WARN, f"Metrics answer larger than {len(r.content) >> 20} MiB: "
                             "read only its start",
                             detail=f"{url} sent more than {len(r.content)} bytes; the rest was not read (every answer is "
                             "capped so one endpoint cannot exhaust memory). Families cut off are incomplete.", evidence=ev,
                             remedy="A registry's exposition is normally well under 1 MiB: look for a label with unbounded "
                             "values (e.g. per-repository or per-path labels) in the families listed.", refs=refs))
    if dropped:
        top = dict(sorted(dropped.items(), key=lambda kv: -kv[1])[:10])
        found.append(Finding("metrics.series_capped", Status.WARN,
                             f"{sum(dropped.values())} series left out: too many series in {len(dropped)} famil"
                             f"{'y' if len(dropped) == 1 else 'ies'}",
                             detail="Only the first series of each family (and of the whole exposition) were read; the "
                             "count of what was left out is in the evidence.", evidence={**ev, "left_out_by_family": top},
                             remedy="High-cardinality labels on the registry's metrics make scrapes slow and expensive: "
                             "check the families listed for a label that grows with repositories, tags or paths.",
                             refs=refs))
    if parsed.truncated:
        found.append(Finding("metrics.truncated", Status.WARN, "Metrics body looks cut off",
                             detail="The exposition ends mid-line or lacks the closing parts of a histogram; what parsed is "
                             "used, the rest is missing: " + "; ".join(parsed.problems[:3]), evidence=ev,
                             remedy="A proxy or a timeout cut the response short: scrape the debug port directly, or raise "
                             "`timeout_s`.", refs=refs))
    elif parsed.bad_lines or parsed.problems:
        found.append(Finding("metrics.partly_unparsed", Status.WARN,
                             f"{parsed.bad_lines} metric line(s) could not be parsed",
                             detail="Some lines or types were not understood and were skipped or read as untyped: "
                             + "; ".join(parsed.problems[:3]), evidence=ev,
                             remedy="Usually harmless (a newer exposition feature); the families listed were still read.",
                             refs=refs))
    if not any(name.startswith("registry_") for name in parsed.families):
        found.append(Finding("metrics.not_registry", Status.WARN, "No registry_* family in the metrics",
                             detail=f"{url} serves {len(parsed.families)} families but none named registry_*: is this "
                             "the container registry's debug server, or has it served no request yet?", evidence=ev,
                             remedy="Check `debug_url` against `http.debug.addr`.", refs=refs))
    return snap, found


# --------------------------------------------------------------------------------------------- Prometheus


def _prom_get(client: httpx.Client, prometheus_url: str, path: str, params: dict[str, Any]) -> tuple[Any, Finding | None]:
    """One Prometheus HTTP API call: the ``data`` member, or a finding that says what went wrong."""
    refs = (SEED_METRICS,)
    url = prometheus_url.rstrip("/") + path
    ex = exchange(client, "GET", url, params=params)
    if not ex.ok:
        assert ex.failure is not None
        return None, Finding("metrics.prometheus_unreachable", Status.FAIL,
                             f"Prometheus unreachable: {ex.failure.title}",
                             detail=f"GET {url} failed before any HTTP answer ({ex.failure.kind}): {ex.failure.message}.",
                             evidence=ex.evidence(), remedy=transport_remedy(ex.failure, url), refs=refs)
    r = ex.response
    assert r is not None
    ev = ex.evidence(body_limit=300)
    try:
        body = r.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "status" not in body:
        return None, Finding("metrics.prometheus_bad_answer", Status.FAIL,
                             f"Not a Prometheus API answer ({r.status_code})",
                             detail=f"{url} answered {r.status_code} without the API's JSON envelope: is `prometheus_url` "
                             "the Prometheus server's base URL (e.g. http://prometheus:9090)?", evidence=ev,
                             remedy="Give the base URL Prometheus' web UI runs on, without /api/v1 or /graph.", refs=refs)
    if body.get("status") != "success":
        ev["errorType"] = body.get("errorType")
        ev["error"] = str(body.get("error", ""))[:300]
        return None, Finding("metrics.prometheus_error", Status.FAIL,
                             f"Prometheus refused the query: {body.get('errorType', 'error')}",
                             detail=f"{url} answered {r.status_code}: {ev['error'] or 'no error text'}.", evidence=ev,
                             remedy="A `timeout` or `execution` error means Prometheus is overloaded: retry, or narrow the "
                             "time range. `bad_data` means the query or parameters are wrong.", refs=refs)
    return body.get("data"), None


def _types(metadata: Any) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    if isinstance(metadata, dict):
        for name, entries in metadata.items():
            if isinstance(entries, list) and entries and isinstance(entries[0], dict):
                out[str(name)] = (str(entries[0].get("type", "untyped")), str(entries[0].get("help", "")))
    return out


def _family_of(name: str, types: dict[str, tuple[str, str]]) -> tuple[str, str, str]:
    """(family name, type, help) of a series name, from Prometheus' metadata or the catalogue."""
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix):
            base = name[: -len(suffix)]
            kind = types.get(base, ("", ""))[0] or (CATALOGUE[base].type if base in CATALOGUE else "")
            if kind in ("histogram", "summary"):
                return base, kind, types.get(base, ("", ""))[1]
    if name in types:
        return name, types[name][0] if types[name][0] != "unknown" else "untyped", types[name][1]
    if name in CATALOGUE:
        return name, CATALOGUE[name].type, CATALOGUE[name].meaning
    return name, "untyped", ""


def snapshot_from_vector(result: Any, types: dict[str, tuple[str, str]], source: str, taken_at: float) -> Snapshot:
    """An instant-query vector as a Snapshot (series labels kept, ``job``/``instance`` included)."""
    fams: dict[str, dict[str, Any]] = {}
    for item in result if isinstance(result, list) else []:
        metric = item.get("metric", {}) if isinstance(item, dict) else {}
        value = item.get("value") if isinstance(item, dict) else None
        name = metric.get("__name__")
        if not name or not isinstance(value, list) or len(value) != 2:
            continue
        try:
            number = float(value[1])
        except (TypeError, ValueError):
            continue
        family, kind, help_ = _family_of(str(name), types)
        family = canonical_name(family, kind)
        labels = tuple(sorted((str(k), str(v)) for k, v in metric.items() if k != "__name__"))
        entry = fams.setdefault(family, {"type": kind, "help": help_, "samples": []})
        entry["samples"].append(Sample(str(name), labels, number))
    families = {n: Family(n, e["type"], e["help"], tuple(e["samples"])) for n, e in fams.items()}
    return Snapshot(source, taken_at, families)


def query_prometheus(client: httpx.Client, prometheus_url: str, at: float | None = None,
                     selector: str = PROM_SELECTOR,
                     types: dict[str, tuple[str, str]] | None = None) -> tuple[Snapshot | None, Finding | None]:
    """The registry's series as one instant query (``at``: Unix time, default now)."""
    when = time.time() if at is None else at
    if types is None:
        meta, _ = _prom_get(client, prometheus_url, "/api/v1/metadata", {})
        types = _types(meta)
    data, problem = _prom_get(client, prometheus_url, "/api/v1/query", {"query": selector, "time": f"{when:.3f}"})
    if problem is not None:
        return None, problem
    result = data.get("result") if isinstance(data, dict) else None
    return snapshot_from_vector(result, types, prometheus_url, when), None


def query_range(client: httpx.Client, prometheus_url: str, expr: str, start: float, end: float,
                step: float) -> tuple[Any, Finding | None]:
    """``/api/v1/query_range`` as a long DataFrame (time, one column per label, value)."""
    import pandas as pd

    data, problem = _prom_get(client, prometheus_url, "/api/v1/query_range",
                              {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"})
    if problem is not None:
        return None, problem
    rows = []
    for item in (data.get("result") or []) if isinstance(data, dict) else []:
        labels = {k: v for k, v in item.get("metric", {}).items() if k != "__name__"}
        for ts, value in item.get("values", []):
            try:
                rows.append({"time": pd.Timestamp(float(ts), unit="s", tz="UTC"), **labels, "value": float(value)})
            except (TypeError, ValueError):
                continue
    return pd.DataFrame(rows), None


def _request_history(client: httpx.Client, prometheus_url: str, end: float, span_s: float = 3600.0) -> Any:
    import pandas as pd

    step = max(15.0, span_s / 240)
    frames = []
    for column, expr in (("requests_per_s", "sum by (handler) (rate(registry_http_requests_total[2m]))"),
                         ("errors_per_s", 'sum by (handler) (rate(registry_http_requests_total{code=~"5.."}[2m]))')):
        frame, problem = query_range(client, prometheus_url, expr, end - span_s, end, step)
        if problem is not None or frame is None or frame.empty:
            continue
        frames.append(frame.rename(columns={"value": column}).set_index(["time", "handler"]))
    if not frames:
        return None
    return pd.concat(frames, axis=1).fillna(0.0).reset_index()


# --------------------------------------------------------------------------------------------- collection


def collect_metrics(client: httpx.Client, debug_url: str = "", metrics_path: str = "/metrics",
                    prometheus_url: str = "", interval: float = 10.0) -> Metrics:
    """Two snapshots ``interval`` s apart (one when interval is 0), from Prometheus when ``prometheus_url`` is
    given, else from the debug server; a failing Prometheus falls back to the debug server."""
    interval = min(max(float(interval or 0.0), 0.0), MAX_INTERVAL_S)
    findings = Findings()
    if prometheus_url:
        m = _from_prometheus(client, prometheus_url, interval)
        if m.ok or not debug_url:
            return m
        findings.extend(m.findings)
    if not debug_url:
        findings.append(Finding("metrics.not_configured", Status.SKIP, "Metrics not read: no debug_url or prometheus_url",
                                detail="Give `debug_url` (the registry's debug server) or `prometheus_url`.",
                                remedy=ENABLE_REMEDY, refs=(SEED_METRICS,)))
        return Metrics("none", "", (), findings)
    url = metrics_url(debug_url, metrics_path)
    first, found = scrape(client, debug_url, metrics_path)
    findings.extend(found)
    if first is None:
        return Metrics("scrape", url, (), findings)
    snaps = [first]
    if interval > 0:
        time.sleep(interval)
        second, found2 = scrape(client, debug_url, metrics_path)
        if second is None:
            for f in found2:
                findings.append(Finding(f.id + "_second", Status.WARN, "Second scrape failed: " + f.title,
                                        detail=f.detail + " Rates and windowed quantiles use the first scrape only.",
                                        evidence=f.evidence, remedy=f.remedy, refs=f.refs))
        else:
            snaps.append(second)
    reg = sum(1 for n in snaps[-1].families if n.startswith("registry_"))
    detail = (f"{url}: {len(snaps[-1].families)} families ({reg} registry_*), {snaps[-1].sample_count} samples, "
              f"{snaps[-1].body_bytes} bytes.")
    if len(snaps) == 2:
        detail += f" Two scrapes {snaps[1].taken_at - snaps[0].taken_at:.1f} s apart give rates over that window."
    else:
        detail += " One scrape: counters are totals since the registry started."
    findings.insert(0, Finding("metrics.scraped", Status.OK, "Metrics scraped from the debug server", detail=detail,
                               evidence={"url": url, "families": len(snaps[-1].families), "registry_families": reg,
                                "samples": snaps[-1].sample_count, "scrapes": len(snaps)}, refs=(SEED_METRICS,)))
    return Metrics("scrape", url, tuple(snaps), findings)


def _from_prometheus(client: httpx.Client, prometheus_url: str, interval: float) -> Metrics:
    findings = Findings()
    now = time.time()
    meta, problem = _prom_get(client, prometheus_url, "/api/v1/metadata", {})
    if problem is not None:
        return Metrics("prometheus", prometheus_url, (), Findings([problem]))
    types = _types(meta)
    last, problem = query_prometheus(client, prometheus_url, now, types=types)
    if problem is not None or last is None:
        return Metrics("prometheus", prometheus_url, (), Findings([problem] if problem else []))
    if not last.families:
        findings.append(Finding("metrics.prometheus_no_registry", Status.FAIL, "Prometheus has no registry series",
                                detail=f"`{PROM_SELECTOR}` returned nothing at {prometheus_url}: Prometheus does not scrape "
                                "the registry's debug port (or the job is down).", evidence={"query": PROM_SELECTOR},
                                remedy="Add a scrape job for the registry's debug address and metrics path (Omnibus' bundled "
                                "Prometheus does this when `registry['debug_addr']` and metrics are on; Helm: "
                                "`registry.metrics.serviceMonitor.enabled: true` with the Prometheus operator).",
                                refs=(SEED_METRICS,)))
        return Metrics("prometheus", prometheus_url, (), findings)
    snaps = [last]
    if interval > 0:
        first, problem = query_prometheus(client, prometheus_url, now - interval, types=types)
        if problem is None and first is not None and first.families:
            snaps.insert(0, first)
    history = _request_history(client, prometheus_url, now)
    series = last.sample_count
    detail = (f"{prometheus_url}: {series} series in {len(last.families)} families at now"
              + (f" and at now − {interval:g} s (rates over that window; choose `interval` above Prometheus' scrape "
                 "interval)." if len(snaps) == 2 else " (no earlier data: totals since the registry started)."))
    instances = sorted({s.label("instance") for f in last.families.values() for s in f.samples if s.label("instance")})
    findings.append(Finding("metrics.prometheus", Status.OK, "Metrics queried from Prometheus", detail=detail,
                            evidence={"url": prometheus_url, "series": series, "families": len(last.families),
                             "instances": instances[:20], "snapshots": len(snaps),
                             "history_points": 0 if history is None else len(history)}, refs=(SEED_METRICS,)))
    return Metrics("prometheus", prometheus_url, tuple(snaps), findings, history)


def load_snapshots(*paths: str) -> Metrics:
    """Snapshots from exposition files (saved scrapes, fixtures), in time order, 30 s apart unless the files
    say otherwise; for offline analysis and tests."""
    snaps = []
    findings = Findings()
    for index, path in enumerate(paths):
        with open(path, encoding="utf-8", errors="replace") as fh:
            text = fh.read()
        parsed = parse_exposition(text)
        snaps.append(Snapshot(str(path), 1_700_000_000.0 + 30.0 * index, dict(parsed.families),
                              tuple(parsed.problems), len(text)))
    findings.append(Finding("metrics.loaded", Status.OK, "Metrics read from files",
                            detail=f"{len(snaps)} exposition file(s).", evidence={"files": [str(p) for p in paths]}))
    return Metrics("files", ",".join(str(p) for p in paths), tuple(snaps), findings)

