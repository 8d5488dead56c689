"""The registry's storage layout in S3 keys (Distribution 2.x), and what a zero-byte marker at each level does.

```
<root>docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/current/link
<root>docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/index/sha256/<hex>/link
<root>docker/registry/v2/repositories/<name>/_manifests/revisions/sha256/<hex>/link
<root>docker/registry/v2/repositories/<name>/_layers/sha256/<hex>/link
<root>docker/registry/v2/repositories/<name>/_uploads/<uuid>/{data,startedat,hashstates/...}
<root>docker/registry/v2/blobs/sha256/<hex[:2]>/<hex>/data
```
Repository path components never start with ``_`` (Distribution's name grammar), so the first ``/_`` in a
key below ``repositories/`` ends the repository name.
"""

from __future__ import annotations

from dataclasses import dataclass

# What a zero-byte "directory marker" at each level does, as measured on registry 2.8 (lab-facts.md).
MARKER_KINDS = {
    "tags-dir": "`<name>/_manifests/tags/`: the registry lists it as a tag with an empty name",
    "repository-root": "`<name>/` (the object GitLab's documentation says to delete): no visible effect on registry 2.8",
    "group-level": "a group/namespace level above repositories: no visible effect",
    "inside-repository": "another level inside a repository (`_manifests/`, `_layers/`, a tag folder, ...): "
                         "no visible effect on registry 2.8",
    "repositories-root": "`repositories/` itself: no visible effect",
}
EMPTY_TAG_KINDS = frozenset({"tags-dir"})


def repository_of(rel: str) -> tuple[str, str]:
    """``("group/app", "_manifests/tags/x/current/link")`` for a key relative to ``repositories/``;
    ``("", rel)`` when the key holds no reserved ``_`` level (a group or repository folder)."""
    idx = rel.find("/_")
    if idx <= 0:
        return "", rel
    return rel[:idx], rel[idx + 1:]


@dataclass(frozen=True)
class Marker:
    """A zero-byte object whose key ends in ``/`` below ``repositories/``."""

    key: str
    etag: str
    size: int
    last_modified: str
    kind: str
    repository: str  # empty for group levels and repositories/ itself

    @property
    def makes_empty_tag(self) -> bool:
        return self.kind in EMPTY_TAG_KINDS


def classify_marker(rel: str, repositories: set[str] | frozenset[str]) -> tuple[str, str]:
    """``(kind, repository)`` of a marker key relative to ``repositories/`` (it ends with ``/``)."""
    if rel == "":
        return "repositories-root", ""
    repo, inner = repository_of(rel)
    if repo:
        if inner == "_manifests/tags/":
            return "tags-dir", repo
        return "inside-repository", repo
    path = rel[:-1]
    if path in repositories:
        return "repository-root", path
    return "group-level", ""


def is_marker(key: str, size: int) -> bool:
    return size == 0 and key.endswith("/")
