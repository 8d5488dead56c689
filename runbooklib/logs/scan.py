"""scan_logs: count every known signature in logs of any size, at grep's speed, in bounded memory.

How it stays fast (see lab-facts.md, "Speed", and benchmarks/logs.py): one RE2 union of all signature
patterns (plus the prefilters of aggregate detectors) searches the bytes where they lie: read-only memory
maps of 16 MiB windows for plain files, one reused 8 MiB ``bytearray`` filled with ``readinto`` for
compressed streams. A hit is expanded to its line, only that line is classified (one RE2 Set) and parsed,
and the search goes on after it: Python never touches the other 99.9 % of the lines. Where Hyperscan is
installed, the bulk engine (:mod:`.bulk`) does better still: one pass over a window reports every matched
line with its signatures, so an incident where most lines match costs a few counter updates per line. Big plain files and folders of many files are shared out over worker
processes (:mod:`.parallel`).
Memory: one window or buffer, per-signature counters, a few examples, and an events table capped at
``max_events`` rows; nothing grows with the file.
"""

from __future__ import annotations

import builtins
import datetime as dt
import mmap
import os
import re
import stat
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Literal, Protocol

import re2

from .bulk import engine as bulk_engine
from .formats import COLUMNS, Event, LineContext, decode, parse_line, quick_method, quick_time
from .readers import PathProblem, compression, open_log
from .redact import redact_line
from .suggest import suggested_scenarios
from .signatures import (AGGREGATES, SEVERITY_RANK, Signature, latin1_options, re2_pattern,
                         union_pattern)
from .uploads import UploadTracker

CHUNK = 8 << 20  # 8 MiB stream buffers: big enough to amortise each search call, small for the RSS budget
WINDOW = 16 << 20  # memory-mapped window over plain files
PARALLEL_MIN = 256 << 20  # plain files this big are split over worker processes
SPREAD_MIN = 64 << 20  # below this much to read, a worker process costs more than it saves
PIECE = 16 << 20  # plain files are shared out in pieces this big (the last ones go to whoever is free)
SPREAD_WORTH_S = 1.5  # a file whose rest would take longer than this (projected from its first piece) is spread
QUIET_S = 300  # plain files unchanged this long are memory-mapped (see _Scanner.scan_plain)
MAX_LINE = 1 << 20  # lines longer than 1 MiB are counted as unparsed and skipped
SAMPLE_BYTES = 64 << 10  # the head of each file every line of which is parsed (format, unparsed lines)
RAW_KEEP = 2000  # characters of a raw line kept in the events table
FIELD_VALUES = 50  # distinct values kept per extracted field
MAX_MINUTES = 50_000  # per signature: a month of minutes
MAX_COMBOS = 4096  # combinations of signatures remembered by the bulk path
EXAMPLE_TRIES = 200  # hits of a signature looked at for distinct examples (redaction costs, counts don't)
_DIGITS = re.compile(r"[0-9]+")
_SGR = re.compile(r"\x1b\[[0-9;]*m")


# --- results ---------------------------------------------------------------------------------------------
@dataclass
class SignatureStats:
    """What one signature matched: exact counts, times, and a few redacted examples."""

    signature: Signature
    count: int = 0
    first_seen: dt.datetime | None = None
    last_seen: dt.datetime | None = None
    examples: list[str] = field(default_factory=list)
    example_shapes: set[str] = field(default_factory=set, repr=False)
    fields: dict[str, Counter] = field(default_factory=dict)
    methods: Counter = field(default_factory=Counter)
    sources: Counter = field(default_factory=Counter)
    # lines per minute (UTC), every matched line with a time, not only those the events table keeps: the
    # timeline of an incident; at most MAX_MINUTES minutes (later ones are counted in minutes_dropped)
    minutes: Counter = field(default_factory=Counter, repr=False)
    minutes_dropped: int = 0

    def add_minutes(self, minute: dt.datetime, n: int = 1) -> None:
        if minute in self.minutes or len(self.minutes) < MAX_MINUTES:
            self.minutes[minute] += n
        else:
            self.minutes_dropped += n

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

            frame = pd.DataFrame(self._rows, columns=[*COLUMNS, "signature", "signatures"])
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
    all_info: bool
    benign: bool  # some signature calls some methods routine: the line's method is needed


_UNANCHORED = getattr(getattr(re2, "_Anchor", None), "UNANCHORED", None)


def _field_spec(sig: Signature):
    """How to read a signature's fields off a line: its RE2 ``Match`` and ``(name, group)`` in the order
    ``groupdict`` gives them (that order is the order of ``SignatureStats.fields``)."""
    if not sig.fields:
        return None
    regex = sig.regex
    names = [(n.decode("ascii") if isinstance(n, bytes) else n, i) for n, i in regex.groupindex.items()]
    raw = getattr(regex, "_regexp", None)
    if raw is None or _UNANCHORED is None or not hasattr(raw, "Match"):
        return (None, regex, names)
    return (raw.Match, regex, names)


_SV_STRICT = re.compile(rb"[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])_(?:[01][0-9]|2[0-3]):[0-5][0-9]:"
                        rb"[0-5][0-9]\.[0-9]{5} ").match


@lru_cache(maxsize=256)
def _real_date(day: bytes) -> bool:
    try:
        dt.date(int(day[0:4]), int(day[5:7]), int(day[8:10]))
        return True
    except ValueError:
        return False


def _minute(key) -> dt.datetime:
    """A bulk-path minute key (a datetime, or the bytes ``2026-11-27_15:40`` of a checked svlogd stamp)."""
    if isinstance(key, dt.datetime):
        return key
    return dt.datetime(int(key[0:4]), int(key[5:7]), int(key[8:10]), int(key[11:13]), int(key[14:16]),
                       tzinfo=dt.timezone.utc)


def _sv_stamp(line) -> bool:
    """Whether the line starts with an svlogd stamp quick_time reads as is (digits, in range, a real day):
    such stamps sort as their times do, so the bulk path keeps the earliest and latest as bytes."""
    return _SV_STRICT(line) is not None and _real_date(bytes(line[:10]))


@lru_cache(maxsize=4096)
def _field_text(value: bytes) -> str:
    """A field value as counted: decoded and masked (values repeat in an incident: masked once each)."""
    return redact_line(decode(value))


def _count_fields(st: SignatureStats, spec, line) -> None:
    """The first match's named groups on ``line`` into ``st.fields``, as :meth:`_Scanner._count` does."""
    match, regex, names = spec
    if match is not None:
        spans = match(_UNANCHORED, line, 0, len(line))
        if spans[0][0] < 0:
            return
    else:
        m = regex.search(line)
        if m is None:
            return
        spans = [m.span(i) for i in range(len(m.groups()) + 1)]
    fields = st.fields
    for name, i in names:
        a, b = spans[i]
        if a < 0:
            continue
        counter = fields.get(name)
        if counter is None:
            counter = fields[name] = Counter()
        text = _field_text(bytes(line[a:b]))
        if text in counter or len(counter) < FIELD_VALUES:
            counter[text] += 1


class _Scanner:
    """Feeds lines of one scan into the counters; one instance per scan_logs call."""

    def __init__(self, result: LogScan, signatures: tuple[Signature, ...], examples: int, max_events: int):
        self.result = result
        self.line_sigs = tuple(s for s in signatures if s.kind == "line")
        self.aggregates = tuple(s for s in signatures if s.kind == "aggregate")
        self.union = _union(signatures)
        self.find = _finder(self.union)
        self.classify = _classifier(self.line_sigs).Match if self.line_sigs else None
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
        self.specs = [_field_spec(s) for s in self.line_sigs]
        self.bulk = bulk_engine(signatures)
        self.combos: dict[int, _Combo] = {}

    def in_window(self, t: dt.datetime | None) -> bool:
        if t is None:
            return True  # no time on the line: keep it rather than hide it
        return not ((self.lo and t < self.lo) or (self.hi and t > self.hi))

    def line(self, line: bytes, source: str, info: FileInfo, which=None) -> None:
        """Classify one candidate line (a union hit) and count it (``which``: the indexes of the line
        signatures it matches, when the bulk engine already knows them)."""
        if which is None:
            which = self.classify(line) if self.classify is not None else None
        if not which:
            if self.upload_anchor is not None and self.upload_anchor in line:
                # most candidates are upload lines for the retry detector: read them the cheap way
                self.result.uploads.add_line(line, self.lo, self.hi)
            return
        hits = [(self.line_sigs[i], self.specs[i]) for i in sorted(which)]
        upload = self.upload_anchor is not None and self.upload_anchor in line
        if upload or self.room_for_row(all(sig.severity == "info" for sig, _ in hits)):
            ev = parse_line(line, source)
            if ev is None:
                self.result.unparsed += 1
                info.note_unparsed(line)
            elif not self.in_window(ev.time):
                return
            t, method = (ev.time, ev.method) if ev is not None else (None, None)
        else:
            # the events table is full: only counts, times and methods are left to take, the cheap way
            # (a log where one error repeats on every request would otherwise pay a full parse per line)
            ev, t = None, quick_time(line)
            if not self.in_window(t):
                return
            method = quick_method(line) if any(sig.benign_methods for sig, _ in hits) else None
        self.result.lines_matched += 1
        self._count(hits, line, ev, t, method, source)
        if upload and ev is not None:
            self.result.uploads.add(ev)

    def room_for_row(self, info: bool) -> bool:
        """Whether the events table still takes a row (info rows fill at most half of it)."""
        return len(self.result._rows) < self.max_events and not (info and self.info_rows >= self.info_cap)

    def _count(self, hits, line: bytes, ev: Event | None, t: dt.datetime | None, method: str | None,
               source: str) -> None:
        redacted: str | None = None
        shape = ""
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
                _count_fields(st, spec, line)
            if st.count <= EXAMPLE_TRIES and len(st.examples) < self.examples and sig.id not in self.examples_done:
                if redacted is None:
                    # colours (SGR) go; any other escape stays, for the CLI to show escaped
                    redacted = redact_line(_SGR.sub("", decode(line)))[:RAW_KEEP]
                    shape = _DIGITS.sub("#", redacted)
                if shape not in st.example_shapes:  # lines that differ only in times and numbers: one example
                    st.example_shapes.add(shape)
                    st.examples.append(redacted)
        self._row(hits, line, ev, source, worst)

    def _row(self, hits, line: bytes, ev: Event | None, source: str, worst: str) -> None:
        rows = self.result._rows
        if len(rows) >= self.max_events or (worst == "info" and self.info_rows >= self.info_cap):
            self.result.events_dropped += 1
            return
        if worst == "info":
            self.info_rows += 1
        if ev is None:  # a line no format reads: its text is the message
            text = decode(line)
            ev = Event(None, source, "unknown", None, text[:500], None, None, None, None, None, text)
        # kept as read; LogScan.events masks secrets when the table is built (the CLI never pays for it)
        ev = ev._replace(raw=ev.raw[:RAW_KEEP], message=ev.message[:RAW_KEEP])
        ids = [sig.id for sig, _ in hits]
        rows.append((*ev, ids[0], ",".join(ids)))

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
                    self._region(mm, rel, end, source, info)
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
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        carry = 0  # bytes of an unfinished line kept at the front of buf
        skipping = False  # inside a line longer than MAX_LINE: drop bytes until its end
        total = 0
        # one decompression step at a time: a truncated archive then loses only the step that fails
        readinto = readinto or getattr(stream, "readinto1", None) or stream.readinto
        try:
            while True:
                n = readinto(view[carry:])
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
                       all_info=all(s.severity == "info" for s in line_sigs),
                       benign=any(s.benign_methods for s in line_sigs))
        self.combos[mask] = combo
        return combo

    def _bulk_segment(self, buf, start: int, end: int, source: str, info: FileInfo) -> None:
        """Every matched line of buf[start:end] from one bulk pass. Lines the events table still takes, and
        upload lines, go through :meth:`line` as before; the others (all of them once the table is full, as
        in an incident) only add to counters, as :meth:`line`'s cheap branch does, without a search, a
        classification or a method call per signature: times are kept as min/max per combination of
        signatures and applied once per segment."""
        res = self.result
        combos = self.combos
        windowed = self.lo is not None or self.hi is not None
        # mask -> [lines, earliest, latest, earliest svlogd stamp, latest svlogd stamp, combo, lines per minute]
        seen: dict[int, list] = {}
        n_examples = self.examples
        max_rows = self.max_events
        full = len(res._rows) >= max_rows
        matched = 0
        if self.bulk is None:
            raise RuntimeError("the bulk path runs only with a bulk engine")
        for ls, le, mask in self.bulk.lines(buf, start, end):
            combo = combos.get(mask) or self._combo(mask)
            if combo.slow or (not full and self.room_for_row(combo.all_info)):
                self.line(buf[ls:le], source, info, combo.which)
                full = len(res._rows) >= max_rows
                continue
            line = buf[ls:le]
            stamp = t = None
            if not windowed and _sv_stamp(line):
                stamp = bytes(line[:25])  # same order as the times quick_time would make of them: compared as is
            else:
                t = quick_time(line)
                if windowed and not self.in_window(t):
                    continue
            method = quick_method(line) if combo.benign else None
            matched += 1
            acc = seen.get(mask)
            if acc is None:
                acc = seen[mask] = [0, t, t, stamp, stamp, combo, Counter()]
            acc[0] += 1
            if stamp is not None:
                if acc[3] is None or stamp < acc[3]:
                    acc[3] = stamp
                if acc[4] is None or stamp > acc[4]:
                    acc[4] = stamp
                acc[6][stamp[:16]] += 1  # "2026-11-27_15:40": its minute
            elif t is not None:
                if acc[1] is None or t < acc[1]:
                    acc[1] = t
                if acc[2] is None or t > acc[2]:
                    acc[2] = t
                acc[6][t.replace(second=0, microsecond=0)] += 1
            redacted = None
            shape = ""
            for st, spec in combo.items:
                st.count += 1
                if method:
                    st.methods[method] += 1
                if spec is not None:
                    _count_fields(st, spec, line)
                if st.count <= EXAMPLE_TRIES and len(st.examples) < n_examples and \
                        st.signature.id not in self.examples_done:
                    if redacted is None:
                        redacted = redact_line(_SGR.sub("", decode(line)))[:RAW_KEEP]
                        shape = _DIGITS.sub("#", redacted)
                    if shape not in st.example_shapes:
                        st.example_shapes.add(shape)
                        st.examples.append(redacted)
        res.lines_matched += matched
        res.events_dropped += matched  # the table was full for each of them (see room_for_row)
        for n, first, last, first_stamp, last_stamp, done, per_minute in seen.values():
            times = [first, last] + [quick_time(x + b" ") for x in (first_stamp, last_stamp) if x is not None]
            minutes = [(_minute(k), c) for k, c in per_minute.items()]
            for st, _ in done.items:
                for when in times:
                    st.add_time(when)
                st.sources[source] += n
                for minute, c in minutes:
                    st.add_minutes(minute, c)

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
            elif not (self.classify and self.classify(raw)) and len(raw) <= MAX_LINE:
                # signature lines are counted by the main pass; this one it would never parse
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
