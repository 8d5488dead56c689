"""Registry notifications to GitLab (issue #19, `notifications`): the registry POSTs every push and delete to
``/api/v4/container_registry_event/events``; GitLab accepts them only when the ``Authorization`` header equals its
``registry.notification_secret`` (``Devise.secure_compare``, no secret = refuse all).

Three views: the configs on both sides (secrets compared by keyed digest, never shown), a live POST of an empty
event list with the registry's own header (GitLab answers 200 to it and does nothing), and the registry's queue
counters on ``/debug/vars`` (Distribution 2.8 has no notification metrics on /metrics: the counters are only
there). A failing endpoint does not fail pushes: the registry retries the same event forever, its queue grows in
memory, and GitLab's view (usage data, features fed by the events) stops.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from ..config._yaml import mapping
from ..findings import Finding, Status
from .http import exchange

EVENTS_PATH = "/api/v4/container_registry_event/events"
EVENTS_MEDIA_TYPE = "application/vnd.docker.distribution.events.v1+json"
REF = "Beyond the troubleshooting page: registry notifications to GitLab"
DOCS = "https://docs.gitlab.com/administration/packages/container_registry/#configure-container-registry-notifications"

SECRET_REMEDY = (
    "Make both sides hold the same secret (GitLab compares the whole `Authorization` header with it):\n"
    "- Omnibus (/etc/gitlab/gitlab.rb): `gitlab_rails['registry_notification_secret']` must equal the `Authorization` "
    "header of the endpoint in `registry['notifications']` (and `registry['notification_secret']` where set), then "
    "`gitlab-ctl reconfigure` (it restarts the registry and Rails).\n"
    "- Helm: one secret for both, `global.registry.notificationSecret` (`secret`/`key`), referenced by the endpoint's "
    "`registry.notifications.endpoints[].headers.Authorization` (`secret`/`key`); `helm upgrade`.\n"
    "- Source: the same value in config.yml (the endpoint's `headers`, key `Authorization`, a one-item list) and "
    "in gitlab.yml (`registry.notification_secret`); restart the registry and GitLab.\n"
    "Events already queued are delivered once GitLab accepts them; a registry restart drops the queue."
)
UNREACHABLE_REMEDY = (
    "Point the endpoint at a GitLab address the registry host can reach (test from that host: "
    "`curl -sS -X POST <url>` must answer `401`, not a connection error):\n"
    "- Omnibus: the `url` of `registry['notifications']` (e.g. GitLab's `external_url` + "
    "`/api/v4/container_registry_event/events`), then `gitlab-ctl reconfigure`.\n"
    "- Helm: `registry.notifications.endpoints[].url`, usually the webservice Service "
    "(`http://<release>-webservice-default:8181/api/v4/container_registry_event/events`).\n"
    "- Source: `notifications.endpoints[].url` in config.yml; restart the registry.\n"
    "Firewalls, proxies (`HTTP_PROXY` in the registry's environment) and TLS trust of GitLab's certificate apply "
    "to this call too."
)


# ---------------------------------------------------------------------------------------------- configs


def _digest(key: bytes, value: str) -> str:
    """A keyed digest: equal within one run for equal secrets, useless for guessing or comparing across runs."""
    return "hmac-sha256:" + hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:12]


class SecretRef(str):
    """A header held in a Kubernetes secret (Helm: ``{secret: NAME, key: KEY}``): named, never compared."""


def _header_value(headers: Any) -> str | None:
    """The Authorization header of an endpoint's ``headers`` (a list of values in config.yml, a string in Ruby, a
    ``{secret, key}`` reference in Helm values)."""
    if not isinstance(headers, dict):
        return None
    for name, value in headers.items():
        if str(name).lower() == "authorization":
            if isinstance(value, dict):
                return SecretRef(f"Kubernetes secret {value.get('secret', '?')}" +
                                 (f" (key {value['key']})" if value.get("key") else ""))
            if isinstance(value, (list, tuple)):
                return ",".join(str(v) for v in value) if value else ""
            return None if value is None else str(value)
    return None


def _is_gitlab_url(url: str) -> bool:
    return urlsplit(url or "").path.rstrip("/").endswith("/container_registry_event/events")


def _safe_url(url: str) -> str:
    parts = urlsplit(url or "")
    if parts.username or parts.password:
        host = parts.hostname or ""
        return parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")).geturl()
    return url or ""


def registry_endpoints(registry_cfg: Any) -> list[dict[str, Any]]:
    """Every ``notifications.endpoints`` entry of config.yml: name, URL (no credentials), disabled, and the raw
    ``headers`` (kept in memory for the live probe; never put into evidence)."""
    if registry_cfg is None:
        return []
    raw = registry_cfg.get("notifications") if hasattr(registry_cfg, "get") else None
    eps = raw.get("endpoints") if isinstance(raw, dict) else None
    out = []
    for ep in eps if isinstance(eps, (list, tuple)) else []:
        if isinstance(ep, dict):
            out.append({"name": str(ep.get("name") or ""), "url": str(ep.get("url") or ""),
                        "disabled": bool(ep.get("disabled")), "headers": ep.get("headers")})
    return out


def _secrets(registry_cfg: Any, gitlab_yml: Any, gitlab_rb: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(registry side, GitLab side): each a list of {where, setting, value}."""
    registry_side: list[dict[str, Any]] = []
    gitlab_side: list[dict[str, Any]] = []
    for i, ep in enumerate(registry_endpoints(registry_cfg)):
        if ep["disabled"] or not _is_gitlab_url(ep["url"]):
            continue
        value = _header_value(ep["headers"])
        registry_side.append({"where": registry_cfg.source, "setting": f"notifications.endpoints[{i}] "
                              f"({ep['name']}).headers.Authorization", "value": value})
    if gitlab_rb is not None:
        value = gitlab_rb.registry("notification_secret")
        if value is not None:
            registry_side.append({"where": gitlab_rb.source, "setting": "registry['notification_secret']",
                                  "value": str(value)})
        eps = gitlab_rb.registry("notifications")
        for i, ep in enumerate(eps if isinstance(eps, list) else []):
            if isinstance(ep, dict) and _is_gitlab_url(str(ep.get("url") or "")):
                registry_side.append({"where": gitlab_rb.source, "setting": f"registry['notifications'][{i}] "
                                      "['headers']['Authorization']", "value": _header_value(ep.get("headers"))})
        value = gitlab_rb.gitlab_rails("registry_notification_secret")
        if value is not None:
            gitlab_side.append({"where": gitlab_rb.source, "setting": "gitlab_rails['registry_notification_secret']",
                                "value": str(value)})
    if gitlab_yml is not None:
        gitlab_side.append({"where": gitlab_yml.source, "setting": "registry.notification_secret",
                            "value": getattr(gitlab_yml, "_notification_secret", None)})
    return registry_side, gitlab_side


def check_notification_secrets(registry_cfg: Any = None, gitlab_yml: Any = None, gitlab_rb: Any = None) -> list[Finding]:
    """Does the registry send GitLab the secret GitLab expects? Every place either side sets it (config.yml's
    endpoint header, gitlab.rb's ``registry['notification_secret']`` / ``registry['notifications']`` /
    ``gitlab_rails['registry_notification_secret']``, gitlab.yml's ``registry.notification_secret``), compared by a
    digest keyed for this run only: values are never shown."""
    refs = (REF, DOCS)
    if registry_cfg is None and gitlab_yml is None and gitlab_rb is None:
        return [Finding("notify.config.not_given", Status.SKIP, "Notification secrets not compared: no config given",
                        detail="Give `registry_config` (config.yml) and `gitlab_config` (gitlab.yml) or `gitlab_rb` to "
                               "compare the registry's Authorization header with GitLab's notification secret.",
                        refs=refs)]
    registry_side, gitlab_side = _secrets(registry_cfg, gitlab_yml, gitlab_rb)
    key = secrets.token_bytes(32)

    def row(entry: dict[str, Any], side: str) -> dict[str, Any]:
        value = entry["value"]
        return {"side": side, "setting": entry["setting"], "where": entry["where"],
                "digest": _digest(key, value) if value else ("(empty)" if value == "" else "(not set)"),
                "length": len(value) if value else 0}

    refs_k8s = [e for e in registry_side + gitlab_side if isinstance(e["value"], SecretRef)]
    if refs_k8s:
        return [Finding("notify.secret_in_kubernetes", Status.SKIP, "Notification secret held in a Kubernetes secret",
                        detail="; ".join(f"{e['setting']} is {e['value']}" for e in refs_k8s) + ": this runbook does "
                               "not read Kubernetes secrets. Compare them with `kubectl get secret NAME -o "
                               "jsonpath='{.data.KEY}' | base64 -d | sha256sum` on both sides, or give the rendered "
                               "config.yml from the registry pod as `registry_config`.", refs=refs)]
    rows = [row(e, "registry") for e in registry_side] + [row(e, "GitLab") for e in gitlab_side]
    evidence: dict[str, Any] = {"secrets": rows, "note": "digests are keyed for this run only: equal digest = equal "
                                "secret; they cannot be compared with another run's"}
    if not registry_side:
        endpoints = [{"name": e["name"], "url": _safe_url(e["url"])} for e in registry_endpoints(registry_cfg)]
        if registry_cfg is None and gitlab_rb is None:
            return [Finding("notify.config.registry_not_given", Status.SKIP,
                            "Registry side not read: give registry_config or gitlab_rb",
                            detail="Only GitLab's side was given; the registry's endpoint header is in config.yml.",
                            evidence=evidence, refs=refs)]
        return [Finding("notify.config.none", Status.INFO, "The registry does not notify GitLab",
                        detail="No notification endpoint points to GitLab's `/api/v4/container_registry_event/events`"
                               + (f" (other endpoints: {', '.join(e['name'] for e in endpoints)})" if endpoints else "")
                               + ": nothing to compare. GitLab then learns of pushes only through its own API calls.",
                        evidence={**evidence, "endpoints": endpoints}, refs=refs)]
    missing_header = [r for r, e in zip(rows, registry_side) if not e["value"]]
    if missing_header:
        return [Finding("notify.auth_header_missing", Status.FAIL,
                        "The registry's GitLab endpoint sends no Authorization header",
                        detail="; ".join(f"{r['setting']} ({r['where']}) is {r['digest']}" for r in missing_header)
                               + ". GitLab refuses every event without the secret (401).",
                        evidence=evidence, remedy=SECRET_REMEDY, refs=refs)]
    if not gitlab_side:
        return [Finding("notify.secret_not_compared", Status.SKIP, "GitLab's notification secret not read",
                        detail="Give `gitlab_config` (gitlab.yml) or `gitlab_rb` to compare GitLab's "
                               "`registry.notification_secret` with the registry's header.",
                        evidence=evidence, refs=refs)]
    gitlab_values = [e["value"] for e in gitlab_side]
    if not any(gitlab_values):
        return [Finding("notify.secret_missing", Status.FAIL, "GitLab has no registry notification secret",
                        detail="The registry notifies GitLab, but "
                               + "; ".join(f"{e['setting']} ({e['where']})" for e in gitlab_side)
                               + " is not set: GitLab compares the header with nothing and answers 401 to every event.",
                        evidence=evidence, remedy=SECRET_REMEDY, refs=refs)]
    digests = {r["digest"] for r in rows if r["length"]}
    if len(digests) > 1:
        groups: dict[str, list[str]] = {}
        for r in rows:
            groups.setdefault(r["digest"], []).append(f"{r['side']}: {r['setting']}")
        text = " | ".join(f"{d} ← {', '.join(names)}" for d, names in groups.items())
        return [Finding("notify.secret_mismatch", Status.FAIL,
                        "The registry's notification secret differs from GitLab's",
                        detail=f"{len(digests)} different values among {len(rows)} settings ({text}). GitLab answers "
                               "`401 Unauthorized` to every event whose Authorization header is not its "
                               "`registry.notification_secret`; the registry retries the same event forever.",
                        evidence=evidence, remedy=SECRET_REMEDY, refs=refs)]
    return [Finding("notify.secret_match", Status.OK, "Registry and GitLab hold the same notification secret",
                    detail=f"{len(rows)} settings, one value ({next(iter(digests))}).", evidence=evidence, refs=refs)]


# ---------------------------------------------------------------------------------------------- live POST


def check_notification_delivery(client: httpx.Client, registry_cfg: Any = None) -> list[Finding]:
    """POST an empty event list to each GitLab endpoint of config.yml with the registry's own headers, as the
    registry would: GitLab answers 200 (and does nothing), 401 when the header is not its secret. Endpoints
    that are not GitLab's are not sent anything."""
    refs = (REF, DOCS)
    if registry_cfg is None:
        return [Finding("notify.delivery.not_checked", Status.SKIP, "Delivery not tested: no registry_config",
                        detail="Give `registry_config` (config.yml): the endpoint URL and its headers are there.",
                        refs=refs)]
    endpoints = [e for e in registry_endpoints(registry_cfg) if not e["disabled"]]
    gitlab = [e for e in endpoints if _is_gitlab_url(e["url"])]
    if not gitlab:
        return [Finding("notify.delivery.none", Status.INFO, "No GitLab notification endpoint to test",
                        detail="config.yml has no enabled endpoint for `/api/v4/container_registry_event/events`"
                               + (f"; other endpoints ({', '.join(e['name'] for e in endpoints)}) are left alone."
                                  if endpoints else "."),
                        evidence={"endpoints": [{"name": e["name"], "url": _safe_url(e["url"])} for e in endpoints]},
                        refs=refs)]
    found = []
    body = json.dumps({"events": []}).encode()
    for ep in gitlab:
        headers = {"Content-Type": EVENTS_MEDIA_TYPE}
        for name, value in (ep["headers"] or {}).items() if isinstance(ep["headers"], dict) else ():
            if isinstance(value, dict):  # a Kubernetes secret reference (Helm values): not sent as is
                continue
            headers[str(name)] = ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)
        ex = exchange(client, "POST", ep["url"], content=body, headers=headers)
        url = _safe_url(ep["url"])
        evidence = {"endpoint": ep["name"], "url": url, "sent": "POST {\"events\": []} with the endpoint's headers "
                    "(values not shown)"}
        if not ex.ok:
            assert ex.failure is not None
            found.append(Finding("notify.delivery.unreachable", Status.FAIL,
                                 f"GitLab's notification endpoint is unreachable ({ex.failure.title})",
                                 detail=f"POST {url} failed: {ex.failure.kind}: {ex.failure.message}. The registry "
                                        "meets the same error on every event and retries it forever.",
                                 evidence={**evidence, "error": f"{ex.failure.kind}: {ex.failure.message}"},
                                 remedy=UNREACHABLE_REMEDY, refs=refs))
            continue
        r = ex.response
        assert r is not None
        answer = {**evidence, "status": r.status_code, "body": r.text[:200]}
        if r.status_code in (401, 403):
            found.append(Finding("notify.delivery.refused", Status.FAIL,
                                 f"GitLab refuses the registry's notifications ({r.status_code})",
                                 detail=f"POST {url} with the registry's Authorization header answered "
                                        f"{r.status_code} {r.reason_phrase}: the header is not GitLab's "
                                        "`registry.notification_secret`.",
                                 evidence=answer, remedy=SECRET_REMEDY, refs=refs))
        elif 200 <= r.status_code < 400:
            found.append(Finding("notify.delivery.accepted", Status.OK, "GitLab accepts the registry's notifications",
                                 detail=f"POST {url} with the registry's headers answered {r.status_code}.",
                                 evidence=answer, refs=refs))
        else:
            hint = ("the URL is not GitLab's events API (path, or a GitLab older than 12.10)" if r.status_code == 404
                    else "GitLab failed the request" if r.status_code >= 500 else "GitLab did not accept the request")
            found.append(Finding("notify.delivery.unexpected", Status.WARN,
                                 f"GitLab's notification endpoint answered {r.status_code}",
                                 detail=f"POST {url} answered {r.status_code} {r.reason_phrase}: {hint}.",
                                 evidence=answer, remedy=UNREACHABLE_REMEDY, refs=refs))
    return found


# ---------------------------------------------------------------------------------------------- /debug/vars


def _read_endpoints(client: httpx.Client, debug_url: str) -> tuple[list[dict[str, Any]] | None, Any]:
    ex = exchange(client, "GET", debug_url.rstrip("/") + "/debug/vars")
    if not ex.ok or ex.response is None or ex.response.status_code != 200:
        return None, ex
    try:
        data = ex.response.json()
    except ValueError:
        return None, ex
    reg = data.get("registry") if isinstance(data, dict) else None
    notif = reg.get("notifications") if isinstance(reg, dict) else None
    eps = notif.get("endpoints") if isinstance(notif, dict) else None
    out = []
    for ep in eps if isinstance(eps, list) else []:
        if not isinstance(ep, dict):
            continue
        m = mapping(ep.get("Metrics"))
        statuses = mapping(m.get("Statuses"))
        out.append({"name": str(ep.get("name") or ""), "url": _safe_url(str(ep.get("url") or "")),
                    **{k.lower(): int(m.get(k) or 0) for k in ("Pending", "Events", "Successes", "Failures", "Errors")},
                    "statuses": {str(k): int(v) for k, v in statuses.items() if isinstance(v, (int, float))}})
    return out, ex  # headers (the endpoint's secret, which /debug/vars does show) are never copied


def _delta(before: dict[str, Any] | None, after: dict[str, Any], key: str) -> int | None:
    return None if before is None else after.get(key, 0) - before.get(key, 0)


def check_notification_queue(client: httpx.Client, debug_url: str, window_s: float = 3.0) -> list[Finding]:
    """Each endpoint's queue from the debug server's ``/debug/vars`` (Pending, Events, Successes, Failures,
    Errors, Statuses), read twice ``window_s`` apart: what grows now tells a refusal (failures with a status)
    from an unreachable endpoint (errors: no HTTP answer)."""
    refs = (REF, DOCS)
    if not debug_url:
        return [Finding("notify.queue.no_debug_url", Status.SKIP, "Notification queue not read: no debug_url",
                        detail="Give `debug_url` (the registry's `http.debug.addr`, e.g. http://localhost:5001): the "
                               "notification counters are only on its /debug/vars.",
                        remedy="Omnibus: `registry['debug_addr'] = \"localhost:5001\"`; Source: `http.debug.addr`.",
                        refs=refs)]
    first, ex = _read_endpoints(client, debug_url)
    if first is None:
        why = (f"{ex.failure.kind}: {ex.failure.message}" if ex.failure else
               f"HTTP {ex.response.status_code} without expvar JSON" if ex.response is not None else "no answer")
        return [Finding("notify.queue.unavailable", Status.SKIP, "Notification queue not read: /debug/vars unavailable",
                        detail=f"GET {ex.url}: {why}. Is `debug_url` the registry's debug address?",
                        evidence=ex.evidence(body_limit=200), refs=refs)]
    if not first:
        return [Finding("notify.queue.none", Status.INFO, "The registry has no notification endpoint",
                        detail="/debug/vars lists no notification endpoint: the registry sends no events.",
                        evidence={"debug_url": debug_url}, refs=refs)]
    time.sleep(max(0.0, window_s))
    second, _ = _read_endpoints(client, debug_url)
    before = {e["name"]: e for e in first}
    found = []
    for ep in second or first:
        prev = before.get(ep["name"]) if second else None
        grew = {k: _delta(prev, ep, k) for k in ("failures", "errors", "successes", "events")}
        refused = {s: n for s, n in ep["statuses"].items() if s[:3] in ("401", "403")}
        other = {s: n for s, n in ep["statuses"].items() if s[:1] in ("4", "5") and s[:3] not in ("401", "403")}
        evidence = {"endpoint": ep, "window_s": window_s if second else 0, "growth": grew}
        pending = ep["pending"]
        name = f"{ep['name']} ({ep['url']})"
        counts = (f"{pending} pending of {ep['events']} events; {ep['successes']} delivered, {ep['failures']} refused "
                  f"({', '.join(f'{s}: {n}' for s, n in ep['statuses'].items()) or 'no status'}), {ep['errors']} "
                  "without an answer")
        now_failing = bool(grew["failures"]) if second else bool(ep["failures"])
        now_erroring = bool(grew["errors"]) if second else bool(ep["errors"])
        if pending and refused and (now_failing or not now_erroring):
            found.append(Finding("notify.queue.refused", Status.FAIL, f"Notifications to {ep['name']} are refused "
                                 f"({next(iter(refused))}); {pending} events queued",
                                 detail=f"{name}: {counts}. The endpoint refuses the registry's Authorization header; "
                                        "the registry retries the oldest event forever, so nothing after it is "
                                        "delivered and the queue grows in memory.",
                                 evidence=evidence, remedy=SECRET_REMEDY, refs=refs))
        elif pending and ep["errors"] and (now_erroring or not now_failing):
            found.append(Finding("notify.queue.unreachable", Status.FAIL, f"Notifications to {ep['name']} get no "
                                 f"answer; {pending} events queued",
                                 detail=f"{name}: {counts}. The registry cannot reach the endpoint (connection refused, "
                                        "DNS, TLS or timeout: the registry log line names which) and retries forever.",
                                 evidence=evidence, remedy=UNREACHABLE_REMEDY, refs=refs))
        elif pending and (other or ep["failures"]):
            found.append(Finding("notify.queue.failing", Status.FAIL, f"Notifications to {ep['name']} fail; "
                                 f"{pending} events queued",
                                 detail=f"{name}: {counts}.", evidence=evidence, remedy=UNREACHABLE_REMEDY, refs=refs))
        elif ep["failures"] or ep["errors"]:
            found.append(Finding("notify.queue.recovered", Status.WARN, f"Notifications to {ep['name']} failed earlier",
                                 detail=f"{name}: {counts}. Nothing is queued now: the endpoint accepts events again "
                                        "(failed attempts were retried).", evidence=evidence, refs=refs))
        else:
            found.append(Finding("notify.queue.ok", Status.OK, f"Notifications to {ep['name']} are delivered",
                                 detail=f"{name}: {counts}.", evidence=evidence, refs=refs))
    return found

