"""`runbook discover`: a parameter file derived from an Omnibus host's own files, so triage needs no typing.

Omnibus keeps everything at fixed paths. Each value written says where it came from; each value that could
not be derived is written as a comment saying why and what to put there. Secrets are written only as
references (``yaml:<config.yml>#storage.s3.secretkey``), never as values.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import RunbookError
from .config import ConfigError, read_gitlab_rb, read_gitlab_yml, read_registry_config

OMNIBUS_PATHS = {
    "gitlab_rb": "etc/gitlab/gitlab.rb",
    "registry_config": "var/opt/gitlab/registry/config.yml",
    "gitlab_config": "var/opt/gitlab/gitlab-rails/etc/gitlab.yml",
    "nginx_config": "var/opt/gitlab/nginx/conf/gitlab-registry.conf",
}
OMNIBUS_LOG_DIRS = ("var/log/gitlab/registry", "var/log/gitlab/gitlab-rails", "var/log/gitlab/nginx")


class DiscoveryError(RunbookError, ValueError):
    """Nothing usable under the root (one line naming the root)."""


@dataclass
class Discovery:
    """What was derived (``values`` with their ``sources``) and what was not (``missing`` with the reason)."""

    root: Path
    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def set(self, name: str, value: Any, source: str) -> None:
        if name not in self.values and value not in (None, "", []):
            self.values[name] = value
            self.sources[name] = source
            self.missing.pop(name, None)

    def lack(self, name: str, why: str) -> None:
        if name not in self.values:
            self.missing.setdefault(name, why)


def _regular_file(path: Path) -> bool:
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return False


def _listen_url(addr: str) -> str:
    """``host:port`` / ``:port`` as the registry's listeners write them -> ``http://host:port``."""
    host, _, port = addr.rpartition(":")
    if host in ("", "0.0.0.0", "[::]", "::"):
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def _strip_slash(url: str) -> str:
    return url.rstrip("/")


def discover(root: str | Path = "/") -> Discovery:
    """Read the standard Omnibus locations under ``root`` and derive every parameter they determine."""
    root = Path(root)
    if not root.is_dir():
        raise DiscoveryError(f"discover: root {root} is not a folder")
    d = Discovery(root)
    paths = {name: root / rel for name, rel in OMNIBUS_PATHS.items()}
    for name, path in paths.items():
        if _regular_file(path):
            d.set(name, str(path), "found at the Omnibus location")
        else:
            d.lack(name, f"{path} not found (not an Omnibus host, or another layout: set the path by hand)")
    logs = [str(root / rel) for rel in OMNIBUS_LOG_DIRS if (root / rel).is_dir()]
    d.set("log_paths", logs, "Omnibus log folders")
    d.lack("log_paths", f"no folder under {root / 'var/log/gitlab'}")
    if not d.values:
        raise DiscoveryError(f"discover: no Omnibus file under {root} (looked for {', '.join(OMNIBUS_PATHS.values())})")

    rb = _read(d, "gitlab_rb", read_gitlab_rb)
    reg = _read(d, "registry_config", read_registry_config)
    gyml = _read(d, "gitlab_config", read_gitlab_yml)

    if rb is not None and rb.registry_external_url:
        d.set("registry_url", _strip_slash(rb.registry_external_url), f"{rb.source}:{rb.line_of('registry_external_url')} registry_external_url")
    if gyml is not None and gyml.host:
        port = f":{gyml.port}" if gyml.port and gyml.port not in (80, 443) else ""
        scheme = "http" if gyml.port == 80 else "https"
        d.set("registry_url", f"{scheme}://{gyml.host}{port}", f"{gyml.where('host')} registry.host/port")
    if reg is not None and reg.http.addr:
        d.set("registry_url", _listen_url(reg.http.addr),
              f"{reg.where('http.addr')} http.addr (the registry's own listener: NGINX is bypassed)")
    d.lack("registry_url", "neither registry_external_url (gitlab.rb) nor registry.host (gitlab.yml) nor http.addr found")

    if reg is not None and reg.token is not None:
        d.set("realm_url", reg.token.realm or "", f"{reg.where('auth.token.realm')} auth.token.realm")
        d.set("service", reg.token.service or "", f"{reg.where('auth.token.service')} auth.token.service")
    if rb is not None and rb.external_url:
        d.set("realm_url", _strip_slash(rb.external_url) + "/jwt/auth", f"{rb.source} external_url + /jwt/auth")
        d.set("gitlab_api_url", _strip_slash(rb.external_url) + "/api/v4", f"{rb.source} external_url + /api/v4")
    d.lack("gitlab_api_url", "no external_url in gitlab.rb: set https://<gitlab host>/api/v4")

    if reg is not None and reg.http.debug is not None and reg.http.debug.addr:
        d.set("debug_url", _listen_url(reg.http.debug.addr), f"{reg.where('http.debug.addr')} http.debug.addr")
    if rb is not None and rb.registry("debug_addr"):
        d.set("debug_url", _listen_url(str(rb.registry("debug_addr"))), f"{rb.source} registry['debug_addr']")
    d.lack("debug_url", "no debug server configured (registry['debug_addr'] in gitlab.rb enables it)")

    _storage(d, reg)
    d.lack("username", "a GitLab user for the token flow (any user that can pull)")
    d.lack("password", "that user's password or personal access token, as env:NAME or file:PATH")
    d.lack("gitlab_token", "a token with read_api for the GitLab API runbooks, as env:NAME or file:PATH")
    d.lack("ca_bundle", "the CA that signed the registry's certificate, if clients do not trust it by default")
    return d


def _read(d: Discovery, name: str, reader: Any) -> Any:
    path = d.values.get(name)
    if not path:
        return None
    try:
        return reader(path)
    except ConfigError as exc:
        d.problems.append(str(exc))
        return None


def _storage(d: Discovery, reg: Any) -> None:
    if reg is None:
        d.lack("s3_bucket", "no registry config.yml to read the storage from")
        return
    st = reg.storage
    if st.driver != "s3":
        d.lack("s3_bucket", f"the registry stores on {st.driver or 'the default filesystem'} driver, not S3")
        return
    where = reg.where("storage.s3")
    d.set("s3_bucket", st.bucket or "", f"{where} storage.s3.bucket")
    d.set("s3_region", st.region or "", f"{where} storage.s3.region")
    d.set("s3_endpoint", st.regionendpoint or "", f"{where} storage.s3.regionendpoint")
    d.set("s3_root", (st.rootdirectory or "").strip("/"), f"{where} storage.s3.rootdirectory")
    config = d.values["registry_config"]
    if st.accesskey:
        d.set("s3_access_key", f"yaml:{config}#storage.s3.accesskey", "a reference into the registry's config.yml")
    if st.has_secretkey:
        d.set("s3_secret_key", f"yaml:{config}#storage.s3.secretkey", "a reference into the registry's config.yml")
    d.lack("s3_access_key", "no keys in config.yml: the registry uses an instance profile / IAM role (boto3's chain)")


def render_params(d: Discovery) -> str:
    """The parameter file: each derived value with a comment naming its source; each missing one commented."""
    lines = [f"# Written by `runbook discover --root {d.root}`: review it, then `runbook triage -f THIS -o DIR`.",
             "# Every value names where it came from; secrets are references, never values."]
    for problem in d.problems:
        lines.append(f"# could not read: {problem}")
    for name, value in d.values.items():
        lines.append(f"# {d.sources[name]}")
        lines.append(yaml.safe_dump({name: value}, default_flow_style=False, sort_keys=False).rstrip())
    if d.missing:
        lines.append("")
        lines.append("# Not derived (set these by hand where they apply):")
        for name, why in d.missing.items():
            lines.append(f"# {name}:   # {why}")
    return "\n".join(lines) + "\n"
