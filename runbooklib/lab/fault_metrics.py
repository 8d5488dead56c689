"""Debug server faults (seed: "Enable the Registry debug server", "Prometheus metrics").

* ``debug-exposed``: the debug server listens on every interface (``0.0.0.0:<port>``) instead of loopback,
  so it also answers on this host's other addresses; gitlab.rb's stand-in says the same.
* ``storage-down``: the S3 server is stopped after the lab is up; the registry's storage health check
  (interval 2 s, threshold 2) then fails, /debug/health names the driver error and /v2/ answers 503.
* ``debug-logging`` (seed: "Enable registry debug logs"): config.yml says ``log.level: debug`` while the
  gitlab.rb stand-in keeps ``registry['log_level'] = 'info'``: GitLab's documented temporary Omnibus edit.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

import httpx

from .faults import Fault, register

if TYPE_CHECKING:
    from .control import Lab

EXPOSED_HOST = "0.0.0.0"
HEALTH_WAIT_S = 20.0


def _expose_debug(lab: "Lab", cfg: dict[str, Any]) -> None:
    cfg["http"]["debug"]["addr"] = f"{EXPOSED_HOST}:{lab.ports['debug']}"


def _expose_debug_in_gitlab_rb(lab: "Lab") -> None:
    """Keep the gitlab.rb stand-in truthful: Omnibus renders config.yml's debug addr from it."""
    path = lab.gitlab_rb_path
    if not path.exists():
        return
    text = re.sub(r"registry\['debug_addr'\] = \"[^\"]*\"",
                  f"registry['debug_addr'] = \"{EXPOSED_HOST}:{lab.ports['debug']}\"", path.read_text())
    path.write_text(text)


def _stop_storage(lab: "Lab") -> None:
    """Stop moto and wait until the registry's health check says so (so the lab is in its faulted state)."""
    lab.stop_component("s3")
    url = lab.url("debug") + "/debug/health"
    deadline = time.monotonic() + HEALTH_WAIT_S
    last = ""
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url, timeout=2, trust_env=False)
            if r.status_code == 503:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            last = str(exc)
        time.sleep(0.2)
    raise RuntimeError(f"storage-down: /debug/health did not fail within {HEALTH_WAIT_S:.0f} s ({last})")


def _debug_logging(lab: "Lab", cfg: dict[str, Any]) -> None:
    cfg.setdefault("log", {})["level"] = "debug"


register(Fault("debug-exposed", "the debug server listens on every interface (0.0.0.0) instead of loopback", registry_config=_expose_debug, after_start=_expose_debug_in_gitlab_rb))
register(Fault("storage-down", "the S3 server is stopped: storage health check fails, /v2/ answers 503", after_start=_stop_storage))
register(Fault("debug-logging", "the registry logs at debug level (a hand edit of config.yml; gitlab.rb says info)", registry_config=_debug_logging))
