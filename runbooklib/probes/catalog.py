"""Do any repositories list a tag with an empty name? The registry's own view, repository by repository.

The empty tag (`""` in `tags/list`) breaks GitLab's tag listing and cleanup; it comes from zero-byte
"directory marker" objects in S3 (see `empty-name-tags`). Triage samples the catalog to notice it.
"""

from __future__ import annotations

import httpx

from ..findings import Finding, Status
from .endpoint import RegistryEndpoint
from .registry_tags import RegistryTags
from .auth import request_token
from .http import exchange

SEED_EMPTY = "Tags with an empty name"


def check_empty_tag_names(client: httpx.Client, endpoint: RegistryEndpoint, limit: int = 100) -> list[Finding]:
    """`tags/list` of up to ``limit`` catalog repositories; any `""` tag is a fail naming the repositories."""
    refs = (SEED_EMPTY,)
    if not endpoint.url:
        return [Finding("tags.not_checked", Status.SKIP, "Empty tag names not checked: no registry_url", refs=refs)]
    reader = RegistryTags(client, endpoint.url, endpoint.username, endpoint.password, endpoint.service,
                          endpoint.realm_url)
    problem = reader.discover()
    if problem:
        return [Finding("tags.not_checked", Status.SKIP, "Empty tag names not checked", detail=problem, refs=refs)]
    headers = {}
    if reader.realm and not reader.is_open:
        answer = request_token(client, reader.realm, endpoint.service, "registry:catalog:*", endpoint.username,
                               endpoint.password,
                               allow_insecure_realm=endpoint.allow_insecure_realm)
        if not answer.token:
            why = answer.problem if answer.problem.startswith("credentials withheld") else "see the token flow above"
            return [Finding("tags.not_checked", Status.SKIP, "Empty tag names not checked: no catalog token",
                            detail=f"The realm gave no token for `registry:catalog:*` ({why}).", refs=refs)]
        token = answer.token
        headers["Authorization"] = f"Bearer {token}"
    ex = exchange(client, "GET", endpoint.base + f"/v2/_catalog?n={limit}", headers=headers)
    if not ex.ok or ex.response is None or ex.response.status_code != 200:
        status = ex.response.status_code if ex.response is not None else ex.failure.kind if ex.failure else "?"
        return [Finding("tags.not_checked", Status.SKIP, "Empty tag names not checked: catalog not readable",
                        detail=f"`/v2/_catalog` answered {status}: GitLab grants the catalog to administrators only. "
                        "Run `empty-name-tags` with S3 access to check every repository.", refs=refs)]
    try:
        repositories = [str(r) for r in (ex.response.json().get("repositories") or [])][:limit]
    except (ValueError, AttributeError):
        repositories = []
    answers = reader.tags_of(repositories)
    empty = sorted(name for name, a in answers.items() if a.tags is not None and "" in a.tags)
    ev = {"repositories_checked": len(answers), "with_empty_tag": empty}
    if empty:
        return [Finding("tags.empty_name", Status.FAIL, f"{len(empty)} repositor{'y lists' if len(empty) == 1 else 'ies list'} a tag with an empty name",
                        detail=f"`tags/list` shows `\"\"` for: {', '.join(empty[:10])}. Zero-byte marker objects in the bucket "
                        "produce it (on registry 2.8 the one at `<name>/_manifests/tags/`).", evidence=ev,
                        remedy="Run `empty-name-tags`: it finds every marker, plans their deletion and applies it only with "
                        "the plan's digest, then re-checks `tags/list`.", refs=refs)]
    return [Finding("tags.no_empty_name", Status.OK, "No empty tag names",
                    detail=f"`tags/list` of {len(answers)} catalog repositor{'y' if len(answers) == 1 else 'ies'} shows no `\"\"` tag.",
                    evidence=ev, refs=refs)]
