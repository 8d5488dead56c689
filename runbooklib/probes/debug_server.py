"""The registry's debug server beyond /debug/health: what the configs say about it, whether it is exposed
beyond loopback (GitLab's documentation warns it serves sensitive data), the storage driver's own error text when health
fails, /debug/vars (memory, notification queues) and /debug/pprof.

Traffic goes only to the given ``debug_url`` and to this host's own addresses.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..config.gitlab_rb import GitLabRb
from ..config.registry import RegistryConfig
from ..config._yaml import mapping
from ..findings import Finding, Status
from .debug import SEED_DEBUG, check_health
from .http import exchange

PROBE_TIMEOUT_S = 2.0
EXPOSURE_REMEDY = (
    "Bind the debug server to loopback only, and reach it from the host (or through `kubectl port-forward`):\n"
    "- Omnibus (/etc/gitlab/gitlab.rb): `registry['debug_addr'] = \"localhost:5001\"`, then `gitlab-ctl reconfigure`.\n"
    "- Helm: the chart binds the debug port on the pod IP for its probes: keep it out of Services and Ingresses "
    "and restrict it with a NetworkPolicy (only Prometheus and the kubelet).\n"
    "- Source: `http.debug.addr: localhost:5001` in config.yml, then restart the registry.\n"
    "Until then, firewall the port: /debug/vars, /debug/pprof and /metrics disclose configuration, memory and "
    "request details."
)
_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


# ---------------------------------------------------------------------------------------------- addresses


def split_addr(addr: str) -> tuple[str, int | None]:
    """``host:port`` as Go's listeners take it (``:5001``, ``[::1]:5001``, ``localhost:5001``)."""
    addr = (addr or "").strip()
    if addr.startswith("["):
        host, _, rest = addr[1:].partition("]")
        port = rest.lstrip(":")
    else:
        host, sep, port = addr.rpartition(":")
        if not sep:
            host, port = addr, ""
    try:
        return host, int(port) if port else None
    except ValueError:
        return host, None


def classify_host(host: str) -> str:
    """``loopback``, ``all`` (every interface: empty, 0.0.0.0, ::) or ``network`` (anything else)."""
    h = host.strip().strip("[]").lower()
    if h in ("", "0.0.0.0", "::", "*"):
        return "all"
    if h in _LOOPBACK_NAMES:
        return "loopback"
    try:
        return "loopback" if ipaddress.ip_address(h.split("%")[0]).is_loopback else "network"
    except ValueError:
        return "network"  # a host name other than localhost: whatever it resolves to is not loopback


def local_addresses() -> list[str]:
    """This host's own non-loopback addresses (IPv4 from /proc/net/fib_trie, global IPv6 from
    /proc/net/if_inet6); link-local addresses are left out (they need an interface scope)."""
    found: list[str] = []
    try:
        last = ""
        with open("/proc/net/fib_trie", encoding="ascii", errors="replace") as fh:
            for line in fh:
                text = line.strip()
                if text.startswith("|--"):
                    last = text[3:].strip()
                elif "/32 host LOCAL" in text and last:
                    found.append(last)
    except OSError:
        pass
    try:
        with open("/proc/net/if_inet6", encoding="ascii", errors="replace") as fh:
            for line in fh:
                raw = line.split()[0] if line.split() else ""
                if len(raw) == 32:
                    found.append(str(ipaddress.IPv6Address(bytes.fromhex(raw))))
    except (OSError, ValueError):
        pass
    if not found:
        try:
            found = [str(info[4][0]) for info in socket.getaddrinfo(socket.gethostname(), None)]
        except OSError:
            found = []
    out = []
    for a in found:
        try:
            ip = ipaddress.ip_address(a)
        except ValueError:
            continue
        if ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
            continue
        if str(ip) not in out:
            out.append(str(ip))
    return out


def _url_for(address: str, port: int) -> str:
    host = f"[{address}]" if ":" in address else address
    return f"http://{host}:{port}/debug/health"


def _configured_addrs(registry_cfg: RegistryConfig | None, gitlab_rb: GitLabRb | None) -> list[dict[str, Any]]:
    out = []
    dbg = getattr(getattr(registry_cfg, "http", None), "debug", None) if registry_cfg is not None else None
    if registry_cfg is not None and dbg is not None and dbg.addr:
        out.append({"source": registry_cfg.where("http.debug.addr"), "setting": "http.debug.addr", "addr": dbg.addr,
                    "flavour": registry_cfg.flavour})
    if gitlab_rb is not None:
        value = gitlab_rb.registry("debug_addr")
        if isinstance(value, str) and value:
            out.append({"source": gitlab_rb.where("registry['debug_addr']"), "setting": "registry['debug_addr']",
                        "addr": value, "flavour": "omnibus"})
    return out


# ---------------------------------------------------------------------------------------------- checks


def check_debug_config(registry_cfg: RegistryConfig | None = None, gitlab_rb: GitLabRb | None = None, debug_url: str = "",
                       metrics_path: str = "/metrics") -> list[Finding]:
    """What the configs say: is the debug server on, where, is Prometheus on and at which path; do config.yml,
    gitlab.rb and the runbook's ``debug_url`` / ``metrics_path`` agree."""
    refs = (SEED_DEBUG,)
    if registry_cfg is None and gitlab_rb is None:
        return [Finding("debug.config.not_given", Status.SKIP, "Debug server settings not read: no config given",
                        detail="Give `registry_config` (config.yml or Helm values) or `gitlab_rb` to compare the configured "
                        "debug address and metrics path with what answers.", refs=refs)]
    found: list[Finding] = []
    addrs = _configured_addrs(registry_cfg, gitlab_rb)
    dbg = getattr(getattr(registry_cfg, "http", None), "debug", None) if registry_cfg is not None else None
    rb_debug = gitlab_rb.registry("debug") if gitlab_rb is not None else None
    rb_prom = rb_debug.get("prometheus") if isinstance(rb_debug, dict) else None
    prom_enabled = bool(dbg.prometheus_enabled) if dbg is not None else None
    prom_path = (dbg.prometheus_path or "/metrics") if dbg is not None else None
    if prom_enabled is None and isinstance(rb_prom, dict):
        prom_enabled = bool(rb_prom.get("enabled"))
        prom_path = str(rb_prom.get("path") or "/metrics")
    evidence = {"configured": addrs, "prometheus_enabled": prom_enabled, "prometheus_path": prom_path,
                "debug_url": debug_url, "metrics_path": metrics_path}
    if not addrs:
        return [Finding("debug.config.disabled", Status.WARN, "The debug server is not configured",
                        detail="Neither `http.debug.addr` (config.yml) nor `registry['debug_addr']` (gitlab.rb) is set: there "
                        "is no /debug/health, /debug/vars or Prometheus endpoint to read.", evidence=evidence,
                        remedy="- Omnibus: `registry['debug_addr'] = \"localhost:5001\"` in /etc/gitlab/gitlab.rb, then "
                        "`gitlab-ctl reconfigure`.\n- Helm: `registry.debug.addr.port` (the chart enables it by "
                        "default on 5001).\n- Source: `http.debug.addr: localhost:5001` in config.yml.", refs=refs)]
    main = addrs[0]
    found.append(Finding("debug.config.addr", Status.OK, f"Debug server configured at {main['addr']}",
                         detail=f"{main['setting']} = {main['addr']} ({main['source']}).", evidence=evidence, refs=refs))
    distinct = {a["addr"] for a in addrs}
    if len(distinct) > 1:
        found.append(Finding("debug.config.mismatch", Status.WARN, "config.yml and gitlab.rb disagree on the debug address",
                             detail="; ".join(f"{a['setting']} = {a['addr']} ({a['source']})" for a in addrs) + ". On Omnibus, "
                             "config.yml is generated from gitlab.rb: a hand edit is lost at the next "
                             "`gitlab-ctl reconfigure`.", evidence=evidence,
                             remedy="Set the address in gitlab.rb (`registry['debug_addr']`) and run `gitlab-ctl reconfigure`.",
                             refs=refs))
    if prom_enabled is False:
        found.append(Finding("debug.config.prometheus_off", Status.WARN, "Prometheus metrics are off",
                             detail="The debug server runs but `http.debug.prometheus.enabled` is not true: /metrics is not "
                             "served.", evidence=evidence,
                             remedy="- Omnibus: `registry['debug'] = { 'prometheus' => { 'enabled' => true, 'path' => "
                             "'/metrics' } }`, then `gitlab-ctl reconfigure`.\n- Helm: `registry.metrics.enabled: true`."
                             "\n- Source: `http.debug.prometheus: {enabled: true, path: /metrics}`.", refs=refs))
    elif prom_path and metrics_path and prom_path.rstrip("/") != metrics_path.rstrip("/"):
        found.append(Finding("debug.config.path_mismatch", Status.WARN, "metrics_path differs from the configured path",
                             detail=f"The registry serves Prometheus metrics at `{prom_path}`; this runbook asks "
                             f"`{metrics_path}`.", evidence=evidence, remedy=f"Run with `-p metrics_path {prom_path}`.", refs=refs))
    _, conf_port = split_addr(main["addr"])
    url_port = urlsplit(debug_url).port if debug_url else None
    if conf_port and url_port and conf_port != url_port:
        found.append(Finding("debug.config.port_mismatch", Status.WARN, "debug_url's port is not the configured one",
                             detail=f"`debug_url` uses port {url_port}; the configuration says {conf_port}.", evidence=evidence,
                             remedy=f"Use `debug_url` http://localhost:{conf_port} (on the registry host).", refs=refs))
    return found


def check_debug_exposure(client: httpx.Client, debug_url: str = "", registry_cfg: RegistryConfig | None = None,
                         gitlab_rb: Any = None) -> list[Finding]:
    """Security: does the debug server listen on anything but loopback? Judged from the configured address
    (``http.debug.addr`` / ``registry['debug_addr']``) and by asking this host's own non-loopback addresses
    on the debug port: an answer there means anyone who can reach this host can read it."""
    refs = (SEED_DEBUG,)
    configured = _configured_addrs(registry_cfg, gitlab_rb)
    exposed_cfg = []
    for entry in configured:
        host, _ = split_addr(entry["addr"])
        entry["binds"] = classify_host(host)
        if entry["binds"] != "loopback":
            exposed_cfg.append(entry)
    parts = urlsplit(debug_url) if debug_url else None
    port = parts.port if parts is not None and parts.port else None
    if port is None:
        port = next((split_addr(e["addr"])[1] for e in configured if split_addr(e["addr"])[1]), None)
    url_host = (parts.hostname or "") if parts is not None else ""
    mine = local_addresses()
    probes: list[dict[str, Any]] = []
    answered: list[str] = []
    url_kind = classify_host(url_host) if url_host else ""
    if url_host and url_kind != "loopback" and url_host not in mine:
        # a remote debug_url: if it answers here, it answers on the network
        ex = exchange(client, "GET", debug_url.rstrip("/") + "/debug/health", timeout=PROBE_TIMEOUT_S)
        probes.append({"url": ex.url, "answer": ex.response.status_code if ex.ok and ex.response is not None
                       else (ex.failure.kind if ex.failure else "none")})
        if ex.ok:
            answered.append(ex.url)
    elif port:
        for address in mine:
            ex = exchange(client, "GET", _url_for(address, port), timeout=PROBE_TIMEOUT_S)
            probes.append({"url": ex.url, "answer": ex.response.status_code if ex.ok and ex.response is not None
                           else (ex.failure.kind if ex.failure else "none")})
            if ex.ok:
                answered.append(ex.url)
    evidence = {"configured": configured, "port": port, "local_addresses": mine, "probes": probes}
    if answered or exposed_cfg:
        helm_only = not answered and all(e.get("flavour") == "helm" for e in exposed_cfg)
        why = []
        if exposed_cfg:
            why.append("configured to listen on " + "; ".join(
                f"{e['addr']} ({'every interface' if e['binds'] == 'all' else 'a network address'}, {e['setting']} at "
                f"{e['source']})" for e in exposed_cfg))
        if answered:
            why.append("it answers on a non-loopback address: " + ", ".join(answered))
        status = Status.WARN if helm_only else Status.FAIL
        return [Finding("debug.exposed", status, "Debug server exposed beyond loopback",
                        detail="The debug server is " + "; ".join(why) + ". GitLab's documentation warns that it serves sensitive data "
                        "(/debug/vars, /debug/pprof, /metrics) and must be locked down in production.",
                        evidence=evidence, remedy=EXPOSURE_REMEDY, refs=refs)]
    if not configured and not port:
        return [Finding("debug.exposure.unknown", Status.SKIP, "Exposure not checked: no debug address",
                        detail="Give `debug_url` or a config that sets the debug address.", evidence=evidence, refs=refs)]
    detail = "Configured for loopback only" if configured else "No configuration given"
    if port:
        detail += (f"; nothing answers on port {port} at this host's other addresses ({', '.join(mine)})." if mine
                   else "; this host has no non-loopback address to try.")
    return [Finding("debug.loopback_only", Status.OK, "Debug server on loopback only", detail=detail, evidence=evidence, refs=refs)]


_STORAGE_CAUSES = (
    ("connection refused", "the storage endpoint refuses connections (down, or the wrong host/port)"),
    ("no such host", "the storage endpoint's host name does not resolve"),
    ("i/o timeout", "the storage endpoint does not answer in time (firewall, network, overload)"),
    ("deadline exceeded", "the storage endpoint does not answer in time"),
    ("accessdenied", "the storage credentials lack a permission (s3:ListBucket on the root path)"),
    ("invalidaccesskeyid", "the storage access key is unknown to the endpoint"),
    ("signaturedoesnotmatch", "the storage secret key is wrong"),
    ("nosuchbucket", "the bucket does not exist at this endpoint/region"),
    ("requesttimetooskewed", "the registry host's clock is too far from the storage's"),
    ("x509", "the storage endpoint's TLS certificate is not trusted"),
    ("permanentredirect", "the bucket is in another region than `region` says"),
    ("slowdown", "the storage backend throttles requests"),
)


def explain_storage_error(message: str) -> str:
    """The likely cause of a storage driver health error, in words."""
    low = message.lower()
    for needle, cause in _STORAGE_CAUSES:
        if needle in low:
            return cause
    return "the storage driver cannot complete its health check request"


def check_debug_health(client: httpx.Client, debug_url: str) -> list[Finding]:
    """``/debug/health`` (see :func:`check_health`), plus, for a failing storage driver check, a finding that
    quotes the driver's own error text and names the likely cause."""
    from ..logs.redact import redact_line

    found = check_health(client, debug_url)
    for f in list(found):
        checks = f.evidence.get("failing_checks") if isinstance(f.evidence, dict) else None
        if f.id != "health.failing" or not isinstance(checks, dict):
            continue
        for name, message in checks.items():
            if not str(name).startswith("storagedriver"):
                continue
            text = redact_line(str(message))
            cause = explain_storage_error(text)
            driver = str(name).split("_", 1)[1] if "_" in str(name) else str(name)
            found.append(Finding(
                "health.storage_driver", Status.FAIL, f"Storage driver ({driver}) failing: {cause}",
                detail=f"The registry's `{name}` health check fails with: {text}\nLikely cause: {cause}. While it fails, every "
                "/v2/ request answers 503 UNAVAILABLE \"health check failed\".",
                evidence={"check": name, "error": text, "cause": cause},
                remedy="- Check the storage endpoint from the registry host (S3: `aws s3 ls s3://<bucket> --endpoint-url "
                "<regionendpoint>`).\n- S3 permissions and credentials: run the `s3-permissions` runbook.\n"
                "- The check runs every `health.storagedriver.interval` and trips after `threshold` failures; it "
                "recovers by itself once storage answers.", refs=(SEED_DEBUG,)))
    return found


def _unavailable(fid: str, what: str, ex: Any) -> Finding:
    return Finding(fid, Status.SKIP, f"{what} not read: debug server unreachable",
                   detail=f"GET {ex.url} failed ({ex.failure.kind}): {ex.failure.message}. The health step says why.",
                   evidence=ex.evidence(), refs=(SEED_DEBUG,))


def _endpoint_summary(ep: Any) -> dict[str, Any] | None:
    """Name, URL (no credentials) and counters of one notification endpoint from /debug/vars; headers (which
    carry the endpoint's secret) are never copied."""
    if not isinstance(ep, dict):
        return None
    low = {str(k).lower(): v for k, v in ep.items()}
    metrics = low.get("metrics") if isinstance(low.get("metrics"), dict) else low
    url = str(low.get("url") or "")
    if "@" in url:
        parts = urlsplit(url)
        url = parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else "")).geturl() if parts.hostname else ""
    out: dict[str, Any] = {"name": low.get("name"), "url": url}
    for key in ("Pending", "Events", "Successes", "Failures", "Errors"):
        value = metrics.get(key, metrics.get(key.lower())) if isinstance(metrics, dict) else None
        if isinstance(value, (int, float)):
            out[key.lower()] = value
    statuses = metrics.get("Statuses") if isinstance(metrics, dict) else None
    if isinstance(statuses, dict):
        out["statuses"] = {str(k): v for k, v in statuses.items() if isinstance(v, (int, float))}
    return out


def check_debug_vars(client: httpx.Client, debug_url: str, pending_limit: int = 1000,
                     memory_limit_bytes: int = 4 << 30) -> list[Finding]:
    """``/debug/vars`` (expvar JSON): the registry's memory, its command line and, on upstream registries,
    the notification endpoints' queues and failures (which upstream exposes only here)."""
    refs = (SEED_DEBUG,)
    if not debug_url:
        return [Finding("vars.not_configured", Status.SKIP, "Debug vars not read: no debug_url", refs=refs)]
    ex = exchange(client, "GET", debug_url.rstrip("/") + "/debug/vars")
    if not ex.ok:
        return [_unavailable("vars.unavailable", "Debug vars", ex)]
    r = ex.response
    assert r is not None
    try:
        data = r.json()
    except (ValueError, json.JSONDecodeError):
        data = None
    if r.status_code != 200 or not isinstance(data, dict):
        return [Finding("vars.unexpected", Status.WARN, f"/debug/vars answered {r.status_code} without expvar JSON",
                        detail="The registry's debug server answers /debug/vars with JSON (cmdline, memstats, registry): is "
                        "`debug_url` its debug address?", evidence=ex.evidence(body_limit=200), refs=refs)]
    mem = mapping(data.get("memstats"))
    from ..logs.redact import redact_line

    cmdline = [redact_line(str(a)) for a in data.get("cmdline", [])][:8] if isinstance(data.get("cmdline"), list) else []
    registry = mapping(data.get("registry"))
    notif = mapping(registry.get("notifications"))
    endpoints = [e for e in (_endpoint_summary(x) for x in (notif.get("endpoints") or [])) if e]
    mib = 1024 * 1024
    evidence: dict[str, Any] = {
        "cmdline": cmdline,
        "heap_alloc_mib": round(mem.get("HeapAlloc", 0) / mib, 1),
        "heap_inuse_mib": round(mem.get("HeapInuse", 0) / mib, 1),
        "sys_mib": round(mem.get("Sys", 0) / mib, 1),
        "num_gc": mem.get("NumGC"),
        "goroutines": data.get("goroutines") if isinstance(data.get("goroutines"), (int, float)) else None,
        "gc_pause_total_ms": round(mem.get("PauseTotalNs", 0) / 1e6, 1),
        "notification_endpoints": endpoints,
        "proxy": registry.get("proxy") if isinstance(registry.get("proxy"), dict) else None,
    }
    goroutines = (f"{evidence['goroutines']} goroutines, " if evidence["goroutines"] is not None else
                  "goroutines: see /debug/pprof below, ")
    found = [Finding("vars.read", Status.OK, "Debug vars read",
                     detail=f"Heap {evidence['heap_alloc_mib']} MiB in use, {evidence['sys_mib']} MiB from the OS, "
                     f"{evidence['num_gc']} GC cycles; {goroutines}{len(endpoints)} notification endpoint(s).",
                     evidence=evidence, refs=refs)]
    if mem.get("Sys", 0) > memory_limit_bytes:
        found.append(Finding("vars.memory_high", Status.WARN, f"Registry memory at {evidence['sys_mib']:.0f} MiB",
                             detail="The registry process holds more than "
                             f"{memory_limit_bytes // mib} MiB: a leak, a huge manifest list or many concurrent "
                             "uploads.", evidence=evidence,
                             remedy="Take a heap profile before restarting: `curl -o heap.pprof localhost:5001/debug/pprof/heap`.",
                             refs=refs))
    bad = [e for e in endpoints if e.get("failures", 0) or e.get("errors", 0) or e.get("pending", 0) > pending_limit]
    if bad:
        text = "; ".join(f"{e['name']}: {e.get('failures', 0)} failures, {e.get('errors', 0)} errors, "
                         f"{e.get('pending', 0)} pending" for e in bad)
        found.append(Finding("vars.notifications_failing", Status.WARN, "Notification endpoint failing", detail=text + ".",
                             evidence={"endpoints": bad},
                             remedy="Check the endpoint URL and its Authorization header (GitLab: "
                             "`registry['notification_secret']` must match gitlab.yml's `registry.notification_secret`).",
                             refs=refs))
    return found


def check_pprof(client: httpx.Client, debug_url: str) -> list[Finding]:
    """``/debug/pprof/``: present or not, and the goroutine count from a goroutine profile (a leak shows as a
    count that keeps growing between runs)."""
    refs = (SEED_DEBUG,)
    if not debug_url:
        return [Finding("pprof.not_configured", Status.SKIP, "pprof not checked: no debug_url", refs=refs)]
    base = debug_url.rstrip("/") + "/debug/pprof/"
    ex = exchange(client, "GET", base)
    if not ex.ok:
        return [_unavailable("pprof.unavailable", "pprof", ex)]
    r = ex.response
    assert r is not None
    if r.status_code == 404:
        return [Finding("pprof.absent", Status.OK, "pprof not served", detail="This build does not serve /debug/pprof/.",
                        evidence=ex.evidence(body_limit=0), refs=refs)]
    text = r.text
    profiles = [p for p in ("allocs", "block", "goroutine", "heap", "mutex", "profile", "threadcreate", "trace")
                if f"{p}?debug=1" in text or f'href="{p}' in text or f"/debug/pprof/{p}" in text]
    evidence: dict[str, Any] = {"url": base, "status": r.status_code, "profiles": profiles}
    g = exchange(client, "GET", base + "goroutine", params={"debug": "1"})
    if g.ok and g.response is not None and g.response.status_code == 200:
        first = g.response.text.split("\n", 1)[0]
        if first.startswith("goroutine profile: total "):
            evidence["goroutines"] = int(first.rsplit(" ", 1)[-1])
    return [Finding("pprof.available", Status.OK, "pprof served on the debug address",
                    detail=f"/debug/pprof/ lists {len(profiles)} profile(s)"
                    + (f"; {evidence['goroutines']} goroutines right now" if "goroutines" in evidence else "")
                    + ". Useful for a goroutine dump (`curl 'localhost:5001/debug/pprof/goroutine?debug=2'`) or a CPU "
                    "profile; one more reason to keep the debug address on loopback.", evidence=evidence, refs=refs)]
