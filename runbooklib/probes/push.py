"""The canary push: a real push over the Distribution API, every hop recorded, everything it made removed.

What ``docker push`` does, step by step, with httpx and the token flow: ``GET /v2/`` → challenge → token for
``repository:<repo>:pull,push,delete`` → a chunked blob upload (POST → PATCH chunks → PUT ``?digest=``) and a
monolithic one (POST → one PUT with the body) → HEAD and GET of the blob, following redirects to storage the
way clients do (without the registry token) → manifest PUT (OCI and Docker schema 2) → GET it back → DELETE
what it pushed (when the registry allows deletion; else it says what was left). The repository is a dedicated
path (``runbook-canary`` by default) so nothing real is touched; the layer is random so the upload path runs
in full every time.

Every request is a row of the hop trace (method, URL with secrets stripped, status, ``Location``, ``Server``,
content type, error code); :mod:`.hops` reads the trace and names the hop that failed.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import secrets
import tarfile
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from ..config.registry import RegistryConfig
from ..findings import Finding, Status
from .api import parse_bearer_challenge, transport_remedy
from .auth import realm_policy
from .endpoint import RegistryEndpoint
from .hops import SEED_403, SEED_PUSH, Hop, analyse_hops, hop_from_parts, short_url, strip_url, trace_rows
from .http import describe_failure

CANARY_REPOSITORY = "runbook-canary"
LAYER_BYTES = 2 * 1024 * 1024 + 4096  # bigger than NGINX's default 1m body limit: a 413 shows up here too
CHUNK_BYTES = 1536 * 1024  # first PATCH > 1 MiB (as Docker sends a whole layer in one PATCH), then the rest
MAX_REDIRECTS = 5

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
SEED_ARCH = "Before investigating (token flow)"


# ---------------------------------------------------------------------------------------------- content


@dataclass(frozen=True)
class CanaryImage:
    """A small image with one random layer, as OCI and Docker schema 2 manifests."""

    layer: bytes
    config: bytes
    oci_manifest: bytes
    docker_manifest: bytes

    @staticmethod
    def digest(data: bytes) -> str:
        return "sha256:" + hashlib.sha256(data).hexdigest()


def build_canary_image(layer_bytes: int = LAYER_BYTES) -> CanaryImage:
    """A real (gzip'd tar) layer of random bytes, its config and both manifests."""
    payload = os.urandom(max(1, layer_bytes - 2048))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("runbook-canary.bin")
        info.size, info.mtime = len(payload), 0
        tar.addfile(info, io.BytesIO(payload))
    raw = buf.getvalue()
    layer = gzip.compress(raw, compresslevel=1, mtime=0)
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Labels": {"runbook": "canary"}},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw).hexdigest()]},
        "history": [{"created_by": "runbooklib canary push"}],
    }).encode()

    def manifest(media: str, cfg_media: str, layer_media: str) -> bytes:
        return json.dumps({
            "schemaVersion": 2, "mediaType": media,
            "config": {"mediaType": cfg_media, "digest": CanaryImage.digest(config), "size": len(config)},
            "layers": [{"mediaType": layer_media, "digest": CanaryImage.digest(layer), "size": len(layer)}],
        }).encode()

    return CanaryImage(layer, config, manifest(OCI_MANIFEST, OCI_CONFIG, OCI_LAYER),
                       manifest(DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER))


# ---------------------------------------------------------------------------------------------- the run


@dataclass
class CanaryResult:
    """What the canary did: the hop trace, what it pushed, what it removed and what it left."""

    registry_url: str
    repository: str
    tag: str
    realm: str = ""
    hops: list[Hop] = field(default_factory=list)
    har_entries: list[dict[str, Any]] = field(default_factory=list)
    pushed: list[str] = field(default_factory=list)  # "blob sha256:..", "manifest sha256:.. (tag)"
    deleted: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)
    failed_step: str = ""
    failure: str = ""
    auth_failure: str = ""  # why no push token (then nothing was pushed)
    auth_scenario: str = ""
    delete_refused: str = ""  # why deletion was not possible (405 UNSUPPORTED, 401/403)
    transport: Any = None  # TransportFailure of the failed step, if any
    layer_size: int = 0
    no_api: bool = False  # the registry API itself did not answer (before any login)

    @property
    def ok(self) -> bool:
        return not self.failed_step and not self.auth_failure

    def rows(self) -> list[dict[str, Any]]:
        return trace_rows(self.hops, urlsplit(self.registry_url).netloc.lower(), self.realm)

    def evidence(self) -> dict[str, Any]:
        return {"registry_url": strip_url(self.registry_url), "repository": self.repository, "tag": self.tag,
                "pushed": self.pushed, "deleted": self.deleted, "left": self.left, "hops": self.rows()}


class _StepFailed(Exception):
    pass


_SAFE_REQUEST_HEADERS = ("content-type", "content-length", "content-range", "accept", "user-agent")


class _Canary:
    def __init__(self, client: httpx.Client, base: str, repository: str, tag: str) -> None:
        self.client = client
        self.base = base
        self.origin = urlsplit(base)[:2]
        self.token = ""
        self.basic: tuple[str, str] | None = None
        self.result = CanaryResult(base, repository, tag)
        self.open_uploads: list[str] = []

    # -- one request, recorded
    def send(self, step: str, method: str, url: str, *, auth: bool = True, content: bytes | None = None,
             headers: dict[str, str] | None = None, params: dict[str, str] | None = None,
             basic: tuple[str, str] | None = None, keep_body: bool = False) -> httpx.Response | None:
        hdrs = dict(headers or {})
        same_origin = urlsplit(url)[:2] == self.origin
        note = ""
        if auth and self.token:
            if same_origin:
                hdrs["Authorization"] = f"Bearer {self.token}"
            else:
                note = "sent without the registry token (another scheme or host)"
        started = dt.datetime.now(dt.timezone.utc)
        t0 = time.monotonic()
        try:
            if basic:
                pair = f"{basic[0]}:{basic[1]}".encode()
                hdrs["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
            request = self.client.build_request(method, url, content=content, headers=hdrs, params=params)
            response = self.client.send(request)
            body = response.read() if (keep_body or method != "HEAD") else b""
        except httpx.HTTPError as exc:
            failure = describe_failure(exc)
            self.result.transport = failure
            hop = hop_from_parts(method, url, None, {}, b"", step, f"{failure.kind}: {failure.message}"[:300],
                                 int((time.monotonic() - t0) * 1000), note)
            self.result.hops.append(hop)
            self._har(started, method, url, hdrs, None, 0, t0)
            return None
        elapsed = int((time.monotonic() - t0) * 1000)
        headers_in = {k.lower(): v for k, v in response.headers.items()}
        hop = hop_from_parts(method, str(response.request.url), response.status_code, headers_in, body, step,
                             "", elapsed, note)
        self.result.hops.append(hop)
        self._har(started, method, str(response.request.url), hdrs, response, len(body), t0)
        return response

    def _har(self, started: dt.datetime, method: str, url: str, req_headers: dict[str, str],
             response: httpx.Response | None, size: int, t0: float) -> None:
        req = [{"name": k, "value": "[REDACTED]" if k.lower() == "authorization" else v}
               for k, v in req_headers.items() if k.lower() in _SAFE_REQUEST_HEADERS + ("authorization",)]
        entry: dict[str, Any] = {
            "startedDateTime": started.isoformat(timespec="milliseconds"),
            "time": round((time.monotonic() - t0) * 1000, 1),
            "request": {"method": method, "url": strip_url(url), "httpVersion": "HTTP/1.1", "headers": req,
                        "queryString": [], "cookies": [], "headersSize": -1, "bodySize": -1},
            "timings": {"send": 0, "wait": round((time.monotonic() - t0) * 1000, 1), "receive": 0},
            "cache": {},
        }
        if response is None:
            entry["response"] = {"status": 0, "statusText": "", "httpVersion": "", "headers": [], "cookies": [],
                                 "content": {"size": 0, "mimeType": ""}, "redirectURL": "", "headersSize": -1,
                                 "bodySize": -1, "_error": self.result.hops[-1].error}
        else:
            hdrs = [{"name": k, "value": strip_url(v) if k.lower() == "location" else v}
                    for k, v in response.headers.items() if k.lower() not in ("set-cookie",)]
            content: dict[str, Any] = {"size": size, "mimeType": response.headers.get("content-type", "")}
            if response.status_code >= 400 and size and size < 4096:
                content["text"] = response.text
            entry["response"] = {"status": response.status_code, "statusText": response.reason_phrase,
                                 "httpVersion": response.http_version, "headers": hdrs, "cookies": [],
                                 "content": content, "redirectURL": strip_url(response.headers.get("location", "")),
                                 "headersSize": -1, "bodySize": size}
        self.result.har_entries.append(entry)

    def fail(self, step: str, response: httpx.Response | None, expected: str) -> None:
        self.result.failed_step = step
        if response is None:
            hop = self.result.hops[-1]
            self.result.failure = f"{step}: no answer ({hop.error})"
        else:
            hop = self.result.hops[-1]
            code = f" {hop.error_code}" if hop.error_code else ""
            self.result.failure = (f"{step}: {hop.method} {short_url(hop.url)} answered {response.status_code}{code}, "
                                   f"expected {expected}")
        raise _StepFailed(self.result.failure)

    def expect(self, step: str, response: httpx.Response | None, *codes: int) -> httpx.Response:
        if response is None or response.status_code not in codes:
            self.fail(step, response, "/".join(str(c) for c in codes))
        assert response is not None
        return response

    def api(self, path: str) -> str:
        return f"{self.base}/v2/{self.result.repository}{path}"

    def location(self, step: str, response: httpx.Response) -> str:
        loc = response.headers.get("location", "")
        if not loc:
            self.fail(step, response, "a Location header")
        return urljoin(str(response.request.url), loc)

    def same_origin(self, url: str) -> str:
        """The URL on the registry's own scheme and host (to cancel an upload whatever Location said)."""
        p = urlsplit(url)
        return urlunsplit((self.origin[0], self.origin[1], p.path, p.query, ""))

    # -- token flow
    def login_as(self, endpoint: RegistryEndpoint, scope: str = "") -> bool:
        """:meth:`login` with the endpoint's own credentials, service and realm rules."""
        return self.login(endpoint.username, endpoint.password, endpoint.service, endpoint.realm_url,
                          endpoint.allow_insecure_realm, scope=scope)

    def login(self, username: str, password: str, service: str, realm_url: str,
              allow_insecure_realm: bool = False, scope: str = "") -> bool:
        r = self.send("API version check", "GET", f"{self.base}/v2/", auth=False)
        if r is None:
            self.result.auth_failure = f"GET {self.base}/v2/ got no answer ({self.result.hops[-1].error})"
            self.result.auth_scenario = "triage"
            self.result.no_api = True
            return False
        if r.status_code == 200:
            return True  # no auth on this registry (the challenge finding in triage says why that is bad)
        challenge = parse_bearer_challenge(r.headers.get("www-authenticate", "")) or {}
        realm = realm_url or challenge.get("realm", "")
        self.result.realm = realm
        if r.status_code != 401 or not realm:
            self.result.auth_failure = (f"GET /v2/ answered {r.status_code} without a Bearer challenge: the request "
                                        "does not reach a registry with token auth")
            self.result.auth_scenario = "triage"
            self.result.no_api = r.status_code != 401
            return False
        scope = scope or f"repository:{self.result.repository}:pull,push,delete"
        creds = (username, password) if username else None
        if creds:
            policy = realm_policy(realm, self.base, realm_url=realm_url, allow_insecure_realm=allow_insecure_realm)
            if not policy.send:  # plain http to a host that is not loopback: the password is not sent
                self.result.auth_failure = (f"credentials withheld: {policy.reason} (set allow_insecure_realm to "
                                            "send them anyway)")
                self.result.auth_scenario = "triage"
                return False
        tr = self.send("token request", "GET", realm, auth=False, basic=creds,
                       params={"service": challenge.get("service") or service, "scope": scope})
        if tr is None:
            self.result.auth_failure = f"the token realm {realm} got no answer ({self.result.hops[-1].error})"
            self.result.auth_scenario = "triage"
            return False
        token = ""
        if tr.status_code == 200:
            try:
                body = tr.json()
                token = str(body.get("token") or body.get("access_token") or "") if isinstance(body, dict) else ""
            except ValueError:
                token = ""
        if not token:
            self.result.auth_failure = (f"the token realm answered {tr.status_code} without a token "
                                        + ("(credentials refused)" if tr.status_code in (401, 403) else ""))
            self.result.auth_scenario = "triage" if tr.status_code in (401, 403) else "missing-registry-key"
            return False
        self.token = token
        return True

    # -- pushing
    def upload_chunked(self, data: bytes, chunk: int) -> str:
        step = "blob upload start (chunked)"
        r = self.expect(step, self.send(step, "POST", self.api("/blobs/uploads/")), 202)
        url = self.location(step, r)
        self.open_uploads.append(url)
        offset = 0
        part = 0
        while offset < len(data):
            part += 1
            piece = data[offset:offset + chunk]
            step = f"blob upload chunk {part} ({len(piece)} bytes)"
            r = self.expect(step, self.send(step, "PATCH", url, content=piece, headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(piece) - 1}"}), 202)
            url = self.location(step, r)
            self.open_uploads[-1] = url
            offset += len(piece)
        return self._finish("blob upload finish", url, b"", CanaryImage.digest(data))

    def upload_monolithic(self, data: bytes) -> str:
        step = "blob upload start (monolithic)"
        r = self.expect(step, self.send(step, "POST", self.api("/blobs/uploads/")), 202)
        url = self.location(step, r)
        self.open_uploads.append(url)
        return self._finish("blob upload (one PUT with the body)", url, data, CanaryImage.digest(data))

    def _finish(self, step: str, url: str, body: bytes, digest: str) -> str:
        sep = "&" if urlsplit(url).query else "?"
        r = self.expect(step, self.send(step, "PUT", f"{url}{sep}digest={digest}", content=body,
                                        headers={"Content-Type": "application/octet-stream"}), 201)
        self.open_uploads.pop()
        got = r.headers.get("docker-content-digest", digest)
        self.result.pushed.append(f"blob {digest}")
        if got != digest:
            self.fail(step, r, f"Docker-Content-Digest {digest}")
        return digest

    def fetch_blob(self, method: str, digest: str, expected: bytes) -> None:
        url = self.api(f"/blobs/{digest}")
        step = f"{method} blob"
        for hop in range(MAX_REDIRECTS + 1):
            r = self.send(step if hop == 0 else f"{method} blob (redirect {hop})", method, url,
                          keep_body=(method == "GET"))
            if r is not None and r.status_code in (301, 302, 303, 307, 308) and r.headers.get("location"):
                url = urljoin(str(r.request.url), r.headers["location"])
                continue
            break
        r = self.expect(step, r, 200)
        if method == "GET" and hashlib.sha256(r.content).hexdigest() != digest.split(":", 1)[1]:
            self.fail(step, r, "the bytes that were pushed")
        if method == "HEAD":
            length = r.headers.get("content-length")
            if length and int(length) != len(expected):
                self.fail(step, r, f"Content-Length {len(expected)}")

    def put_manifest(self, tag: str, media: str, body: bytes) -> str:
        step = f"manifest PUT ({'OCI' if 'oci' in media else 'Docker schema 2'})"
        digest = CanaryImage.digest(body)
        r = self.expect(step, self.send(step, "PUT", self.api(f"/manifests/{tag}"), content=body,
                                        headers={"Content-Type": media}), 201)
        self.result.pushed.append(f"manifest {digest} (tag {tag})")
        if r.headers.get("docker-content-digest", digest) != digest:
            self.fail(step, r, f"Docker-Content-Digest {digest}")
        step = f"manifest GET ({'OCI' if 'oci' in media else 'Docker schema 2'})"
        r = self.expect(step, self.send(step, "GET", self.api(f"/manifests/{tag}"), headers={"Accept": media},
                                        keep_body=True), 200)
        if CanaryImage.digest(r.content) != digest:
            self.fail(step, r, "the manifest that was pushed")
        return digest

    # -- cleaning up
    def cleanup(self, manifests: list[str], blobs: list[str]) -> None:
        res = self.result
        for url in self.open_uploads:
            r = self.send("cancel upload", "DELETE", self.same_origin(url))
            if r is not None and r.status_code in (204, 202, 404):
                res.deleted.append("open upload")
            else:
                res.left.append(f"an open upload (purged by the registry's upload purging): {strip_url(url)}")
        for digest in manifests:
            r = self.send("delete manifest", "DELETE", self.api(f"/manifests/{digest}"))
            self._deleted(r, f"manifest {digest} and its tag")
        for digest in blobs:
            r = self.send("delete blob link", "DELETE", self.api(f"/blobs/{digest}"))
            self._deleted(r, f"blob {digest} (its link in {res.repository})")
        if manifests or blobs:
            r = self.send("check tags are gone", "GET", self.api("/tags/list"), keep_body=True)
            if r is not None and r.status_code == 200:
                try:
                    tags = r.json().get("tags") or []
                except ValueError:
                    tags = []
                mine = [t for t in tags if t.startswith(res.tag + "-")]
                if mine:
                    res.left.append(f"tags still listed: {', '.join(mine)}")

    def _deleted(self, r: httpx.Response | None, what: str) -> None:
        res = self.result
        if r is not None and r.status_code in (202, 204):
            res.deleted.append(what)
            return
        if r is not None and r.status_code == 404:
            res.deleted.append(f"{what} (already gone)")
            return
        res.left.append(what)
        if r is None:
            res.delete_refused = res.delete_refused or "the registry did not answer the DELETE"
        elif r.status_code == 405:
            res.delete_refused = res.delete_refused or ("deletion is disabled on the registry "
                                                        "(405 UNSUPPORTED: `storage.delete.enabled` is false)")
        elif r.status_code in (401, 403):
            res.delete_refused = res.delete_refused or (f"the token does not grant delete ({r.status_code}): in "
                                                        "GitLab only Maintainers and Owners may delete images")
        else:
            res.delete_refused = res.delete_refused or f"DELETE answered {r.status_code}"


def run_canary(client: httpx.Client, registry_url: str, username: str = "", password: str = "",
               service: str = "container_registry", realm_url: str = "", repository: str = CANARY_REPOSITORY,
               layer_bytes: int = LAYER_BYTES, chunk_bytes: int = CHUNK_BYTES, *,
               allow_insecure_realm: bool = False) -> CanaryResult:
    """Push the canary image and remove it again; every request is recorded in ``result.hops``.

    ``client`` must not follow redirects (we follow them ourselves, recording each hop) and must be bounded by
    a timeout (``probes.http.make_client``). Never raises for HTTP or transport problems: they are in the result.
    """
    base = registry_url.rstrip("/")
    # Tag names must not be prefixes of each other: registry 2.8's S3 driver then fails to delete the shorter
    # one (``canary-x`` stays listed after deleting its manifest when ``canary-x-docker`` exists).
    tag = "canary-" + secrets.token_hex(4)
    c = _Canary(client, base, repository, tag)
    if not c.login(username, password, service, realm_url, allow_insecure_realm):
        return c.result
    image = build_canary_image(layer_bytes)
    c.result.layer_size = len(image.layer)
    manifests: list[str] = []
    blobs: list[str] = []
    try:
        blobs.append(c.upload_chunked(image.layer, chunk_bytes))
        blobs.append(c.upload_monolithic(image.config))
        c.fetch_blob("HEAD", blobs[0], image.layer)
        c.fetch_blob("GET", blobs[0], image.layer)
        manifests.append(c.put_manifest(f"{tag}-oci", OCI_MANIFEST, image.oci_manifest))
        manifests.append(c.put_manifest(f"{tag}-docker", DOCKER_MANIFEST, image.docker_manifest))
    except _StepFailed:
        pass
    finally:
        blobs_pushed = [p.split(" ", 2)[1] for p in c.result.pushed if p.startswith("blob ")]
        manifests_pushed = [p.split(" ", 2)[1] for p in c.result.pushed if p.startswith("manifest ")]
        c.cleanup(manifests_pushed, blobs_pushed)
    if c.result.pushed:
        c.result.left.append("blob data in storage until the next garbage collection "
                             "(`gitlab-ctl registry-garbage-collect`; the registry never deletes blob data itself)")
    return c.result


# ---------------------------------------------------------------------------------------------- findings


def _cleanup_finding(res: CanaryResult) -> Finding:
    real_left = [x for x in res.left if not x.startswith("blob data in storage")]
    if not res.pushed and not res.deleted and not real_left:
        return Finding("push.canary.nothing_left", Status.OK, "The canary left nothing behind",
                       detail="Nothing was stored before the push stopped.", evidence={"repository": res.repository},
                       refs=(SEED_PUSH,))
    if real_left:
        return Finding(
            "push.canary.left_behind", Status.WARN, f"The canary could not remove everything in {res.repository}",
            detail=f"Left: {'; '.join(real_left)}. {res.delete_refused or ''}".strip(),
            evidence={"repository": res.repository, "deleted": res.deleted, "left": res.left},
            remedy="Remove the leftovers in GitLab (project → Deploy → Container registry → delete the "
            f"`{res.repository}` tags) or enable deletion on the registry (Omnibus "
            "`registry['storage_delete_enabled'] = true`; Helm `registry.storage` secret `delete: {enabled: true}`; "
            "source `storage.delete.enabled: true`), then run garbage collection.",
            refs=(SEED_PUSH,))
    return Finding(
        "push.canary.cleaned", Status.OK, "The canary removed what it pushed",
        detail=f"Deleted: {'; '.join(res.deleted)}. Blob data stays in storage until the next garbage collection.",
        evidence={"repository": res.repository, "deleted": res.deleted, "left": res.left}, refs=(SEED_PUSH,))


def _route(res: CanaryResult) -> dict[str, str]:
    return {"scenario": res.auth_scenario} if res.auth_scenario not in ("", "triage") else {}


def check_canary_push(client: httpx.Client, endpoint: RegistryEndpoint, enabled: bool = True,
                      repository: str = CANARY_REPOSITORY, layer_bytes: int = LAYER_BYTES,
                      chunk_bytes: int = CHUNK_BYTES) -> list[Finding]:
    """Push a canary image through the path clients use (``endpoint.url``: the proxy's URL) and say which
    hop fails; the hop trace is the evidence. Off unless ``enabled`` (it writes to the registry)."""
    refs = (SEED_PUSH, SEED_403)
    if not enabled:
        return [Finding("push.canary.not_run", Status.SKIP, "Canary push not run",
                        detail="Set `canary_push: true` to push a small random image to the dedicated "
                        f"`{repository}` repository path and delete it again (needs push rights).", refs=refs)]
    if not endpoint.url:
        return [Finding("push.canary.not_run", Status.SKIP, "Canary push not run: no registry_url",
                        detail="Give `registry_url` as clients use it (the proxy's URL).", refs=refs)]
    res = run_canary(client, endpoint.url, endpoint.username, endpoint.password, endpoint.service, endpoint.realm_url,
                     repository, layer_bytes, chunk_bytes, allow_insecure_realm=endpoint.allow_insecure_realm)
    rows = res.rows()
    ev = res.evidence()
    found: list[Finding] = []
    if res.auth_failure:
        remedy = ("Fix the login first: run `triage` (forwarding, token flow) and, for `invalid_token`, "
                  "`token-untrusted-key`; a missing or broken `/jwt/auth` is `missing-registry-key`. The canary "
                  "needs a user with push rights (Developer or above) on the project that holds "
                  f"`{repository}`.")
        if res.transport is not None:
            remedy = transport_remedy(res.transport, endpoint.url) + "\n" + remedy
        if res.no_api:
            found.append(Finding("push.canary.no_api", Status.FAIL, "Canary push could not reach the registry API",
                                 detail=f"{res.auth_failure}. Nothing was pushed.", evidence={**ev, **_route(res)},
                                 remedy=remedy, refs=refs + (SEED_ARCH,)))
        else:
            found.append(Finding("push.canary.auth", Status.FAIL, "Canary push could not log in",
                                 detail=f"No push token: {res.auth_failure}. Nothing was pushed.",
                                 evidence={**ev, **_route(res)}, remedy=remedy, refs=refs + (SEED_ARCH,)))
    elif res.failed_step:
        found.append(Finding(
            "push.canary.failed", Status.FAIL, f"Canary push failed at: {res.failed_step}",
            detail=f"{res.failure}. The hop trace shows every request and who answered it; the findings below name "
            "the failing hop.", evidence=ev,
            remedy="See the hop findings: each names its fix. Pushes from Docker fail (or retry) at the same step.",
            refs=refs))
    else:
        found.append(Finding(
            "push.canary.ok", Status.OK, "Canary push and pull-back succeeded",
            detail=f"Pushed a {res.layer_size // 1024} KiB layer in chunks and a config monolithically to "
            f"{res.repository}, read the blob back (HEAD and GET, "
            "following redirects), pushed OCI and Docker schema 2 manifests and read them back.",
            evidence=ev, refs=refs))
    found.append(_cleanup_finding(res))
    analysis = analyse_hops(res.hops, endpoint.url, res.realm, source="canary push")
    found.extend(f for f in analysis if not (f.id == "hops.ok" and res.ok))
    if not res.ok and all(f.id == "hops.ok" for f in analysis):
        found.append(Finding("hops.unexplained", Status.WARN, "No hop pattern explains the failure",
                             detail=f"The canary failed ({res.failure or res.auth_failure}) but no known hop pattern "
                             "matched; read the hop trace.", evidence={"hops": rows}, refs=refs))
    return found


def trace_table(findings: list[Finding], prefix: str = "push.canary"):
    """The hop trace of the first finding whose id starts with ``prefix`` (as a DataFrame; empty if none)."""
    import pandas as pd

    cols = ["#", "step", "method", "url", "status", "origin", "location", "server", "content_type", "error_code",
            "error", "note"]
    for f in findings:
        ev = f.evidence if isinstance(f.evidence, dict) else {}
        if f.id.startswith(prefix) and isinstance(ev.get("hops"), list):
            return pd.DataFrame([{c: r.get(c, "") for c in cols} for r in ev["hops"]], columns=cols)
    return pd.DataFrame(columns=cols)


# ---------------------------------------------------------------------------------------------- config views


def check_url_settings(registry: RegistryConfig | None, registry_url: str = "") -> list[Finding]:
    """How the registry builds the URLs it sends clients (upload ``Location``): relative (``http.relativeurls``),
    from ``http.host``, or from the request's ``X-Forwarded-Proto``/``Host`` (then the proxy must send them)."""
    refs = (SEED_PUSH,)
    if registry is None:
        return [Finding("urls.not_checked", Status.SKIP, "Registry config not read",
                        detail="Give `registry_config` to see `http.relativeurls` and `http.host`.", refs=refs)]
    from ..config.procenv import effective_relativeurls

    http_cfg = registry.http
    ev = registry.evidence("http.relativeurls", "http.host")
    relative, source = effective_relativeurls(registry)
    if relative:
        where = registry.where("http.relativeurls") if source == "config.yml" else source
        return [Finding("urls.relative", Status.OK, "The registry sends relative URLs",
                        detail=f"`http.relativeurls: true` ({where}): upload Locations are "
                        "relative, so proxies that do not forward `X-Forwarded-Proto`/`Host` cannot break them.",
                        evidence={**ev, "source": source}, refs=refs)]
    if http_cfg.host:
        want = urlsplit(registry_url) if registry_url else None
        have = urlsplit(http_cfg.host)
        if want and (want.scheme, want.netloc) != (have.scheme, have.netloc):
            return [Finding(
                "urls.http_host_mismatch", Status.FAIL, "`http.host` differs from the URL clients use",
                detail=f"`http.host: {http_cfg.host}` ({registry.where('http.host')}) while clients use {registry_url}: "
                "every upload Location points there, so pushes fail or retry.", evidence={**ev, "scenario":
                                                                                 "push-retry-relative-urls"},
                remedy="Set `http.host` to the external registry URL (Omnibus sets it from `registry_external_url`), or "
                "remove it and set `http.relativeurls: true`.", refs=refs)]
        return [Finding("urls.http_host", Status.OK, f"Absolute URLs from http.host {http_cfg.host}",
                        detail=f"`http.host` ({registry.where('http.host')}) fixes the scheme and host of every Location.",
                        evidence=ev, refs=refs)]
    return [Finding(
        "urls.absolute_from_request", Status.OK, "Absolute URLs built from the request headers",
        detail="`http.relativeurls` is off and `http.host` unset: the registry builds each Location from "
        "`X-Forwarded-Proto` and `Host` (or `X-Forwarded-Host`) as the proxy sends them. That works only if "
        "the proxy forwards both (see the NGINX findings and the canary push); `relativeurls: true` removes the "
        "dependency.", evidence=ev, refs=refs)]


def check_storage_redirect(registry: RegistryConfig | None) -> list[Finding]:
    """Who can say 403 during a push: with storage redirects on, clients fetch blobs from presigned storage
    URLs (a hop the registry never sees); with them off, only the proxy, the registry and GitLab answer."""
    refs = (SEED_403,)
    if registry is None:
        return [Finding("redirect.not_checked", Status.SKIP, "Registry config not read",
                        detail="Give `registry_config` to see `storage.redirect.disable`.", refs=refs)]
    st = registry.storage
    ev = {"driver": st.driver, "redirect_disabled": st.redirect_disabled, "where": registry.where("storage.redirect")}
    if st.redirect_disabled or st.driver in ("filesystem", "inmemory"):
        return [Finding("redirect.off", Status.OK, "Blobs are served by the registry (no storage redirect)",
                        detail=f"Storage driver {st.driver}; redirects "
                        f"{'disabled' if st.redirect_disabled else 'not used'}: a "
                        "403 during a push comes from the proxy, the registry or GitLab's realm, not from storage.",
                        evidence=ev, refs=refs)]
    return [Finding(
        "redirect.on", Status.OK, "Clients are redirected to storage for blobs",
        detail=f"Storage driver {st.driver} with redirects on: HEAD/GET of a blob answers 307 with a presigned storage URL, "
        "and the client then talks to the storage directly. A 403 there (missing `s3:GetObject`, a bucket policy, "
        "a VPC endpoint) never shows in the registry log: only the hop trace or a capture shows it.", evidence=ev,
        remedy="If storage 403s show up below, fix the storage permissions (`s3-permissions`) or disable redirects "
        "(`storage.redirect.disable: true`; Omnibus `registry['storage']['redirect'] = { 'disable' => true }`).",
        refs=refs)]
