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
- ``rails``: GitLab Rails plain ``production.log`` (``Started GET "/jwt/auth..."``, ``Completed 500 ...``,
  ``Errno::EACCES (Permission denied @ rb_sysopen - ...)``; Ruby Logger's ``E, [time #pid] ERROR -- :`` too)
- ``logrus``: logrus's TTY text, ``ERRO[0046] message   key=value ...`` (registry, dockerd, kaniko), colours
  and all; the ``[0046]`` is seconds since start, so the time comes from an outer prefix when there is one
- ``go-panic`` / ``go-stack``: ``panic: ...`` (the event) and the ``goroutine N [running]:`` stack under it
- ``client``: what clients and CI print: docker push/login, BuildKit (``#12 ERROR: ...``), skopeo/podman,
  GitLab Runner (``Running with gitlab-runner``, ``ERROR: Job failed``); ``text``: any other line of such a file

Envelopes are peeled first and named as prefixes of the format: ``svlogd+`` (Omnibus), ``syslog+``
(``Jan  9 03:39:48 host registry[660]: `` or rsyslog's RFC 3339 stamp, with ``#011``/``#012`` escapes decoded),
``cri+`` (``2024-01-01T00:00:00.000000000Z stderr F ``), ``ts+`` (``docker logs -t`` / ``kubectl logs
--timestamps``, with or without the space), ``compose+`` (``registry_1  | ``), ``k8s+`` (``[pod/x/registry] ``),
``runner+`` (GitLab Runner's ``section_start:...`` markers and FF_TIMESTAMPS stamps); ANSI colour codes are
dropped before any of them.

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


# each starts with a literal, so Python's re skips to its candidates instead of trying every offset
TIME_KEY = re.compile(rb'time(?:="|=(?=[0-9])|"[ \t]*:[ \t]*")([^" ]+(?: [0-9:.]+(?: ?[-+][0-9:]+| UTC)?)?)')
_SV_STAMP = re.compile(rb"[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{5} ").match
CLF_STAMP = re.compile(rb'\[([0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[^\]]+)\]')
_AT_START = re.compile(rb'([0-9]{4}/[0-9]{2}/[0-9]{2} [0-9:]{8})|'
                       rb'([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[-+][0-9]{2}:[0-9]{2}))')
_QUICK_METHOD = re.compile(rb'method(?:\x1b\[0m)?[=":]+([A-Z]+)|\] "([A-Z]+) |request: "([A-Z]+) ')
METHOD_PATTERN = _QUICK_METHOD.pattern  # quick_method's, for the C module's reader (fields.method_counts)


def time_field(line: bytes) -> "re.Match[bytes] | None":
    """The time inside a line (after its start, see quick_time): an access log's ``[...]`` or the value of
    a ``time`` key (logfmt or JSON), whichever comes first; group 1 is the time's text."""
    key = TIME_KEY.search(line)
    clf = CLF_STAMP.search(line)
    if clf is not None and (key is None or clf.start() < key.start()):
        return clf
    return key


def quick_time(line: bytes) -> dt.datetime | None:
    """The time of a raw line without parsing it: svlogd prefix, ``time=``/``"time":``, access ``[...]``,
    or the Go/NGINX ``2026/11/27 15:40:37`` at the start."""
    if line[10:11] == b"_" and line[25:26] == b" " and _SV_STAMP(line):
        try:  # svlogd's fixed-width prefix, the common case: slicing beats a regex
            return dt.datetime(int(line[0:4]), int(line[5:7]), int(line[8:10]), int(line[11:13]),
                               int(line[14:16]), int(line[17:19]), int(line[20:25]) * 10, UTC)
        except ValueError:
            pass
    if line[4:5] in (b"-", b"/"):  # CRI, kubectl --timestamps, Go's log package, NGINX's error log
        m = _AT_START.match(line)
        if m is not None:
            return parse_time((m.group(1) or m.group(2)).decode("latin-1"))
    found = time_field(line)
    if found is not None:
        return parse_time(found.group(1).decode("latin-1"))
    if line[:1].isupper() and line[3:4] == b" ":  # syslog's "Jan  9 03:39:48 host tag: "
        m3164 = _SYSLOG_3164.match(decode(line[:120]))
        if m3164:
            return _syslog_time(*m3164.groups()[:5])
    return None


def quick_method(line: bytes) -> str | None:
    """The HTTP method of a raw line without parsing it (logfmt, JSON, access and NGINX error lines)."""
    m = _QUICK_METHOD.search(line)
    if m is None:
        return None
    return next(g for g in m.groups() if g is not None).decode("latin-1")


# --- line shapes -----------------------------------------------------------------------------------------
_SVLOGD = re.compile(r"(\d{4}-\d{2}-\d{2}_\d{2}:\d{2}:\d{2}\.\d+) ")
_TAI64N = re.compile(r"(@[0-9a-f]{24}) ")
# quoted values unrolled and possessive (same matches as ("(?:[^"\\]|\\.)*"), ~3x faster in Python's re: parsing is
# what the scanner pays for each line the events table takes)
_QSTR = r'[^"\\]*+(?:\\.[^"\\]*+)*+'
# a key starts where a run of key characters starts: without the look-behind, a long run with no "=" after
# it is tried from each of its characters (quadratic in the line's length)
_LOGFMT_PAIR = re.compile(r'(?<![A-Za-z0-9_.\-])([A-Za-z0-9_.\-]++)=("' + _QSTR + r'"|[^ ]*)')
_LOGFMT_START = re.compile(r"(?:time|level)=")
_COMBINED = re.compile(
    r'(\S+) (\S+) (\S+) \[([^\]]+)\] "(' + _QSTR + r')" (\d{3}) (\S+)'
    r'(?: "(' + _QSTR + r')" "(' + _QSTR + r')")?'
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


# --- envelopes -------------------------------------------------------------------------------------------
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>]")
_SYSLOG_ESC = re.compile(r"#(0[0-3][0-7]|177)")
_SYSLOG_3164 = re.compile(
    r"([A-Z][a-z]{2}) ([ 0-9]\d) (\d{2}):(\d{2}):(\d{2}) (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: ?")
_SYSLOG_3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})) (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: ?")
_CRI = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})) (stdout|stderr) ([FP]) ?")
_RUNNER_TS = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z) ([0-9a-f]{2})([OE])\+? ?")
_TS = re.compile(r"(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?) ?")
_COMPOSE = re.compile(r"(?:\d{2}:\d{2}:\d{2} +)?([A-Za-z0-9][A-Za-z0-9_.\-]*) +\| ?")  # compose; forego/goreman
_TAG = re.compile(r"(?:[A-Za-z0-9_.\-]+/)?[A-Za-z0-9_.\-]+\[[A-Za-z0-9_.\-]+\]: ")  # registry[660]: , pod[container]:
_UPTIME = re.compile(r"\[ *\d+\.\d+\] ")  # a kernel-style [ 8389.623959] stamp
_K8S = re.compile(r"\[pod/[^\]/]+/[^\]]+\] ")
_SECTION = re.compile(r"section_(start|end):(\d{9,11}):[A-Za-z0-9_.\-]+(?:\[[^\]]*\])?\r?")


def strip_ansi(text: str) -> str:
    """Text without terminal escape sequences (colours, erase-line), as a terminal would show it."""
    return _ANSI.sub("", text) if "\x1b" in text else text


def _syslog_unescape(text: str) -> str:
    """rsyslog writes control characters as ``#ooo`` (``#011`` tab, ``#012`` newline): back to characters."""
    return _SYSLOG_ESC.sub(lambda m: chr(int(m.group(1), 8)), text) if "#" in text else text


def _syslog_time(mon: str, day: str, h: str, mi: str, sec: str) -> dt.datetime | None:
    """RFC 3164 has no year: this year, or last year when that would be more than a day ahead."""
    now = dt.datetime.now(UTC)
    try:
        t = dt.datetime(now.year, _MONTHS[mon], int(day), int(h), int(mi), int(sec), tzinfo=UTC)
    except (KeyError, ValueError):
        return None
    return t.replace(year=now.year - 1) if t > now + dt.timedelta(days=1) else t


def peel(text: str) -> tuple[str, str, dt.datetime | None]:
    """The line's body without its envelopes (see the module docstring), the prefix naming them, and the
    time the outermost envelope gives (None when none does)."""
    prefix, when = "", None
    for _ in range(4):
        m = _SVLOGD.match(text)
        if m:
            text, prefix, when = text[m.end():], prefix + "svlogd+", when or parse_time(m.group(1))
            continue
        m = _TAI64N.match(text)
        if m:
            text, prefix, when = text[m.end():], prefix + "svlogd+", when or tai64n_time(m.group(1))
            continue
        first = text[:1]
        if first.isdigit():
            m = _CRI.match(text)
            if m:
                text, prefix, when = text[m.end():], prefix + "cri+", when or parse_time(m.group(1))
                continue
            m = _RUNNER_TS.match(text)
            if m:
                text, prefix, when = text[m.end():], prefix + "runner+", when or parse_time(m.group(1))
                continue
            m = _SYSLOG_3339.match(text)
            if m:
                text, prefix = _syslog_unescape(text[m.end():]), prefix + "syslog+"
                when = when or parse_time(m.group(1))
                continue
            m = _COMPOSE.match(text) if " |" in text[:64] else None
            if m:
                text, prefix = text[m.end():], prefix + "compose+"
                continue
            m = _TS.match(text)
            if m and len(text) > m.end():
                text, prefix, when = text[m.end():].lstrip(" "), prefix + "ts+", when or parse_time(m.group(1))
                continue
        elif first.isupper() and text[3:4] == " ":
            m = _SYSLOG_3164.match(text)
            if m:
                text, prefix = _syslog_unescape(text[m.end():]), prefix + "syslog+"
                when = when or _syslog_time(*m.groups()[:5])
                continue
        elif first == "s" and text.startswith("section_"):
            m = _SECTION.match(text)
            if m:
                text, prefix = text[m.end():], prefix + ("runner+" if "runner+" not in prefix else "")
                when = when or dt.datetime.fromtimestamp(int(m.group(2)), UTC)
                continue
        elif first == "[":
            m = _K8S.match(text) if text.startswith("[pod/") else _UPTIME.match(text)
            if m:
                text, prefix = text[m.end():], prefix + ("k8s+" if text.startswith("[pod/") else "uptime+")
                continue
        if first.isalnum() and "]: " in text[:120]:
            m = _TAG.match(text)
            if m:
                text, prefix = _syslog_unescape(text[m.end():]), prefix + "tag+"
                continue
        if first.isalnum() and " |" in text[:64]:
            m = _COMPOSE.match(text)
            if m and " " in m.group(0):
                text, prefix = text[m.end():], prefix + "compose+"
                continue
        break
    if "\r" in text:  # a terminal shows what came after the last carriage return
        text = text.rstrip("\r").rsplit("\r", 1)[-1]
    return text, prefix, when


# --- logrus TTY text, Go panics, Rails plain log, client and CI output -----------------------------------
_LOGRUS_LEVELS = {"INFO": "info", "WARN": "warning", "ERRO": "error", "DEBU": "debug", "FATA": "fatal",
                  "PANI": "panic", "TRAC": "trace"}
_LOGRUS = re.compile(r"(INFO|WARN|ERRO|DEBU|FATA|PANI|TRAC)\[([^\]]{1,40})\] ?(.*)")
_PANIC = re.compile(r"(panic|fatal error): (.*)")
_STACK = re.compile(
    r"goroutine \d+ \[[^\]]+\]:$|\s+\S+:\d+(?: \+0x[0-9a-f]+)?(?: fp=\S+ sp=\S+(?: pc=\S+)?)?$|"
    r"(?:created by )?[\w./\-]+(?:\.\(?\*?[\w\-]+\)?)+\(.*\)(?: in goroutine \d+)?$|created by \S+|"
    r"\[signal [^\]]*\]$|\s+status code: \d+|caused by: |exit status \d+$|\[recovered\]")
_RAILS_LOGGER = re.compile(r"([DIWEFAU]), \[(\d{4}-\d{2}-\d{2}T[0-9:.]+) #\d+\]\s+([A-Z]+) -- [^:]*: ?(.*)")
_RAILS_TAGS = re.compile(r"(?:\[[^\]]{1,80}\] )+")
_RAILS_STARTED = re.compile(r'Started ([A-Z]+) "([^"]*)" for (\S+) at (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?: [+-]\d{4}| UTC)?)')
_RAILS_COMPLETED = re.compile(r"Completed (\d{3}) ")
_RAILS_EXCEPTION = re.compile(r"([A-Z][A-Za-z0-9_]*(?:::[A-Z][A-Za-z0-9_]*)+) \((.*)\):?$")
_RAILS_OTHER = re.compile(r"Processing by [\w:]+#\w+|Parameters: |Rendered |Redirected to |Filter chain halted|"
                          r"Can't verify CSRF|\w+ Load \(|Completed ")
_CLIENT = re.compile(
    r"(The push refers to (?:a )?repository \[|Using default tag: |[0-9a-f]{12}: (?:Preparing|Waiting|Pushing|Pushed|"
    r"Layer already exists|Retrying in|Mounted from|Already exists|Pulling fs layer|Downloading|Download complete|"
    r"Pull complete|Verifying Checksum|Extracting|Waiting)|\S+: digest: sha256:[0-9a-f]{64} size: \d+|"
    r"(?:denied|unauthorized|unknown|forbidden|toomanyrequests|name unknown|manifest unknown|blob unknown|"
    r"blob upload unknown|blob upload invalid|manifest invalid|tag invalid|unsupported): |"
    r"received unexpected HTTP status: |error parsing HTTP \d{3} response body: |Error response from daemon: |"
    r"Error: |error: |ERROR: |WARNING: |WARNING! |Login Succeeded|Logging in |Removing login credentials|"
    r"Getting image source signatures|Copying (?:blob|config) |Writing manifest to image destination|"
    r"Storing signatures|#\d+ |Running with gitlab-runner |  on \S+ \S+|Preparing the \"|Using \S+ executor|"
    r"Executing \"|Job succeeded|Job failed|Cleaning up |Fetching changes|Getting source from|Checking out |"
    r"Skipping Git submodules|Created fresh repository|Pulling docker image |Using docker image |\$ |"
    r"Uploading artifacts|Downloading artifacts|Resolving secrets|Preparing environment|Running on |"
    r"Step \d+/\d+ : |Successfully (?:built|tagged) |Sending build context|---> |\[\+\] Building |=> )"
)


_LOGRUS_KEY = re.compile(r" ([A-Za-z0-9_.\-]+)=")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')


def _logrus_fields(text: str) -> dict[str, str]:
    """``key=value`` pairs of logrus text; old logrus left values with spaces unquoted (``useragent=docker/1.12
    go/go1.6``), so a bare value runs up to the next `` key=``."""
    out: dict[str, str] = {}
    text = " " + text
    m = _LOGRUS_KEY.match(text)
    while m:
        pos = m.end()
        if text[pos:pos + 1] == '"':
            q = _QUOTED.match(text, pos)
            end = q.end() if q else len(text)
            out[m.group(1)] = _unquote(text[pos:end])
            m = _LOGRUS_KEY.match(text, end) or _LOGRUS_KEY.search(text, end)
            continue
        nxt = _LOGRUS_KEY.search(text, pos)
        out[m.group(1)] = text[pos:nxt.start() if nxt else len(text)].rstrip()
        m = nxt
    return out


def _parse_logrus(body: str) -> dict[str, Any] | None:
    m = _LOGRUS.match(body)
    if not m:
        return None
    stamp, rest = m.group(2), m.group(3)
    # logrus pads the message to 44 characters, then a space, then the fields
    first = _LOGRUS_KEY.search(rest, min(43, len(rest.rstrip())))
    msg, kv = rest, {}
    if first:
        msg, kv = rest[:first.start()], _logrus_fields(rest[first.start() + 1:])
    status = _int(kv.get("http.response.status"))
    return {
        "time": parse_time(stamp) if not stamp.isdigit() else None,
        "level": _LOGRUS_LEVELS[m.group(1)],
        "message": _with_error(msg.rstrip(), kv.get("err.code"), kv.get("err.detail"), kv.get("error")),
        "uri": _str(kv.get("http.request.uri")),
        "method": _str(kv.get("http.request.method")),
        "status": status,
        "user_agent": _str(kv.get("http.request.useragent")),
        "correlation_id": _str(kv.get("correlation_id") or kv.get("http.request.id")),
    }


def _text_fields(message: str, level: str | None, **extra: Any) -> dict[str, Any]:
    out = {"time": None, "level": level, "message": message, "uri": None, "method": None, "status": None,
           "user_agent": None, "correlation_id": None}
    out.update(extra)
    return out


def _parse_panic(body: str) -> tuple[str, dict[str, Any]] | None:
    m = _PANIC.match(body)
    if m:
        # a panic that rsyslog kept in one line (#012): the message is what comes before its stack
        message = body.split("\ngoroutine ", 1)[0].rstrip()
        return "go-panic", _text_fields(message, "panic" if m.group(1) == "panic" else "fatal")
    if _STACK.match(body):
        return "go-stack", _text_fields(body, None)
    return None


def _parse_rails(body: str) -> tuple[str, dict[str, Any]] | None:
    level, when = None, None
    m = _RAILS_LOGGER.match(body)
    if m:
        level, when, body = m.group(3).lower(), parse_time(m.group(2)), m.group(4)
    tags = _RAILS_TAGS.match(body)
    if tags:
        body = body[tags.end():]
    m = _RAILS_STARTED.match(body)
    if m:
        return "rails", _text_fields(body, level or "info", time=parse_time(m.group(4)) or when, method=m.group(1),
                                     uri=m.group(2))
    m = _RAILS_COMPLETED.match(body)
    if m:
        status = int(m.group(1))
        return "rails", _text_fields(body, level or _level_from_status(status), time=when, status=status)
    m = _RAILS_EXCEPTION.match(body)
    if m:
        return "rails", _text_fields(body, "error", time=when)
    if level is not None or _RAILS_OTHER.match(body):
        return "rails", _text_fields(body, level or "info", time=when)
    return None


def _parse_client(body: str) -> dict[str, Any] | None:
    if not _CLIENT.match(body):
        return None
    low = body.lower()
    error = any(w in low for w in ("error", "denied", "unauthorized", "failed", "unexpected", "unknown:",
                                   "forbidden", "retrying", "x509"))
    return _text_fields(body, "error" if error else "info")


class LineContext:
    """What the lines read so far of one file say about the next: the format family, for lines that only make
    sense in context (a Go stack under its panic, Rails' indented lines, free text in a CI job log)."""

    __slots__ = ("family",)

    def __init__(self) -> None:
        self.family = ""

    def note(self, fmt: str) -> None:
        base = fmt.rsplit("+", 1)[-1]
        if base in ("go-panic", "rails", "client", "logrus", "json", "logfmt", "combined", "rails-json",
                    "nginx-error", "go-stderr"):
            self.family = "client" if base == "logrus" and self.family == "client" else base


def decode(line: bytes) -> str:
    """Bytes of one line as text: UTF-8, anything else replaced, line ending dropped."""
    return line.decode("utf-8", "replace").rstrip("\r\n")


def _parse_body(body: str) -> tuple[str, dict[str, Any]] | None:
    first = body[:1]
    if first == "{":
        return _parse_json(body)
    if first in ("t", "l"):
        fields = _parse_logfmt(body)
        if fields is not None:
            return "logfmt", fields
    elif first.isdigit():
        parsed = _parse_slashed(body)
        if parsed:
            return parsed
    if first in "IWEDFPT":
        fields = _parse_logrus(body)
        if fields is not None:
            return "logrus", fields
    if first in ("p", "f", "g", "\t", " ", "c", "[", "e") or "." in body[:40]:
        parsed = _parse_panic(body)
        if parsed:
            return parsed
    if first not in ("{", ""):
        fields = _parse_combined(body)
        if fields is not None:
            return "combined", fields
    parsed = _parse_rails(body)
    if parsed:
        return parsed
    fields = _parse_client(body)
    if fields is not None:
        return "client", fields
    return None


def parse_line(line: bytes | str, source: str = "", context: LineContext | None = None) -> Event | None:
    """The event one line describes, or None when no known format reads it (an *unparsed* line).

    ``context`` (one per file, read in order) lets lines that only make sense after others parse: a Go stack
    under its panic, Rails' indented lines, and any line of a file of client or CI output.
    """
    text = decode(line) if isinstance(line, (bytes, bytearray)) else line.rstrip("\r\n")
    shown = strip_ansi(text)
    body, prefix, prefix_time = peel(shown)
    parsed = _parse_body(body) if body.strip() or not prefix else ("blank", _text_fields(body, None))
    if parsed is None and context is not None and context.family and body.strip():
        family = context.family
        if family == "go-panic" and (body[:1].isspace() or body.startswith(("caused by", "goroutine"))):
            parsed = "go-stack", _text_fields(body, None)
        elif family == "rails" and (body[:1].isspace() or body.startswith(("app/", "lib/", "ee/", "config/"))):
            parsed = "rails", _text_fields(body, None)
        elif family == "client":
            parsed = "text", _text_fields(body, None)
    if parsed is None and (prefix or (not shown.strip() and text.strip())):
        # a known envelope (syslog, compose, CRI...) around free text, or a line of nothing but colour codes
        parsed = ("text" if body.strip() else "blank"), _text_fields(body, None)
    if parsed is None:
        return None
    fmt, fields = parsed
    if context is not None:
        context.note(fmt)
    message = fields["message"]
    if "\n" in message and fmt != "go-panic":
        message = message.split("\n", 1)[0]
    return Event(
        time=fields["time"] or prefix_time,
        source=source,
        format=prefix + fmt,
        level=(fields["level"] or None) and str(fields["level"]).lower(),
        message=message,
        uri=fields["uri"],
        method=fields["method"],
        status=fields["status"],
        user_agent=fields["user_agent"],
        correlation_id=fields["correlation_id"],
        raw=text,
    )
