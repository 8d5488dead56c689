"""Notebook outline: x509-unknown-authority."""

SCENARIO = 'x509-unknown-authority'

OUTLINE = dict(
    intro="""
**Symptom:** `docker login`/`push`/`pull`, a CI job or GitLab itself fails with
`x509: certificate signed by unknown authority` (or `Error response from daemon: Get ...: x509: ...`).

The client does not trust
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
