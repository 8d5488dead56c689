"""Stand-in for GitLab's `/jwt/auth`: HTTP Basic in, an RS256 JWT the registry can verify out.

Faithful to what the registry sees from GitLab: `kid` = libtrust key ID of the signing key, claims
iss/sub/aud/exp/nbf/iat/jti/access, `nbf = iat - 5 s`, response `{"token": ...}` only.
Run as ``python -m runbooklib.lab.issuer CONFIG.json``.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
import sys
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..tokens import libtrust_key_id, sign_jwt
from .pki import load_key

TOKEN_TTL_S = 300  # GitLab's default container registry token expiry (5 minutes)


def parse_scope(scope: str) -> dict[str, Any] | None:
    """``repository:group/app:pull,push`` → access entry (type, name, actions)."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name:
        return None
    return {"type": kind, "name": name, "actions": [a for a in actions.split(",") if a]}


class Issuer:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.password = Path(cfg["password_file"]).read_text().strip()

    def signing_key(self):
        """Read the key for every token, as GitLab reads `registry.key`: a missing file fails the request."""
        return load_key(Path(self.cfg["key_path"]))

    def now(self) -> float:
        return time.time() + float(self.cfg.get("clock_offset_s", 0))

    def authenticate(self, header: str | None) -> str | None:
        """The user name when HTTP Basic credentials match, '' for anonymous, None when refused."""
        if not header:
            return ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if user == self.cfg["username"] and hmac.compare_digest(password, self.password):
            return user
        return None

    def token(self, user: str, service: str, scopes: list[str]) -> str:
        now = int(self.now())
        access = []
        for scope in scopes:
            entry = parse_scope(scope)
            if entry and user:  # anonymous users get a token with no access, as for private projects
                access.append(entry)
        claims = {
            "iss": self.cfg["issuer"],
            "iat": now,
            "jti": secrets.token_hex(16),
            "nbf": now - 5,
            "exp": now + TOKEN_TTL_S,
            "aud": service,
            "sub": user,
            "access": access,
        }
        key = self.signing_key()
        return sign_jwt({"typ": "JWT", "alg": "RS256", "kid": libtrust_key_id(key.public_key())}, claims, key)

    def rails_log(self, entry: dict[str, Any]) -> None:
        """A line of GitLab's production_json.log (lograge fields) for this /jwt/auth request."""
        path = self.cfg.get("rails_log")
        if not path:
            return
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")


def make_handler(issuer: Issuer):
    class Handler(BaseHTTPRequestHandler):
        server_version = "nginx"
        sys_version = ""

        def date_time_string(self, timestamp=None):  # our Date follows the issuer's (possibly skewed) clock
            return formatdate(issuer.now(), usegmt=True)

        def _send(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            if status == 401:
                self.send_header("WWW-Authenticate", 'Basic realm="GitLab"')
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            url = urlsplit(self.path)
            if url.path != "/jwt/auth":
                self._send(404, {"message": "404 Not Found"})
                return
            query = parse_qs(url.query)
            user = issuer.authenticate(self.headers.get("Authorization"))
            if user is None:
                self._send(401, {"errors": [{"code": "UNAUTHORIZED",
                                             "message": "HTTP Basic: Access denied. If a password was provided "
                                                        "for Git authentication, ..."}]})
                return
            service = (query.get("service") or [""])[0]
            scopes = query.get("scope") or []
            started = time.time()
            entry: dict[str, Any] = {
                "method": "GET", "path": "/jwt/auth", "format": "json", "controller": "JwtController",
                "action": "auth", "params": [{"key": "service", "value": service}] +
                [{"key": "scope", "value": sc} for sc in scopes],
                "remote_ip": self.client_address[0], "ua": self.headers.get("User-Agent", ""),
                "correlation_id": secrets.token_hex(13), "username": user or None,
            }
            try:
                token = issuer.token(user, service, scopes)
            except OSError as exc:  # what Rails logs when gitlab-registry.key is missing
                entry.update({"status": 500, "exception.class": "Errno::ENOENT",
                              "exception.message": f"No such file or directory @ rb_sysopen - {exc.filename}"})
                self._send(500, {"message": "500 Internal Server Error"})
            else:
                entry["status"] = 200
                self._send(200, {"token": token})
            entry["duration_s"] = round(time.time() - started, 5)
            entry["time"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000Z"
            issuer.rails_log(entry)

        def log_message(self, fmt: str, *args: Any) -> None:
            # Rails-like JSON line; the Authorization header is never logged
            sys.stderr.write(json.dumps({"time": formatdate(usegmt=True), "method": self.command,
                                         "path": urlsplit(self.path).path, "status": args[1] if len(args) > 1 else "",
                                         "remote_ip": self.client_address[0]}) + "\n")
            sys.stderr.flush()

    return Handler


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    cfg = json.loads(Path(args[0]).read_text())
    server = ThreadingHTTPServer((cfg.get("host", "127.0.0.1"), int(cfg["port"])), make_handler(Issuer(cfg)))
    server.daemon_threads = True
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
