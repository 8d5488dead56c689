"""The lab's GitLab REST stand-in: projects, cleanup policies, registry repositories, branches, tokens.

Started after the registry is seeded: it first pushes a few more *real* tags to ``group/project/app`` (the
seeded image re-configured with chosen ``created`` times, so GitLab-style ``created_at`` values come from the
registry itself), then serves ``/api/v4`` on its port. Tokens are written to the lab's secrets folder:

* ``gitlab_token`` — ``read_api``, Maintainer of every lab group (what the runbooks use);
* ``gitlab_token_read_registry`` — only ``read_registry``: the API answers 403 insufficient_scope;
* ``gitlab_token_guest`` — ``read_api`` but the Guest role in ``group/project``: registry calls answer 403.

Projects with paths that break Docker: ``group/_infra/tools`` (a group with a leading underscore),
``group/legacy-`` (trailing hyphen), ``group/my--app`` (double hyphen), ``group/WebApp`` (uppercase),
``_sandbox/tool`` (a top-level group with a leading underscore); ``group/docs_`` breaks the rules too but has the
registry disabled, so it is out of scope. ``group/project`` has branches that break image names and tags.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from . import procs
from .components import Component, register_component

if TYPE_CHECKING:
    from .control import Lab

NAME = "gitlab"
DEFAULT_PORT = 15005
STARTUP_TIMEOUT_S = 15.0
PROJECT = "group/project"
GROUP = "group"
IMAGE = "group/project/app"  # the seeded image (control.SEED_IMAGE)
NOTIFICATION_SECRET = "notification_secret"  # GitLab's side; the registry's header: notification_secret_registry
EVENTS_PATH = "/api/v4/container_registry_event/events"
TOKENS = {  # file name -> (user, scopes)
    "gitlab_token": ("lab-user", ["read_api"]),
    "gitlab_token_read_registry": ("lab-user", ["read_registry"]),
    "gitlab_token_guest": ("guest-user", ["read_api"]),
}
# Real tags pushed to IMAGE: (tag, age in days of the image's `created`, None = no `created` in the config).
# Tags with the same age share one image (a retag), as CI does when it tags one build twice.
REAL_TAGS: tuple[tuple[str, int | None], ...] = (
    ("v1.0.0", 120), ("v1.0.0-rc1", 130), ("nodate", None), ("build-1", 2), ("build-old", 45),
    ("build-older", 50), ("ci-a", 60), ("ci-b", 60),
)
POLICY = {"cadence": "1d", "enabled": True, "keep_n": 1, "older_than": "30d", "name_regex": ".*",
          "name_regex_keep": "v\\d+\\.\\d+\\.\\d+|main"}
BRANCHES = ["main", "develop", "feature/Login-Page", "hotfix--db", "_wip", "release-"]
WEBAPP_TAGS = 30  # synthetic tags of group/webapp: more than GitLab's default page of 20


def config_path(lab: "Lab") -> Path:
    return lab.state_dir / "gitlab" / "standin.json"


def log_path(lab: "Lab") -> Path:
    return lab.state_dir / "logs" / "gitlab-standin.log"


def api_url(lab: "Lab") -> str:
    return f"{lab.url(NAME)}/api/v4"


def _iso(when: dt.datetime) -> str:
    return when.astimezone(dt.timezone.utc).isoformat(timespec="milliseconds")


def _write_tokens(lab: "Lab") -> dict[str, str]:
    values = {}
    for name in TOKENS:
        path = lab.secrets_dir / name
        value = "glpat-" + secrets.token_urlsafe(15)
        path.write_text(value + "\n")
        os.chmod(path, 0o600)
        values[name] = value
    return values


# -- real tags ---------------------------------------------------------------------------------------------


def _registry_client(lab: "Lab") -> tuple[httpx.Client, dict[str, str]]:
    from .control import SERVICE, USERNAME

    client = httpx.Client(timeout=10, trust_env=False, verify=False)
    realm = f"{lab.url('issuer')}/jwt/auth"
    r = client.get(realm, params={"service": SERVICE, "scope": f"repository:{IMAGE}:pull,push"},
                   auth=(USERNAME, lab.secret("password")))
    r.raise_for_status()
    return client, {"Authorization": f"Bearer {r.json()['token']}"}


def _upload_blob(client: httpx.Client, base: str, auth: dict[str, str], data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    r = client.post(f"{base}/v2/{IMAGE}/blobs/uploads/", headers=auth)
    if r.status_code != 202:
        raise RuntimeError(f"blob upload start answered {r.status_code}: {r.text[:200]}")
    location = str(httpx.URL(base).join(r.headers["location"]))
    location += ("&" if "?" in location else "?") + "digest=" + digest
    r = client.put(location, content=data, headers={**auth, "Content-Type": "application/octet-stream"})
    if r.status_code != 201:
        raise RuntimeError(f"blob upload answered {r.status_code}: {r.text[:200]}")
    return digest


def push_real_tags(lab: "Lab", now: dt.datetime | None = None) -> dict[str, str]:
    """Push REAL_TAGS to the registry through its API (the seeded image with a chosen `created`); return the
    manifest digest per tag."""
    now = now or dt.datetime.now(dt.timezone.utc)
    layout = lab.state_dir / "oci" / "image"
    index = json.loads((layout / "index.json").read_text())
    seed_digest = index["manifests"][0]["digest"]
    manifest = json.loads((layout / "blobs" / "sha256" / seed_digest.split(":", 1)[1]).read_bytes())
    config = json.loads((layout / "blobs" / "sha256" / manifest["config"]["digest"].split(":", 1)[1]).read_bytes())
    base = lab.url("registry")
    client, auth = _registry_client(lab)
    digests: dict[str, str] = {}
    bodies: dict[int | None, bytes] = {}
    try:
        for tag, age in REAL_TAGS:
            if age not in bodies:
                if age is None:
                    body = json.dumps(manifest).encode()  # GitLab's documentation image as is: its config has no `created`
                else:
                    created = (now - dt.timedelta(days=age)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                    data = json.dumps({**config, "created": created}).encode()
                    digest = _upload_blob(client, base, auth, data)
                    body = json.dumps({**manifest, "config": {**manifest["config"], "digest": digest,
                                                              "size": len(data)}}).encode()
                bodies[age] = body
            r = client.put(f"{base}/v2/{IMAGE}/manifests/{tag}", content=bodies[age],
                           headers={**auth, "Content-Type": manifest["mediaType"]})
            if r.status_code != 201:
                raise RuntimeError(f"manifest PUT {IMAGE}:{tag} answered {r.status_code}: {r.text[:200]}")
            digests[tag] = r.headers.get("docker-content-digest", "")
    finally:
        client.close()
    return digests


# -- the stand-in's data ------------------------------------------------------------------------------------


def _disabled_policy() -> dict[str, Any]:
    return {"cadence": "1d", "enabled": False, "keep_n": 10, "older_than": "90d", "name_regex": ".*",
            "name_regex_keep": None, "next_run_at": None}


def _webapp_tags(now: dt.datetime) -> list[dict[str, Any]]:
    tags = [{"name": "latest", "created_at": _iso(now - dt.timedelta(hours=3)), "total_size": 5_000_000}]
    for i in range(1, WEBAPP_TAGS + 1):
        digest = "sha256:" + hashlib.sha256(f"webapp-{i}".encode()).hexdigest()
        tags.append({"name": f"web-{i:03d}", "created_at": _iso(now - dt.timedelta(days=i, hours=1)),
                     "digest": digest, "revision": hashlib.sha256(f"cfg-{i}".encode()).hexdigest(),
                     "total_size": 5_000_000 + i})
    return tags


def standin_config(lab: "Lab", now: dt.datetime | None = None) -> dict[str, Any]:
    """The stand-in's configuration for this lab (JSON-serialisable)."""
    from .control import SERVICE, USERNAME

    now = now or dt.datetime.now(dt.timezone.utc)
    member = {"lab-user": "maintainer"}
    project_base = {"visibility": "private", "container_registry_access_level": "enabled", "default_branch": "main",
                    "branches": ["main"], "container_expiration_policy": _disabled_policy(), "repositories": []}
    projects = [
        {**project_base, "id": 1, "path": "project", "name": "project", "namespace_id": 10, "branches": BRANCHES,
         "members": {"guest-user": "guest"},
         "container_expiration_policy": {**POLICY, "next_run_at": _iso(now - dt.timedelta(days=2))},
         "repositories": [{"id": 1, "name": "app", "source": "registry", "created_at": _iso(now)}]},
        {**project_base, "id": 2, "path": "tools", "name": "tools", "namespace_id": 11},
        {**project_base, "id": 3, "path": "legacy-", "name": "legacy", "namespace_id": 10},
        {**project_base, "id": 4, "path": "my--app", "name": "my app", "namespace_id": 10},
        {**project_base, "id": 5, "path": "WebApp", "name": "WebApp", "namespace_id": 10,
         "container_expiration_policy": {"cadence": "7d", "enabled": True, "keep_n": 10, "older_than": "14d",
                                         "name_regex": "web-.*", "name_regex_keep": None,
                                         "next_run_at": _iso(now + dt.timedelta(days=3))},
         "repositories": [{"id": 3, "name": "", "tags": _webapp_tags(now), "created_at": _iso(now)}]},
        {**project_base, "id": 6, "path": "docs_", "name": "docs", "namespace_id": 10,
         "container_registry_access_level": "disabled"},
        {**project_base, "id": 7, "path": "tool", "name": "tool", "namespace_id": 12},
    ]
    return {
        "host": "127.0.0.1",
        "port": lab.ports[NAME],
        "web_url": lab.url(NAME),
        "registry_host": f"127.0.0.1:{lab.ports['registry']}",
        "registry": {"url": lab.url("registry"), "realm": f"{lab.url('issuer')}/jwt/auth", "service": SERVICE,
                     "username": USERNAME, "password_file": str(lab.secrets_dir / "password"), "verify": False},
        "users": [{"id": 1, "username": "lab-user", "name": "Lab User"},
                  {"id": 2, "username": "guest-user", "name": "Guest User"}],
        "tokens": [{"file": str(lab.secrets_dir / name), "user": user, "scopes": scopes}
                   for name, (user, scopes) in TOKENS.items()],
        "groups": [
            {"id": 10, "path": "group", "name": "group", "parent_id": None, "members": member},
            {"id": 11, "path": "_infra", "name": "infra", "parent_id": 10},
            {"id": 12, "path": "_sandbox", "name": "sandbox", "parent_id": None, "members": member},
        ],
        "projects": projects,
        "throttle": {"every": 0, "retry_after": 1},
        # gitlab.yml's registry.notification_secret (written by a notifications fault; absent: every POST is 401)
        "notification_secret_file": str(lab.secrets_dir / NOTIFICATION_SECRET),
    }


def _spawn(lab: "Lab", cfg: dict[str, Any]) -> None:
    from .control import LabError

    path = config_path(lab)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(cfg, indent=2))
    proc = lab.spawn(NAME, [sys.executable, "-m", "runbooklib.lab.gitlab_standin", str(path)], log_path(lab))
    try:
        procs.wait_for_port(lab.ports[NAME], STARTUP_TIMEOUT_S, proc, "GitLab REST stand-in")
    except RuntimeError as exc:
        raise LabError(str(exc)) from None


def start(lab: "Lab") -> None:
    """Push the real tags, write tokens and config, spawn the stand-in and wait for its port."""
    from .control import LabError

    _write_tokens(lab)
    try:
        push_real_tags(lab)
    except (httpx.HTTPError, RuntimeError, KeyError, OSError, ValueError) as exc:
        raise LabError(f"GitLab stand-in: pushing lab tags to {IMAGE} failed: {exc}") from None
    _spawn(lab, standin_config(lab))


def restart(lab: "Lab", **changes: Any) -> None:
    """Restart the stand-in with top-level config keys changed, e.g. ``throttle={"every": 1, "retry_after": 2}``
    (429 on demand) or ``delay_s=5`` (a slow GitLab): for faults that act on a running lab."""
    cfg = {**json.loads(config_path(lab).read_text()), **changes}
    lab.stop_component(NAME)
    _spawn(lab, cfg)


def params(lab: "Lab") -> dict[str, Any]:
    return {"gitlab_api_url": api_url(lab), "gitlab_token": f"file:{lab.secrets_dir / 'gitlab_token'}",
            "project": PROJECT, "group": GROUP}


register_component(Component(NAME, DEFAULT_PORT, start, params, order=60))
