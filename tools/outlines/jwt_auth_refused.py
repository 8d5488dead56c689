"""Notebook outline: jwt-auth-refused."""

SCENARIO = 'jwt-auth-refused'

OUTLINE = dict(
    intro="""
**Symptom:** `docker login` fails with `HTTP Basic: Access denied` (skopeo: "invalid username/password"), or the
login works and `docker push` ends with `denied: requested access to the resource is denied`.

The registry trusts GitLab's tokens; GitLab's `/jwt/auth` decides what each
token may do. It says no in three ways: **401** `UNAUTHORIZED` (the credentials were not accepted: wrong password,
a password on an account with two-factor authentication, an expired or revoked token, a blocked user, a CI job token
of a finished job), **403** `DENIED` `access forbidden` (valid credentials without any registry scope), or
**200 with a token that grants fewer actions than asked** (no `write_registry`, a role below Developer, a CI job
token used on another project): GitLab drops those actions silently and the registry refuses the push later.

This runbook asks for the tokens a pull and a push of `repository` need, with the failing client's credentials
(`password` is a reference: `env:NAME` or `file:PATH`, never shown), reads the `access` claim of what comes back,
and reads GitLab's Rails logs (`production_json.log`: `/jwt/auth` answers; `auth_json.log`:
`JWT authentication failed` with the refused `http_user`).
""",
    imports="""
from runbooklib.session import Session
from runbooklib.probes.jwt_auth import check_jwt_auth
from runbooklib.logs.focus import check_logs_for
""",
    steps=[
        ("""
## 1. Pull and push tokens for the repository
`GET <realm>?service=…&scope=repository:<repository>:pull` then `…:pull,push`, with HTTP Basic, as `docker` does.
401 and 403 are told apart by GitLab's error code and message; a 200 is judged by the token's `access` claim
against what was asked.
""", "rb.add(check_jwt_auth(rb.http, rb.registry, rb.p.repository))"),
        ("""
## 2. What GitLab logged
With `log_paths` covering GitLab's Rails logs (Omnibus: `/var/log/gitlab/gitlab-rails/`): `/jwt/auth` requests
answered 4xx/5xx in `production_json.log`, `JWT authentication failed` lines in `auth_json.log` (with the
refused login name), and clients' `HTTP Basic: Access denied`.
""", 'rb.add(check_logs_for(rb.log_scan, "jwt-auth-refused"))'),
    ],
)
