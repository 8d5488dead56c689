"""Stand-in for GitLab's `/jwt/auth`: HTTP Basic in, an RS256 JWT the registry can verify out.

Faithful to what the registry sees from GitLab: `kid` = libtrust key ID of the signing key, claims
iss/sub/aud/exp/nbf/iat/jti/access, `nbf = iat - 5 s`, response `{"token": ...}` only.

Refusals as GitLab's ``JwtController`` and ``ContainerRegistryAuthenticationService`` answer them (issue #19,
``jwt-auth-refused``), for the extra ``accounts`` of the config (password users with 2FA or blocked, personal
access tokens with scopes or expired, CI job tokens of a project):

* credentials refused (wrong password, a password on a 2FA account, a blocked user, an expired or unknown token):
  401 ``{"errors":[{"code":"UNAUTHORIZED","message":"HTTP Basic: Access denied. If a password was provided ..."}]}``,
  and an ``auth_json.log`` line ``JWT authentication failed``;
* authenticated without any registry ability (a token with neither ``read_registry`` nor ``write_registry``):
  403 ``{"errors":[{"code":"DENIED","message":"access forbidden"}],"http_status":403}``;
* an unknown ``service``: 404 without a body;
* otherwise 200 with a token whose ``access`` holds only the actions the credentials allow (``read_registry``:
  pull; ``write_registry``: push; a job token: pull and push on its own project only); a scope with no allowed
  action is left out, as GitLab does.

Every request writes a ``production_json.log`` line. Run as ``python -m runbooklib.lab.issuer CONFIG.json``.
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


ACCESS_DENIED = ("HTTP Basic: Access denied. If a password was provided for Git authentication, the password was "
                 "incorrect or you're required to use a token instead of a password. If a token was provided, it was "
                 "either incorrect, expired, or improperly scoped. See {help}")
HELP_2FA = ("/help/user/profile/account/two_factor_authentication_troubleshooting.md"
            "#error-http-basic-access-denied-if-a-password-was-provided-for-git-authentication-")
ALL_ACTIONS = ("pull", "push", "delete", "*")  # what GitLab's ContainerRegistryAuthenticationService knows


class Refused(Exception):
    """Why /jwt/auth refuses: ``status`` 401 (credentials) or 403 (no registry ability); ``reason`` for the logs."""

    def __init__(self, status: int, reason: str, user: str = "") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.user = user


class Issuer:
    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.password = Path(cfg["password_file"]).read_text().strip()
        self.accounts = []
        for a in cfg.get("accounts", []):
            secret = Path(a["secret_file"]).read_text().strip() if a.get("secret_file") else str(a.get("secret", ""))
            self.accounts.append({**a, "secret": secret})

    def login(self, header: str | None) -> tuple[str, dict[str, Any] | None]:
        """(user, account) for HTTP Basic credentials: the lab user, or an extra account (``None`` for the lab user
        with a full password login). Raises Refused as GitLab would."""
        if not header:
            return "", None
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            raise Refused(401, "not HTTP Basic")
        try:
            login, _, secret = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise Refused(401, "undecodable credentials") from None
        if login == self.cfg["username"] and hmac.compare_digest(secret, self.password):
            if login in self.cfg.get("two_factor_users", []):
                raise Refused(401, "two-factor user needs a personal access token", login)
            return login, None
        for a in self.accounts:
            if a.get("kind") == "job" and login == "gitlab-ci-token" and hmac.compare_digest(secret, a["secret"]):
                if a.get("expired"):
                    raise Refused(401, "job token of a finished job", login)
                return a.get("user", login), a
            if a.get("username") != login or not hmac.compare_digest(secret, a["secret"]):
                continue
            if a.get("state") == "blocked":
                raise Refused(401, "blocked user", login)
            if a.get("kind") == "pat":
                if a.get("expired"):
                    raise Refused(401, "expired personal access token", login)
                if not set(a.get("scopes", [])) & {"read_registry", "write_registry", "api"}:
                    raise Refused(403, "token without registry scopes", login)
            elif a.get("two_factor"):
                raise Refused(401, "two-factor user needs a personal access token", login)
            return login, a
        raise Refused(401, "invalid login or password", login)

    @staticmethod
    def allowed(account: dict[str, Any] | None, entry: dict[str, Any]) -> list[str]:
        """The asked actions these credentials get (GitLab drops the rest)."""
        asked = [a for a in entry["actions"] if a in ALL_ACTIONS] if entry.get("type") == "repository" else entry["actions"]
        if account is None or account.get("kind") == "password":
            return list(asked)
        if account.get("kind") == "job":
            own = account.get("project", "")
            mine = entry["name"] == own or entry["name"].startswith(own + "/")
            return [a for a in asked if a in ("pull", "push")] if mine else []
        scopes = set(account.get("scopes", []))
        ok = {"pull"} if scopes & {"read_registry", "write_registry", "api"} else set()
        if scopes & {"write_registry", "api"}:
            ok |= {"push", "delete"}
        return [a for a in asked if a in ok]

    def signing_key(self):
        """Read the key for every token, as GitLab reads `registry.key`: a missing file fails the request."""
        return load_key(Path(self.cfg["key_path"]))

    def now(self) -> float:
        return time.time() + float(self.cfg.get("clock_offset_s", 0))

    def token(self, user: str, service: str, scopes: list[str], account: dict[str, Any] | None = None) -> str:
        now = int(self.now())
        access = []
        for scope in scopes:
            entry = parse_scope(scope)
            if entry and user:  # anonymous users get a token with no access, as for private projects
                actions = self.allowed(account, entry)
                if actions:  # GitLab leaves out a scope with no allowed action
                    access.append({**entry, "actions": actions})
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

    def rails_log(self, entry: dict[str, Any], name: str = "") -> None:
        """A line of GitLab's production_json.log (lograge fields) for this /jwt/auth request; with ``name``, of
        another log in the same folder (``auth_json.log``)."""
        path = self.cfg.get("rails_log")
        if not path:
            return
        if name:
            path = str(Path(path).with_name(name))
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, separators=(",", ":")) + "\n")  # as Rails writes it: no spaces


def make_handler(issuer: Issuer):
    class Handler(BaseHTTPRequestHandler):
        server_version = "nginx"
        sys_version = ""

        def date_time_string(self, timestamp=None):  # our Date follows the issuer's (possibly skewed) clock
            return formatdate(issuer.now(), usegmt=True)

        def _send(self, status: int, body: dict[str, Any] | None) -> None:
            data = json.dumps(body).encode() if body is not None else b""
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
            service = (query.get("service") or [""])[0]
            scopes = query.get("scope") or []
            started = time.time()
            entry: dict[str, Any] = {
                "method": "GET", "path": "/jwt/auth", "format": "json", "controller": "JwtController",
                "action": "auth", "params": [{"key": "service", "value": service}] +
                [{"key": "scope", "value": sc} for sc in scopes],
                "remote_ip": self.client_address[0], "ua": self.headers.get("User-Agent", ""),
                "correlation_id": secrets.token_hex(13),
            }
            try:
                user, account = issuer.login(self.headers.get("Authorization"))
                if service != issuer.cfg.get("service", "container_registry"):
                    raise Refused(404, "unknown service", user)
            except Refused as refused:
                entry.update({"status": refused.status, "duration_s": round(time.time() - started, 5),
                              "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".000Z"})
                if refused.status == 401:
                    host = self.headers.get("Host", "gitlab.example.com")
                    self._send(401, {"errors": [{"code": "UNAUTHORIZED",
                                                 "message": ACCESS_DENIED.format(help=f"http://{host}{HELP_2FA}")}]})
                    issuer.rails_log({"severity": "WARN", "time": entry["time"],
                                      "correlation_id": entry["correlation_id"], "message": "JWT authentication failed",
                                      "http_user": refused.user, "remote_ip": self.client_address[0],
                                      "auth_service": service, "auth_result.type": None,
                                      "auth_result.actor_type": None}, "auth_json.log")
                elif refused.status == 403:
                    entry["username"] = refused.user
                    self._send(403, {"errors": [{"code": "DENIED", "message": "access forbidden"}], "http_status": 403})
                else:
                    self._send(404, None)
                issuer.rails_log(entry)
                return
            entry["username"] = user or None
            try:
                token = issuer.token(user, service, scopes, account)
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
