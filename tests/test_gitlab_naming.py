"""Every path naming rule with a positive and a negative case; the CI_COMMIT_REF_SLUG fix; de-duplication."""

import pytest

from runbooklib.findings import Status
from runbooklib.gitlab.naming import (NamingScan, branch_violations, check_naming, component_rules, offending_paths,
                                      project_violations, ref_slug, registry_enabled, tag_rules)


def rules(component):
    return {r for r, _ in component_rules(component)}


@pytest.mark.parametrize("rule, bad, good", [
    ("leading_underscore", "_infra", "infra_x"),
    ("leading_separator", "-web", "web-app"),
    ("leading_separator", ".hidden", "a.hidden"),
    ("trailing_hyphen", "legacy-", "le-gacy"),
    ("trailing_separator", "tools_", "to_ols"),
    ("trailing_separator", "tools.", "to.ols"),
    ("double_hyphen", "my--app", "my-app"),
    ("uppercase", "WebApp", "webapp"),
    ("grammar", "a___b", "a__b"),
    ("grammar", "a._b", "a.b"),
    ("grammar", "caf\u00e9", "cafe"),
])
def test_each_component_rule_fires_on_its_case_and_not_on_a_near_miss(rule, bad, good):
    assert rule in rules(bad)
    assert rules(good) == set()


def test_distribution_grammar_accepts_what_the_registry_accepts():
    for ok in ("a", "a-b", "a---b", "a__b", "a.b", "a_b", "0day", "x9"):
        assert rules(ok) <= {"double_hyphen"}, ok
    assert rules("a---b") == {"double_hyphen"}  # valid for Distribution 2.x, a seed cause for older clients


def test_image_name_length_limit():
    project = {"path_with_namespace": "g/p"}
    long_ok = "g/p/" + "a" * (255 - 4)
    long_bad = long_ok + "b"
    assert not [v for v in project_violations(project, [long_ok]) if v.rule == "too_long"]
    assert [v.rule for v in project_violations(project, [long_bad]) if v.rule == "too_long"] == ["too_long"]


@pytest.mark.parametrize("branch, why", [
    ("feature/Login-Page", "'/'"),
    (".hidden", "starts with"),
    ("-x", "starts with"),
    ("fix#12", "'#'"),
    ("a" * 129, "longer than 128"),
])
def test_branch_names_that_are_not_valid_tags(branch, why):
    reasons = tag_rules(branch)
    assert reasons and any(why in r for r in reasons)


@pytest.mark.parametrize("branch", ["main", "v1.2_3-x", "_wip", "A" * 128, "release-"])
def test_valid_tags(branch):
    assert tag_rules(branch) == []


def test_branch_violations_cover_tag_and_image_path_uses_with_the_slug_fix():
    found = branch_violations("g/p", "feature/Login-Page")
    uses = {(v.use, v.rule) for v in found}
    assert ("tag", "tag_invalid") in uses and ("image path", "uppercase") in uses
    assert all("`feature-login-page`" in v.fix and "push rule" in v.fix for v in found)
    assert {(v.use, v.rule) for v in branch_violations("g/p", "_wip")} == {("image path", "leading_underscore")}
    assert branch_violations("g/p", "main") == []


@pytest.mark.parametrize("ref, slug", [
    ("feature/Login-Page", "feature-login-page"),
    ("-x-", "x"),
    ("Release_1.2", "release-1-2"),
    ("a" * 70, "a" * 63),
])
def test_ref_slug_matches_gitlab_ci(ref, slug):
    assert ref_slug(ref) == slug


def test_project_chain_names_groups_and_project_separately():
    vs = project_violations({"path_with_namespace": "group/_infra/Tools-"})
    got = {(v.kind, v.path, v.rule) for v in vs}
    assert got == {("group", "group/_infra", "leading_underscore"), ("project", "group/_infra/Tools-", "uppercase"),
                   ("project", "group/_infra/Tools-", "trailing_hyphen")}
    assert project_violations({"path_with_namespace": "group/project"}, ["group/project/app"], ["main"]) == []


def test_registry_enabled_reads_both_api_generations():
    assert registry_enabled({"container_registry_access_level": "private"})
    assert not registry_enabled({"container_registry_access_level": "disabled"})
    assert not registry_enabled({"container_registry_enabled": False})
    assert registry_enabled({})


def test_findings_group_offenders_by_rule_with_worst_status():
    scan = NamingScan("test", projects=["group/_infra/tools", "group/project"])
    scan.violations = project_violations({"path_with_namespace": "group/_infra/tools"}) + \
        branch_violations("group/project", "feature/X")
    found = {f.id: f for f in check_naming(scan)}
    assert found["naming.leading_underscore"].status is Status.FAIL
    assert found["naming.leading_underscore"].evidence["paths"] == ["group/_infra"]
    assert found["naming.branch.tag_invalid"].status is Status.WARN
    assert found["naming.branch.path_invalid"].evidence["paths"] == ["group/project@feature/X"]
    assert "naming.ok" not in found
    assert offending_paths(scan) == ["group/_infra", "group/project@feature/X"]
    clean = NamingScan("test", projects=["group/project"])
    assert {f.id for f in check_naming(clean)} == {"naming.ok", "naming.scope"}
