"""The GitLab stand-in inside the real lab: its tags are the registry's, both runbooks run through `runbook run`,
the replay explains tags, the naming scan lists exactly the offenders, bad tokens are named, `lab down` stops it."""

import datetime as dt
import json

import httpx
import pytest

from runbooklib.gitlab import GitLabClient
from runbooklib.gitlab.cleanup import check_regex_semantics, check_replay, replay_all
from runbooklib.gitlab.inventory import fetch_inventory
from runbooklib.gitlab.naming import offending_paths, scan_paths
from runbooklib.gitlab.policy import check_policy, load_policy
from runbooklib.gitlab.registry import check_registry_tags
from runbooklib.probes.endpoint import RegistryEndpoint
from runbooklib.lab import component_gitlab as C
from runbooklib.lab import control, procs
from tests.conftest import runbook

pytestmark = [pytest.mark.lab]

# Hand-computed for the lab's policy (name_regex .*, name_regex_keep v\d+\.\d+\.\d+|main, keep_n 1, older_than 30d)
# over group/project/app: latest | v1.0.0 (120 d), v1.0.0-rc1 (130 d) kept by the keep regex (GitLab anchors only
# the first alternative at the start) | sorted: nodate (no created: now), build-1 (2 d), build-old (45 d),
# build-older (50 d), ci-a = ci-b (60 d) | keep_n=1 keeps nodate | older_than keeps build-1 | the rest goes.
DELETED = ["build-old", "build-older", "ci-a", "ci-b"]
OFFENDERS = ["group/WebApp", "group/_infra", "group/legacy-", "group/my--app", "group/project@_wip",
             "group/project@feature/Login-Page", "group/project@hotfix--db", "group/project@release-"]


def _client(lab, token="gitlab_token"):
    return GitLabClient(C.api_url(lab), lab.secret(token), timeout_s=10)


def _run(lab, scenario, out, *extra):
    r = runbook("run", scenario, "-f", str(lab.params_path), "-o", str(out), *extra)
    data = json.loads((out / f"{scenario}.findings.json").read_text())
    return r, {f["id"]: f for f in data["findings"]}


def test_standin_tags_are_the_registry_tags_list(lab):
    realm = f"{lab.url('issuer')}/jwt/auth"
    token = httpx.get(realm, params={"service": control.SERVICE, "scope": f"repository:{C.IMAGE}:pull"},
                      auth=(control.USERNAME, lab.secret("password")), timeout=10, trust_env=False).json()["token"]
    listed = httpx.get(f"{lab.url('registry')}/v2/{C.IMAGE}/tags/list", headers={"Authorization": f"Bearer {token}"},
                       timeout=10, trust_env=False).json()["tags"]
    gl = _client(lab)
    repo = next(r for r in gl.registry_repositories(C.PROJECT) if r["path"] == C.IMAGE)
    assert sorted(t["name"] for t in gl.tags(C.PROJECT, repo["id"])) == sorted(listed)
    assert set(listed) == {"latest"} | {t for t, _ in C.REAL_TAGS}
    assert repo["tags_count"] == len(listed) and repo["location"].endswith(f"/{C.IMAGE}")
    # created_at comes from each image's config, like GitLab reads it
    now = dt.datetime.now(dt.timezone.utc)
    old = gl.tag(C.PROJECT, repo["id"], "build-old")
    age = now - dt.datetime.fromisoformat(old["created_at"])
    assert dt.timedelta(days=44.9) < age < dt.timedelta(days=45.1)
    assert gl.tag(C.PROJECT, repo["id"], "nodate")["created_at"] is None
    assert gl.tag(C.PROJECT, repo["id"], "ci-a")["digest"] == gl.tag(C.PROJECT, repo["id"], "ci-b")["digest"]
    endpoint = RegistryEndpoint(lab.url("registry"), control.USERNAME, lab.secret("password"))
    found = check_registry_tags(httpx.Client(timeout=10, trust_env=False), endpoint,
                                fetch_inventory(gl, C.PROJECT, details=False))
    assert [f.id for f in found] == ["cleanup.registry_tags_match"]


def test_cleanup_runbook_replays_the_lab_policy_and_explains_a_kept_tag(lab, tmp_path):
    r, found = _run(lab, "cleanup-policy", tmp_path, "-p", "tag", "build-1")
    assert r.returncode == 0, r.stderr
    result = found["cleanup.result"]["evidence"]["repositories"][C.IMAGE]
    assert result["deleted"] == DELETED and result["undetermined"] == []
    explained = found["cleanup.tag_explained"]
    assert explained["evidence"]["step"] == "older_than" and explained["evidence"]["outcome"] == "kept"
    assert "newer than older_than=30d" in explained["detail"]
    assert [t["tag"] for t in found["cleanup.regex_anchoring_difference.name_regex_keep"]["evidence"]["tags"]] == \
        ["v1.0.0-rc1"]
    assert found["cleanup.registry_tags_match"]["status"] == "ok"
    assert found["cleanup.next_run_overdue"]["status"] == "warn"
    page = (tmp_path / "cleanup-policy.html").read_text()
    assert "data:image/png;base64," in page and lab.secret("gitlab_token") not in page


def test_replay_on_the_standin_with_overrides_ties_and_re2_only_classes(lab):
    gl = _client(lab)
    inv = fetch_inventory(gl, C.PROJECT, progress=False)
    # keep_n=5: nodate, build-1, build-old, build-older, then ci-a/ci-b tie for the 5th place
    tie = replay_all(inv, load_policy(gl, C.PROJECT, keep_n=5))[0]
    assert tie.deleted == [] and sorted(tie.undetermined) == ["ci-a", "ci-b"]
    assert "cleanup.keep_n_tie" in {f.id for f in check_replay([tie])}
    # [[:alpha:]] is a POSIX class for RE2 (GitLab), not for Python's re
    load = load_policy(gl, C.PROJECT, name_regex="(?:build|ci)-[[:alpha:]]+")
    posix = replay_all(inv, load)[0]
    assert sorted(posix.deleted) == ["build-older", "ci-a", "ci-b"]  # build-old is the keep_n=1 newest
    diff = {f.id: f for f in check_regex_semantics(load, inv)}["cleanup.regex_engine_difference.name_regex"]
    assert {t["tag"] for t in diff.evidence["tags"]} == {"build-old", "build-older", "ci-a", "ci-b"}
    # a backreference: RE2 (and so GitLab) rejects the policy, nothing is deleted
    bad = load_policy(gl, C.PROJECT, name_regex=r"(build)-\1")
    assert replay_all(inv, bad)[0].deleted == []
    assert "cleanup.regex_invalid.name_regex" in {f.id for f in check_policy(bad)}


def test_a_read_registry_token_is_named_as_lacking_read_api(lab, tmp_path):
    ref = f"file:{lab.secrets_dir / 'gitlab_token_read_registry'}"
    r, found = _run(lab, "cleanup-policy", tmp_path, "-p", "gitlab_token", ref)
    assert r.returncode == 1
    f = found["gitlab.insufficient_scope"]
    assert "read_api" in f["evidence"]["needed_scopes"] and f["status"] == "fail"
    assert lab.secret("gitlab_token_read_registry") not in (tmp_path / "cleanup-policy.html").read_text()


def test_guest_role_and_unknown_project_are_findings(lab):
    guest = fetch_inventory(_client(lab, "gitlab_token_guest"), C.PROJECT, progress=False)
    assert guest.findings[0].id == "gitlab.forbidden"
    assert load_policy(_client(lab), "group/nope").findings[0].id == "gitlab.not_found"


def test_path_naming_runbook_lists_exactly_the_offending_paths(lab, tmp_path):
    r, found = _run(lab, "path-naming", tmp_path)
    assert r.returncode == 1, r.stderr
    paths = sorted({p for f in found.values() if f["id"].startswith("naming.") for p in f["evidence"].get("paths", [])})
    assert paths == OFFENDERS
    assert found["naming.leading_underscore"]["evidence"]["paths"] == ["group/_infra"]
    assert found["naming.double_hyphen"]["status"] == "warn"
    assert "group/docs_" in found["naming.scope"]["evidence"]["skipped"]


def test_instance_wide_scan_also_finds_the_top_level_group(lab):
    scan = scan_paths(_client(lab), progress=False, branches=False)
    assert "_sandbox" in offending_paths(scan)


def test_lab_down_stops_the_standin(fresh_lab):
    entry = fresh_lab.pids[C.NAME]
    assert procs.is_alive(entry["pid"], entry["cmd"])
    assert oct((fresh_lab.secrets_dir / "gitlab_token").stat().st_mode & 0o777) == "0o600"
    assert "gitlab_token: file:" in fresh_lab.params_path.read_text()
    C.restart(fresh_lab, throttle={"every": 1, "retry_after": 30})  # 429 on demand in a running lab
    r = httpx.get(f"{C.api_url(fresh_lab)}/projects/1", headers={"PRIVATE-TOKEN": fresh_lab.secret("gitlab_token")},
                  timeout=10, trust_env=False)
    assert r.status_code == 429 and r.headers["retry-after"] == "30"
    assert not procs.is_alive(entry["pid"], entry["cmd"])  # the old process is gone, the new one recorded
    entry = fresh_lab.pids[C.NAME]
    control.down(fresh_lab.state_dir)
    assert not procs.is_alive(entry["pid"], entry["cmd"])
