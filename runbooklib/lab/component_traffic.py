"""A short, bounded burst of real client traffic once the lab is seeded, so every upstream metric family
(requests by handler and code, latency and size histograms, storage actions) has data to read.

It does what clients do, and leaves the registry as it found it: unauthenticated calls (401 challenges),
a token from the realm, catalog and tag listing, a pull of the seeded image (manifest and blobs), HEADs of
an unknown blob and tag (404s, as clients do before a push), and a push of the same image again (monolithic
and chunked blob uploads, each completed, then the same manifest bytes). No new repository, tag or
unfinished upload is left behind. It listens on nothing (its port entry is unused), never raises, stops
after ``DEADLINE_S`` and writes what it did to ``<state_dir>/logs/traffic.log``.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin

import httpx

from .components import Component, register_component

if TYPE_CHECKING:
    from .control import Lab

NAME = "traffic"
DEADLINE_S = 8.0
REQUEST_TIMEOUT_S = 3.0
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, "
                  "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json")
UNKNOWN_DIGEST = "sha256:" + "0" * 64


class _Budget(Exception):
    pass


class _Traffic:
    def __init__(self, lab: "Lab") -> None:
        from .control import SEED_IMAGE, SEED_TAG, SERVICE, USERNAME

        self.lab = lab
        self.base = lab.url("registry")
        self.name, self.tag, self.service, self.user = SEED_IMAGE, SEED_TAG, SERVICE, USERNAME
        self.deadline = time.monotonic() + DEADLINE_S
        self.client = httpx.Client(timeout=REQUEST_TIMEOUT_S, verify=False, trust_env=False, follow_redirects=False,
                                   headers={"User-Agent": "runbook-lab-traffic/1"})
        self.lines: list[str] = []
        self.token = ""

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        if time.monotonic() > self.deadline:
            raise _Budget()
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.token and kwargs.pop("auth_token", True):
            headers["Authorization"] = f"Bearer {self.token}"
        else:
            kwargs.pop("auth_token", None)
        full = url if url.startswith("http") else self.base + url
        try:
            r = self.client.request(method, full, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            self.lines.append(f"{method} {url.split('?')[0]} -> {type(exc).__name__}")
            return None
        self.lines.append(f"{method} {url.split('?')[0]} -> {r.status_code}")
        return r

    def get_token(self) -> None:
        realm = self.lab.url("issuer") + "/jwt/auth"
        scopes = [f"repository:{self.name}:pull,push", "registry:catalog:*"]
        r = self.request("GET", realm, params={"service": self.service, "scope": scopes},
                         auth=(self.user, self.lab.secret("password")), auth_token=False)
        if r is not None and r.status_code == 200:
            self.token = r.json().get("token", "")

    def upload(self, digest: str, data: bytes, chunked: bool) -> None:
        r = self.request("POST", f"/v2/{self.name}/blobs/uploads/")
        if r is None or r.status_code != 202 or "location" not in r.headers:
            return
        location = urljoin(self.base + "/", r.headers["location"])
        if chunked:
            r = self.request("PATCH", location, content=data, headers={"Content-Type": "application/octet-stream"})
            if r is None or r.status_code != 202 or "location" not in r.headers:
                return
            location, data = urljoin(self.base + "/", r.headers["location"]), b""
        sep = "&" if "?" in location else "?"
        self.request("PUT", f"{location}{sep}digest={digest}", content=data,
                     headers={"Content-Type": "application/octet-stream"})

    def run(self) -> None:
        for path in ("/v2/", "/v2/_catalog", f"/v2/{self.name}/tags/list"):  # the challenge every client meets
            self.request("GET", path, auth_token=False)
        self.get_token()
        if not self.token:
            self.lines.append("no token: authenticated traffic skipped")
            return
        for path in ("/v2/", "/v2/_catalog", f"/v2/{self.name}/tags/list"):
            self.request("GET", path)
        manifest_url = f"/v2/{self.name}/manifests/{self.tag}"
        self.request("HEAD", manifest_url, headers={"Accept": MANIFEST_TYPES})
        r = self.request("GET", manifest_url, headers={"Accept": MANIFEST_TYPES})
        if r is None or r.status_code != 200:
            return
        raw, media_type = r.content, r.headers.get("content-type", "application/vnd.oci.image.manifest.v1+json")
        manifest = json.loads(raw)
        digests = [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest.get("layers", [])]
        blobs: dict[str, bytes] = {}
        for digest in digests:
            self.request("HEAD", f"/v2/{self.name}/blobs/{digest}")
            b = self.request("GET", f"/v2/{self.name}/blobs/{digest}")
            if b is not None and b.status_code == 200 and "sha256:" + hashlib.sha256(b.content).hexdigest() == digest:
                blobs[digest] = b.content
        self.request("HEAD", f"/v2/{self.name}/blobs/{UNKNOWN_DIGEST}")  # what clients ask before a push
        self.request("HEAD", f"/v2/{self.name}/manifests/no-such-tag", headers={"Accept": MANIFEST_TYPES})
        for index, (digest, data) in enumerate(blobs.items()):
            self.upload(digest, data, chunked=index % 2 == 1)
        if len(blobs) == len(digests):
            self.request("PUT", manifest_url, content=raw, headers={"Content-Type": media_type})

    def close(self) -> None:
        self.client.close()
        log = self.lab.state_dir / "logs" / "traffic.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as fh:
            fh.write("\n".join(self.lines) + "\n")


def start(lab: "Lab") -> None:
    """Run the burst once (synchronously, bounded); problems end it early and are logged, never raised."""
    traffic = _Traffic(lab)
    try:
        traffic.run()
    except _Budget:
        traffic.lines.append(f"stopped after {DEADLINE_S:.0f} s")
    except Exception as exc:  # the lab must come up even if the burst cannot finish
        traffic.lines.append(f"stopped: {type(exc).__name__}: {exc}")
    finally:
        traffic.close()


def params(lab: "Lab") -> dict[str, Any]:
    return {}


register_component(Component(NAME, 0, start, params, order=90))
