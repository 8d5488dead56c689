"""Matched lines in bulk: one Hyperscan pass over a whole buffer says which signatures match on which line.

Why: when an incident makes most lines match, RE2 is slow exactly where it matters. Its union finds one
hit per call at ~10 µs a hit on matching text, and the RE2 Set that then classifies the line costs as much
again: at 30 % matching lines the scan was 8x ``grep -cE``. Hyperscan runs every signature at once over
the buffer in C and reports ``(signature, end)`` pairs. Each pattern is compiled as ``(?:PATTERN)[^\\n]*\\n``,
so a match can only end at the newline that closes its line: one report per signature and line, however
often the signature occurs in it, and the reports come in line order. Python then sees one
``(start, end, mask)`` per matched line instead of a search, a line copy and a classification.

Two ways to run it. Where the package was built against Debian's libhyperscan-dev, the C module
``_native`` scans a batch and groups its reports into line arrays in one call (no Python callback per
report: at 30 % matching lines that was a third of the scan). Elsewhere the hyperscan wheel runs the same
patterns with a Python callback. Hyperscan is optional (wheels for x86-64 Linux). Without either, or for a
catalogue it cannot compile or that has more than 63 patterns (one bit each in the mask), :func:`engine`
answers None and the scanner keeps its RE2 path. All three give the same results (tests/test_logs_bulk.py,
tests/test_logs_native.py). The compiled database is cached in the user's cache folder (compiling takes
~0.3 s, loading ~1 ms).
"""

from __future__ import annotations

import hashlib
import importlib
import os
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from .signatures import Signature, ere_pattern, re2_pattern

MAX_PATTERNS = 63  # one bit each in a line's mask
ENGINE_ENV = "RUNBOOK_LOGS_ENGINE"  # "re2": no bulk engine; "python": the wheel, not _native (tests, benchmarks, a
# suspected engine bug)


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "runbooklib"


def line_pattern(sig: Signature) -> bytes:
    """The signature as Hyperscan runs it: any match, then the rest of its line and the newline."""
    return ("(?:" + ere_pattern(re2_pattern(sig.pattern)) + r")[^\n]*\n").encode("latin-1")


class Batch(NamedTuple):
    """Matched lines of one buffer: ``starts[i]:ends[i]`` is line i (without its newline), ``masks[i]`` its
    signatures (bit k = the engine's signature k)."""

    starts: np.ndarray
    ends: np.ndarray
    masks: np.ndarray


def _group(reports: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Reports (``end << 6 | pattern``) grouped per end offset: one (end, mask) per matched line."""
    if not reports:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    arr = np.array(reports, dtype=np.int64)
    to = arr >> 6
    if len(to) > 1 and (to[1:] < to[:-1]).any():  # Hyperscan reports in end order; never rely on it blindly
        order = np.argsort(to, kind="stable")
        arr, to = arr[order], to[order]
    bits = np.left_shift(np.int64(1), arr & 63)
    first = np.flatnonzero(np.concatenate(([True], to[1:] != to[:-1])))
    return to[first], np.bitwise_or.reduceat(bits, first)


class Bulk:
    """A compiled Hyperscan database over ``signatures`` (bit i of a mask = signatures[i])."""

    def __init__(self, db: Any, signatures: tuple[Signature, ...], native: Any = None) -> None:
        self.db = db
        self.signatures = signatures
        self.native = native  # a _native.Lines: the whole batch in C
        self.scratch = None
        if native is None:
            import hyperscan

            self.scratch = hyperscan.Scratch(db)  # a database read back from the cache comes without one

    def lines(self, buf, start: int, end: int) -> list[tuple[int, int, int]]:
        """``(line_start, line_end, mask)`` of every line in ``buf[start:end]`` that any signature matches, in
        order; ``line_end`` excludes the newline. ``start`` is a line start; the last line may lack its
        newline (the end of a file)."""
        found = self.batch(buf, start, end)
        return list(zip(found.starts.tolist(), found.ends.tolist(), found.masks.tolist()))

    def batch(self, buf, start: int, end: int) -> "Batch":
        """The same lines as :meth:`lines`, as arrays (line starts, line ends, masks): a window where most
        lines match then costs array operations, not a Python tuple per line."""
        empty = np.zeros(0, np.int64)
        if end <= start:
            return Batch(empty, empty, empty)
        if self.native is not None:
            starts, ends, masks = self.native.scan(buf, start, end)
            return Batch(np.frombuffer(starts, np.int64), np.frombuffer(ends, np.int64),
                         np.frombuffer(masks, np.int64))
        last_nl = buf.rfind(b"\n", start, end)
        body_end = last_nl + 1 if last_nl >= 0 else start
        ends, masks = empty, empty
        if body_end > start:
            ends, masks = _group(self._reports(memoryview(buf)[start:body_end]))
            ends = ends + (start - 1)  # the newline closing each line
        if body_end < end:  # a last line without its newline: scanned on its own, with one added
            tail_ends, tail_masks = _group(self._reports(bytes(buf[body_end:end]) + b"\n"))
            if len(tail_ends):
                ends = np.append(ends, end)
                masks = np.append(masks, tail_masks[0])
        rfind = buf.rfind
        starts = np.fromiter(((rfind(b"\n", start, e) + 1) or start for e in ends.tolist()), np.int64, len(ends))
        return Batch(starts, ends, masks)

    def _reports(self, data) -> list[int]:
        """Every Hyperscan report over ``data`` as ``end << 6 | pattern``."""
        reports: list[int] = []
        add = reports.append

        def on_match(pattern: int, _from: int, to: int, _flags: int, _ctx: Any) -> None:
            add(to << 6 | pattern)

        try:
            self.db.scan(data, match_event_handler=on_match, scratch=self.scratch)
        finally:
            if isinstance(data, memoryview):
                data.release()
        return reports


def _cached(patterns: list[bytes], build: str, load: Callable[[bytes], Any], compile_: Callable[[], Any],
            dump: Callable[[Any], bytes]) -> Any:
    """The database for ``patterns`` from the user's cache (keyed by the patterns and the library ``build``),
    else compiled and written there (atomically; a read-only home just compiles again next time)."""
    key = hashlib.sha256(b"\0".join(patterns) + build.encode()).hexdigest()[:24]
    path = _cache_dir() / f"signatures-{key}.hsdb"
    try:
        return load(path.read_bytes())
    except Exception:  # no cache yet, or one this build cannot read: compile
        pass
    db = compile_()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".signatures-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(dump(db))
        os.replace(tmp, path)
    except OSError:
        pass
    return db


def _compile(signatures: tuple[Signature, ...]):
    """The hyperscan wheel's database."""
    import hyperscan

    patterns = [line_pattern(s) for s in signatures]

    def compile_():
        db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        db.compile(expressions=patterns, ids=list(range(len(patterns))), elements=len(patterns),
                   flags=[0] * len(patterns))
        return db

    return _cached(patterns, "wheel " + str(getattr(hyperscan, "__version__", "")),
                   lambda data: hyperscan.loadb(data, hyperscan.HS_MODE_BLOCK), compile_, hyperscan.dumpb)


@lru_cache(maxsize=None)
def _load_native() -> Any:
    try:
        return importlib.import_module("._native", __package__)
    except ImportError:
        return None


def native_module() -> Any:
    """The C module, or None where it was not built (no libhyperscan-dev when the package was installed) or
    ``RUNBOOK_LOGS_ENGINE`` asks for a Python path."""
    if os.environ.get(ENGINE_ENV, "").lower() in ("python", "re2"):
        return None
    return _load_native()


def _compile_native(native: Any, signatures: tuple[Signature, ...]):
    """The C module's database (Debian's libhs; its own cache entries: the two libraries' formats differ)."""
    patterns = [line_pattern(s) for s in signatures]
    return _cached(patterns, "native " + native.hs_version(), native.Lines.load, lambda: native.Lines(patterns),
                   lambda lines: lines.serialize())


@lru_cache(maxsize=8)
def engine(signatures: tuple[Signature, ...]) -> Bulk | None:
    """The bulk engine for these signatures, or None (no Hyperscan, a pattern it cannot compile, too many
    patterns, or ``RUNBOOK_LOGS_ENGINE=re2``): the caller then uses RE2."""
    choice = os.environ.get(ENGINE_ENV, "").lower()
    if choice == "re2" or not signatures or len(signatures) > MAX_PATTERNS:
        return None
    native = native_module()
    if native is not None:
        try:
            return Bulk(None, signatures, _compile_native(native, signatures))
        except Exception:  # a pattern Debian's build refuses: the wheel, or RE2
            pass
    try:
        db = _compile(signatures)
    except Exception:  # ImportError, or hyperscan.error for a pattern: RE2 reads every pattern
        return None
    return Bulk(db, signatures)
