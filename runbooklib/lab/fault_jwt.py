"""`/jwt/auth` refusals (issue #19, `jwt-auth-refused`), after the lab is seeded:

* the lab user turns on two-factor authentication: its password (the lab's `password` parameter) is now refused
  with GitLab's 401 `HTTP Basic: Access denied ...`, as for every script that still logs in with a password;
* credentials for the other cases are written to the lab's secrets folder, each a real login the stand-in answers
  as GitLab does: `pat_registry` (read_registry + write_registry: works), `pat_read_registry` (push dropped from
  the token), `pat_read_api` (403 DENIED), `pat_expired` (401), `password_blocked` for `blocked-user` (401), and
  `job_token` (user `gitlab-ci-token`, a CI job of `other/project`: nothing granted on `group/project/app`).
"""

from __future__ import annotations

import os
import secrets
from typing import TYPE_CHECKING, Any

from .faults import Fault, register

if TYPE_CHECKING:
    from .control import Lab

JOB_PROJECT = "other/project"
# secret file -> account (the stand-in's `accounts` entry, without the secret)
ACCOUNTS: dict[str, dict[str, Any]] = {
    "pat_registry": {"username": "lab-user", "kind": "pat", "scopes": ["read_registry", "write_registry"]},
    "pat_read_registry": {"username": "lab-user", "kind": "pat", "scopes": ["read_registry"]},
    "pat_read_api": {"username": "lab-user", "kind": "pat", "scopes": ["read_api"]},
    "pat_expired": {"username": "lab-user", "kind": "pat", "scopes": ["read_registry", "write_registry"],
                    "expired": True},
    "password_blocked": {"username": "blocked-user", "kind": "password", "state": "blocked"},
    "job_token": {"kind": "job", "user": "lab-user", "project": JOB_PROJECT},
}


def _refusals(lab: "Lab") -> None:
    accounts = []
    for name, account in ACCOUNTS.items():
        path = lab.secrets_dir / name
        prefix = "glcbt-" if account["kind"] == "job" else "glpat-" if account["kind"] == "pat" else "pw-"
        path.write_text(prefix + secrets.token_urlsafe(15) + "\n")
        os.chmod(path, 0o600)
        accounts.append({**account, "secret_file": str(path)})
    lab.restart_issuer(accounts=accounts, two_factor_users=[lab.issuer_config()["username"]])


register(Fault("jwt-auth-refused", "the lab user has 2FA (its password is refused with 401); tokens without "
               "registry scopes, read-only, expired, a blocked user and a job token of another project are in "
               "the secrets folder", after_start=_refusals))
