"""Notification faults (issue #19, `notifications`): the registry notifies GitLab's
``/api/v4/container_registry_event/events`` (served by the lab's GitLab stand-in), and GitLab never gets the events.

* ``notification-secret-mismatch``: config.yml's ``notifications.endpoints[].headers.Authorization`` (and
  gitlab.rb's ``registry['notification_secret']``) differ from GitLab's ``registry.notification_secret``
  (gitlab.yml / ``gitlab_rails['registry_notification_secret']``): every POST answers 401, the registry retries
  the same event forever and its queue grows.
* ``notification-endpoint-down``: the secrets match, but the endpoint URL is a loopback port where nothing listens:
  every POST fails with ``connection refused``.

Both add ``ignore: actions: [pull]`` as GitLab's API accepts only push and delete events. The hooks wait until the
registry's ``/debug/vars`` counts the failure, so the lab is in its faulted state when ``lab up`` returns.
"""

from __future__ import annotations

import os
import secrets
import time
from typing import TYPE_CHECKING, Any

import httpx

from . import procs
from .component_gitlab import EVENTS_PATH, NOTIFICATION_SECRET
from .faults import Fault, register

if TYPE_CHECKING:
    from .control import Lab

ENDPOINT_NAME = "gitlab-rails"
REGISTRY_SECRET = "notification_secret_registry"
WAIT_S = 25.0


def _write(lab: "Lab", name: str, value: str) -> None:
    path = lab.secrets_dir / name
    path.write_text(value + "\n")
    os.chmod(path, 0o600)


def _configure(lab: "Lab", cfg: dict[str, Any], url: str, registry_side: str, rails_side: str) -> None:
    _write(lab, REGISTRY_SECRET, registry_side)
    _write(lab, NOTIFICATION_SECRET, rails_side)
    endpoint = {"name": ENDPOINT_NAME, "url": url, "timeout": "500ms", "threshold": 3, "backoff": "1s"}
    lab.options["notification_endpoint"] = endpoint
    cfg["notifications"] = {"endpoints": [{**endpoint, "headers": {"Authorization": [registry_side]},
                                           "ignore": {"actions": ["pull"]}}]}


def _secret_mismatch(lab: "Lab", cfg: dict[str, Any]) -> None:
    _configure(lab, cfg, lab.url("gitlab") + EVENTS_PATH, "registry-" + secrets.token_hex(16),
               "gitlab-" + secrets.token_hex(16))


def _endpoint_down(lab: "Lab", cfg: dict[str, Any]) -> None:
    shared = secrets.token_hex(20)
    _configure(lab, cfg, f"http://127.0.0.1:{procs.free_port()}{EVENTS_PATH}", shared, shared)


def _wait_for(counter: str):
    def wait(lab: "Lab") -> None:
        """Until the registry's /debug/vars counts a failed delivery (the events of the seeding push)."""
        url = lab.url("debug") + "/debug/vars"
        deadline = time.monotonic() + WAIT_S
        last = "no answer"
        while time.monotonic() < deadline:
            try:
                data = httpx.get(url, timeout=2, trust_env=False).json()
                eps = data["registry"]["notifications"]["endpoints"] or []
                metrics = next(e["Metrics"] for e in eps if e.get("name") == ENDPOINT_NAME)
                if metrics.get(counter, 0) > 0:
                    return
                last = f"{counter} = {metrics.get(counter)}"
            except (httpx.HTTPError, ValueError, KeyError, TypeError, StopIteration) as exc:
                last = f"{type(exc).__name__}: {exc}"
            time.sleep(0.25)
        raise RuntimeError(f"notifications: the registry counted no {counter} within {WAIT_S:.0f} s ({last})")
    return wait


register(Fault("notification-secret-mismatch", "the registry's notification Authorization header differs from "
               "GitLab's registry notification_secret: every event POST answers 401",
               registry_config=_secret_mismatch, after_start=_wait_for("Failures")))
register(Fault("notification-endpoint-down", "the registry notifies a GitLab URL where nothing listens "
               "(connection refused)", registry_config=_endpoint_down,
               after_start=_wait_for("Errors")))
