"""Stand-in for the parts of GitLab's REST API v4 the runbooks read (GitLab itself cannot run here).

Faithful where clients can tell: field names, ``PRIVATE-TOKEN`` / ``JOB-TOKEN`` / ``Authorization: Bearer``
auth, 401 ``{"message":"401 Unauthorized"}``, 403 ``insufficient_scope`` (with the scopes that would do) and
``{"message":"403 Forbidden"}`` for a too-low role, 404 ``{"message":"404 Project Not Found"}`` (also for
private projects the user cannot see), offset pagination (``per_page`` default 20, max 100; headers
``x-page``, ``x-per-page``, ``x-next-page``, ``x-prev-page``, ``x-total``, ``x-total-pages``, ``Link``),
and 429 with ``Retry-After`` when throttling is switched on.

Registry repositories marked ``"source": "registry"`` are read from the real registry the way GitLab does
(``/v2/<path>/tags/list``, the manifest for the digest, the image config's ``created`` for ``created_at``,
the layers' sizes for ``total_size``), with a token from the lab's realm; others carry synthetic tags.

Run as ``python -m runbooklib.lab.gitlab_standin CONFIG.json``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import secrets
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import httpx

from ..timebounds import parse_timestamp

ROLE_LEVELS = {"guest": 10, "reporter": 20, "developer": 30, "maintainer": 40, "owner": 50}
API_SCOPES = ("api", "read_api")
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
MANIFEST_TYPES = ", ".join([
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
])


class HttpError(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def not_found(what: str) -> HttpError:
    return HttpError(404, {"message": f"404 {what} Not Found"})


def iso(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")


class Registry:
    """GitLab's view of the registry: tags, digests and creation times read over the registry API."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.url = cfg["url"].rstrip("/")
        self.realm = cfg.get("realm", "")
        self.service = cfg.get("service", "container_registry")
        self.username = cfg.get("username", "")
        pw_file = cfg.get("password_file")
        self.password = Path(pw_file).read_text().strip() if pw_file else ""
        self.client = httpx.Client(timeout=float(cfg.get("timeout_s", 5)), trust_env=False,
                                   verify=bool(cfg.get("verify", False)))
        self._tokens: dict[str, tuple[str, float]] = {}
        self._blobs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def _token(self, path: str, fresh: bool = False) -> str:
        with self._lock:
            cached = self._tokens.get(path)
            if cached and not fresh and cached[1] > time.monotonic():
                return cached[0]
        response = self.client.get(self.realm, params={"service": self.service, "scope": f"repository:{path}:pull"},
                                   auth=(self.username, self.password) if self.username else None)
        response.raise_for_status()
        token = response.json()["token"]
        with self._lock:
            self._tokens[path] = (token, time.monotonic() + 200)
        return token

    def _get(self, path: str, url: str, accept: str = "") -> httpx.Response:
        headers = {"Accept": accept} if accept else {}
        response = self.client.get(url, headers={**headers, "Authorization": f"Bearer {self._token(path)}"})
        if response.status_code == 401:
            response = self.client.get(url, headers={**headers, "Authorization": f"Bearer {self._token(path, True)}"})
        return response

    def tags(self, path: str) -> list[str]:
        """The registry's tags for ``path``; [] when it cannot be read (GitLab shows an empty list then)."""
        try:
            response = self._get(path, f"{self.url}/v2/{path}/tags/list")
            if response.status_code != 200:
                log({"registry": "tags/list", "path": path, "status": response.status_code})
                return []
            return sorted(response.json().get("tags") or [])
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log({"registry": "tags/list", "path": path, "error": str(exc)})
            return []

    def _blob_json(self, path: str, digest: str) -> Any:
        if digest in self._blobs:
            return self._blobs[digest]
        response = self._get(path, f"{self.url}/v2/{path}/blobs/{digest}")
        response.raise_for_status()
        data = response.json()
        self._blobs[digest] = data
        return data

    def tag(self, path: str, name: str) -> dict[str, Any] | None:
        """digest, revision, created_at (from the image config), total_size (layers) — None if missing."""
        try:
            response = self._get(path, f"{self.url}/v2/{path}/manifests/{quote(name, safe='')}", MANIFEST_TYPES)
            if response.status_code != 200:
                return None
            digest = response.headers.get("docker-content-digest", "")
            manifest = response.json()
            config = manifest.get("config") or {}
            created = None
            revision = None
            if config.get("digest"):
                revision = config["digest"].split(":", 1)[-1]
                created = parse_timestamp(self._blob_json(path, config["digest"]).get("created"))
            layers = manifest.get("layers")
            size = sum(int(layer.get("size", 0)) for layer in layers) if isinstance(layers, list) else None
            return {"digest": digest, "revision": revision, "created_at": created, "total_size": size}
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            log({"registry": "manifest", "path": path, "tag": name, "error": str(exc)})
            return None


_LOG_LOCK = threading.Lock()


def log(entry: dict[str, Any]) -> None:
    entry = {"time": iso(dt.datetime.now(dt.timezone.utc)), **entry}
    with _LOG_LOCK:
        sys.stderr.write(json.dumps(entry) + "\n")
        sys.stderr.flush()


class GitLab:
    """The data the stand-in serves and GitLab's rules over it."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        self.cfg = cfg
        self.started = dt.datetime.now(dt.timezone.utc)
        self.registry = Registry(cfg["registry"]) if cfg.get("registry") else None
        self.registry_host = cfg.get("registry_host") or (
            urlsplit(cfg["registry"]["url"]).netloc if cfg.get("registry") else "registry.example.com")
        self.users = {u["username"]: u for u in cfg.get("users", [])}
        self.tokens: dict[str, dict[str, Any]] = {}
        for t in cfg.get("tokens", []):
            value = t.get("value") or Path(t["file"]).read_text().strip()
            self.tokens[value] = t
        self.groups = {int(g["id"]): g for g in cfg.get("groups", [])}
        self.projects = {int(p["id"]): p for p in cfg.get("projects", [])}
        self.repos: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}
        for p in self.projects.values():
            for r in p.get("repositories", []):
                self.repos[int(r["id"])] = (r, p)
        self.throttle = cfg.get("throttle") or {}
        self.delay_s = float(cfg.get("delay_s", 0))
        self.count = 0
        self._count_lock = threading.Lock()

    # -- paths and membership -------------------------------------------------------------------------
    def group_full_path(self, gid: int) -> str:
        g = self.groups[gid]
        parent = g.get("parent_id")
        return (self.group_full_path(int(parent)) + "/" if parent else "") + g["path"]

    def group_chain(self, gid: int | None) -> list[int]:
        chain = []
        while gid:
            chain.append(gid)
            gid = self.groups[gid].get("parent_id")
        return chain

    def project_path(self, p: dict[str, Any]) -> str:
        return self.group_full_path(int(p["namespace_id"])) + "/" + p["path"]

    def role(self, user: str | None, p: dict[str, Any] | None = None, gid: int | None = None) -> int:
        if not user:
            return 0
        levels = [0]
        if p is not None:
            levels.append(ROLE_LEVELS.get(p.get("members", {}).get(user, ""), 0))
            gid = int(p["namespace_id"])
        for g in self.group_chain(gid):
            levels.append(ROLE_LEVELS.get(self.groups[g].get("members", {}).get(user, ""), 0))
        return max(levels)

    def find_project(self, ref: str, auth: dict[str, Any] | None) -> dict[str, Any]:
        user = auth["user"] if auth else None
        found = None
        if ref.isdigit():
            found = self.projects.get(int(ref))
        else:
            for p in self.projects.values():
                if self.project_path(p).lower() == ref.lower():
                    found = p
        if found is None or not self.can_see(found, user):
            raise not_found("Project")
        if auth and auth.get("kind") == "job" and int(auth.get("project_id", 0)) != int(found["id"]):
            raise not_found("Project")
        return found

    def can_see(self, p: dict[str, Any], user: str | None) -> bool:
        return p.get("visibility") == "public" or self.role(user, p) >= ROLE_LEVELS["guest"]

    def find_group(self, ref: str, user: str | None) -> dict[str, Any]:
        found = None
        if ref.isdigit():
            found = self.groups.get(int(ref))
        else:
            for gid, g in self.groups.items():
                if self.group_full_path(gid).lower() == ref.lower():
                    found = g
        if found is None:
            raise not_found("Group")
        gid = int(found["id"])
        visible = found.get("visibility") == "public" or self.role(user, gid=gid) > 0 or any(
            gid in self.group_chain(int(p["namespace_id"])) and self.can_see(p, user) for p in self.projects.values())
        if not visible:
            raise not_found("Group")
        return found

    def need_registry_read(self, p: dict[str, Any], user: str | None) -> None:
        if p.get("container_registry_access_level", "enabled") == "disabled":
            raise HttpError(403, {"message": "403 Forbidden"})
        public = p.get("visibility") == "public" and p.get("container_registry_access_level", "enabled") == "enabled"
        if not public and self.role(user, p) < ROLE_LEVELS["reporter"]:
            raise HttpError(403, {"message": "403 Forbidden"})

    # -- JSON as GitLab renders it ----------------------------------------------------------------------
    def group_json(self, g: dict[str, Any]) -> dict[str, Any]:
        full = self.group_full_path(int(g["id"]))
        return {"id": g["id"], "name": g.get("name", g["path"]), "path": g["path"], "description": "",
                "visibility": g.get("visibility", "private"), "full_name": full.replace("/", " / "),
                "full_path": full, "parent_id": g.get("parent_id"), "web_url": f"{self.web}/groups/{full}"}

    @property
    def web(self) -> str:
        return self.cfg.get("web_url", "http://gitlab.example.com")

    def project_json(self, p: dict[str, Any], user: str | None) -> dict[str, Any]:
        ns = self.groups[int(p["namespace_id"])]
        full = self.project_path(p)
        level = p.get("container_registry_access_level", "enabled")
        out: dict[str, Any] = {
            "id": p["id"], "description": p.get("description", ""), "name": p.get("name", p["path"]),
            "name_with_namespace": self.group_full_path(int(ns["id"])).replace("/", " / ") + " / " + p.get("name", p["path"]),
            "path": p["path"], "path_with_namespace": full, "created_at": iso(self.started),
            "default_branch": p.get("default_branch", "main"), "visibility": p.get("visibility", "private"),
            "web_url": f"{self.web}/{full}", "archived": False,
            "namespace": {"id": ns["id"], "name": ns.get("name", ns["path"]), "path": ns["path"], "kind": "group",
                          "full_path": self.group_full_path(int(ns["id"])), "parent_id": ns.get("parent_id"),
                          "web_url": f"{self.web}/groups/{self.group_full_path(int(ns['id']))}"},
            "container_registry_enabled": level != "disabled",
            "container_registry_access_level": level,
            "container_registry_image_prefix": f"{self.registry_host}/{full.lower()}",
        }
        policy = p.get("container_expiration_policy")
        if policy is not None and self.role(user, p) >= ROLE_LEVELS["maintainer"]:
            out["container_expiration_policy"] = dict(policy)
        return out

    def repo_path(self, r: dict[str, Any], p: dict[str, Any]) -> str:
        base = self.project_path(p).lower()
        return base + ("/" + r["name"] if r.get("name") else "")

    def repo_tags(self, r: dict[str, Any], p: dict[str, Any]) -> list[str]:
        if r.get("source") == "registry":
            return self.registry.tags(self.repo_path(r, p)) if self.registry else []
        return sorted(t["name"] for t in r.get("tags", []))

    def repo_json(self, r: dict[str, Any], p: dict[str, Any], tags: bool = False, tags_count: bool = False) -> dict[str, Any]:
        path = self.repo_path(r, p)
        out: dict[str, Any] = {"id": r["id"], "name": r.get("name", ""), "path": path, "project_id": p["id"],
                               "location": f"{self.registry_host}/{path}",
                               "created_at": r.get("created_at") or iso(self.started),
                               "cleanup_policy_started_at": r.get("cleanup_policy_started_at"), "status": None}
        if tags or tags_count:
            names = self.repo_tags(r, p)
            if tags_count:
                out["tags_count"] = len(names)
            if tags:
                out["tags"] = [self.tag_item(path, n) for n in names]
        return out

    def tag_item(self, path: str, name: str) -> dict[str, Any]:
        return {"name": name, "path": f"{path}:{name}", "location": f"{self.registry_host}/{path}:{name}"}

    def tag_detail(self, r: dict[str, Any], p: dict[str, Any], name: str) -> dict[str, Any]:
        path = self.repo_path(r, p)
        if r.get("source") == "registry":
            info = self.registry.tag(path, name) if self.registry else None
            if info is None:
                raise not_found("Tag")
            created = info["created_at"]
            return {**self.tag_item(path, name), "revision": info["revision"],
                    "short_revision": (info["revision"] or "")[:9] or None, "digest": info["digest"],
                    "created_at": iso(created) if created else None, "total_size": info["total_size"]}
        for t in r.get("tags", []):
            if t["name"] == name:
                revision = t.get("revision") or ("0" * 64)
                return {**self.tag_item(path, name), "revision": revision, "short_revision": revision[:9],
                        "digest": t.get("digest"), "created_at": t.get("created_at"),
                        "total_size": t.get("total_size")}
        raise not_found("Tag")

    def branches_json(self, p: dict[str, Any]) -> list[dict[str, Any]]:
        default = p.get("default_branch", "main")
        out = []
        for name in sorted(p.get("branches", [default])):
            sha = hashlib.sha1(f"{p['id']}:{name}".encode()).hexdigest()
            out.append({"name": name, "merged": False, "protected": name == default, "default": name == default,
                        "developers_can_push": False, "developers_can_merge": False, "can_push": True,
                        "web_url": f"{self.web}/{self.project_path(p)}/-/tree/{name}",
                        "commit": {"id": sha, "short_id": sha[:8], "title": "stand-in commit",
                                   "created_at": iso(self.started)}})
        return out


def make_handler(gl: GitLab):
    class Handler(BaseHTTPRequestHandler):
        server_version = "nginx"
        sys_version = ""
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            # headers and body go out in two writes: without NODELAY, Nagle + delayed ACK add ~40 ms per request
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        # -- plumbing ----------------------------------------------------------------------------------
        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            if isinstance(body, (bytes, str)):
                data = body.encode() if isinstance(body, str) else body
                ctype = "text/plain"
            else:
                data = json.dumps(body).encode()
                ctype = "application/json"
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "max-age=0, private, must-revalidate")
            self.send_header("X-Request-Id", self._request_id)
            self.send_header("X-Gitlab-Meta", json.dumps({"correlation_id": self._request_id, "version": "1"}))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
            self._status = status

        def _auth(self, query: dict[str, list[str]]) -> dict[str, Any] | None:
            value = (self.headers.get("PRIVATE-TOKEN") or self.headers.get("JOB-TOKEN") or
                     (query.get("private_token") or [""])[0])
            bearer = self.headers.get("Authorization", "")
            if not value and bearer.lower().startswith("bearer "):
                value = bearer[7:].strip()
            if not value:
                return None
            entry = gl.tokens.get(value)
            if entry is None or entry.get("revoked") or entry.get("expired"):
                if entry is not None and entry.get("expired"):
                    raise HttpError(401, {"error": "invalid_token", "error_description": "Token has expired."})
                raise HttpError(401, {"message": "401 Unauthorized"})
            return entry

        def _need_scope(self, auth: dict[str, Any] | None, allowed: tuple[str, ...] = API_SCOPES) -> None:
            if auth is None or auth.get("kind") == "job":
                return
            if not set(auth.get("scopes", [])) & set(allowed):
                scope = " ".join(allowed)
                raise HttpError(403, {"error": "insufficient_scope",
                                      "error_description": "The request requires higher privileges than provided "
                                                           "by the access token.", "scope": scope},
                                {"WWW-Authenticate": f'Bearer realm="Protected by OAuth 2.0", error="insufficient_scope", '
                                                     f'error_description="The request requires higher privileges than '
                                                     f'provided by the access token.", scope="{scope}"'})

        def _paginate(self, items: list[Any], query: dict[str, list[str]], path: str) -> None:
            try:
                per_page = int((query.get("per_page") or [str(DEFAULT_PER_PAGE)])[0])
            except ValueError:
                per_page = DEFAULT_PER_PAGE
            per_page = DEFAULT_PER_PAGE if per_page < 1 else min(per_page, MAX_PER_PAGE)
            try:
                page = max(1, int((query.get("page") or ["1"])[0]))
            except ValueError:
                page = 1
            total = len(items)
            pages = max(1, math.ceil(total / per_page))
            chunk = items[(page - 1) * per_page: page * per_page]
            host = self.headers.get("Host", f"127.0.0.1:{self.server.server_address[1]}")  # type: ignore[index]

            def link(n: int) -> str:
                q = {k: v[0] for k, v in query.items()}
                q.update({"page": str(n), "per_page": str(per_page)})
                return f"http://{host}{path}?{urlencode(q)}"

            links = []
            if page > 1:
                links.append(f'<{link(page - 1)}>; rel="prev"')
            if page < pages:
                links.append(f'<{link(page + 1)}>; rel="next"')
            links += [f'<{link(1)}>; rel="first"', f'<{link(pages)}>; rel="last"']
            headers = {"X-Page": str(page), "X-Per-Page": str(per_page), "X-Total": str(total),
                       "X-Total-Pages": str(pages), "X-Next-Page": str(page + 1) if page < pages else "",
                       "X-Prev-Page": str(page - 1) if page > 1 else "", "Link": ", ".join(links)}
            if not gl.cfg.get("offset_headers", True):  # as with keyset pagination: only Link says what is next
                headers = {"Link": headers["Link"]}
            self._send(200, chunk, headers)

        def _throttled(self) -> bool:
            every = int(gl.throttle.get("every", 0) or 0)
            first = int(gl.throttle.get("first", 0) or 0)
            with gl._count_lock:
                gl.count += 1
                n = gl.count
            if (every and n % every == 0) or (first and n <= first):
                retry = int(gl.throttle.get("retry_after", 1))
                self._send(429, "Retry later\n", {
                    "Retry-After": str(retry), "RateLimit-Name": "throttle_authenticated_api",
                    "RateLimit-Limit": "60", "RateLimit-Observed": "61", "RateLimit-Remaining": "0",
                    "RateLimit-Reset": str(int(time.time()) + retry),
                    "RateLimit-ResetTime": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + retry))})
                return True
            return False

        # -- routes ------------------------------------------------------------------------------------
        def do_GET(self) -> None:  # noqa: N802
            self._request_id = secrets.token_hex(13)
            self._status = 0
            started = time.monotonic()
            url = urlsplit(self.path)
            query = parse_qs(url.query, keep_blank_values=True)
            user = None
            try:
                if gl.delay_s:
                    time.sleep(gl.delay_s)
                if self._throttled():
                    return
                if not url.path.startswith("/api/v4/"):
                    raise HttpError(404, {"error": "404 Not Found"})
                segments = [unquote(s) for s in url.path[len("/api/v4/"):].split("/") if s != ""]
                auth = self._auth(query)
                user = auth["user"] if auth else None
                self._route(segments, query, auth, url.path)
            except HttpError as err:
                self._send(err.status, err.body, err.headers)
            except Exception as exc:  # a stand-in bug must still look like GitLab's 500
                log({"error": f"{type(exc).__name__}: {exc}"})
                self._send(500, {"message": "500 Internal Server Error"})
            finally:
                safe = {k: v for k, v in query.items() if k != "private_token"}
                log({"method": "GET", "path": url.path, "query": urlencode(safe, doseq=True), "status": self._status,
                     "user": user, "duration_s": round(time.monotonic() - started, 4)})

        def _method_not_allowed(self) -> None:
            self._request_id = secrets.token_hex(13)
            self._send(405, {"message": "405 Method Not Allowed"}, {"Connection": "close"})
            self.close_connection = True

        do_POST = do_PUT = do_DELETE = do_PATCH = _method_not_allowed  # noqa: N815

        def _route(self, s: list[str], query: dict[str, list[str]], auth: dict[str, Any] | None, path: str) -> None:
            user = auth["user"] if auth else None
            flag = lambda name: (query.get(name) or ["false"])[0].lower() in ("true", "1", "yes")  # noqa: E731
            if s == ["version"]:
                self._need_scope(auth, API_SCOPES + ("read_user",))
                if auth is None:
                    raise HttpError(401, {"message": "401 Unauthorized"})
                return self._send(200, {"version": "17.5.0-standin", "revision": "standin"})
            if s == ["user"]:
                if auth is None:
                    raise HttpError(401, {"message": "401 Unauthorized"})
                self._need_scope(auth, API_SCOPES + ("read_user",))
                u = gl.users.get(user, {"username": user})
                return self._send(200, {"id": u.get("id", 1), "username": user, "name": u.get("name", user),
                                        "state": "active", "web_url": f"{gl.web}/{user}"})
            self._need_scope(auth)
            if s == ["projects"]:
                visible = [p for p in sorted(gl.projects.values(), key=lambda p: int(p["id"]))
                           if gl.can_see(p, user) and (not flag("membership") or gl.role(user, p) > 0)]
                return self._paginate([gl.project_json(p, user) for p in visible], query, path)
            if s[:1] == ["projects"] and len(s) >= 2:
                p = gl.find_project(s[1], auth)
                rest = s[2:]
                if not rest:
                    return self._send(200, gl.project_json(p, user))
                if rest == ["repository", "branches"]:
                    if p.get("visibility") != "public" and gl.role(user, p) < ROLE_LEVELS["reporter"]:
                        raise HttpError(403, {"message": "403 Forbidden"})
                    return self._paginate(gl.branches_json(p), query, path)
                if rest[:2] == ["registry", "repositories"]:
                    gl.need_registry_read(p, user)
                    repos = [r for r in p.get("repositories", [])]
                    if len(rest) == 2:
                        return self._paginate([gl.repo_json(r, p, flag("tags"), flag("tags_count")) for r in repos],
                                              query, path)
                    repo = next((r for r in repos if str(r["id"]) == rest[2]), None)
                    if repo is None:
                        raise not_found("Repository")
                    if rest[3:] == ["tags"]:
                        rpath = gl.repo_path(repo, p)
                        return self._paginate([gl.tag_item(rpath, n) for n in gl.repo_tags(repo, p)], query, path)
                    if len(rest) == 5 and rest[3] == "tags":
                        return self._send(200, gl.tag_detail(repo, p, rest[4]))
                raise HttpError(404, {"error": "404 Not Found"})
            if s[:2] == ["registry", "repositories"] and len(s) == 3 and s[2].isdigit():
                found = gl.repos.get(int(s[2]))
                if found is None or not gl.can_see(found[1], user):
                    raise not_found("Repository")
                repo, p = found
                gl.need_registry_read(p, user)
                return self._send(200, gl.repo_json(repo, p, flag("tags"), flag("tags_count")))
            if s[:1] == ["groups"] and len(s) >= 2:
                g = gl.find_group(s[1], user)
                gid = int(g["id"])
                rest = s[2:]
                if not rest:
                    return self._send(200, gl.group_json(g))
                members = [p for p in sorted(gl.projects.values(), key=lambda p: int(p["id"]))
                           if gl.can_see(p, user) and (int(p["namespace_id"]) == gid or (
                               flag("include_subgroups") and gid in gl.group_chain(int(p["namespace_id"]))))]
                if rest == ["projects"]:
                    return self._paginate([gl.project_json(p, user) for p in members], query, path)
                if rest == ["registry", "repositories"]:
                    repos = [gl.repo_json(r, p) for p in members if gl.role(user, p) >= ROLE_LEVELS["reporter"]
                             for r in p.get("repositories", [])]
                    return self._paginate(repos, query, path)
            raise HttpError(404, {"error": "404 Not Found"})

        def log_message(self, fmt: str, *args: Any) -> None:  # requests are logged as JSON by do_GET
            return

    return Handler


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    cfg = json.loads(Path(args[0]).read_text())
    gl = GitLab(cfg)
    server = ThreadingHTTPServer((cfg.get("host", "127.0.0.1"), int(cfg["port"])), make_handler(gl))
    server.daemon_threads = True
    log({"started": True, "port": cfg["port"], "projects": len(gl.projects)})
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
