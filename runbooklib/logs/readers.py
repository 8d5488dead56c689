"""Which files to read, in which order, and how to open them (plain, gzip, bzip2, xz).

A log parameter may name a file, a folder or a glob. Folders are read with their rotated files oldest
first: svlogd's ``@<tai64n>.s`` / ``.u`` (sorted by name, which is by time) before ``current``, and
logrotate's ``x.log.3.gz``, ``x.log.2``, ``x.log.1`` before ``x.log``. Compression is recognised by the
file's first bytes, not its name (svlogd processors may compress ``@...`` files without renaming them).
"""

from __future__ import annotations

import glob as _glob
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable, Iterator, Literal, cast

from ..timebounds import parse_bound
from .formats import Event, LineContext, decode, parse_line
from .redact import redact_line

ProblemKind = Literal["missing", "unreadable", "empty", "corrupt"]

SVLOGD_CONTROL = {"lock", "state", "newstate", "config"}
_ROTATED = re.compile(r"^(?P<base>.+?)\.(?P<n>\d+)(?:\.(?:gz|bz2|xz))?$")
_GLOB_CHARS = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class PathProblem:
    """A path given to the scan that could not be (fully) read, and why, in plain words."""

    path: str
    kind: ProblemKind
    reason: str


def _order_key(path: Path) -> tuple:
    """Oldest first within one folder: svlogd rotations, then logrotate numbers (high = old), then live."""
    name = path.name
    if name.startswith("@") and name[-2:] in (".s", ".u"):
        return ("current", 0, name)
    if name == "current":
        return ("current", 1, "")
    m = _ROTATED.match(name)
    if m:
        return (m.group("base"), 0, -int(m.group("n")))
    return (name, 1, 0)


def order_files(files: Iterable[Path]) -> list[Path]:
    """Files of one folder in the order their lines were written (see the module docstring)."""
    return sorted(files, key=_order_key)


def _folder_files(folder: Path) -> list[Path]:
    out: list[Path] = []
    for root, dirs, names in os.walk(folder, onerror=None):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        is_svlogd = "current" in names
        here = [
            Path(root) / n for n in names
            if not n.startswith(".") and not (is_svlogd and n in SVLOGD_CONTROL)
        ]
        out.extend(order_files(p for p in here if p.is_file()))
    return out


def expand_paths(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> tuple[list[Path], list[PathProblem]]:
    """Files to read (each once, in reading order) and one problem per path that gave nothing to read."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    problems: list[PathProblem] = []
    for given in paths:
        text = os.fspath(given)
        p = Path(text).expanduser()
        if p.is_dir():
            if not os.access(p, os.R_OK | os.X_OK):
                problems.append(PathProblem(text, "unreadable", "permission denied: cannot list the folder"))
                continue
            found = _folder_files(p)
            if not found:
                problems.append(PathProblem(text, "empty", "the folder holds no log files"))
            files.extend(found)
        elif p.exists():
            if not p.is_file():  # a device, FIFO or socket: reading it would never end (or never start)
                from ..safefile import UnsafeFile, check_regular

                try:
                    check_regular(p)
                except UnsafeFile as exc:
                    problems.append(PathProblem(text, "unreadable", exc.reason))
                continue
            files.append(p)
        elif _GLOB_CHARS.search(text):
            matches = [Path(m) for m in _glob.glob(os.path.expanduser(text), recursive=True)]
            found = []
            by_dir: dict[Path, list[Path]] = {}
            for m in matches:
                if m.is_dir():
                    found.extend(_folder_files(m))
                elif m.is_file():
                    by_dir.setdefault(m.parent, []).append(m)
            for d in sorted(by_dir):
                found.extend(order_files(by_dir[d]))
            if not found:
                problems.append(PathProblem(text, "missing", "no file matches this pattern"))
            files.extend(found)
        else:
            problems.append(PathProblem(text, "missing", "no such file or folder"))
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique, problems


def compression(path: Path) -> str | None:
    """``gzip``, ``bzip2``, ``xz`` or None, from the file's magic bytes (strictly: a text line may start
    with ``BZh``)."""
    from ..safefile import open_regular

    with open_regular(path) as fh:
        head = fh.read(10)
    if head[:3] == b"\x1f\x8b\x08":
        return "gzip"
    if head[:3] == b"BZh" and head[3:4] in b"123456789" and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"):
        return "bzip2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "xz"
    return None


def open_log(path: Path, raw: bool = False) -> tuple[IO[bytes], str | None]:
    """A binary stream of the file's (decompressed) bytes, and its compression. Raises OSError.

    ``raw=True`` gives an unbuffered plain file for callers that ``readinto`` their own big buffer.
    """
    from ..safefile import open_regular

    kind = compression(path)  # opens through open_regular: devices, FIFOs and sockets are refused here
    if kind == "gzip":
        import gzip

        return cast(IO[bytes], gzip.open(path, "rb")), kind
    if kind == "bzip2":
        import bz2

        return bz2.open(path, "rb"), kind
    if kind == "xz":
        import lzma

        return lzma.open(path, "rb"), kind
    return open_regular(path, buffering=0 if raw else -1), None


def iter_lines(path: Path, max_line: int = 1 << 20) -> Iterator[bytes]:
    """Every line of one file, streamed; a line longer than ``max_line`` is cut to that length."""
    reader, _ = open_log(path)
    with reader:
        while True:
            line = reader.readline(max_line + 1)
            if not line:
                return
            if len(line) > max_line and not line.endswith(b"\n"):
                # skip the rest of an over-long line without holding it
                while True:
                    rest = reader.readline(max_line)
                    if not rest or rest.endswith(b"\n"):
                        break
                yield line[:max_line]
                continue
            yield line


_CONTINUATION = ("go-stack", "blank")  # "blank": an envelope with nothing in it (syslog of an empty line)


def _is_continuation(ev: Event) -> bool:
    """A line that belongs to the event before it: a Go stack under its panic, Rails' indented lines (the
    Parameters of a request, an exception's backtrace)."""
    fmt = ev.format.rsplit("+", 1)[-1]
    return fmt in _CONTINUATION or (fmt == "rails" and ev.level is None)


def iter_events(paths, include_unparsed: bool = False) -> Iterator[Event]:
    """Every line of every file as an Event (slow path: for small logs and notebooks, not for gigabytes).

    Multi-line records become one event: a Go panic with its ``goroutine N [running]:`` stack (also when
    syslog split it over many lines), Rails' request with its indented lines and backtraces; the event's
    ``raw`` then holds all its lines. Unparsed lines are skipped unless ``include_unparsed``: then they come as
    events of format ``unknown``.
    """
    files, _ = expand_paths(paths)
    for f in files:
        context = LineContext()
        pending: Event | None = None
        try:
            for line in iter_lines(f):
                ev = parse_line(line, str(f), context)
                if ev is not None and pending is not None and _is_continuation(ev):
                    pending = pending._replace(raw=pending.raw + "\n" + ev.raw)
                    continue
                if ev is None and include_unparsed:
                    ev = Event(None, str(f), "unknown", None, decode(line), None, None, None, None, None,
                               decode(line))
                if ev is None:
                    continue
                if pending is not None:
                    yield pending
                pending = ev
        except (OSError, EOFError, ValueError):
            pass
        if pending is not None:
            yield pending


def read_events(paths, since=None, until=None, limit: int | None = 100_000, redact: bool = True):
    """All parsed lines of small logs as a DataFrame (one row per event), secrets masked."""
    import pandas as pd

    lo, hi = parse_bound(since), parse_bound(until)
    rows = []
    for ev in iter_events(paths):
        if ev.time is not None and ((lo and ev.time < lo) or (hi and ev.time > hi)):
            continue
        if redact:
            ev = ev._replace(raw=redact_line(ev.raw), message=redact_line(ev.message),
                             uri=redact_line(ev.uri) if ev.uri else ev.uri)
        rows.append(ev)
        if limit is not None and len(rows) >= limit:
            break
    frame = pd.DataFrame(rows, columns=list(Event._fields))
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame
