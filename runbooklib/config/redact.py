"""Secrets in configs (S3 secret keys, passwords, http/notification secrets, private keys) never reach
evidence, reprs or reports. One rule, by key name, used by every config view.

The rule keeps what a diagnosis needs visible: the S3 ``accesskey`` partly (first and last four characters,
as the AWS console shows it: enough to tell which IAM key, not the key itself), paths to key
files, Kubernetes Secret *names*, token service/issuer names. It masks values, never structure: a secret-like
key holding a mapping (``auth.token``, Helm ``httpSecret: {secret, key}``) is walked, not blanked.
"""

from __future__ import annotations

import re
from typing import Any

from ..redact import MASK

# Compared after lower-casing and dropping everything but letters and digits ("http_secret" -> "httpsecret").
_SECRET_WORDS = ("secret", "password", "passwd", "privatekey", "passphrase")
_SECRET_ENDINGS = ("token", "accountkey", "apikey", "licensekey", "credentials", "sessionkey", "signingkey")
_SECRET_EXACT = {"authorization", "dsn", "cookie", "pass"}
# Values under these endings are names, paths, switches or references, never the secret itself.
_HARMLESS_ENDINGS = ("path", "file", "dir", "directory", "name", "ref", "enabled", "disabled", "enable", "disable")

_BRACKET_KEY = re.compile(r"""\[\s*:?['"]?([^'"\]]*)['"]?\s*\]\s*$""")
_URL_PASSWORD = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^/@:\s]*:)(?P<pw>[^/@\s]+)(?P<at>@)", re.I)
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S)


def _norm(key: Any) -> str:
    text = str(key)
    m = _BRACKET_KEY.search(text)  # "registry['http_secret']" -> "http_secret"
    if m:
        text = m.group(1)
    return re.sub(r"[^a-z0-9]", "", text.lower())


def is_secret_key(key: Any) -> bool:
    """Does a value stored under this key name hold a secret? (``secretkey`` yes, ``accesskey`` no)."""
    if key is None:
        return False
    k = _norm(key)
    if not k or k.endswith(_HARMLESS_ENDINGS):
        return False
    return k in _SECRET_EXACT or any(w in k for w in _SECRET_WORDS) or k.endswith(_SECRET_ENDINGS)


_PARTIAL = {"accesskey", "accesskeyid", "awsaccesskeyid", "accessid"}


def partial_mask(value: str) -> str:
    """``AKIA…WXYZ``: which access key, without handing it out (it is a secret parameter here)."""
    if "…" in value or value == MASK:
        return value  # already masked
    return f"{value[:4]}…{value[-4:]}" if len(value) > 10 else MASK


def redact_text_value(text: str) -> str:
    """Mask secrets recognisable by shape inside a free string: URL passwords and PEM private keys."""
    text = _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + m.group("at"), text)
    return _PRIVATE_KEY.sub(MASK, text)


def redact_config(value: Any, key: Any = None, _depth: int = 0) -> Any:
    """A copy of ``value`` (plain dicts/lists/scalars) with every secret masked by its key name.

    Empty secrets (None, "") stay as they are: "not set" is a useful fact and reveals nothing.
    """
    if _depth > 64:
        return MASK  # deeper than any real config: refuse to walk (alias bombs) rather than risk a leak
    secret = is_secret_key(key)
    if isinstance(value, dict):
        return {k: redact_config(v, k, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_config(v, key if secret else None, _depth + 1) for v in value]
    if value is None or value == "" or isinstance(value, bool):
        return value  # "not set" and on/off switches reveal nothing
    if secret:
        return MASK
    if isinstance(value, str) and _norm(key) in _PARTIAL:
        return partial_mask(value)
    if isinstance(value, str):
        return redact_text_value(value)
    return value
