"""Field values read off matched lines: which key IDs, clients, buckets or endpoints an incident's lines name.

A signature's named groups are its fields. In an incident most lines match, and each of them is read, so
the reading is what costs. RE2 reads any line safely whatever its length, but one call costs ~3 µs, most
of it set-up; Python's ``re`` reads a short line in ~1 µs. Signature patterns are this project's own, and
``tests/test_logs_fields.py`` holds both engines to the same values on every sample line, so lines of up to
SHORT bytes go to ``re`` and longer ones to RE2: a crafted line can never make ``re`` backtrack over more
than SHORT bytes.

Where the C module was built (:mod:`._native`), a batch's lines are read by PCRE2 in one call that returns
each distinct group tuple with its count, in order of first appearance: what the ``Counter`` below gives,
without a Python step per line. A batch with a longer line, or a match PCRE2 gives up on, is read here.

Counting keeps the first FIELD_VALUES distinct values of a field, in the order they first appear, and
counts every later line that has one of them: the same values whether lines come one by one or in batches.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Iterable

import numpy as np
import re2

from .bulk import native_module
from ..redact import MASK
from .formats import METHOD_PATTERN, decode, quick_method
from .redact import redact_line
from .signatures import Signature, re2_pattern

FIELD_VALUES = 50  # distinct values kept per extracted field
PART_FIELD_VALUES = 1000  # kept by one part of a shared-out scan, so the merge still finds the first 50 overall
SHORT = 4096  # lines up to this long are read by Python's re
_UNANCHORED = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
_GROUPS = re.Match.groups


@lru_cache(maxsize=4096)
def field_text(value: bytes) -> str:
    """A field value as counted: decoded and masked (values repeat in an incident: masked once each)."""
    return redact_line(decode(value))


class FieldReader:
    """Reads one signature's named groups off lines it matches."""

    def __init__(self, sig: Signature) -> None:
        regex = sig.regex
        self.names = [(n.decode("ascii") if isinstance(n, bytes) else n, i) for n, i in regex.groupindex.items()]
        self.short = re.compile(re2_pattern(sig.pattern).encode("latin-1")).search
        raw = getattr(regex, "_regexp", None)
        self.long = raw.Match if raw is not None and _UNANCHORED is not None and hasattr(raw, "Match") else None
        self.regex = regex
        self.native = _native_groups(re2_pattern(sig.pattern).encode("latin-1"))

    def values(self, line) -> tuple | None:
        """The first match's groups (bytes or None, indexed by group number from 1), or None: no match."""
        if len(line) <= SHORT:
            m = self.short(line)
            return None if m is None else m.groups()
        if self.long is not None:
            spans = self.long(_UNANCHORED, line, 0, len(line))
            if spans[0][0] < 0:
                return None
            return tuple(None if a < 0 else bytes(line[a:b]) for a, b in spans[1:])
        m2 = self.regex.search(line)
        return None if m2 is None else m2.groups()

    def count_spans(self, fields: dict[str, Counter], buf, starts: np.ndarray, ends: np.ndarray,
                    cap: int = FIELD_VALUES) -> None:
        """:meth:`count` for the lines ``buf[starts[i]:ends[i]]`` (in file order): in C where it can."""
        if self.native is not None:
            pairs = self.native.count(buf, starts, ends, SHORT)
            if pairs is not None:
                self._admit(fields, dict(pairs), cap)
                return
        lines = map(buf.__getitem__, map(slice, starts.tolist(), ends.tolist()))
        self.count(fields, lines, short=bool(len(starts)) and bool((ends - starts).max() <= SHORT), cap=cap)

    def count(self, fields: dict[str, Counter], lines: Iterable, short: bool = False, cap: int = FIELD_VALUES) -> None:
        """Add the fields of ``lines`` (in file order) to ``fields`` (name -> value counts). ``short``: the
        caller knows every line is at most SHORT bytes (then the loop runs in C: map, filter, Counter)."""
        if short:
            found = Counter(map(_GROUPS, filter(None, map(self.short, lines))))
        else:
            found = Counter(filter(None, map(self.values, lines)))
        self._admit(fields, found, cap)

    def _admit(self, fields: dict[str, Counter], found: dict[tuple, int], cap: int) -> None:
        """Group tuples with their counts (in order of first appearance) into ``fields``."""
        if not found:
            return
        for name, i in self.names:
            per_value: dict[bytes, int] = {}
            for groups, n in found.items():  # first appearance first: the order admission goes by
                value = groups[i - 1]
                if value is not None:
                    per_value[value] = per_value.get(value, 0) + n
            if not per_value:
                continue
            counter = fields.get(name)
            if counter is None:
                counter = fields[name] = Counter()
            if len(counter) >= cap and not any(MASK in k for k in counter):
                # full, and no kept value was masked: a value counts only if it is kept as it reads (masking
                # is idempotent, so a kept text masks to itself), and no other value needs masking
                for value, n in per_value.items():
                    text = decode(bytes(value))
                    if text in counter:
                        counter[text] += n
                continue
            for value, n in per_value.items():
                text = field_text(bytes(value))
                if text in counter or len(counter) < cap:
                    counter[text] += n


# syntax PCRE2 reads otherwise than Python's re: ``{,n}`` (literal text there) and ``\Z`` (before a final newline
# too); a pattern using either is read by Python
_PCRE2_DIFFERS = re.compile(rb"\{,|\\Z")


def _native_groups(pattern: bytes):
    """PCRE2's reader of ``pattern`` from the C module, or None (not built, syntax PCRE2 reads otherwise, or a
    pattern it refuses)."""
    native = native_module()
    if native is None or _PCRE2_DIFFERS.search(pattern):
        return None
    try:
        return native.Groups(pattern)
    except ValueError:
        return None


def method_counts(buf, starts: np.ndarray, ends: np.ndarray) -> Counter:
    """How many of the lines ``buf[starts[i]:ends[i]]`` carry each HTTP method, as quick_method reads it."""
    native = _method_reader()
    if native is not None:
        pairs = native.count(buf, starts, ends, SHORT)
        if pairs is not None:
            found: Counter = Counter()
            for groups, n in pairs:
                found[next(g for g in groups if g is not None).decode("latin-1")] += n
            return found
    lines = map(buf.__getitem__, map(slice, starts.tolist(), ends.tolist()))
    return Counter(filter(None, map(quick_method, lines)))


def _method_reader():
    native = native_module()
    if native is None:
        return None
    global _METHODS
    if _METHODS is None:
        _METHODS = _native_groups(METHOD_PATTERN)
    return _METHODS


_METHODS = None


def reader(sig: Signature) -> FieldReader | None:
    """The signature's field reader, or None when it has no fields."""
    return FieldReader(sig) if sig.fields else None
