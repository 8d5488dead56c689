"""The token flow a Docker client follows: challenge → realm (GitLab /jwt/auth) → Bearer to the registry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from ..findings import Finding, Status
from ..tokens import decode_unverified
from .api import _unreachable, parse_bearer_challenge
from .http import Exchange, exchange

SEED_TOKEN = "Docker login attempt fails with: 'token signed by untrusted key'"
SEED_ARCH = "Before investigating (token flow: the registry relies on GitLab to validate credentials)"


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
                  username: str = "", password: str = "") -> TokenAnswer:
    """Ask the realm (GitLab's /jwt/auth) for a token, as `docker login` does: HTTP Basic when a user is
    given, anonymous otherwise; GitLab answers `token`, other realms `access_token`."""
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
    registry_url: str,
    username: str = "",
    password: str = "",
    service: str = "container_registry",
    realm_url: str = "",
) -> list[Finding]:
    """Log in the way `docker login` does and say which leg fails: realm, credentials, or the registry's
    trust in the token."""
    refs = (SEED_ARCH, SEED_TOKEN)
    if not registry_url:
        return [Finding("token.not_checked", Status.SKIP, "Token flow not tested: no registry_url",
                        "Give `registry_url` (and credentials) to test a login.", {}, "", refs)]
    base = registry_url.rstrip("/")
    first = exchange(client, "GET", f"{base}/v2/_catalog")
    challenge: dict[str, str] = {}
    if first.ok and first.response is not None:
        challenge = parse_bearer_challenge(first.response.headers.get("www-authenticate", "")) or {}
    realm = realm_url or challenge.get("realm", "")
    if not realm:
        return [Finding("token.no_realm", Status.SKIP, "Token flow not tested: no token realm",
                        "The registry gave no Bearer challenge and no `realm_url` was given "
                        "(see the forwarding finding).", first.evidence(), "", refs)]
    if not username:
        return [Finding("token.no_credentials", Status.SKIP, "Token flow not tested: no username given",
                        f"Realm {realm} known; give `username` and `password` (a reference) to test a login.",
                        {"realm": realm}, "", refs)]
    scope = challenge.get("scope", "registry:catalog:*")
    answer = request_token(client, realm, service, scope, username, password)
    realm_ex = answer.exchange
    if not realm_ex.ok:
        return [_unreachable(realm_ex, "token.realm_unreachable", "Token realm unreachable", refs)]
    rr = realm_ex.response
    assert rr is not None
    realm_ev = realm_ex.evidence(body_limit=200)
    if rr.status_code == 200:
        realm_ev.pop("body", None)  # a 200 body holds the token itself
    if rr.status_code in (401, 403):
        return [Finding(
            "token.bad_credentials", Status.FAIL, f"GitLab refused the credentials ({rr.status_code})",
            f"The realm {realm} answered {rr.status_code} for user {username!r}: wrong password, a token "
            "without `read_registry`, 2FA on the account (use a personal access token), or a blocked user.",
            realm_ev,
            "Log in with a personal access token with `read_registry` (and `write_registry` to push). "
            "In CI use `CI_REGISTRY_USER` / `CI_REGISTRY_PASSWORD`. Check the user is active.",
            refs,
        )]
    token = answer.token
    if not token:
        return [Finding(
            "token.realm_bad_answer", Status.FAIL, f"Realm gave no token ({rr.status_code})",
            f"{realm} answered {rr.status_code} without a JSON `token`: the realm URL may not be GitLab's "
            "`/jwt/auth`, or GitLab fails while signing (missing `gitlab-registry.key`).",
            realm_ev,
            "Check `auth.token.realm` points at `https://<gitlab>/jwt/auth`; check Rails logs for "
            "`/jwt/auth` errors; if the key file is missing run `missing-registry-key`.",
            refs,
        )]
    claims_ev = token_claims_evidence(token)
    findings = [Finding("token.issued", Status.OK, "GitLab issued a token",
                        f"{realm} issued a token for scope {scope!r}.", {"realm": realm, **claims_ev}, "", refs)]
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
                                "The authenticated catalog request returned 200.", ev2, "", refs))
    elif r2.status_code == 401 and err == "invalid_token":
        findings.append(Finding(
            "token.invalid_token", Status.FAIL, "Registry rejects GitLab's token (invalid_token)",
            "The registry did not trust the token GitLab just issued: the signing key is not in its "
            "`rootcertbundle` (token signed by untrusted key), or issuer, audience or time disagree. The "
            "registry log names which.",
            ev2,
            "Run `token-untrusted-key` (compares key IDs of GitLab's key, the registry's rootcertbundle and "
            "the token's `kid`) and check clocks. Omnibus: remove the mismatched pair and "
            "`gitlab-ctl reconfigure` (mind the `registry` section of /etc/gitlab/gitlab-secrets.json).",
            refs,
        ))
    elif (r2.status_code == 401 and err == "insufficient_scope") or r2.status_code == 403:
        findings.append(Finding(
            "token.trusted_no_catalog_scope", Status.OK, "Token trusted; no catalog access for this user",
            "The registry verified the token (signature, issuer, audience, time) and then refused the "
            "catalog: GitLab grants `registry:catalog:*` to administrators only. Token trust is fine.",
            ev2, "", refs,
        ))
    else:
        findings.append(Finding(
            "token.unexpected", Status.WARN, f"Unexpected answer {r2.status_code} with a token",
            "The registry answered the authenticated catalog request in a way the token flow does not expect.",
            ev2, "Check the registry log for `error authorizing context`.", refs,
        ))
    return findings
