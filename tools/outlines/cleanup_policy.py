"""Notebook outline: cleanup-policy."""

SCENARIO = 'cleanup-policy'

OUTLINE = dict(
    intro="""
**Symptom:** the cleanup policy deleted a tag you needed, or left tags you expected it to delete, or seems
not to run at all.

GitLab's documentation runs GitLab's policy
line by line in the Rails console; this runbook does the same from outside, through GitLab's REST API
(`gitlab_api_url`, `gitlab_token` with `read_api`, Maintainer role to read the policy), with GitLab's own
semantics: RE2 regexes anchored as `\\A<regex>\\z`, `created_at` order with missing dates treated as *now*,
`keep_n`, then `older_than` parsed like GitLab's ChronicDuration. Set `tag` to have one tag explained, and
`policy_*` to replay "what if" values without touching GitLab.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.gitlab import GitLabClient, check_api_access
from runbooklib.gitlab.policy import load_policy, check_policy
from runbooklib.gitlab.inventory import fetch_inventory
from runbooklib.gitlab.registry import check_registry_tags
from runbooklib.gitlab.cleanup import (replay_all, step_table, verdict_table, check_replay, check_limits,
                                       check_regex_semantics, explain_tag, plot_tag_ages)
""",
    steps=[
        ("""
## 1. GitLab API and token
A client for `gitlab_api_url`, bounded by `timeout_s`; the token is sent as `PRIVATE-TOKEN` (`JOB-TOKEN` for
a CI job token). A refused token names the scope (`read_api`) or role it lacks.
""", "gl = GitLabClient(rb.p.gitlab_api_url, rb.p.gitlab_token, http=rb.http)"),
        ("""
### Can the token read the project?
""", "rb.add(check_api_access(gl, rb.p.project))"),
        ("""
## 2. The policy
`container_expiration_policy` of the project, with any `policy_*` overrides. Checked: enabled, when it runs
next (an overdue `next_run_at` means the scheduler is not picking it up), values GitLab accepts, and the
regexes compiled with RE2 as GitLab does: a pattern RE2 rejects (backreferences, lookarounds) makes GitLab
refuse the policy.
""", "policy = load_policy(gl, rb.p.project, rb.p.policy_keep_n, rb.p.policy_older_than, rb.p.policy_name_regex, rb.p.policy_name_regex_keep)"),
        ("""
### Policy findings
""", "rb.add(check_policy(policy))"),
        ("""
## 3. Repositories and tags
Every registry repository of the project and each tag's details (`created_at`, `digest`, `total_size`): one
API call per tag, as GitLab's own cleanup asks the registry per tag (GitLab's documented "lengthy operation").
""", "inventory = fetch_inventory(gl, rb.p.project)"),
        ("""
### What GitLab lists
""", "rb.add(inventory.findings)"),
        ("""
### Does GitLab see the registry's tags?
With `registry_url` (and `username`/`password`), each repository's `/v2/<name>/tags/list` beside GitLab's
list: the policy can only act on what GitLab sees.
""", "rb.add(check_registry_tags(rb.http, rb.registry, inventory))"),
        ("""
## 4. Replay, step by step
GitLab's documented script per repository (`tags.map(&:name)` after each filter). The replay runs at this moment's time.
""", "replays = replay_all(inventory, policy)"),
        ("""
### Step 1: all tags
""", 'step_table(replays, "all")'),
        ("""
### Step 2: drop `latest`
A cleanup policy never deletes `latest`.
""", 'step_table(replays, "latest")'),
        ("""
### Step 3: `name_regex` and `name_regex_keep`
Still a delete candidate: matches `\\A<name_regex>\\z` and not `\\A<name_regex_keep>\\z` (RE2). Rows marked
*kept here* left the delete list at this step, with the reason.
""", 'step_table(replays, "regex")'),
        ("""
### Step 4: order by `created_at`, newest first
A tag without `created_at` sorts as *now* (newest). Equal `created_at` values are ties.
""", 'step_table(replays, "order")'),
        ("""
### Step 5: keep the `keep_n` newest
""", 'step_table(replays, "keep_n")'),
        ("""
### Step 6: keep tags newer than `older_than`
What remains is deleted. A tag without `created_at` is never "older", so it is kept here.
""", 'step_table(replays, "older_than")'),
        ("""
## 5. Result
Every tag with its outcome and the step that decided it.
""", "verdict_table(replays)"),
        ("""
### Findings on the result
Ties at the `keep_n` boundary are named: GitLab's sort is not stable, so it keeps some of the tied tags at
random.
""", "rb.add(check_replay(replays))"),
        ("""
## 6. Regex semantics
Tags on which RE2 and Python's `re` disagree, or on which GitLab's anchoring (`\\A` + regex + `\\z`, no
group) differs from anchoring the whole pattern.
""", "rb.add(check_regex_semantics(policy, inventory))"),
        ("""
## 7. Limits that make GitLab skip or postpone
More tags than one run processes (`container_registry_cleanup_tags_service_max_list_size`, 200 by default, plus
`keep_n`) are sampled at random per run; very large repositories can outlive the registry token.
""", "rb.add(check_limits(replays))"),
        ("""
## 8. Why this tag?
Set `tag` (or `repository/path:tag`): the step that keeps or deletes it, with the values that decided.
""", "rb.add(explain_tag(replays, rb.p.tag))"),
        ("""
## 9. Tag ages
Each tag by age, coloured by outcome; the dashed line is `older_than`.
""", "plot_tag_ages(replays)"),
    ],
)
