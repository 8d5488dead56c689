"""Notebook outline: token-untrusted-key."""

SCENARIO = 'token-untrusted-key'

OUTLINE = dict(
    intro="""
**Symptom:** `docker login` fails with `401 Unauthorized` although the credentials are right (skopeo says
"invalid username/password"); the registry log says
`token signed by untrusted key with ID: "XXXX:XXXX:..."`.

GitLab signs registry
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
GitLab's documentation compares `openssl x509 -modulus` with `openssl rsa -modulus`; here the public keys are compared
directly, which works for EC keys too.
""", "rb.add(check_signing_pair(rb.cfg.registry, rb.cfg.gitlab_yml))"),
        ("""
## 3. A live token
A token is requested the way a client does; its header and claims are decoded (the signature is not
trusted, nothing is verified here) and it is presented to the registry.
""", "token = probe_token(rb.http, rb.registry)\ntoken"),
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
