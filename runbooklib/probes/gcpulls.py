"""Do tagged images still pull? What a client does, read-only: ``tags/list``, then each tag's manifest, each
platform manifest of an index by digest, and a HEAD of every config and layer. After a garbage collection
that removed referenced content, tags are still listed while their manifests (``MANIFEST_UNKNOWN``) or
blobs (``BLOB_UNKNOWN``) are gone; this names each broken tag and the digests it misses.
"""

from __future__ import annotations

from typing import Any

import httpx

from ..findings import Finding, Status
from .endpoint import RegistryEndpoint
from .hops import error_code_of
from .pull import MANIFEST_ACCEPT, _json
from .push import _Canary

SECTION = "Beyond the troubleshooting page: garbage collection that broke pulls"
MAX_REPOSITORIES = 20
MAX_TAGS = 20


def _missing(probe: _Canary, base: str, repo: str, tag: str, out: list[dict[str, Any]]) -> int:
    """Walk one tag like a pull; append a row per missing piece; return how many requests it took."""
    requests = 0

    def get_manifest(ref: str) -> tuple[int | None, Any, str]:
        nonlocal requests
        requests += 1
        r = probe.send("read manifest", "GET", f"{base}/v2/{repo}/manifests/{ref}", headers={"Accept": MANIFEST_ACCEPT},
                       keep_body=True)
        if r is None:
            return None, None, "no answer"
        return r.status_code, _json(r), error_code_of(r.content, r.headers.get("content-type", ""))

    status, manifest, code = get_manifest(tag)
    if status == 404:
        out.append({"repository": repo, "tag": tag, "missing": "manifest", "reference": tag, "status": status,
                    "error_code": code})
    if status != 200 or not isinstance(manifest, dict):
        return requests  # other answers (401, 5xx) are other runbooks' business
    images = [(tag, manifest)]
    for child in manifest.get("manifests") or []:
        digest = str(child.get("digest", "")) if isinstance(child, dict) else ""
        if not digest:
            continue
        status, body, code = get_manifest(digest)
        platform = child.get("platform") or {}
        where = f"{platform.get('os', '?')}/{platform.get('architecture', '?')}" if isinstance(platform, dict) else ""
        if status == 404:
            out.append({"repository": repo, "tag": tag, "missing": f"platform manifest {where}".strip(),
                        "reference": digest, "status": status, "error_code": code})
        if status != 200 or not isinstance(body, dict):
            continue
        images.append((digest, body))
    for ref, image in images:
        blobs = [image.get("config")] + list(image.get("layers") or [])
        for blob in blobs:
            digest = str(blob.get("digest", "")) if isinstance(blob, dict) else ""
            if not digest:
                continue
            requests += 1
            r = probe.send("HEAD blob", "HEAD", f"{base}/v2/{repo}/blobs/{digest}")
            if r is not None and r.status_code == 404:
                out.append({"repository": repo, "tag": tag, "missing": "config" if blob is blobs[0] else "layer",
                            "reference": digest, "status": 404, "error_code": "BLOB_UNKNOWN", "of": ref})
    return requests


def check_tagged_pulls(client: httpx.Client, endpoint: RegistryEndpoint,
                       repositories: list[str] | tuple[str, ...] = (), *,
                       max_repositories: int = MAX_REPOSITORIES, max_tags: int = MAX_TAGS) -> list[Finding]:
    """Every listed tag of ``repositories`` (else the catalog's first ones) walked like a pull: a tag whose
    manifest, platform manifest, config or layer is gone is a broken pull. Read-only."""
    refs = (SECTION,)
    if not endpoint.url:
        return [Finding("gc.pulls_not_checked", Status.SKIP, "Pulls not checked: no registry_url",
                        detail="Give `registry_url` as clients use it.", refs=refs)]
    base = endpoint.base
    probe = _Canary(client, base, "", "")
    repos = list(dict.fromkeys(repositories))[:max_repositories]
    if not repos:
        if not probe.login_as(endpoint, scope="registry:catalog:*"):
            return [Finding("gc.pulls_not_checked", Status.SKIP, "Pulls not checked: no token",
                            detail=f"{probe.result.auth_failure}. Give `username`/`password` of an administrator "
                                   "(to list the catalog) or `gc_output` (its repositories are read).",
                            evidence=probe.result.evidence(), refs=refs)]
        catalog = _json(probe.send("catalog", "GET", f"{base}/v2/_catalog", params={"n": str(max_repositories)},
                                   keep_body=True))
        repos = [r for r in (catalog or {}).get("repositories") or [] if isinstance(r, str)][:max_repositories] \
            if isinstance(catalog, dict) else []
        if not repos:
            return [Finding("gc.pulls_not_checked", Status.SKIP, "Pulls not checked: no repository listed",
                            detail="The catalog lists nothing for this user (only administrators read it): give "
                                   "`gc_output`, whose repositories are then checked.",
                            evidence=probe.result.evidence(), refs=refs)]
    broken: list[dict[str, Any]] = []
    checked: list[str] = []
    refused: list[str] = []
    for repo in repos:
        probe.result.repository = repo
        if not probe.login_as(endpoint, scope=f"repository:{repo}:pull"):
            refused.append(f"{repo}: {probe.result.auth_failure}")
            continue
        listing = _json(probe.send("list tags", "GET", f"{base}/v2/{repo}/tags/list", keep_body=True))
        tags = [t for t in (listing or {}).get("tags") or [] if isinstance(t, str)] if isinstance(listing, dict) else []
        for tag in sorted(t for t in tags if t)[:max_tags]:  # an empty name is empty-name-tags' business
            _missing(probe, base, repo, tag, broken)
            checked.append(f"{repo}:{tag}")
    ev: dict[str, Any] = {"checked": checked[:100], "repositories": repos}
    if refused:
        ev["not_checked"] = refused[:20]
    if broken:
        tags_broken = sorted({f"{b['repository']}:{b['tag']}" for b in broken})
        kinds = sorted({"manifest unknown" if "manifest" in b["missing"] else "blob unknown" for b in broken})
        return [Finding(
            "gc.pull_broken", Status.FAIL, f"{len(tags_broken)} listed tag(s) do not pull: {', '.join(kinds)}",
            detail=f"{', '.join(tags_broken[:5])}{' …' if len(tags_broken) > 5 else ''}: `tags/list` shows the tag, "
                   f"but {len(broken)} piece(s) of it are gone from the registry (first: "
                   f"{broken[0]['missing']} {broken[0]['reference'][:19]}… answered {broken[0]['status']}"
                   f"{' ' + broken[0]['error_code'] if broken[0]['error_code'] else ''}). Content a tag references "
                   "was deleted: garbage collection (with `--delete-untagged`, or while pushes were in flight) or a "
                   "manual deletion in storage.",
            evidence={**ev, "broken": broken[:100], "scenario": "gc-broke-pulls"},
            remedy="Restore the missing objects from bucket versioning or push the tags again; run the "
                   "`gc-broke-pulls` runbook with the GC output to see what the run deleted and why.",
            refs=refs)]
    if not checked:
        return [Finding("gc.pulls_not_checked", Status.SKIP, "Pulls not checked: no tag could be read",
                        detail="; ".join(refused[:3]) or "No repository lists a tag.", evidence=ev, refs=refs)]
    return [Finding("gc.pulls_ok", Status.OK, f"All {len(checked)} listed tag(s) pull completely",
                    detail="Each tag's manifest, every platform manifest of an index, and every config and layer "
                           "answered.", evidence=ev, refs=refs)]
