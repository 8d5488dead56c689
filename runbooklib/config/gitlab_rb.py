"""A safe reader of /etc/gitlab/gitlab.rb: Ruby literals only, never executed.

gitlab.rb is Ruby, but nearly every line is ``name['key'] = <literal>`` or ``external_url '<url>'``. This
module understands exactly that: strings (single/double quoted, escapes, ``%q``/``%w``), numbers, true,
false, nil, symbols, arrays, hashes (``=>`` and ``key:``), nested, across lines, with comments, plus plain
arithmetic on numbers (``50 * 1024 * 1024``). Anything else (method calls, ``ENV[...]``, ``"#{...}"``
interpolation, heredocs, ``if``/``do`` blocks, local variables) is listed in ``not_understood`` with its
line and a reason; nothing is evaluated, and one bad statement never stops the rest from being read.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping
from urllib.parse import urlsplit

from ._ruby import (
    BLOCK_OPENERS,
    Lexer,
    LiteralParser,
    NotLiteral,
    Statement,
    Tok,
    split_statements,
)
from .errors import read_text
from .redact import MASK, is_secret_key, redact_config

OMNIBUS_GITLAB_RB = "/etc/gitlab/gitlab.rb"
_MAX_TEXT = 200

_RELEVANT = re.compile(r"registry|nginx|external_url")
_RELEVANT_NAMES = frozenset({"registry", "registry_nginx", "nginx", "external_url", "registry_external_url"})


def _touches_registry(ts: list[Tok]) -> bool:
    """Does a statement touch a registry-related setting (registry[...], registry_nginx[...], nginx[...],
    the external URLs, gitlab_rails['registry_*'])? Mentions in other code do not count."""
    for k, t in enumerate(ts):
        if t.kind != "ident":
            continue
        if t.value in _RELEVANT_NAMES:
            return True
        if t.value == "gitlab_rails" and k + 2 < len(ts) and ts[k + 1].kind == "op" and ts[k + 1].value == "[" \
                and isinstance(ts[k + 2].value, str) and ts[k + 2].value.startswith("registry"):
            return True
    return False


class NotUnderstood(tuple):
    """``(line, text)`` of a statement this reader did not evaluate; ``.reason`` says why.

    ``text`` is the statement's source (whitespace collapsed, secret literals masked)."""

    reason: str
    relevant: bool

    def __new__(cls, line: int, text: str, reason: str = "", relevant: bool = True) -> "NotUnderstood":
        self = super().__new__(cls, (line, text))
        self.reason = reason
        self.relevant = relevant
        return self

    @property
    def line(self) -> int:
        return self[0]

    @property
    def text(self) -> str:
        return self[1]

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "text": self.text, "reason": self.reason}


@dataclass(frozen=True, repr=False)
class Assignment:
    """One understood statement: ``target`` in canonical form (``registry['storage']['s3']``)."""

    line: int
    end_line: int
    target: str
    value: Any = field(compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "target": self.target, "value": redact_config(self.value, _last_key(self.target))}

    def __repr__(self) -> str:
        return f"Assignment({self.to_dict()!r})"



# ---------------------------------------------------------------------------------------------- result


def _fmt_key(k: Any) -> str:
    if isinstance(k, str):
        return "'" + str.__str__(k).replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(k)


def _target(name: str, keys: list[Any]) -> str:
    return name + "".join(f"[{_fmt_key(k)}]" for k in keys)


def _last_key(target: str) -> str:
    m = re.search(r"\[('(?:[^'\\]|\\.)*'|[^\]]*)\]$", target)
    return m.group(1).strip("'") if m else target


@dataclass(frozen=True, repr=False)
class GitLabRb:
    """What gitlab.rb sets, as far as literals go.

    ``settings``: canonical target → value, e.g. ``{"registry['storage']": {...}, "registry_external_url": "https://..."}``
    (later assignments win, nested ``a['x']['y'] = v`` merge into ``a['x']``). ``not_understood``: ``(line, text)``
    of every statement not evaluated (each with ``.reason`` and ``.relevant`` to the registry). Raw values
    (secrets included) are in ``settings``; display ``to_dict()`` / ``evidence()``, which are redacted.
    """

    source: str
    settings: Mapping[str, Any] = field(default_factory=dict, compare=False)
    not_understood: tuple[NotUnderstood, ...] = ()
    assignments: tuple[Assignment, ...] = ()
    notes: tuple[str, ...] = ()

    # -- lookups
    def get(self, target: str, default: Any = None) -> Any:
        """A setting by target, written as in Ruby: ``registry['storage']``, ``registry["debug_addr"]``,
        ``registry[:env]``, ``external_url``; nested targets (``registry['storage']['s3']``) dig in."""
        parsed = parse_target(target)
        if parsed is None:
            return default
        name, keys = parsed
        top = _target(name, keys[:1])
        if top not in self.settings:
            return default
        value = self.settings[top]
        for k in keys[1:]:
            if not isinstance(value, dict) or k not in value:
                return default
            value = value[k]
        return value

    def __contains__(self, target: object) -> bool:
        sentinel = object()
        return isinstance(target, str) and self.get(target, sentinel) is not sentinel

    def registry(self, key: str, default: Any = None) -> Any:
        """``registry['<key>']``."""
        return self.get(_target("registry", [key]), default)

    def gitlab_rails(self, key: str, default: Any = None) -> Any:
        """``gitlab_rails['<key>']`` (e.g. ``registry_enabled``, ``registry_api_url``)."""
        return self.get(_target("gitlab_rails", [key]), default)

    def registry_nginx(self, key: str, default: Any = None) -> Any:
        return self.get(_target("registry_nginx", [key]), default)

    def nginx(self, key: str, default: Any = None) -> Any:
        return self.get(_target("nginx", [key]), default)

    @property
    def external_url(self) -> str | None:
        v = self.settings.get("external_url")
        return v if isinstance(v, str) else None

    @property
    def registry_external_url(self) -> str | None:
        v = self.settings.get("registry_external_url")
        return v if isinstance(v, str) else None

    @property
    def registry_env(self) -> dict[str, Any]:
        """``registry['env']``: environment of the registry process (``REGISTRY_*`` overrides, ``GODEBUG``)."""
        env = self.registry("env")
        return {str(k): v for k, v in env.items()} if isinstance(env, dict) else {}

    @property
    def registry_storage(self) -> tuple[str | None, dict[str, Any]]:
        """``(driver, options)`` from ``registry['storage']``; raw options (secrets included)."""
        st = self.registry("storage")
        if not isinstance(st, dict):
            return None, {}
        drivers = [k for k in st if k not in ("cache", "delete", "redirect", "maintenance")]
        if not drivers:
            return None, {}
        opts = st[drivers[0]]
        return str(drivers[0]), dict(opts) if isinstance(opts, dict) else {}

    def line_of(self, target: str) -> int | None:
        """Line of the last statement that set ``target`` (or something inside it)."""
        parsed = parse_target(target)
        if parsed is None:
            return None
        canon = _target(*parsed)
        for a in reversed(self.assignments):
            if a.target == canon or a.target.startswith(canon + "[") or canon.startswith(a.target + "["):
                return a.line
        return None

    def where(self, target: str) -> str:
        line = self.line_of(target)
        return f"{self.source}:{line}" if line else self.source

    @property
    def relevant_not_understood(self) -> tuple[NotUnderstood, ...]:
        """Statements not evaluated that touch the registry, NGINX or the external URLs."""
        return tuple(nu for nu in self.not_understood if nu.relevant)

    def mapped_settings(self, raw: bool = False) -> list[dict[str, Any]]:
        """Registry-related settings and the generated file/key they end up in: the bridge from gitlab.rb
        to config.yml / gitlab.yml checks. Values are redacted unless ``raw=True``."""
        out = self._mapped()
        if not raw:
            for item in out:
                item["value"] = redact_config(item["value"], _last_key(item["setting"]))
        return out

    def _mapped(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for target, (file, key) in _RB_MAP.items():
            sentinel = object()
            value = self.get(target, sentinel)
            if value is not sentinel:
                out.append({"setting": target, "line": self.line_of(target), "file": file, "key": key, "value": value})
        for name, value in self.registry_env.items():
            if name.startswith("REGISTRY_") and name != "REGISTRY_CONFIGURATION_PATH":
                key = ".".join(p for p in name[len("REGISTRY_"):].lower().split("_") if p)
                out.append({"setting": f"registry['env'][{_fmt_key(name)}]", "line": self.line_of("registry['env']"),
                            "file": "config.yml (environment override)", "key": key, "value": value})
        url = self.registry_external_url
        if url:
            parts = urlsplit(url)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            line = self.line_of("registry_external_url")
            out.append({"setting": "registry_external_url", "line": line, "file": "gitlab.yml", "key": "registry.host",
                        "value": parts.hostname})
            out.append({"setting": "registry_external_url", "line": line, "file": "gitlab-registry.conf (NGINX)",
                        "key": "listen", "value": port})
        if self.external_url:
            out.append({"setting": "external_url", "line": self.line_of("external_url"), "file": "config.yml",
                        "key": "auth.token.realm", "value": self.external_url.rstrip("/") + "/jwt/auth"})
        return out

    # -- display
    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "settings": {k: redact_config(v, k) for k, v in self.settings.items()},
            "not_understood": [nu.to_dict() for nu in self.not_understood],
            "notes": list(self.notes),
        }

    def evidence(self, *targets: str) -> dict[str, Any]:
        """Redacted evidence for the named targets (value + line), or everything registry-related."""
        if not targets:
            targets = tuple(k for k in self.settings if _RELEVANT.search(k) or k.startswith("gitlab_rails['registry"))
        out: dict[str, Any] = {"file": self.source}
        for t in targets:
            out[t] = {"value": redact_config(self.get(t), _last_key(t)), "line": self.line_of(t)}
        rel = self.relevant_not_understood
        if rel:
            out["not_understood"] = [nu.to_dict() for nu in rel]
        return out

    def __repr__(self) -> str:
        return (f"GitLabRb(source={self.source!r}, settings={self.to_dict()['settings']!r}, "
                f"not_understood={len(self.not_understood)})")


_RB_MAP: dict[str, tuple[str, str]] = {
    "registry['registry_http_addr']": ("config.yml", "http.addr"),
    "registry['debug_addr']": ("config.yml", "http.debug.addr"),
    "registry['debug']": ("config.yml", "http.debug"),
    "registry['log_level']": ("config.yml", "log.level"),
    "registry['log_formatter']": ("config.yml", "log.formatter"),
    "registry['rootcertbundle']": ("config.yml", "auth.token.rootcertbundle"),
    "registry['autoredirect']": ("config.yml", "auth.token.autoredirect"),
    "registry['health_storagedriver_enabled']": ("config.yml", "health.storagedriver.enabled"),
    "registry['storage_delete_enabled']": ("config.yml", "storage.delete.enabled"),
    "registry['storage']": ("config.yml", "storage"),
    "registry['validation_enabled']": ("config.yml", "validation.disabled (inverted)"),
    "registry['compatibility_schema1_enabled']": ("config.yml", "compatibility.schema1.enabled"),
    "registry['notifications']": ("config.yml", "notifications.endpoints"),
    "registry['middleware']": ("config.yml", "middleware"),
    "registry['gc']": ("config.yml", "gc"),
    "registry['database']": ("config.yml", "database"),
    "registry['env']": ("registry environment", "env"),
    "gitlab_rails['registry_enabled']": ("gitlab.yml", "registry.enabled"),
    "gitlab_rails['registry_host']": ("gitlab.yml", "registry.host"),
    "gitlab_rails['registry_port']": ("gitlab.yml", "registry.port"),
    "gitlab_rails['registry_api_url']": ("gitlab.yml", "registry.api_url"),
    "gitlab_rails['registry_key_path']": ("gitlab.yml", "registry.key"),
    "gitlab_rails['registry_issuer']": ("gitlab.yml + config.yml", "registry.issuer / auth.token.issuer"),
    "gitlab_rails['registry_path']": ("gitlab.yml", "registry.path"),
    "gitlab_rails['registry_notification_secret']": ("gitlab.yml", "registry.notification_secret"),
    "registry_nginx['listen_port']": ("gitlab-registry.conf (NGINX)", "listen"),
    "registry_nginx['listen_https']": ("gitlab-registry.conf (NGINX)", "ssl"),
    "registry_nginx['proxy_set_headers']": ("gitlab-registry.conf (NGINX)", "proxy_set_header"),
}


# ---------------------------------------------------------------------------------------------- entry points


def parse_target(target: str) -> tuple[str, list[Any]] | None:
    """``"registry['storage']['s3']"`` → ``("registry", ["storage", "s3"])``; None if not a target."""
    try:
        toks = [t for t in Lexer(target).run() if t.kind != "nl"]
    except RecursionError:
        return None
    if not toks or toks[0].kind != "ident":
        return None
    keys: list[Any] = []
    i = 1
    while i + 2 < len(toks) and toks[i].kind == "op" and toks[i].value == "[":
        k, close = toks[i + 1], toks[i + 2]
        if k.kind not in ("str", "sym", "num") or close.kind != "op" or close.value != "]":
            return None
        keys.append(k.value)
        i += 3
    if i != len(toks):
        return None
    return toks[0].value, keys


def read_gitlab_rb(path: str | Path = OMNIBUS_GITLAB_RB) -> GitLabRb:
    """Read gitlab.rb safely. ConfigError only when the file cannot be read; content problems are
    reported in ``not_understood``, never raised."""
    return parse_gitlab_rb(read_text(path), str(path))


def parse_gitlab_rb(text: str, source: str = "<text>") -> GitLabRb:
    """Parse gitlab.rb text (never raises on any text: the worst case is everything not understood)."""
    try:
        return _parse(text, source)
    except RecursionError:  # pragma: no cover - the lexer and parser are bounded; this is the last guard
        first = text.lstrip().splitlines()[0] if text.strip() else ""
        return GitLabRb(source, {}, (NotUnderstood(1, first[:_MAX_TEXT], "nested too deeply to read"),))


def _parse(text: str, source: str) -> GitLabRb:
    lexer = Lexer(text)
    toks = lexer.run()
    line_starts = [0] + [i + 1 for i, c in enumerate(text) if c == "\n"]

    def line_of(pos: int) -> int:
        return bisect.bisect_right(line_starts, pos)

    settings: dict[str, Any] = {}
    assigned_at: dict[str, int] = {}
    not_understood: list[NotUnderstood] = []
    assignments: list[Assignment] = []
    notes: list[str] = list(lexer.notes)

    statements = split_statements(toks, text, frozenset(line_starts))
    block_depth = 0
    block: list[Statement] = []
    for st in statements:
        ts = st.toks
        first = ts[0]
        opens = (1 if first.kind == "ident" and first.value in BLOCK_OPENERS else 0)
        opens += sum(1 for t in ts if t.kind == "ident" and t.value == "do")
        if first.kind == "ident" and first.value in ("while", "until", "for") and any(
                t.kind == "ident" and t.value == "do" for t in ts):
            opens -= 1
        closes = sum(1 for t in ts if t.kind == "ident" and t.value == "end")
        if block_depth > 0 or opens > 0:
            block.append(st)
            block_depth = max(0, block_depth + opens - closes)
            if block_depth == 0:
                not_understood.append(_block_nu(block, text, line_of))
                block = []
            continue
        start_line, end_line = line_of(first.start), line_of(ts[-1].end - 1)
        if st.unbalanced:
            not_understood.append(_nu(ts, text, line_of, "brackets are not balanced (a `(`, `[` or `{` is never closed)"))
            continue
        parser = LiteralParser(ts)
        try:
            name, keys, value = parser.statement()
        except NotLiteral as exc:
            not_understood.append(_nu(ts, text, line_of, exc.reason))
            continue
        target = _target(name, keys)
        for note in parser.notes:
            notes.append(f"line {start_line}: {note}")
        assignments.append(Assignment(start_line, end_line, target, value))
        _store(settings, assigned_at, name, keys, value, start_line, notes)
    if block_depth > 0 and block:
        nu = _block_nu(block, text, line_of)
        not_understood.append(NotUnderstood(nu.line, nu.text, f"block opened here is never closed by `end`; {nu.reason}",
                                            nu.relevant))
    return GitLabRb(source, MappingProxyType(settings), tuple(not_understood), tuple(assignments), tuple(notes))


def _store(settings: dict[str, Any], assigned_at: dict[str, int], name: str, keys: list[Any], value: Any,
           line: int, notes: list[str]) -> None:
    top = _target(name, keys[:1])
    if len(keys) <= 1:
        if top in assigned_at:
            notes.append(f"{top} is set at lines {assigned_at[top]} and {line}: the last one wins")
        settings[top] = value
        assigned_at[top] = line
        return
    container = settings.get(top)
    if not isinstance(container, dict):
        if top in settings:
            notes.append(f"line {line}: {top} was not a hash; the nested assignment replaces it")
        container = settings[top] = {}
        assigned_at.setdefault(top, line)
    for k in keys[1:-1]:
        nxt = container.get(k)
        if not isinstance(nxt, dict):
            nxt = container[k] = {}
        container = nxt
    container[keys[-1]] = value


def _masked_source(ts: list[Tok], text: str) -> str:
    """The statement's source with every literal that sits under a secret-like key replaced by MASK."""
    spans: list[tuple[int, int]] = []
    stack: list[Any] = [None]  # key context per bracket level (arrays inherit their key)
    pending: Any = None
    last_index_key: Any = None
    seen_assign = False
    prev: Tok | None = None
    for k, t in enumerate(ts):
        if t.kind == "op":
            v = t.value
            if v == "=>":
                pending = prev.value if prev is not None and prev.kind in ("str", "sym", "num") else None
            elif v in ("=", "||=", "+=", "<<"):
                pending = last_index_key
                seen_assign = True
            elif v == "[":
                array_literal = prev is None or (prev.kind == "op" and prev.value in ("=>", "=", ",", "[", "(")) \
                    or prev.kind == "label"
                if not seen_assign and prev is not None and prev.kind == "ident":
                    nxt = ts[k + 1] if k + 1 < len(ts) else None
                    if nxt is not None and nxt.kind in ("str", "sym", "num"):
                        last_index_key = nxt.value
                stack.append(pending if array_literal else None)
                pending = None
            elif v == "(":  # a call computing a secret's value (ENV.fetch('X', 'default')): its literals are secret
                stack.append(pending if pending is not None and is_secret_key(pending) else None)
                pending = None
            elif v == "{":
                stack.append(None)
                pending = None
            elif v in ("}", "]", ")"):
                if len(stack) > 1:
                    stack.pop()
                pending = None
            elif v == ",":
                pending = None
        elif t.kind == "label":
            pending = t.value
        elif t.kind == "ident":
            if not (pending is not None and is_secret_key(pending)):
                pending = None  # a secret key's value may be an expression: keep its context
        elif t.kind in ("str", "istr", "bad", "num", "words", "sym", "heredoc", "other"):
            key = pending if pending is not None else stack[-1]
            secret_value = t.kind == "str" and isinstance(t.value, str) and "PRIVATE KEY" in t.value
            if (key is not None and is_secret_key(key) and t.kind != "sym") or secret_value:
                spans.append((t.start, t.end))
        prev = t
    start, end = ts[0].start, ts[-1].end
    pieces, pos = [], start
    for s, e in spans:
        pieces.append(text[pos:s])
        pieces.append(repr(MASK) if text[s:s + 1] in "'\"%" else MASK)
        pos = e
    pieces.append(text[pos:end])
    return "".join(pieces)


def _short(source: str) -> str:
    flat = " ".join(source.split())
    return flat if len(flat) <= _MAX_TEXT else flat[: _MAX_TEXT - 1] + "…"


def _nu(ts: list[Tok], text: str, line_of: Any, reason: str) -> NotUnderstood:
    src = _masked_source(ts, text)
    return NotUnderstood(line_of(ts[0].start), _short(src), reason, _touches_registry(ts))


def _block_nu(block: list[Statement], text: str, line_of: Any) -> NotUnderstood:
    first, last = block[0], block[-1]
    inner = sum(1 for st in block[1:] if not (len(st.toks) == 1 and st.toks[0].value == "end"))
    ts = first.toks
    start_line = line_of(ts[0].start)
    end_line = line_of(last.toks[-1].end - 1)
    keyword = next((t.value for t in ts if t.kind == "ident" and (t.value in BLOCK_OPENERS or t.value == "do")), "block")
    src = _masked_source(ts, text)
    reason = (f"`{keyword}` block (lines {start_line}-{end_line}) is not evaluated: "
              f"{inner} statement(s) inside it are conditional or computed and are not read")
    return NotUnderstood(start_line, _short(src), reason, any(_touches_registry(st.toks) for st in block))


