"""One redaction pass over every artifact of a bundle before its manifest is written.

Two layers: the secret values this run resolved itself (exact match, also JSON-escaped), and secrets by
shape that nobody gave us but a response or log may carry (Authorization / PRIVATE-TOKEN headers, JWTs,
AWS secret keys, password= pairs).
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path
from typing import Iterable

from ..logs.redact import redact_line
from .redact import MASK, redact_text

_PRIVATE_TOKEN = re.compile(r'(?i)((?:private-token|job-token)"?\s*[:=]\s*"?)([A-Za-z0-9_\-\.]{8,})')
_TEXT_SUFFIXES = {".html", ".json", ".ipynb", ".txt", ".md", ".log", ".yaml", ".yml", ".csv"}


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Resolved secrets first (exact), then shapes."""
    text = redact_text(text, secrets)
    if "token" in text.lower():
        text = _PRIVATE_TOKEN.sub(r"\1" + MASK, text)
    # shapes line by line: the rules are tuned for single lines and stay cheap on long pages
    return "\n".join(redact_line(line) if _suspect(line) else line for line in text.split("\n"))


def _suspect(line: str) -> bool:
    low = line.lower()
    return ("authorization" in low or "eyj" in low or "password" in low or "secret" in low or "token" in low
            or "://" in line or len(line) >= 40)


def scrub_file(path: Path, secrets: Iterable[str]) -> bool:
    """Scrub one text artifact in place; True when something was masked."""
    if not path.is_file():
        return False
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    clean = scrub(text, secrets)
    if clean != text:
        path.write_text(clean, encoding="utf-8", errors="surrogateescape")
        return True
    return False


def scrub_tree(folder: Path, secrets: Iterable[str]) -> list[str]:
    """Scrub every text artifact under ``folder`` in place; returns the files that changed."""
    secrets = list(secrets)
    changed = []
    for path in sorted(folder.rglob("*")):
        if path.suffix in _TEXT_SUFFIXES and scrub_file(path, secrets):
            changed.append(str(path.relative_to(folder)))
    return changed


def archive(folder: Path) -> Path:
    """`DIR.tar.gz` beside the bundle, holding exactly its files (manifest and signature included)."""
    out = folder.with_name(folder.name + ".tar.gz")
    with tarfile.open(out, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    return out
