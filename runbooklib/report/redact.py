"""The last line of defence: no resolved secret survives in an artifact."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

MASK = "[REDACTED]"
MIN_LEN = 4  # shorter values would mask ordinary text


def redact_text(text: str, secrets: Iterable[str]) -> str:
    for value in sorted({s for s in secrets if s and len(s) >= MIN_LEN}, key=len, reverse=True):
        text = text.replace(value, MASK)
        escaped = value.encode("unicode_escape").decode("ascii")  # as it appears inside JSON strings
        if escaped != value:
            text = text.replace(escaped, MASK)
    return text


def redact_file(path: Path, secrets: Iterable[str]) -> bool:
    """Rewrite a text file with secrets masked; True when something was masked."""
    secrets = list(secrets)
    if not secrets or not path.exists():
        return False
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    clean = redact_text(text, secrets)
    if clean != text:
        path.write_text(clean, encoding="utf-8", errors="surrogateescape")
        return True
    return False
