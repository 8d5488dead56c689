"""Matched lines in bulk: one Hyperscan pass over a whole buffer says which signatures match on which line.

Why: when an incident makes most lines match, RE2 is slow exactly where it matters. Its union finds one
hit per call at ~10 µs a hit on matching text, and the RE2 Set that then classifies the line costs as much
again: at 30 % matching lines the scan was 8x ``grep -cE``. Hyperscan runs every signature at once over
the buffer in C and reports ``(signature, end)`` pairs. Each pattern is compiled as ``(?:PATTERN)[^\\n]*\\n``,
so a match can only end at the newline that closes its line: one report per signature and line, however
often the signature occurs in it, and the reports come in line order. Python then sees one
``(start, end, mask)`` per matched line instead of a search, a line copy and a classification.

Hyperscan is optional (wheels for x86-64 Linux). Without it, or for a catalogue it cannot compile or that
has more than 63 patterns (one bit each in the mask), :func:`engine` answers None and the scanner keeps its
RE2 path, which gives the same results (tests/test_logs_bulk.py holds both to that). The compiled database
is cached in the user's cache folder (compiling takes ~0.3 s, loading ~1 ms).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from .signatures import Signature, ere_pattern, re2_pattern

MAX_PATTERNS = 63  # one bit each in a line's mask
ENGINE_ENV = "RUNBOOK_LOGS_ENGINE"  # "re2" turns the bulk engine off (tests, benchmarks, a suspected engine bug)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "runbooklib"


def line_pattern(sig: Signature) -> bytes:
    """The signature as Hyperscan runs it: any match, then the rest of its line and the newline."""
    return ("(?:" + ere_pattern(re2_pattern(sig.pattern)) + r")[^\n]*\n").encode("latin-1")


class Bulk:
    """A compiled Hyperscan database over ``signatures`` (bit i of a mask = signatures[i])."""

    def __init__(self, db: Any, signatures: tuple[Signature, ...]) -> None:
        import hyperscan

        self.db = db
        self.signatures = signatures
        self.scratch = hyperscan.Scratch(db)  # a database read back from the cache comes without one

    def lines(self, buf, start: int, end: int) -> list[tuple[int, int, int]]:
        """``(line_start, line_end, mask)`` of every line in ``buf[start:end]`` that any signature matches, in
        order; ``line_end`` excludes the newline. ``start`` is a line start; the last line may lack its
        newline (the end of a file)."""
        out: list[tuple[int, int, int]] = []
        if end <= start:
            return out
        last_nl = buf.rfind(b"\n", start, end)
        body_end = last_nl + 1 if last_nl >= 0 else start
        if body_end > start:
            rfind = buf.rfind
            for to, mask in self._ends(memoryview(buf)[start:body_end]):
                line_end = start + to - 1  # the newline
                out.append(((rfind(b"\n", start, line_end) + 1) or start, line_end, mask))
        if body_end < end:  # a last line without its newline: scanned on its own, with one added
            found = self._ends(bytes(buf[body_end:end]) + b"\n")
            if found:
                out.append((body_end, end, found[0][1]))
        return out

    def _ends(self, data) -> list[tuple[int, int]]:
        """``(end, mask)`` per matched line of ``data`` (end: just after the line's newline)."""
        reports: list[int] = []
        add = reports.append

        def on_match(pattern: int, _from: int, to: int, _flags: int, _ctx: Any) -> None:
            add(to << 6 | pattern)

        try:
            self.db.scan(data, match_event_handler=on_match, scratch=self.scratch)
        finally:
            if isinstance(data, memoryview):
                data.release()
        out: list[tuple[int, int]] = []
        prev, mask = -1, 0
        for value in reports:  # ordered by end offset: one run per line
            to = value >> 6
            if to != prev:
                if mask:
                    out.append((prev, mask))
                prev, mask = to, 0
            mask |= 1 << (value & 63)
        if mask:
            out.append((prev, mask))
        return out


def _compile(signatures: tuple[Signature, ...]):
    import hyperscan

    patterns = [line_pattern(s) for s in signatures]
    key = hashlib.sha256(b"\0".join(patterns) + str(getattr(hyperscan, "__version__", "")).encode()).hexdigest()[:24]
    path = _cache_dir() / f"signatures-{key}.hsdb"
    try:
        return hyperscan.loadb(path.read_bytes(), hyperscan.HS_MODE_BLOCK)
    except Exception:  # no cache yet, or one this build cannot read: compile
        pass
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    db.compile(expressions=patterns, ids=list(range(len(patterns))), elements=len(patterns),
               flags=[0] * len(patterns))
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signatures-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(hyperscan.dumpb(db))
        os.replace(tmp, path)
    except OSError:  # a read-only home: compile again next time
        pass
    return db


@lru_cache(maxsize=8)
def engine(signatures: tuple[Signature, ...]) -> Bulk | None:
    """The bulk engine for these signatures, or None (no Hyperscan, a pattern it cannot compile, too many
    patterns, or ``RUNBOOK_LOGS_ENGINE=re2``): the caller then uses RE2."""
    if os.environ.get(ENGINE_ENV, "").lower() == "re2" or not signatures or len(signatures) > MAX_PATTERNS:
        return None
    try:
        db = _compile(signatures)
    except Exception:  # ImportError, or hyperscan.error for a pattern: RE2 reads every pattern
        return None
    return Bulk(db, signatures)
