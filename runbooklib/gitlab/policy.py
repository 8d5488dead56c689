"""The project's cleanup policy (``container_expiration_policy``), optional overrides, and its sanity checks.

GitLab stores: ``enabled``, ``cadence`` (1d/7d/14d/1month/3month), ``keep_n`` (1/5/10/25/50/100 or none),
``older_than`` (7d/14d/30d/90d or none), ``name_regex`` (delete), ``name_regex_keep`` and ``next_run_at``.
A background cron picks up enabled policies whose ``next_run_at`` is past and sets the next one from the
cadence. Overrides let you replay "what if" without touching GitLab.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

from ..findings import Finding, Status
from ..timebounds import parse_timestamp
from .client import SEED_CLEANUP, GitLabClient, GitLabError
from .duration import (ALLOWED_CADENCE, ALLOWED_KEEP_N, ALLOWED_OLDER_THAN, DurationError, describe_seconds,
                       parse_duration)
from .regex import gitlab_regex, has_top_level_alternation, python_accepts

REFS = (SEED_CLEANUP,)
OVERDUE_GRACE = dt.timedelta(hours=1)  # the cron worker runs hourly; later than that is worth a look

_SETTINGS_REMEDY = (
    "Change it in the project's Settings > Packages and registries > Cleanup policies (Maintainer role), or "
    "with `PUT /projects/:id` and `container_expiration_policy_attributes[...]`."
)


@dataclass(frozen=True)
class Policy:
    """A cleanup policy as GitLab stores it (after overrides, which are listed in ``overridden``)."""

    enabled: bool = False
    cadence: str | None = None
    keep_n: int | None = None
    older_than: str | None = None
    name_regex: str | None = None
    name_regex_keep: str | None = None
    next_run_at: dt.datetime | None = None
    project: str = ""
    overridden: tuple[str, ...] = ()

    @classmethod
    def from_api(cls, data: dict[str, Any], project: str = "") -> "Policy":
        keep_n = data.get("keep_n")
        return cls(
            enabled=bool(data.get("enabled")),
            cadence=data.get("cadence"),
            keep_n=int(keep_n) if keep_n not in (None, "") else None,
            older_than=data.get("older_than") or None,
            name_regex=data.get("name_regex"),
            name_regex_keep=data.get("name_regex_keep"),
            next_run_at=parse_timestamp(data.get("next_run_at")),
            project=project,
        )

    def with_overrides(self, keep_n: int | None = None, older_than: str = "", name_regex: str = "",
                       name_regex_keep: str = "") -> "Policy":
        """Parameters replace stored values; empty means "keep GitLab's value"."""
        changes: dict[str, Any] = {}
        if keep_n not in (None, ""):
            changes["keep_n"] = int(keep_n)
        if older_than:
            changes["older_than"] = older_than
        if name_regex:
            changes["name_regex"] = name_regex
        if name_regex_keep:
            changes["name_regex_keep"] = name_regex_keep
        if not changes:
            return self
        return replace(self, overridden=tuple(dict.fromkeys(self.overridden + tuple(changes))), **changes)

    @property
    def older_than_seconds(self) -> float | None:
        """Seconds, None when unset; raises DurationError when GitLab could not parse it either."""
        return parse_duration(self.older_than)

    def as_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "cadence": self.cadence, "keep_n": self.keep_n,
                "older_than": self.older_than, "name_regex": self.name_regex,
                "name_regex_keep": self.name_regex_keep,
                "next_run_at": self.next_run_at.isoformat() if self.next_run_at else None,
                "overridden": list(self.overridden)}


@dataclass
class PolicyLoad:
    """The policy read from GitLab (or None) and the findings of reading it."""

    project: str
    policy: Policy | None = None
    project_data: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)


def load_policy(gl: GitLabClient, project: str, keep_n: int | None = None, older_than: str = "",
                name_regex: str = "", name_regex_keep: str = "") -> PolicyLoad:
    """``GET /projects/:id`` → its ``container_expiration_policy`` with the given overrides applied."""
    out = PolicyLoad(project)
    if not project:
        out.findings.append(Finding("gitlab.no_project", Status.ERROR, "No project given",
                                    detail="Give `project` (full path `group/project` or the numeric id).", refs=REFS))
        return out
    try:
        data = gl.project(project)
    except GitLabError as err:
        out.findings.append(gl.finding(err, f"project {project}", "cleanup.policy_not_read", refs=REFS))
        return out
    out.project_data = data
    path = data.get("path_with_namespace") or project
    raw = data.get("container_expiration_policy")
    if not isinstance(raw, dict):
        level = data.get("container_registry_access_level") or (
            "enabled" if data.get("container_registry_enabled") else "unknown")
        out.findings.append(Finding(
            "cleanup.policy_missing", Status.WARN, f"GitLab returned no cleanup policy for {path}",
            detail="The project answer has no `container_expiration_policy`: the container registry is disabled for "
            f"the project (access level: {level}), or the token's user lacks the Maintainer role needed to "
            "see registry settings. The replay below uses only the overrides you gave.",
            evidence={"container_registry_access_level": level}, remedy="Use a Maintainer's token, or pass the policy as "
            "`policy_*` overrides.", refs=REFS))
        base = Policy(project=path)
    else:
        base = Policy.from_api(raw, path)
    out.policy = base.with_overrides(keep_n, older_than, name_regex, name_regex_keep)
    return out


def _regex_findings(policy: Policy) -> list[Finding]:
    found: list[Finding] = []
    for name in ("name_regex", "name_regex_keep"):
        pattern = getattr(policy, name)
        if not pattern:
            continue
        compiled = gitlab_regex(pattern)
        py_ok, py_error = python_accepts(pattern)
        if not compiled.ok:
            found.append(Finding(
                f"cleanup.regex_invalid.{name}", Status.FAIL, f"{name} is not a valid RE2 regex: GitLab rejects it",
                detail=f"RE2 says: {compiled.error}. GitLab compiles policy regexes with RE2 "
                "(`Gitlab::UntrustedRegexp`): the settings form refuses such a pattern, and a stored one makes the "
                "cleanup fail without deleting anything. "
                + ("Python's `re` accepts it, so it may have been tested there; RE2 has no backreferences, "
                   "lookahead/lookbehind, possessive quantifiers or `\\Z`." if py_ok else
                   f"Python's `re` rejects it too ({py_error})."),
                evidence={"pattern": pattern, "re2_error": compiled.error, "python_re_accepts": py_ok},
                remedy="Rewrite the pattern without backreferences or lookarounds (use `name_regex_keep` to exclude "
                "what a negative lookahead excluded). Test it with RE2 syntax "
                "(https://github.com/google/re2/wiki/Syntax). " + _SETTINGS_REMEDY, refs=REFS))
        if compiled.ok and has_top_level_alternation(pattern):
            found.append(Finding(
                f"cleanup.regex_alternation.{name}", Status.WARN,
                f"{name} has a top-level `|`: GitLab anchors only its first and last branch",
                detail=f"GitLab builds `{compiled.anchored}`: `\\A` binds to the first alternative and `\\z` to the last, so "
                "the first alternative matches any tag *starting* with it and the last any tag *ending* with it. "
                f"To anchor every alternative write `({pattern})`. The tags this changes are listed by the "
                "regex-semantics step.",
                evidence={"pattern": pattern, "as_gitlab_compiles": compiled.anchored,
                 "grouped": "\\A(?:" + pattern + ")\\z"},
                remedy=f"Wrap the alternation in a group: `({pattern})`. " + _SETTINGS_REMEDY, refs=REFS))
    return found


def check_policy(load: PolicyLoad, now: dt.datetime | None = None) -> list[Finding]:
    """Enabled? When does it run next (overdue)? Values GitLab accepts? Regexes valid in RE2?"""
    found = list(load.findings)
    policy = load.policy
    if policy is None:
        return found
    now = now or dt.datetime.now(dt.timezone.utc)
    ev = policy.as_dict()
    if policy.overridden:
        found.append(Finding(
            "cleanup.overrides", Status.OK, "Replaying with overridden policy values",
            detail=f"Parameters replace GitLab's {', '.join(policy.overridden)}: the replay shows what the policy would do "
            "with these values, not what GitLab does now.", evidence=ev, refs=REFS))
    if not policy.enabled:
        found.append(Finding(
            "cleanup.disabled", Status.WARN, "The cleanup policy is disabled",
            detail="`enabled: false`: GitLab never runs it, so no tag is deleted by it. The replay below still shows what "
            "it would delete if enabled.", evidence=ev,
            remedy="Enable it in Settings > Packages and registries > Cleanup policies (check the replay first). "
            "On self-managed instances created before 12.8, an administrator may also need to allow policies for "
            "existing projects.", refs=REFS))
    else:
        when = policy.next_run_at
        if when is None:
            found.append(Finding(
                "cleanup.no_next_run", Status.WARN, "Enabled, but no next run is scheduled",
                detail="`next_run_at` is empty: the scheduler sets it from the cadence when the policy is saved; an "
                "invalid stored policy (for example a regex RE2 rejects) leaves it empty.", evidence=ev,
                remedy="Save the policy again in the settings page (it validates and reschedules). " + _SETTINGS_REMEDY,
                refs=REFS))
        elif when < now - OVERDUE_GRACE:
            late = now - when
            found.append(Finding(
                "cleanup.next_run_overdue", Status.WARN,
                f"Next run was due {late.days} d {late.seconds // 3600} h ago",
                detail=f"`next_run_at` {when.isoformat()} is in the past: the hourly cron "
                "(`ContainerExpirationPolicyWorker`) should have picked it up. Either Sidekiq is not running the "
                "cron job, the cleanup workers have no capacity, or runs keep stopping part way (large repositories).",
                evidence=ev,
                remedy="Check Sidekiq and its cron jobs (Admin > Monitoring > Background jobs > Cron, "
                "`container_expiration_policy_worker`); check the instance setting "
                "`container_registry_expiration_policies_worker_capacity` is above 0 (Admin > Settings > CI/CD > "
                "Container registry, or the application settings API). Omnibus: `gitlab-ctl status sidekiq`; "
                "Helm: the sidekiq pods.", refs=REFS))
        else:
            found.append(Finding(
                "cleanup.scheduled", Status.OK, f"Enabled; next run {when.isoformat()}",
                detail=f"Cadence {policy.cadence}: after each run GitLab schedules the next one a cadence later.", evidence=ev,
                refs=REFS))
    if policy.cadence and policy.cadence not in ALLOWED_CADENCE:
        found.append(Finding("cleanup.cadence_unknown", Status.WARN, f"Cadence {policy.cadence!r} is not one GitLab offers",
                             detail=f"GitLab accepts {', '.join(ALLOWED_CADENCE)}.", evidence=ev, remedy=_SETTINGS_REMEDY, refs=REFS))
    if policy.keep_n is not None and policy.keep_n not in ALLOWED_KEEP_N:
        found.append(Finding(
            "cleanup.keep_n_unusual", Status.WARN, f"keep_n {policy.keep_n} is not one GitLab accepts",
            detail=f"GitLab validates keep_n against {', '.join(map(str, ALLOWED_KEEP_N))} (or none); the replay uses "
            f"{policy.keep_n} as given.", evidence=ev, remedy=_SETTINGS_REMEDY, refs=REFS))
    if policy.older_than is not None:
        try:
            seconds = parse_duration(policy.older_than)
        except DurationError as exc:
            found.append(Finding(
                "cleanup.older_than_invalid", Status.FAIL, f"older_than {policy.older_than!r} cannot be parsed",
                detail=f"{exc}. GitLab parses older_than with ChronicDuration and would fail the cleanup.", evidence=ev,
                remedy="Use one of " + ", ".join(ALLOWED_OLDER_THAN) + ". " + _SETTINGS_REMEDY, refs=REFS))
        else:
            if policy.older_than not in ALLOWED_OLDER_THAN:
                trap = ""
                if seconds is not None and seconds < 86_400 and "m" in policy.older_than.lower():
                    trap = " Note: `m` means minutes for GitLab's parser; a month is `mo`."
                if seconds is None:
                    trap = (" It parses to zero: GitLab's parser then returns nothing and the cleanup fails with an "
                            "error instead of deleting.")
                found.append(Finding(
                    "cleanup.older_than_unusual", Status.WARN if seconds is not None else Status.FAIL,
                    f"older_than {policy.older_than!r} = {describe_seconds(seconds)}",
                    detail=f"The settings page offers only {', '.join(ALLOWED_OLDER_THAN)}; GitLab's parser reads this "
                    f"value as {describe_seconds(seconds)}.{trap}", evidence={**ev, "older_than_seconds": seconds},
                    remedy=_SETTINGS_REMEDY, refs=REFS))
    if policy.enabled and not policy.name_regex:
        found.append(Finding(
            "cleanup.no_name_regex", Status.WARN, "No name_regex: the policy deletes nothing",
            detail="With an empty `name_regex` GitLab's anchored pattern is `\\A\\z`, which matches no tag name. (GitLab "
            "requires it when enabling a policy; `.*` means every tag.)", evidence=ev,
            remedy="Set `name_regex` (Remove tags matching), for example `.*`. " + _SETTINGS_REMEDY, refs=REFS))
    if policy.keep_n is None and policy.older_than is None and policy.name_regex:
        found.append(Finding(
            "cleanup.no_limits", Status.WARN, "Neither keep_n nor older_than is set",
            detail="Every tag matching name_regex (and not name_regex_keep), except `latest`, is deleted at each run, "
            "however recent.", evidence=ev,
            remedy="Set `keep_n` (Keep the most recent) and/or `older_than` (Remove tags older than). " + _SETTINGS_REMEDY,
            refs=REFS))
    found.extend(_regex_findings(policy))
    return found
