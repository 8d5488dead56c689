"""Mask secrets by their shape in one string: log lines, examples, events, finding texts.

Registry debug logs and proxy logs can carry Authorization headers, JWTs (a registry token is a bearer
credential for five minutes), passwords in query strings and S3 secret keys. The report layer masks the
secrets it resolved itself (``runbooklib.redact``); a log holds secrets nobody gave us, so these
patterns mask by shape.

The rules work on *decoded* text, one string at a time: a value stops at a quote, a backslash, a bracket or
an angle bracket, so a rule never eats the escaping backslash of a quote or half of a markup token. They are
never run over serialized JSON or HTML (``runbooklib.report.sanitize`` walks artifacts as objects and hands
them the strings inside). Every rule is idempotent: masking masked text changes nothing.
"""

from __future__ import annotations

import base64
import re

from ..redact import MASK

# A quote as it appears inside a string: plain, or escaped once or more (JSON or logfmt inside a message).
_Q = r"""(?:\\*["'])"""
# What a secret value is made of: stops at whitespace, quotes, backslashes, brackets and separators.
_VALUE = r"""(?!REDACTED\b)[^\s"'\\,&\[\]{}]+"""

_AUTH = re.compile(
    r"(?i)(authorization" + _Q + r"?\s*[:=]\s*\[?\s*" + _Q + r"?\s*(?:(?:bearer|basic|token|digest|negotiate)\s+)?)"
    r"(?!(?:bearer|basic|token|digest|negotiate)\b)(" + _VALUE + r")")
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
# `Bearer <token>` / `Basic <base64>` wherever they stand (an echoed header, a curl line, a repr)
_SCHEME = re.compile(r"(?i)(\b(?:bearer|basic)\s+)(?!realm\b|REDACTED\b)([A-Za-z0-9._~+/-]{8,}=*)(?![A-Za-z0-9._~+/=-])")
_PRIVATE_TOKEN = re.compile(
    r"(?i)((?:private|job|deploy)[-_]token" + _Q + r"?\s*[:=]\s*\[?\s*" + _Q + r"?)(?!REDACTED\b)([A-Za-z0-9_\-.]{8,})")
# key=value or "key":"value" where the key names a secret (query strings, logfmt, JSON, reprs)
_SECRET_KEYS = ("password", "passwd", "secret", "token", "signature", "sig=", 'sig"', "sig'")
_KEY_VALUE = re.compile(
    r"(?i)((?:^|[?&\s,{(;\"'])" + _Q + r"?(?:password|passwd|secret|secretkey|secret_key|secret_access_key|"
    r"aws_secret_access_key|access_token|refresh_token|token|private_token|job_token|x-amz-security-token|"
    r"client_secret)" + _Q + r"?\s*(?:=\s*" + _Q + r"?|:\s*" + _Q + r")|"
    # a request signature is a query parameter (a "signature" field elsewhere names a log signature)
    r"(?:^|[?&\s,;\"'])(?:x-amz-signature|signature|sig)=)"
    r"(?!env:|file:|yaml:)(" + _VALUE + r")")
# YAML-ish secretkey: 'x'
_YAML = re.compile(r"(?i)((?:secretkey|secret_key|password|secret)\s*:\s*)(['\"])(?!env:|file:|yaml:)((?:[^'\"\\]|\\.)+)\2")
# user:password@ in URLs
_URL_PASSWORD = re.compile(r"(://[^/\s:@\"'\\<>]+:)([^@\s/\"'\\<>]+)@")
# a bare AWS secret access key: exactly 40 base64 characters mixing upper, lower case and digits
_RUN40 = re.compile(r"[A-Za-z0-9/+]{40,}=*")
# what _RUN40 can mask: a whole run of exactly 40 (a sha256 digest's 64 never is; checked before the callback runs)
_EXACTLY40 = re.compile(r"(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
_SECRET_HINT = re.compile("|".join(re.escape(k) for k in _SECRET_KEYS))


def _aws_secret(m: re.Match[str]) -> str:
    run = m.group(0)
    if len(run) == 40 and not run.isdigit() and any(c.isupper() for c in run) and any(
            c.islower() for c in run) and any(c.isdigit() for c in run):
        return MASK
    return run


def _scheme(m: re.Match[str]) -> str:
    """`Bearer abc.def-123`, `Basic dXNlcjpwdw==` are credentials; `Basic authentication` is prose."""
    token = m.group(2)
    credential = any(c.isdigit() or c in "+/=._~-" for c in token) or (
        len(token) >= 20 and any(c.isupper() for c in token) and any(c.islower() for c in token))
    if not credential and m.group(1)[:5].lower() == "basic":
        try:  # base64 of user:password
            plain = base64.b64decode(token + "=" * (-len(token) % 4), validate=True)
            credential = b":" in plain and all(32 <= b < 127 for b in plain)
        except ValueError:
            pass
    return m.group(1) + MASK if credential else m.group(0)


def redact_line(text: str) -> str:
    """The line with every secret-shaped value replaced by ``[REDACTED]``.

    Cheap literal checks decide which rules run: redaction runs on every example the scanner keeps.
    """
    low = text.lower()
    if "authorization" in low:
        text = _AUTH.sub(r"\1" + MASK, text)
    if "eyj" in low:
        text = _JWT.sub(MASK, text)
    if "bearer" in low or "basic" in low:
        text = _SCHEME.sub(_scheme, text)
    if "-token" in low or "_token" in low:
        text = _PRIVATE_TOKEN.sub(r"\1" + MASK, text)
    if _SECRET_HINT.search(low):
        text = _KEY_VALUE.sub(r"\1" + MASK, text)
        text = _YAML.sub(r"\1\2" + MASK + r"\2", text)
    if "://" in text and "@" in text:
        text = _URL_PASSWORD.sub(r"\1" + MASK + "@", text)
    if len(text) >= 40 and _EXACTLY40.search(text):
        text = _RUN40.sub(_aws_secret, text)
    return text


def _suspect(line: str) -> bool:
    low = line.lower()
    return ("authorization" in low or "eyj" in low or "password" in low or "secret" in low or "token" in low
            or "bearer" in low or "basic" in low or "sig" in low or "://" in line or len(line) >= 40)


def redact_shapes(text: str) -> str:
    """``redact_line`` over every line of a (possibly multi-line) string; lines without a hint stay as they are."""
    if "\n" not in text:
        return redact_line(text) if _suspect(text) else text
    return "\n".join(redact_line(line) if _suspect(line) else line for line in text.split("\n"))
