"""One log line → one :class:`Event`, whatever wrote it.

Formats met around a GitLab registry (format names as they appear in the ``format`` column; a line
behind Omnibus's svlogd timestamp gets the prefix ``svlogd+``):

- ``logfmt``: registry logrus text, ``time="..." level=... msg="..." key=value`` (quoted values escape ``\\"``)
- ``json``: registry JSON, upstream logrus (``http.request.uri``...) or GitLab's fork (``uri``, ``code``,
  ``correlation_id``, access lines ``"msg":"access"``)
- ``combined``: Apache/NGINX combined access log (the registry's own access log, NGINX's)
- ``go-stderr``: Go standard library lines (``2026/11/27 15:40:37 http: TLS handshake error ...``)
- ``nginx-error``: ``2026/11/27 15:40:59 [error] 7274#7274: *18 connect() failed ...``
- ``rails-json``: GitLab Rails ``production_json.log`` (``/jwt/auth`` requests, ``exception.class``)

Parsing is for the few lines the scanner selects, so it favours clarity over speed. Times without a zone
(Go stderr, NGINX error log) are read as UTC: Omnibus and most containers run in UTC.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, NamedTuple

UTC = dt.timezone.utc


class Event(NamedTuple):
    """One parsed log line; the columns of the events table."""

    time: dt.datetime | None
    source: str
    format: str
    level: str | None
    message: str
    uri: str | None
    method: str | None
    status: int | None
    user_agent: str | None
    correlation_id: str | None
    raw: str


COLUMNS: tuple[str, ...] = Event._fields

# --- times ---------------------------------------------------------------------------------------------
_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                       "Nov", "Dec"), start=1)}
_ISO = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T _](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?\s*(Z|UTC|[+-]\d{2}:?\d{2})?"
)
_CLF = re.compile(r"(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2})(?:\s*([+-]\d{4}))?")
_SLASHED = re.compile(r"(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?")


def _zone(text: str | None) -> dt.tzinfo:
    if not text or text in ("Z", "UTC"):
        return UTC
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


def _micro(fraction: str | None) -> int:
    return int((fraction or "0")[:6].ljust(6, "0"))


def parse_time(text: str | None) -> dt.datetime | None:
    """Any timestamp these logs use, as an aware UTC datetime; None when it is not a time."""
    if not text:
        return None
    try:
        m = _ISO.match(text)
        if m:
            y, mo, d, h, mi, s, frac, zone = m.groups()
            t = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), _micro(frac), _zone(zone))
            return t.astimezone(UTC)
        m = _CLF.match(text)
        if m:
            d, mon, y, h, mi, s, zone = m.groups()
            t = dt.datetime(int(y), _MONTHS[mon], int(d), int(h), int(mi), int(s), 0, _zone(zone))
            return t.astimezone(UTC)
        m = _SLASHED.match(text)
        if m:
            y, mo, d, h, mi, s, frac = m.groups()
            return dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), _micro(frac), UTC)
        if "," in text and text[:3].isalpha():  # RFC 2822, e.g. "Fri, 27 Nov 2026 16:55:04 GMT"
            from email.utils import parsedate_to_datetime

            t = parsedate_to_datetime(text)
            return t.astimezone(UTC) if t.tzinfo else t.replace(tzinfo=UTC)
    except (ValueError, KeyError, OverflowError, TypeError, IndexError):
        return None
    return None


def tai64n_time(label: str) -> dt.datetime | None:
    """svlogd's default ``@4000000069283f1c0a1b2c3d`` label (TAI64N) as UTC (leap seconds ignored)."""
    try:
        seconds = int(label[1:17], 16) - (1 << 62) - 10
        nanos = int(label[17:25], 16)
        return dt.datetime.fromtimestamp(seconds, UTC) + dt.timedelta(microseconds=nanos // 1000)
    except (ValueError, OverflowError, OSError):
        return None


_QUICK_TIME = re.compile(
    rb'time="([^"]+)"|"time":"([^"]+)"|\[(\d{2}/[A-Z][a-z]{2}/\d{4}:[^\]]+)\]|^(\d{4}/\d{2}/\d{2} [0-9:]{8})'
)
_QUICK_METHOD = re.compile(rb'method[=":]+([A-Z]+)|\] "([A-Z]+) |request: "([A-Z]+) ')


def quick_time(line: bytes) -> dt.datetime | None:
    """The time of a raw line without parsing it: svlogd prefix, ``time=``/``"time":``, access ``[...]``,
    or the Go/NGINX ``2026/11/27 15:40:37`` at the start."""
    if line[10:11] == b"_" and line[25:26] == b" ":
        try:  # svlogd's fixed-width prefix, the common case: slicing beats a regex
            return dt.datetime(int(line[0:4]), int(line[5:7]), int(line[8:10]), int(line[11:13]),
                               int(line[14:16]), int(line[17:19]), int(line[20:25]) * 10, UTC)
        except ValueError:
            pass
    m = _QUICK_TIME.search(line)
    if m is None:
        return None
    return parse_time(next(g for g in m.groups() if g is not None).decode("latin-1"))


def quick_method(line: bytes) -> str | None:
    """The HTTP method of a raw line without parsing it (logfmt, JSON, access and NGINX error lines)."""
    m = _QUICK_METHOD.search(line)
    if m is None:
        return None
    return next(g for g in m.groups() if g is not None).decode("latin-1")


# --- line shapes -----------------------------------------------------------------------------------------
_SVLOGD = re.compile(r"(\d{4}-\d{2}-\d{2}_\d{2}:\d{2}:\d{2}\.\d+) ")
_TAI64N = re.compile(r"(@[0-9a-f]{24}) ")
_LOGFMT_PAIR = re.compile(r'([A-Za-z0-9_.\-]+)=("(?:[^"\\]|\\.)*"|[^ ]*)')
_LOGFMT_START = re.compile(r"(?:time|level)=")
_COMBINED = re.compile(
    r'(\S+) (\S+) (\S+) \[([^\]]+)\] "((?:[^"\\]|\\.)*)" (\d{3}) (\S+)'
    r'(?: "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)")?'
)
_NGINX_ERROR = re.compile(r"(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) \[([a-z]+)\] \d+#\d+: (?:\*\d+ )?(.*)")
_GO_STDERR = re.compile(r"(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}(?:\.\d+)?) (.*)")
_NGINX_REQUEST = re.compile(r', request: "((?:[^"\\]|\\.)*)"')
_NGINX_FIELD = re.compile(r", (client|server|upstream|host|referrer): \"?([^\",]*)\"?")
_ESCAPE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), value[1:-1])
    return value


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def _level_from_status(status: int | None) -> str:
    if status is None:
        return "info"
    return "error" if status >= 500 else "warning" if status >= 400 else "info"


def _split_request(request: str) -> tuple[str | None, str | None]:
    parts = request.split(" ")
    if len(parts) >= 2 and parts[0].isalpha() and parts[0].isupper():
        return parts[0], parts[1]
    return None, None


def _with_error(msg: str, code: Any, detail: Any, error: Any = None) -> str:
    extra = "; ".join(str(x) for x in (code, detail, error) if x not in (None, ""))
    return f"{msg} ({extra})" if extra else msg


def _parse_logfmt(body: str) -> dict[str, Any] | None:
    if not _LOGFMT_START.match(body):
        return None
    kv = {m.group(1): _unquote(m.group(2)) for m in _LOGFMT_PAIR.finditer(body)}
    if "level" not in kv and "msg" not in kv:
        return None
    status = _int(kv.get("http.response.status"))
    return {
        "time": parse_time(kv.get("time")),
        "level": kv.get("level"),
        "message": _with_error(kv.get("msg", ""), kv.get("err.code"), kv.get("err.detail")),
        "uri": _str(kv.get("http.request.uri")),
        "method": _str(kv.get("http.request.method")),
        "status": status,
        "user_agent": _str(kv.get("http.request.useragent")),
        "correlation_id": _str(kv.get("correlation_id") or kv.get("http.request.id")),
    }


def _parse_json(body: str) -> tuple[str, dict[str, Any]] | None:
    try:
        d = json.loads(body)
    except ValueError:
        return None
    if not isinstance(d, dict):
        return None
    if "controller" in d or "exception.class" in d or ("path" in d and "action" in d):
        status = _int(d.get("status"))
        exc = d.get("exception.class")
        msg = f"{d.get('controller', '')}#{d.get('action', '')}".strip("#") or str(d.get("message", ""))
        if exc:
            msg = f"{msg}: {exc}: {d.get('exception.message', '')}".lstrip(": ")
        level = "error" if exc else _level_from_status(status)
        return "rails-json", {
            "time": parse_time(_str(d.get("time"))),
            "level": str(d.get("severity", level)).lower() if d.get("severity") else level,
            "message": msg,
            "uri": _str(d.get("path")),
            "method": _str(d.get("method")),
            "status": status,
            "user_agent": _str(d.get("ua") or d.get("user_agent")),
            "correlation_id": _str(d.get("correlation_id")),
        }
    status = _int(d.get("status", d.get("http.response.status")))
    msg = str(d.get("msg", d.get("message", "")))
    return "json", {
        "time": parse_time(_str(d.get("time"))),
        "level": _str(d.get("level")) or _level_from_status(status),
        "message": _with_error(msg, d.get("code", d.get("err.code")), d.get("detail", d.get("err.detail")),
                               d.get("error")),
        "uri": _str(d.get("uri", d.get("http.request.uri"))),
        "method": _str(d.get("method", d.get("http.request.method"))),
        "status": status,
        "user_agent": _str(d.get("user_agent", d.get("http.request.useragent"))),
        "correlation_id": _str(d.get("correlation_id", d.get("http.request.id"))),
    }


def _parse_combined(body: str) -> dict[str, Any] | None:
    m = _COMBINED.match(body)
    if not m:
        return None
    request, status = _unquote('"' + m.group(5) + '"'), int(m.group(6))
    method, uri = _split_request(request)
    return {
        "time": parse_time(m.group(4)),
        "level": _level_from_status(status),
        "message": f"{request} {status}",
        "uri": uri,
        "method": method,
        "status": status,
        "user_agent": _str(_unquote('"' + m.group(9) + '"')) if m.group(9) is not None else None,
        "correlation_id": None,
    }


def _parse_slashed(body: str) -> tuple[str, dict[str, Any]] | None:
    m = _NGINX_ERROR.match(body)
    if m:
        text = m.group(3)
        req = _NGINX_REQUEST.search(text)
        method, uri = _split_request(req.group(1)) if req else (None, None)
        return "nginx-error", {
            "time": parse_time(m.group(1)),
            "level": m.group(2),
            "message": text,
            "uri": uri,
            "method": method,
            "status": None,
            "user_agent": None,
            "correlation_id": None,
        }
    m = _GO_STDERR.match(body)
    if m:
        text = m.group(2)
        return "go-stderr", {
            "time": parse_time(m.group(1)),
            "level": "error" if "error" in text.lower() or text.startswith("panic") else "info",
            "message": text,
            "uri": None, "method": None, "status": None, "user_agent": None, "correlation_id": None,
        }
    return None


def decode(line: bytes) -> str:
    """Bytes of one line as text: UTF-8, anything else replaced, line ending dropped."""
    return line.decode("utf-8", "replace").rstrip("\r\n")


def parse_line(line: bytes | str, source: str = "") -> Event | None:
    """The event one line describes, or None when no known format reads it (an *unparsed* line)."""
    text = decode(line) if isinstance(line, (bytes, bytearray)) else line.rstrip("\r\n")
    body, prefix, prefix_time = text, "", None
    m = _SVLOGD.match(text)
    if m:
        body, prefix = text[m.end():], "svlogd+"
        prefix_time = parse_time(m.group(1))
    else:
        m = _TAI64N.match(text)
        if m:
            body, prefix = text[m.end():], "svlogd+"
            prefix_time = tai64n_time(m.group(1))
    fields: dict[str, Any] | None = None
    fmt = ""
    first = body[:1]
    if first == "{":
        parsed = _parse_json(body)
        if parsed:
            fmt, fields = parsed
    elif first in ("t", "l"):
        fields, fmt = _parse_logfmt(body), "logfmt"
    elif first.isdigit():
        parsed = _parse_slashed(body)
        if parsed:
            fmt, fields = parsed
    if fields is None and first not in ("{", ""):
        fields, fmt = _parse_combined(body), "combined"
    if fields is None:
        return None
    return Event(
        time=fields["time"] or prefix_time,
        source=source,
        format=prefix + fmt,
        level=(fields["level"] or None) and str(fields["level"]).lower(),
        message=fields["message"],
        uri=fields["uri"],
        method=fields["method"],
        status=fields["status"],
        user_agent=fields["user_agent"],
        correlation_id=fields["correlation_id"],
        raw=text,
    )
