"""Older Docker clients (1.9 and older) push only schema1 manifests; does this registry take them?

Three views: the config (``compatibility.schema1.enabled``), the access log (user agents ``docker/1.9.x`` and
older, schema1 media types) and the registry itself. The live probe PUTs a correctly *signed* schema1
manifest (libtrust JWS, as old clients send) that references a blob which does not exist, so nothing is ever
stored. Measured on Distribution 2.8.2:

* schema1 disabled (GitLab's default): ``500 UNKNOWN`` and the log line ``err.detail="manifest schema v1
  unsupported"`` (an unsigned manifest would instead get ``400 MANIFEST_INVALID`` "missing signature key"
  before the type is even considered, which is why the probe signs it);
* schema1 enabled: the signature is verified, then ``400 MANIFEST_BLOB_UNKNOWN`` naming our random digest.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import secrets
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from ..config.registry import RegistryConfig
from ..findings import Finding, Status
from ..tokens import b64url, libtrust_key_id
from .api import _unreachable, parse_bearer_challenge
from .endpoint import RegistryEndpoint
from .hops import error_code_of
from .auth import request_token
from .http import exchange
from .push import CANARY_REPOSITORY

SEED_SCHEMA1 = "Supporting older Docker clients"
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
REMEDY = (
    "Upgrade the Docker clients (1.10 and newer push schema 2). If old clients must keep pushing:\n"
    "- Omnibus: `registry['compatibility_schema1_enabled'] = true` in /etc/gitlab/gitlab.rb, then "
    "`gitlab-ctl reconfigure`.\n"
    "- Helm: `registry.compatibility.schema1.enabled: true`.\n"
    "- Source: in config.yml\n```yaml\ncompatibility:\n  schema1:\n    enabled: true\n```\nthen restart the "
    "registry. Schema1 is deprecated and later registries drop it: upgrading the clients is the lasting fix."
)


def sign_schema1(manifest: dict[str, Any], key: Any = None) -> bytes:
    """The manifest as an old Docker client sends it: 3-space indented JSON with a libtrust "pretty" JWS
    (``signatures`` appended, ``formatLength``/``formatTail`` in the protected header, ES256)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    content = json.dumps(manifest, indent=3).encode()
    close = len(content.rstrip()) - 1  # the final "}"
    format_length = len(content[:close].rstrip())
    tail = content[format_length:]
    pub = key.public_key().public_numbers()
    jwk = {"crv": "P-256", "kid": libtrust_key_id(key.public_key()), "kty": "EC",
           "x": b64url(pub.x.to_bytes(32, "big")), "y": b64url(pub.y.to_bytes(32, "big"))}
    protected = b64url(json.dumps({
        "formatLength": format_length, "formatTail": b64url(tail),
        "time": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}).encode())
    r, s = decode_dss_signature(key.sign(f"{protected}.{b64url(content)}".encode(), ec.ECDSA(hashes.SHA256())))
    signatures = [{"header": {"jwk": jwk, "alg": "ES256"},
                   "signature": b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big")), "protected": protected}]
    block = json.dumps(signatures, indent=3).replace("\n", "\n   ")
    return content[:format_length] + b',\n   "signatures": ' + block.encode() + b"\n}"


def probe_manifest(repository: str, tag: str) -> tuple[bytes, str]:
    """A signed schema1 manifest whose only layer does not exist (so the registry can never store it)."""
    missing = "sha256:" + hashlib.sha256(b"runbook schema1 probe " + secrets.token_bytes(16)).hexdigest()
    manifest = {"schemaVersion": 1, "name": repository, "tag": tag, "architecture": "amd64",
                "fsLayers": [{"blobSum": missing}],
                "history": [{"v1Compatibility": json.dumps({"id": secrets.token_hex(32), "created":
                                                            "2016-01-01T00:00:00Z", "os": "linux"})}]}
    return sign_schema1(manifest), missing


def check_schema1_config(registry: RegistryConfig | None) -> list[Finding]:
    """What config.yml says about schema1 (``compatibility.schema1.enabled``; off unless set)."""
    refs = (SEED_SCHEMA1,)
    if registry is None:
        return [Finding("schema1.config.not_given", Status.SKIP, "Registry config not read",
                        detail="Give `registry_config` to see `compatibility.schema1.enabled`.", refs=refs)]
    ev = registry.evidence("compatibility.schema1.enabled")
    if registry.schema1_enabled:
        return [Finding("schema1.config.enabled", Status.OK, "schema1 is enabled in the registry config",
                        detail=f"`compatibility.schema1.enabled: true` ({registry.where('compatibility.schema1.enabled')}): "
                        "Docker 1.9 and older can push.", evidence=ev, refs=refs)]
    how = ("not set (off by default)" if "compatibility.schema1.enabled" in registry.defaulted
           else f"false at {registry.where('compatibility.schema1.enabled')}")
    return [Finding("schema1.config.disabled", Status.OK, "schema1 is off in the registry config",
                    detail=f"`compatibility.schema1.enabled` is {how}: Docker 1.9 and older (schema1 only) cannot push; "
                    "Docker 1.10+ and every current client are not affected.", evidence=ev, remedy=REMEDY, refs=refs)]


def check_schema1_live(client: httpx.Client, endpoint: RegistryEndpoint,
                       repository: str = CANARY_REPOSITORY) -> list[Finding]:
    """PUT a signed schema1 manifest that references a missing blob: the answer says whether schema1 is
    accepted (``MANIFEST_BLOB_UNKNOWN``) or refused (``manifest schema v1 unsupported``). Stores nothing."""
    refs = (SEED_SCHEMA1,)
    if not endpoint.url:
        return [Finding("schema1.live.not_run", Status.SKIP, "Live schema1 probe not run: no registry_url", refs=refs)]
    base = endpoint.base
    headers: dict[str, str] = {}
    first = exchange(client, "GET", f"{base}/v2/")
    if not first.ok:
        return [_unreachable(first, "schema1.live.unreachable", "Registry unreachable", refs)]
    assert first.response is not None
    if first.response.status_code == 401:
        challenge = parse_bearer_challenge(first.response.headers.get("www-authenticate", "")) or {}
        realm = endpoint.realm_url or challenge.get("realm", "")
        if not realm or not endpoint.username:
            return [Finding("schema1.live.not_run", Status.SKIP, "Live schema1 probe needs credentials",
                            detail="The probe PUTs a manifest (never stored): give `username` and `password` of a user "
                            f"who may push to `{repository}`.", evidence={"realm": realm}, refs=refs)]
        answer = request_token(client, realm, challenge.get("service") or endpoint.service,
                               f"repository:{repository}:pull,push", endpoint.username, endpoint.password,
                               allow_insecure_realm=endpoint.allow_insecure_realm)
        tr, token = answer.exchange, answer.token
        if not token and answer.problem.startswith("credentials withheld"):
            return [Finding("schema1.live.not_run", Status.SKIP, "Live schema1 probe not run: credentials withheld",
                            detail=answer.problem, evidence={"realm": realm}, refs=refs)]
        if not token:
            ev = tr.evidence(body_limit=200)
            ev.pop("body", None)
            return [Finding("schema1.live.no_token", Status.SKIP, "Live schema1 probe: no push token",
                            detail="The realm gave no token for the probe; run `triage` for the token flow.", evidence=ev, refs=refs)]
        headers["Authorization"] = f"Bearer {token}"
    tag = "schema1-probe-" + secrets.token_hex(4)
    body, missing = probe_manifest(repository, tag)
    put = exchange(client, "PUT", f"{base}/v2/{repository}/manifests/{tag}", content=body,
                   headers={**headers, "Content-Type": SCHEMA1_SIGNED})
    if not put.ok:
        return [_unreachable(put, "schema1.live.unreachable", "Registry unreachable", refs)]
    r = put.response
    assert r is not None
    code = error_code_of(r.content)
    ev = {"request": f"PUT {base}/v2/{repository}/manifests/{tag}", "content_type": SCHEMA1_SIGNED,
          "status": r.status_code, "error_code": code, "body": r.text[:300], "probe_layer": missing}
    if r.status_code == 400 and code == "MANIFEST_BLOB_UNKNOWN":
        return [Finding("schema1.live.accepted", Status.OK, "The registry accepts schema1 manifests",
                        detail="It verified the schema1 signature and then asked for the (deliberately missing) layer: "
                        "Docker 1.9 and older can push. Nothing was stored.", evidence=ev, refs=refs)]
    if r.status_code == 201:
        digest = r.headers.get("docker-content-digest", "")
        if digest:
            exchange(client, "DELETE", f"{base}/v2/{repository}/manifests/{digest}", headers=headers)
        return [Finding("schema1.live.accepted", Status.OK, "The registry accepts schema1 manifests",
                        detail="It stored the schema1 manifest without checking its layer (deleted again).", evidence=ev, refs=refs)]
    refused_500 = r.status_code == 500 and code == "UNKNOWN"
    unsupported = "unsupported" in r.text.lower() or code in ("MANIFEST_INVALID", "UNSUPPORTED")
    if refused_500 or (r.status_code == 400 and unsupported):
        return [Finding(
            "schema1.live.refused", Status.OK, "The registry refuses schema1 manifests",
            detail=f"A signed schema1 manifest got {r.status_code} {code}: the registry does not take schema1 "
            "(its log says `manifest schema v1 unsupported`). Docker 1.9 and older fail to push with this "
            "error; Docker 1.10+ are not affected. This probe adds one such line to the registry log.",
            evidence=ev, remedy=REMEDY, refs=refs)]
    if r.status_code in (401, 403):
        return [Finding("schema1.live.denied", Status.SKIP, f"Live schema1 probe denied ({r.status_code})",
                        detail=f"The token does not grant push on `{repository}`; the probe could not reach the manifest "
                        "check.", evidence=ev, refs=refs)]
    return [Finding("schema1.live.unexpected", Status.WARN, f"Unexpected answer {r.status_code} to a schema1 PUT",
                    detail="The answer does not say whether schema1 is supported.", evidence=ev, refs=refs)]


def check_old_clients(scan: Any, findings: list[Finding]) -> list[Finding]:
    """Who will fail: old Docker clients seen in the logs against what config and the live probe said."""
    refs = (SEED_SCHEMA1,)
    ids = {f.id for f in findings}
    refused = "schema1.live.refused" in ids or (
        "schema1.config.disabled" in ids and "schema1.live.accepted" not in ids)
    accepted = "schema1.live.accepted" in ids or ("schema1.config.enabled" in ids and not refused)
    mismatch = [f for f in (("schema1.config.enabled", "schema1.live.refused"),
                            ("schema1.config.disabled", "schema1.live.accepted")) if set(f) <= ids]
    out: list[Finding] = []
    if mismatch:
        out.append(Finding("schema1.config_mismatch", Status.WARN, "The config file and the running registry disagree",
                           detail=f"{mismatch[0][0]} but {mismatch[0][1]}: the config given is not the one in effect "
                           "(not reloaded since the change, an environment override, or another file).",
                           evidence={"config": mismatch[0][0], "live": mismatch[0][1]},
                           remedy="Restart the registry after changing config.yml (Omnibus: `gitlab-ctl reconfigure`).",
                           refs=refs))
    stats = getattr(scan, "stats", {}) if scan is not None else {}
    old = stats.get("old-docker-client") if stats else None
    versions = sorted(old.fields.get("docker_version", {})) if old is not None and old.count else []
    if scan is None or not getattr(scan, "paths", None):
        out.append(Finding("schema1.old_clients.not_checked", Status.SKIP, "Old clients not looked for: no logs",
                           detail="Give `log_paths` (registry or NGINX access logs) to find Docker 1.9 and older user "
                           "agents.", refs=refs))
        return out
    ev = {"docker_versions": versions, "requests": old.count if old is not None else 0,
          "examples": list(old.examples[:3]) if old is not None else []}
    if not versions:
        out.append(Finding("schema1.old_clients.none", Status.OK, "No Docker 1.9 or older client in the logs",
                           detail="No user agent `docker/1.9` or older in the scanned logs"
                           + ("; they would fail to push here (schema1 is refused)." if refused else "."), evidence=ev,
                           refs=refs))
    elif refused:
        out.append(Finding(
            "schema1.old_clients.refused", Status.FAIL,
            f"Docker {', '.join(versions[:5])} clients push here and schema1 is refused",
            detail=f"{ev['requests']} request(s) came from Docker {', '.join(versions[:5])}: these clients push schema1 "
            "manifests only, which this registry refuses, so their pushes fail.", evidence=ev, remedy=REMEDY, refs=refs))
    else:
        out.append(Finding("schema1.old_clients.supported", Status.OK,
                           f"Docker {', '.join(versions[:5])} clients seen; schema1 is accepted",
                           detail="Old clients can push" + (" (schema1 enabled)." if accepted else "."), evidence=ev, refs=refs))
    return out
