"""NGINX configuration for the registry, read (never run) the way NGINX reads it: directives, blocks, includes.

GitLab's documented pre-check 4 ("review the NGINX configuration ... to confirm which port receives requests") and
"Image push errors" both live here: which ports the registry's ``server`` listens on (and with ``ssl``), where
it proxies (``proxy_pass``, ``upstream`` blocks), which headers it forwards (``Host``, ``X-Forwarded-Proto``,
``X-Forwarded-For``), and the body settings pushes depend on (``client_max_body_size``,
``proxy_request_buffering``, ``chunked_transfer_encoding``), with NGINX's inheritance rules (an array
directive such as ``proxy_set_header`` defined at a level replaces everything inherited).

Bad input never stops the reading: unknown directives, includes that match nothing and unbalanced braces are
named (file and line) and the rest is still read. Only an unreadable main file raises ConfigError.
"""

from __future__ import annotations

import glob as _glob
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .registry import RegistryConfig
from ..findings import Finding, Status
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


# ---------------------------------------------------------------------------------------------- checks


def _url_port(url: str) -> tuple[str, str, int | None]:
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
    _, _, port = _url_port(registry_url) if registry_url else ("", "", None)
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


def _upstream_ports(cfg: NginxConfig, servers: list[ServerBlock]) -> set[int]:
    return {u.port for s in servers for loc in s.locations for u in cfg.upstreams(loc.proxy_pass) if u.port}


def check_nginx_config(path: str | Path | None, registry_url: str = "", registry: RegistryConfig | None = None,
                       nginx_t: bool | None = None, proxy_configs: tuple[str, ...] | list[str] = ()) -> list[Finding]:
    """Read the NGINX config and check what pushes depend on: the port clients use is one NGINX listens on
    (with TLS when the URL is https), ``Host`` and ``X-Forwarded-Proto`` are forwarded (or the registry
    uses relative URLs), and the registry's body size is unlimited. ``registry`` is the RegistryConfig, if
    read (for ``http.addr`` and ``http.relativeurls``). ``nginx_t``: also run ``nginx -t`` on a private copy
    (see :func:`run_nginx_t`); None runs it when an ``nginx`` binary is installed here. ``proxy_configs``: NGINX
    configs of proxies in front of this one (then ``registry_url``'s port may be theirs)."""
    refs = (SEED_NGINX, SEED_PUSH)
    if not path:
        return [Finding("nginx.not_given", Status.SKIP, "No NGINX config given",
                        detail="Give `nginx_config` to check which port receives requests and which headers reach the "
                        "registry.", remedy=f"Omnibus: {OMNIBUS_REGISTRY_CONF} (or /var/opt/gitlab/nginx/conf/nginx.conf "
                        "to follow its includes); Helm: the Ingress annotations of the registry; source: your "
                        "NGINX site file.", refs=refs)]
    try:
        cfg = read_nginx_config(path)
    except ConfigError as err:
        return [Finding("nginx.unreadable", Status.ERROR, "Cannot read the NGINX config", detail=str(err),
                        evidence={"file": err.file}, remedy="Check the path and permissions (Omnibus: readable by root).", refs=refs)]
    findings: list[Finding] = []
    unknown = sorted({u["directive"] for u in cfg.unknown})
    detail = (f"{len(cfg.files)} file(s), {len(cfg.servers)} server block(s), "
              f"{sum(len(s.locations) for s in cfg.servers)} proxying location(s).")
    if unknown:
        detail += " Directives this reader does not know (ignored): " + ", ".join(unknown[:10]) + "."
    findings.append(Finding("nginx.read", Status.OK, "NGINX config read", detail=detail, evidence=cfg.evidence(), refs=refs))
    if cfg.missing_includes:
        findings.append(Finding(
            "nginx.include_missing", Status.WARN, f"{len(cfg.missing_includes)} include(s) name no file",
            detail="; ".join(f"{m['include']} ({m['where']})" for m in cfg.missing_includes[:5])
            + ". Settings in them are unknown here; NGINX itself refuses to start with a missing include.",
            evidence={"missing_includes": list(cfg.missing_includes)},
            remedy="Pass the folder layout as it is on the server (copy the included files too), or the file that holds "
            "the registry's server block.", refs=refs))
    if cfg.problems:
        findings.append(Finding(
            "nginx.parse_problems", Status.WARN, f"{len(cfg.problems)} syntax problem(s) in the NGINX config",
            detail="; ".join(cfg.problems[:5]) + ". The rest was read.", evidence={"problems": list(cfg.problems)},
            remedy="Fix the file at the line named (`nginx -t` would refuse the config the same way: Omnibus "
            "`/opt/gitlab/embedded/sbin/nginx -p /var/opt/gitlab/nginx -t`). NGINX keeps running its old config "
            "after a failed reload, so the running proxy may differ from this file.", refs=refs))
    basic = basic_auth(cfg.directives)
    if basic:
        findings.append(Finding(
            "nginx.auth_basic", Status.OK, "NGINX asks for basic authentication (context)",
            detail=f"`auth_basic` at {', '.join(d.where for d in basic[:3])}: NGINX answers 401 with a Basic challenge "
            "before the registry sees the request (Distribution's NGINX recipe authenticates this way). It is no "
            "cause of a 403; in front of a GitLab registry it replaces the registry's Bearer challenge, which "
            "`triage` shows.", evidence={"auth_basic": [d.where for d in basic]}, refs=refs))
    if nginx_t is None or nginx_t:
        verdict = run_nginx_t(cfg) if (nginx_t or nginx_binary()) else None
        if verdict is not None:
            findings.append(verdict.finding(refs))
    addr = getattr(getattr(registry, "http", None), "addr", None) or ""
    from .procenv import effective_relativeurls

    relative = effective_relativeurls(registry)[0] if registry is not None else False
    servers = registry_servers(cfg, registry_url, addr)
    if not servers:
        findings.append(Finding(
            "nginx.no_registry_server", Status.WARN, "No server block for the registry found",
            detail="No proxying server block listens on the registry URL's port or proxies to the registry's address.",
            evidence={"servers": [s.describe() for s in cfg.servers]},
            remedy=f"Point `nginx_config` at the file with the registry's server block (Omnibus: {OMNIBUS_REGISTRY_CONF}).",
            refs=refs))
        return findings
    findings.extend(_check_port(cfg, servers, registry_url, refs, proxy_configs))
    findings.extend(_check_upstream(cfg, servers, addr, registry))
    for server in servers:
        loc = server.main_location()
        if loc is None:
            continue
        findings.extend(_check_headers(cfg, server, loc, relative, refs))
        findings.extend(_check_body(server, loc, refs))
        if loc.access_rules:
            findings.append(Finding(
                "nginx.access_rules", Status.WARN, "Access rules in the registry's server block",
                detail=f"{loc.path} at {loc.where} has: {'; '.join(loc.access_rules[:5])}. NGINX answers 401/403 itself "
                "for requests these rules refuse (an HTML page, not the registry's JSON).",
                evidence={"rules": list(loc.access_rules), "scenario": "push-403"},
                remedy="Docker clients authenticate with GitLab's tokens: remove basic auth and IP rules from the "
                "registry's server block, or make sure they allow every client and GitLab itself.",
                refs=("Unexpected 403 error during push",)))
    return findings


def _front_listening(proxy_configs: tuple[str, ...] | list[str], port: int | None) -> str:
    """Where a proxy in front (one of ``proxy_configs``) listens on ``port`` ('' when none does)."""
    for path in proxy_configs:
        try:
            front = read_nginx_config(path)
        except ConfigError:
            continue
        for server in front.servers:
            hit = next((li for li in server.listens if li.port == port), None)
            if hit is not None and server.locations:
                return f"`listen {hit.raw}` at {hit.where}"
    return ""


def _check_port(cfg: NginxConfig, servers: list[ServerBlock], registry_url: str,
                refs: tuple[str, ...], proxy_configs: tuple[str, ...] | list[str] = ()) -> list[Finding]:
    if not registry_url:
        return [Finding("nginx.port.not_checked", Status.SKIP, "Port not compared: no registry_url",
                        detail="Give `registry_url` to compare its port with NGINX's listen ports.",
                        evidence={"servers": [s.describe() for s in servers]}, refs=refs)]
    scheme, host, port = _url_port(registry_url)
    listening = sorted({p for s in cfg.servers for p in s.ports})
    ev = {"registry_url": registry_url, "url_port": port, "servers": [s.describe() for s in servers],
          "all_listen_ports": listening, "scenario": "push-retry-relative-urls"}
    matching = [s for s in servers if port in s.ports]
    if matching:
        server = matching[0]
        listen = next(li for li in server.listens if li.port == port)
        if (scheme == "https") != listen.ssl:
            return [Finding(
                "nginx.port.scheme_mismatch", Status.FAIL,
                f"registry_url says {scheme} but NGINX listens on {port} {'with' if listen.ssl else 'without'} TLS",
                detail=f"`listen {listen.raw}` at {listen.where}: clients using {registry_url} get "
                + ("`400 The plain HTTP request was sent to HTTPS port`." if listen.ssl else "a TLS handshake error."),
                evidence=ev, remedy="Make the scheme of `registry_external_url` (and the clients' registry address) match the "
                "listener: `listen PORT ssl;` for https.", refs=refs)]
        return [Finding("nginx.port.ok", Status.OK, f"NGINX listens on {port}, the registry URL's port",
                        detail=f"`listen {listen.raw}` at {listen.where} ({'TLS' if listen.ssl else 'plain HTTP'}), as "
                        f"{registry_url} needs.", evidence=ev, refs=refs)]
    front = _front_listening(proxy_configs, port)
    if front:
        return [Finding("nginx.port.behind_proxy", Status.OK, f"registry_url's port {port} is a proxy's in front of NGINX",
                        detail=f"{front} (one of `proxy_configs`) receives {registry_url} and proxies on; this NGINX "
                               f"listens on {', '.join(map(str, sorted({p for s in servers for p in s.ports}))) or 'nothing'}.",
                        evidence={**ev, "scenario": ""}, refs=refs)]
    if port in _upstream_ports(cfg, servers):
        return [Finding(
            "nginx.port.bypass", Status.SKIP, "registry_url reaches the registry directly, not through NGINX",
            detail=f"Port {port} is NGINX's upstream (the registry itself); NGINX listens on "
            f"{', '.join(map(str, sorted({p for s in servers for p in s.ports}))) or 'nothing'}. Probes with this URL "
            "bypass NGINX, so they cannot see proxy problems.", evidence=ev,
            remedy="To test the path clients take, give `registry_url` as clients use it (NGINX's listen port).", refs=refs)]
    return [Finding(
        "nginx.port.mismatch", Status.FAIL, f"NGINX does not listen on {port}, the registry URL's port",
        detail=f"{registry_url} uses port {port}; the registry's server block listens on "
        f"{', '.join(map(str, sorted({p for s in servers for p in s.ports}))) or 'nothing'}. Requests to {port} "
        "reach something else (or nothing).", evidence=ev,
        remedy="Omnibus: the port comes from `registry_external_url` (and `registry_nginx['listen_port']`); "
        "reconfigure after changing it. Helm: the Ingress host/port. Source: the `listen` of the registry's "
        "server block must be the port in the clients' registry address.", refs=refs)]


SEED_IPV6 = "Registry service listens on IPv6 address instead of IPv4"


def _family(host: str) -> str:
    h = host.strip("[]").lower()
    if h in ("", "*", "::", "0.0.0.0"):
        return "any" if h != "0.0.0.0" else "ipv4"
    if h == "localhost":
        return "localhost"
    return "ipv6" if ":" in h else "ipv4"


def _check_upstream(cfg: NginxConfig, servers: list[ServerBlock], registry_addr: str, registry: RegistryConfig | None) -> list[Finding]:
    """Does NGINX proxy to where the registry listens (``http.addr``): same port, same address family?"""
    refs = (SEED_IPV6, SEED_NGINX)
    if not registry_addr:
        return []
    reg_host, reg_port = _split_hostport(registry_addr if not registry_addr.startswith(":") else "*" + registry_addr)
    reg_family = _family(reg_host)
    where = registry.where("http.addr") if registry is not None else "config.yml"
    out: list[Finding] = []
    seen = set()
    for server in servers:
        for loc in server.locations:
            for up in cfg.upstreams(loc.proxy_pass):
                key = (up.host, up.port)
                if key in seen or up.port is None:
                    continue
                seen.add(key)
                ev = {"proxy_pass": loc.proxy_pass, "location": loc.where, "upstream": up.address,
                      "registry_http_addr": registry_addr, "registry_addr_where": where, "scenario": "ipv6-listener"}
                up_family = _family(up.host)
                if reg_port and up.port != reg_port:
                    out.append(Finding(
                        "nginx.upstream.port_mismatch", Status.FAIL,
                        f"NGINX proxies to port {up.port}, the registry listens on {reg_port}",
                        detail=f"`proxy_pass {loc.proxy_pass}` ({loc.where}) vs `http.addr: {registry_addr}` ({where}): "
                        "NGINX answers 502 for every request.", evidence=ev,
                        remedy="Make them agree: Omnibus derives NGINX's upstream from `registry['registry_http_addr']` "
                        "(reconfigure after changing it); source: fix `proxy_pass` or `http.addr`.", refs=refs))
                elif reg_family in ("ipv4", "ipv6") and up_family in ("ipv4", "ipv6") and up_family != reg_family:
                    out.append(Finding(
                        "nginx.upstream.family_mismatch", Status.FAIL,
                        f"NGINX proxies to {up.address} ({up_family}), the registry listens on {registry_addr}",
                        detail=f"`proxy_pass {loc.proxy_pass}` ({loc.where}) uses {up_family.upper()} while `http.addr` "
                        f"({where}) is {reg_family.upper()} only: NGINX logs `connect() failed (111: Connection "
                        f"refused) while connecting to upstream` and answers 502.", evidence=ev,
                        remedy="Omnibus: `registry['registry_http_addr'] = \"127.0.0.1:5000\"` and reconfigure; source: "
                        "`proxy_pass http://127.0.0.1:5000;` with `http.addr: 127.0.0.1:5000` (or `:5000` for both "
                        "families). Run `ipv6-listener` to probe both loopbacks.", refs=refs))
                elif up_family == "localhost" and reg_family in ("ipv4", "ipv6"):
                    out.append(Finding(
                        "nginx.upstream.localhost", Status.WARN, f"NGINX proxies to {up.address}",
                        detail=f"`proxy_pass {loc.proxy_pass}` ({loc.where}) resolves `localhost`, which may give ::1 before "
                        f"127.0.0.1, while the registry listens on {registry_addr} only (GitLab's documented IPv6 case).", evidence=ev,
                        remedy="Use the registry's literal address in `proxy_pass` (Omnibus: set "
                        "`registry['registry_http_addr'] = \"127.0.0.1:5000\"`). Run `ipv6-listener`.", refs=refs))
                else:
                    out.append(Finding("nginx.upstream.ok", Status.OK, f"NGINX proxies to {up.address}",
                                       detail=f"`proxy_pass {loc.proxy_pass}` ({loc.where}) matches `http.addr: "
                                       f"{registry_addr}` ({where}).", evidence=ev, refs=refs))
    return out


def _check_headers(cfg: NginxConfig, server: ServerBlock, loc: ProxyLocation, relative: bool,
                   refs: tuple[str, ...]) -> list[Finding]:
    out: list[Finding] = []
    upstream_tls = any(u.scheme == "https" for u in cfg.upstreams(loc.proxy_pass))
    host = loc.header("Host")
    proto = loc.header("X-Forwarded-Proto")
    xff = loc.header("X-Forwarded-For")
    ev = {"location": loc.where, "proxy_pass": loc.proxy_pass,
          "headers": {k: {"value": v.value, "where": v.where} for k, v in loc.headers.items()},
          "listen_ssl": server.ssl, "registry_relativeurls": relative, "scenario": "push-retry-relative-urls"}
    remedy_headers = (
        "In the registry's `location /` block:\n"
        "```\nproxy_set_header  Host              $http_host;\nproxy_set_header  X-Forwarded-Proto $scheme;\n"
        "proxy_set_header  X-Forwarded-For   $proxy_add_x_forwarded_for;\n```\n"
        "(a `proxy_set_header` in a block replaces all those inherited from outer blocks: repeat them all). "
        "Or let the registry answer with relative URLs: Omnibus `registry['env'] = "
        "{ \"REGISTRY_HTTP_RELATIVEURLS\" => true }`; Helm `registry.relativeurls: true`; source "
        "`http.relativeurls: true`.")
    problems = 0
    if host is None:
        problems += 1
        out.append(Finding(
            "nginx.headers.host_not_forwarded", Status.WARN if relative else Status.FAIL,
            "NGINX does not forward the client's Host header",
            detail=f"No `proxy_set_header Host` in effect at {loc.where}: the registry sees `Host: <upstream address>` "
            f"({loc.proxy_pass}) and builds its upload `Location` URLs for that address"
            + (" (relative URLs are on, so Locations stay usable)." if relative else
               ", which clients cannot use: pushes retry forever."), evidence=ev, remedy=remedy_headers, refs=refs))
    elif host.value.strip() == "$host" and any(p not in (80, 443) for p in server.ports):
        problems += 1
        out.append(Finding(
            "nginx.headers.host_without_port", Status.WARN, "Host is forwarded without the port",
            detail=f"`proxy_set_header Host $host` ({host.where}) drops the port; the registry listens behind port(s) "
            f"{', '.join(map(str, server.ports))}, so absolute `Location` URLs lose it.", evidence=ev,
            remedy="Use `proxy_set_header Host $http_host;` (it keeps the port).", refs=refs))
    if server.ssl and not upstream_tls:
        if proto is None:
            problems += 1
            out.append(Finding(
                "nginx.headers.missing_forwarded_proto", Status.OK if relative else Status.FAIL,
                "NGINX terminates TLS but does not send X-Forwarded-Proto",
                detail=f"The server listens with TLS and proxies to {loc.proxy_pass} in plain HTTP without "
                f"`proxy_set_header X-Forwarded-Proto` ({loc.where}). "
                + ("The registry uses relative URLs, so its Locations are not affected." if relative else
                   "The registry (relativeurls off) then sends clients `Location: http://...` on the TLS port: "
                   "`docker login` works, pushes retry in a loop (GitLab's documented 'Image push errors')."),
                evidence=ev, remedy=remedy_headers, refs=refs))
        elif proto.value.strip().lower() == "http":
            problems += 1
            out.append(Finding(
                "nginx.headers.wrong_forwarded_proto", Status.FAIL, "X-Forwarded-Proto says http behind TLS",
                detail=f"`proxy_set_header X-Forwarded-Proto {proto.value}` at {proto.where} while clients use https.",
                evidence=ev, remedy=remedy_headers, refs=refs))
    if not problems:
        out.append(Finding(
            "nginx.headers.ok", Status.OK, "NGINX forwards the headers the registry needs",
            detail=f"At {loc.where}: Host = {host.value if host else '(not set)'}, X-Forwarded-Proto = "
            f"{proto.value if proto else '(not set)'}, X-Forwarded-For = {xff.value if xff else '(not set)'}"
            + ("; relative URLs are on in the registry." if relative else "."), evidence=ev, refs=refs))
    return out


def _size_bytes(text: str) -> int | None:
    t = text.strip().lower()
    mult = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}.get(t[-1:], 1)
    num = t[:-1] if t[-1:] in "kmg" else t
    return int(num) * mult if num.isdigit() else None


def _check_body(server: ServerBlock, loc: ProxyLocation, refs: tuple[str, ...]) -> list[Finding]:
    out: list[Finding] = []
    size = loc.client_max_body_size
    ev = {"location": loc.where, "client_max_body_size": {"value": size.value, "where": size.where or "NGINX default"},
          "proxy_request_buffering": {"value": loc.proxy_request_buffering.value,
                                      "where": loc.proxy_request_buffering.where or "NGINX default"},
          "chunked_transfer_encoding": {"value": loc.chunked_transfer_encoding.value,
                                        "where": loc.chunked_transfer_encoding.where or "NGINX default"},
          "scenario": "body-limit-413"}
    if _size_bytes(size.value) != 0:
        where = size.where or "not set: NGINX's default"
        out.append(Finding(
            "nginx.body_size.limited", Status.FAIL, f"NGINX limits request bodies to {size.value}",
            detail=f"`client_max_body_size {size.value}` ({where}) applies to the registry: Docker sends each layer in "
            f"one PATCH, so every layer above {size.value} fails with `413 Request Entity Too Large`.", evidence=ev,
            remedy="Set `client_max_body_size 0;` in the registry's server block (Omnibus does by default; check "
            "custom NGINX settings; Helm Ingress: `nginx.ingress.kubernetes.io/proxy-body-size: \"0\"`).", refs=refs))
    else:
        out.append(Finding("nginx.body_size.ok", Status.OK, "No body size limit for the registry",
                           detail=f"`client_max_body_size 0` ({size.where}).", evidence=ev, refs=refs))
    if loc.proxy_request_buffering.value.lower() == "on":
        # context, not a cause: GitLab's and Distribution's own NGINX samples leave it on and pushes work; it
        # only matters next to a full disk or short timeouts, which other findings name
        context = {k: v for k, v in ev.items() if k != "scenario"}
        out.append(Finding(
            "nginx.request_buffering_on", Status.OK, "NGINX buffers uploads before passing them on (context)",
            detail=f"`proxy_request_buffering` is on ({loc.proxy_request_buffering.where or 'NGINX default'}): each layer "
            "is written to NGINX's temp folder first, then sent to the registry. Pushes work this way (GitLab's "
            "and Distribution's sample configs do it); with very large layers it costs disk space and time.",
            evidence=context, remedy="If large pushes are slow or NGINX's disk fills up: `proxy_request_buffering off;` in the "
            "registry's location, as Omnibus does.", refs=refs))
    if loc.chunked_transfer_encoding.value.lower() == "off":
        out.append(Finding(
            "nginx.chunked_off", Status.WARN, "chunked_transfer_encoding is off",
            detail=f"At {loc.chunked_transfer_encoding.where}: the registry relies on chunked transfer for streaming "
            "answers; Docker's documentation for NGINX in front of a registry sets it on.", evidence=ev,
            remedy="Set `chunked_transfer_encoding on;` in the registry's server block.", refs=refs))
    return out


# ------------------------------------------------------------------------------------ nginx -t, privately

NGINX_T_TIMEOUT_S = 15
# directives whose file arguments are swapped for private stand-ins in the copy (argument index, what to put)
_PRIVATE_FILES = {"ssl_certificate": "cert", "ssl_certificate_key": "key", "ssl_trusted_certificate": "cert",
                  "ssl_client_certificate": "cert", "ssl_stapling_file": "drop", "ssl_dhparam": "drop",
                  "ssl_password_file": "drop", "ssl_crl": "drop", "auth_basic_user_file": "empty",
                  "access_log": "log", "error_log": "log", "pid": "pid", "lock_file": "pid", "user": "drop",
                  "load_module": "drop", "client_body_temp_path": "temp", "proxy_temp_path": "temp",
                  "fastcgi_temp_path": "temp", "uwsgi_temp_path": "temp", "scgi_temp_path": "temp"}
_TEMP_PATHS = ("client_body_temp_path", "proxy_temp_path", "fastcgi_temp_path", "uwsgi_temp_path", "scgi_temp_path")
# nginx -t messages that depend on this machine rather than on the config's syntax
_ENVIRONMENT = ("host not found", "cannot load certificate", "BIO_new_file", "open()", "unknown directive",
                "getpwnam", "getgrnam", "dlopen", "could not build", "no resolver", "SSL_CTX_", "PEM_read",
                "unknown log format", "no port in upstream")


def nginx_binary() -> str | None:
    """The ``nginx`` binary on this machine (PATH, or /usr/sbin/nginx), or None."""
    import shutil

    found = shutil.which("nginx") or next((p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx",
                                                        "/opt/gitlab/embedded/sbin/nginx") if os.path.exists(p)), None)
    return found


@dataclass(frozen=True)
class NginxTVerdict:
    """What ``nginx -t`` said about the private copy, with its file:line mapped back to the original files."""

    ok: bool
    messages: tuple[str, ...]
    environment_only: bool
    binary: str
    wrapped: bool

    def finding(self, refs: tuple[str, ...]) -> Finding:
        quote = "; ".join(self.messages[:5]) or "(no output)"
        ev = {"binary": self.binary, "messages": list(self.messages), "wrapped_in_http": self.wrapped}
        how = (f"`{self.binary} -t` on a private copy (own prefix, temp paths, logs and stand-in certificates; "
               + ("the server blocks wrapped in `events {}` / `http {}`" if self.wrapped else "the full config")
               + ")")
        if self.ok:
            return Finding("nginx.nginx_t.ok", Status.OK, "nginx -t accepts the config", detail=f"{how}: {quote}.", evidence=ev, refs=refs)
        if self.environment_only:
            return Finding("nginx.nginx_t.environment", Status.OK,
                           "nginx -t could not check everything on this machine",
                           detail=f"{how}: {quote}. That depends on the machine the config runs on (names, files, "
                           "modules), not on its syntax.", evidence=ev, refs=refs)
        return Finding("nginx.nginx_t.failed", Status.WARN, "nginx -t rejects the config",
                       detail=f"{how}: {quote}.", evidence=ev,
                       remedy="Fix the line named; NGINX refuses to load a config that fails `nginx -t` (a reload keeps "
                       "the old one running).", refs=refs)


def _private_cert(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import datetime as dt

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "nginx-t.invalid")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=2)).sign(key, hashes.SHA256()))
    crt, pem = folder / "stand-in.crt", folder / "stand-in.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    os.chmod(pem, 0o600)
    return crt, pem


class _Flattener:
    """One config text with its includes inlined and its file paths made private, and for each output line the
    original file and line (so nginx's ``in FILE:LINE`` can be mapped back)."""

    def __init__(self, base_dir: Path, private: Path) -> None:
        self.base_dir, self.private = base_dir, private
        self.lines: list[str] = []
        self.origin: list[tuple[str, int]] = []
        self.defined_formats: set[str] = set()
        self.used_formats: set[str] = set()
        self.seen_directives: set[str] = set()
        self.counter = 0
        self.cert: tuple[Path, Path] | None = None

    def _emit(self, text: str, file: str, line: int) -> None:
        for i, piece in enumerate(text.split("\n")):
            if self.lines and i == 0 and self.origin[-1] == (file, line) and not self.lines[-1].endswith("\n"):
                self.lines[-1] += piece
                continue
            self.lines.append(piece)
            self.origin.append((file, line + i))

    def _newline(self) -> None:
        self.lines.append("")
        self.origin.append(("", 0))

    def _stand_in(self, kind: str, original: str) -> str:
        self.counter += 1
        if kind in ("cert", "key"):
            if self.cert is None:
                self.cert = _private_cert(self.private)
            return str(self.cert[0] if kind == "cert" else self.cert[1])
        if kind == "empty":
            path = self.private / f"empty-{self.counter}"
            path.write_text("")
            return str(path)
        if kind == "temp":
            path = self.private / f"temp-{self.counter}"
            path.mkdir(exist_ok=True)
            return str(path)
        if kind == "pid":
            return str(self.private / f"nginx-{self.counter}.pid")
        if original in ("off", "stderr") or original.startswith(("syslog:", "memory:")):
            return original
        return str(self.private / f"log-{self.counter}.log")

    def add_file(self, path: Path, depth: int = 0) -> None:
        text = read_text(path)
        toks, _ = tokenize(text)
        edits: list[tuple[int, int, Any]] = []  # (start, end, replacement str or list of include files)
        words: list[_Tok] = []
        for t in toks:
            if not t.quoted and t.text in (";", "{", "}"):
                if words and t.text in (";", "{"):
                    self._directive(words, t, edits, depth)
                words = []
            else:
                words.append(t)
        pos, line = 0, 1
        for start, end, repl in sorted(edits, key=lambda e: e[0]):
            chunk = text[pos:start]
            self._emit(chunk, str(path), line)
            line += chunk.count("\n")
            if isinstance(repl, list):
                self._newline()
                for inc in repl:
                    self.add_file(inc, depth + 1)
                    self._newline()
            else:
                self._emit(repl, str(path), line)
            line += text[start:end].count("\n")
            pos = end
        self._emit(text[pos:], str(path), line)

    def _directive(self, words: list[_Tok], end: _Tok, edits: list, depth: int) -> None:
        name = words[0].text
        self.seen_directives.add(name)
        if name == "log_format" and len(words) > 1:
            self.defined_formats.add(words[1].text)
        if name == "include" and len(words) == 2 and end.text == ";":
            edits.append((words[0].start, end.end, self._include(words[1].text, depth)))
            return
        kind = _PRIVATE_FILES.get(name)
        if kind is None or len(words) < 2:
            return
        if kind == "drop":
            edits.append((words[0].start, end.end, "# (left out of the private copy)"))
            return
        arg = words[1]
        if "$" in arg.text:
            return
        if name == "access_log" and len(words) > 2 and "=" not in words[2].text:
            self.used_formats.add(words[2].text)
        edits.append((arg.start, arg.end, '"' + self._stand_in(kind, arg.text).replace('"', '\\"') + '"'))

    def _include(self, pattern: str, depth: int) -> list[Path]:
        from ..safefile import is_within

        if depth >= MAX_INCLUDE_DEPTH:
            return []
        full = pattern if os.path.isabs(pattern) else str(self.base_dir / pattern)
        matches = sorted(_glob.glob(full)) if _glob.has_magic(full) else ([full] if os.path.exists(full) else [])
        return [Path(m) for m in matches[:MAX_INCLUDE_FILES]
                if any(is_within(m, root) for root in (self.base_dir, *INCLUDE_ROOTS)) and os.path.isfile(m)]


def run_nginx_t(cfg: NginxConfig, binary: str | None = None) -> NginxTVerdict | None:
    """``nginx -t`` on a private copy of ``cfg``: includes inlined, log/pid/temp paths and certificates swapped for
    files in a temporary folder that is also NGINX's prefix (``-p``, ``-e``), so nothing of the system's NGINX is
    read or written. A file holding only server blocks (Omnibus' gitlab-registry.conf, GitLab's sample) is wrapped
    in ``events {}`` / ``http {}``, with stand-in ``log_format``s it names but does not define. Messages come back
    with the original file and line. None when there is no binary or nothing to check."""
    import subprocess
    import tempfile

    binary = binary or nginx_binary()
    source = Path(cfg.source)
    if not binary or not source.is_file():
        return None
    with tempfile.TemporaryDirectory(prefix="runbook-nginx-t-") as tmp:
        private = Path(tmp)
        flat = _Flattener(source.parent, private)
        try:
            flat.add_file(source)
        except ConfigError:
            return None
        top = {d.name for d in cfg.directives}
        wrapped = "http" not in top and bool(top & {"server", "upstream", "map", "location"})
        body = "\n".join(flat.lines)
        extra_formats = sorted(flat.used_formats - flat.defined_formats - {"combined"})
        http_extra = " ".join(f"log_format {f} '$remote_addr';" for f in extra_formats)
        http_extra += " " + " ".join(f'{d} "{private / d}";' for d in _TEMP_PATHS if d not in flat.seen_directives)
        for d in _TEMP_PATHS:
            (private / d).mkdir(exist_ok=True)
        conf = private / "nginx.conf"
        if wrapped:
            header = f"events {{}} http {{ {http_extra}"
            conf.write_text(header + "\n" + body + "\n}\n")
            offset = 1
        else:
            offset = 0
            if "http" in top:  # the temp paths and missing formats go into the config's own http block
                body = _inject_after_http(body, http_extra)
            conf.write_text(body if body.endswith("\n") else body + "\n")
        args = [binary, "-t", "-p", str(private) + "/", "-c", str(conf), "-e", str(private / "error.log")]
        if "pid" not in flat.seen_directives:
            args += ["-g", f"pid {private / 'nginx.pid'};"]
        try:
            res = subprocess.run(args, capture_output=True, text=True, timeout=NGINX_T_TIMEOUT_S,
                                 stdin=subprocess.DEVNULL, cwd=tmp)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return NginxTVerdict(False, (f"could not run {binary}: {exc}",), True, binary, wrapped)
        messages = []
        for raw in (res.stderr + res.stdout).splitlines():
            text = raw.removeprefix("nginx: ").strip()
            if not text or text.startswith("configuration file") and ("test is successful" in text or
                                                                         "test failed" in text):
                continue
            messages.append(_map_back(text, str(conf), flat.origin, offset).replace(tmp, "<private copy>"))
        ok = res.returncode == 0
        env = not ok and bool(messages) and all(any(k in m for k in _ENVIRONMENT) for m in messages
                                                if "[emerg]" in m or "[crit]" in m)
        return NginxTVerdict(ok, tuple(messages), env, binary, wrapped)


def _inject_after_http(body: str, extra: str) -> str:
    toks, _ = tokenize(body)
    for a, b in zip(toks, toks[1:]):
        if not a.quoted and a.text == "http" and not b.quoted and b.text == "{":
            return body[:b.end] + " " + extra + body[b.end:]
    return body


def _map_back(message: str, conf: str, origin: list[tuple[str, int]], offset: int) -> str:
    import re

    def repl(m):
        n = int(m.group(1)) - 1 - offset
        if 0 <= n < len(origin) and origin[n][0]:
            return f"in {origin[n][0]}:{origin[n][1]}"
        return m.group(0)

    return re.sub(r"in " + re.escape(conf) + r":(\d+)", repl, message)
