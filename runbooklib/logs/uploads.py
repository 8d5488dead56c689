"""The push retry-loop detector: blob uploads started again and again but never finished.

A push behind a proxy that does not forward ``X-Forwarded-Proto``/``Host`` gets upload ``Location`` URLs
it cannot use: the client starts the upload (``POST /v2/<name>/blobs/uploads/`` → 202), fails on the
URL it was given, and starts again ("Retrying in 5 seconds"). No single line says so; the counts do:
many starts, few completions (``PUT .../blobs/uploads/<uuid>?digest=`` → 201) per repository.

The registry logs each request up to twice (its own ``response completed`` line and the access log), so
the two kinds are counted apart and the larger count is used.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter
from dataclasses import dataclass, field

from .formats import Event, decode, parse_time, quick_time

_UPLOAD_URI = re.compile(r"^(?:https?://[^/]+)?/v2/(?P<repo>.+?)/blobs/uploads/(?P<uuid>[^/?]*)(?:\?(?P<query>.*))?$")
_COUNTED_STATUS = re.compile(rb'status\\?"[ \t]*:[ \t]*\\?"?20[12](?![0-9])').search
_METHOD = {b"POST": "POST", b"PUT ": "PUT", b"PUT\"": "PUT"}
MIN_STARTS = 5  # fewer restarts than this is a flaky network, not a loop
MAX_COMPLETION_RATIO = 0.5
ENVELOPE = 200  # a JSON line's object starts within this many bytes (svlogd, CRI, syslog prefixes)
MAX_REPOSITORIES = 10_000  # bound memory on logs with huge numbers of repositories


@dataclass
class RepoUploads:
    """Upload starts and completions of one repository, per kind of line."""

    repository: str
    starts: Counter = field(default_factory=Counter)  # kind → count
    completed: Counter = field(default_factory=Counter)
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    user_agents: Counter = field(default_factory=Counter)

    @property
    def n_starts(self) -> int:
        return max(self.starts.values(), default=0)

    @property
    def n_completed(self) -> int:
        return max(self.completed.values(), default=0)


@dataclass(frozen=True)
class RetryLoop:
    """A repository whose pushes look stuck in a retry loop."""

    repository: str
    starts: int
    completed: int
    first: dt.datetime | None
    last: dt.datetime | None
    user_agents: tuple[str, ...]

    def describe(self) -> str:
        span = f"{self.first.isoformat() if self.first else '?'} .. {self.last.isoformat() if self.last else '?'}"
        who = ", ".join(self.user_agents) or "unknown client"
        return f"{self.repository}: {self.starts} upload starts, {self.completed} completed ({span}; {who})"

    def to_json(self) -> dict:
        return {"repository": self.repository, "starts": self.starts, "completed": self.completed,
                "first_seen": self.first.isoformat() if self.first else None,
                "last_seen": self.last.isoformat() if self.last else None, "user_agents": list(self.user_agents)}


class UploadTracker:
    """Counts upload starts and completions per repository from parsed events."""

    def __init__(self) -> None:
        self.repos: dict[str, RepoUploads] = {}
        self.dropped = 0

    def add(self, ev: Event) -> None:
        """Count one parsed event (any format)."""
        kind = "access" if ev.format.endswith("combined") or ev.message == "access" else "app"
        self.record(ev.method, ev.uri, ev.status, kind, ev.user_agent, ev.time)

    def add_line(self, line: bytes, lo: dt.datetime | None = None, hi: dt.datetime | None = None) -> None:
        """Count one raw upload line cheaply: text shapes are read with ``find``; JSON goes to the parser.

        Most upload lines are PATCHes or "authorized request" lines without a status: they cost two finds.
        """
        brace = line.find(b'{"', 0, ENVELOPE)
        if brace >= 0 and line.rstrip()[-1:] == b"}":  # JSON, bare or behind svlogd, CRI or syslog prefixes
            if not _COUNTED_STATUS(line):  # only 201 and 202 answers count: the rest need no parsing
                return
            if self._add_json(line, brace, lo, hi):
                return
        q = line.find(b'] "')
        if q >= 0:  # access log: ... [time] "METHOD URI PROTO" STATUS SIZE "REFERER" "AGENT"
            method = _METHOD.get(bytes(line[q + 3:q + 7]))
            if method is None:
                return
            r_end = line.find(b'" ', q + 3)
            parts = line[q + 3:r_end].split(b" ")
            status = line[r_end + 2:r_end + 5]
            if r_end < 0 or len(parts) < 2 or not status.isdigit():
                return
            ua = None
            if line.endswith(b'"'):
                ua = decode(line[line.rfind(b'"', 0, len(line) - 1) + 1:-1]) or None
            kind, uri = "access", parts[1]
        else:  # registry logfmt: only "response completed" lines carry a status
            i = line.find(b"http.request.method=")
            j = line.find(b"http.response.status=")
            k = line.find(b"http.request.uri=")
            if i < 0 or j < 0 or k < 0:
                return
            method = _METHOD.get(bytes(line[i + 20:i + 24]))
            if method is None:
                return
            status = line[j + 21:j + 24]
            k += 17
            if line[k:k + 1] == b'"':
                uri = line[k + 1:line.find(b'"', k + 1)]
            else:
                stop = line.find(b" ", k)
                uri = line[k:stop if stop >= 0 else len(line)]
            kind, ua = "app", None
        if not status.isdigit():
            return
        t = quick_time(line)
        if _inside(t, lo, hi):
            self.record(method, decode(uri), int(status), kind, ua, t)

    def _add_json(self, line: bytes, brace: int, lo: dt.datetime | None, hi: dt.datetime | None) -> bool:
        """One JSON upload line: the request's fields read straight off the object (docker's json-file
        ``{"log": "..."}`` is unwrapped once); Rails-shaped objects go to the full parser. False: not JSON
        after all (the text readers try it)."""
        try:
            d = json.loads(line[brace:])
            if isinstance(d, dict) and isinstance(d.get("log"), str) and d["log"].lstrip()[:1] == "{":
                d = json.loads(d["log"])
        except ValueError:
            return False
        if not isinstance(d, dict):
            return False
        if "controller" in d or "exception.class" in d or ("path" in d and "action" in d):
            from .formats import parse_line

            ev = parse_line(line)
            if ev is not None and _inside(ev.time, lo, hi):
                self.add(ev)
            return True
        method = d.get("method", d.get("http.request.method"))
        status = _status(d.get("status", d.get("http.response.status")))
        if method not in ("POST", "PUT") or status not in (201, 202):  # nothing the detector counts
            return True
        t = (parse_time(str(d["time"])) if d.get("time") else None) or quick_time(line)
        if not _inside(t, lo, hi):
            return True
        uri, ua = d.get("uri", d.get("http.request.uri")), d.get("user_agent", d.get("http.request.useragent"))
        kind = "access" if d.get("msg", d.get("message")) == "access" else "app"
        self.record(method, str(uri) if uri else None, status, kind, str(ua) if ua else None, t)
        return True

    def record(self, method: str | None, uri: str | None, status: int | None, kind: str,
               user_agent: str | None, time: dt.datetime | None) -> None:
        if status is None or method not in ("POST", "PUT") or not uri:
            return
        m = _UPLOAD_URI.match(uri)
        if not m:
            return
        uuid, query = m.group("uuid"), m.group("query") or ""
        if method == "POST" and not uuid:
            start = status == 202 or (status == 201 and "mount=" in query)
            done = status == 201
        elif method == "PUT" and uuid:
            start, done = False, status == 201
        else:
            return
        if not (start or done):
            return
        repo = m.group("repo")
        entry = self.repos.get(repo)
        if entry is None:
            if len(self.repos) >= MAX_REPOSITORIES:
                self.dropped += 1
                return
            entry = self.repos[repo] = RepoUploads(repo)
        if start:
            entry.starts[kind] += 1
            if user_agent and (user_agent in entry.user_agents or len(entry.user_agents) < 10):
                entry.user_agents[user_agent] += 1
        if done:
            entry.completed[kind] += 1
        if time is not None:
            entry.first = time if entry.first is None or time < entry.first else entry.first
            entry.last = time if entry.last is None or time > entry.last else entry.last

    def merge(self, other: "UploadTracker") -> None:
        """Add another tracker's counts (a later part of the same logs)."""
        for repo, theirs in other.repos.items():
            mine = self.repos.get(repo)
            if mine is None:
                if len(self.repos) >= MAX_REPOSITORIES:
                    self.dropped += 1
                    continue
                mine = self.repos[repo] = RepoUploads(repo)
            mine.starts.update(theirs.starts)
            mine.completed.update(theirs.completed)
            for t in (theirs.first, theirs.last):
                if t is not None:
                    mine.first = t if mine.first is None or t < mine.first else mine.first
                    mine.last = t if mine.last is None or t > mine.last else mine.last
            mine.user_agents.update(theirs.user_agents)
        self.dropped += other.dropped

    def loops(self, min_starts: int = MIN_STARTS, max_ratio: float = MAX_COMPLETION_RATIO) -> list[RetryLoop]:
        """Repositories with at least ``min_starts`` starts and fewer than ``max_ratio`` of them completed."""
        out = []
        for r in self.repos.values():
            starts, done = r.n_starts, r.n_completed
            if starts >= min_starts and done < starts * max_ratio:
                out.append(RetryLoop(r.repository, starts, done, r.first, r.last,
                                     tuple(a for a, _ in r.user_agents.most_common(3))))
        return sorted(out, key=lambda x: -(x.starts - x.completed))


def _status(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _inside(t: dt.datetime | None, lo: dt.datetime | None, hi: dt.datetime | None) -> bool:
    return t is None or not ((lo and t < lo) or (hi and t > hi))
