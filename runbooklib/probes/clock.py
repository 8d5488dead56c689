"""Clock skew between this host, the registry and GitLab, read from the servers' Date headers."""

from __future__ import annotations

import datetime as dt
from typing import Any
from email.utils import parsedate_to_datetime

import httpx

from ..findings import Finding, Status
from .api import parse_bearer_challenge
from .http import exchange

SEED_CLOCK = "Before investigating: verify that the system clocks are synchronized"
WARN_S = 30.0
FAIL_S = 60.0  # the registry's leeway on token nbf/exp


def server_offset(client: httpx.Client, url: str) -> tuple[float | None, dict]:
    """Seconds the server's clock is ahead of ours (Date has 1 s resolution), or None with why."""
    before = dt.datetime.now(dt.timezone.utc)
    ex = exchange(client, "GET", url)
    after = dt.datetime.now(dt.timezone.utc)
    ev: dict[str, Any] = {"request": f"GET {url}"}
    if not ex.ok or ex.response is None:
        ev["error"] = f"{ex.failure.kind}: {ex.failure.message}" if ex.failure else "no answer"
        return None, ev
    date = ex.response.headers.get("date")
    ev["date_header"] = date
    if not date:
        return None, ev
    try:
        theirs = parsedate_to_datetime(date.split(",")[0] + "," + date.split(",")[1] if date.count(",") > 1 else date)
        if theirs.tzinfo is None:  # RFC 2822 "-0000": UTC with no source zone
            theirs = theirs.replace(tzinfo=dt.timezone.utc)
    except (TypeError, ValueError, IndexError):
        ev["error"] = "unparseable Date header"
        return None, ev
    ours = before + (after - before) / 2
    offset = (theirs - ours).total_seconds()
    ev["local_utc"] = ours.isoformat(timespec="seconds")
    ev["offset_s"] = round(offset, 1)
    return offset, ev


def check_clock(client: httpx.Client, targets: dict[str, str]) -> list[Finding]:
    """Tokens carry nbf/exp; a skew beyond the registry's 60 s leeway makes valid logins fail."""
    findings = []
    for label, url in targets.items():
        if not url:
            continue
        offset, ev = server_offset(client, url)
        fid = f"clock.{label}"
        if offset is None:
            findings.append(Finding(fid, Status.SKIP, f"{label} clock not measured",
                                    detail="No usable Date header (see evidence).", evidence=ev, refs=(SEED_CLOCK,)))
            continue
        size = abs(offset)
        direction = "ahead of" if offset > 0 else "behind"
        if size > FAIL_S:
            status = Status.FAIL
        elif size > WARN_S:
            status = Status.WARN
        else:
            status = Status.OK
        findings.append(Finding(
            fid, status,
            f"{label} clock {'in sync' if status is Status.OK else f'{size:.0f} s {direction} this host'}",
            detail=f"{label} Date header is {offset:+.1f} s from local UTC (±1 s resolution); tokens are refused "
            f"beyond a {FAIL_S:.0f} s skew.",
            evidence=ev,
            remedy="" if status is Status.OK else
            "Synchronise clocks with NTP on the GitLab, registry and client hosts (`timedatectl status`, "
            "`chronyc tracking`); in Kubernetes, fix the node clocks.",
            refs=(SEED_CLOCK,),
        ))
    return findings


def check_clocks(client: httpx.Client, registry_url: str, realm_url: str = "") -> list[Finding]:
    """Registry and realm clocks; the realm is taken from the registry's challenge when not given."""
    base = registry_url.rstrip("/")
    if not realm_url:
        ex = exchange(client, "GET", f"{base}/v2/")
        if ex.ok and ex.response is not None:
            realm_url = (parse_bearer_challenge(ex.response.headers.get("www-authenticate", "")) or {}).get("realm", "")
    return check_clock(client, {"registry": f"{base}/v2/", "realm": realm_url})
