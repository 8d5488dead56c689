"""The running registry process: found by the config file it serves, its environment read from /proc.

Settings can live outside config.yml: Omnibus's ``registry['env']`` and Helm's ``extraEnv`` become the
process environment (``REGISTRY_HTTP_RELATIVEURLS``, ``GODEBUG``...). Only the process shows what is in effect.
Reading another user's ``/proc/<pid>/environ`` needs root; then the answer is "unknown", never a guess.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from .registry import RegistryConfig

REGISTRY_BINARIES = ("registry", "docker-registry", "gitlab-registry")


def process_cmdline(pid: int) -> str:
    """The command line of a process, "" when it is gone or unreadable."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def process_alive(pid: int, expect_cmd: str = "") -> bool:
    """Alive, not a zombie, and (when given) still the command we started: PIDs get reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    if state in ("Z", "X"):
        return False
    # `in`, not startswith: some programs retitle themselves (nginx: "nginx: master process /usr/sbin/nginx ...")
    return not expect_cmd or expect_cmd in process_cmdline(pid)


def find_registry_processes(config_path: str = "") -> list[dict[str, Any]]:
    """Running registry processes (``<binary> serve <config>``), matched on the config path when given."""
    want = os.path.realpath(os.path.expanduser(config_path)) if config_path else ""
    out = []
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in argv if a]
        if "serve" not in args:
            continue
        if want:
            if not any(os.path.realpath(a) == want for a in args if a.startswith(("/", "~", "."))):
                continue
        elif os.path.basename(args[0]) not in REGISTRY_BINARIES:
            continue
        out.append({"pid": int(entry), "cmdline": " ".join(args)[:200]})
    return out


def process_environment(pid: int) -> dict[str, str] | None:
    """The environment a process started with; None when it cannot be read (another user, no /proc)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return None
    env = {}
    for item in raw.split(b"\0"):
        if b"=" in item:
            k, _, v = item.partition(b"=")
            env[k.decode(errors="replace")] = v.decode(errors="replace")
    return env


def registry_env(config_path: str) -> dict[str, str] | None:
    """``REGISTRY_*`` variables of the registry serving ``config_path`` (None: no such process here, or
    its environment is not readable)."""
    for proc in find_registry_processes(config_path)[:3] if config_path else []:
        env = process_environment(proc["pid"])
        if env is not None:
            return {k: v for k, v in env.items() if k.startswith("REGISTRY_")}
    return None


def effective_relativeurls(registry: RegistryConfig | None) -> tuple[bool, str]:
    """``http.relativeurls`` as the running registry sees it: config.yml, overridden by the process's
    ``REGISTRY_HTTP_RELATIVEURLS`` (Omnibus ``registry['env']``). Returns (value, where it came from)."""
    base = bool(getattr(getattr(registry, "http", None), "relativeurls", False))
    where = "config.yml"
    env = registry_env(getattr(registry, "source", "") or "") if registry is not None else None
    if env and "REGISTRY_HTTP_RELATIVEURLS" in env:
        try:
            value = yaml.safe_load(env["REGISTRY_HTTP_RELATIVEURLS"])
        except yaml.YAMLError:
            value = env["REGISTRY_HTTP_RELATIVEURLS"]
        return value is True or str(value).lower() == "true", "REGISTRY_HTTP_RELATIVEURLS in the registry's environment"
    return base, where
