"""The token flow a Docker client follows: challenge → realm (GitLab /jwt/auth) → Bearer to the registry."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

import httpx

from ..findings import Finding, Status
from ..tokens import decode_unverified
from .api import _unreachable, parse_bearer_challenge
from .endpoint import RegistryEndpoint
from .http import Exchange, TransportFailure, exchange

SEED_TOKEN = "Docker login attempt fails with: 'token signed by untrusted key'"
SEED_ARCH = "Before investigating (token flow: the registry relies on GitLab to validate credentials)"


_DEFAULT_PORTS = {"http": 80, "https": 443}


def url_origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of a URL, lower-cased, the default port filled in; ``("", "", None)`` when the
    URL cannot be parsed. Two URLs with the same origin may share credentials; any difference may not."""
    try:
        u = httpx.URL(str(url or "").strip())
    except (httpx.InvalidURL, TypeError, ValueError):
        return ("", "", None)
    scheme = u.scheme.lower()
    return (scheme, (u.host or "").lower().rstrip("."), u.port or _DEFAULT_PORTS.get(scheme))


def show_origin(origin: tuple[str, str, int | None]) -> str:
    """An origin as a URL prefix (``https://gitlab.example.com``; the port only when not the default)."""
    scheme, host, port = origin
    if not scheme:
        return "(no origin)"
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + ("" if port is None or port == _DEFAULT_PORTS.get(scheme) else f":{port}")


def is_loopback_host(host: str) -> bool:
    """``localhost``, 127.0.0.0/8 or ::1 (also as an IPv4-mapped address). A name that merely resolves to a
    loopback address does not count: the decision must not depend on DNS, which is what an attacker controls."""
    host = (host or "").strip().strip("[]").lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool((mapped or ip).is_loopback)


@dataclass(frozen=True)
class RealmPolicy:
    """Whether the realm may receive HTTP Basic credentials, and the note an SRE should see about where they go.

    Credentials go over https anywhere (GitLab's realm is usually on the GitLab host, not the registry's), over
    plain http only to loopback or when ``allow_insecure_realm`` is set. ``send`` is False when they are withheld.
    """

    realm: str
    registry_url: str
    send: bool
    plain_http: bool
    loopback: bool
    cross_origin: bool
    configured: bool  # the realm is the `realm_url` parameter, not the registry's challenge
    allowed_insecure: bool
    reason: str = ""  # why credentials are withheld ("" when they may be sent)

    @property
    def source(self) -> str:
        return "the `realm_url` parameter" if self.configured else "the registry's Bearer challenge"

    def evidence(self) -> dict[str, Any]:
        ev: dict[str, Any] = {"realm": self.realm, "realm_origin": show_origin(url_origin(self.realm)),
                              "realm_source": "realm_url" if self.configured else "challenge",
                              "credentials_sent": self.send}
        if self.registry_url:
            ev["registry_origin"] = show_origin(url_origin(self.registry_url))
        if self.plain_http:
            ev["allow_insecure_realm"] = self.allowed_insecure
        return ev

    def finding(self, refs: tuple[str, ...] = ()) -> Finding | None:
        """``token.realm_insecure`` (warn) for plain http to a non-loopback host, sent or withheld;
        ``token.realm_other_origin`` (ok, a stated fact) when the realm is on another origin than the registry;
        None when there is nothing to say (same origin, https or loopback)."""
        realm_host = url_origin(self.realm)[1] or self.realm
        if not self.send:
            title = (f"Credentials withheld: the token realm on {realm_host} is plain HTTP" if self.plain_http
                     else "Credentials withheld: the token realm is not an http(s) URL")
            return Finding(
                "token.realm_insecure", Status.WARN, title,
                detail=f"{self.reason} The realm comes from {self.source}. The username and password were NOT sent, so "
                "the login was not tested.", evidence=self.evidence(), remedy=_INSECURE_REMEDY, refs=refs)
        if self.plain_http and not self.loopback:
            return Finding(
                "token.realm_insecure", Status.WARN, f"Credentials sent in cleartext to {realm_host}",
                detail=f"The realm {self.realm} (from {self.source}) is plain HTTP on a host that is not loopback; "
                "`allow_insecure_realm` is set, so the username and password crossed the network unencrypted, "
                "as they do for every `docker login` against this registry.", evidence=self.evidence(), remedy=_INSECURE_REMEDY,
                refs=refs)
        if self.cross_origin:
            registry = show_origin(url_origin(self.registry_url))
            where = show_origin(url_origin(self.realm))
            return Finding(
                "token.realm_other_origin", Status.INFO, f"Credentials go to the token realm on {where}",
                detail=f"The registry {registry} sends clients to {self.realm} (from {self.source}) for tokens, so "
                "`docker login` sends the username and password there, not to the registry. That is normal when "
                "GitLab issues the registry's tokens (Omnibus and Helm put the realm on the GitLab host); check "
                "that this host is your GitLab.", evidence=self.evidence(), refs=refs)
        return None


_INSECURE_REMEDY = (
    "Serve the realm over HTTPS: the registry's `auth.token.realm` must be `https://<gitlab>/jwt/auth`.\n"
    "- Omnibus: `external_url 'https://gitlab.example.com'` in /etc/gitlab/gitlab.rb (the realm is derived from it), "
    "then `gitlab-ctl reconfigure`.\n"
    "- Helm: `global.hosts.https: true` (and TLS for the GitLab host).\n"
    "- Source: `auth.token.realm` in the registry's config.yml.\n"
    "If the realm is only reachable over a network you trust and you accept cleartext credentials, set "
    "`allow_insecure_realm: true` to test the login anyway.")


def realm_policy(realm: str, registry_url: str = "", *, realm_url: str = "",
                 allow_insecure_realm: bool = False) -> RealmPolicy:
    """Decide whether ``realm`` may receive Basic credentials (see :class:`RealmPolicy`)."""
    origin = url_origin(realm)
    scheme, host, _ = origin
    loopback = is_loopback_host(host)
    plain = scheme == "http"
    configured = bool(realm_url) and realm.strip() == realm_url.strip()
    reg = url_origin(registry_url) if registry_url else ("", "", None)
    cross = bool(registry_url) and bool(scheme) and origin != reg
    reason = ""
    if scheme not in ("http", "https") or not host:
        reason = f"The token realm {realm!r} is not an http(s) URL."
    elif plain and not loopback and not allow_insecure_realm:
        reason = (f"The token realm {realm} is plain HTTP on {host}, which is not loopback: HTTP Basic credentials "
                  "sent there cross the network in cleartext, readable by anyone on the path.")
    return RealmPolicy(realm, registry_url, not reason, plain, loopback, cross, configured,
                       bool(allow_insecure_realm), reason)


@dataclass(frozen=True)
class TokenAnswer:
    """What the realm said to a token request: the token (never shown), or why there is none."""

    token: str
    problem: str
    exchange: Exchange

    @property
    def status(self) -> int | None:
        return self.exchange.response.status_code if self.exchange.response is not None else None


def request_token(client: httpx.Client, realm: str, service: str, scope: str,
                  username: str = "", password: str = "", *, allow_insecure_realm: bool = False) -> TokenAnswer:
    """Ask the realm (GitLab's /jwt/auth) for a token, as `docker login` does: HTTP Basic when a user is
    given, anonymous otherwise; GitLab answers `token`, other realms `access_token`.

    Credentials go over plain http only to a loopback realm or with ``allow_insecure_realm``; otherwise
    nothing is sent and ``problem`` says why (``credentials withheld: ...``)."""
    if username:
        policy = realm_policy(realm, allow_insecure_realm=allow_insecure_realm)
        if not policy.send:
            why = f"credentials withheld: {policy.reason} (set allow_insecure_realm to send them anyway)"
            return TokenAnswer("", why, Exchange("GET", realm, None, TransportFailure("withheld", why)))
    auth = (username, password) if username else None
    ex = exchange(client, "GET", realm, params={"service": service, "scope": scope}, auth=auth)
    if not ex.ok or ex.response is None:
        why = f"{ex.failure.kind}: {ex.failure.message}" if ex.failure else "no answer"
        return TokenAnswer("", f"realm unreachable: {why}", ex)
    if ex.response.status_code != 200:
        return TokenAnswer("", f"realm answered {ex.response.status_code}", ex)
    try:
        body = ex.response.json()
    except ValueError:
        return TokenAnswer("", "realm answer is not JSON", ex)
    token = str(body.get("token") or body.get("access_token") or "") if isinstance(body, dict) else ""
    return TokenAnswer(token, "" if token else "realm answer has no token", ex)


def token_claims_evidence(token: str) -> dict[str, Any]:
    """What a token says about itself (header and claims, never the token or its signature)."""
    try:
        header, claims = decode_unverified(token)
    except ValueError as exc:
        return {"token": f"undecodable: {exc}"}
    keep = ("iss", "sub", "aud", "exp", "nbf", "iat", "access")
    return {"header": {k: header.get(k) for k in ("alg", "kid", "typ") if k in header},
            "claims": {k: claims[k] for k in keep if k in claims}}


def check_token_flow(
    client: httpx.Client,
    endpoint: RegistryEndpoint,
) -> list[Finding]:
    """Log in the way `docker login` does and say which leg fails: realm, credentials, or the registry's
    trust in the token. Where the credentials go is stated (``token.realm_other_origin``) and plain http to a
    host that is not loopback is a warning; there they are withheld unless ``allow_insecure_realm``."""
    refs = (SEED_ARCH, SEED_TOKEN)
    if not endpoint.url:
        return [Finding("token.not_checked", Status.SKIP, "Token flow not tested: no registry_url",
                        detail="Give `registry_url` (and credentials) to test a login.", refs=refs)]
    base = endpoint.base
    first = exchange(client, "GET", f"{base}/v2/_catalog")
    challenge: dict[str, str] = {}
    if first.ok and first.response is not None:
        challenge = parse_bearer_challenge(first.response.headers.get("www-authenticate", "")) or {}
    realm = endpoint.realm_url or challenge.get("realm", "")
    if not realm:
        return [Finding("token.no_realm", Status.SKIP, "Token flow not tested: no token realm",
                        detail="The registry gave no Bearer challenge and no `realm_url` was given "
                        "(see the forwarding finding).", evidence=first.evidence(), refs=refs)]
    if not endpoint.username:
        return [Finding("token.no_credentials", Status.SKIP, "Token flow not tested: no username given",
                        detail=f"Realm {realm} known; give `username` and `password` (a reference) to test a login.",
                        evidence={"realm": realm}, refs=refs)]
    policy = realm_policy(realm, endpoint.url, realm_url=endpoint.realm_url,
                          allow_insecure_realm=endpoint.allow_insecure_realm)
    note = policy.finding(refs)
    notes = [note] if note is not None else []
    if not policy.send:
        return notes
    scope = challenge.get("scope", "registry:catalog:*")
    answer = request_token(client, realm, endpoint.service, scope, endpoint.username, endpoint.password,
                           allow_insecure_realm=endpoint.allow_insecure_realm)
    realm_ex = answer.exchange
    if not realm_ex.ok:
        return notes + [_unreachable(realm_ex, "token.realm_unreachable", "Token realm unreachable", refs)]
    rr = realm_ex.response
    assert rr is not None
    realm_ev = realm_ex.evidence(body_limit=200)
    if rr.status_code == 200:
        realm_ev.pop("body", None)  # a 200 body holds the token itself
    if rr.status_code in (401, 403):
        return notes + [Finding(
            "token.bad_credentials", Status.FAIL, f"GitLab refused the credentials ({rr.status_code})",
            detail=f"The realm {realm} answered {rr.status_code} for user {endpoint.username!r}: wrong password, a token "
            "without `read_registry`, 2FA on the account (use a personal access token), or a blocked user.",
            evidence=realm_ev,
            remedy="Log in with a personal access token with `read_registry` (and `write_registry` to push). "
            "In CI use `CI_REGISTRY_USER` / `CI_REGISTRY_PASSWORD`. Check the user is active.",
            refs=refs,
        )]
    token = answer.token
    if not token:
        return notes + [Finding(
            "token.realm_bad_answer", Status.FAIL, f"Realm gave no token ({rr.status_code})",
            detail=f"{realm} answered {rr.status_code} without a JSON `token`: the realm URL may not be GitLab's "
            "`/jwt/auth`, or GitLab fails while signing (missing `gitlab-registry.key`).",
            evidence=realm_ev,
            remedy="Check `auth.token.realm` points at `https://<gitlab>/jwt/auth`; check Rails logs for "
            "`/jwt/auth` errors; if the key file is missing run `missing-registry-key`.",
            refs=refs,
        )]
    claims_ev = token_claims_evidence(token)
    findings = notes + [Finding("token.issued", Status.OK, "GitLab issued a token",
                        detail=f"{realm} issued a token for scope {scope!r}.", evidence={"realm": realm, **claims_ev}, refs=refs)]
    second = exchange(client, "GET", f"{base}/v2/_catalog", headers={"Authorization": f"Bearer {token}"})
    if not second.ok:
        findings.append(_unreachable(second, "token.registry_unreachable", "Registry unreachable with token", refs))
        return findings
    r2 = second.response
    assert r2 is not None
    ev2 = {**second.evidence(body_limit=300), **claims_ev}
    err = (parse_bearer_challenge(r2.headers.get("www-authenticate", "")) or {}).get("error", "")
    if r2.status_code == 200:
        findings.append(Finding("token.accepted", Status.OK, "Registry accepts GitLab's token",
                                detail="The authenticated catalog request returned 200.", evidence=ev2, refs=refs))
    elif r2.status_code == 401 and err == "invalid_token":
        findings.append(Finding(
            "token.invalid_token", Status.FAIL, "Registry rejects GitLab's token (invalid_token)",
            detail="The registry did not trust the token GitLab just issued: the signing key is not in its "
            "`rootcertbundle` (token signed by untrusted key), or issuer, audience or time disagree. The "
            "registry log names which.",
            evidence=ev2,
            remedy="Run `token-untrusted-key` (compares key IDs of GitLab's key, the registry's rootcertbundle and "
            "the token's `kid`) and check clocks. Omnibus: remove the mismatched pair and "
            "`gitlab-ctl reconfigure` (mind the `registry` section of /etc/gitlab/gitlab-secrets.json).",
            refs=refs,
        ))
    elif (r2.status_code == 401 and err == "insufficient_scope") or r2.status_code == 403:
        findings.append(Finding(
            "token.trusted_no_catalog_scope", Status.OK, "Token trusted; no catalog access for this user",
            detail="The registry verified the token (signature, issuer, audience, time) and then refused the "
            "catalog: GitLab grants `registry:catalog:*` to administrators only. Token trust is fine.",
            evidence=ev2, refs=refs,
        ))
    else:
        findings.append(Finding(
            "token.unexpected", Status.WARN, f"Unexpected answer {r2.status_code} with a token",
            detail="The registry answered the authenticated catalog request in a way the token flow does not expect.",
            evidence=ev2, remedy="Check the registry log for `error authorizing context`.", refs=refs,
        ))
    return findings
