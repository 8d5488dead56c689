"""A small GitLab REST client: token by header, bounded calls, GitLab's pagination, 429 Retry-After.

Every failure is a :class:`GitLabError` that knows what went wrong in GitLab's terms (which token scope or
role is missing, which object was not found), so checks can turn it into a Finding with
:func:`error_finding` instead of a traceback. The token is sent only as a header; it never appears in a URL,
an error message or evidence. It is pinned to the configured API origin (scheme, host and port): a
pagination ``Link`` (or any absolute URL) elsewhere, or from https to http, is refused with a
``cross_origin`` error naming both URLs, and no request is made; redirects are never followed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Iterator
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import httpx

from ..errors import DEFAULT_TIMEOUT_S, RunbookError
from ..findings import Finding, Status
from ..probes.api import transport_remedy
from ..probes.auth import show_origin, url_origin
from ..probes.http import describe_failure, make_client

SEED_CLEANUP = "Investigate a cleanup policy"
MAX_PER_PAGE = 100  # GitLab caps per_page at 100
DEFAULT_MAX_RETRIES = 3
JOB_TOKEN_PREFIX = "glcbt-"  # CI/CD job tokens; personal access tokens start with glpat-
ROLES = {10: "Guest", 20: "Reporter", 30: "Developer", 40: "Maintainer", 50: "Owner"}


@dataclass
class GitLabError(RunbookError):
    """Why a GitLab API call gave no usable answer.

    ``kind`` is one of: not_configured, transport, unauthorized, insufficient_scope, forbidden, not_found,
    rate_limited, server, bad_answer, cross_origin (a URL outside the API origin: the token is not sent there).
    """

    kind: str
    message: str
    url: str = ""
    status: int | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    scopes: tuple[str, ...] = ()  # scopes GitLab says would do (insufficient_scope)
    transport_kind: str = ""  # refused, dns, tls, timeout, ... (transport)

    def __str__(self) -> str:
        return self.message


def encode_id(value: str | int) -> str:
    """A project or group id for a URL: numeric as is, a full path URL-encoded (``group%2Fproject``)."""
    text = str(value).strip().strip("/")
    return text if text.isdigit() else quote(text, safe="")


def normalise_api_url(url: str) -> str:
    """``https://gitlab.example.com`` → ``https://gitlab.example.com/api/v4``; an explicit API path is kept."""
    url = (url or "").strip().rstrip("/")
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.path in ("", "/"):
        return urlunsplit((parts.scheme, parts.netloc, "/api/v4", "", ""))
    return url


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Retry-After in seconds: GitLab sends an integer; an HTTP date is accepted too."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (now if now is not None else time.time()))


def _scopes_from(response: httpx.Response) -> tuple[str, ...]:
    """GitLab's insufficient_scope answer names the scopes that would do, in JSON and in WWW-Authenticate."""
    scope = ""
    try:
        body = response.json()
        if isinstance(body, dict):
            scope = str(body.get("scope") or "")
    except ValueError:
        pass
    if not scope:
        header = response.headers.get("www-authenticate", "")
        marker = 'scope="'
        if marker in header:
            scope = header.split(marker, 1)[1].split('"', 1)[0]
    return tuple(s for s in scope.replace(",", " ").split() if s)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip()
    if isinstance(body, dict):
        for key in ("message", "error_description", "error"):
            if body.get(key):
                value = body[key]
                return value if isinstance(value, str) else str(value)[:200]
    return str(body)[:200]


class GitLabClient:
    """GitLab REST API v4 over one bounded httpx client.

    ``http`` is reused when given (a notebook passes ``rb.http``, bounded by ``timeout_s``); otherwise a client
    with ``timeout_s`` is made. A token starting with ``glcbt-`` is sent as ``JOB-TOKEN``, anything else as
    ``PRIVATE-TOKEN`` (override with ``token_header``).
    """

    def __init__(
        self,
        api_url: str,
        token: str = "",
        *,
        http: httpx.Client | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        token_header: str = "",
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_wait_s: float | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_url = normalise_api_url(api_url)
        self.origin = url_origin(self.api_url) if self.api_url else ("", "", None)
        self._token = token or ""
        self.token_header = token_header or ("JOB-TOKEN" if self._token.startswith(JOB_TOKEN_PREFIX) else "PRIVATE-TOKEN")
        self.http = http or make_client(timeout_s)
        timeout = self.http.timeout.read if self.http.timeout.read is not None else timeout_s
        self.timeout_s = float(timeout)
        self.max_retries = max_retries
        self.max_wait_s = float(max_wait_s) if max_wait_s is not None else max(self.timeout_s, 1.0)
        self._sleep = sleep
        self.requests = 0  # HTTP requests sent (tests and benchmarks count them)
        self.waits: list[float] = []  # Retry-After waits honoured
        self._reported: set[tuple[str, Any, str]] = set()  # failures already turned into findings

    # -- transport ------------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._token:
            headers[self.token_header] = self._token
        return headers

    def url(self, path: str) -> str:
        return self.api_url + "/" + path.lstrip("/")

    def check_origin(self, url: str, came_from: str = "") -> None:
        """Raise ``cross_origin`` unless ``url`` is on the API origin (same scheme, host and port): the token
        goes nowhere else, and never from https down to http."""
        target = url_origin(url)
        if target == self.origin:
            return
        api = show_origin(self.origin)
        what = f"{came_from} points to {url}" if came_from else f"{url} is"
        if self.origin[0] == "https" and target[0] == "http":
            why = "from https down to plain http: the token would cross the network in cleartext"
        else:
            why = f"on another origin ({show_origin(target)})"
        raise GitLabError(
            "cross_origin",
            f"{what} outside the configured GitLab API {self.api_url} ({why}); the {self.token_header} is only sent "
            f"to {api}, so nothing was requested there",
            url, None, {"api_url": self.api_url, "api_origin": api, "refused_url": url,
                        "refused_origin": show_origin(target), "came_from": came_from or "caller"})

    def request(self, path_or_url: str, params: dict[str, Any] | None = None) -> httpx.Response:
        """GET one URL (a path under the API or an absolute Link URL); 429 waits and retries; errors raise."""
        if not self.api_url:
            raise GitLabError("not_configured", "no gitlab_api_url given (e.g. https://gitlab.example.com/api/v4)")
        url = path_or_url if path_or_url.startswith(("http://", "https://")) else self.url(path_or_url)
        shown = url if not params else f"{url}?{urlencode(params)}"
        self.check_origin(url)
        attempt = 0
        while True:
            self.requests += 1
            try:
                response = self.http.get(url, params=params, headers=self._headers(), follow_redirects=False)
            except httpx.InvalidURL as exc:
                raise GitLabError("bad_answer", f"invalid URL {shown}: {exc}", shown) from None
            except httpx.UnsupportedProtocol as exc:
                raise GitLabError("bad_answer", f"unsupported URL {shown}: {exc}", shown) from None
            except httpx.HTTPError as exc:
                failure = describe_failure(exc)
                raise GitLabError("transport", f"{failure.title}: {failure.message}", shown,
                                  evidence={"request": f"GET {shown}", "error": f"{failure.kind}: {failure.message}"},
                                  transport_kind=failure.kind) from None
            if response.status_code != 429:
                break
            wait = parse_retry_after(response.headers.get("retry-after"))
            if attempt >= self.max_retries or wait is None or wait > self.max_wait_s:
                raise GitLabError(
                    "rate_limited",
                    f"GitLab rate-limited the request (429, Retry-After {response.headers.get('retry-after', 'none')})"
                    f" after {attempt} retr{'y' if attempt == 1 else 'ies'}",
                    shown, 429, {**self._evidence(response, shown), "max_wait_s": self.max_wait_s,
                                 "retries": attempt})
            self.waits.append(wait)
            self._sleep(wait)
            attempt += 1
        self._raise_for(response, shown)
        return response

    def _evidence(self, response: httpx.Response, shown: str) -> dict[str, Any]:
        keep = ("content-type", "retry-after", "www-authenticate", "ratelimit-limit", "ratelimit-remaining",
                "x-total", "x-next-page", "x-gitlab-meta")
        ev: dict[str, Any] = {"request": f"GET {shown}", "status": response.status_code,
                              "headers": {k: v for k, v in response.headers.items() if k.lower() in keep}}
        text = response.text[:300] if response.content else ""
        if text:
            ev["body"] = text
        return ev

    def _raise_for(self, response: httpx.Response, shown: str) -> None:
        status = response.status_code
        if status < 400:
            ctype = response.headers.get("content-type", "")
            if "json" not in ctype:
                raise GitLabError("bad_answer", f"{status} answer is {ctype or 'untyped'}, not GitLab's JSON API",
                                  shown, status, self._evidence(response, shown))
            return
        ev = self._evidence(response, shown)
        message = _message(response)
        if status == 401:
            raise GitLabError("unauthorized", message or "401 Unauthorized", shown, status, ev)
        if status == 403:
            scopes = _scopes_from(response)
            body_error = ""
            try:
                body = response.json()
                body_error = str(body.get("error", "")) if isinstance(body, dict) else ""
            except ValueError:
                pass
            if body_error == "insufficient_scope" or scopes:
                raise GitLabError("insufficient_scope", message or "insufficient_scope", shown, status, ev,
                                  scopes=scopes or ("api", "read_api"))
            raise GitLabError("forbidden", message or "403 Forbidden", shown, status, ev)
        if status == 404:
            raise GitLabError("not_found", message or "404 Not Found", shown, status, ev)
        if status >= 500:
            raise GitLabError("server", message or f"{status} server error", shown, status, ev)
        raise GitLabError("bad_answer", message or f"unexpected {status}", shown, status, ev)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """One GET, decoded JSON."""
        response = self.request(path, params)
        try:
            return response.json()
        except ValueError:
            raise GitLabError("bad_answer", "answer is not JSON", self.url(path), response.status_code) from None

    def pages(self, path: str, params: dict[str, Any] | None = None, per_page: int = MAX_PER_PAGE,
              max_pages: int = 10_000) -> Iterator[tuple[list[Any], httpx.Response]]:
        """Each page of a list endpoint with its response (for ``x-total``).

        Follows ``x-next-page`` (offset pagination); when GitLab sends none (keyset pagination, or more than
        10,000 rows) the ``Link: <...>; rel="next"`` URL. ``x-next-page`` is preferred because a GitLab behind a
        proxy with a wrong ``external_url`` writes Link URLs for another host. A Link outside the API origin
        (another host or port, or https → http) raises ``cross_origin`` before any request goes there.
        """
        query = dict(params or {})
        query["per_page"] = max(1, min(int(per_page), MAX_PER_PAGE))
        target: str = path
        for _ in range(max_pages):
            response = self.request(target, query)
            try:
                items = response.json()
            except ValueError:
                raise GitLabError("bad_answer", "page is not JSON", target, response.status_code) from None
            if not isinstance(items, list):
                raise GitLabError("bad_answer", f"expected a JSON list from {path}", target, response.status_code)
            yield items, response
            next_page = response.headers.get("x-next-page", "").strip()
            if next_page and next_page == str(query.get("page", "")):
                raise GitLabError("bad_answer", f"x-next-page repeats page {next_page}", target, response.status_code)
            if next_page:
                query = {**query, "page": next_page}
                target = path
                continue
            link = response.links.get("next", {}).get("url") if response.headers.get("link") else None
            if not link:
                return
            link = str(response.url.join(link))  # a relative Link is relative to the page that sent it
            self.check_origin(link, f"the `Link: rel=\"next\"` header of {target}")
            parts = urlsplit(link)
            target = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
            query = dict(parse_qsl(parts.query, keep_blank_values=True))

    def paginate(self, path: str, params: dict[str, Any] | None = None, per_page: int = MAX_PER_PAGE,
                 progress: Any = None) -> list[Any]:
        """Every item of a list endpoint, all pages; ``progress`` (a tqdm bar) learns the total from x-total."""
        out: list[Any] = []
        for items, response in self.pages(path, params, per_page):
            if progress is not None:
                total = response.headers.get("x-total", "")
                if total.isdigit() and progress.total != int(total):
                    progress.total = int(total)
                    progress.refresh()
                progress.update(len(items))
            out.extend(items)
        return out

    # -- GitLab calls ----------------------------------------------------------------------------------
    def current_user(self) -> dict[str, Any]:
        return self.get("user")

    def project(self, project: str | int) -> dict[str, Any]:
        """``GET /projects/:id``: includes ``container_expiration_policy`` when the user may see it."""
        return self.get(f"projects/{encode_id(project)}")

    def projects(self, **params: Any) -> list[dict[str, Any]]:
        """Projects visible to the token's user (the instance-wide list)."""
        return self.paginate("projects", {"order_by": "id", "sort": "asc", **params})

    def group(self, group: str | int) -> dict[str, Any]:
        return self.get(f"groups/{encode_id(group)}")

    def group_projects(self, group: str | int, include_subgroups: bool = True) -> list[dict[str, Any]]:
        return self.paginate(f"groups/{encode_id(group)}/projects",
                             {"include_subgroups": str(include_subgroups).lower(), "order_by": "id", "sort": "asc"})

    def registry_repositories(self, project: str | int, tags_count: bool = True) -> list[dict[str, Any]]:
        return self.paginate(f"projects/{encode_id(project)}/registry/repositories",
                             {"tags_count": str(tags_count).lower()})

    def tags(self, project: str | int, repository_id: int, per_page: int = MAX_PER_PAGE,
             progress: Any = None) -> list[dict[str, Any]]:
        """Tag names of one registry repository (GitLab lists name, path, location only)."""
        return self.paginate(f"projects/{encode_id(project)}/registry/repositories/{int(repository_id)}/tags",
                             per_page=per_page, progress=progress)

    def tag(self, project: str | int, repository_id: int, name: str) -> dict[str, Any]:
        """One tag's details: ``created_at``, ``digest``, ``total_size``, ``revision``."""
        return self.get(f"projects/{encode_id(project)}/registry/repositories/{int(repository_id)}/tags/"
                        f"{quote(name, safe='')}")

    def registry_projects(self, group: str | int = "") -> list[dict[str, Any]]:
        """Projects of ``group`` (subgroups included), or of the whole instance, with the registry enabled."""
        listed = self.group_projects(group) if group else self.projects()
        return [p for p in listed if registry_enabled(p)]

    def branches(self, project: str | int, per_page: int = MAX_PER_PAGE) -> list[dict[str, Any]]:
        return self.paginate(f"projects/{encode_id(project)}/repository/branches", per_page=per_page)

    def finding(self, err: GitLabError, what: str, skip_id: str, fid_prefix: str = "gitlab",
                refs: tuple[str, ...] = ()) -> Finding:
        """:func:`error_finding` the first time a failure is seen; the same failure again (a bad token fails
        every call) is a SKIP finding ``skip_id`` that points back to it, so a report names it once."""
        key = (err.kind, err.status, err.message if err.kind in ("not_found", "forbidden") else "")
        if key in self._reported:
            return Finding(skip_id, Status.SKIP, f"{what}: not read", detail=f"Same failure as reported above: {err.message}.",
                           evidence={"failure": err.kind}, refs=refs)
        self._reported.add(key)
        return error_finding(err, what, fid_prefix, refs)

    @property
    def has_token(self) -> bool:
        return bool(self._token)

    def close(self) -> None:
        self.http.close()


def registry_enabled(project: dict[str, Any]) -> bool:
    """``container_registry_access_level`` (GitLab 15+) or the older ``container_registry_enabled``."""
    level = project.get("container_registry_access_level")
    if level is not None:
        return level != "disabled"
    enabled = project.get("container_registry_enabled")
    return True if enabled is None else bool(enabled)


# -- errors as findings ------------------------------------------------------------------------------------

_PAT_REMEDY = (
    "Create a personal, project or group access token with the `read_api` scope (or `api`) for a user with at "
    "least the Reporter role in the project (Maintainer to read the cleanup policy settings): User settings > "
    "Access tokens, or the project's Settings > Access tokens. Store it in a file or environment variable and "
    "pass `gitlab_token` as `file:PATH` or `env:NAME`. A `read_registry` token only works for `docker login`."
)


def error_finding(err: GitLabError, what: str, fid_prefix: str = "gitlab", refs: tuple[str, ...] = ()) -> Finding:
    """A GitLabError as a Finding that says which scope, role or object is missing, and what to do."""
    ev = dict(err.evidence) or ({"request": f"GET {err.url}"} if err.url else {})
    kind = err.kind
    if kind == "not_configured":
        return Finding(f"{fid_prefix}.not_configured", Status.ERROR, f"{what}: GitLab API not configured",
                       detail=err.message, evidence=ev, remedy="Give `gitlab_api_url` (https://<gitlab>/api/v4) and `gitlab_token`.", refs=refs)
    if kind == "transport":
        from ..probes.http import TransportFailure

        remedy = transport_remedy(TransportFailure(err.transport_kind or "protocol", err.message), err.url)
        return Finding(f"{fid_prefix}.unreachable", Status.FAIL, f"{what}: GitLab API unreachable ({err.transport_kind})",
                       detail=f"GET {err.url} failed before any HTTP answer: {err.message}.", evidence=ev, remedy=remedy, refs=refs)
    if kind == "unauthorized":
        return Finding(
            f"{fid_prefix}.unauthorized", Status.FAIL, f"{what}: GitLab refused the token (401)",
            detail=f"GitLab answered 401 ({err.message}): the token is missing, mistyped, expired or revoked. Reading a "
            "project's registry through the API needs a token with the `read_api` (or `api`) scope and the "
            "Reporter role or above.", evidence=ev, remedy=_PAT_REMEDY, refs=refs)
    if kind == "insufficient_scope":
        scopes = " or ".join(f"`{s}`" for s in err.scopes) or "`read_api`"
        return Finding(
            f"{fid_prefix}.insufficient_scope", Status.FAIL, f"{what}: the token lacks the {scopes} scope (403)",
            detail=f"GitLab accepted the token but refused the call with insufficient_scope: it needs {scopes}. A token "
            "with only `read_registry`/`write_registry` can log in to the registry but cannot read the REST API.",
            evidence={**ev, "needed_scopes": list(err.scopes)}, remedy=_PAT_REMEDY, refs=refs)
    if kind == "forbidden":
        return Finding(
            f"{fid_prefix}.forbidden", Status.FAIL, f"{what}: the token's user lacks the role (403)",
            detail=f"GitLab answered 403 ({err.message}): the token is valid and has an API scope, but its user's role "
            "is too low. Listing registry repositories and tags of a private project needs Reporter or above; "
            "branches need Reporter; the cleanup policy settings need Maintainer.", evidence=ev,
            remedy="Give the user (or the project/group access token) the Reporter role or higher in the project "
            "(Maintainer to read or change the cleanup policy), or use a token of a user who has it.", refs=refs)
    if kind == "not_found":
        return Finding(
            f"{fid_prefix}.not_found", Status.FAIL, f"{what}: not found (404)",
            detail=f"GitLab answered 404 ({err.message}). Either the path or id is wrong (give the full path, "
            "`group/subgroup/project`, or the numeric id), or the token's user cannot see it: GitLab answers 404, "
            "not 403, for private projects and groups you are not a member of.", evidence=ev,
            remedy="Check the path on the project's page (Settings > General shows the id), and that the token's user "
            "is a member of the project or its group.", refs=refs)
    if kind == "rate_limited":
        return Finding(
            f"{fid_prefix}.rate_limited", Status.ERROR, f"{what}: GitLab rate limit (429)",
            detail=f"{err.message}. Waits longer than {err.evidence.get('max_wait_s', 'timeout_s')} s (the call timeout) are "
            "not sat through.", evidence=ev,
            remedy="Run again later, or ask an administrator about the API rate limits (Admin > Settings > Network > "
            "User and IP rate limits).", refs=refs)
    if kind == "cross_origin":
        return Finding(
            f"{fid_prefix}.cross_origin", Status.FAIL, f"{what}: GitLab pointed outside its API origin; not followed",
            detail=f"{err.message}. What was listed before this point is incomplete.", evidence=ev,
            remedy="GitLab writes pagination `Link` URLs from its own `external_url`; one on another host, port or scheme "
            "than `gitlab_api_url` means the two disagree (often a TLS proxy in front of an `http://` "
            "external_url).\n"
            "- Omnibus: set `external_url 'https://<the host clients use>'` in /etc/gitlab/gitlab.rb, then "
            "`gitlab-ctl reconfigure`.\n"
            "- Helm: `global.hosts.domain` / `global.hosts.https: true`.\n"
            "- Source: `gitlab.host`, `gitlab.port` and `gitlab.https` in gitlab.yml.\n"
            "If the other URL is the right GitLab, set `gitlab_api_url` to it instead: the token is only ever sent "
            "to the origin you configure.", refs=refs)
    if kind == "server":
        return Finding(f"{fid_prefix}.server_error", Status.FAIL, f"{what}: GitLab server error ({err.status})",
                       detail=f"GitLab answered {err.status}: {err.message}.", evidence=ev,
                       remedy="Check GitLab's `production_json.log` / `exceptions_json.log` for the request "
                       "(Omnibus: `gitlab-ctl tail gitlab-rails`; Helm: webservice pod logs).", refs=refs)
    return Finding(
        f"{fid_prefix}.bad_answer", Status.FAIL, f"{what}: not GitLab's API answer",
        detail=f"{err.message}. `gitlab_api_url` may not point at GitLab's REST API (it ends with `/api/v4`).", evidence=ev,
        remedy="Set `gitlab_api_url` to https://<your GitLab host>/api/v4.", refs=refs)


def check_api_access(gl: GitLabClient, project: str = "", group: str = "",
                     refs: tuple[str, ...] = ()) -> list[Finding]:
    """Can this token read the project (or group)? The user it belongs to, or the finding that says why not."""
    if not gl.api_url:
        return [error_finding(GitLabError("not_configured", "no gitlab_api_url given"), "GitLab API", refs=refs)]
    findings: list[Finding] = []
    if not gl.has_token:
        findings.append(Finding(
            "gitlab.no_token", Status.WARN, "No gitlab_token given: anonymous requests",
            detail="Without a token GitLab shows only public projects and answers 404 for private ones.",
            evidence={"api_url": gl.api_url}, remedy=_PAT_REMEDY, refs=refs))
    target = ("project", project) if project else ("group", group) if group else ("", "")
    try:
        if target[0] == "project":
            data = gl.project(project)
        elif target[0] == "group":
            data = gl.group(group)
        else:
            data = gl.get("version")
    except GitLabError as err:
        return findings + [gl.finding(err, f"{target[0] or 'GitLab'} {target[1]}".strip(), "gitlab.access_not_checked",
                                      refs=refs)]
    shown = data.get("path_with_namespace") or data.get("full_path") or data.get("version") or ""
    detail = f"GitLab answered for {target[0] or 'the API'} {shown!r}"
    ev: dict[str, Any] = {"api_url": gl.api_url, "token_header": gl.token_header}
    if target[0] == "project":
        ev.update({"id": data.get("id"), "path_with_namespace": data.get("path_with_namespace"),
                   "container_registry_access_level": data.get("container_registry_access_level")})
    findings.append(Finding("gitlab.access", Status.OK, "GitLab API reachable and the token is accepted",
                            detail=detail + ".", evidence=ev, refs=refs))
    return findings
