"""Notebook outline: path-naming."""

SCENARIO = 'path-naming'

OUTLINE = dict(
    intro="""
**Symptom:** `docker login` works but `docker push`/`pull` fails with a connection error or
`invalid reference format` for some projects only; CI jobs of some branches cannot push their image.

The cause GitLab documents: a group, project or branch name with a leading underscore, a
trailing hyphen or a double hyphen. An image name is the project's full path (lowercased) plus image names;
Docker accepts each part only if it matches the Distribution grammar
`[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*` (255 characters in all), and tags only `[\\w][\\w.-]{0,127}`.

Scans `project`, every project of `group` (subgroups included), or with neither every project the token sees,
through GitLab's REST API (`read_api`). Projects with the registry disabled are skipped.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.gitlab import GitLabClient, check_api_access
from runbooklib.gitlab.naming import scan_paths, check_naming, naming_table, offending_paths
""",
    steps=[
        ("""
## 1. GitLab API and token
""", "gl = GitLabClient(rb.p.gitlab_api_url, rb.p.gitlab_token, http=rb.http)"),
        ("""
### Can the token read the scope?
""", "rb.add(check_api_access(gl, rb.p.project, rb.p.group))"),
        ("""
## 2. Scan
Projects (with their group and subgroup paths), their registry images and their branches.
""", "scan = scan_paths(gl, rb.p.project, rb.p.group)"),
        ("""
## 3. Findings
One finding per rule broken, with every offender and the fix: rename the group or project path, rename the
branch, use `$CI_COMMIT_REF_SLUG`, add a push rule.
""", "rb.add(check_naming(scan))"),
        ("""
## 4. Offending group, project and image paths
""", 'naming_table(scan, ("group", "project", "image"))'),
        ("""
## 5. Offending branch names
A branch breaks Docker when a CI job puts `$CI_COMMIT_REF_NAME` into an image tag (`/` and other characters are
not allowed) or into an image path (the path rules apply to each part).
""", 'naming_table(scan, ("branch",))'),
        ("""
## 6. Every offender, once
""", "offending_paths(scan)"),
    ],
)
