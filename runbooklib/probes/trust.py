"""Does the registry trust the key GitLab signs tokens with? Key IDs side by side, pairs by public key.

The registry trusts the keys of the certificates in `auth.token.rootcertbundle`, by libtrust key ID;
GitLab signs with `registry.key` of gitlab.yml and names the key in the token's `kid`. When they differ
the registry logs `token signed by untrusted key with ID: "<kid>"` and clients see only a 401.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, Iterable

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ..config.gitlab_yml import GitLabRegistrySettings
from ..config.registry import RegistryConfig
from ..errors import RunbookError
from ..findings import Finding, Status
from ..safefile import UnsafeFile, read_bytes
from ..tokens import decode_unverified, libtrust_key_id
from .api import parse_bearer_challenge
from .auth import request_token
from .endpoint import RegistryEndpoint
from .http import exchange

SEED_UNTRUSTED = "Docker login attempt fails with: 'token signed by untrusted key'"
SEED_MISSING_KEY = "Missing gitlab-registry.key prevents container repository deletion"
LEEWAY_S = 60

REGENERATE = (
    "Make the pair match again:\n"
    "- Omnibus: remove `/var/opt/gitlab/registry/gitlab-registry.crt` and "
    "`/var/opt/gitlab/gitlab-rails/etc/gitlab-registry.key`, then `gitlab-ctl reconfigure`. The pair is "
    "recreated from `/etc/gitlab/gitlab-secrets.json` if its `registry` section exists: delete that section "
    "first to get a new pair (or when you had overridden the pair with your own matching files).\n"
    "- Helm: the registry reads the certificate from the `<release>-registry-secret` Secret and GitLab signs "
    "with the key in the same Secret: regenerate or fix the Secret so `registry-auth.crt` and "
    "`registry-auth.key` are one pair, then restart the registry and webservice pods.\n"
    "- Source: point `auth.token.rootcertbundle` at the certificate of the key in gitlab.yml `registry.key` "
    "and restart the registry."
)


class KeyMaterialError(RunbookError, ValueError):
    """A certificate or key file that cannot be used, with a message naming the file and the reason."""


def load_certificates(path: str | Path) -> list[x509.Certificate]:
    """Every certificate in a PEM bundle (or one DER certificate); garbage is named, not skipped."""
    p = Path(path)
    try:
        data = read_bytes(p, 1 << 20)
    except UnsafeFile as exc:
        raise KeyMaterialError(f"{p}: cannot read ({exc.reason})") from None
    if b"-----BEGIN" not in data:
        try:
            return [x509.load_der_x509_certificate(data)]
        except ValueError:
            raise KeyMaterialError(f"{p}: neither PEM nor DER certificate data") from None
    if b"PRIVATE KEY-----" in data and b"CERTIFICATE-----" not in data:
        raise KeyMaterialError(f"{p}: holds a private key, not a certificate")
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise KeyMaterialError(f"{p}: a PEM block is not a valid certificate ({exc})") from None
    return certs


def load_private_key(path: str | Path) -> Any:
    """A private key from PEM or DER; an encrypted key or a certificate given instead is named as such."""
    p = Path(path)
    try:
        data = read_bytes(p, 1 << 20)
    except UnsafeFile as exc:
        raise KeyMaterialError(f"{p}: cannot read ({exc.reason})") from None
    if b"ENCRYPTED" in data:
        raise KeyMaterialError(f"{p}: the private key is encrypted with a passphrase; GitLab needs it unencrypted")
    if b"CERTIFICATE-----" in data and b"PRIVATE KEY-----" not in data:
        raise KeyMaterialError(f"{p}: holds a certificate, not a private key")
    try:
        if b"-----BEGIN" in data:
            return serialization.load_pem_private_key(data, password=None)
        return serialization.load_der_private_key(data, password=None)
    except TypeError:
        raise KeyMaterialError(f"{p}: the private key is encrypted with a passphrase") from None
    except ValueError as exc:
        raise KeyMaterialError(f"{p}: not a usable private key ({exc})") from None


def _public_der(key: Any) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


@dataclass
class TokenProbe:
    """A token fetched the way a client does, decoded (unverified), and the registry's verdict on it."""

    realm: str = ""
    error: str = ""  # why no token (transport, credentials, realm answer)
    header: dict[str, Any] = field(default_factory=dict)
    claims: dict[str, Any] = field(default_factory=dict)
    registry_status: int | None = None
    registry_error: str = ""  # error= of the Bearer challenge, e.g. invalid_token
    registry_date: dt.datetime | None = None
    realm_date: dt.datetime | None = None
    local_time: dt.datetime | None = None

    @property
    def kid(self) -> str:
        return str(self.header.get("kid", ""))


def _date(response: httpx.Response | None) -> dt.datetime | None:
    value = response.headers.get("date") if response is not None else None
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def probe_token(client: httpx.Client, endpoint: RegistryEndpoint, scope: str = "") -> TokenProbe:
    """Get a token for ``scope`` (default: the challenge's) and present it to the registry. Credentials go
    to a plain-http realm only on loopback or with ``allow_insecure_realm`` (else ``error`` says so)."""
    out = TokenProbe(local_time=dt.datetime.now(dt.timezone.utc))
    base = endpoint.base
    first = exchange(client, "GET", f"{base}/v2/_catalog")
    challenge = {}
    if first.ok and first.response is not None:
        challenge = parse_bearer_challenge(first.response.headers.get("www-authenticate", "")) or {}
        out.registry_date = _date(first.response)
    out.realm = endpoint.realm_url or challenge.get("realm", "")
    if not out.realm:
        out.error = "no token realm: the registry gave no Bearer challenge and realm_url is empty"
        return out
    scope = scope or challenge.get("scope", "registry:catalog:*")
    answer = request_token(client, out.realm, endpoint.service, scope, endpoint.username, endpoint.password,
                           allow_insecure_realm=endpoint.allow_insecure_realm)
    out.realm_date = _date(answer.exchange.response)
    token = answer.token
    if not token:
        out.error = answer.problem if answer.status is None else f"realm answered {answer.status} without a token"
        return out
    try:
        out.header, out.claims = decode_unverified(token)
    except ValueError as exc:
        out.error = f"realm token undecodable: {exc}"
        return out
    second = exchange(client, "GET", f"{base}/v2/_catalog", headers={"Authorization": f"Bearer {token}"})
    if second.ok and second.response is not None:
        out.registry_status = second.response.status_code
        out.registry_error = (parse_bearer_challenge(second.response.headers.get("www-authenticate", "")) or {}).get("error", "")
    return out


def check_key_pair(cert_path: str, key_path: str) -> list[Finding]:
    """GitLab's documented `openssl ... -modulus` comparison, done by public key so EC pairs work too."""
    refs = (SEED_UNTRUSTED,)
    try:
        certs = load_certificates(cert_path)
        key = load_private_key(key_path)
    except KeyMaterialError as exc:
        return [Finding("trust.key_material", Status.ERROR, "Certificate or key cannot be read", detail=str(exc),
                        evidence={"certificate": cert_path, "key": key_path}, remedy="Check the path and the file's format.", refs=refs)]
    key_id = libtrust_key_id(key.public_key())
    cert_ids = [libtrust_key_id(c.public_key()) for c in certs]
    ev = {"certificate": cert_path, "certificate_key_ids": cert_ids, "key": key_path, "key_id": key_id}
    if any(_public_der(c.public_key()) == _public_der(key.public_key()) for c in certs):
        return [Finding("trust.pair_matches", Status.OK, "Registry certificate and GitLab key are one pair",
                        detail="The key GitLab signs with has its certificate in the registry's rootcertbundle.", evidence=ev, refs=refs)]
    return [Finding(
        "trust.pair_mismatch", Status.FAIL, "GitLab signs with a key the registry does not trust",
        detail=f"GitLab's key {key_id} has no certificate in the rootcertbundle (which holds {', '.join(cert_ids)}): "
        "every token is refused as 'signed by untrusted key'.", evidence=ev, remedy=REGENERATE, refs=refs)]


def check_token_trust(rootcertbundle: str, token: TokenProbe | None = None, gitlab_key: str = "",
                      log_key_ids: Iterable[str] = ()) -> list[Finding]:
    """Key IDs side by side: trusted (rootcertbundle), GitLab's key, the live token's kid, the log's IDs."""
    refs = (SEED_UNTRUSTED,)
    try:
        trusted = {libtrust_key_id(c.public_key()): c.subject.rfc4514_string() for c in load_certificates(rootcertbundle)}
    except KeyMaterialError as exc:
        return [Finding("trust.bundle_unreadable", Status.ERROR, "rootcertbundle cannot be read", detail=str(exc),
                        evidence={"rootcertbundle": rootcertbundle}, remedy="Fix `auth.token.rootcertbundle` in the registry config.", refs=refs)]
    ev: dict[str, Any] = {"trusted_key_ids": trusted}
    seen: dict[str, str] = {}
    if gitlab_key:
        try:
            seen["gitlab.yml registry.key"] = libtrust_key_id(load_private_key(gitlab_key).public_key())
        except KeyMaterialError as exc:
            ev["gitlab_key_error"] = str(exc)
    if token is not None and token.kid:
        seen["live token kid"] = token.kid
    for kid in dict.fromkeys(log_key_ids):
        seen.setdefault(f"registry log ({kid[:4]}…)", kid)
    ev["key_ids"] = seen
    if not seen:
        return [Finding("trust.nothing_to_compare", Status.SKIP, "No signing key ID to compare",
                        detail="Give gitlab_config (for registry.key), credentials for a live token, or log_paths.",
                        evidence=ev, refs=refs)]
    untrusted = {where: kid for where, kid in seen.items() if kid not in trusted}
    if untrusted:
        side = "; ".join(f"{where}: {kid}" for where, kid in untrusted.items())
        return [Finding(
            "trust.untrusted_key", Status.FAIL, "Tokens are signed by a key the registry does not trust",
            detail=f"Untrusted: {side}. The registry trusts only {', '.join(trusted) or 'no key'} "
            "(its rootcertbundle).", evidence=ev, remedy=REGENERATE, refs=refs)]
    return [Finding("trust.key_trusted", Status.OK, "The signing key is trusted by the registry",
                    detail="Every key ID seen (" + ", ".join(f"{w}: {k}" for w, k in seen.items()) + ") is in the rootcertbundle.",
                    evidence=ev, refs=refs)]


def check_issuer_and_service(registry_issuer: str, registry_service: str, gitlab_issuer: str = "",
                             token: TokenProbe | None = None) -> list[Finding]:
    """The registry checks `iss` and `aud`: GitLab's issuer and the token's claims must equal its config."""
    refs = (SEED_UNTRUSTED,)
    rows = {"registry auth.token.issuer": registry_issuer, "registry auth.token.service": registry_service,
            "gitlab.yml registry.issuer": gitlab_issuer}
    if token is not None and token.claims:
        rows["token iss"] = token.claims.get("iss", "")
        rows["token aud"] = token.claims.get("aud", "")
    problems = []
    for name in ("gitlab.yml registry.issuer", "token iss"):
        if rows.get(name) and registry_issuer and rows[name] != registry_issuer:
            problems.append(f"{name} is {rows[name]!r} but the registry expects issuer {registry_issuer!r}")
    if rows.get("token aud") and registry_service and rows["token aud"] != registry_service:
        problems.append(f"token aud is {rows['token aud']!r} but the registry expects service {registry_service!r}")
    if problems:
        return [Finding("trust.issuer_or_service", Status.FAIL, "Issuer or service disagree",
                        detail="; ".join(problems) + ". The registry logs 'token from untrusted issuer' or "
                        "'token intended for another audience'.", evidence=rows,
                        remedy="Omnibus: `gitlab_rails['registry_issuer']` and `registry['token_service']`/issuer must match "
                        "(then `gitlab-ctl reconfigure`); Helm: `registry.tokenIssuer` and `registry.tokenService`; "
                        "source: gitlab.yml `registry.issuer` = config.yml `auth.token.issuer`.", refs=refs)]
    return [Finding("trust.issuer_and_service", Status.OK, "Issuer and service agree",
                    detail="Every issuer and service value seen agrees with the registry's configuration.", evidence=rows, refs=refs)]


def check_token_times(token: TokenProbe) -> list[Finding]:
    """A token refused as 'not to be used before/after' is clock skew: measure it from iat and Date headers."""
    refs = ("Before investigating: verify that the system clocks are synchronized", SEED_UNTRUSTED)
    if not token.claims:
        return [Finding("clock.token", Status.WARN if token.error else Status.SKIP, "No live token to check",
                        detail=f"Could not get a token: {token.error or 'no token'}. Steps that compare the live token "
                        "were done without it.", evidence={"realm": token.realm}, remedy="Fix what the error names first "
                        "(TLS: `x509-unknown-authority`; credentials: `triage`).", refs=refs)]
    iat, nbf, exp = (token.claims.get(k) for k in ("iat", "nbf", "exp"))
    reference = token.registry_date or token.local_time
    ref_name = "registry Date" if token.registry_date else "this host"
    assert reference is not None
    now = reference.timestamp()
    ev: dict[str, Any] = {"iat": iat, "nbf": nbf, "exp": exp, "reference": ref_name, "reference_time": reference.isoformat()}
    if token.realm_date and token.registry_date:
        ev["realm_vs_registry_s"] = round((token.realm_date - token.registry_date).total_seconds(), 1)
    skew = (float(iat) - now) if isinstance(iat, (int, float)) else 0.0
    ev["token_iat_minus_reference_s"] = round(skew, 1)
    rejected_for_time = token.registry_error == "invalid_token"
    if isinstance(nbf, (int, float)) and nbf > now + LEEWAY_S:
        return [Finding("clock.token_not_yet_valid", Status.FAIL, "Token not valid yet at the registry: clock skew",
                        detail=f"The token's nbf is {nbf - now:.0f} s after the {ref_name} (leeway {LEEWAY_S} s): GitLab's clock "
                        f"is ahead by about {skew:.0f} s. The registry logs 'token not to be used before'.",
                        evidence=ev, remedy="Synchronise GitLab's and the registry's clocks with NTP (`chronyc tracking`).", refs=refs)]
    if isinstance(exp, (int, float)) and exp < now - LEEWAY_S:
        return [Finding("clock.token_expired", Status.FAIL, "Token already expired at the registry: clock skew",
                        detail=f"The token's exp is {now - exp:.0f} s before the {ref_name}: GitLab's clock is behind by about "
                        f"{-skew:.0f} s. The registry logs 'token not to be used after'.",
                        evidence=ev, remedy="Synchronise clocks with NTP; raise the token expiry only as a stop-gap.", refs=refs)]
    status = Status.WARN if abs(skew) > 30 else Status.OK
    return [Finding("clock.token", status, "Token times fit the registry's clock" if status is Status.OK else
                    "Token issued with a noticeable skew",
                    detail=f"Token iat is {skew:+.0f} s from the {ref_name}" + (
                        "; the registry still rejected the token, for another reason." if rejected_for_time else "."),
                    evidence=ev, remedy="" if status is Status.OK else "Synchronise clocks with NTP.", refs=refs)]


def check_registry_key_file(key_path: str, registry_enabled: bool | None = True) -> list[Finding]:
    """GitLab needs `registry.key` to sign tokens, also to delete repositories; a missing file breaks both."""
    refs = (SEED_MISSING_KEY,)
    if not key_path:
        return [Finding("registry_key.not_configured", Status.WARN, "gitlab.yml has no registry.key",
                        detail="Without a key path GitLab cannot sign registry tokens.", remedy=_MISSING_KEY_REMEDY, refs=refs)]
    p = Path(key_path)
    ev = {"registry.key": key_path, "registry.enabled": registry_enabled}
    if not p.exists():
        return [Finding("registry_key.missing", Status.FAIL, "gitlab-registry.key is missing",
                        detail=f"{key_path} does not exist: /jwt/auth fails (Errno::ENOENT in production_json.log) and "
                        "deleting a project with container repositories fails.", evidence=ev, remedy=_MISSING_KEY_REMEDY, refs=refs)]
    try:
        key = load_private_key(p)
    except KeyMaterialError as exc:
        return [Finding("registry_key.unusable", Status.FAIL, "gitlab-registry.key cannot be used", detail=str(exc), evidence=ev,
                        remedy=_MISSING_KEY_REMEDY, refs=refs)]
    ev["key_id"] = libtrust_key_id(key.public_key())
    return [Finding("registry_key.present", Status.OK, "gitlab-registry.key is present and readable",
                    detail=f"Key ID {ev['key_id']}.", evidence=ev, refs=refs)]


_MISSING_KEY_REMEDY = (
    "As GitLab's documentation describes: temporarily enable the registry so GitLab generates the key pair "
    "(Omnibus: `registry['enable'] = true` and `gitlab_rails['registry_enabled'] = true` in /etc/gitlab/gitlab.rb, "
    "then `gitlab-ctl reconfigure`), retry the deletion, and disable it again if you do not use it. "
    "If the registry must stay off, GitLab's documented Rails console route deletes the project's container repositories "
    "(`ContainerRepository` records) before the project: read it there and run it only after a backup; this "
    "runbook does not run it. Helm: make sure the `registry-auth` Secret is mounted into webservice/sidekiq."
)


# --- the same checks fed from the config readers (None = that config was not given or not readable) --------


def _rootcertbundle(registry: RegistryConfig | None) -> str:
    token = getattr(registry, "token", None)
    return str(getattr(token, "rootcertbundle", "") or "")


def _skip(fid: str, what: str) -> list[Finding]:
    return [Finding(fid, Status.SKIP, f"Not checked: {what}",
                    detail=f"{what}; give `registry_config` and `gitlab_config` to compare the pair.", refs=(SEED_UNTRUSTED,))]


def check_signing_pair(registry: RegistryConfig | None, gitlab: GitLabRegistrySettings | None) -> list[Finding]:
    """rootcertbundle (registry config) against registry.key (gitlab.yml), by public key."""
    bundle = _rootcertbundle(registry)
    key = str(getattr(gitlab, "key", "") or "")
    if not bundle:
        return _skip("trust.pair_not_checked", "no rootcertbundle in the registry config")
    if not key:
        return _skip("trust.pair_not_checked", "no registry.key in gitlab.yml")
    if not Path(key).exists():
        return check_registry_key_file(key)
    return check_key_pair(bundle, key)


def check_key_ids(registry: RegistryConfig | None, gitlab: GitLabRegistrySettings | None = None, token: TokenProbe | None = None,
                  log_key_ids: Iterable[str] = ()) -> list[Finding]:
    """Key IDs side by side, with the trusted set taken from the registry config's rootcertbundle."""
    bundle = _rootcertbundle(registry)
    if not bundle:
        return _skip("trust.key_ids_not_checked", "no rootcertbundle in the registry config")
    key = str(getattr(gitlab, "key", "") or "")
    return check_token_trust(bundle, token, key if key and Path(key).exists() else "", log_key_ids)


def check_issuer_and_service_from_configs(registry: RegistryConfig | None, gitlab: GitLabRegistrySettings | None = None, token: TokenProbe | None = None) -> list[Finding]:
    token_cfg = getattr(registry, "token", None)
    if token_cfg is None:
        return [Finding("trust.issuer_not_checked", Status.SKIP, "Not checked: no auth.token in the registry config",
                        detail="Give `registry_config` to compare issuer and service.", refs=(SEED_UNTRUSTED,))]
    return check_issuer_and_service(str(token_cfg.issuer or ""), str(token_cfg.service or ""),
                                    str(getattr(gitlab, "issuer", "") or ""), token)


def _token_repr_html(self: TokenProbe) -> str:
    import html as _html
    import json as _json

    if self.error:
        return f"<p><b>No token:</b> {_html.escape(self.error)}</p>"
    shown = {"realm": self.realm, "header": self.header,
             "claims": {k: v for k, v in self.claims.items() if k != "jti"},
             "registry answer": f"{self.registry_status} {self.registry_error}".strip()}
    return "<pre>" + _html.escape(_json.dumps(shown, indent=2, default=str)) + "</pre>"


TokenProbe._repr_html_ = _token_repr_html  # type: ignore[attr-defined]


def check_gitlab_registry_key(gitlab: GitLabRegistrySettings | None) -> list[Finding]:
    """registry.key of gitlab.yml: present, readable, a private key; and the registry switched off with it."""
    if gitlab is None:
        return [Finding("registry_key.not_checked", Status.SKIP, "Not checked: no gitlab.yml",
                        detail="Give `gitlab_config` (Omnibus: /var/opt/gitlab/gitlab-rails/etc/gitlab.yml).",
                        refs=(SEED_MISSING_KEY,))]
    enabled = bool(getattr(gitlab, "enabled", False))
    findings = check_registry_key_file(str(getattr(gitlab, "key", "") or ""), enabled)
    if not enabled:
        findings.append(Finding(
            "registry_key.registry_disabled", Status.WARN, "The registry is disabled in gitlab.yml",
            detail="With the registry disabled GitLab no longer manages the key pair; projects that still hold container "
            "repositories cannot be deleted until the key exists again.",
            evidence={"registry.enabled": enabled}, remedy=_MISSING_KEY_REMEDY, refs=(SEED_MISSING_KEY,)))
    return findings
