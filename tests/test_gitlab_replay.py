"""The cleanup replay against hand-computed cases: ties, missing dates, RE2 versus Python `re`, durations."""

import datetime as dt
import json

import pytest

from runbooklib.findings import Status
from runbooklib.gitlab.cleanup import (check_limits, check_regex_semantics, check_replay, explain_tag, plot_tag_ages,
                                       replay, replay_all, step_table, verdict_table)
from runbooklib.gitlab.duration import DurationError, parse_duration
from runbooklib.gitlab.inventory import Inventory, RepositoryTags, TagInfo
from runbooklib.gitlab.policy import Policy, PolicyLoad, check_policy
from runbooklib.gitlab.regex import anchoring_differences, engine_differences, gitlab_regex, has_top_level_alternation

NOW = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.timezone.utc)
DAY = dt.timedelta(days=1)
KEEP_RELEASES = r"v\d+\.\d+\.\d+|main"


def tag(name, days=None):
    return TagInfo(name, None if days is None else NOW - days * DAY)


CASE = [
    tag("latest", 400), tag("v1.2.3", 200), tag("v1.2.3-rc1", 210), tag("main-old", 300), tag("nodate1"),
    tag("nodate2"), tag("recent", 3), tag("tie-a", 40), tag("tie-b", 40), tag("tie-c", 40), tag("old-1", 50),
    tag("old-2", 70),
]


def policy(**kw):
    base = dict(enabled=True, cadence="1d", keep_n=5, older_than="30d", name_regex=".*",
                name_regex_keep=KEEP_RELEASES, next_run_at=NOW + DAY, project="g/p")
    return Policy(**{**base, **kw})


def outcomes(rp):
    return {v.tag: (v.outcome, v.step) for v in rp.verdicts.values()}


def test_hand_computed_case_with_ties_missing_dates_and_gitlab_anchoring():
    rp = replay(CASE, policy(), NOW, "g/p/app")
    # after regex: v1.2.3 and v1.2.3-rc1 are kept (GitLab compiles \Av\d+\.\d+\.\d+|main\z: the first
    # alternative is anchored at the start only); main-old ends in "-old", not "main", so it stays a candidate.
    assert rp.after["regex"] == ["main-old", "nodate1", "nodate2", "old-1", "old-2", "recent", "tie-a", "tie-b",
                                 "tie-c"]
    # newest first, undated as now: nodate1, nodate2 | recent | tie-a, tie-b, tie-c (40 d) | old-1 | old-2 | main-old
    assert rp.after["order"] == ["nodate1", "nodate2", "recent", "tie-a", "tie-b", "tie-c", "old-1", "old-2",
                                 "main-old"]
    assert outcomes(rp) == {
        "latest": ("kept", "latest"),
        "v1.2.3": ("kept", "name_regex_keep"),
        "v1.2.3-rc1": ("kept", "name_regex_keep"),
        "nodate1": ("kept", "keep_n"),
        "nodate2": ("kept", "keep_n"),
        "recent": ("kept", "keep_n"),
        # positions 4-6 tie across keep_n=5: GitLab keeps 2 of the 3, which ones its unstable sort decides
        "tie-a": ("undetermined", "keep_n_tie"),
        "tie-b": ("undetermined", "keep_n_tie"),
        "tie-c": ("undetermined", "keep_n_tie"),
        "old-1": ("deleted", "deleted"),
        "old-2": ("deleted", "deleted"),
        "main-old": ("deleted", "deleted"),
    }
    assert sorted(rp.deleted) == ["main-old", "old-1", "old-2"]
    assert "GitLab keeps 2 of these 3" in rp.verdicts["tie-b"].reason
    assert rp.verdicts["tie-b"].position == 5 and rp.verdicts["tie-b"].tie_size == 3


def test_tie_inside_keep_n_or_saved_by_older_than_is_determined():
    tags = [tag("a"), tag("b"), tag("c", 1), tag("d", 1), tag("e", 90)]
    rp = replay(tags, policy(keep_n=1, name_regex_keep=None), NOW)
    # a and b (no created_at) tie at position 1-2 across keep_n=1, but older_than never deletes an undated tag;
    # c and d are newer than 30 d: older_than keeps them whatever the sort did.
    assert outcomes(rp) == {"a": ("kept", "older_than"), "b": ("kept", "older_than"), "c": ("kept", "older_than"),
                            "d": ("kept", "older_than"), "e": ("deleted", "deleted")}
    assert "no created_at" in rp.verdicts["a"].reason and "tied" in rp.verdicts["a"].reason


def test_created_exactly_at_the_threshold_is_not_older():
    rp = replay([tag("edge", 30), tag("past", 30.0001)], policy(keep_n=None, name_regex_keep=None), NOW)
    assert outcomes(rp) == {"edge": ("kept", "older_than"), "past": ("deleted", "deleted")}


def test_without_keep_n_and_older_than_everything_matching_goes():
    rp = replay([tag("latest"), tag("a", 1), tag("b")], policy(keep_n=None, older_than=None, name_regex_keep=None), NOW)
    assert sorted(rp.deleted) == ["a", "b"]
    found = {f.id for f in check_replay([rp])}
    assert "cleanup.deletes_everything" in found
    assert "cleanup.no_limits" in {f.id for f in check_policy(PolicyLoad("g/p", rp.policy), NOW)}


def test_empty_name_regex_matches_no_tag():
    rp = replay(CASE, policy(name_regex=None), NOW)
    assert rp.deleted == [] and {v.step for v in rp.verdicts.values()} == {"latest", "name_regex"}
    assert "cleanup.no_name_regex" in {f.id for f in check_policy(PolicyLoad("g/p", policy(name_regex="")), NOW)}


def test_posix_class_means_a_class_in_re2_and_a_set_in_python():
    pattern = "[[:alpha:]]+-[[:digit:]]+"
    rp = replay(CASE, policy(name_regex=pattern, name_regex_keep=None, keep_n=None), NOW)
    assert sorted(rp.deleted) == ["old-1", "old-2"]  # RE2: letters, hyphen, digits
    diffs = engine_differences(pattern, [t.name for t in CASE])
    assert {d["tag"] for d in diffs} == {"old-1", "old-2"}  # Python's re matches neither
    assert all(d["gitlab_re2"] and not d["python_re"] for d in diffs)
    inv = Inventory("g/p", [RepositoryTags({"id": 1, "path": "g/p/app"}, CASE)])
    found = check_regex_semantics(PolicyLoad("g/p", policy(name_regex=pattern, name_regex_keep=None)), inv)
    assert found[0].id == "cleanup.regex_engine_difference.name_regex" and found[0].status is Status.WARN


def test_brace_repeat_without_minimum_is_literal_in_re2():
    assert gitlab_regex("v{,2}1").matches("v{,2}1") and not gitlab_regex("v{,2}1").matches("vv1")
    assert [d["tag"] for d in engine_differences("v{,2}1", ["vv1", "v1"])] == ["vv1", "v1"]


@pytest.mark.parametrize("pattern, error", [
    (r"(build)-\1", "invalid escape sequence"),
    (r"(?!v).*", "invalid perl operator"),
    (r"(?<=x)y", "invalid perl operator"),
    (r"a++", "bad repetition operator"),
    (r"release\Z", "invalid escape sequence"),
])
def test_patterns_re2_rejects_stop_the_policy_and_are_named(pattern, error):
    rp = replay(CASE, policy(name_regex=pattern), NOW)
    assert rp.deleted == [] and rp.error and {v.step for v in rp.verdicts.values()} == {"error"}
    found = {f.id: f for f in check_policy(PolicyLoad("g/p", policy(name_regex=pattern)), NOW)}
    f = found["cleanup.regex_invalid.name_regex"]
    assert f.status is Status.FAIL and error in f.evidence["re2_error"]
    assert f.evidence["python_re_accepts"] is True  # tested in Python, rejected by GitLab
    assert "cleanup.cannot_run" in {x.id for x in check_replay([rp])}


def test_patterns_accepted_by_re2_but_not_python_are_fine_for_gitlab():
    assert gitlab_regex(r"\pN+").ok and gitlab_regex(r"(?<v>\d+)").ok


def test_anchoring_difference_lists_the_tags_gitlab_decides_otherwise():
    names = ["v1.2.3", "v1.2.3-rc1", "main", "feature-main", "main-2"]
    diffs = anchoring_differences(KEEP_RELEASES, names)
    assert {d["tag"] for d in diffs} == {"v1.2.3-rc1", "feature-main"}
    assert has_top_level_alternation("a|b") and not has_top_level_alternation("(a|b)")
    assert not has_top_level_alternation(r"[|]x") and not has_top_level_alternation(r"a\|b")
    found = {f.id for f in check_policy(PolicyLoad("g/p", policy()), NOW)}
    assert "cleanup.regex_alternation.name_regex_keep" in found


@pytest.mark.parametrize("text, seconds", [
    ("7d", 7 * 86400), ("14d", 14 * 86400), ("30d", 30 * 86400), ("90d", 90 * 86400), ("2w", 14 * 86400),
    ("14 days", 14 * 86400), ("1 month", 30 * 86400), ("1mo", 30 * 86400), ("1m", 60), ("1y", 31557600),
    ("1h30m", 5400), ("1:00:00", 3600), ("seven days", 7 * 86400), ("day", 86400), ("1.5d", 1.5 * 86400),
    ("3 days and 4 hours", 3 * 86400 + 4 * 3600), ("0d", None), ("", None), (None, None),
])
def test_older_than_parses_like_gitlabs_chronic_duration(text, seconds):
    assert parse_duration(text) == seconds


def test_an_older_than_of_zero_makes_gitlabs_run_fail():
    rp = replay(CASE, policy(older_than="0d"), NOW)
    assert rp.deleted == [] and "parses to zero" in rp.error
    f = {f.id: f for f in check_policy(PolicyLoad("g/p", policy(older_than="0d")), NOW)}["cleanup.older_than_unusual"]
    assert f.status is Status.FAIL and "fails" in f.detail


def test_unknown_duration_words_are_refused():
    with pytest.raises(DurationError):
        parse_duration("7 fortnights")
    rp = replay(CASE, policy(older_than="7 fortnights"), NOW)
    assert rp.deleted == [] and "older_than" in rp.error


def test_policy_findings_name_disabled_overdue_and_unusual_values():
    p = policy(enabled=False, older_than="1m", keep_n=3)
    found = {f.id: f for f in check_policy(PolicyLoad("g/p", p), NOW)}
    assert "cleanup.disabled" in found
    assert "minutes" in found["cleanup.older_than_unusual"].detail
    assert "cleanup.keep_n_unusual" in found
    late = {f.id for f in check_policy(PolicyLoad("g/p", policy(next_run_at=NOW - 3 * DAY)), NOW)}
    assert "cleanup.next_run_overdue" in late
    assert "cleanup.scheduled" in {f.id for f in check_policy(PolicyLoad("g/p", policy()), NOW)}


def test_overrides_replace_stored_values_and_are_listed():
    stored = Policy.from_api({"enabled": True, "cadence": "7d", "keep_n": 10, "older_than": "90d",
                              "name_regex": ".*", "name_regex_keep": None, "next_run_at": "2026-11-28T01:00:00Z"})
    p = stored.with_overrides(keep_n=1, older_than="7d")
    assert (p.keep_n, p.older_than, p.name_regex) == (1, "7d", ".*") and p.overridden == ("keep_n", "older_than")
    assert stored.with_overrides() is stored and stored.next_run_at.tzinfo is not None


def test_explanation_names_the_exact_step_and_similar_tags():
    rp = replay(CASE, policy(), NOW, "g/p/app")
    by_tag = {t: explain_tag([rp], t)[0] for t in ("old-1", "recent", "v1.2.3-rc1", "tie-a", "latest", "nodate1")}
    assert "position 7 of 9 > keep_n=5" in by_tag["old-1"].detail and by_tag["old-1"].status is Status.WARN
    assert by_tag["recent"].evidence["step"] == "keep_n" and by_tag["recent"].status is Status.OK
    assert by_tag["v1.2.3-rc1"].evidence["step"] == "name_regex_keep"
    assert by_tag["tie-a"].evidence["outcome"] == "undetermined"
    assert by_tag["latest"].evidence["step"] == "latest"
    assert "sorted as now" in by_tag["nodate1"].detail
    trail = by_tag["old-1"].evidence["trail"]
    assert [s["step"][:2] for s in trail] == ["1.", "2.", "3.", "4.", "5.", "6."]
    missing = explain_tag([rp], "old-3")[0]
    assert missing.id == "cleanup.tag_not_found" and "old-1" in missing.evidence["similar"]
    assert explain_tag([rp], "other/repo:old-1")[0].id == "cleanup.tag_not_found"
    assert explain_tag([rp], "g/p/app:old-1")[0].evidence["outcome"] == "deleted"
    json.dumps([f.to_dict() for f in by_tag.values()])  # evidence serialises


def test_step_tables_show_the_list_after_each_step():
    rps = [replay(CASE, policy(), NOW, "g/p/app")]
    assert list(step_table(rps, "all")["tag"]) == sorted(t.name for t in CASE)
    latest = step_table(rps, "latest")
    assert "latest" in set(latest[latest["status"] == "kept here"]["tag"])
    keep_n = step_table(rps, "keep_n")
    assert set(keep_n[keep_n["status"] == "kept here"]["tag"]) == {"nodate1", "nodate2", "recent"}
    final = step_table(rps, "older_than")
    assert set(final[final["status"] == "deleted"]["tag"]) == {"old-1", "old-2", "main-old"}
    assert len(verdict_table(rps)) == len(CASE)
    with pytest.raises(ValueError):
        step_table(rps, "nope")


def test_more_tags_than_one_run_takes_are_flagged_as_sampled():
    many = [tag(f"t-{i:04d}", i + 40) for i in range(260)]
    rp = replay(many, policy(keep_n=10, name_regex_keep=None), NOW)
    assert rp.sample_size == 210
    f = check_limits([rp])[0]
    assert f.id == "cleanup.truncated_run" and f.status is Status.WARN
    assert check_limits([replay(many[:100], policy(), NOW)])[0].id == "cleanup.limits"


def test_replay_all_uses_one_policy_per_repository_and_plots():
    inv = Inventory("g/p", [RepositoryTags({"id": 1, "path": "g/p/a"}, CASE[:6]),
                            RepositoryTags({"id": 2, "path": "g/p/b"}, CASE[6:])])
    rps = replay_all(inv, PolicyLoad("g/p", policy()), NOW)
    assert [rp.repository for rp in rps] == ["g/p/a", "g/p/b"]
    assert replay_all(inv, PolicyLoad("g/p", None), NOW) == []
    fig = plot_tag_ages(rps)
    assert fig._repr_png_().startswith(b"\x89PNG")
    assert any("older_than" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
