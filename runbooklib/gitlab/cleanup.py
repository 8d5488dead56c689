"""Replay a cleanup policy tag by tag, exactly as GitLab's cleanup service builds its delete list.

GitLab's documented Rails-console script, step by step, each step a table:

1. all tags of the repository;
2. drop ``latest`` (never deleted by a policy);
3. keep tags that do not match ``\\A<name_regex>\\z`` or that match ``\\A<name_regex_keep>\\z`` (RE2);
4. order by ``created_at``, newest first; a tag without ``created_at`` sorts as *now*;
5. keep the ``keep_n`` newest;
6. keep tags not older than ``older_than`` — a tag without ``created_at`` is never "older";
7. what remains is deleted.

Every tag gets a :class:`Verdict` naming the step that kept it (or that it is deleted). Ties in
``created_at`` that straddle the ``keep_n`` boundary are reported as undetermined: Ruby's ``sort_by`` is not
stable, so GitLab keeps *some* of the tied tags, and which ones is not defined.
"""

from __future__ import annotations

import datetime as dt
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..findings import Finding, Status
from .client import SEED_CLEANUP
from .duration import DurationError, describe_seconds, parse_duration
from .inventory import Inventory, TagInfo
from .policy import Policy, PolicyLoad
from .regex import anchoring_differences, engine_differences, gitlab_regex

REFS = (SEED_CLEANUP,)
MAX_LIST_SIZE = 200  # application setting container_registry_cleanup_tags_service_max_list_size (default)
TOKEN_EXPIRY_TAGS = 1000  # beyond this many tags a run can outlive the registry token (default 5 min)

STEPS = ("all", "latest", "regex", "order", "keep_n", "older_than")
STEP_TITLES = {
    "all": "1. all tags",
    "latest": "2. drop latest",
    "regex": "3. name_regex / name_regex_keep",
    "order": "4. order by created_at (newest first)",
    "keep_n": "5. keep the keep_n newest",
    "older_than": "6. keep tags newer than older_than",
}


@dataclass(frozen=True)
class Verdict:
    """What the policy does to one tag and the step that decided it.

    ``deleted`` is None when GitLab's unstable sort decides (a created_at tie across the keep_n boundary).
    ``step`` is one of: error, latest, name_regex, name_regex_keep, keep_n, older_than, keep_n_tie, deleted.
    """

    repository: str
    tag: str
    created_at: dt.datetime | None
    deleted: bool | None
    step: str
    reason: str
    position: int | None = None
    tie_size: int = 1

    @property
    def outcome(self) -> str:
        return "deleted" if self.deleted else "kept" if self.deleted is False else "undetermined"


@dataclass
class Replay:
    """One repository's replay: the list after each step and a verdict per tag."""

    repository: str
    policy: Policy
    now: dt.datetime
    tags: list[TagInfo]
    verdicts: dict[str, Verdict] = field(default_factory=dict)
    after: dict[str, list[str]] = field(default_factory=dict)
    threshold: dt.datetime | None = None
    error: str = ""
    sample_size: int | None = None  # GitLab processes a random sample of this many tags per run

    @property
    def deleted(self) -> list[str]:
        return [v.tag for v in self.verdicts.values() if v.deleted]

    @property
    def undetermined(self) -> list[str]:
        return [v.tag for v in self.verdicts.values() if v.deleted is None]


def _age_days(when: dt.datetime | None, now: dt.datetime) -> float | None:
    return None if when is None else round((now - when).total_seconds() / 86_400, 2)


def _ago(when: dt.datetime | None, now: dt.datetime) -> str:
    if when is None:
        return "no created_at"
    seconds = (now - when).total_seconds()
    if seconds >= 86_400:
        age = f"{seconds / 86_400:.1f} days"
    else:
        age = describe_seconds(round(seconds)) if seconds > 0 else "0 seconds"
    return f"created {age} ago ({when.isoformat(timespec='seconds')})"


def replay(tags: Iterable[TagInfo], policy: Policy, now: dt.datetime | None = None, repository: str = "",
           max_list_size: int = MAX_LIST_SIZE) -> Replay:
    """Run the policy's steps over ``tags`` at time ``now`` and explain every tag."""
    now = now or dt.datetime.now(dt.timezone.utc)
    unique: dict[str, TagInfo] = {}
    for t in tags:
        unique.setdefault(t.name, t)
    all_tags = sorted(unique.values(), key=lambda t: t.name)
    rp = Replay(repository, policy, now, all_tags)
    rp.after["all"] = [t.name for t in all_tags]

    def decide(t: TagInfo, deleted: bool | None, step: str, reason: str, position: int | None = None,
               tie: int = 1) -> None:
        rp.verdicts[t.name] = Verdict(repository, t.name, t.created_at, deleted, step, reason, position, tie)

    delete_re = gitlab_regex(policy.name_regex)
    keep_re = gitlab_regex(policy.name_regex_keep)
    problems = [f"{n} {getattr(policy, n)!r} is rejected by RE2 ({r.error})"
                for n, r in (("name_regex", delete_re), ("name_regex_keep", keep_re)) if not r.ok]
    seconds: float | None = None
    try:
        seconds = parse_duration(policy.older_than)
    except DurationError as exc:
        problems.append(f"older_than cannot be parsed ({exc})")
    else:
        if policy.older_than and seconds is None:  # ChronicDuration gives nil for zero: `nil.seconds` raises
            problems.append(f"older_than {policy.older_than!r} parses to zero")
    if problems:
        rp.error = "; ".join(problems)
        for t in all_tags:
            decide(t, False, "error", f"GitLab cannot run this policy: {rp.error}; nothing is deleted")
        for step in STEPS[1:]:
            rp.after[step] = []
        return rp

    # 2. latest
    remaining = []
    for t in all_tags:
        if t.name == "latest":
            decide(t, False, "latest", "`latest` is never deleted by a cleanup policy")
        else:
            remaining.append(t)
    rp.after["latest"] = [t.name for t in remaining]

    # 3. regexes
    selected = []
    for t in remaining:
        if not delete_re.matches(t.name):
            decide(t, False, "name_regex", f"does not match name_regex `{delete_re.anchored}`")
        elif policy.name_regex_keep and keep_re.matches(t.name):
            decide(t, False, "name_regex_keep", f"matches name_regex_keep `{keep_re.anchored}`")
        else:
            selected.append(t)
    rp.after["regex"] = [t.name for t in selected]
    keep_n = policy.keep_n
    if max_list_size and len(selected) > max_list_size + (keep_n or 0):
        rp.sample_size = max_list_size + (keep_n or 0)

    # 4. order, newest first; missing created_at sorts as now; ties kept together (by name, for display)
    def key(t: TagInfo) -> dt.datetime:
        return t.created_at or now

    ordered = sorted(selected, key=lambda t: (-key(t).timestamp(), t.name))
    rp.after["order"] = [t.name for t in ordered]
    groups: dict[int, tuple[int, int]] = {}  # index -> (first index, end index) of its tie group
    start = 0
    for i in range(1, len(ordered) + 1):
        if i == len(ordered) or key(ordered[i]) != key(ordered[start]):
            for j in range(start, i):
                groups[j] = (start, i)
            start = i

    # 5. keep_n
    passing: list[tuple[int, TagInfo, bool]] = []  # (index, tag, tied across the boundary)
    for i, t in enumerate(ordered):
        a, b = groups[i]
        nodate = " (no created_at: sorted as now)" if t.created_at is None else ""
        if keep_n is None:
            passing.append((i, t, False))
        elif b <= keep_n:
            tie = f", tied with {b - a - 1} other tag(s)" if b - a > 1 else ""
            decide(t, False, "keep_n", f"position {i + 1} of {len(ordered)} newest{nodate}{tie}: within keep_n={keep_n}",
                   i + 1, b - a)
        elif a >= keep_n:
            passing.append((i, t, False))
        else:
            passing.append((i, t, True))
    rp.after["keep_n"] = [t.name for _, t, _ in passing]

    # 6. older_than (no older_than: everything left is deleted)
    rp.threshold = now - dt.timedelta(seconds=seconds) if seconds else None
    older = f"older_than={policy.older_than}" if policy.older_than else "no older_than"
    left = []
    for i, t, tied in passing:
        a, b = groups[i]
        if rp.threshold is not None and (t.created_at is None or t.created_at >= rp.threshold):
            why = ("no created_at: GitLab deletes only tags it knows are older than older_than"
                   if t.created_at is None else f"{_ago(t.created_at, now)}: newer than {older}")
            if tied:
                why += f" (it was also tied for the last keep_n slots, positions {a + 1}-{b})"
            decide(t, False, "older_than", why, i + 1, b - a)
            continue
        left.append(t)
        old = f"{_ago(t.created_at, now)}, older than {older}" if rp.threshold else older
        if tied:
            slots = keep_n - a  # type: ignore[operator]
            decide(t, None, "keep_n_tie",
                   f"tied on created_at with {b - a - 1} other tag(s) at positions {a + 1}-{b} across keep_n={keep_n}: "
                   f"GitLab keeps {slots} of these {b - a}, chosen by an unstable sort; if not kept, deleted ({old})",
                   i + 1, b - a)
        else:
            beyond = f"position {i + 1} of {len(ordered)} > keep_n={keep_n}" if keep_n is not None else "no keep_n"
            decide(t, True, "deleted",
                   f"matches name_regex, not name_regex_keep; {beyond}; {old}", i + 1, b - a)
    rp.after["older_than"] = [t.name for t in left]
    return rp


def replay_all(inv: Inventory, load: PolicyLoad, now: dt.datetime | None = None,
               max_list_size: int = MAX_LIST_SIZE) -> list[Replay]:
    """One replay per registry repository of the project (a policy applies to each repository separately)."""
    if load.policy is None:
        return []
    now = now or dt.datetime.now(dt.timezone.utc)
    return [replay(r.tags, load.policy, now, r.path, max_list_size) for r in inv.repositories]


# -- tables, findings, plot ------------------------------------------------------------------------------


def step_table(replays: list[Replay], step: str):
    """The tags still in the list after ``step`` (like GitLab's documented ``tags.map(&:name)``), and those the step
    removed from the delete list with the reason."""
    from .tables import table, when

    if step not in STEPS:
        raise ValueError(f"unknown step {step!r} (steps: {', '.join(STEPS)})")
    index = STEPS.index(step)
    removed_here = {
        "latest": {"latest"}, "regex": {"name_regex", "name_regex_keep"}, "keep_n": {"keep_n"},
        "older_than": {"older_than"},
    }.get(step, set())
    rows = []
    for rp in replays:
        still = rp.after.get(step, [])
        order = {name: i for i, name in enumerate(rp.after.get("order", []))}
        by_name = {t.name: t for t in rp.tags}
        for name in still:
            t = by_name[name]
            v = rp.verdicts.get(name)
            rows.append({"repository": rp.repository, "tag": name, "created_at": when(t.created_at),
                         "age_days": _age_days(t.created_at, rp.now),
                         "position": order[name] + 1 if name in order and index >= 3 else None,
                         "status": "in delete list" if step != "older_than" else v.outcome if v else "",
                         "reason": v.reason if v and step == "older_than" else ""})
        for v in rp.verdicts.values():
            if v.step in removed_here or (v.step == "error" and step == "all"):
                rows.append({"repository": rp.repository, "tag": v.tag, "created_at": when(v.created_at),
                             "age_days": _age_days(v.created_at, rp.now), "position": v.position,
                             "status": "kept here" if v.step != "error" else "kept (policy cannot run)",
                             "reason": v.reason})
    frame = table(rows, ["repository", "tag", "created_at", "age_days", "position", "status", "reason"])
    if step in ("order", "keep_n", "older_than"):
        frame = frame.sort_values(["repository", "position"], na_position="last", kind="stable")
    frame["position"] = frame["position"].astype("Int64")
    return frame.reset_index(drop=True)


def verdict_table(replays: list[Replay]):
    """Every tag with its final outcome and the step that decided it."""
    from .tables import table, when

    rows = [{"repository": v.repository, "tag": v.tag, "created_at": when(v.created_at),
             "age_days": _age_days(v.created_at, rp.now), "outcome": v.outcome, "step": v.step, "reason": v.reason}
            for rp in replays for v in sorted(rp.verdicts.values(), key=lambda v: v.tag)]
    return table(rows, ["repository", "tag", "created_at", "age_days", "outcome", "step", "reason"])


def check_replay(replays: list[Replay]) -> list[Finding]:
    """What the policy deletes, per repository; ties GitLab decides at random are named."""
    if not replays:
        return [Finding("cleanup.result", Status.SKIP, "Nothing to replay",
                        detail="No policy or no registry repositories (see the findings above).", refs=REFS)]
    evidence: dict[str, Any] = {}
    total_deleted = total = 0
    ties: dict[str, list[str]] = {}
    everything: list[str] = []
    errors = [rp for rp in replays if rp.error]
    for rp in replays:
        by_step: dict[str, int] = {}
        for v in rp.verdicts.values():
            by_step[v.step] = by_step.get(v.step, 0) + 1
        evidence[rp.repository] = {"tags": len(rp.tags), "deleted": sorted(rp.deleted)[:100],
                                   "undetermined": sorted(rp.undetermined), "decided_by_step": by_step}
        total += len(rp.tags)
        total_deleted += len(rp.deleted)
        if rp.undetermined:
            ties[rp.repository] = sorted(rp.undetermined)
        non_latest = [t for t in rp.tags if t.name != "latest"]
        if non_latest and len(rp.deleted) == len(non_latest) and len(non_latest) > 1:
            everything.append(rp.repository)
    policy = replays[0].policy
    out = []
    if errors:
        out.append(Finding("cleanup.cannot_run", Status.FAIL, "GitLab cannot run this policy: nothing is deleted",
                           detail=errors[0].error + ". GitLab's cleanup stops with an error for each repository.",
                           evidence={"policy": policy.as_dict()}, remedy="Fix the policy (see the regex and older_than findings).",
                           refs=REFS))
    out.append(Finding(
        "cleanup.result", Status.OK,
        f"The policy deletes {total_deleted} of {total} tags in {len(replays)} repositor{'y' if len(replays) == 1 else 'ies'}",
        detail="Replayed step by step as GitLab's cleanup service does (tables below). "
        + ("The policy is disabled, so this is what it *would* delete. " if not policy.enabled else ""),
        evidence={"policy": policy.as_dict(), "repositories": evidence}, refs=REFS))
    if ties:
        out.append(Finding(
            "cleanup.keep_n_tie", Status.WARN, "Tags tied on created_at at the keep_n boundary: GitLab picks at random",
            detail="These tags have the same created_at and straddle the keep_n cut. GitLab sorts with Ruby's `sort_by`, "
            "which is not stable: which of them are kept can change from run to run. Images retagged from the same "
            "build share created_at.", evidence={"undetermined": ties},
            remedy="If a specific tag must survive, make `name_regex_keep` match it (for example release tags), or raise "
            "`keep_n` so the tie falls inside it.", refs=REFS))
    if everything:
        out.append(Finding(
            "cleanup.deletes_everything", Status.WARN, "The policy deletes every tag except latest",
            detail="In " + ", ".join(everything) + " no tag other than `latest` survives this replay.",
            evidence={"repositories": everything},
            remedy="Check keep_n / older_than / name_regex_keep if that is not intended.", refs=REFS))
    return out


def check_limits(replays: list[Replay], max_list_size: int = MAX_LIST_SIZE) -> list[Finding]:
    """Tag counts that make GitLab process only part of a repository per run, or fail part way."""
    out = []
    sampled = {rp.repository: {"candidates": len(rp.after.get("regex", [])), "sample": rp.sample_size}
               for rp in replays if rp.sample_size}
    if sampled:
        out.append(Finding(
            "cleanup.truncated_run", Status.WARN, "More tags than one run processes: GitLab samples them",
            detail=f"After the regex step these repositories hold more than max_list_size ({max_list_size}) + keep_n tags. "
            "GitLab then takes a random sample of that size for each run (`tags.sample`), applies keep_n and "
            "older_than to the sample and leaves the rest for later runs: a single run deletes a random subset of "
            "the replay's deletions, and the repository shows `cleanup_unfinished` until it converges.",
            evidence={"repositories": sampled, "max_list_size": max_list_size},
            remedy="Let several runs converge, or raise `container_registry_cleanup_tags_service_max_list_size` "
            "(Admin > Settings > CI/CD > Container Registry, or the application settings API); "
            "`container_registry_delete_tags_service_timeout` (250 s) bounds each run's deletions too.", refs=REFS))
    many = {rp.repository: len(rp.tags) for rp in replays if len(rp.tags) > TOKEN_EXPIRY_TAGS}
    if many:
        out.append(Finding(
            "cleanup.many_tags", Status.WARN, f"Repositories with more than {TOKEN_EXPIRY_TAGS} tags",
            detail="Reading every tag's creation time takes one registry request per tag; on instances without the "
            "registry metadata database a run over this many tags can outlive the registry token GitLab uses, and "
            "the registry logs `error authorizing context: invalid token` while nothing more is deleted.",
            evidence={"tags": many},
            remedy="Raise the token duration (Admin > Settings > CI/CD > Container Registry > Authorization token "
            "duration), or delete tags in bulk with the API (`DELETE /projects/:id/registry/repositories/:id/tags` "
            "with `name_regex_delete`, `keep_n`, `older_than`).", refs=REFS))
    if not out:
        out.append(Finding("cleanup.limits", Status.OK, "Tag counts within one run's limits",
                           detail=f"No repository exceeds max_list_size ({max_list_size}) + keep_n after the regex step, nor "
                           f"{TOKEN_EXPIRY_TAGS} tags.",
                           evidence={rp.repository: len(rp.tags) for rp in replays}, refs=REFS))
    return out


def check_regex_semantics(load: PolicyLoad, inv: Inventory) -> list[Finding]:
    """Where GitLab's regexes (RE2, ``\\A...\\z`` without a group) differ from what people test with."""
    policy = load.policy
    if policy is None:
        return []
    names = inv.tag_names()
    out = []
    for field_name in ("name_regex", "name_regex_keep"):
        pattern = getattr(policy, field_name)
        if not pattern:
            continue
        engines = engine_differences(pattern, names)
        if engines:
            out.append(Finding(
                f"cleanup.regex_engine_difference.{field_name}", Status.WARN,
                f"{field_name} means something else in Python's `re` than in GitLab's RE2",
                detail=f"On {len(engines)} of these tags RE2 (what GitLab runs) and Python's `re` disagree, so a test "
                "made with Python (or many online testers) does not predict GitLab. Examples: `[[:alpha:]]` is a "
                "POSIX class in RE2 but a set plus `]` in Python; `x{,2}` is literal text in RE2.",
                evidence={"pattern": pattern, "tags": engines[:50]},
                remedy="Test policy regexes with RE2 semantics (this runbook, or `re2` bindings).", refs=REFS))
        anchoring = anchoring_differences(pattern, names)
        if anchoring:
            out.append(Finding(
                f"cleanup.regex_anchoring_difference.{field_name}", Status.WARN,
                f"{field_name}: GitLab's anchoring changes the outcome for {len(anchoring)} tag(s)",
                detail=f"GitLab compiles `\\A{pattern}\\z`; anchoring the whole pattern (`\\A(?:{pattern})\\z`) would decide "
                "these tags differently.", evidence={"pattern": pattern, "tags": anchoring[:50]},
                remedy=f"Group the alternation: `({pattern})`.", refs=REFS))
    if not out:
        out.append(Finding("cleanup.regex_semantics", Status.OK, "Policy regexes mean the same in RE2 and Python",
                           detail="No tag is matched differently by RE2 and Python's `re`, nor by GitLab's anchoring "
                           "versus anchoring the whole pattern.",
                           evidence={"name_regex": policy.name_regex, "name_regex_keep": policy.name_regex_keep}, refs=REFS))
    return out


def _steps_for(v: Verdict, rp: Replay) -> list[dict[str, str]]:
    """The tag's path through the steps, for the explanation's evidence."""
    trail = [{"step": STEP_TITLES["all"], "result": "listed"}]
    order = {"error": 1, "latest": 1, "name_regex": 2, "name_regex_keep": 2, "keep_n": 4, "older_than": 5,
             "keep_n_tie": 5, "deleted": 5}[v.step]
    labels = list(STEPS[1:])
    for i, step in enumerate(labels, start=1):
        if i < order:
            result = "passes on (still a delete candidate)"
            if step == "order":
                result = f"position {v.position}" + (" (no created_at: sorted as now)" if v.created_at is None else "")
            trail.append({"step": STEP_TITLES[step], "result": result})
        elif i == order:
            trail.append({"step": STEP_TITLES[step] if v.step != "error" else "policy", "result": v.reason})
            break
    return trail


def explain_tag(replays: list[Replay], tag: str) -> list[Finding]:
    """Why ``tag`` is deleted or kept: the exact step, with the values that decided. ``repo_path:tag`` picks
    one repository when several have the tag."""
    if not tag:
        return [Finding("cleanup.tag_explained", Status.SKIP, "No tag to explain",
                        detail="Give `tag` (or `repository/path:tag`) to see the step that keeps or deletes it.",
                        refs=REFS)]
    repo_filter, name = "", tag
    if ":" in tag:
        repo_filter, name = tag.rsplit(":", 1)
    hits = [(rp, rp.verdicts[name]) for rp in replays if name in rp.verdicts
            and (not repo_filter or rp.repository == repo_filter)]
    if not hits:
        import difflib

        names = sorted({n for rp in replays for n in rp.verdicts})
        close = difflib.get_close_matches(name, names, n=5)
        return [Finding("cleanup.tag_not_found", Status.WARN, f"Tag {tag!r} is not in the project's repositories",
                        detail="GitLab lists no such tag" + (f" in {repo_filter}" if repo_filter else "") +
                        ": it may be deleted already, in another project, or spelled differently.",
                        evidence={"repositories": [rp.repository for rp in replays], "similar": close}, refs=REFS)]
    out = []
    for rp, v in hits:
        status = Status.WARN if v.deleted or v.deleted is None else Status.OK
        verb = {"deleted": "is deleted", "kept": "is kept", "undetermined": "may be deleted"}[v.outcome]
        step = STEP_TITLES.get(v.step, v.step) if v.step not in ("deleted", "keep_n_tie", "name_regex",
                                                                  "name_regex_keep", "error") else {
            "deleted": "all steps passed: in the final delete list",
            "keep_n_tie": STEP_TITLES["keep_n"] + " (tie)",
            "name_regex": STEP_TITLES["regex"], "name_regex_keep": STEP_TITLES["regex"], "error": "policy"}[v.step]
        out.append(Finding(
            "cleanup.tag_explained", status, f"{rp.repository}:{v.tag} {verb} ({step})",
            detail=v.reason[:1].upper() + v.reason[1:] + ".",
            evidence={"repository": rp.repository, "tag": v.tag, "outcome": v.outcome, "step": v.step,
             "created_at": v.created_at, "position": v.position, "policy": rp.policy.as_dict(),
             "now": rp.now, "older_than_threshold": rp.threshold, "trail": _steps_for(v, rp)}, refs=REFS))
    return out


def _figure(width: float, height: float):
    """A figure that renders as PNG everywhere (runbooklib.figures)."""
    from ..figures import png_figure

    return png_figure(width, height)


def plot_tag_ages(replays: list[Replay], max_labelled: int = 40):
    """Each tag's age in days, coloured by outcome, with the older_than line. Up to ``max_labelled`` tags get a
    row each (named, oldest at the bottom); more are drawn as one band per repository."""
    rows = [(rp, v) for rp in replays for v in rp.verdicts.values()]
    labelled = 0 < len(rows) <= max_labelled
    height = 1.4 + (0.22 * len(rows) if labelled else 0.5 * max(1, len(replays)))
    fig = _figure(10, min(9, max(2.8, height)))
    ax = fig.add_subplot()
    if not rows:
        ax.text(0.5, 0.5, "no tags to plot", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    colours = {"deleted": "#cf222e", "kept": "#1a7f37", "undetermined": "#bf8700"}

    def age_of(item: tuple[Replay, Verdict]) -> float | None:
        return _age_days(item[1].created_at, item[0].now)

    if labelled:  # one row per tag: oldest at the bottom, undated (sorted as now) at the top
        def order(item: tuple[Replay, Verdict]) -> tuple[float, str, str]:
            age = age_of(item)
            return (-(age if age is not None else -1.0), item[0].repository, item[1].tag)

        rows.sort(key=order)
        ypos: dict[tuple[str, str], float] = {(rp.repository, v.tag): i for i, (rp, v) in enumerate(rows)}
        many = len(replays) > 1
        ax.set_yticks(range(len(rows)), [f"{rp.repository}:{v.tag}" if many else v.tag for rp, v in rows],
                      fontsize=8)
        ax.set_ylim(-0.7, len(rows) - 0.3)
    else:
        band = {rp.repository: i for i, rp in enumerate(replays)}
        ypos = {(rp.repository, v.tag): band[rp.repository] + (zlib.crc32(v.tag.encode()) % 9 - 4) * 0.06
                for rp, v in rows}  # stable spread of overlapping dots
        ax.set_yticks(range(len(replays)), [rp.repository for rp in replays])
        ax.set_ylim(-0.7, len(replays) - 0.3)
    for outcome, colour in colours.items():
        dated = [(max(age_of(r) or 0.0, 0.0), ypos[(r[0].repository, r[1].tag)]) for r in rows
                 if r[1].outcome == outcome and age_of(r) is not None]
        undated = [(0.0, ypos[(r[0].repository, r[1].tag)]) for r in rows
                   if r[1].outcome == outcome and age_of(r) is None]
        if dated:
            ax.scatter(*zip(*dated), s=30, color=colour, label=outcome, alpha=0.9, zorder=3)
        if undated:
            ax.scatter(*zip(*undated), s=44, color=colour, marker="x", zorder=3,
                       label=f"{outcome} (no created_at: shown at 0)")
    threshold = replays[0].threshold
    if threshold is not None:
        days = (replays[0].now - threshold).total_seconds() / 86_400
        ax.axvline(days, color="#0969da", linestyle="--", linewidth=1.4,
                   label=f"older_than = {replays[0].policy.older_than} ({days:g} d)")
    known = [a for a in (age_of(r) for r in rows) if a is not None]
    if known and max(known) > 365:
        ax.set_xscale("symlog", linthresh=30)
    ax.set_xlabel("tag age in days (from created_at)")
    ax.set_title("Tags by age: what the cleanup policy deletes")
    ax.grid(alpha=0.3, axis="x")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8)
    return fig
