"""Notebook outline: redis-cache-down."""

SCENARIO = 'redis-cache-down'

OUTLINE = dict(
    intro="""
**Symptom:** the registry log repeats `error connecting to redis instance HOST:PORT: dial tcp ...: connection
refused` or `redis: error connecting: WRONGPASS invalid username-password pair`; pulls and pushes still work but got
slower, and storage requests went up.

With `storage.cache.blobdescriptor: redis` and a `redis:` section, the registry
keeps blob descriptors in Redis. When Redis is down or refuses its password, Distribution 2.8 logs the error and
looks every descriptor up in the storage instead: **slower, not broken** (measured in the lab: blob HEADs answer
200, `registry_storage_cache_total` counts requests and misses and no hit). It registers no Redis health check, so
`/debug/health` stays `{}`; `/debug/vars` shows the Redis config, password included (keep the debug address on
loopback; this runbook never copies it).

This runbook reads the cache settings, probes the configured Redis as the registry connects (AUTH with its password,
SELECT, PING; a bounded socket exchange, the password never shown), reads the registry's counters, and its log.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.probes.redis import check_redis_config, check_redis_probe, check_redis_debug
from runbooklib.logs.focus import check_logs_for
""",
    steps=[
        ("""
## 1. Configuration
The registry's `config.yml` (or Helm values): `storage.cache.blobdescriptor` and the `redis:` section (`addr`,
`password`, `db`, timeouts, pool). GitLab's fork keeps its cache under `redis.cache`.
""", 'rb.read_configs("registry")'),
        ("""
## 2. Does the registry cache in Redis?
`blobdescriptor: redis` needs `redis.addr` (2.8 does not start without it). Not using Redis is fine: this runbook then
has nothing to check.
""", "rb.add(check_redis_config(rb.cfg.registry))"),
        ("""
## 3. Does Redis answer the registry's way?
One connection to `redis.addr` with a deadline of `timeout_s`: `AUTH` with the configured password, `SELECT` when `db`
is not 0, `PING`. Refused / timeout / DNS mean Redis is down or elsewhere; `WRONGPASS` or `NOAUTH` mean the
passwords disagree. Run it on the registry host to see what the registry sees.
""", "rb.add(check_redis_probe(rb.cfg.registry, rb.p.timeout_s))"),
        ("""
## 4. What the registry itself reports
`/debug/vars` (`registry.redis`: active connections), `/debug/health` (whether Redis is checked at all) and
`registry_storage_cache_total` on the metrics endpoint: requests, hits and misses since start. No hit at all means
every descriptor came from the storage.
""", "rb.add(check_redis_debug(rb.http, rb.p.debug_url, rb.p.metrics_path))"),
        ("""
## 5. What the registry logged
`error connecting to redis instance …` (unreachable) and `redis: error connecting: WRONGPASS …` / `NOAUTH` (AUTH
refused), with the first and last time seen.
""", 'rb.add(check_logs_for(rb.log_scan, "redis-cache-down"))'),
    ],
)
