"""Known secrets in every form an artifact can hold them.

A secret this run resolved itself (``password``, an S3 key, a GitLab token) is masked wherever it appears:
as is; JSON- or Python-escaped (``\\"``, ``\\u0026``, ``\\'``); HTML-escaped (named, decimal or hex character
references); percent-encoded (``quote`` or ``quote_plus``); and base64 (standard or URL-safe, alone or at any
alignment inside a longer base64 text), including ``base64(username:secret)``, the HTTP Basic credential a
token realm may echo back.

Each character of a secret is matched as one whole escape sequence (or a mix of them: HTML-escaped JSON,
JSON inside JSON). These functions work on one string and are meant for strings *inside* artifacts;
walking artifacts as objects (notebooks, findings, HTML text nodes) is ``runbooklib.report.sanitize``,
secrets by shape are ``runbooklib.logs.redact``. A secret longer than ``_LONG`` characters (a key file) is
matched literally in its usual encodings.
"""

from __future__ import annotations

import base64
import html
import html.entities
import json
import re
import urllib.parse
from dataclasses import dataclass
from typing import Iterable

MASK = "[REDACTED]"
MIN_LEN = 4  # shorter values would mask ordinary text
_CORE_MIN = 12  # base64 of a secret inside a longer base64 text: only for secrets this long (no false hits)
_LONG = 4096  # longer secrets (key files) are matched literally: per-character patterns would take seconds

# Every named character reference (with its semicolon) that stands for one character.
_NAMED: dict[str, list[str]] = {}
for _name, _ch in html.entities.html5.items():
    if _name.endswith(";") and len(_ch) == 1:
        _NAMED.setdefault(_ch, []).append(_name)
_SHORT_ESCAPES = {"\n": "n", "\t": "t", "\r": "r", "\b": "b", "\f": "f", "\v": "v", "\0": "0"}


def _hex(n: int, width: int = 0) -> str:
    """Hex digits of ``n`` as a pattern that accepts either letter case."""
    return "".join(f"[{d.lower()}{d.upper()}]" if d.isalpha() else d for d in format(n, f"0{width}x"))


def _plain(c: str) -> str:
    """``c`` as is or as an HTML character reference."""
    cp = ord(c)
    alts = [re.escape(c), f"&#0*{cp};", f"&#[xX]0*{_hex(cp)};"]
    alts += ["&" + re.escape(name) for name in _NAMED.get(c, ())]
    return "|".join(alts)


_BACKSLASH = f"(?:{_plain(chr(92))})+"  # escapes nest: JSON inside JSON doubles them


def _char(c: str) -> str:
    """A pattern for one character of a secret in any encoding this project's artifacts use, or a mix.

    ASCII letters and digits stand for themselves: JSON, HTML, ``quote``/``quote_plus`` and ``repr`` leave them
    alone, which keeps the patterns fast and gives each one a literal anchor to look for first.
    """
    if c.isascii() and c.isalnum():
        return c
    cp = ord(c)
    alts = [_plain(c), "".join(f"%{_hex(b, 2)}" for b in c.encode("utf-8", "surrogatepass"))]
    if c == " ":
        alts.append(r"\+")
    escapes = []  # after a backslash (itself maybe HTML-escaped): JSON and Python string escapes
    if cp > 0xFFFF:
        hi, lo = 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF)
        escapes += [f"u{_hex(hi, 4)}{_BACKSLASH}u{_hex(lo, 4)}", f"U{_hex(cp, 8)}"]
    else:
        escapes.append(f"u{_hex(cp, 4)}")
    if cp < 256:
        escapes.append(f"x{_hex(cp, 2)}")
    if c in "\"'/\\":
        escapes.append(_plain(c))
    if c in _SHORT_ESCAPES:
        escapes.append(_SHORT_ESCAPES[c])
    alts.append(f"{_BACKSLASH}(?:{'|'.join(escapes)})")
    return "(?:" + "|".join(alts) + ")"


def _pattern(text: str) -> str:
    return "".join(_char(c) for c in text)


def _anchor(text: str) -> str | None:
    """The longest run of ASCII letters and digits: every encoding keeps it, so a text without it can't match."""
    runs = re.findall(r"[A-Za-z0-9]+", text)
    best = max(runs, key=len, default="")
    return best if len(best) >= 3 else None


def _b64_core(data: bytes, offset: int, alphabet: bytes | None) -> str:
    """The base64 characters that encode only ``data`` when it starts ``offset`` bytes into a longer text."""
    encoded = base64.b64encode(b"\0" * offset + data + b"\0\0", altchars=alphabet).decode("ascii")
    first = -(-offset * 8 // 6)  # characters touching the bytes before
    last = (offset + len(data)) * 8 // 6  # characters past it touch the bytes after
    return encoded[first:last]


@dataclass(frozen=True)
class Form:
    """One way a secret is written: what it is called (never its value) and how to find it: a pattern, or
    for a very long secret a literal text."""

    label: str
    pattern: re.Pattern[str] | None
    anchor: str | None
    length: int
    literal: str | None = None

    def search(self, text: str) -> bool:
        if self.literal is not None:
            return self.literal in text
        if self.anchor is not None and self.anchor not in text:
            return False
        return self.pattern is not None and self.pattern.search(text) is not None

    def sub(self, text: str) -> str:
        if self.literal is not None:
            return text.replace(self.literal, MASK)
        if self.pattern is None or (self.anchor is not None and self.anchor not in text):
            return text
        return self.pattern.sub(MASK, text)


def _long_forms(secret: str) -> list[tuple[str, str, str]]:
    """A secret too long for per-character patterns (a key file): its usual encodings, literally."""
    data = secret.encode("utf-8", "surrogatepass")
    texts = {secret, json.dumps(secret)[1:-1], json.dumps(secret, ensure_ascii=False)[1:-1],
             html.escape(secret), html.escape(secret, quote=False), urllib.parse.quote(secret, safe=""),
             urllib.parse.quote_plus(secret), base64.b64encode(data).decode("ascii"),
             base64.b64encode(data).decode("ascii").rstrip("=")}
    return [("a long secret as is or in a usual encoding", t, "") for t in sorted(texts, key=len, reverse=True)]


def _forms(secret: str, usernames: Iterable[str]) -> list[tuple[str, str, str]]:
    """(label, base text, pattern) for every form of one secret; an empty pattern: match the text literally."""
    if len(secret) > _LONG:
        return _long_forms(secret)
    data = secret.encode("utf-8", "surrogatepass")
    pad = f"(?:{_char('=')}){{0,2}}"
    out = [("the secret as is or escaped (JSON, Python, HTML, URL)", secret, _pattern(secret))]
    for alphabet, kind in ((None, "base64"), (b"-_", "URL-safe base64")):
        full = base64.b64encode(data, altchars=alphabet).decode("ascii").rstrip("=")
        out.append((f"{kind} of the secret", full, _pattern(full) + pad))
        for user in usernames:
            basic = base64.b64encode(f"{user}:{secret}".encode("utf-8", "surrogatepass"), altchars=alphabet)
            text = basic.decode("ascii").rstrip("=")
            out.append((f"{kind} of username:secret (HTTP Basic)", text, _pattern(text) + pad))
        if len(data) >= _CORE_MIN:
            for offset in (0, 1, 2):
                core = _b64_core(data, offset, alphabet)
                out.append((f"{kind} of the secret inside a longer base64 text", core, _pattern(core)))
    seen, unique = set(), []
    for label, text, pattern in out:
        if text not in seen:
            seen.add(text)
            unique.append((label, text, pattern))
    return unique


class KnownSecrets:
    """The secrets a run resolved, with every form they can take in an artifact; compiled once per run."""

    def __init__(self, values: Iterable[str] = (), usernames: Iterable[str] = ()) -> None:
        self.values = sorted({v for v in values if isinstance(v, str) and len(v) >= MIN_LEN}, key=len, reverse=True)
        self.usernames = sorted({u for u in usernames if isinstance(u, str) and u})
        forms = []
        for value in self.values:
            for label, text, pattern in _forms(value, self.usernames):
                if pattern:
                    forms.append(Form(label, re.compile(pattern), _anchor(text), len(text)))
                else:
                    forms.append(Form(label, None, None, len(text), literal=text))
        self.forms = sorted(forms, key=lambda f: f.length, reverse=True)

    def __bool__(self) -> bool:
        return bool(self.values)

    def mask(self, text: str) -> str:
        """``text`` with every form of every secret replaced by ``[REDACTED]``."""
        for form in self.forms:
            text = form.sub(text)
        return text

    def find(self, text: str) -> str | None:
        """The label of a form some secret still has in ``text`` (never the secret), or None."""
        if not self.forms:
            return None
        text = text.replace(MASK, "\0")  # a mask never counts as (part of) a secret
        for form in self.forms:
            if form.search(text):
                return form.label
        return None


def redact_text(text: str, secrets: Iterable[str], usernames: Iterable[str] = ()) -> str:
    """One string with every known secret masked in every form (see ``KnownSecrets``)."""
    return KnownSecrets(secrets, usernames).mask(text)
