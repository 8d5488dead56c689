"""Redis blob-descriptor cache faults (issue #19, `redis-cache-down`). Each starts the lab's own Debian
``redis-server`` (a private config on a free loopback port, ``requirepass``, no persistence; never the system
service) and points the registry's ``storage.cache.blobdescriptor: redis`` and ``redis:`` section at it:

* ``redis-cache-down``: Redis is stopped once the lab is up;
* ``redis-auth-refused``: the registry's ``redis.password`` is not Redis's ``requirepass`` (``WRONGPASS``).

Then blob HEADs of the seeded image go through the registry, so its log holds the cache errors and it falls
back to the storage for every descriptor (slower, not broken: the pulls still answer 200).
"""

from __future__ import annotations

import os
import secrets
import shutil
import time
from typing import TYPE_CHECKING, Any

import httpx

from . import procs
from .faults import Fault, register

if TYPE_CHECKING:
    from .control import Lab

NAME = "redis"
WAIT_S = 20.0


def redis_dir(lab: "Lab"):
    return lab.state_dir / "redis"


def _start_redis(lab: "Lab") -> int:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.path.exists(binary):
        from .control import LabError

        raise LabError("redis-server is not installed (apt-get install redis-server, or `make setup`)")
    port = int(lab.options.get("redis_port") or procs.free_port())
    folder = redis_dir(lab)
    folder.mkdir(parents=True, exist_ok=True)
    password = secrets.token_hex(16)
    (lab.secrets_dir / "redis_password").write_text(password + "\n")
    os.chmod(lab.secrets_dir / "redis_password", 0o600)
    conf = folder / "redis.conf"
    conf.write_text("\n".join([
        "# the lab's own Redis (runbooklib.lab.fault_redis): loopback, no persistence, a password",
        "bind 127.0.0.1", f"port {port}", "protected-mode yes", "daemonize no", f"dir {folder}", 'save ""',
        "appendonly no", "logfile \"\"", f"requirepass {password}", "",
    ]))
    os.chmod(conf, 0o600)
    proc = lab.spawn(NAME, [binary, str(conf)], lab.state_dir / "logs" / "redis.log")
    procs.wait_for_port(port, 10.0, proc, "redis-server")
    lab.options["redis_port"] = port
    return port


def _configure(lab: "Lab", cfg: dict[str, Any], registry_password: str | None) -> None:
    port = int(lab.options["redis_port"]) if NAME in lab.pids else _start_redis(lab)  # one Redis for both faults
    if registry_password is None and isinstance(cfg.get("redis"), dict):
        return  # the other Redis fault configured it already (with its wrong password)
    password = registry_password if registry_password is not None else lab.secret("redis_password")
    cfg["storage"]["cache"] = {"blobdescriptor": "redis"}
    cfg["redis"] = {"addr": f"127.0.0.1:{port}", "password": password, "db": 0, "dialtimeout": "100ms",
                    "readtimeout": "100ms", "writetimeout": "100ms",
                    "pool": {"maxidle": 4, "maxactive": 16, "idletimeout": "300s"}}


def _cache_down_config(lab: "Lab", cfg: dict[str, Any]) -> None:
    _configure(lab, cfg, None)


def _auth_refused_config(lab: "Lab", cfg: dict[str, Any]) -> None:
    _configure(lab, cfg, "not-" + secrets.token_hex(12))


def _token(lab: "Lab", scope_name: str) -> str:
    """A pull token signed with the key the registry trusts (the realm may be faulted by another fault)."""
    from ..tokens import libtrust_key_id, sign_jwt
    from .control import ISSUER, SERVICE, USERNAME
    from .pki import load_key

    key = load_key(lab.issuer_key_path)
    now = int(time.time())
    claims = {"iss": ISSUER, "sub": USERNAME, "aud": SERVICE, "iat": now, "nbf": now - 5, "exp": now + 300,
              "jti": secrets.token_hex(8), "access": [{"type": "repository", "name": scope_name, "actions": ["pull"]}]}
    return sign_jwt({"typ": "JWT", "alg": "RS256", "kid": libtrust_key_id(key.public_key())}, claims, key)


def read_blobs(lab: "Lab", rounds: int = 2) -> list[int]:
    """HEAD every blob of the seeded image through the registry (each a blob-descriptor lookup); the statuses."""
    import json

    from .control import SEED_IMAGE

    layout = lab.state_dir / "oci" / "image"
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads((layout / "blobs" / "sha256" / index["manifests"][0]["digest"].split(":", 1)[1]).read_bytes())
    digests = [manifest["config"]["digest"]] + [layer["digest"] for layer in manifest["layers"]]
    headers = {"Authorization": f"Bearer {_token(lab, SEED_IMAGE)}"}
    statuses = []
    with httpx.Client(timeout=5, trust_env=False, verify=False) as client:
        for _ in range(rounds):
            for digest in digests:
                try:
                    statuses.append(client.head(f"{lab.url('registry')}/v2/{SEED_IMAGE}/blobs/{digest}",
                                                headers=headers).status_code)
                except httpx.HTTPError:
                    statuses.append(0)
    return statuses


def _wait_for_log(lab: "Lab", needle: str) -> None:
    deadline = time.monotonic() + WAIT_S
    current = lab.registry_log_dir / "current"
    while time.monotonic() < deadline:
        read_blobs(lab, rounds=1)
        try:
            if needle in current.read_text(errors="replace"):
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"redis fault: the registry logged no {needle!r} within {WAIT_S:.0f} s")


def _stop_redis(lab: "Lab") -> None:
    lab.stop_component(NAME)
    _wait_for_log(lab, "error connecting to redis instance")


def _after_auth_refused(lab: "Lab") -> None:
    _wait_for_log(lab, "WRONGPASS")


register(Fault("redis-cache-down", "the registry's Redis blob-descriptor cache (the lab's own redis-server) is "
               "stopped: the registry falls back to storage",
               registry_config=_cache_down_config, after_start=_stop_redis))
register(Fault("redis-auth-refused", "the registry's redis.password is not Redis's requirepass (WRONGPASS): the "
               "cache is never used", registry_config=_auth_refused_config,
               after_start=_after_auth_refused))
