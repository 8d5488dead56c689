"""The registry's Redis blob-descriptor cache (issue #19, `redis-cache-down`): ``storage.cache.blobdescriptor:
redis`` with a ``redis:`` section (``addr``, ``password``, ``db``, timeouts, ``pool``).

What Distribution 2.8 does when Redis is down or refuses AUTH, as measured in the lab: it logs
``error connecting to redis instance ADDR: ...`` / ``redis: error connecting: WRONGPASS ...`` and answers every
request anyway, looking each blob descriptor up in the storage instead (``registry_storage_cache_total`` counts
requests and misses, no hits): slower, not broken. It registers no Redis health check (``/debug/health`` stays
``{}``), and ``/debug/vars`` shows ``registry.redis`` with the active connections and the whole config, password
included, which is never copied here.

The direct probe speaks RESP over one socket with a deadline: ``AUTH`` (when a password is configured), ``SELECT``
(db other than 0), ``PING``, each reply read up to a small cap. The password is sent only to the configured address
and never shown.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import httpx

from ..config._yaml import mapping
from ..findings import Finding, Status
from .http import exchange

REF = "Beyond the troubleshooting page: the registry's Redis cache"
DOCS = "https://distribution.github.io/distribution/about/configuration/#redis"
REPLY_CAP = 512
FALLBACK = ("Without its cache the registry still answers: every blob descriptor is looked up in the storage "
            "(one more storage request per blob HEAD/GET), so pulls and pushes get slower, not broken.")
REMEDY = (
    "Bring Redis back or point the registry at it with the right credentials:\n"
    "- Omnibus: the registry's Redis settings in /etc/gitlab/gitlab.rb (`registry['redis']` … `addr`/`password`, "
    "`registry['storage']` … `'cache' => { 'blobdescriptor' => 'redis' }`), then `gitlab-ctl reconfigure`.\n"
    "- Helm: `registry.redis.cache` (`host`, `port`, `password.secret`/`password.key`) and the Redis the chart or "
    "you run; `helm upgrade`.\n"
    "- Source: config.yml `redis.addr`, `redis.password`, `redis.db`; restart the registry.\n"
    "Test from the registry host: `redis-cli -h HOST -p PORT --askpass ping` must answer `PONG`. Until Redis is "
    "fixed, `storage.cache.blobdescriptor: inmemory` (and a restart) stops the connection errors.")


def redis_settings(registry_cfg: Any) -> dict[str, Any]:
    """What config.yml says about the cache: blobdescriptor, addr, db, whether a password is set (the password
    itself only under ``_password``, for the probe), timeouts. GitLab's fork keeps its cache under ``redis.cache``."""
    if registry_cfg is None:
        return {}
    raw = registry_cfg.get("redis") if hasattr(registry_cfg, "get") else None
    raw = mapping(raw)
    cache = raw.get("cache")
    section: dict[str, Any] = cache if isinstance(cache, dict) else raw
    blob = registry_cfg.get("storage.cache.blobdescriptor")
    password = section.get("password")
    addr = str(section.get("addr") or "")
    if not addr and section.get("host"):  # Helm values: registry.redis.cache.host / port
        addr = f"{section['host']}:{section.get('port') or 6379}"
    secret_ref = ""
    if isinstance(password, dict):  # Helm: {secret: NAME, key: KEY}, a Kubernetes secret this runbook does not read
        secret_ref = f"Kubernetes secret {password.get('secret', '?')}" + (f" (key {password['key']})"
                                                                          if password.get("key") else "")
        password = None if not password.get("enabled", True) else password
    return {"blobdescriptor": None if blob is None else str(blob), "addr": addr, "password_ref": secret_ref,
            "db": int(section.get("db") or 0) if str(section.get("db") or "0").isdigit() else section.get("db"),
            "password_set": bool(password), "_password": str(password) if password and not secret_ref else "",
            "dialtimeout": section.get("dialtimeout"), "readtimeout": section.get("readtimeout"),
            "section": "redis.cache" if section is not raw else "redis", "fork_cache": section is not raw,
            "where": registry_cfg.where("redis") if hasattr(registry_cfg, "where") else ""}


def _public(settings: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in settings.items() if not k.startswith("_")}


def _uses_redis(settings: dict[str, Any]) -> bool:
    return (settings.get("blobdescriptor") or "").lower() == "redis" or bool(settings.get("fork_cache"))


def check_redis_config(registry_cfg: Any = None) -> list[Finding]:
    """Does the registry use a Redis cache, and is the ``redis:`` section complete?"""
    refs = (REF, DOCS)
    if registry_cfg is None:
        return [Finding("redis.config.not_given", Status.SKIP, "Redis cache not checked: no registry_config",
                        detail="Give `registry_config` (the registry's config.yml): `storage.cache.blobdescriptor` and "
                               "the `redis:` section say whether and where the registry caches.", refs=refs)]
    s = redis_settings(registry_cfg)
    if not _uses_redis(s):
        return [Finding("redis.not_configured", Status.SKIP, "The registry does not use Redis",
                        detail=f"`storage.cache.blobdescriptor` is {s.get('blobdescriptor') or 'not set'}: there is no "
                               "Redis cache to check. Give the config.yml of a registry with "
                               "`blobdescriptor: redis` and a `redis:` section.", evidence=_public(s), refs=refs)]
    if not s["addr"]:
        return [Finding("redis.config.no_addr", Status.FAIL, "blobdescriptor: redis without a Redis address",
                        detail="`storage.cache.blobdescriptor: redis` needs `redis.addr`; Distribution 2.8 does not "
                               "start without it (`redis configuration required to use for layerinfo cache`).",
                        evidence=_public(s), remedy=REMEDY, refs=refs)]
    return [Finding("redis.config.read", Status.OK, f"Blob descriptors cached in Redis at {s['addr']}",
                    detail=f"{s['section']}.addr = {s['addr']}, db {s['db']}, password "
                           f"{'set (not shown)' if s['password_set'] else 'not set'}. {FALLBACK}",
                    evidence=_public(s), refs=refs)]


# ---------------------------------------------------------------------------------------------- RESP probe


def _command(*parts: str) -> bytes:
    out = [f"*{len(parts)}\r\n".encode()]
    for p in parts:
        data = p.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _reply(sock: socket.socket, deadline: float) -> str:
    """One RESP reply line (simple string, error, integer), at most REPLY_CAP bytes."""
    buf = b""
    while b"\r\n" not in buf and len(buf) < REPLY_CAP:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no reply in time")
        sock.settimeout(left)
        chunk = sock.recv(REPLY_CAP - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by the server")
        buf += chunk
    return buf.split(b"\r\n", 1)[0].decode("utf-8", "replace")


def probe_redis(addr: str, password: str = "", db: Any = 0, timeout_s: float = 3.0) -> dict[str, Any]:
    """Connect, AUTH, SELECT, PING within ``timeout_s`` in total. Returns ``outcome`` (ok, refused, timeout, dns,
    reset, auth_refused, auth_required, db_refused, unexpected), the ``step`` that failed, the server's ``reply``
    (never the password), ``latency_ms`` of the PING."""
    host, _, port_text = addr.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    result: dict[str, Any] = {"addr": addr, "outcome": "", "step": "connect", "reply": ""}
    try:
        port = int(port_text)
    except ValueError:
        return {**result, "outcome": "unexpected", "reply": f"{addr!r} is not host:port"}
    deadline = time.monotonic() + timeout_s
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as sock:
            if password:
                result["step"] = "AUTH"
                sock.sendall(_command("AUTH", password))
                reply = _reply(sock, deadline)
                if not reply.startswith("+"):
                    return {**result, "outcome": "auth_refused", "reply": reply}
            if db not in (0, "0", None, ""):
                result["step"] = "SELECT"
                sock.sendall(_command("SELECT", str(db)))
                reply = _reply(sock, deadline)
                if not reply.startswith("+"):
                    outcome = "auth_required" if reply.startswith("-NOAUTH") else "db_refused"
                    return {**result, "outcome": outcome, "reply": reply}
            result["step"] = "PING"
            started = time.monotonic()
            sock.sendall(_command("PING"))
            reply = _reply(sock, deadline)
            result["latency_ms"] = round((time.monotonic() - started) * 1000, 2)
            if reply == "+PONG":
                return {**result, "outcome": "ok", "reply": reply}
            outcome = "auth_required" if reply.startswith("-NOAUTH") else "unexpected"
            return {**result, "outcome": outcome, "reply": reply}
    except socket.gaierror as exc:
        return {**result, "outcome": "dns", "reply": str(exc)}
    except ConnectionRefusedError as exc:
        return {**result, "outcome": "refused", "reply": str(exc)}
    except (TimeoutError, socket.timeout) as exc:
        return {**result, "outcome": "timeout", "reply": str(exc) or "timed out"}
    except OSError as exc:
        return {**result, "outcome": "reset", "reply": str(exc)}


_OUTCOMES = {
    "refused": ("redis.unreachable", "Redis refuses connections at {addr}", "nothing listens there (Redis is down "
                "or on another host/port)"),
    "timeout": ("redis.unreachable", "Redis does not answer at {addr}", "no answer in time (firewall, network, "
                "an overloaded Redis)"),
    "dns": ("redis.unreachable", "Redis's host name does not resolve ({addr})", "the host name in `redis.addr` "
            "does not resolve"),
    "reset": ("redis.unreachable", "The connection to Redis at {addr} broke", "the connection was reset or closed"),
    "auth_refused": ("redis.auth_refused", "Redis refuses the registry's password ({reply_code})",
                     "`redis.password` is not what Redis expects (`requirepass` / the ACL user's password), or Redis "
                     "has no password at all and refuses AUTH"),
    "auth_required": ("redis.auth_required", "Redis requires a password the registry does not send",
                      "Redis has `requirepass` set but config.yml has no `redis.password`"),
    "db_refused": ("redis.db_refused", "Redis refuses the configured database", "`redis.db` is out of range for "
                   "this Redis (`databases` in redis.conf)"),
    "unexpected": ("redis.unexpected", "Something other than Redis answers at {addr}", "the reply is not Redis's"),
}


def check_redis_probe(registry_cfg: Any = None, timeout_s: float = 3.0) -> list[Finding]:
    """Probe the configured Redis the way the registry connects to it (AUTH with its password, SELECT, PING)."""
    refs = (REF, DOCS)
    s = redis_settings(registry_cfg)
    if not s or not _uses_redis(s) or not s["addr"]:
        return [Finding("redis.probe.not_run", Status.SKIP, "Redis not probed: no Redis configured",
                        detail="Give `registry_config` with `storage.cache.blobdescriptor: redis` and `redis.addr`.",
                        refs=refs)]
    if s["password_ref"]:
        return [Finding("redis.probe.password_in_kubernetes", Status.SKIP,
                        "Redis not probed: its password is in a Kubernetes secret",
                        detail=f"The password is {s['password_ref']}, which this runbook does not read. From a registry "
                               f"pod: `redis-cli -h {s['addr'].rsplit(':', 1)[0]} -p {s['addr'].rsplit(':', 1)[-1]} "
                               "--askpass ping`, or give the rendered config.yml as `registry_config`.",
                        evidence=_public(s), refs=refs)]
    r = probe_redis(s["addr"], s["_password"], s["db"], min(float(timeout_s or 3.0), 10.0))
    evidence = {**r, "password_sent": bool(s["_password"]), "from": "this host (run the runbook on the registry "
                "host to see what the registry sees)"}
    if r["outcome"] == "ok":
        return [Finding("redis.reachable", Status.OK, f"Redis answers at {s['addr']} (PING in {r['latency_ms']} ms)",
                        detail="Connected" + (", authenticated" if s["_password"] else "") + ", PONG.",
                        evidence=evidence, refs=refs)]
    fid, title, why = _OUTCOMES[r["outcome"]]
    code = (r["reply"].split(" ", 1)[0].lstrip("-") or r["outcome"]) if r["reply"] else r["outcome"]
    status = Status.WARN if fid == "redis.unexpected" else Status.FAIL
    return [Finding(fid, status, title.format(addr=s["addr"], reply_code=code),
                    detail=f"At {r['step']}: {why}. Redis said: {r['reply']!r}. The registry meets the same error on "
                           f"every connection and logs it. {FALLBACK}",
                    evidence=evidence, remedy=REMEDY, refs=refs)]


# ---------------------------------------------------------------------------------------------- debug server


def _means(text: str) -> dict[str, Any]:
    """Mean blob request latency and storage Stat calls since start, from the Prometheus text (sum / count)."""
    sums: dict[str, float] = {}
    for line in text.splitlines():
        for name, key in (('registry_http_request_duration_seconds_sum{handler="blob"', "blob_sum"),
                          ('registry_http_request_duration_seconds_count{handler="blob"', "blob_count"),
                          ('registry_storage_action_seconds_sum{action="Stat"', "stat_sum"),
                          ('registry_storage_action_seconds_count{action="Stat"', "stat_count")):
            if line.startswith(name):
                try:
                    sums[key] = sums.get(key, 0.0) + float(line.rsplit(" ", 1)[1])
                except (IndexError, ValueError):
                    pass
    out: dict[str, Any] = {}
    if sums.get("blob_count"):
        out["blob_requests"] = int(sums["blob_count"])
        out["blob_mean_ms"] = round(1000 * sums.get("blob_sum", 0.0) / sums["blob_count"], 2)
    if sums.get("stat_count"):
        out["storage_stat_calls"] = int(sums["stat_count"])
        out["storage_stat_mean_ms"] = round(1000 * sums.get("stat_sum", 0.0) / sums["stat_count"], 2)
    return out


def _cache_counters(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("registry_storage_cache_total{"):
            kind = line.split('type="', 1)[1].split('"', 1)[0] if 'type="' in line else ""
            try:
                out[kind] = float(line.rsplit(" ", 1)[1])
            except (IndexError, ValueError):
                continue
    return out


def check_redis_debug(client: httpx.Client, debug_url: str, metrics_path: str = "/metrics") -> list[Finding]:
    """The registry's own view: ``/debug/vars`` ``registry.redis.Active`` (the config there, password included, is
    never copied), whether ``/debug/health`` checks Redis at all, and the cache counters on ``/metrics``
    (requests, hits, misses since start)."""
    refs = (REF, DOCS)
    if not debug_url:
        return [Finding("redis.debug.no_debug_url", Status.SKIP, "Registry's cache counters not read: no debug_url",
                        detail="Give `debug_url` (the registry's `http.debug.addr`) for /debug/vars, /debug/health and "
                               "the `registry_storage_cache_total` counters.", refs=refs)]
    base = debug_url.rstrip("/")
    evidence: dict[str, Any] = {"debug_url": base}
    vars_ex = exchange(client, "GET", base + "/debug/vars")
    if not vars_ex.ok:
        assert vars_ex.failure is not None
        return [Finding("redis.debug.unavailable", Status.SKIP, "Registry's cache counters not read: debug server "
                        "unreachable", detail=f"GET {vars_ex.url}: {vars_ex.failure.kind}: {vars_ex.failure.message}.",
                        evidence=evidence, refs=refs)]
    try:
        data = vars_ex.response.json() if vars_ex.response is not None else {}
    except ValueError:
        data = {}
    reg = data.get("registry") if isinstance(data, dict) else None
    redis_vars = reg.get("redis") if isinstance(reg, dict) else None
    evidence["vars_redis_active"] = redis_vars.get("Active") if isinstance(redis_vars, dict) else None
    evidence["vars_has_redis"] = isinstance(redis_vars, dict)
    health = exchange(client, "GET", base + "/debug/health")
    checks: Any = None
    if health.ok and health.response is not None:
        try:
            checks = health.response.json()
        except ValueError:
            checks = None
    evidence["health"] = checks if isinstance(checks, dict) else None
    redis_checks = {k: v for k, v in (checks or {}).items() if "redis" in str(k).lower()} if isinstance(checks, dict) else {}
    metrics = exchange(client, "GET", base + (metrics_path or "/metrics"))
    counters = _cache_counters(metrics.response.text) if metrics.ok and metrics.response is not None and \
        metrics.response.status_code == 200 else {}
    evidence["cache_total"] = counters
    evidence["latency"] = _means(metrics.response.text) if counters and metrics.response is not None else {}
    lat = evidence["latency"]
    cost = (f" Meanwhile blob requests took {lat['blob_mean_ms']} ms on average ({lat['blob_requests']} since start) "
            f"and the storage served {lat['storage_stat_calls']} Stat calls averaging {lat['storage_stat_mean_ms']} ms: "
            "that is what the cache saves." if {"blob_mean_ms", "storage_stat_mean_ms"} <= set(lat) else "")
    found: list[Finding] = []
    if redis_checks:
        found.append(Finding("redis.health.failing" if any(redis_checks.values()) else "redis.health.ok",
                             Status.FAIL if any(redis_checks.values()) else Status.OK, "The registry's Redis health check",
                             detail=f"/debug/health: {redis_checks}.", evidence=evidence, remedy=REMEDY, refs=refs))
    elif evidence["vars_has_redis"]:
        found.append(Finding("redis.health.no_check", Status.INFO, "/debug/health has no Redis check",
                             detail="This registry (Distribution 2.8 registers none) reports healthy while Redis is "
                                    "down: the health endpoint cannot tell. Use the probe and the counters here.",
                             evidence=evidence, refs=refs))
    requests = counters.get("Request", 0.0)
    hits = counters.get("Hit", 0.0)
    if not evidence["vars_has_redis"]:  # the cache counters then count the in-memory cache
        found.append(Finding("redis.debug.no_redis", Status.INFO, "The registry reports no Redis",
                             detail="/debug/vars has no `registry.redis`: this registry runs without a Redis cache.",
                             evidence=evidence, refs=refs))
    elif requests and not hits:
        found.append(Finding("redis.cache.no_hits", Status.WARN,
                             f"No cache hit in {requests:.0f} blob descriptor lookups",
                             detail=f"`registry_storage_cache_total`: {requests:.0f} requests, {counters.get('Miss', 0):.0f} "
                                    f"misses, no hit since the registry started; {evidence['vars_redis_active']} active "
                                    f"Redis connection(s). {FALLBACK}{cost}",
                             evidence=evidence, remedy=REMEDY, refs=refs))
    elif requests:
        found.append(Finding("redis.cache.hits", Status.OK, f"Cache hit ratio {hits / requests:.0%}",
                             detail=f"{hits:.0f} hits of {requests:.0f} lookups since the registry started; "
                                    f"{evidence['vars_redis_active']} active Redis connection(s). The counters cover "
                                    "the whole uptime: whether Redis answers now is the probe's finding.",
                             evidence=evidence, refs=refs))
    else:
        found.append(Finding("redis.cache.idle", Status.INFO, "No blob descriptor lookup counted yet",
                             detail="`registry_storage_cache_total` is 0 or absent: no traffic since the registry started.",
                             evidence=evidence, refs=refs))
    return found
