"""scan_logs: count every known signature in logs of any size, at grep's speed, in bounded memory.

How it stays fast (see benchmarks/logs.py): the bytes are searched where they lie: read-only memory maps
of 16 MiB windows for quiet plain files, one reused 8 MiB ``bytearray`` filled with ``readinto`` for live
and compressed files. Where Hyperscan is installed (:mod:`.bulk`), one pass over a 4 MiB batch reports
every matched line with its signatures, and the batch is counted with array operations
(:meth:`_Scanner._tally`): times read in bulk (:mod:`.stamps`), minutes and first/last times per
combination of signatures, field values (:mod:`.fields`), then examples in file order and the first lines
into the events table, kept raw and parsed when the table is built. Without Hyperscan one RE2 union
finds each candidate, a RE2 Set classifies its line, and :meth:`_Scanner.line` counts it: the same
results (tests/test_logs_bulk.py), slower when most lines match. Big plain files and folders of many
files are shared out over worker processes (:mod:`.parallel`).
Memory: one window or buffer, a batch's arrays, per-signature counters, a few examples, and an events
table capped at ``max_events`` rows; nothing grows with the file.
"""

from __future__ import annotations

import builtins
import datetime as dt
import mmap
import os
import re
import stat
import time
import traceback
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any, Callable, Literal, Protocol

import numpy as np
import re2

from .bulk import engine as bulk_engine
from .fields import FIELD_VALUES, FieldReader, method_counts, reader
from .formats import COLUMNS, Event, LineContext, decode, parse_line, quick_method, quick_time
from .readers import PathProblem, compression, open_log
from .redact import redact_line
from .suggest import suggested_scenarios
from .stamps import MINUTE, NO_KEY, key_time, line_keys, minute_time, time_key
from .signatures import (AGGREGATES, SEVERITY_RANK, Signature, latin1_options, re2_pattern,
                         union_pattern)
from .uploads import UploadTracker

CHUNK = 8 << 20  # 8 MiB stream buffers: big enough to amortise each search call, small for the RSS budget
FILL = 4 << 20  # a stream's buffer is counted once this much more has come (or the stream ended)
WINDOW = 16 << 20  # memory-mapped window over plain files
PARALLEL_MIN = 256 << 20  # plain files this big are split over worker processes
SPREAD_MIN = 64 << 20  # below this much to read, a worker process costs more than it saves
BATCH_BYTES = 4 << 20  # the bulk path counts this much at once (its arrays grow with the lines in it; 2 MiB
# cost ~4 % more in per-batch steps, 8 MiB saved nothing more)
PIECE = 16 << 20  # plain files are shared out in pieces this big (the last ones go to whoever is free)
SPREAD_WORTH_S = 1.5  # a file whose rest would take longer than this (projected from its first piece) is spread
QUIET_S = 300  # plain files unchanged this long are memory-mapped (see _Scanner.scan_plain)
MAX_LINE = 1 << 20  # lines longer than 1 MiB are counted as unparsed and skipped
SAMPLE_BYTES = 64 << 10  # the head of each file every line of which is parsed (format, unparsed lines)
RAW_KEEP = 2000  # characters of a raw line kept in the events table
ROW_BYTES = 16 << 10  # lines up to this long wait in the events table unparsed (see _Scanner._row)
MAX_MINUTES = 50_000  # per signature: a month of minutes
MAX_COMBOS = 4096  # combinations of signatures remembered by the bulk path
EXAMPLE_TRIES = 200  # hits of a signature looked at for distinct examples (redaction costs, counts don't)
_DIGITS = re.compile(rb"[0-9]+")
_SGR = re.compile(rb"\x1b\[[0-9;]*m")


def example_shape(line: bytes) -> bytes:
    """What two examples must not share: the raw line without colours, its digit runs as ``#`` (lines that
    differ only in times and numbers are one example). Raw, so a line is masked only when it is kept."""
    return _DIGITS.sub(b"#", _SGR.sub(b"", line[:RAW_KEEP * 4]))


def example_text(line: bytes) -> str:
    """An example as kept: colours (SGR) gone, secrets masked; any other escape stays, for the CLI to show
    escaped."""
    return redact_line(decode(_SGR.sub(b"", line)))[:RAW_KEEP]


# --- results ---------------------------------------------------------------------------------------------
@dataclass
class SignatureStats:
    """What one signature matched: exact counts, times, and a few redacted examples."""

    signature: Signature
    count: int = 0
    first_seen: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    examples: list[str] = field(default_factory=list)
    example_shapes: list[bytes] = field(default_factory=list, repr=False)  # example_shape() of each example
    example_hits: list[int] = field(default_factory=list, repr=False)  # and which hit it was (1 = the first)
    fields: dict[str, Counter] = field(default_factory=dict)
    methods: Counter = field(default_factory=Counter)
    sources: Counter = field(default_factory=Counter)
    # lines per minute (UTC), every matched line with a time, not only those the events table keeps: the
    # timeline of an incident; at most MAX_MINUTES minutes (later ones are counted in minutes_dropped). The
    # bulk path leaves (minute, count) arrays in _pending, folded in when minutes are next read.
    _minutes: Counter = field(default_factory=Counter, repr=False)
    _dropped: int = field(default=0, repr=False)
    _pending: list = field(default_factory=list, repr=False, compare=False)
    _pending_size: int = field(default=0, repr=False, compare=False)

    @property
    def minutes(self) -> Counter:
        if self._pending:
            self._settle()
        return self._minutes

    @property
    def minutes_dropped(self) -> int:
        if self._pending:
            self._settle()
        return self._dropped

    def add_minutes(self, minute: dt.datetime, n: int = 1) -> None:
        minutes = self.minutes
        if minute in minutes or len(minutes) < MAX_MINUTES:
            minutes[minute] += n
        else:
            self._dropped += n

    def merge_minutes(self, later: "SignatureStats") -> None:
        """Add the minutes of a later part of the same scan (its arrays wait here as they waited there)."""
        for minute, n in later._minutes.items():  # what the part folded in came before what it left waiting
            self.add_minutes(minute, n)
        self._dropped += later._dropped
        for minutes, counts in later._pending:
            self.add_minute_array(minutes, counts)

    def add_minute_array(self, minutes: np.ndarray, counts: np.ndarray) -> None:
        """Lines per minute (``key // MINUTE``) in order of first appearance: kept as arrays, folded in when
        :attr:`minutes` is read (a batch of an incident spans many minutes; one dict update per minute and
        batch was a tenth of the scan)."""
        self._pending.append((minutes, counts))
        self._pending_size += len(minutes)
        if self._pending_size > 1 << 20:  # bounded, whatever the file
            self._settle()

    def _settle(self) -> None:
        """The pending arrays into the Counter, in order of first appearance (the cap keeps the same minutes
        as adding them one by one)."""
        pending, self._pending, self._pending_size = self._pending, [], 0
        ids = np.concatenate([m for m, _ in pending])
        counts = np.concatenate([c for _, c in pending])
        uniq, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
        sums = np.bincount(inverse.ravel(), weights=counts, minlength=len(uniq)).astype(np.int64)
        order = np.argsort(first, kind="stable")
        minutes = self._minutes
        pairs = zip(map(minute_time, uniq[order].tolist()), sums[order].tolist())
        if len(minutes) + len(uniq) <= MAX_MINUTES:
            for minute, n in pairs:
                minutes[minute] = minutes.get(minute, 0) + n
            return
        for minute, n in pairs:
            if minute in minutes or len(minutes) < MAX_MINUTES:
                minutes[minute] = minutes.get(minute, 0) + n
            else:
                self._dropped += n

    def add_time(self, t: dt.datetime | None) -> None:
        if t is None:
            return
        if self.first_seen is None or t < self.first_seen:
            self.first_seen = t
        if self.last_seen is None or t > self.last_seen:
            self.last_seen = t

    @property
    def routine(self) -> bool:
        """Every hit was a method this signature calls routine (e.g. HEAD ``blob unknown`` before a push)."""
        benign = self.signature.benign_methods
        return bool(benign) and self.count > 0 and set(self.methods) <= set(benign)

    @property
    def effective_severity(self) -> str:
        return "info" if self.routine else self.signature.severity

    def field_summary(self) -> dict[str, list[str]]:
        return {k: [v for v, _ in c.most_common(10)] for k, c in self.fields.items()}

    def to_json(self) -> dict[str, Any]:
        s = self.signature
        return {
            "id": s.id,
            "scenario": s.scenario,
            "severity": self.effective_severity,
            "count": self.count,
            "first_seen": _iso(self.first_seen),
            "last_seen": _iso(self.last_seen),
            "fields": self.field_summary(),
            "examples": list(self.examples),
            "meaning": s.meaning,
        }


@dataclass
class FileInfo:
    """One file read by the scan."""

    path: str
    format: str = "unknown"
    compression: str | None = None
    bytes: int = 0
    sampled_lines: int = 0
    unparsed: int = 0
    skipped: str | None = None
    unparsed_sample: str | None = None  # the first line no format reads (masked, cut to 300 characters)

    def note_unparsed(self, line: builtins.bytes) -> None:  # the field `bytes` shadows the type here
        self.unparsed += 1
        if self.unparsed_sample is None:
            self.unparsed_sample = redact_line(decode(line[:2000]))[:300]

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _event(raw: bytes, source: str, t: dt.datetime | None) -> Event:
    """One kept line parsed (cut to RAW_KEEP characters); a line no format reads has its text as message."""
    ev = parse_line(raw, source)
    if ev is None:
        text = decode(raw)
        ev = Event(t, source, "unknown", None, text[:500], None, None, None, None, None, text)
    elif ev.time is None and t is not None:
        ev = ev._replace(time=t)
    return ev._replace(raw=ev.raw[:RAW_KEEP], message=ev.message[:RAW_KEEP])


def _event_row(kept: "bytes | Event", source: str, t: dt.datetime | None, first: str, ids: str) -> tuple:
    """A kept line as a row of the events table (the scan only counted it)."""
    ev = kept if isinstance(kept, Event) else _event(kept, source, t)
    return (*ev, first, ids)


def _iso(t: dt.datetime | None) -> str | None:
    return t.isoformat() if t else None


@dataclass
class LogScan:
    """The result of :func:`scan_logs`; ``check_logs`` turns it into Findings."""

    paths: list[str]
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    stats: dict[str, SignatureStats] = field(default_factory=dict)
    files: list[FileInfo] = field(default_factory=list)
    problems: list[PathProblem] = field(default_factory=list)
    lines_matched: int = 0
    unparsed: int = 0
    bytes_scanned: int = 0
    uploads: UploadTracker = field(default_factory=UploadTracker)
    events_dropped: int = 0
    _rows: list[tuple] = field(default_factory=list, repr=False)
    _frame: Any = field(default=None, repr=False)

    @property
    def counts(self) -> dict[str, int]:
        """Lines per signature id (only signatures that matched)."""
        return {k: s.count for k, s in self.stats.items() if s.count}

    @property
    def matched(self) -> list[SignatureStats]:
        """Signatures that matched, worst first, then most frequent."""
        found = [s for s in self.stats.values() if s.count]
        return sorted(found, key=lambda s: (-SEVERITY_RANK[s.effective_severity], -s.count, s.signature.id))

    @property
    def unreadable(self) -> list[str]:
        return [p.path for p in self.problems]

    @property
    def events(self):
        """Matched events as a DataFrame: the Event columns plus ``signature`` (first id) and ``signatures``."""
        if self._frame is None:
            import pandas as pd

            frame = pd.DataFrame([_event_row(*row) for row in self._rows],
                                 columns=[*COLUMNS, "signature", "signatures"])
            for col in ("raw", "message", "uri"):
                frame[col] = frame[col].map(lambda v: redact_line(v) if isinstance(v, str) else v)
            frame["time"] = pd.to_datetime(frame["time"], utc=True)
            frame["status"] = frame["status"].astype("Int64")
            self._frame = frame.sort_values("time", kind="stable", na_position="last").reset_index(drop=True)
        return self._frame

    def to_json(self) -> dict[str, Any]:
        """JSON-ready summary for the CLI and findings evidence."""
        signatures = [s.to_json() for s in self.matched]
        loops = self.uploads.loops()
        if loops:
            agg = AGGREGATES[0]
            signatures.append({
                "id": agg.id, "scenario": agg.scenario, "severity": agg.severity,
                "count": sum(r.starts for r in loops),
                "first_seen": _iso(min((r.first for r in loops if r.first), default=None)),
                "last_seen": _iso(max((r.last for r in loops if r.last), default=None)),
                "fields": {"repository": [r.repository for r in loops[:10]]},
                "examples": [r.describe() for r in loops[:5]],
                "meaning": agg.meaning,
            })
        return {
            "paths": list(self.paths),
            "since": _iso(self.since),
            "until": _iso(self.until),
            "signatures": signatures,
            "lines_matched": self.lines_matched,
            "unparsed": self.unparsed,
            "bytes_scanned": self.bytes_scanned,
            "files": [f.to_json() for f in self.files],
            "unreadable": [p.__dict__ for p in self.problems],
            "events_dropped": self.events_dropped,
            "suggested": [{"scenario": s.scenario, "why": s.why} for s in suggested_scenarios(self)],
        }


# --- the scanner -----------------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _union(signatures: tuple[Signature, ...]):
    opts = latin1_options()
    opts.never_capture = True
    return re2.compile(re2_pattern(union_pattern(signatures)).encode("latin-1"), opts)


@lru_cache(maxsize=8)
def _classifier(signatures: tuple[Signature, ...]) -> re2.Set:
    """One RE2 Set over the line signatures: which of them match a line, in one pass over it."""
    found = re2.Set.SearchSet(latin1_options())
    for sig in signatures:
        found.Add(re2_pattern(sig.pattern).encode("latin-1"))
    found.Compile()
    return found


def _line_after(fh, offset: int, size: int) -> int:
    """Offset just after the newline that ends the line running through ``offset`` (or ``size``)."""
    while offset < size:
        piece = os.pread(fh.fileno(), min(1 << 16, size - offset), offset)
        if not piece:
            return size
        nl = piece.find(b"\n")
        if nl >= 0:
            return offset + nl + 1
        offset += len(piece)
    return size


def _finder(regex) -> Callable[[Any, int, int], int]:
    """``find(buf, pos, end)`` → offset of the first match or -1.

    Calls the RE2 object under google-re2's ``search`` directly when it is there: the Python wrapper's
    generator and Match object cost more than the search itself on most hits.
    """
    raw = getattr(regex, "_regexp", None)
    anchor = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)
    if raw is not None and anchor is not None and hasattr(raw, "Match"):
        match = raw.Match

        def find(buf, pos: int, end: int) -> int:
            return match(anchor, buf, pos, end)[0][0]

        return find

    def find_public(buf, pos: int, end: int) -> int:
        m = regex.search(buf, pos, end)
        return -1 if m is None else m.start()

    return find_public


@dataclass(frozen=True)
class _Combo:
    """One combination of signatures that match a line together (the bulk engine's mask)."""

    items: tuple  # (SignatureStats, field spec or None) per line signature, in catalogue order
    which: list[int]  # their indexes in _Scanner.line_sigs
    slow: bool  # an aggregate prefilter matched too (upload lines), or no line signature: see _Scanner.line
    counted: bool  # some line signature matched
    all_info: bool
    benign: bool  # some signature calls some methods routine: the line's method is needed


_SPARE: list[bytearray] = []  # one stream buffer kept for the next stream of this process


class _Scanner:
    """Feeds lines of one scan into the counters; one instance per scan_logs call."""

    def __init__(self, result: LogScan, signatures: tuple[Signature, ...], examples: int, max_events: int):
        self.result = result
        self.line_sigs = tuple(s for s in signatures if s.kind == "line")
        self.aggregates = tuple(s for s in signatures if s.kind == "aggregate")
        self.upload_anchor = b"/blobs/uploads/" if any(a.id == "push-retry-loop" for a in self.aggregates) else None
        self.examples = examples
        self.max_events = max_events
        self.info_cap = max(1, max_events // 2)
        self.info_rows = 0
        self.lo, self.hi = result.since, result.until
        for s in self.line_sigs:
            result.stats.setdefault(s.id, SignatureStats(s))
        self.signatures = signatures
        self.examples_done: frozenset[str] = frozenset()  # a worker's part: the main scan has looked enough
        self.field_cap = FIELD_VALUES  # distinct values per field (a part of a shared-out scan keeps more)
        self.specs: list[FieldReader | None] = [reader(s) for s in self.line_sigs]
        self.bulk = bulk_engine(signatures)
        self.combos: dict[int, _Combo] = {}

    @cached_property
    def find(self) -> Callable[[Any, int, int], int]:
        """The RE2 union's search (the path without the bulk engine; compiled on first use)."""
        return _finder(_union(self.signatures))

    @cached_property
    def classify(self) -> Callable[[Any], Any] | None:
        """Which line signatures match a line (one RE2 Set; compiled on first use)."""
        return _classifier(self.line_sigs).Match if self.line_sigs else None

    def in_window(self, t: dt.datetime | None) -> bool:
        if t is None:
            return True  # no time on the line: keep it rather than hide it
        return not ((self.lo and t < self.lo) or (self.hi and t > self.hi))

    def line(self, line: bytes, source: str, info: FileInfo, which=None) -> bool:
        """Classify one candidate line (a union hit) and count it (``which``: the indexes of the line
        signatures it matches, when the bulk engine already knows them). Nothing is parsed here: the time
        and method are read the cheap way, and a line the events table keeps is parsed when the table is
        built (:attr:`LogScan.events`)."""
        if which is None:
            which = self.classify(line) if self.classify is not None else None
        upload = self.upload_anchor is not None and self.upload_anchor in line
        if not which:
            if upload:  # most candidates are upload lines for the retry detector
                self.result.uploads.add_line(line, self.lo, self.hi)
            return False
        hits = [(self.line_sigs[i], self.specs[i]) for i in sorted(which)]
        t = quick_time(line)
        if not self.in_window(t):
            return False
        method = quick_method(line) if any(sig.benign_methods for sig, _ in hits) else None
        self.result.lines_matched += 1
        self._count(hits, line, t, method, source)
        if upload:
            self.result.uploads.add_line(line, self.lo, self.hi)
        return True

    def room_for_row(self, info: bool) -> bool:
        """Whether the events table still takes a row (info rows fill at most half of it)."""
        return len(self.result._rows) < self.max_events and not (info and self.info_rows >= self.info_cap)

    def _count(self, hits, line: bytes, t: dt.datetime | None, method: str | None, source: str) -> None:
        shape = b""
        worst = "info"
        for sig, spec in hits:
            st = self.result.stats[sig.id]
            st.count += 1
            st.add_time(t)
            if t is not None:
                st.add_minutes(t.replace(second=0, microsecond=0))
            st.sources[source] += 1
            if method:
                st.methods[method] += 1
            if SEVERITY_RANK[sig.severity] > SEVERITY_RANK[worst] and not (method and method in sig.benign_methods):
                worst = sig.severity
            if spec is not None:
                spec.count(st.fields, (line,), cap=self.field_cap)
            if st.count <= EXAMPLE_TRIES and len(st.examples) < self.examples and sig.id not in self.examples_done:
                shape = shape or example_shape(bytes(line))
                if shape not in st.example_shapes:
                    st.example_shapes.append(shape)
                    st.example_hits.append(st.count)
                    st.examples.append(example_text(bytes(line)))
        self._row(hits, line, t, source, worst)

    def _row(self, hits, line: bytes, t: dt.datetime | None, source: str, worst: str) -> None:
        rows = self.result._rows
        if len(rows) >= self.max_events or (worst == "info" and self.info_rows >= self.info_cap):
            self.result.events_dropped += 1
            return
        if worst == "info":
            self.info_rows += 1
        # kept as read, parsed and masked when the table is built; a long line is parsed now, whole, so
        # the table never holds more than ROW_BYTES of it
        ids = [sig.id for sig, _ in hits]
        kept: bytes | Event = bytes(line) if len(line) <= ROW_BYTES else _event(bytes(line), source, t)
        rows.append((kept, source, t, ids[0], ",".join(ids)))

    # -- buffers -------------------------------------------------------------------------------------------
    def scan_mmap(self, fh, start: int, stop: int, source: str, info: FileInfo) -> None:
        """Search bytes [start, stop) of a plain file (both line starts, or the file's end) through read-only
        memory maps of WINDOW bytes: nothing is copied into Python but the hit lines.

        Each window starts at a line start (rounded down to the mapping granularity) and is searched up to
        its last newline; only mapped windows count towards RSS, so memory stays flat on any file size.
        """
        gran = mmap.ALLOCATIONGRANULARITY
        line_start = start
        try:
            while line_start < stop:
                base = line_start - line_start % gran
                length = min(WINDOW, stop - base)
                with mmap.mmap(fh.fileno(), length, access=mmap.ACCESS_READ, offset=base) as mm:
                    rel = line_start - base
                    if base + length < stop:
                        last = mm.rfind(b"\n", rel, length)
                        if last < 0:  # one line fills the whole window: count it, skip to its end
                            self._overlong(info)
                            line_start = min(stop, _line_after(fh, base + length, stop))
                            continue
                        end = last + 1
                    else:
                        end = length
                    try:
                        self._region(mm, rel, end, source, info)
                    except BaseException as exc:  # frames still holding a view of mm would keep it from closing
                        traceback.clear_frames(exc.__traceback__)
                        raise
                    line_start = base + end
        finally:
            info.bytes += stop - start
            self.result.bytes_scanned += stop - start

    def scan_plain(self, fh, start: int, stop: int, source: str, info: FileInfo) -> None:
        """Bytes [start, stop) of a plain file (line starts, or the file's end), by the fastest safe way.

        A memory map is fastest, but reading a mapped page after the file was truncated kills the process
        (SIGBUS), and live logs get truncated (logrotate's ``copytruncate``). So only files quiet for
        QUIET_S seconds (rotated ones, copies) are mapped; live ones are read with ``readinto``.
        """
        try:
            quiet = os.fstat(fh.fileno()).st_mtime < time.time() - QUIET_S
        except OSError:
            quiet = False
        if quiet:
            self.scan_mmap(fh, start, stop, source, info)
            return
        fh.seek(start)
        left = stop - start

        def readinto(view) -> int:  # stop at the end of the range
            nonlocal left
            if left <= 0:
                return 0
            n = fh.readinto(view[:min(len(view), left)]) or 0
            left -= n
            return n

        self.scan_stream(fh, source, info, readinto)

    def scan_stream(self, stream, source: str, info: FileInfo, readinto=None) -> None:
        """Search a stream (compressed files, pipes, live files) through one reused buffer filled with
        ``readinto``."""
        buf = _SPARE.pop() if _SPARE else bytearray(CHUNK)
        view = memoryview(buf)
        carry = 0  # bytes of an unfinished line kept at the front of buf
        skipping = False  # inside a line longer than MAX_LINE: drop bytes until its end
        total = 0
        # one decompression step at a time: a truncated archive then loses only the step that fails
        readinto = readinto or getattr(stream, "readinto1", None) or stream.readinto
        failed: BaseException | None = None

        def fill(pos: int) -> int:
            """Read steps into buf from ``pos`` until FILL bytes came or the stream ended (a step of a
            compressed stream is small, and every batch the bulk path counts has a fixed cost)."""
            nonlocal failed
            got = 0
            while pos + got < len(buf):
                try:
                    step = readinto(view[pos + got:])
                except Exception as exc:  # kept for after the lines already read are counted
                    failed = exc
                    break
                if not step:
                    break
                got += step
                if got >= FILL:
                    break
            return got

        try:
            while True:
                n = fill(carry)
                if failed is not None and n:  # count the complete lines that came before the error
                    first = 0
                    if skipping:  # the rest of an over-long line: its lines start after its end
                        first = buf.find(b"\n", 0, carry + n) + 1
                    last = buf.rfind(b"\n", 0, carry + n)
                    if first > 0 or not skipping:
                        if last + 1 > first:
                            self._region(buf, first, last + 1, source, info)
                    total += n
                if failed is not None:
                    raise failed
                if not n:
                    break
                total += n
                end = carry + n
                start = 0
                if skipping:
                    nl = buf.find(b"\n", 0, end)
                    if nl < 0:
                        carry = 0
                        continue
                    skipping, start = False, nl + 1
                last = buf.rfind(b"\n", start, end)
                if last < 0:
                    if end - start > MAX_LINE:
                        self._overlong(info)
                        skipping, carry = True, 0
                    else:
                        buf[0:end - start] = buf[start:end]
                        carry = end - start
                    continue
                self._region(buf, start, last + 1, source, info)
                rest = end - last - 1
                if rest > MAX_LINE:
                    self._overlong(info)
                    skipping, carry = True, 0
                else:
                    buf[0:rest] = buf[last + 1:end]
                    carry = rest
            if carry and not skipping:
                self._region(buf, 0, carry, source, info)
        finally:
            view.release()
            if not _SPARE:
                _SPARE.append(buf)  # the next stream (a worker's next piece) reuses it: 8 MiB zeroed costs ms
            info.bytes += total
            self.result.bytes_scanned += total

    def _overlong(self, info: FileInfo) -> None:
        self.result.unparsed += 1
        info.unparsed += 1
        if info.unparsed_sample is None:
            info.unparsed_sample = f"(a line longer than {MAX_LINE} bytes)"

    def _region(self, buf, start: int, end: int, source: str, info: FileInfo) -> None:
        """Lines in buf[start:end] (start is a line start; the last line may lack its newline only at EOF):
        count and skip lines longer than MAX_LINE, search the rest."""
        seg = pos = start
        while pos < end:
            window = pos + MAX_LINE + 1
            if window >= end:
                break  # what is left is shorter than an over-long line
            nl = buf.rfind(b"\n", pos, window)
            if nl >= 0:
                pos = nl + 1
                continue
            self._segment(buf, seg, pos, source, info)
            self._overlong(info)
            nxt = buf.find(b"\n", pos, end)
            pos = seg = end if nxt < 0 else nxt + 1
        self._segment(buf, seg, end, source, info)

    def _segment(self, buf, start: int, end: int, source: str, info: FileInfo) -> None:
        """The search loop: find a hit, expand it to its line, classify that line, go on after it (or, with
        the bulk engine, every matched line of the segment at once: :meth:`_bulk_segment`)."""
        if self.bulk is not None:
            self._bulk_segment(buf, start, end, source, info)
            return
        find = self.find
        pos = start
        while pos < end:
            hit = find(buf, pos, end)
            if hit < 0:
                return
            line_start = buf.rfind(b"\n", start, hit) + 1 or start
            line_end = buf.find(b"\n", hit, end)
            if line_end < 0:
                line_end = end
            self.line(buf[line_start:line_end], source, info)
            pos = line_end + 1

    # -- bulk ----------------------------------------------------------------------------------------------
    def _combo(self, mask: int) -> "_Combo":
        """What the scan needs to know about lines matching exactly the signatures in ``mask``."""
        if self.bulk is None:
            raise RuntimeError("the bulk path runs only with a bulk engine")
        sigs = [s for i, s in enumerate(self.bulk.signatures) if mask >> i & 1]
        line_sigs = [s for s in sigs if s.kind == "line"]
        where = {s: i for i, s in enumerate(self.line_sigs)}
        which = [where[s] for s in line_sigs]
        items = tuple((self.result.stats[s.id], self.specs[i]) for s, i in zip(line_sigs, which))
        if len(self.combos) >= MAX_COMBOS:  # hostile input could make every line a new combination
            self.combos.clear()
        combo = _Combo(items=items, which=which, slow=not line_sigs or len(line_sigs) < len(sigs),
                       counted=bool(line_sigs),
                       all_info=all(s.severity == "info" for s in line_sigs),
                       benign=any(s.benign_methods for s in line_sigs))
        self.combos[mask] = combo
        return combo

    def _bulk_segment(self, buf, start: int, end: int, source: str, info: FileInfo) -> None:
        """Every matched line of buf[start:end] from one bulk pass. Lines the events table still takes, and
        upload lines, go through :meth:`line` one by one; the others (all of them once the table is full, as
        in an incident) are counted together by :meth:`_tally`."""
        if self.bulk is None:
            raise RuntimeError("the bulk path runs only with a bulk engine")
        while end - start > BATCH_BYTES:  # a batch's arrays and lists grow with its lines: keep them small
            cut = buf.rfind(b"\n", start, start + BATCH_BYTES) + 1
            if cut <= start:
                break
            self._bulk_batch(buf, start, cut, source, info)
            start = cut
        self._bulk_batch(buf, start, end, source, info)

    def _bulk_batch(self, buf, start: int, end: int, source: str, info: FileInfo) -> None:
        """One batch of :meth:`_bulk_segment` (at most BATCH_BYTES, but for one longer line): upload lines to
        the retry detector, then every line with a signature counted at once (:meth:`_tally`), the first
        of them into the events table (:meth:`_keep_rows`), examples from them in file order."""
        assert self.bulk is not None
        found = self.bulk.batch(buf, start, end)
        if not len(found.masks):
            return
        kinds, kind_of = np.unique(found.masks, return_inverse=True)
        combos = [self.combos.get(m) or self._combo(m) for m in kinds.tolist()]
        upload = np.array([c.slow for c in combos], bool)[kind_of]
        signed = np.array([c.counted for c in combos], bool)[kind_of]
        lines = np.flatnonzero(signed)
        kept = lines
        before = {st.signature.id: st.count for c in combos for st, _ in c.items}
        if len(lines):
            counted, keys = self._tally(buf, found.starts[lines], found.ends[lines], kind_of[lines], combos, source)
            kept = lines[counted]
        # the retry detector reads upload lines as line() gives them: those without a signature, and those
        # with one that were counted (in the time window), in file order
        # (disjoint: the first have no signature, the others do; np.union1d would import numpy.ma, ~20 ms)
        uploads = np.sort(np.concatenate((np.flatnonzero(upload & ~signed), kept[upload[kept]])))
        if len(uploads):
            add_line, lo, hi = self.result.uploads.add_line, self.lo, self.hi
            for a, b in zip(found.starts[uploads].tolist(), found.ends[uploads].tolist()):
                add_line(buf[a:b], lo, hi)
        if not len(lines):
            return
        starts, ends = found.starts.tolist(), found.ends.tolist()
        if len(self.result._rows) < self.max_events:
            self._keep_rows(buf, kept, keys, starts, ends, kind_of, combos, source)
        self._examples(buf, kept.tolist(), starts, ends, kind_of, combos, before)

    def _keep_rows(self, buf, kept: np.ndarray, keys: np.ndarray, starts: list[int], ends: list[int],
                   kind_of: np.ndarray, combos: list, source: str) -> None:
        """The first counted lines into the events table, as :meth:`_row` takes them one by one (info rows
        fill at most half of it; a method a signature calls routine makes its hit info)."""
        res = self.result
        rows = res._rows
        if self.info_rows >= self.info_cap:  # only lines worse than info can still take a row
            worse = ~np.array([c.all_info for c in combos], bool)[kind_of[kept]]
            kept, keys = kept[worse], keys[worse]
        for k, key in zip(kept.tolist(), keys.tolist()):
            if len(rows) >= self.max_events:
                return
            combo = combos[kind_of[k]]
            line = buf[starts[k]:ends[k]]
            method = quick_method(line) if combo.benign else None
            info = not any(SEVERITY_RANK[st.signature.severity] > 0
                           and not (method and method in st.signature.benign_methods) for st, _ in combo.items)
            if info:
                if self.info_rows >= self.info_cap:
                    continue
                self.info_rows += 1
            t = None if key == NO_KEY else key_time(key)
            kept_line: bytes | Event = bytes(line) if len(line) <= ROW_BYTES else _event(bytes(line), source, t)
            ids = [st.signature.id for st, _ in combo.items]
            rows.append((kept_line, source, t, ids[0], ",".join(ids)))
            res.events_dropped -= 1  # _tally counted every line as dropped

    def _examples(self, buf, lines: list[int], starts: list[int], ends: list[int], kind_of: np.ndarray,
                  combos: list, before: dict[str, int]) -> None:
        """Examples from counted ``lines`` (in file order), as :meth:`_count` takes them line by line:
        distinct shapes among each signature's first EXAMPLE_TRIES hits. ``before``: hits before these."""
        wanted = {sid for sid, n in before.items() if n < EXAMPLE_TRIES and sid not in self.examples_done
                  and len(self.result.stats[sid].examples) < self.examples}
        if not wanted or not lines:
            return
        kinds = [j for j, c in enumerate(combos) if any(st.signature.id in wanted for st, _ in c.items)]
        picked = np.array(lines, np.int64)
        chosen = np.zeros(len(combos), bool)
        chosen[kinds] = True
        picked = picked[chosen[kind_of[picked]]].tolist()
        seen = dict(before)
        for k in picked:
            shape = b""
            for st, _ in combos[kind_of[k]].items:
                sid = st.signature.id
                if sid not in wanted:
                    continue
                seen[sid] += 1
                if seen[sid] > EXAMPLE_TRIES or len(st.examples) >= self.examples:
                    wanted.discard(sid)
                    continue
                shape = shape or example_shape(buf[starts[k]:ends[k]])
                if shape not in st.example_shapes:
                    st.example_shapes.append(shape)
                    st.example_hits.append(seen[sid])
                    st.examples.append(example_text(buf[starts[k]:ends[k]]))
            if not wanted:
                return

    def _tally(self, buf, starts: np.ndarray, ends: np.ndarray, kind_of: np.ndarray, combos: list,
               source: str) -> tuple[np.ndarray, np.ndarray]:
        """Count lines as :meth:`line` does one by one (counts, times, minutes, methods, fields), over arrays;
        every line counts as dropped from the events table (:meth:`_keep_rows` takes some back).
        ``kind_of[i]`` indexes ``combos``. Returns the indexes of the lines counted (those in the time
        window) and their keys (:mod:`.stamps`)."""
        keys = line_keys(buf, starts, ends)
        index = np.arange(len(keys))
        if self.lo is not None or self.hi is not None:
            timed = keys != NO_KEY
            keep = np.ones(len(keys), bool)
            if self.lo is not None:
                keep &= ~timed | (keys >= time_key(self.lo))
            if self.hi is not None:
                keep &= ~timed | (keys <= time_key(self.hi))
            if not keep.all():
                index = np.flatnonzero(keep)
                keys, kind_of, starts, ends = keys[index], kind_of[index], starts[index], ends[index]
        total = len(keys)
        if not total:
            return index, keys
        res = self.result
        res.lines_matched += total
        res.events_dropped += total
        width = len(combos)
        timed = keys != NO_KEY
        per_kind = np.bincount(kind_of, minlength=width).tolist()
        cells, first, counts = np.unique((keys[timed] // MINUTE) * width + kind_of[timed], return_index=True,
                                         return_counts=True)
        order = np.argsort(first, kind="stable")  # as the lines come: the minute cap keeps the same minutes
        cells, counts = cells[order], counts[order]
        cell_kinds, cell_minutes = cells % width, cells // width
        timed_keys, timed_kinds = keys[timed], kind_of[timed]
        order = np.argsort(timed_kinds, kind="stable")
        kinds_sorted = timed_kinds[order]
        firsts = np.flatnonzero(np.r_[True, kinds_sorted[1:] != kinds_sorted[:-1]]) if len(order) else order
        earliest = np.minimum.reduceat(timed_keys[order], firsts) if len(order) else order
        latest = np.maximum.reduceat(timed_keys[order], firsts) if len(order) else order
        bounds = {int(kinds_sorted[f]): (key_time(int(lo)), key_time(int(hi)))
                  for f, lo, hi in zip(firsts.tolist(), earliest.tolist(), latest.tolist())}
        for j in range(width):
            if not per_kind[j]:
                continue
            combo = combos[j]
            methods: Counter = Counter()
            if combo.benign:
                mine = np.flatnonzero(kind_of == j)
                methods = method_counts(buf, starts[mine], ends[mine])
            when = bounds.get(j, ())
            cells_j = np.flatnonzero(cell_kinds == j) if when else ()
            for st, _ in combo.items:
                st.count += per_kind[j]
                st.sources[source] += per_kind[j]
                st.methods.update(methods)
                for t in when:
                    st.add_time(t)
                if len(cells_j):
                    st.add_minute_array(cell_minutes[cells_j], counts[cells_j])
        # fields read the lines themselves, per signature, in file order
        kinds_of: dict[int, tuple[SignatureStats, FieldReader, list[int]]] = {}
        for j in range(width):
            if per_kind[j]:
                for st, spec in combos[j].items:
                    if spec is not None:
                        kinds_of.setdefault(id(st), (st, spec, []))[2].append(j)
        for st, spec, kinds in kinds_of.values():
            chosen = np.zeros(width, bool)
            chosen[kinds] = True
            members = np.flatnonzero(chosen[kind_of])
            spec.count_spans(st.fields, buf, starts[members], ends[members], cap=self.field_cap)
        return index, keys

    # -- per file ------------------------------------------------------------------------------------------
    def sample(self, path: Path, info: FileInfo) -> None:
        """Parse every line of the file's head: the file's format, and unparsed lines the search never sees."""
        stream, _ = open_log(path)
        pieces: list[bytes] = []
        got = 0
        with stream:
            try:
                while got <= SAMPLE_BYTES:
                    piece = stream.read(min(16 << 10, SAMPLE_BYTES + 1 - got))
                    if not piece:
                        break
                    pieces.append(piece)
                    got += len(piece)
            except (EOFError, OSError, zlib.error) as exc:  # a truncated archive: sample what came out
                if not pieces or not _is_corrupt(exc):
                    raise
        head = b"".join(pieces)
        lines = head.split(b"\n")
        if len(head) > SAMPLE_BYTES:
            lines = lines[:-1]  # the cut last line is not a line
        formats: Counter = Counter()
        context = LineContext()
        for raw in lines:
            if not raw.strip():
                continue
            info.sampled_lines += 1
            ev = parse_line(raw[:MAX_LINE], "", context)
            if ev is not None:
                formats[ev.format] += 1
            elif len(raw) <= MAX_LINE:  # longer ones the main pass counts
                self.result.unparsed += 1
                info.note_unparsed(raw)
        if formats:
            info.format = "+".join(sorted(formats, key=lambda f: -formats[f])[:3])
        elif info.sampled_lines == 0:
            info.format = "empty"


def scan_path(scanner: "_Scanner", path: Path, info: FileInfo, pool: "FilePool | None" = None) -> None:
    """One file into the scanner (big plain files over ``pool``); never raises for a bad file."""
    result = scanner.result
    try:
        if result.since is not None and path.stat().st_mtime < result.since.timestamp():
            info.skipped = "last written before since"
            return
        info.compression = compression(path)
        scanner.sample(path, info)
        stream, _ = open_log(path, raw=True)
        with stream:
            st = os.fstat(stream.fileno()) if info.compression is None else None
            if st is not None and stat.S_ISREG(st.st_mode) and st.st_size > 0:
                if pool is None:
                    scanner.scan_plain(stream, 0, st.st_size, str(path), info)
                else:
                    pool.scan_file(scanner, stream, st.st_size, str(path), info, scanner.signatures)
            else:
                scanner.scan_stream(stream, str(path), info)
    except PermissionError:
        result.problems.append(PathProblem(str(path), "unreadable", "permission denied"))
        info.skipped = "unreadable"
    except Exception as exc:  # truncated/corrupt compressed files, I/O errors: what was read counts
        kind: Literal["corrupt", "unreadable"] = "corrupt" if _is_corrupt(exc) else "unreadable"
        if kind == "corrupt" and info.compression and info.bytes == 0 and _rescan_plain(scanner, path, info):
            return  # it only looked compressed
        result.problems.append(PathProblem(str(path), kind, f"{type(exc).__name__}: {exc}"))
        info.skipped = info.skipped or kind


def _rescan_plain(scanner: "_Scanner", path: Path, info: FileInfo) -> bool:
    """A file whose first bytes looked compressed but were not: read it as text."""
    try:
        with open(path, "rb", buffering=0) as fh:
            size = os.fstat(fh.fileno()).st_size
            if size:
                scanner.scan_plain(fh, 0, size, str(path), info)
        return True
    except OSError:
        return False
    info.compression = None
    return True


def _looks_binary_after_magic(path: Path) -> bool:
    """Whether the bytes after a compression magic look like an archive header (binary), not text."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)[3:16]
    except OSError:
        return True
    return any(b < 9 or 13 < b < 32 or b > 126 for b in head)


def _is_corrupt(exc: BaseException) -> bool:
    if isinstance(exc, (EOFError, zlib.error)):
        return True
    name, text = type(exc).__name__, str(exc)
    return name in ("BadGzipFile", "LZMAError") or "Invalid data stream" in text or "Not a gzipped" in text


class FilePool(Protocol):
    """What scan_path needs of a worker pool (engine.Pool): one plain file, here or spread over workers."""

    def scan_file(self, scanner: "_Scanner", fh: Any, size: int, source: str, info: FileInfo,
                  sigs: Any) -> None: ...
