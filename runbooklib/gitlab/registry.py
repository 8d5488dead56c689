"""Does GitLab see the tags the registry holds? ``/v2/<name>/tags/list`` beside GitLab's tag list.

GitLab's cleanup reads tags from the registry; when the two disagree (GitLab cannot reach or authenticate to
the registry, or a repository exists only in GitLab's database) the policy works on the wrong list.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from ..findings import Finding, Status
from ..probes.api import parse_bearer_challenge
from ..probes.auth import request_token, show_origin, url_origin
from ..probes.endpoint import RegistryEndpoint
from ..probes.http import exchange
from .client import SEED_CLEANUP
from .inventory import Inventory

REFS = (SEED_CLEANUP,)


@dataclass
class RegistryTags:
    """Tags of one repository straight from the registry; ``error`` says why there are none."""

    path: str
    tags: list[str] | None
    error: str = ""
    status: int | None = None


def registry_tags(client: httpx.Client, endpoint: RegistryEndpoint, path: str, max_pages: int = 100) -> RegistryTags:
    """``GET /v2/<path>/tags/list`` the way a client does: challenge, token for ``repository:<path>:pull``,
    then the list (following the registry's ``Link`` pagination)."""
    base = endpoint.base
    url = f"{base}/v2/{path}/tags/list"
    first = exchange(client, "GET", url)
    if not first.ok or first.response is None:
        return RegistryTags(path, None, f"{first.failure.kind}: {first.failure.message}" if first.failure else "no answer")
    headers: dict[str, str] = {}
    response = first.response
    if response.status_code == 401:
        challenge = parse_bearer_challenge(response.headers.get("www-authenticate", "")) or {}
        realm = challenge.get("realm", "")
        if not realm:
            return RegistryTags(path, None, "401 without a Bearer challenge", 401)
        # the challenge's service first: this path always asked for the service the registry names
        answer = request_token(client, realm, challenge.get("service") or endpoint.service, f"repository:{path}:pull",
                               endpoint.username, endpoint.password)
        if answer.status != 200:
            return RegistryTags(path, None, f"token realm answered {answer.status or answer.problem}", answer.status)
        token = answer.token
        if not token:
            return RegistryTags(path, None, "token realm gave no token", answer.status)
        headers = {"Authorization": f"Bearer {token}"}
        again = exchange(client, "GET", url, headers=headers)
        if not again.ok or again.response is None:
            return RegistryTags(path, None, f"{again.failure.kind}: {again.failure.message}" if again.failure else "")
        response = again.response
    tags: list[str] = []
    for _ in range(max_pages):
        if response.status_code == 404:
            return RegistryTags(path, None, "the registry has no such repository (NAME_UNKNOWN)", 404)
        if response.status_code != 200:
            return RegistryTags(path, None, f"registry answered {response.status_code}: {response.text[:120]}",
                                response.status_code)
        try:
            tags.extend(response.json().get("tags") or [])
        except (ValueError, AttributeError):
            return RegistryTags(path, None, "tags/list answer is not JSON", response.status_code)
        nxt = response.links.get("next", {}).get("url") if response.headers.get("link") else None
        if not nxt:
            break
        target = str(httpx.URL(base).join(nxt))
        if url_origin(target) != url_origin(base):  # the Bearer token belongs to the registry's origin only
            return RegistryTags(path, sorted(tags), f"pagination stopped: the next page is on another origin "
                                f"({show_origin(url_origin(target))}); the token is not sent there", 200)
        ex = exchange(client, "GET", target, headers=headers)
        if not ex.ok or ex.response is None:
            return RegistryTags(path, None, "pagination failed")
        response = ex.response
    return RegistryTags(path, sorted(tags), "", 200)


def check_registry_tags(client: httpx.Client, endpoint: RegistryEndpoint, inv: Inventory) -> list[Finding]:
    """For each repository GitLab lists, compare its tags with the registry's own ``tags/list``."""
    if not endpoint.url:
        return [Finding("cleanup.registry_not_compared", Status.SKIP, "Registry tags not compared",
                        detail="Give `registry_url` (and `username`/`password`) to compare GitLab's tags with the registry's.", refs=REFS)]
    if not inv.repositories:
        return []
    rows: dict[str, Any] = {}
    differ: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for repo in inv.repositories:
        got = registry_tags(client, endpoint, repo.path)
        gitlab = sorted(t.name for t in repo.tags)
        if got.tags is None:
            errors[repo.path] = got.error
            continue
        only_gitlab = sorted(set(gitlab) - set(got.tags))
        only_registry = sorted(set(got.tags) - set(gitlab))
        rows[repo.path] = {"gitlab": len(gitlab), "registry": len(got.tags)}
        if only_gitlab or only_registry:
            differ[repo.path] = {"only_in_gitlab": only_gitlab[:50], "only_in_registry": only_registry[:50]}
    out = []
    if differ:
        out.append(Finding(
            "cleanup.registry_tags_differ", Status.WARN, "GitLab and the registry list different tags",
            detail="GitLab's cleanup works on the tags GitLab gets from the registry. A difference means GitLab reads "
            "another registry, reads it only partly (errors or timeouts), or the list changed meanwhile.",
            evidence={"repositories": differ, "counts": rows},
            remedy="Check gitlab.yml `registry.api_url` points at this registry and that GitLab can authenticate to it "
            "(Rails logs: `ContainerRegistry::Client` errors); rerun to rule out pushes during the run.", refs=REFS))
    if errors:
        out.append(Finding(
            "cleanup.registry_tags_unreadable", Status.WARN,
            f"Could not read tags/list from the registry for {len(errors)} repositor{'y' if len(errors) == 1 else 'ies'}",
            detail="; ".join(f"{p}: {e}" for p, e in list(errors.items())[:5]),
            evidence={"repositories": errors},
            remedy="A repository GitLab lists but the registry does not know (NAME_UNKNOWN) was lost from storage or "
            "lives in another registry; credentials problems show as realm errors (run `triage`).", refs=REFS))
    if not out:
        out.append(Finding("cleanup.registry_tags_match", Status.OK, "GitLab and the registry list the same tags",
                           detail=f"Compared {len(rows)} repositor{'y' if len(rows) == 1 else 'ies'} with `/v2/<name>/tags/list`.",
                           evidence={"counts": rows}, refs=REFS))
    return out
