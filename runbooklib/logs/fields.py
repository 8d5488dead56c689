"""Field values read off matched lines: which key IDs, clients, buckets or endpoints an incident's lines name.

A signature's named groups are its fields. In an incident most lines match, and each of them is read, so
the reading is what costs. RE2 reads any line safely whatever its length, but one call costs ~3 µs, most
of it set-up; Python's ``re`` reads a short line in ~1 µs. Signature patterns are this project's own, and
``tests/test_logs_fields.py`` holds both engines to the same values on every sample line, so lines of up to
SHORT bytes go to ``re`` and longer ones to RE2: a crafted line can never make ``re`` backtrack over more
than SHORT bytes.

Counting keeps the first FIELD_VALUES distinct values of a field, in the order they first appear, and
counts every later line that has one of them: the same values whether lines come one by one or in batches.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from typing import Iterable

import re2

from .formats import decode
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

    def count(self, fields: dict[str, Counter], lines: Iterable, short: bool = False, cap: int = FIELD_VALUES) -> None:
        """Add the fields of ``lines`` (in file order) to ``fields`` (name -> value counts). ``short``: the
        caller knows every line is at most SHORT bytes (then the loop runs in C: map, filter, Counter)."""
        if short:
            found = Counter(map(_GROUPS, filter(None, map(self.short, lines))))
        else:
            found = Counter(filter(None, map(self.values, lines)))
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
            for value, n in per_value.items():
                text = field_text(bytes(value))
                if text in counter or len(counter) < cap:
                    counter[text] += n


def reader(sig: Signature) -> FieldReader | None:
    """The signature's field reader, or None when it has no fields."""
    return FieldReader(sig) if sig.fields else None
