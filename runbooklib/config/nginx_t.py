"""``nginx -t`` on a private copy of the config: NGINX's own verdict on syntax, without touching the real server.

Certificates are replaced by throwaway ones, temp paths and includes point into a private folder, and messages
are mapped back to the original files and lines.
"""

from __future__ import annotations

import glob as _glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..findings import Finding, Status
from .errors import ConfigError, read_text
from .nginx import INCLUDE_ROOTS, MAX_INCLUDE_DEPTH, MAX_INCLUDE_FILES, NginxConfig, _Tok, tokenize


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
