"""The registry's debug server: /debug/health tells which health check fails and why."""

from __future__ import annotations

import httpx

from ..findings import Finding, Status
from .api import _unreachable
from .http import exchange

SEED_DEBUG = "Enable the Registry debug server"


def check_health(client: httpx.Client, debug_url: str) -> list[Finding]:
    """`GET /debug/health`: 200 `{}` is healthy; 503 lists each failing check with its error text."""
    if not debug_url:
        return [Finding("health.not_configured", Status.SKIP, "Health not checked: no debug_url",
                        detail="Give `debug_url` (the registry's `http.debug.addr`) to read its health checks.", remedy="Omnibus: `registry['debug_addr'] = \"localhost:5001\"`; Helm: `registry.debug.addr.port`; "
                        "source: `http.debug.addr` in config.yml.", refs=(SEED_DEBUG,))]
    url = debug_url.rstrip("/") + "/debug/health"
    ex = exchange(client, "GET", url)
    if not ex.ok:
        return [_unreachable(ex, "health.unreachable", "Debug server unreachable", (SEED_DEBUG,))]
    r = ex.response
    assert r is not None
    try:
        checks = r.json()
    except ValueError:
        checks = None
    ev = ex.evidence()
    if r.status_code == 200 and checks == {}:
        return [Finding("health.ok", Status.OK, "Registry health checks pass", detail="`/debug/health` returned 200 {}.",
                        evidence=ev, refs=(SEED_DEBUG,))]
    if isinstance(checks, dict) and checks:
        ev["failing_checks"] = checks
        names = ", ".join(f"{k}: {v}" for k, v in checks.items())
        return [Finding("health.failing", Status.FAIL, "Registry health check failing", detail=f"Failing: {names}.", evidence=ev,
                        remedy="A failing `storagedriver_*` check means the registry cannot reach its storage: check "
                        "the storage endpoint, credentials and network (run `s3-permissions` for S3).",
                        refs=(SEED_DEBUG,))]
    return [Finding("health.unexpected", Status.WARN, f"Unexpected health answer {r.status_code}",
                    detail="`/debug/health` should answer JSON; is `debug_url` the registry's debug server?", evidence=ev,
                    refs=(SEED_DEBUG,))]
