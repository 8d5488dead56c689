"""Storage redirects from the client's side: where the registry sends clients for blob data, whether they can
get there, and for how long the presigned URL is valid.

With ``storage.redirect`` on (the default for S3, GCS and Azure), ``HEAD``/``GET /v2/<name>/blobs/<digest>``
answers ``307`` with a presigned storage URL and the client fetches the bytes from the storage itself,
without the registry token. The registry signs that URL for its own ``regionendpoint``: an in-cluster or
VPC-only name (``minio.svc.cluster.local``, a private IP, an S3 interface endpoint) works for the registry and
nowhere else, and an expiry shorter than a transfer (or a registry clock ahead of the storage's) turns it
into ``403 Request has expired``. Neither shows in the registry's log: only a client that follows the
redirect sees it, which is what this module does (the registry token never goes to the storage host).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urljoin, urlsplit

import httpx

from ..findings import Finding, Status
from .endpoint import RegistryEndpoint
from .hops import short_url, strip_url
from .pull import _json, _pick_blob
from .push import _Canary

SECTION = "Beyond the troubleshooting page: storage redirects clients cannot follow"
MIN_EXPIRY_S = 600  # a 5 GB layer at 10 MB/s takes over 8 minutes; registry 2.8 signs for 20 minutes
_INTERNAL_SUFFIXES = (".svc", ".svc.cluster.local", ".cluster.local", ".internal", ".local", ".lan", ".corp",
                      ".home.arpa", ".localdomain")

REMEDY = (
    "Clients must be able to fetch what the registry redirects them to, for as long as a layer takes:\n"
    "- Omnibus: `registry['storage'] = { 's3' => { ... }, 'redirect' => { 'disable' => true } }` (the registry then "
    "streams blobs itself), or set `'regionendpoint'` to an endpoint clients reach too; `gitlab-ctl reconfigure`.\n"
    "- Helm: in the `registry.storage` secret, `redirect: {disable: true}`, or a `regionendpoint` clients resolve "
    "(not the in-cluster MinIO Service); with the chart's MinIO, expose it through its Ingress.\n"
    "- Source: `storage.redirect.disable: true` in config.yml (or a reachable `storage.s3.regionendpoint`), then "
    "restart the registry.\n"
    "Expired URLs: keep the registry's and the storage's clocks in sync (NTP); GitLab's registry also has "
    "`storage.redirect.expirydelay` for longer-lived URLs. Disabling redirects costs registry bandwidth, nothing else."
)


def presigned_info(url: str) -> dict[str, Any]:
    """Host and validity of a presigned storage URL: AWS SigV4 (``X-Amz-Date`` + ``X-Amz-Expires``), AWS SigV2 /
    CloudFront (``Expires`` epoch), GCS (``X-Goog-Date`` + ``X-Goog-Expires``), Azure SAS (``se``)."""
    parts = urlsplit(url)
    q = {k.lower(): v for k, v in parse_qsl(parts.query, keep_blank_values=True)}
    info: dict[str, Any] = {"scheme": parts.scheme, "host": parts.hostname or "",
                            "port": parts.port or (443 if parts.scheme == "https" else 80), "style": ""}
    signed = expires_in = expires_at = None
    for prefix, style in (("x-amz-", "aws-sigv4"), ("x-goog-", "gcs-v4")):
        if f"{prefix}date" in q and f"{prefix}expires" in q:
            try:
                signed = dt.datetime.strptime(q[f"{prefix}date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
                expires_in = int(q[f"{prefix}expires"])
            except ValueError:
                continue
            info["style"] = style
            expires_at = signed + dt.timedelta(seconds=expires_in)
            break
    if not info["style"] and "expires" in q and q["expires"].isdigit():
        info["style"] = "epoch-expires"
        expires_at = dt.datetime.fromtimestamp(int(q["expires"]), dt.timezone.utc)
    if not info["style"] and "se" in q and "sig" in q:
        try:
            expires_at = dt.datetime.fromisoformat(q["se"].replace("Z", "+00:00"))
            info["style"] = "azure-sas"
        except ValueError:
            pass
    if signed is not None:
        info["signed_at"] = signed.isoformat()
    if expires_in is not None:
        info["expires_in_s"] = expires_in
    if expires_at is not None:
        info["expires_at"] = expires_at.isoformat()
    return info


def looks_internal(host: str) -> str:
    """Why ``host`` is probably reachable only inside the registry's network ('' when it looks public)."""
    host = (host or "").lower().rstrip(".")
    if not host:
        return ""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        if "." not in host:
            return "a single-label name (resolves only where its search domain does)"
        suffix = next((s for s in _INTERNAL_SUFFIXES if host.endswith(s)), "")
        return f"a `{suffix}` name (an in-cluster or private DNS name)" if suffix else ""
    if ip.is_loopback:
        return "a loopback address (the registry host itself)"
    if ip.is_private or ip.is_link_local:
        return "a private address"
    return ""


def _date(value: str) -> dt.datetime | None:
    try:
        got = parsedate_to_datetime(value) if value else None
    except (TypeError, ValueError):
        return None
    return got if got is None or got.tzinfo else got.replace(tzinfo=dt.timezone.utc)


def check_redirect_config(registry: Any) -> list[Finding]:
    """From config.yml: are clients redirected to storage, and is the endpoint they are sent to one that only
    the registry's network reaches?"""
    refs = (SECTION,)
    if registry is None:
        return [Finding("redirect.config_not_checked", Status.SKIP, "Registry config not read",
                        detail="Give `registry_config` (the registry's config.yml) to see `storage.redirect` and the "
                               "storage endpoint clients are redirected to.", refs=refs)]
    st = registry.storage
    ev = {"driver": st.driver, "redirect_disabled": st.redirect_disabled, "regionendpoint": st.regionendpoint or "",
          "where": registry.where("storage.redirect") or "not set (redirects on by default)"}
    if st.redirect_disabled or st.driver in ("filesystem", "inmemory", None):
        return [Finding("redirect.config_off", Status.OK, "Clients are not redirected to storage",
                        detail=f"Storage driver {st.driver}; redirects "
                               f"{'disabled' if st.redirect_disabled else 'not used by this driver'}: the registry "
                               "serves blob data itself.", evidence=ev, refs=refs)]
    host = urlsplit(st.regionendpoint).hostname if st.regionendpoint else ""
    why = looks_internal(host or "")
    if why:
        return [Finding("redirect.endpoint_internal", Status.WARN,
                        f"Clients are redirected to {host}, {why.split(' (')[0]}",
                        detail=f"Redirects are on and `storage.s3.regionendpoint` is {st.regionendpoint} "
                               f"({registry.where('storage.s3.regionendpoint') or 'config.yml'}): every presigned "
                               f"URL names that host, {why}. Clients outside that network cannot fetch a blob.",
                        evidence={**ev, "host": host}, remedy=REMEDY, refs=refs)]
    return [Finding("redirect.config_on", Status.OK, "Clients are redirected to storage for blob data",
                    detail=f"Storage driver {st.driver} with redirects on; the endpoint "
                           f"{st.regionendpoint or 'of the provider (public)'} looks public. The live check below "
                           "follows a redirect as a client does.", evidence=ev, refs=refs)]


def check_blob_redirect(client: httpx.Client, endpoint: RegistryEndpoint, repository: str = "", *,
                        registry: Any = None, min_expiry_s: int = MIN_EXPIRY_S,
                        now: dt.datetime | None = None) -> list[Finding]:
    """HEAD one existing blob without following, read the redirect's presigned URL (host, signing time, expiry),
    then fetch its first byte from the storage as a client does: never with the registry token."""
    refs = (SECTION,)
    if not endpoint.url:
        return [Finding("redirect.not_checked", Status.SKIP, "Storage redirect not checked: no registry_url",
                        detail="Give `registry_url` as clients use it.", refs=refs)]
    base = endpoint.base
    probe = _Canary(client, base, repository, "")
    scope = f"repository:{repository}:pull" if repository else "registry:catalog:*"
    if not probe.login_as(endpoint, scope=scope):
        return [Finding("redirect.not_checked", Status.SKIP, "Storage redirect not checked: no read token",
                        detail=f"{probe.result.auth_failure}. Give `username`/`password` of a user who can pull "
                               "(the token flow step of `triage` says why this failed).",
                        evidence=probe.result.evidence(), refs=refs)]
    if not repository:
        catalog = _json(probe.send("catalog", "GET", f"{base}/v2/_catalog", params={"n": "20"}, keep_body=True))
        repos = [r for r in (catalog or {}).get("repositories") or [] if isinstance(r, str)] \
            if isinstance(catalog, dict) else []
        if not repos:
            return [Finding("redirect.not_checked", Status.SKIP, "Storage redirect not checked: no repository to read",
                            detail="The catalog lists no repository for this user (only administrators read it): "
                                   "give `project` as the repository path to read.",
                            evidence=probe.result.evidence(), refs=refs)]
        repository = repos[0]
        probe.result.repository = repository
        if not probe.login_as(endpoint, scope=f"repository:{repository}:pull"):
            return [Finding("redirect.not_checked", Status.SKIP,
                            f"Storage redirect not checked: no pull token for {repository}",
                            detail=probe.result.auth_failure, evidence=probe.result.evidence(), refs=refs)]
    digest = _pick_blob(probe, repository)
    if not digest:
        return [Finding("redirect.not_checked", Status.SKIP, f"Storage redirect not checked: no blob in {repository}",
                        detail="Its first tag's manifest could not be read (see the hop trace).",
                        evidence=probe.result.evidence(), refs=refs)]
    r = probe.send("HEAD blob", "HEAD", f"{base}/v2/{repository}/blobs/{digest}")
    ev: dict[str, Any] = {"repository": repository, "blob": digest}
    if r is None or not r.is_redirect or not r.headers.get("location"):
        status = r.status_code if r is not None else None
        if status == 200:
            return [Finding("redirect.not_used", Status.OK, "The registry serves blob data itself (no redirect)",
                            detail=f"HEAD of {digest[:19]}… answered 200 without a redirect: clients never talk to "
                                   "the storage, so no storage URL can be out of their reach.",
                            evidence={**ev, "hops": probe.result.rows()}, refs=refs)]
        return [Finding("redirect.not_checked", Status.SKIP, f"Storage redirect not checked: HEAD blob answered {status}",
                        detail="The registry neither served nor redirected the blob; the `triage` pull-path step "
                               "names the hop that failed.", evidence={**ev, "hops": probe.result.rows()}, refs=refs)]
    target = urljoin(str(r.request.url), r.headers["location"])
    info = presigned_info(target)
    registry_date = _date(r.headers.get("date", ""))
    ev.update(location=strip_url(target), storage_host=info["host"], storage_port=info["port"], signing=info)
    if registry is not None and registry.storage.regionendpoint:
        region = urlsplit(registry.storage.regionendpoint)
        if region.hostname == info["host"]:
            ev["from_config"] = (f"storage.s3.regionendpoint {registry.storage.regionendpoint} "
                                 f"({registry.where('storage.s3.regionendpoint') or 'config.yml'})")
    answer = probe.send("GET blob from storage (first byte)", "GET", target, headers={"Range": "bytes=0-0"})
    ev["hops"] = probe.result.rows()[-2:]
    clock = (now or dt.datetime.now(dt.timezone.utc))
    expires_at = dt.datetime.fromisoformat(info["expires_at"]) if "expires_at" in info else None
    host = f"{info['host']}:{info['port']}"
    internal = looks_internal(info["host"])
    found: list[Finding] = []
    if answer is None:
        failure = probe.result.transport
        kind = failure.title if failure is not None else "no answer"
        where = f" It is {ev['from_config']}." if "from_config" in ev else ""
        found.append(Finding(
            "redirect.storage_unreachable", Status.FAIL, f"Clients cannot reach the storage host {host}: {kind}",
            detail=f"The registry answers HEAD of {digest[:19]}… with {r.status_code} to "
                   f"{short_url(strip_url(target))}, and that host gives a client no answer "
                   f"({failure.kind + ': ' + failure.message if failure else 'no answer'})."
                   + (f" {info['host']} is {internal}." if internal else "") + where
                   + " The registry itself reaches it (it signed the URL and stores blobs there), so pushes of new "
                   "layers may work while every pull of existing layers fails: `docker pull` retries "
                   "`dial tcp: lookup …` or times out.",
            evidence=ev, remedy=REMEDY, refs=refs))
        return found
    body = answer.text[:600] if answer.content else ""
    expired_by_storage = answer.status_code == 403 and "expired" in body.lower()
    skew_s = None
    if registry_date is not None:
        skew_s = int((registry_date - clock).total_seconds())
        ev["registry_clock_minus_this_host_s"] = skew_s
    storage_date = _date(answer.headers.get("date", ""))
    if storage_date is not None:
        ev["storage_date"] = storage_date.isoformat()
    expired_on_arrival = expires_at is not None and expires_at <= (storage_date or clock)
    if expired_by_storage or expired_on_arrival:
        signed = info.get("signed_at", "?")
        found.append(Finding(
            "redirect.expired", Status.FAIL, "The presigned storage URL is expired when the client uses it",
            detail=f"The registry signed the URL at {signed} (its clock) valid for {info.get('expires_in_s', '?')} s, "
                   f"until {info.get('expires_at', '?')}; "
                   + (f"the storage answered {answer.status_code} `Request has expired`" if expired_by_storage else
                      f"by {'the storage' if storage_date else 'this host'}'s clock "
                      f"({(storage_date or clock).isoformat()}) that time is already past")
                   + (f". The registry's clock differs from this host's by {skew_s:+d} s" if skew_s is not None else "")
                   + ": a registry clock behind the storage's, or an expiry shorter than the transfer, makes every "
                   "redirected pull fail with 403.",
            evidence={**ev, "body_start": " ".join(body.split())[:200]}, remedy=REMEDY, refs=refs))
        return found
    if answer.status_code not in (200, 206):
        return [Finding("redirect.storage_refused", Status.FAIL,
                        f"The storage host {host} answered {answer.status_code} to the presigned URL",
                        detail="The client reaches the storage but is refused: read the `push-403` runbook for 403s "
                               "(permissions on presigned GETs).",
                        evidence={**ev, "body_start": " ".join(body.split())[:200], "scenario": "push-403"},
                        remedy=REMEDY, refs=refs)]
    found.append(Finding(
        "redirect.reachable", Status.OK, f"Clients reach the storage host {host} the registry redirects to",
        detail=f"HEAD of {digest[:19]}… answered {r.status_code}; the first byte came from {host} "
               f"({answer.status_code}) without the registry token. Signed {info.get('signed_at', '?')} for "
               f"{info.get('expires_in_s', '?')} s.", evidence=ev, refs=refs))
    if info.get("expires_in_s") is not None and int(info["expires_in_s"]) < min_expiry_s:
        found.append(Finding(
            "redirect.short_expiry", Status.WARN, f"Presigned URLs live only {info['expires_in_s']} s",
            detail=f"The registry signs storage URLs for {info['expires_in_s']} s (under {min_expiry_s} s): a large "
                   "layer on a slow link outlives its URL and the pull fails with 403 `Request has expired`.",
            evidence=ev, remedy=REMEDY, refs=refs))
    return found
