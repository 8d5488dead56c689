"""NGINX configuration for the registry, read (never run) the way NGINX reads it: directives, blocks, includes.

GitLab's documented pre-check 4 ("review the NGINX configuration ... to confirm which port receives requests") and
"Image push errors" both live here: which ports the registry's ``server`` listens on (and with ``ssl``), where
it proxies (``proxy_pass``, ``upstream`` blocks), which headers it forwards (``Host``, ``X-Forwarded-Proto``,
``X-Forwarded-For``), and the body settings pushes depend on (``client_max_body_size``,
``proxy_request_buffering``, ``chunked_transfer_encoding``), with NGINX's inheritance rules (an array
directive such as ``proxy_set_header`` defined at a level replaces everything inherited).

Bad input never stops the reading: unknown directives, includes that match nothing and unbalanced braces are
named (file and line) and the rest is still read. Only an unreadable main file raises ConfigError.

This module is the model (directives, servers, locations, upstreams) and the queries on it; the checks that
turn it into findings are ``nginx_checks.py``, and ``nginx -t`` on a private copy is ``nginx_t.py``.
"""

from __future__ import annotations

import glob as _glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError, read_text

OMNIBUS_REGISTRY_CONF = "/var/opt/gitlab/nginx/conf/gitlab-registry.conf"
SEED_NGINX = "Before investigating: review the NGINX configuration file for the container registry"
SEED_PUSH = "Image push errors"
MAX_INCLUDE_FILES = 200
# Config folders an include may reach besides the main config's own (Omnibus, Debian/RHEL, GitLab's custom conf.d)
INCLUDE_ROOTS = ("/etc/nginx", "/etc/gitlab/nginx", "/var/opt/gitlab/nginx", "/usr/local/nginx/conf",
                 "/opt/homebrew/etc/nginx")
MAX_INCLUDE_DEPTH = 16
DEFAULT_BODY_SIZE = "1m"  # NGINX's default client_max_body_size

KNOWN = frozenset("""
user worker_processes worker_rlimit_nofile worker_cpu_affinity worker_priority pid error_log daemon master_process
include events worker_connections use multi_accept accept_mutex http stream mail load_module env thread_pool
pcre_jit timer_resolution lock_file debug_connection ssl_engine
server upstream location if limit_except map geo split_clients types default_type charset source_charset
listen server_name server_tokens root alias index try_files return rewrite error_page internal set break
access_log log_format open_log_file_cache log_not_found log_subrequest
client_max_body_size client_body_buffer_size client_body_temp_path client_body_timeout client_header_timeout
client_header_buffer_size large_client_header_buffers client_body_in_file_only chunked_transfer_encoding
keepalive_timeout keepalive_requests keepalive send_timeout sendfile tcp_nopush tcp_nodelay gzip gzip_types
gzip_proxied gzip_vary gzip_comp_level gzip_min_length gzip_disable gzip_http_version gzip_buffers
proxy_pass proxy_set_header proxy_hide_header proxy_pass_header proxy_http_version proxy_buffering
proxy_request_buffering proxy_buffer_size proxy_buffers proxy_busy_buffers_size proxy_read_timeout
proxy_send_timeout proxy_connect_timeout proxy_redirect proxy_cache proxy_cache_path proxy_temp_path
proxy_max_temp_file_size proxy_intercept_errors proxy_next_upstream proxy_next_upstream_tries
proxy_next_upstream_timeout proxy_ssl_verify proxy_ssl_server_name proxy_ssl_name proxy_ssl_trusted_certificate
proxy_ssl_certificate proxy_ssl_certificate_key proxy_cookie_path proxy_cookie_domain proxy_ignore_headers
proxy_headers_hash_max_size proxy_headers_hash_bucket_size proxy_pass_request_body proxy_pass_request_headers
proxy_socket_keepalive proxy_bind
fastcgi_temp_path uwsgi_temp_path scgi_temp_path fastcgi_pass uwsgi_pass scgi_pass grpc_pass
ssl ssl_certificate ssl_certificate_key ssl_protocols ssl_ciphers ssl_prefer_server_ciphers ssl_session_cache
ssl_session_timeout ssl_session_tickets ssl_dhparam ssl_ecdh_curve ssl_stapling ssl_stapling_verify
ssl_trusted_certificate ssl_client_certificate ssl_verify_client ssl_verify_depth ssl_password_file ssl_buffer_size
ssl_early_data ssl_conf_command
http2 http2_max_field_size http2_max_header_size http2_recv_buffer_size
add_header expires etag if_modified_since allow deny auth_basic auth_basic_user_file auth_request satisfy
limit_req limit_req_zone limit_conn limit_conn_zone limit_rate real_ip_header set_real_ip_from real_ip_recursive
resolver resolver_timeout server_names_hash_bucket_size server_names_hash_max_size variables_hash_max_size
types_hash_max_size types_hash_bucket_size underscores_in_headers ignore_invalid_headers merge_slashes
absolute_redirect port_in_redirect server_name_in_redirect msie_padding reset_timedout_connection lingering_close
lingering_time lingering_timeout output_buffers postpone_output directio aio open_file_cache
open_file_cache_valid open_file_cache_min_uses open_file_cache_errors stub_status autoindex more_set_headers
more_clear_headers zone hash ip_hash least_conn random max_fails fail_timeout weight backup down
""".split())
_BLOCKS_WITH_SERVER_ENTRIES = ("upstream",)
# blocks whose lines are data, not directives (map's "'' 'registry/2.0';", types' "text/html html;")
OPAQUE_BLOCKS = frozenset({"map", "types", "geo", "split_clients", "charset_map", "match"})
# argument counts NGINX checks (from its module tables), for the directives a registry config uses: a missing
# ';' glues the next line on, and NGINX then says "invalid number of arguments" at the line of the ';'
ARITY: dict[str, tuple[int, int]] = {
    "proxy_pass": (1, 1), "ssl_certificate": (1, 1), "ssl_certificate_key": (1, 1), "client_max_body_size": (1, 1),
    "root": (1, 1), "alias": (1, 1), "proxy_read_timeout": (1, 1), "proxy_connect_timeout": (1, 1),
    "proxy_send_timeout": (1, 1), "proxy_http_version": (1, 1), "ssl_session_timeout": (1, 1),
    "ssl_dhparam": (1, 1), "ssl_trusted_certificate": (1, 1), "ssl_client_certificate": (1, 1),
    "default_type": (1, 1), "include": (1, 1), "pid": (1, 1), "auth_basic_user_file": (1, 1), "auth_basic": (1, 1),
    "worker_connections": (1, 1), "client_body_buffer_size": (1, 1), "proxy_buffer_size": (1, 1),
    "proxy_set_header": (2, 2), "add_header": (2, 3), "ssl_session_cache": (1, 2), "keepalive_timeout": (1, 2),
    "error_log": (1, 2), "return": (1, 2), "rewrite": (2, 3), "user": (1, 2), "worker_processes": (1, 1),
    "proxy_buffers": (2, 2), "ssl_ciphers": (1, 1), "set_real_ip_from": (1, 1), "real_ip_header": (1, 1),
    "access_log": (1, 6), "listen": (1, 20), "server_name": (1, 200), "ssl_protocols": (1, 10),
    "error_page": (2, 50), "try_files": (2, 50), "index": (1, 50),
}
FLAGS = frozenset({
    "chunked_transfer_encoding", "proxy_request_buffering", "proxy_buffering", "ssl_prefer_server_ciphers",
    "ssl_session_tickets", "sendfile", "tcp_nopush", "tcp_nodelay", "gzip", "absolute_redirect",
    "port_in_redirect", "proxy_intercept_errors", "ssl_stapling", "ssl_stapling_verify", "underscores_in_headers",
    "merge_slashes", "proxy_ssl_verify", "proxy_ssl_server_name", "http2", "ssl",
})


class _Tok:
    __slots__ = ("text", "line", "quoted", "start", "end")

    def __init__(self, text: str, line: int, quoted: bool = False, start: int = 0, end: int = 0) -> None:
        self.text, self.line, self.quoted, self.start, self.end = text, line, quoted, start, end


def tokenize(text: str) -> tuple[list[_Tok], list[str]]:
    """Words, quoted strings and ``{`` ``}`` ``;`` with their line numbers; problems (unterminated quote)."""
    toks: list[_Tok] = []
    problems: list[str] = []
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif c.isspace():
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in "{};":
            toks.append(_Tok(c, line, False, i, i + 1))
            i += 1
        elif c in "\"'":
            start_line, j, buf = line, i + 1, []
            while j < n and text[j] != c:
                if text[j] == "\\" and j + 1 < n:
                    buf.append(text[j + 1])
                    j += 2
                    continue
                if text[j] == "\n":
                    line += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                problems.append(f"line {start_line}: unterminated quoted string")
            toks.append(_Tok("".join(buf), start_line, True, i, min(j + 1, n)))
            i = j + 1
        else:
            j, buf = i, []
            while j < n and not text[j].isspace() and text[j] not in ";{}\"'":
                if text[j] == "$" and j + 1 < n and text[j + 1] == "{":  # ${var} stays inside the word
                    k = text.find("}", j)
                    k = n - 1 if k < 0 else k
                    buf.append(text[j:k + 1])
                    j = k + 1
                    continue
                if text[j] == "\\" and j + 1 < n:
                    buf.append(text[j:j + 2])
                    j += 2
                    continue
                buf.append(text[j])
                j += 1
            toks.append(_Tok("".join(buf), line, False, i, j))
            i = j
    return toks, problems


@dataclass(frozen=True)
class Directive:
    """One directive: ``name args...;`` or ``name args... { children }``."""

    name: str
    args: tuple[str, ...]
    file: str
    line: int
    children: tuple["Directive", ...] | None = None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def __repr__(self) -> str:
        return f"Directive({self.name} {' '.join(self.args)} @ {self.where})"


@dataclass
class _Reader:
    base_dir: Path
    files: list[str] = field(default_factory=list)
    missing_includes: list[dict[str, Any]] = field(default_factory=list)
    unknown: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def read_file(self, path: Path, depth: int, main: bool = False) -> list[Directive]:
        if main:
            text = read_text(path)  # ConfigError for the main file: nothing to read at all
        else:
            try:
                text = read_text(path)
            except ConfigError as err:
                self.problems.append(str(err))
                return []
        self.files.append(str(path))
        toks, problems = tokenize(text)
        self.problems.extend(f"{path}: {p}" for p in problems)
        pos = [0]
        out = self._parse(toks, pos, str(path), depth, top=True, eof_line=text.count("\n") + 1)
        return out

    def _parse(self, toks: list[_Tok], pos: list[int], file: str, depth: int, top: bool,
               opaque: bool = False, eof_line: int = 0) -> list[Directive]:
        """Directives up to the block's ``}`` (or the end); problems worded as ``nginx -t`` words them:
        ``unexpected "}" in FILE:LINE``, ``unexpected end of file, expecting "}" in FILE:LINE``."""
        out: list[Directive] = []
        words: list[_Tok] = []
        while pos[0] < len(toks):
            t = toks[pos[0]]
            pos[0] += 1
            if not t.quoted and t.text == ";":
                if words and not opaque:
                    self._check_args(words, file, t.line)
                    out.extend(self._directive(words, file, None, depth))
                words = []
            elif not t.quoted and t.text == "{":
                if not words:
                    self.problems.append(f'unexpected "{{" in {file}:{t.line}')
                inner_opaque = opaque or (bool(words) and words[0].text in OPAQUE_BLOCKS)
                children = self._parse(toks, pos, file, depth, top=False, opaque=inner_opaque, eof_line=eof_line)
                if words and not opaque:
                    out.extend(self._directive(words, file, tuple(children), depth))
                words = []
            elif not t.quoted and t.text == "}":
                if top:
                    self.problems.append(f'unexpected "}}" in {file}:{t.line} (more closing than opening braces)')
                    continue
                if words:
                    self.problems.append(f'unexpected "}}" in {file}:{t.line} (directive "{words[0].text}" at '
                                         f"line {words[0].line} has no ';')")
                return out
            else:
                words.append(t)
        if words:
            self.problems.append(f'unexpected end of file, expecting ";" or "}}" in {file}:{eof_line or words[0].line}'
                                 f" (directive \"{words[0].text}\" at line {words[0].line} has no ';')")
        if not top:
            self.problems.append(f'unexpected end of file, expecting "}}" in {file}:{eof_line} (a block is not '
                                 "closed: '}' missing at end of file)")
        return out

    def _check_args(self, words: list[_Tok], file: str, end_line: int) -> None:
        """NGINX's own argument checks for the common directives: count, and on/off for flags."""
        name, nargs = words[0].text, len(words) - 1
        lo_hi = ARITY.get(name) or ((1, 1) if name in FLAGS and name not in ("ssl", "http2") else None)
        if lo_hi and not lo_hi[0] <= nargs <= lo_hi[1]:
            self.problems.append(f'invalid number of arguments in "{name}" directive in {file}:{end_line}'
                                 + (f" (a ';' missing after line {words[1].line}?)" if nargs > lo_hi[1] else ""))
        elif name in FLAGS and name not in ("ssl", "http2") and words[1].text.lower() not in ("on", "off"):
            self.problems.append(f'invalid value "{words[1].text}" in "{name}" directive, it must be "on" or "off" '
                                 f"in {file}:{end_line}")

    def _directive(self, words: list[_Tok], file: str, children: tuple[Directive, ...] | None,
                   depth: int) -> list[Directive]:
        name = words[0].text
        args = tuple(w.text for w in words[1:])
        line = words[0].line
        if name == "include" and children is None:
            return self._include(args, file, line, depth)
        if name not in KNOWN and not name.startswith(("more_", "lua_", "ssl_", "proxy_", "gzip_", "http2_")):
            self.unknown.append({"directive": name, "where": f"{file}:{line}"})
        return [Directive(name, args, file, line, children)]

    def _include(self, args: tuple[str, ...], file: str, line: int, depth: int) -> list[Directive]:
        if not args:
            self.problems.append(f"{file}:{line}: include without a file")
            return []
        pattern = args[0]
        if depth >= MAX_INCLUDE_DEPTH:
            self.problems.append(f"{file}:{line}: include {pattern!r} nested too deep (a loop?)")
            return []
        full = pattern if os.path.isabs(pattern) else str(self.base_dir / pattern)
        matches = sorted(_glob.glob(full)) if _glob.has_magic(full) else ([full] if os.path.exists(full) else [])
        if not matches:
            if not _glob.has_magic(full):
                self.missing_includes.append({"include": pattern, "resolved": full, "where": f"{file}:{line}"})
            return []
        from ..safefile import is_within

        out: list[Directive] = []
        for m in matches[:MAX_INCLUDE_FILES]:
            if not any(is_within(m, root) for root in (self.base_dir, *INCLUDE_ROOTS)):
                # only the config's own tree and NGINX's usual config folders: an include is no way to read /etc/shadow
                self.problems.append(f"{file}:{line}: include {m} is outside the config's folder {self.base_dir}: "
                                     "not read (give that file as nginx_config to read it)")
                continue
            out.extend(self.read_file(Path(m), depth + 1))
        if len(matches) > MAX_INCLUDE_FILES:
            self.problems.append(f"{file}:{line}: include {pattern!r} matches {len(matches)} files: "
                                 f"read the first {MAX_INCLUDE_FILES}")
        return out


# ---------------------------------------------------------------------------------------------- views


@dataclass(frozen=True)
class Listen:
    """One ``listen``: address, port, ssl (``ssl`` flag or the old ``ssl on;``)."""

    host: str
    port: int | None
    ssl: bool
    raw: str
    where: str
    unix: bool = False

    @property
    def ipv6(self) -> bool:
        return self.host.startswith("[")


@dataclass(frozen=True)
class Setting:
    value: str
    where: str  # "" when NGINX's default applies


@dataclass(frozen=True)
class ProxyLocation:
    """A ``location`` that proxies, with the settings in effect there (after NGINX's inheritance)."""

    path: str
    proxy_pass: str
    where: str
    headers: dict[str, Setting]  # lower-cased header name -> value as written
    client_max_body_size: Setting
    proxy_request_buffering: Setting
    chunked_transfer_encoding: Setting
    access_rules: tuple[str, ...] = ()

    def header(self, name: str) -> Setting | None:
        return self.headers.get(name.lower())


@dataclass(frozen=True)
class ServerBlock:
    listens: tuple[Listen, ...]
    server_names: tuple[str, ...]
    locations: tuple[ProxyLocation, ...]
    where: str
    file: str

    @property
    def ports(self) -> tuple[int, ...]:
        return tuple(sorted({listen.port for listen in self.listens if listen.port is not None}))

    @property
    def ssl(self) -> bool:
        return any(listen.ssl for listen in self.listens)

    def main_location(self) -> ProxyLocation | None:
        """``location /`` when it proxies, else the first proxying location (``/v2/`` in some setups)."""
        for loc in self.locations:
            if loc.path in ("/", "^~ /", "= /v2/", "/v2/", "/v2"):
                return loc
        return self.locations[0] if self.locations else None

    def describe(self) -> dict[str, Any]:
        return {"where": self.where, "listen": [listen.raw for listen in self.listens],
                "server_name": list(self.server_names),
                "proxy_pass": sorted({loc.proxy_pass for loc in self.locations})}


@dataclass(frozen=True)
class Upstream:
    """Where a ``proxy_pass`` leads: scheme, host, port (an ``upstream`` block resolves to its servers)."""

    scheme: str
    host: str
    port: int | None
    via: str = ""  # the upstream block's name when resolved through one

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}" if self.port else self.host


@dataclass(frozen=True)
class NginxConfig:
    """What the NGINX configuration says, as far as the registry is concerned."""

    source: str
    files: tuple[str, ...]
    directives: tuple[Directive, ...]
    servers: tuple[ServerBlock, ...]
    upstream_blocks: dict[str, tuple[str, ...]]
    missing_includes: tuple[dict[str, Any], ...] = ()
    unknown: tuple[dict[str, Any], ...] = ()
    problems: tuple[str, ...] = ()

    def upstreams(self, proxy_pass: str) -> list[Upstream]:
        """``proxy_pass`` target(s) as addresses (through ``upstream`` blocks when named)."""
        try:
            parts = urlsplit(proxy_pass)
        except ValueError:
            return []
        scheme = parts.scheme or "http"
        netloc = parts.netloc
        if netloc.startswith("unix:"):
            return [Upstream(scheme, netloc, None)]
        name = netloc.split(":")[0] if not netloc.startswith("[") else netloc
        if name in self.upstream_blocks:
            out = []
            for server in self.upstream_blocks[name]:
                host, port = _split_hostport(server)
                out.append(Upstream(scheme, host, port or 80, via=name))
            return out
        host, port = _split_hostport(netloc)
        return [Upstream(scheme, host, port or (443 if scheme == "https" else 80))]

    def evidence(self) -> dict[str, Any]:
        return {"source": self.source, "files": list(self.files), "servers": [s.describe() for s in self.servers],
                "upstream_blocks": {k: list(v) for k, v in self.upstream_blocks.items()},
                "missing_includes": list(self.missing_includes), "unknown_directives": list(self.unknown)[:20],
                "problems": list(self.problems)[:20]}


def _split_hostport(text: str) -> tuple[str, int | None]:
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text.partition("]")
        port = rest.lstrip(":")
        return host + "]", int(port) if port.isdigit() else None
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port) if port.isdigit() else None
    return text, None


def _parse_listen(d: Directive) -> Listen:
    first = d.args[0] if d.args else ""
    flags = set(d.args[1:])
    ssl = "ssl" in flags
    if first.startswith("unix:"):
        return Listen(first, None, ssl, " ".join(d.args), d.where, unix=True)
    if first.isdigit():
        return Listen("*", int(first), ssl, " ".join(d.args), d.where)
    host, port = _split_hostport(first)
    return Listen(host, port if port is not None else 80, ssl, " ".join(d.args), d.where)


_INHERITED = ("client_max_body_size", "proxy_request_buffering", "chunked_transfer_encoding")
_DEFAULTS = {"client_max_body_size": DEFAULT_BODY_SIZE, "proxy_request_buffering": "on",
             "chunked_transfer_encoding": "on"}


def _level(directives: tuple[Directive, ...], inherited: dict[str, Any]) -> dict[str, Any]:
    """Settings in effect at a level: scalars override one by one, proxy_set_header replaces the whole list."""
    out = dict(inherited)
    headers = {d.args[0].lower(): Setting(" ".join(d.args[1:]), d.where)
               for d in directives if d.name == "proxy_set_header" and d.args}
    if headers:
        out["headers"] = headers
    for d in directives:
        if d.name in _INHERITED and d.args:
            out[d.name] = Setting(d.args[0], d.where)
    return out


def _rules_403(children: tuple[Directive, ...]) -> tuple[str, ...]:
    """Directives that make NGINX itself answer 403: ``deny``, a ``limit_except`` that denies, ``auth_request``.
    ``auth_basic`` answers 401 and ``return 404`` (Distribution's recipe turns away docker 1.5) neither: they are
    no cause of a 403 during a push."""
    out = []
    for c in children:
        if c.name == "deny" or c.name == "auth_request" and c.args[:1] != ("off",):
            out.append(f"{c.name} {' '.join(c.args)} ({c.where})")
        elif c.name == "limit_except" and any(g.name == "deny" for g in c.children or ()):
            out.append(f"limit_except {' '.join(c.args)} {{ deny ... }} ({c.where})")
    return tuple(out)


def basic_auth(directives: tuple[Directive, ...]) -> list[Directive]:
    """``auth_basic`` directives that turn basic authentication on, anywhere in the tree."""
    found = []
    for d in directives:
        if d.name == "auth_basic" and d.args[:1] != ("off",):
            found.append(d)
        if d.children:
            found.extend(basic_auth(d.children))
    return found


def _locations(directives: tuple[Directive, ...], ctx: dict[str, Any], server_ssl: bool) -> list[ProxyLocation]:
    out: list[ProxyLocation] = []
    for d in directives:
        if d.name != "location" or d.children is None:
            continue
        inner = _level(d.children, ctx)
        rules = _rules_403(d.children)
        proxy = next((c for c in d.children if c.name == "proxy_pass" and c.args), None)
        if proxy is not None:
            out.append(ProxyLocation(" ".join(d.args), proxy.args[0], d.where, inner.get("headers", {}),
                                     inner["client_max_body_size"], inner["proxy_request_buffering"],
                                     inner["chunked_transfer_encoding"], rules + ctx.get("rules", ())))
        out.extend(_locations(d.children, {**inner, "rules": rules + ctx.get("rules", ())}, server_ssl))
    return out


def _build(source: str, reader: _Reader, directives: list[Directive]) -> NginxConfig:
    servers: list[ServerBlock] = []
    upstream_blocks: dict[str, tuple[str, ...]] = {}
    base: dict[str, Any] = {k: Setting(v, "") for k, v in _DEFAULTS.items()}
    base["headers"] = {}

    def walk(items: tuple[Directive, ...] | list[Directive], ctx: dict[str, Any]) -> None:
        for d in items:
            if d.children is None:
                continue
            if d.name == "http":
                walk(d.children, _level(d.children, ctx))
            elif d.name == "upstream" and d.args:
                upstream_blocks[d.args[0]] = tuple(c.args[0] for c in d.children if c.name == "server" and c.args)
            elif d.name == "server":
                sctx = _level(d.children, ctx)
                old_ssl = any(c.name == "ssl" and c.args[:1] == ("on",) for c in d.children)
                listens = tuple(
                    Listen(li.host, li.port, li.ssl or old_ssl, li.raw, li.where, li.unix)
                    for li in (_parse_listen(c) for c in d.children if c.name == "listen")
                ) or (Listen("*", 80, old_ssl, "(no listen: NGINX's default *:80)", d.where),)
                names = tuple(a for c in d.children if c.name == "server_name" for a in c.args)
                rules = _rules_403(d.children)
                locs = _locations(d.children, {**sctx, "rules": rules}, any(li.ssl for li in listens))
                servers.append(ServerBlock(listens, names, tuple(locs), d.where, d.file))

    walk(directives, base)
    return NginxConfig(source, tuple(reader.files), tuple(directives), tuple(servers), upstream_blocks,
                       tuple(reader.missing_includes), tuple(reader.unknown), tuple(reader.problems))


def read_nginx_config(path: str | Path, prefix: str | Path | None = None) -> NginxConfig:
    """Read an NGINX config and the files it includes (relative includes resolve against ``prefix``, by
    default the main file's folder, as ``nginx -c FILE`` does). A server block file alone (Omnibus's
    gitlab-registry.conf) works too. ConfigError only when the main file cannot be read."""
    p = Path(path).expanduser()
    reader = _Reader(Path(prefix) if prefix else p.parent)
    directives = reader.read_file(p, 0, main=True)
    return _build(str(p), reader, directives)


def parse_nginx_config(text: str, source: str = "<text>", prefix: str | Path = ".") -> NginxConfig:
    """Same as :func:`read_nginx_config`, from text already in hand."""
    reader = _Reader(Path(prefix))
    reader.files.append(source)
    toks, problems = tokenize(text)
    reader.problems.extend(f"{source}: {p}" for p in problems)
    directives = reader._parse(toks, [0], source, 0, top=True, eof_line=text.count("\n") + 1)
    return _build(source, reader, directives)


# ---------------------------------------------------------------------------------------------- queries


def url_port(url: str) -> tuple[str, str, int | None]:
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80 if parts.scheme == "http" else None)
    except ValueError:
        return "", "", None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port


def registry_servers(cfg: NginxConfig, registry_url: str = "", registry_addr: str = "") -> list[ServerBlock]:
    """The server block(s) that front the registry: listening on ``registry_url``'s port, else proxying to the
    registry's ``http.addr``, else named or filed like a registry, else the only proxying server."""
    proxying = [s for s in cfg.servers if s.locations]
    _, _, port = url_port(registry_url) if registry_url else ("", "", None)
    if port:
        hit = [s for s in proxying if port in s.ports]
        if hit:
            return hit
    if registry_addr:
        _, want = _split_hostport(registry_addr if not registry_addr.startswith(":") else "x" + registry_addr)
        hit = [s for s in proxying if any(u.port == want for loc in s.locations for u in cfg.upstreams(loc.proxy_pass))]
        if hit:
            return hit
    hit = [s for s in proxying if "registry" in Path(s.file).name or any("registry" in n for n in s.server_names)]
    if hit:
        return hit
    return proxying if len(proxying) == 1 else []


def size_bytes(text: str) -> int | None:
    """An NGINX size (``1m``, ``512k``, ``0``) in bytes; None when it is not one."""
    t = text.strip().lower()
    mult = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}.get(t[-1:], 1)
    num = t[:-1] if t[-1:] in "kmg" else t
    return int(num) * mult if num.isdigit() else None
