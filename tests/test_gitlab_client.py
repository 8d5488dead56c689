"""The GitLab client against the REST stand-in run as its own process: pagination, GitLab's error shapes as
findings, 429 Retry-After honoured, timeouts and refused connections bounded."""

import datetime as dt
import json
import subprocess
import sys
import time

import httpx
import pytest

from runbooklib.findings import Status
from runbooklib.gitlab import GitLabClient, GitLabError, check_api_access, error_finding
from runbooklib.gitlab.inventory import fetch_inventory
from runbooklib.gitlab.naming import check_naming, offending_paths, scan_paths
from runbooklib.gitlab.policy import load_policy
from runbooklib.lab import procs

TOKEN = "glpat-test-maintainer-token"
REGISTRY_ONLY = "glpat-test-read-registry"
GUEST = "glpat-test-guest-token"
JOB = "glcbt-test-job-token"
NOW = dt.datetime.now(dt.timezone.utc)
TAGS = [{"name": f"t-{i:02d}", "created_at": (NOW - dt.timedelta(days=i)).isoformat(), "total_size": i}
        for i in range(1, 46)]


def config(port, **extra):
    cfg = {
        "port": port, "registry_host": "registry.test:5050",
        "users": [{"id": 1, "username": "admin"}, {"id": 2, "username": "guest"}],
        "tokens": [{"value": TOKEN, "user": "admin", "scopes": ["read_api"]},
                   {"value": REGISTRY_ONLY, "user": "admin", "scopes": ["read_registry"]},
                   {"value": GUEST, "user": "guest", "scopes": ["api"]},
                   {"value": JOB, "user": "admin", "kind": "job", "project_id": 1}],
        "groups": [{"id": 10, "path": "g", "parent_id": None, "members": {"admin": "maintainer"}},
                   {"id": 11, "path": "_sub", "parent_id": 10}],
        "projects": [
            {"id": 1, "path": "p", "namespace_id": 10, "members": {"guest": "guest"}, "branches": ["main", "a/B"],
             "container_expiration_policy": {"cadence": "1d", "enabled": True, "keep_n": 5, "older_than": "14d",
                                             "name_regex": "t-.*", "name_regex_keep": None,
                                             "next_run_at": NOW.isoformat()},
             "repositories": [{"id": 7, "name": "app", "tags": TAGS}]},
            {"id": 2, "path": "q-", "namespace_id": 11},
            {"id": 3, "path": "off_", "namespace_id": 10, "container_registry_access_level": "disabled"},
        ],
    }
    cfg.update(extra)
    return cfg


def start_standin(tmp_path, name, **extra):
    port = procs.free_port()
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(config(port, **extra)))
    log = open(tmp_path / f"{name}.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "runbooklib.lab.gitlab_standin", str(path)], stdout=log,
                            stderr=log, start_new_session=True)
    procs.wait_for_port(port, 15, proc, "stand-in")
    return proc, f"http://127.0.0.1:{port}/api/v4", tmp_path / f"{name}.log"


@pytest.fixture(scope="module")
def standin(tmp_path_factory):
    proc, url, log = start_standin(tmp_path_factory.mktemp("standin"), "plain")
    yield url, log
    proc.terminate()
    proc.wait(10)


@pytest.fixture
def special_standin(tmp_path, request):
    proc, url, log = start_standin(tmp_path, "special", **request.param)
    yield url, log
    proc.terminate()
    proc.wait(10)


def requests_logged(log, expect=0):
    """The stand-in's request log (written just after each answer: wait for the last line)."""
    deadline = time.monotonic() + 5
    while True:
        entries = [json.loads(line) for line in log.read_text().splitlines() if '"method"' in line]
        if len(entries) >= expect or time.monotonic() > deadline:
            return entries
        time.sleep(0.05)


def test_pagination_follows_x_next_page_over_three_pages(standin):
    url, _ = standin
    gl = GitLabClient(url, TOKEN)
    names = [t["name"] for t in gl.tags("g/p", 7, per_page=20)]
    assert names == [t["name"] for t in TAGS] and gl.requests == 3
    r = httpx.get(f"{url}/projects/g%2Fp/registry/repositories/7/tags", params={"per_page": 20, "page": 2},
                  headers={"PRIVATE-TOKEN": TOKEN})
    assert (r.headers["x-page"], r.headers["x-next-page"], r.headers["x-prev-page"]) == ("2", "3", "1")
    assert (r.headers["x-total"], r.headers["x-total-pages"], r.headers["x-per-page"]) == ("45", "3", "20")
    assert 'rel="next"' in r.headers["link"] and 'rel="last"' in r.headers["link"]
    default = httpx.get(f"{url}/projects/1/registry/repositories/7/tags", headers={"PRIVATE-TOKEN": TOKEN})
    assert len(default.json()) == 20  # GitLab's default page size
    capped = httpx.get(f"{url}/projects/1/registry/repositories/7/tags", params={"per_page": 500},
                       headers={"PRIVATE-TOKEN": TOKEN})
    assert capped.headers["x-per-page"] == "100"


@pytest.mark.parametrize("special_standin", [{"offset_headers": False}], indirect=True)
def test_pagination_falls_back_to_link_when_gitlab_sends_only_link(special_standin):
    url, _ = special_standin
    gl = GitLabClient(url, TOKEN)
    assert len(gl.tags("g/p", 7, per_page=10)) == 45 and gl.requests == 5


def test_inventory_and_policy_through_the_api(standin):
    url, _ = standin
    gl = GitLabClient(url, TOKEN)
    load = load_policy(gl, "g/p", keep_n=1)
    assert load.policy.keep_n == 1 and load.policy.older_than == "14d" and load.policy.enabled
    inv = fetch_inventory(gl, "g/p", progress=False)
    assert [r.path for r in inv.repositories] == ["g/p/app"]
    assert inv.repositories[0].tags[0].created_at is not None
    assert len(inv.repositories[0].tags) == 45


def test_wrong_or_missing_token_is_401_naming_read_api(standin):
    url, _ = standin
    f = check_api_access(GitLabClient(url, "glpat-wrong"), "g/p")[0]
    assert f.id == "gitlab.unauthorized" and f.status is Status.FAIL and "read_api" in f.detail
    assert f.evidence["body"] == '{"message": "401 Unauthorized"}'
    # anonymous: GitLab hides private projects behind a 404
    assert [f.id for f in check_api_access(GitLabClient(url, ""), "g/p")] == ["gitlab.no_token", "gitlab.not_found"]


def test_registry_only_token_is_insufficient_scope_with_the_scope_named(standin):
    url, _ = standin
    f = check_api_access(GitLabClient(url, REGISTRY_ONLY), "g/p")[0]
    assert f.id == "gitlab.insufficient_scope" and "read_api" in f.evidence["needed_scopes"]
    assert "`read_api`" in f.title and REGISTRY_ONLY not in json.dumps(f.to_dict())


def test_guest_role_reads_the_project_but_not_its_registry(standin):
    url, _ = standin
    gl = GitLabClient(url, GUEST)
    assert check_api_access(gl, "g/p")[0].id == "gitlab.access"
    load = load_policy(gl, "g/p")
    assert load.findings[0].id == "cleanup.policy_missing"  # a guest does not see the policy settings
    inv = fetch_inventory(gl, "g/p", progress=False)
    assert inv.findings[0].id == "gitlab.forbidden" and "Reporter" in inv.findings[0].detail


def test_unknown_project_and_group_are_404_findings(standin):
    url, _ = standin
    gl = GitLabClient(url, TOKEN)
    f = load_policy(gl, "g/nope").findings[0]
    assert f.id == "gitlab.not_found" and "404 Project Not Found" in f.detail
    scan = scan_paths(gl, group="nope", progress=False)
    assert check_naming(scan)[0].id == "gitlab.not_found"


def test_group_scan_lists_offenders_and_skips_registry_disabled_projects(standin):
    url, _ = standin
    scan = scan_paths(GitLabClient(url, TOKEN), group="g", progress=False)
    assert offending_paths(scan) == ["g/_sub", "g/_sub/q-", "g/p@a/B"]
    assert scan.skipped == ["g/off_"]


@pytest.mark.parametrize("special_standin", [{"throttle": {"every": 2, "retry_after": 1}}], indirect=True)
def test_429_retry_after_is_honoured_then_the_listing_completes(special_standin):
    url, log = special_standin
    gl = GitLabClient(url, TOKEN)
    names = [t["name"] for t in gl.tags("g/p", 7, per_page=20)]
    assert len(names) == 45 and gl.waits == [1.0, 1.0]
    entries = requests_logged(log, 5)
    statuses = [e["status"] for e in entries]
    assert statuses == [200, 429, 200, 429, 200]
    times = [dt.datetime.fromisoformat(e["time"]) for e in entries]
    assert (times[2] - times[1]).total_seconds() >= 0.9  # the retry came after Retry-After, not before


@pytest.mark.parametrize("special_standin", [{"throttle": {"every": 1, "retry_after": 60}}], indirect=True)
def test_a_retry_after_longer_than_the_timeout_is_not_sat_through(special_standin):
    url, _ = special_standin
    gl = GitLabClient(url, TOKEN, timeout_s=2)
    t0 = time.monotonic()
    with pytest.raises(GitLabError) as info:
        gl.project("g/p")
    assert time.monotonic() - t0 < 2 and info.value.kind == "rate_limited"
    f = error_finding(info.value, "project g/p")
    assert f.id == "gitlab.rate_limited" and f.evidence["headers"]["retry-after"] == "60"


@pytest.mark.parametrize("special_standin", [{"delay_s": 3}], indirect=True)
def test_a_slow_api_is_bounded_by_timeout_s(special_standin):
    url, _ = special_standin
    t0 = time.monotonic()
    f = check_api_access(GitLabClient(url, TOKEN, timeout_s=0.5), "g/p")[0]
    assert time.monotonic() - t0 < 2.5
    assert f.id == "gitlab.unreachable" and f.evidence["error"].startswith("timeout")


def test_api_down_is_a_refused_finding_and_no_url_is_not_configured():
    f = check_api_access(GitLabClient(f"http://127.0.0.1:{procs.free_port()}/api/v4", TOKEN, timeout_s=2), "g/p")[0]
    assert f.id == "gitlab.unreachable" and "refused" in f.title
    assert check_api_access(GitLabClient("", TOKEN), "g/p")[0].id == "gitlab.not_configured"


def test_job_token_header_and_base_url_normalisation():
    gl = GitLabClient("https://gitlab.example.com/", "glcbt-abc")
    assert gl.token_header == "JOB-TOKEN" and gl.api_url == "https://gitlab.example.com/api/v4"
    assert GitLabClient("https://h/gitlab/api/v4", "glpat-x").token_header == "PRIVATE-TOKEN"


def test_a_ci_job_token_goes_as_job_token_and_reaches_only_its_project(standin):
    url, _ = standin
    gl = GitLabClient(url, JOB)
    assert gl.token_header == "JOB-TOKEN"
    assert check_api_access(gl, "g/p")[0].id == "gitlab.access"
    assert check_api_access(gl, "g/_sub/q-")[0].id == "gitlab.not_found"
    assert [p["path_with_namespace"] for p in GitLabClient(url, TOKEN).registry_projects("g")] == ["g/p", "g/_sub/q-"]
