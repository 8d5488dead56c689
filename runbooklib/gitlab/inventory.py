"""A project's registry repositories and their tags with details, read through GitLab's API.

GitLab's tag list holds names only; ``created_at`` needs one details call per tag (GitLab's documentation script's
"lengthy operation"): a progress bar shows how far it got.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from ..findings import Finding, Status
from .client import SEED_CLEANUP, GitLabClient, GitLabError
from ..timebounds import parse_timestamp

REFS = (SEED_CLEANUP,)


@dataclass(frozen=True)
class TagInfo:
    """One tag as GitLab describes it; ``created_at`` None when GitLab could not read it."""

    name: str
    created_at: dt.datetime | None = None
    digest: str | None = None
    total_size: int | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> "TagInfo":
        size = data.get("total_size")
        return cls(str(data.get("name", "")), parse_timestamp(data.get("created_at")), data.get("digest"),
                   int(size) if isinstance(size, (int, float)) else None)


@dataclass
class RepositoryTags:
    """A registry repository (GitLab's JSON) and its tags; ``complete`` False when details are missing."""

    repository: dict[str, Any]
    tags: list[TagInfo] = field(default_factory=list)
    complete: bool = True

    @property
    def path(self) -> str:
        return str(self.repository.get("path", ""))

    @property
    def id(self) -> int:
        return int(self.repository.get("id", 0))


@dataclass
class Inventory:
    project: str
    repositories: list[RepositoryTags] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)

    def tag_names(self) -> list[str]:
        return sorted({t.name for r in self.repositories for t in r.tags})


def _bar(total: int, desc: str, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="tag", disable=not enabled, leave=False, mininterval=0.5, delay=2)


def fetch_inventory(gl: GitLabClient, project: str, details: bool = True, progress: bool = True,
                    per_page: int = 100) -> Inventory:
    """Every registry repository of ``project`` with its tags (and each tag's details when ``details``)."""
    inv = Inventory(project)
    if not project:
        return inv
    try:
        repos = gl.registry_repositories(project)
    except GitLabError as err:
        inv.findings.append(gl.finding(err, f"registry repositories of {project}", "cleanup.tags_not_read", refs=REFS))
        return inv
    total_tags = 0
    for repo in repos:
        entry = RepositoryTags(repo)
        inv.repositories.append(entry)
        try:
            listed = gl.tags(project, entry.id, per_page=per_page)
        except GitLabError as err:
            entry.complete = False
            inv.findings.append(gl.finding(err, f"tags of {entry.path}", "cleanup.tags_not_read", refs=REFS))
            continue
        total_tags += len(listed)
        if not details:
            entry.tags = [TagInfo(str(t.get("name", ""))) for t in listed]
            continue
        missing: list[str] = []
        bar = _bar(len(listed), entry.path or "tags", progress)
        try:
            for item in listed:
                name = str(item.get("name", ""))
                try:
                    entry.tags.append(TagInfo.from_api(gl.tag(project, entry.id, name)))
                except GitLabError as err:
                    if err.kind != "not_found":  # a tag deleted meanwhile is simply gone
                        entry.complete = False
                        inv.findings.append(gl.finding(err, f"tag {entry.path}:{name}", "cleanup.tags_not_read", refs=REFS))
                        break
                    missing.append(name)
                bar.update(1)
        finally:
            bar.close()
        if missing:
            inv.findings.append(Finding(
                "cleanup.tags_vanished", Status.OK, f"{len(missing)} tag(s) of {entry.path} vanished while reading",
                detail="Listed, then 404 on details: deleted meanwhile (a cleanup run or a user).",
                evidence={"tags": missing[:50]}, refs=REFS))
    empty = [r.path for r in inv.repositories if r.complete and not r.tags]
    if empty:
        inv.findings.append(Finding(
            "cleanup.empty_repositories", Status.WARN,
            f"GitLab lists no tags in {len(empty)} repositor{'y' if len(empty) == 1 else 'ies'}",
            detail="GitLab reads tags from the registry: an empty list means every image was deleted (the repository entry "
            "stays), or GitLab cannot read this registry (token or network errors are not shown by the API, GitLab "
            "just returns no tags). The registry comparison below tells which.",
            evidence={"repositories": empty},
            remedy="Compare with the registry's `/v2/<name>/tags/list` (give `registry_url`); check the Rails log for "
            "`ContainerRegistry` errors and that gitlab.yml `registry.api_url` and `registry.key` are right "
            "(run `token-untrusted-key` when the registry rejects GitLab's tokens).", refs=REFS))
    inv.findings.append(Finding(
        "cleanup.inventory", Status.OK if repos else Status.SKIP,
        f"{len(repos)} registry repositor{'y' if len(repos) == 1 else 'ies'}, {total_tags} tags" if repos else
        f"{project} has no registry repositories",
        detail="Read through GitLab's API (what the cleanup policy sees: GitLab asks the registry)." if repos else
        "Nothing to clean up: no image was pushed to this project's registry (or GitLab lost track of it).",
        evidence={"repositories": [{"id": r.id, "path": r.path, "tags": len(r.tags),
                           "tags_count": r.repository.get("tags_count"),
                           "cleanup_policy_started_at": r.repository.get("cleanup_policy_started_at")}
                          for r in inv.repositories]}, refs=REFS))
    return inv
