"""The read-only pull path: fetch an existing blob the way a client does, redirects included, and name the
hop that refuses it. No canary, nothing written: a storage 403 behind a presigned redirect shows up here.

Docker HEADs then GETs a layer at ``/v2/<name>/blobs/<digest>``; with ``storage.redirect`` on, the
registry answers 307 to a presigned storage URL that the client fetches *without* the registry token. A
403 there comes from the storage (S3 ``AccessDenied``), which the registry never logs.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import httpx

from ..findings import Finding, Status
from .endpoint import RegistryEndpoint
from .hops import SEED_403, SEED_PUSH, analyse_hops
from .push import MAX_REDIRECTS, _Canary

MANIFEST_ACCEPT = ", ".join((
    "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json"))


def _json(r: httpx.Response | None) -> Any:
    if r is None or r.status_code != 200:
        return None
    try:
        return r.json()
    except ValueError:
        return None


def _pick_blob(probe: _Canary, repository: str) -> str:
    """A layer (or config) digest of the first tag of ``repository``, via its manifest (an index's first entry)."""
    tags = _json(probe.send("list tags", "GET", f"{probe.base}/v2/{repository}/tags/list", keep_body=True))
    names = [t for t in (tags or {}).get("tags") or [] if isinstance(t, str)] if isinstance(tags, dict) else []
    if not names:
        return ""
    ref = names[0]
    for _ in range(2):  # an index points at a platform manifest
        m = _json(probe.send("read manifest", "GET", f"{probe.base}/v2/{repository}/manifests/{ref}",
                             headers={"Accept": MANIFEST_ACCEPT}, keep_body=True))
        if not isinstance(m, dict):
            return ""
        if isinstance(m.get("manifests"), list) and m["manifests"]:
            ref = str(m["manifests"][0].get("digest", ""))
            continue
        layers = [x.get("digest") for x in m.get("layers") or [] if isinstance(x, dict)]
        config = (m.get("config") or {}).get("digest") if isinstance(m.get("config"), dict) else None
        return str((layers or [config])[0] or "")
    return ""


def check_pull_path(client: httpx.Client, endpoint: RegistryEndpoint, repository: str = "") -> list[Finding]:
    """HEAD and GET one existing blob as a client would (following storage redirects without the registry
    token) and attribute any refusal to the hop that answered: registry, proxy, storage or CDN."""
    refs = (SEED_403, SEED_PUSH)
    if not endpoint.url:
        return [Finding("pull.not_run", Status.SKIP, "Pull path not checked: no registry_url", refs=refs)]
    base = endpoint.base
    probe = _Canary(client, base, repository or "", "")
    scope = "registry:catalog:*" + (f" repository:{repository}:pull" if repository else "")
    if not probe.login_as(endpoint, scope=scope):
        return [Finding("pull.not_run", Status.SKIP, "Pull path not checked: no read token",
                        detail=f"{probe.result.auth_failure}. The token flow step says why.", evidence=probe.result.evidence(), refs=refs)]
    if not repository:
        answer = probe.send("catalog", "GET", f"{base}/v2/_catalog", params={"n": "20"}, keep_body=True)
        catalog = _json(answer)
        repos = [r for r in (catalog or {}).get("repositories") or [] if isinstance(r, str)] if isinstance(catalog, dict) else []
        if not repos:
            why = ("the catalog lists no repository this token may see (only administrators read the catalog)"
                   if answer is not None and answer.status_code == 200 else
                   f"the catalog answered {answer.status_code if answer is not None else 'nothing'}"
                   + (" (the registry refused the token: see the token flow step)"
                      if answer is not None and answer.status_code == 401 else ""))
            return [Finding("pull.not_run", Status.SKIP, "Pull path not checked: no repository to read",
                            detail=f"{why[0].upper()}{why[1:]}.", evidence=probe.result.evidence(), refs=refs)]
        repository = repos[0]
        probe.result.repository = repository
        if not probe.login_as(endpoint, scope=f"repository:{repository}:pull"):
            return [Finding("pull.not_run", Status.SKIP, f"Pull path not checked: no pull token for {repository}",
                            detail=probe.result.auth_failure, evidence=probe.result.evidence(), refs=refs)]
    digest = _pick_blob(probe, repository)
    if not digest:
        return [Finding("pull.not_run", Status.SKIP, f"Pull path not checked: no blob found in {repository}",
                        detail="Its first tag's manifest could not be read (see the hop trace).", evidence=probe.result.evidence(), refs=refs)]
    outcome: dict[str, int | None] = {}
    for method in ("HEAD", "GET"):
        url = f"{base}/v2/{repository}/blobs/{digest}"
        r = None
        for hop in range(MAX_REDIRECTS + 1):
            r = probe.send(f"{method} blob" + (f" (redirect {hop})" if hop else ""), method, url,
                           keep_body=False, headers={"Range": "bytes=0-1023"} if method == "GET" else None)
            if r is not None and r.is_redirect and r.headers.get("location"):
                url = urljoin(str(r.request.url), r.headers["location"])
                continue
            break
        outcome[method] = r.status_code if r is not None else None
    ev = {**probe.result.evidence(), "blob": digest}
    found = [f for f in analyse_hops(probe.result.hops, endpoint.url, probe.result.realm, source="pull path")
             if f.id != "hops.ok"]
    if all(code in (200, 206) for code in outcome.values()):
        redirected = any(h.status in (301, 302, 303, 307, 308) for h in probe.result.hops)
        found.insert(0, Finding("pull.ok", Status.OK, f"A blob of {repository} reads back"
                                + (" through the storage redirect" if redirected else ""),
                                detail=f"HEAD and GET of {digest[:19]}… answered {outcome['HEAD']} / {outcome['GET']}"
                                + (", following the redirect to storage without the registry token, as Docker "
                                   "does." if redirected else "."), evidence=ev, refs=refs))
    elif not found:
        found.append(Finding("pull.failed", Status.FAIL, f"Reading a blob of {repository} failed",
                             detail=f"HEAD answered {outcome['HEAD']}, GET {outcome['GET']}; no known hop pattern explains "
                             "it: read the hop trace.", evidence=ev, refs=refs))
    return found
