"""Mask secrets in log lines before anyone sees them: examples, events, findings.

Registry debug logs and proxy logs can carry Authorization headers, JWTs (a registry token is a bearer
credential for five minutes), passwords in query strings and S3 secret keys. The report layer masks the
secrets it resolved itself; a log holds secrets nobody gave us, so these patterns mask by shape.
"""

from __future__ import annotations

import re

from ..report.redact import MASK

_AUTH = re.compile(r'(?i)(authorization"?\s*[:=]\s*\[?\s*"?(?:bearer|basic|token)?\s*)([^\s"\',\]]+)')
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# key=value or "key":"value" where the key names a secret (query strings, logfmt, JSON)
_SECRET_KEYS = ("password", "passwd", "secret", "token", "signature", "sig=", "sig\"")
_KEY_VALUE = re.compile(
    r'(?i)((?:^|[?&\s,{"])"?(?:password|passwd|secret|secretkey|secret_key|secret_access_key|'
    r'aws_secret_access_key|access_token|refresh_token|token|private_token|job_token|x-amz-signature|'
    r'x-amz-security-token|signature|sig|client_secret)"?\s*(?:=|:\s*"))(?!env:|file:)([^&\s"\',}]+)')
# YAML-ish secretkey: 'x'
_YAML = re.compile(r"(?i)((?:secretkey|secret_key|password|secret)\s*:\s*)(['\"])(?!env:|file:)([^'\"]+)\2")
# user:password@ in URLs
_URL_PASSWORD = re.compile(r"(://[^/\s:@\"]+:)([^@\s/\"]+)@")
# a bare AWS secret access key: exactly 40 base64 characters mixing upper, lower case and digits
_RUN40 = re.compile(r"[A-Za-z0-9/+]{40,}=*")


def _aws_secret(m: re.Match[str]) -> str:
    run = m.group(0)
    if len(run) == 40 and not run.isdigit() and any(c.isupper() for c in run) and any(
            c.islower() for c in run) and any(c.isdigit() for c in run):
        return MASK
    return run


def redact_line(text: str) -> str:
    """The line with every secret-shaped value replaced by ``[REDACTED]``.

    Cheap literal checks decide which rules run: redaction runs on every example the scanner keeps.
    """
    low = text.lower()
    if "authorization" in low:
        text = _AUTH.sub(r"\1" + MASK, text)
    if "eyj" in low:
        text = _JWT.sub(MASK, text)
    if any(k in low for k in _SECRET_KEYS):
        text = _KEY_VALUE.sub(r"\1" + MASK, text)
        text = _YAML.sub(r"\1\2" + MASK + r"\2", text)
    if "://" in text and "@" in text:
        text = _URL_PASSWORD.sub(r"\1" + MASK + "@", text)
    return _RUN40.sub(_aws_secret, text)
