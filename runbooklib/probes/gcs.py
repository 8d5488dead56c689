"""Push failures and high CPU with Google Cloud Storage: is the registry talking HTTP/2 to GCS?

GitLab's documented workaround is ``GODEBUG=http2client=0`` in the registry's environment. It can be set in
several places and only one counts: the environment of the running process. We look at all of them:
Omnibus ``registry['env']`` in gitlab.rb (and the runit env folder it generates), Helm ``registry.extraEnv``,
and ``/proc/<pid>/environ`` of the registry process serving the given config (when readable), then at the
symptoms in the logs (HTTP/2 stream errors, 502s).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..config.gitlab_rb import GitLabRb
from ..config.registry import RegistryConfig
from ..findings import Finding, Status
from ..config.procenv import find_registry_processes, process_environment  # noqa: F401  (re-exported for callers)

SEED_GCS = "Push failures and high CPU usage with Google Cloud Storage (GCS)"
OMNIBUS_ENV_DIR = "/opt/gitlab/etc/registry/env"
OMNIBUS_CONFIG = "/var/opt/gitlab/registry/config.yml"
REMEDY = (
    "Disable HTTP/2 between the registry and GCS with `GODEBUG=http2client=0` in the registry's environment:\n"
    "- Omnibus: `registry['env'] = { \"GODEBUG\" => \"http2client=0\" }` in /etc/gitlab/gitlab.rb (merge with "
    "existing entries), then `gitlab-ctl reconfigure` (it restarts the registry).\n"
    "- Helm: `registry.extraEnv: { GODEBUG: \"http2client=0\" }`, then `helm upgrade`.\n"
    "- Source: start the registry with `GODEBUG=http2client=0` (systemd `Environment=`, Docker `-e`).\n"
    "See container-registry issue 1425."
)


def disables_http2(godebug: str | None) -> bool:
    """Does a GODEBUG value turn the HTTP/2 client off (``http2client=0`` among comma-separated settings)?"""
    if not godebug:
        return False
    return any(part.strip().replace(" ", "") == "http2client=0" for part in str(godebug).split(","))


def helm_extra_env(path: str) -> dict[str, str] | None:
    """``registry.extraEnv`` (or top-level ``extraEnv`` of the registry chart) from Helm values; None when the
    file is not Helm values."""
    from ..config._yaml import load_yaml
    from ..config.errors import ConfigError

    try:
        data = load_yaml(path).data
    except ConfigError:
        return None
    if not isinstance(data, dict):
        return None
    reg = data.get("registry") if isinstance(data.get("registry"), dict) else None
    block = (reg or {}).get("extraEnv", data.get("extraEnv") if reg is None else None)
    if block is None:
        return {} if reg is not None else None
    if isinstance(block, dict):
        return {str(k): str(v) for k, v in block.items()}
    if isinstance(block, list):  # [{name, value}] as in a container spec
        return {str(e.get("name")): str(e.get("value", "")) for e in block if isinstance(e, dict) and e.get("name")}
    return {}


def _driver(registry: RegistryConfig | None, gitlab_rb: GitLabRb | None) -> tuple[str | None, str]:
    driver = getattr(getattr(registry, "storage", None), "driver", None)
    if driver and registry is not None:
        return driver, f"registry config ({registry.where('storage')})"
    if gitlab_rb is not None:
        d, _ = gitlab_rb.registry_storage
        if d:
            where = gitlab_rb.where("registry['storage']")
            return d, f"gitlab.rb registry['storage'] ({where})"
    return None, ""


def check_gcs_http2(registry: RegistryConfig | None = None, gitlab_rb: GitLabRb | None = None, registry_config: str = "", scan: Any = None,
                    env_dir: str = OMNIBUS_ENV_DIR) -> list[Finding]:
    """GCS storage + where GODEBUG is set (and whether the running process has it) + log symptoms."""
    refs = (SEED_GCS,)
    driver, driver_from = _driver(registry, gitlab_rb)
    if driver is None:
        return [Finding("gcs.driver_unknown", Status.SKIP, "Storage driver unknown",
                        detail="Give `registry_config` (config.yml or Helm values) or `gitlab_rb` to see the storage driver.", refs=refs)]
    if driver != "gcs":
        return [Finding("gcs.not_gcs", Status.SKIP, f"Storage driver is {driver}, not gcs",
                        detail=f"{driver_from}: this issue concerns the GCS driver only.", evidence={"driver": driver}, refs=refs)]
    sources: list[dict[str, Any]] = []
    if gitlab_rb is not None:
        env = gitlab_rb.registry_env
        where = gitlab_rb.where("registry['env']")
        sources.append({"source": f"gitlab.rb registry['env'] ({where})",
                        "GODEBUG": env.get("GODEBUG"), "kind": "config"})
    if registry_config:
        extra = helm_extra_env(registry_config)
        if extra is not None:
            sources.append({"source": f"Helm registry.extraEnv ({registry_config})", "GODEBUG": extra.get("GODEBUG"),
                            "kind": "config"})
    if env_dir and os.path.isdir(env_dir):
        try:
            value = Path(env_dir, "GODEBUG").read_text().strip()
        except OSError:
            value = None
        sources.append({"source": f"runit env folder {env_dir}/GODEBUG", "GODEBUG": value, "kind": "generated"})
    processes = find_registry_processes(registry_config or OMNIBUS_CONFIG)
    unreadable: list[int] = []
    for proc in processes[:5]:
        proc_env = process_environment(proc["pid"])
        if proc_env is None:
            unreadable.append(proc["pid"])
            continue
        sources.append({"source": f"process {proc['pid']} environment ({proc['cmdline'][:80]})",
                        "GODEBUG": proc_env.get("GODEBUG"), "kind": "process"})
    for s in sources:
        s["disables_http2"] = disables_http2(s["GODEBUG"])
    symptoms = _symptoms(scan)
    ev = {"driver": driver, "driver_from": driver_from, "sources": sources, "unreadable_pids": unreadable,
          "log_symptoms": symptoms}
    running = [s for s in sources if s["kind"] == "process"]
    configured = [s for s in sources if s["kind"] != "process" and s["disables_http2"]]
    found: list[Finding] = [Finding("gcs.driver", Status.OK, "Storage driver is gcs", detail=f"{driver_from}.",
                                    evidence={"driver": driver}, refs=refs)]
    if running and all(s["disables_http2"] for s in running):
        found.append(Finding("gcs.http2_disabled", Status.OK, "The running registry has GODEBUG=http2client=0",
                             detail="HTTP/2 to GCS is off in the process environment: GitLab's documented workaround is in effect.",
                             evidence=ev, refs=refs))
        return found
    if running and configured:
        found.append(Finding(
            "gcs.godebug_not_in_effect", Status.FAIL, "GODEBUG=http2client=0 is configured but not in effect",
            detail=f"Set in {configured[0]['source']}, but the running registry process has "
            f"GODEBUG={running[0]['GODEBUG']!r}: it was not restarted (or reads another config).", evidence=ev,
            remedy="Apply the change: Omnibus `gitlab-ctl reconfigure` (then `gitlab-ctl restart registry`); Helm "
            "`helm upgrade` and let the registry pods roll; source: restart the service.", refs=refs))
        return found
    if configured:
        where = configured[0]["source"]
        note = (f" The process environment could not be read (pid {', '.join(map(str, unreadable))}: run as "
                "root to confirm)." if unreadable else " The running process was not found here (run this on the "
                "registry's host to confirm it is in effect).")
        found.append(Finding("gcs.http2_disabled_in_config", Status.OK, "GODEBUG=http2client=0 is configured",
                             detail=f"Set in {where}.{note}", evidence=ev, refs=refs))
        return found
    count = symptoms.get("gcs-http2-error", 0) + symptoms.get("http-502", 0)
    detail = ("The registry uses GCS and nothing sets `GODEBUG=http2client=0`"
              + (f" (looked at: {', '.join(s['source'] for s in sources)})" if sources else "") + ".")
    if count:
        detail += (f" The logs show the symptom: {symptoms.get('gcs-http2-error', 0)} HTTP/2 stream error line(s) "
                   f"and {symptoms.get('http-502', 0)} 502 answer(s).")
    else:
        detail += " No HTTP/2 errors or 502s in the logs scanned" + ("" if scan is not None else " (no logs given)") + \
                  ": pushes of large images may still fail with 502 and CPU spikes."
    found.append(Finding("gcs.http2_in_use", Status.FAIL if count else Status.WARN,
                         "The registry talks HTTP/2 to GCS", detail=detail, evidence=ev, remedy=REMEDY, refs=refs))
    return found


def _symptoms(scan: Any) -> dict[str, int]:
    stats = getattr(scan, "stats", None) or {}
    return {k: stats[k].count for k in ("gcs-http2-error", "http-502") if k in stats and stats[k].count}
