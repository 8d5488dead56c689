"""Notebook outline: missing-registry-key."""

SCENARIO = 'missing-registry-key'

OUTLINE = dict(
    intro="""
**Symptom:** deleting a project (or its container repositories) fails, or `/jwt/auth` answers 500, with
`Errno::ENOENT: No such file or directory @ rb_sysopen - /var/opt/gitlab/gitlab-rails/etc/gitlab-registry.key`
in the Rails logs. Typical after the registry was disabled while projects still had images.

""",
    imports="""
from runbooklib.session import Session
from runbooklib.probes.auth import check_token_flow
from runbooklib.probes.trust import check_gitlab_registry_key
from runbooklib.logs.focus import check_logs_for
""",
    steps=[
        ("""
## 1. Configuration
`gitlab.yml`'s `registry:` section says where the key is and whether the registry is enabled.
""", 'rb.read_configs("gitlab_yml", "gitlab_rb")'),
        ("""
## 2. Is the key there and usable?
""", "rb.add(check_gitlab_registry_key(rb.cfg.gitlab_yml))"),
        ("""
## 3. Can GitLab still sign tokens?
With a registry URL and credentials, a token request shows the failure from the outside (a 500 from
`/jwt/auth` while the key is missing).
""", "rb.add(check_token_flow(rb.http, rb.registry))"),
        ("""
## 4. What GitLab logged
`Errno::ENOENT ... gitlab-registry.key` in `production_json.log` (or `production.log`).
""", 'rb.add(check_logs_for(rb.log_scan, "missing-registry-key"))'),
    ],
)
