"""What the registry itself says about a repository's tags: `GET /v2/<name>/tags/list` through the token flow.

The S3 layout predicts which repositories show an empty tag; this asks the registry, the way a client
does (challenge -> realm -> token for ``repository:<name>:pull`` -> tags/list), so a fix is confirmed by
the registry and not only by the bucket.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Iterable

import httpx

from .api import parse_bearer_challenge
from .auth import request_token
from .endpoint import RegistryEndpoint
from .http import exchange


@dataclass(frozen=True)
class TagsAnswer:
    """The registry's answer for one repository: its tags, or why there are none to show."""

    repository: str
    status: int | None
    tags: tuple[str, ...] | None
    error: str = ""

    @property
    def has_empty_tag(self) -> bool:
        return self.tags is not None and "" in self.tags

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"repository": self.repository, "status": self.status}
        if self.tags is not None:
            d["tags"] = list(self.tags[:20]) + (["…"] if len(self.tags) > 20 else [])
            d["empty_tag"] = self.has_empty_tag
        if self.error:
            d["error"] = self.error
        return d


class RegistryTags:
    """Reads ``tags/list`` for repositories with a pull token each (the realm from the registry's challenge)."""

    def __init__(self, http: httpx.Client, registry_url: str, username: str = "", password: str = "",
                 service: str = "container_registry", realm_url: str = "", workers: int = 8) -> None:
        self.http = http
        self.base = registry_url.rstrip("/")
        self.username, self.password = username, password
        self.service, self.realm = service or "container_registry", realm_url
        self.workers = workers
        self._lock = threading.Lock()
        self._challenge_checked = bool(realm_url)
        self._open = False  # the registry answered /v2/ without authentication

    def __repr__(self) -> str:
        return f"RegistryTags({self.base!r}, user={self.username!r})"

    def discover(self) -> str:
        """Read the registry's challenge once (realm, or open registry); '' or what went wrong."""
        return self._discover()

    @property
    def is_open(self) -> bool:
        """The registry answered /v2/ without authentication."""
        return self._open

    def _discover(self) -> str:
        with self._lock:
            if self._challenge_checked:
                return ""
            self._challenge_checked = True
        ex = exchange(self.http, "GET", f"{self.base}/v2/")
        if not ex.ok or ex.response is None:
            return f"registry unreachable: {ex.failure.kind}: {ex.failure.message}" if ex.failure else "unreachable"
        if ex.response.status_code == 200:
            self._open = True
            return ""
        challenge = parse_bearer_challenge(ex.response.headers.get("www-authenticate", "")) or {}
        self.realm = challenge.get("realm", "")
        if not self.realm:
            return f"/v2/ answered {ex.response.status_code} without a Bearer challenge"
        return ""

    def _token(self, repository: str) -> tuple[str, str]:
        answer = request_token(self.http, self.realm, self.service, f"repository:{repository}:pull",
                               self.username, self.password)
        return answer.token, answer.problem

    def tags(self, repository: str) -> TagsAnswer:
        problem = self._discover()
        if problem:
            return TagsAnswer(repository, None, None, problem)
        headers = {}
        if not self._open and self.realm:
            token, problem = self._token(repository)
            if problem:
                return TagsAnswer(repository, None, None, problem)
            headers["Authorization"] = f"Bearer {token}"
        ex = exchange(self.http, "GET", f"{self.base}/v2/{repository}/tags/list", headers=headers)
        if not ex.ok or ex.response is None:
            return TagsAnswer(repository, None, None, f"{ex.failure.kind}: {ex.failure.message}" if ex.failure else "")
        r = ex.response
        if r.status_code != 200:
            return TagsAnswer(repository, r.status_code, None, r.text[:200])
        try:
            body = r.json()
        except ValueError:
            return TagsAnswer(repository, r.status_code, None, "tags/list answer is not JSON")
        tags = body.get("tags") if isinstance(body, dict) else None
        return TagsAnswer(repository, r.status_code, tuple(str(t) for t in (tags or [])))

    def tags_of(self, repositories: Iterable[str]) -> dict[str, TagsAnswer]:
        """tags/list of several repositories, a bounded pool at a time."""
        names = sorted(set(repositories))
        if not names:
            return {}
        self._discover()
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(names))), thread_name_prefix="tags") as pool:
            return dict(zip(names, pool.map(self.tags, names)))


def registry_tags(http: httpx.Client, endpoint: RegistryEndpoint) -> RegistryTags | None:
    """A tags reader for the notebook; None when no `registry_url` is given (confirmation is then skipped)."""
    if not endpoint.url:
        return None
    return RegistryTags(http, endpoint.url, endpoint.username, endpoint.password, endpoint.service, endpoint.realm_url)
