"""Group, project, image and branch paths that break Docker (seed: "Docker connection error").

An image's name in GitLab's registry is the project's full path (lowercased) plus optional image names:
``<group>/<subgroup>/<project>/<image>``. Docker and the registry accept each path component only if it
matches the Distribution grammar ``[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*`` and the whole name is at most
255 characters; tags must match ``[\\w][\\w.-]{0,127}``. GitLab allowed (and on older projects still has)
paths the grammar refuses: a leading underscore, a trailing hyphen, a double hyphen, uppercase letters.
CI jobs that put ``$CI_COMMIT_REF_NAME`` (the branch name) into an image name or tag break the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..findings import Finding, Status
from .client import GitLabClient, GitLabError, error_finding, registry_enabled

SEED_NAMING = "Docker connection error"
REFS = (SEED_NAMING,)

COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*")
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
NAME_MAX = 255
TAG_MAX = 128
SLUG_MAX = 63

RULES: dict[str, tuple[Status, str]] = {
    "leading_underscore": (Status.FAIL, "starts with an underscore"),
    "leading_separator": (Status.FAIL, "starts with a hyphen or period"),
    "trailing_hyphen": (Status.FAIL, "ends with a hyphen"),
    "trailing_separator": (Status.FAIL, "ends with an underscore or period"),
    "double_hyphen": (Status.WARN, "contains a double hyphen"),
    "uppercase": (Status.WARN, "contains uppercase letters"),
    "grammar": (Status.FAIL, "is not a valid image name component"),
    "too_long": (Status.FAIL, f"makes the image name longer than {NAME_MAX} characters"),
    "tag_invalid": (Status.WARN, "is not a valid image tag"),
}
TITLES = {
    "leading_underscore": "Paths starting with an underscore",
    "leading_separator": "Paths starting with a hyphen or period",
    "trailing_hyphen": "Paths ending with a hyphen",
    "trailing_separator": "Paths ending with an underscore or period",
    "double_hyphen": "Paths with a double hyphen",
    "uppercase": "Paths with uppercase letters",
    "grammar": "Paths outside Docker's name grammar",
    "too_long": f"Image names longer than {NAME_MAX} characters",
}


@dataclass(frozen=True)
class Violation:
    """One rule one path breaks, and the fix."""

    kind: str  # group | project | image | branch
    project: str  # the project it was found through
    path: str  # the offender: a group/project/image full path, or a branch name
    component: str  # the offending part
    use: str  # "registry path", "image path", "tag"
    rule: str
    detail: str
    fix: str

    @property
    def status(self) -> Status:
        return RULES[self.rule][0]


def ref_slug(ref: str) -> str:
    """What GitLab CI puts in ``CI_COMMIT_REF_SLUG``: lowercased, every char outside ``0-9a-z`` replaced by
    ``-``, at most 63 bytes, no leading or trailing ``-``."""
    slug = re.sub(r"[^0-9a-z]", "-", ref.lower())[:SLUG_MAX]
    return slug.strip("-")


def component_rules(component: str) -> list[tuple[str, str]]:
    """Rules a path component breaks, each with a plain explanation (empty: fine for Docker)."""
    found: list[tuple[str, str]] = []
    if any(c.isupper() for c in component):
        found.append(("uppercase", "Docker refuses uppercase repository names; GitLab lowercases the registry path, "
                                   "so the path as typed (not `$CI_REGISTRY_IMAGE`) fails"))
    low = component.lower()
    if low.startswith("_"):
        found.append(("leading_underscore", "a name component must start with a letter or digit"))
    elif low[:1] in ("-", "."):
        found.append(("leading_separator", "a name component must start with a letter or digit"))
    if low.endswith("-"):
        found.append(("trailing_hyphen", "a name component must end with a letter or digit"))
    elif low[-1:] in ("_", "."):
        found.append(("trailing_separator", "a name component must end with a letter or digit"))
    if "--" in low:
        found.append(("double_hyphen", "Distribution 2.x accepts repeated hyphens, but older Docker clients and "
                                       "registries allowed only single separators (GitLab's documentation lists it as a cause)"))
    specific = {r for r, _ in found} - {"uppercase", "double_hyphen"}
    if low and not specific and not COMPONENT.fullmatch(low):
        found.append(("grammar", f"must match `{COMPONENT.pattern}` (letters, digits, and single `.`/`_`, `__` "
                                 "or hyphens between them)"))
    if not low:
        found.append(("grammar", "empty path component"))
    return found


def tag_rules(tag: str) -> list[str]:
    """Why ``tag`` is not a valid image tag (empty: valid)."""
    reasons = []
    if len(tag) > TAG_MAX:
        reasons.append(f"longer than {TAG_MAX} characters")
    if tag[:1] in (".", "-"):
        reasons.append("starts with a period or hyphen")
    bad = sorted({c for c in tag if not (c.isascii() and (c.isalnum() or c in "_.-"))})
    if bad:
        reasons.append("contains " + " ".join(repr(c) for c in bad))
    if not tag:
        reasons.append("is empty")
    return reasons


_FIX_GROUP = ("Change the group's path (Group > Settings > General > Advanced > Change group URL). GitLab refuses "
              "to move or rename a namespace whose projects hold container images: delete or move the images "
              "first, then push them again under the new path.")
_FIX_PROJECT = ("Change the project's path (Settings > General > Advanced > Change path). Projects that hold "
                "container images cannot be renamed: delete the images first, rename, then push again.")
_FIX_IMAGE = "Push the image under a name made of lowercase letters, digits and single separators."
_PUSH_RULE = r"`^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$`"


def _fix_branch(branch: str) -> str:
    return (f"Rename the branch, or build image names and tags from `$CI_COMMIT_REF_SLUG` (`{ref_slug(branch)}`) "
            f"instead of `$CI_COMMIT_REF_NAME`. To stop such names for good add a push rule "
            f"(Settings > Repository > Push rules, or Admin > Push rules for the whole instance) with the branch "
            f"name regex {_PUSH_RULE}.")


_FIX_UPPER = ("Refer to images in lowercase: `$CI_REGISTRY_IMAGE` is already lowercased, so use it (or the "
              "lowercased path) in `docker build/push/pull` instead of the path as typed. Renaming the path to "
              "lowercase removes the trap for good.")


def path_violations(kind: str, project: str, full_path: str, component: str, use: str = "registry path") -> list[Violation]:
    fix = {"group": _FIX_GROUP, "project": _FIX_PROJECT}.get(kind, _FIX_IMAGE)
    return [Violation(kind, project, full_path, component, use, rule, f"{component!r} {RULES[rule][1]}: {why}",
                      _FIX_UPPER if rule == "uppercase" and kind != "image" else fix)
            for rule, why in component_rules(component)]


def branch_violations(project: str, branch: str) -> list[Violation]:
    """A branch name breaks Docker when a CI job puts it in a tag or in an image path."""
    out: list[Violation] = []
    fix = _fix_branch(branch)
    reasons = tag_rules(branch)
    if reasons:
        out.append(Violation("branch", project, branch, branch, "tag", "tag_invalid",
                             f"as an image tag (`image:$CI_COMMIT_REF_NAME`) {branch!r} " + ", ".join(reasons), fix))
    for part in branch.split("/"):
        for rule, why in component_rules(part):
            out.append(Violation("branch", project, branch, part, "image path", rule,
                                 f"in an image path (`$CI_REGISTRY_IMAGE/$CI_COMMIT_REF_NAME`) {part!r} "
                                 f"{RULES[rule][1]}: {why}", fix))
    return out


def project_violations(project: dict[str, Any], image_paths: Iterable[str] = (),
                       branches: Iterable[str] = ()) -> list[Violation]:
    """Every rule broken by a project's namespace chain, its own path, its images and its branches."""
    full = str(project.get("path_with_namespace") or project.get("path") or "")
    parts = full.split("/")
    out: list[Violation] = []
    for i, part in enumerate(parts):
        kind = "project" if i == len(parts) - 1 else "group"
        out.extend(path_violations(kind, full, "/".join(parts[: i + 1]), part))
    if len(full) > NAME_MAX:
        out.append(Violation("project", full, full, full, "registry path", "too_long",
                             f"the project path alone is {len(full)} characters", _FIX_PROJECT))
    prefix = full.lower() + "/"
    for image in image_paths:
        rest = image[len(prefix):] if image.lower().startswith(prefix) else ""
        for part in [p for p in rest.split("/") if p]:
            out.extend(path_violations("image", full, image, part, "image path"))
        if len(image) > NAME_MAX:
            out.append(Violation("image", full, image, image, "image path", "too_long",
                                 f"{len(image)} characters", _FIX_IMAGE))
    for branch in branches:
        out.extend(branch_violations(full, branch))
    return out


@dataclass
class NamingScan:
    """Projects scanned (registry enabled), those skipped, every violation, and API findings."""

    scope: str
    projects: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    branches: int = 0


def scan_paths(gl: GitLabClient, project: str = "", group: str = "", branches: bool = True,
               progress: bool = True) -> NamingScan:
    """Scan one project and/or every project of a group (subgroups included); with neither, every project
    the token can see. Projects with the registry disabled are skipped."""
    scope = " + ".join(filter(None, [f"group {group}" if group else "", f"project {project}" if project else ""]))
    scan = NamingScan(scope or "all visible projects")
    if not gl.api_url:
        scan.findings.append(error_finding(GitLabError("not_configured", "no gitlab_api_url given"), "GitLab API",
                                           refs=REFS))
        return scan
    found: dict[int, dict[str, Any]] = {}
    try:
        if group:
            gl.group(group)
            for p in gl.group_projects(group):
                found[int(p["id"])] = p
        if project:
            p = gl.project(project)
            found[int(p["id"])] = p
        if not group and not project:
            for p in gl.projects():
                found[int(p["id"])] = p
    except GitLabError as err:
        scan.findings.append(gl.finding(err, scan.scope, "naming.not_scanned", refs=REFS))
        return scan
    from tqdm import tqdm

    seen: set[tuple[str, str, str, str]] = set()
    for p in tqdm(sorted(found.values(), key=lambda p: str(p.get("path_with_namespace"))), desc="projects",
                  unit="project", disable=not progress, leave=False, delay=2):
        full = str(p.get("path_with_namespace", ""))
        if not registry_enabled(p):
            scan.skipped.append(full)
            continue
        scan.projects.append(full)
        images: list[str] = []
        names: list[str] = []
        try:
            images = [str(r.get("path", "")) for r in gl.registry_repositories(p["id"], tags_count=False)]
            if branches:
                names = [str(b.get("name", "")) for b in gl.branches(p["id"])]
        except GitLabError as err:
            scan.findings.append(gl.finding(err, f"project {full}", "naming.project_not_read", "naming", refs=REFS))
        scan.branches += len(names)
        for v in project_violations(p, images, names):
            key = (v.kind, v.path, v.rule, v.use) if v.kind in ("group", "image") else (v.kind, v.project + "@" + v.path, v.rule, v.use)
            if key not in seen:  # a bad group is reported once, however many projects it holds
                seen.add(key)
                scan.violations.append(v)
    return scan


def offending_paths(scan: NamingScan) -> list[str]:
    """Every offender once: group, project and image paths; branches as ``project@branch``."""
    out = {v.path if v.kind != "branch" else f"{v.project}@{v.path}" for v in scan.violations}
    return sorted(out)


def naming_table(scan: NamingScan, kinds: tuple[str, ...] = ("group", "project", "image", "branch")):
    """One row per offender and rule: what, where, why, and the fix."""
    from .tables import table

    rows = [{"kind": v.kind, "path": v.path, "project": v.project, "component": v.component, "use": v.use,
             "rule": v.rule, "status": v.status.value, "detail": v.detail, "fix": v.fix}
            for v in scan.violations if v.kind in kinds]
    return table(rows, ["kind", "path", "project", "component", "use", "rule", "status", "detail", "fix"])


def check_naming(scan: NamingScan) -> list[Finding]:
    """One finding per rule broken (offenders in the evidence), branches apart; OK when nothing breaks."""
    out = list(scan.findings)
    if not scan.projects and not scan.violations:
        if not scan.findings:
            out.append(Finding("naming.nothing_scanned", Status.SKIP, "No project with the registry enabled",
                               detail=f"Scope: {scan.scope}; {len(scan.skipped)} project(s) skipped (registry disabled).",
                               evidence={"skipped": scan.skipped}, refs=REFS))
        return out
    by_rule: dict[str, list[Violation]] = {}
    for v in scan.violations:
        key = f"branch.{'tag_invalid' if v.rule == 'tag_invalid' else 'path_invalid'}" if v.kind == "branch" else v.rule
        by_rule.setdefault(key, []).append(v)
    order = ["leading_underscore", "leading_separator", "trailing_hyphen", "trailing_separator", "grammar", "too_long",
             "double_hyphen", "uppercase", "branch.tag_invalid", "branch.path_invalid"]
    for key in sorted(by_rule, key=lambda k: order.index(k) if k in order else 99):
        items = by_rule[key]
        paths = sorted({v.path if v.kind != "branch" else f"{v.project}@{v.path}" for v in items})
        status = max((v.status for v in items), key=lambda s: s.severity)
        if key.startswith("branch."):
            status = Status.WARN
            title = ("Branch names that are not valid image tags" if key == "branch.tag_invalid"
                     else "Branch names that break image paths")
            remedy = ("Use `$CI_COMMIT_REF_SLUG` rather than `$CI_COMMIT_REF_NAME` in image names and tags, rename "
                      "the branches, and add a push rule with a branch name regex such as " + _PUSH_RULE +
                      " (project: Settings > Repository > Push rules; instance: Admin > Push rules).")
        else:
            title = TITLES[key]
            remedy = "\n".join(sorted({f"- {v.kind}: {v.fix}" for v in items}))
        out.append(Finding(
            f"naming.{key}", status, f"{title}: {len(paths)}",
            detail="; ".join(f"{v.kind} {v.path!r}: {v.detail}" for v in items[:8]) + (" ..." if len(items) > 8 else ""),
            evidence={"offenders": [{"kind": v.kind, "path": v.path, "project": v.project, "component": v.component,
                            "use": v.use, "slug": ref_slug(v.path) if v.kind == "branch" else None}
                           for v in items][:100], "paths": paths},
            remedy=remedy, refs=REFS))
    if not scan.violations:
        out.append(Finding("naming.ok", Status.OK, "No path breaks Docker's naming rules",
                           detail=f"Scanned {len(scan.projects)} project(s) with the registry enabled and {scan.branches} "
                           "branch(es).", evidence={"projects": scan.projects[:100]}, refs=REFS))
    out.append(Finding("naming.scope", Status.OK if scan.projects else Status.SKIP,
                       f"Scanned {len(scan.projects)} project(s), {scan.branches} branch(es)",
                       detail=f"Scope: {scan.scope}. Skipped {len(scan.skipped)} project(s) with the registry disabled.",
                       evidence={"projects": scan.projects[:200], "skipped": scan.skipped[:200]}, refs=REFS))
    return out
