"""Is the registry API reachable, and does it challenge the way GitLab's token auth expects?"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

from ..findings import Finding, Status
from .http import Exchange, TransportFailure, exchange

SEED_FORWARDING = "Before investigating: verify that requests are correctly forwarded to the container registry"

_CHALLENGE_PARAM = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))')


def parse_bearer_challenge(header: str) -> dict[str, str] | None:
    """``Bearer realm="...",service="...",scope="..."`` → dict; None for any other scheme."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return {m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3)) for m in _CHALLENGE_PARAM.finditer(rest)}


def transport_remedy(failure: TransportFailure, url: str) -> str:
    """What to do about a request that got no HTTP answer, per failure kind."""
    host = urlsplit(url).netloc or url
    return {
        "refused": (
            f"Nothing accepts connections on {host}.\n"
            "- Omnibus: `gitlab-ctl status registry nginx`; `gitlab-ctl tail registry`; check `registry_external_url` "
            "and `registry_nginx['listen_port']` in /etc/gitlab/gitlab.rb.\n"
            "- Helm: `kubectl get pods -l app=registry`; check the registry Service and Ingress ports.\n"
            "- Source: is `registry serve config.yml` running, and does `http.addr` match the port NGINX proxies to?"
        ),
        "dns": f"The host name in {url} does not resolve here: check DNS or /etc/hosts, or use the address the clients use.",
        "tls": (
            "The TLS handshake failed. If the certificate is self-signed or from a private CA, run the "
            "`x509-unknown-authority` runbook; pass `ca_bundle` to trust the CA for these probes."
        ),
        "timeout": (
            f"{host} accepted nothing or answered nothing within the timeout. Check firewalls/security groups, "
            "a hung registry (`/debug/health`, goroutine dump at `/debug/pprof`) or an overloaded proxy."
        ),
        "reset": f"{host} closed the connection without an answer: a proxy or load balancer in between may drop it.",
        "protocol": f"{host} did not answer HTTP as expected: check the scheme (http vs https) and port in the URL.",
    }[failure.kind]


def _unreachable(ex: Exchange, fid: str, what: str, refs: tuple[str, ...]) -> Finding:
    assert ex.failure is not None
    extra = ""
    if ex.failure.kind == "tls" and "certificate verify failed" in ex.failure.message.lower():
        extra = " The certificate is not trusted here: this is what clients report as `x509: certificate signed by unknown authority`."
    return Finding(
        fid,
        Status.FAIL,
        f"{what}: {ex.failure.title}",
        detail=f"{ex.method} {ex.url} failed before any HTTP answer ({ex.failure.kind}): {ex.failure.message}.{extra}",
        evidence=ex.evidence(),
        remedy=transport_remedy(ex.failure, ex.url),
        refs=refs,
    )


_NOT_REGISTRY_REMEDY = (
    "Check which port NGINX listens on for the registry and where it proxies: Omnibus "
    "`/var/opt/gitlab/nginx/conf/gitlab-registry.conf` (set by `registry_external_url` and "
    "`registry_nginx['listen_port']`); Helm: the registry Ingress host and path; source: your "
    "NGINX server block must `proxy_pass` `/v2/` to the registry's `http.addr`.")

# forwarding verdicts after which nothing answering at registry_url is the registry
NOT_A_REGISTRY = ("forwarding.gitlab_ui", "forwarding.redirect", "forwarding.not_registry", "forwarding.unreachable",
                  "forwarding.http_to_https")


def _is_catalog(r: httpx.Response) -> bool:
    try:
        body = r.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "repositories" in body


def check_forwarding(client: httpx.Client, registry_url: str, service: str = "container_registry") -> list[Finding]:
    """GitLab's documented ``curl /v2/_catalog``: a 401 Bearer challenge naming our service proves requests reach
    the registry with token auth on; every other answer says where the path breaks."""
    refs = (SEED_FORWARDING,)
    url = registry_url.rstrip("/") + "/v2/_catalog"
    ex = exchange(client, "GET", url)
    if not ex.ok:
        return [_unreachable(ex, "forwarding.unreachable", "Registry unreachable", refs)]
    r = ex.response
    assert r is not None
    ev = ex.evidence()
    ctype = r.headers.get("content-type", "")
    api_version = r.headers.get("docker-distribution-api-version", "")
    challenge_header = r.headers.get("www-authenticate", "")
    challenge = parse_bearer_challenge(challenge_header) if challenge_header else None
    findings: list[Finding] = []

    location = r.headers.get("location", "")
    looks_html = "html" in ctype.lower() or r.text.lstrip()[:200].lower().startswith(("<!doctype", "<html", "<head", "<body"))
    if r.is_redirect or (looks_html and "sign_in" in r.text[:20000]):
        gitlab_ui = "/users/sign_in" in location or "sign_in" in r.text[:20000] or "_gitlab_session" in r.headers.get("set-cookie", "")
        if gitlab_ui:
            return [Finding(
                "forwarding.gitlab_ui", Status.FAIL, "registry_url reaches GitLab's web UI, not the registry",
                detail=f"`/v2/_catalog` answered {r.status_code}" + (f" redirecting to {location}" if location else "")
                + ": that is GitLab's sign-in page. The registry URL is GitLab's own URL, or the registry's port "
                "is not exposed and the request fell through to GitLab.", evidence={**ev, "verdict": "gitlab_ui"},
                remedy="Use the registry's own address (`registry_external_url`, e.g. https://registry.example.com or "
                "https://gitlab.example.com:5050), not GitLab's `external_url`. Omnibus: set `registry_external_url` "
                "and run `gitlab-ctl reconfigure`; Helm: `registry.ingress` host; source: the NGINX server block "
                "for the registry's host/port must `proxy_pass` to the registry.", refs=refs)]
        return [Finding(
            "forwarding.redirect", Status.FAIL, f"Registry URL redirects ({r.status_code}) instead of answering",
            detail=f"`/v2/_catalog` answered {r.status_code} to {location or '(no Location)'}: the registry itself never "
            "redirects this request, so something in front of it does (http→https, another host, a login).",
            evidence={**ev, "verdict": "redirect"},
            remedy="Point `registry_url` at the final address (scheme and port included), or fix the proxy rule that "
            "redirects `/v2/`.", refs=refs)]
    if looks_html and r.status_code not in (502, 503, 504):  # a proxy's 5xx page is about the upstream: below
        return [Finding(
            "forwarding.not_registry", Status.FAIL,
            f"An HTML page answers instead of the registry ({r.status_code})",
            detail="Something other than the registry answered `/v2/_catalog` with a web page (a default web server "
            "page, GitLab itself, or a proxy route that does not forward `/v2/`). Nothing below checked the "
            "registry.", evidence={**ev, "verdict": "html"}, remedy=_NOT_REGISTRY_REMEDY, refs=refs)]
    if r.status_code in (200, 401) and api_version != "registry/2.0" and challenge is None and not _is_catalog(r):
        return [Finding(
            "forwarding.not_registry", Status.FAIL,
            f"Something that is not a registry answers ({r.status_code}, no registry API header)",
            detail=f"`/v2/_catalog` answered {r.status_code} without `Docker-Distribution-Api-Version: registry/2.0` "
            "and without a Bearer challenge or a catalog: not the container registry.",
            evidence={**ev, "verdict": "other_http"}, remedy=_NOT_REGISTRY_REMEDY, refs=refs)]
    if r.status_code == 401 and challenge is not None:
        got_service = challenge.get("service", "")
        if got_service != service:
            findings.append(Finding(
                "forwarding.service_mismatch", Status.FAIL,
                f"Registry expects service {got_service!r}, not {service!r}",
                detail="The Bearer challenge names another token service: tokens GitLab issues for "
                f"{service!r} will be rejected as meant for another audience.",
                evidence=ev,
                remedy="Make the registry's `auth.token.service` and GitLab's token service agree "
                "(Omnibus: `registry['token_service']`; Helm: `registry.tokenService`; source: config.yml "
                "`auth.token.service`), then restart the registry. Or pass the right `service` parameter.",
                refs=refs,
            ))
        else:
            findings.append(Finding(
                "forwarding.ok", Status.OK, "Requests reach the registry and token auth challenges",
                detail=f"401 with Bearer realm={challenge.get('realm', '')!r}, service={got_service!r}.",
                evidence=ev, refs=refs,
            ))
        if api_version != "registry/2.0":
            findings.append(Finding(
                "forwarding.api_version_header", Status.WARN,
                "Docker-Distribution-Api-Version header missing",
                detail="The answer has a Bearer challenge but no `Docker-Distribution-Api-Version: registry/2.0`; "
                "a proxy in between may strip headers, and some clients refuse such an endpoint.",
                evidence=ev,
                remedy="Make NGINX pass the registry's response headers unchanged (no `proxy_hide_header` for it).",
                refs=refs,
            ))
        return findings

    if r.status_code == 401:
        scheme = challenge_header.split(" ", 1)[0] if challenge_header else "none"
        return [Finding(
            "forwarding.not_token_auth", Status.FAIL,
            f"Registry challenges with {scheme!r}, not a GitLab Bearer token",
            detail="A 401 without a Bearer challenge: the registry does not use GitLab's token auth "
            "(htpasswd or silly auth), or something else answers on this port.",
            evidence=ev,
            remedy="Configure token auth pointing at GitLab's `/jwt/auth` (Omnibus does this by itself when "
            "`registry_external_url` is set; Helm: `registry.authEndpoint`; source: `auth.token` in config.yml).",
            refs=refs,
        )]
    if r.status_code == 200:
        return [Finding(
            "forwarding.no_auth", Status.FAIL, "Catalog answered without authentication",
            detail="`/v2/_catalog` returned 200 with no credentials: token auth is off, so GitLab's permissions "
            "are not enforced and GitLab cannot manage this registry.",
            evidence=ev,
            remedy="Enable `auth.token` (realm = GitLab `/jwt/auth`, service `container_registry`, issuer and "
            "rootcertbundle matching GitLab's registry key), then restart the registry.",
            refs=refs,
        )]
    if r.status_code in (502, 503, 504):
        what = {502: "bad gateway", 503: "service unavailable", 504: "gateway timeout"}[r.status_code]
        unhealthy = "health check failed" in r.text or "UNAVAILABLE" in r.text
        detail = (
            "The registry answered 503 UNAVAILABLE: its storage health check is failing."
            if unhealthy
            else f"{r.status_code} ({what}): the proxy could not get an answer from the registry upstream."
        )
        return [Finding(
            "forwarding.upstream_down", Status.FAIL, f"Registry upstream {what}", detail=detail, evidence=ev,
            remedy="Check the registry process and its storage: `/debug/health` on the debug server shows the failing "
            "check (run `debug-server-metrics`). Omnibus: `gitlab-ctl status registry`, "
            "`gitlab-ctl tail registry`; Helm: registry pod logs; if NGINX logs `[::1]` upstream errors, "
            "run `ipv6-listener`.",
            refs=refs,
        )]
    if r.status_code == 400 and "https" in r.text.lower():
        return [Finding(
            "forwarding.http_to_https", Status.FAIL, "Plain HTTP sent to a TLS port",
            detail="The port speaks HTTPS but the URL says http://.", evidence=ev,
            remedy="Use https:// in `registry_url` (and in `registry_external_url` / the clients' registry address).",
            refs=refs,
        )]
    looks_html = "html" in ctype.lower() or r.text.lstrip().lower().startswith("<")
    if r.status_code == 404 or looks_html:
        return [Finding(
            "forwarding.not_registry", Status.FAIL,
            f"Request does not reach the registry ({r.status_code}{', HTML page' if looks_html else ''})",
            detail="Something other than the registry answered `/v2/_catalog` (a web server, GitLab itself, "
            "or a proxy route that does not forward `/v2/`).",
            evidence=ev,
            remedy="Check which port NGINX listens on for the registry and where it proxies: Omnibus "
            "`/var/opt/gitlab/nginx/conf/gitlab-registry.conf` (set by `registry_external_url` and "
            "`registry_nginx['listen_port']`); Helm: the registry Ingress host and path; source: your "
            "NGINX server block must `proxy_pass` `/v2/` to the registry's `http.addr`.",
            refs=refs,
        )]
    return [Finding(
        "forwarding.unexpected", Status.WARN, f"Unexpected answer {r.status_code} from /v2/_catalog",
        detail="GitLab's documentation expects a 401 Bearer challenge here.", evidence=ev,
        remedy="Compare with the expected answer in GitLab's troubleshooting page and check the proxy in front of the registry.",
        refs=refs,
    )]
