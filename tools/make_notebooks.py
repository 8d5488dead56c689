"""Write the scenario notebooks from their outlines: narrative cells + one call per step, no outputs.

Notebooks are committed; this script is how they are (re)made so that every notebook keeps the same
shape (title, parameters cell, session, steps, summary). Run: python tools/make_notebooks.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runbooklib import scenarios  # noqa: E402
from runbooklib.params import FINDINGS_PATH  # noqa: E402

LAB = yaml.safe_load((ROOT / "parameters" / "lab.yaml").read_text())


def parameters_cell(scenario_id: str) -> nbformat.NotebookNode:
    lines = ["# Parameters (papermill injects overrides after this cell). Defaults target `runbook lab up`."]
    for name, spec in scenarios.get(scenario_id).schema.items():
        value = LAB.get(name, spec.default)
        lines.append(f"# {spec.description}")
        lines.append(f"{name} = {value!r}")
    lines.append("# Set by `runbook run`: where the findings file is written")
    lines.append(f"{FINDINGS_PATH} = ''")
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["parameters"]
    return cell


def build(scenario_id: str, intro: str, imports: str, steps: list[tuple[str, str]]) -> nbformat.NotebookNode:
    sc = scenarios.get(scenario_id)
    cells = [nbformat.v4.new_markdown_cell(intro.strip()), parameters_cell(scenario_id)]
    cells.append(nbformat.v4.new_code_cell(f"{imports.strip()}\n\nrb = Session.start({scenario_id!r}, globals())"))
    for md, code in steps:
        cells.append(nbformat.v4.new_markdown_cell(md.strip()))
        cells.append(nbformat.v4.new_code_cell(code.strip()))
    cells.append(nbformat.v4.new_markdown_cell(
        "## Summary\nWorst findings first. `runbook run` reads the findings file written here to set its exit "
        "code (0 no fail, 1 a fail finding)."))
    cells.append(nbformat.v4.new_code_cell("rb.finish()"))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["runbook"] = {"scenario": sc.id, "seed_section": sc.seed_section}
    return nb


TRIAGE = dict(
    intro="""
# Triage: before investigating

**Symptom:** pushes, pulls or logins against the GitLab container registry fail and you do not yet know
which part is to blame.

**Seed section:** "Troubleshooting the container registry" → the steps *before investigating specific
issues*: synchronised clocks, requests forwarded to the registry (`curl /v2/_catalog` answers a Bearer
challenge for `container_registry`), and the token flow GitLab and the registry share.

Each step below calls one check from `runbooklib` and shows its findings: what was seen, what it means,
and the fix for Omnibus, Helm and source installs. Opened in JupyterLab, the defaults target the lab
(`runbook lab up`); in automation run `runbook run triage -f params.yaml -o DIR`.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.probes.api import check_forwarding
from runbooklib.probes.auth import check_token_flow
from runbooklib.probes.clock import check_clocks
from runbooklib.probes.debug import check_health
from runbooklib.probes.tls import check_tls
from runbooklib.logs.focus import check_all_logs
""",
    steps=[
        ("""
## 1. Are requests forwarded to the registry?
The seed's `curl --noproxy "*" https://<host>:<port>/v2/_catalog`: without credentials the registry must
answer **401** with `Docker-Distribution-Api-Version: registry/2.0` and
`Www-Authenticate: Bearer realm=…,service="container_registry"`. A 200 means token auth is off; a 404 or
an HTML page means the request never reached the registry (check NGINX's port); 502/503 mean the
upstream is down or unhealthy; no answer at all is named (refused, DNS, TLS, timeout).
""", "rb.add(check_forwarding(rb.http, rb.p.registry_url, rb.p.service))"),
        ("""
## 2. Is the registry's certificate trusted?
For an `https://` registry URL: the certificate the registry (or its proxy) presents, verified the way a
client verifies it (system store, or `ca_bundle`). Self-signed, unknown CA, missing intermediate,
expired or wrong-host certificates are what clients report as
`x509: certificate signed by unknown authority` (go to `x509-unknown-authority`).
""", "rb.add(check_tls(rb.p.registry_url, rb.p.ca_bundle, rb.p.timeout_s))"),
        ("""
## 3. Does the token flow work end to end?
What `docker login` does: take the realm from the challenge (or `realm_url`), ask GitLab's `/jwt/auth`
for a token with HTTP Basic, then present it to the registry. A refusal at the realm is a credentials
problem; `invalid_token` from the registry means it does not trust GitLab's token (go to
`token-untrusted-key`); `insufficient_scope` on the catalog means the token was trusted but the user is
not an administrator, which is fine.
""", "rb.add(check_token_flow(rb.http, rb.p.registry_url, rb.p.username, rb.p.password, rb.p.service, rb.p.realm_url))"),
        ("""
## 4. Are the clocks in sync?
Tokens carry `nbf`/`exp`; the registry allows 60 s of skew. The `Date` headers of the registry and the
realm are compared with this host's UTC clock: a warning above 30 s, a failure above 60 s.
""", "rb.add(check_clocks(rb.http, rb.p.registry_url, rb.p.realm_url))"),
        ("""
## 5. What does the registry's own health check say?
With the debug server enabled (`http.debug.addr`), `/debug/health` answers `{}` when healthy and names
each failing check (for example the storage driver) otherwise.
""", "rb.add(check_health(rb.http, rb.p.debug_url))"),
        ("""
## 6. What do the logs say?
When `log_paths` is given (registry, NGINX and GitLab Rails logs: files, folders or globs), every known error
signature of the troubleshooting page is counted; each finding names the runbook to run next.
""", "rb.add(check_all_logs(rb.log_scan))"),
        ("""
## Where to go next
The findings above, routed to the runbooks that dig deeper (routing rules live in
`runbooklib/scenarios.py`). An empty table means triage found nothing to follow.
""", "rb.next_runbooks()"),
    ],
)

X509 = dict(
    intro="""
# x509: certificate signed by unknown authority

**Symptom:** `docker login`/`push`/`pull`, a CI job or GitLab itself fails with
`x509: certificate signed by unknown authority` (or `Error response from daemon: Get ...: x509: ...`).

**Seed section:** "Error: `... x509: certificate signed by unknown authority`". The client does not trust
the certificate the registry (or GitLab's token realm) presents: self-signed, a private CA, a chain
without its intermediate, or a certificate that is expired or for another name.

Each step fetches the presented certificate even when it would be refused, and says which client must
trust what, and where (Docker daemon, GitLab Runner / docker-in-docker, GitLab itself).
""",
    imports="""
from runbooklib.session import Session
from runbooklib.probes.tls import check_tls, check_realm_tls, check_served_certificate
from runbooklib.logs.focus import check_logs_for
""",
    steps=[
        ("""
## 1. Configuration
The registry config (`http.tls`) and gitlab.rb when given; unreadable files are reported and skipped.
""", 'rb.read_configs("registry", "gitlab_rb")'),
        ("""
## 2. The registry's certificate
Verified the way Docker verifies it: against the system store, or `ca_bundle` when given (pass the CA you
expect clients to trust). The evidence shows subject, issuer, SANs, validity and the SHA-256 fingerprint.
""", "rb.add(check_tls(rb.p.registry_url, rb.p.ca_bundle, rb.p.timeout_s))"),
        ("""
## 3. The token realm's certificate
`docker login` also calls GitLab's `/jwt/auth`; an untrusted GitLab certificate fails the login the same way.
""", "rb.add(check_realm_tls(rb.p.registry_url, rb.p.realm_url, rb.p.ca_bundle, rb.p.timeout_s))"),
        ("""
## 4. Is the served certificate the configured one?
After renewing a certificate, a registry that was not restarted keeps serving the old one.
""", "rb.add(check_served_certificate(rb.p.registry_url, rb.cfg.registry, rb.p.timeout_s))"),
        ("""
## 5. What the registry logged
`http: TLS handshake error ... tls: unknown certificate authority` lines are the server's side of the same
refusal: they show which clients (by address) do not trust the certificate.
""", 'rb.add(check_logs_for(rb.log_scan, "x509-unknown-authority"))'),
    ],
)

TOKEN_UNTRUSTED = dict(
    intro="""
# Token signed by untrusted key

**Symptom:** `docker login` fails with `401 Unauthorized` although the credentials are right (skopeo says
"invalid username/password"); the registry log says
`token signed by untrusted key with ID: "XXXX:XXXX:..."`.

**Seed section:** "Docker login attempt fails with: 'token signed by untrusted key'". GitLab signs registry
tokens with `registry.key` (gitlab.yml); the registry trusts only the keys of the certificates in
`auth.token.rootcertbundle`. This runbook compares them by public key (RSA and EC) and by libtrust key ID,
adds the `kid` of a live token and the key IDs the registry logged, and checks issuer, service and clocks.
""",
    imports="""
from runbooklib.session import Session
from runbooklib.probes.trust import (probe_token, check_signing_pair, check_key_ids,
                                     check_issuer_and_service_from_configs, check_token_times)
from runbooklib.logs.focus import check_logs_for, key_ids_in
""",
    steps=[
        ("""
## 1. Configuration
The registry's `config.yml` (for `rootcertbundle`, `issuer`, `service`) and `gitlab.yml` (for `registry.key`
and `registry.issuer`).
""", 'rb.read_configs("registry", "gitlab_yml")'),
        ("""
## 2. Are the certificate and the key one pair?
The seed compares `openssl x509 -modulus` with `openssl rsa -modulus`; here the public keys are compared
directly, which works for EC keys too.
""", "rb.add(check_signing_pair(rb.cfg.registry, rb.cfg.gitlab_yml))"),
        ("""
## 3. A live token
A token is requested the way a client does; its header and claims are decoded (the signature is not
trusted, nothing is verified here) and it is presented to the registry.
""", "token = probe_token(rb.http, rb.p.registry_url, rb.p.username, rb.p.password, rb.p.service, rb.p.realm_url)\ntoken"),
        ("""
## 4. Key IDs side by side
The libtrust key IDs of the trusted certificates, of GitLab's key, of the live token's `kid` and of the IDs
in `token signed by untrusted key` log lines. Any ID outside the trusted set is the culprit.
""", "rb.add(check_key_ids(rb.cfg.registry, rb.cfg.gitlab_yml, token, key_ids_in(rb.log_scan)))"),
        ("""
## 5. Issuer and service
The registry also refuses tokens from another issuer (`token from untrusted issuer`) or for another
audience (`token intended for another audience`).
""", "rb.add(check_issuer_and_service_from_configs(rb.cfg.registry, rb.cfg.gitlab_yml, token))"),
        ("""
## 6. Clocks
A token refused as `not to be used before/after` is clock skew, measured here from the token's `iat` and the
registry's `Date`.
""", "rb.add(check_token_times(token))"),
        ("""
## 7. What the registry logged
""", 'rb.add(check_logs_for(rb.log_scan, "token-untrusted-key"))'),
    ],
)

MISSING_KEY = dict(
    intro="""
# Missing gitlab-registry.key

**Symptom:** deleting a project (or its container repositories) fails, or `/jwt/auth` answers 500, with
`Errno::ENOENT: No such file or directory @ rb_sysopen - /var/opt/gitlab/gitlab-rails/etc/gitlab-registry.key`
in the Rails logs. Typical after the registry was disabled while projects still had images.

**Seed section:** "Missing `gitlab-registry.key` prevents container repository deletion".
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
""", "rb.add(check_token_flow(rb.http, rb.p.registry_url, rb.p.username, rb.p.password, rb.p.service, rb.p.realm_url))"),
        ("""
## 4. What GitLab logged
`Errno::ENOENT ... gitlab-registry.key` in `production_json.log` (or `production.log`).
""", 'rb.add(check_logs_for(rb.log_scan, "missing-registry-key"))'),
    ],
)

LOGS = dict(
    intro="""
# Registry, NGINX and GitLab logs

**Symptom:** something fails and you want the registry's own account of it: which errors, since when, for
which requests, and which runbook they point to.

**Seed section:** "Before investigating": *check for errors in the registry logs (for example
`/var/log/gitlab/registry/current`) and the GitLab production logs*. Every error message the
troubleshooting page quotes or implies is a signature here, mapped to its runbook.

Formats are detected per file: registry logfmt (with or without Omnibus's svlogd prefix) and JSON (GitLab's
fork), registry and NGINX access logs, NGINX error logs, Go TLS handshake lines and Rails
`production_json.log`; plain or gzip; folders are read with their rotated files in time order. Example lines
are redacted (tokens, Authorization headers, passwords, AWS secrets).
""",
    imports="""
from runbooklib.session import Session
from runbooklib.logs import signature_table, plot_timeline, top_failing_requests
from runbooklib.logs.focus import check_all_logs
""",
    steps=[
        ("""
## 1. Findings
One finding per signature that matched (worst first), per detected push retry loop and per path that
could not be read.
""", "rb.add(check_all_logs(rb.log_scan))"),
        ("""
## 2. Signatures
Counts, first and last time seen, and the fields extracted from the lines (key IDs, issuers, upstreams).
""", "signature_table(rb.log_scan)"),
        ("""
## 3. Timeline
Matching lines per minute, by signature: a burst that starts at a deploy or a certificate renewal reads
faster here than in a table.
""", "plot_timeline(rb.log_scan)"),
        ("""
## 4. Top failing requests
Requests that ended in an error status, grouped by path and status.
""", "top_failing_requests(rb.log_scan)"),
        ("""
## 5. Where to go next
""", "rb.next_runbooks()"),
    ],
)

NOTEBOOKS = {"triage": TRIAGE, "logs": LOGS, "x509-unknown-authority": X509, "token-untrusted-key": TOKEN_UNTRUSTED,
             "missing-registry-key": MISSING_KEY}


def main() -> None:
    for scenario_id, outline in NOTEBOOKS.items():
        nb = build(scenario_id, **outline)
        nbformat.validate(nb)
        path = ROOT / "notebooks" / f"{scenario_id}.ipynb"
        nbformat.write(nb, str(path))
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
