"""GitLab's side of the registry link: the ``registry:`` section of gitlab.yml.

GitLab signs registry tokens with ``key`` under the name ``issuer``, and talks to the registry at
``api_url``; the registry must trust that key (``rootcertbundle``) and expect that issuer. This reader
gives those values, with lines, so a check can compare them with the registry's config.yml.

Where it sits: ``production:`` → ``registry:`` (a sibling of ``gitlab:``). Omnibus writes
``production: &base`` and other environments inherit with ``<<: *base``; YAML merges are followed.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

from ..redact import MASK
from ._yaml import YamlDoc, as_bool, as_int, as_str, load_yaml, parse_yaml
from .errors import ConfigError
from .redact import redact_config

DEFAULT_ENVIRONMENT = "production"
OMNIBUS_GITLAB_YML = "/var/opt/gitlab/gitlab-rails/etc/gitlab.yml"


@dataclass(frozen=True, repr=False)
class GitLabRegistrySettings:
    """``<environment>.registry`` of gitlab.yml. ``present`` is False when the section is missing or empty
    (GitLab then treats the registry as disabled). ``path`` is the registry storage path GitLab uses;
    ``source`` is the gitlab.yml read. ``notification_secret`` is masked; compare with
    :meth:`notification_secret_matches`."""

    source: str
    environment: str
    present: bool
    enabled: bool = False
    host: str | None = None
    port: int | None = None
    api_url: str | None = None
    key: str | None = None
    issuer: str | None = None
    path: str | None = None
    notes: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), compare=False, hash=False)
    key_lines: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}), compare=False, hash=False)
    _notification_secret: str | None = field(default=None, compare=False, hash=False)

    @property
    def notification_secret(self) -> str | None:
        """``[REDACTED]`` when set, else the empty value as written (None or "")."""
        return MASK if self._notification_secret else self._notification_secret

    @property
    def has_notification_secret(self) -> bool:
        return bool(self._notification_secret)

    def notification_secret_matches(self, other: str | None) -> bool:
        """Does ``other`` (e.g. the registry's notification Authorization header) equal the secret?
        Compared in constant time; the secret itself never leaves this object."""
        if not self._notification_secret or not other:
            return False
        return hmac.compare_digest(str(self._notification_secret).encode(), str(other).encode())

    @property
    def host_port(self) -> str | None:
        """``host:port`` as docker clients address the registry (host alone when no port)."""
        if not self.host:
            return None
        return f"{self.host}:{self.port}" if self.port else self.host

    def line_of(self, name: str) -> int | None:
        """Line of a registry setting (``key``, ``issuer``...) or of the ``registry:`` header for ``registry``."""
        return self.key_lines.get(name)

    def where(self, name: str) -> str:
        line = self.line_of(name)
        return f"{self.source}:{line}" if line else self.source

    def to_dict(self) -> dict[str, Any]:
        return redact_config({
            "source": self.source,
            "environment": self.environment,
            "present": self.present,
            "enabled": self.enabled,
            "host": self.host,
            "port": self.port,
            "api_url": self.api_url,
            "key": self.key,
            "issuer": self.issuer,
            "path": self.path,
            "notification_secret": self.notification_secret,
            "notes": list(self.notes),
        })

    def evidence(self, *names: str) -> dict[str, Any]:
        """Redacted evidence: the named settings with their lines, or everything when none are named."""
        if not names:
            return self.to_dict()
        d = self.to_dict()
        return {"file": self.source, **{n: {"value": d.get(n), "line": self.line_of(n)} for n in names}}

    def __repr__(self) -> str:
        return f"GitLabRegistrySettings({self.to_dict()!r})"


def read_gitlab_yml(path: str | Path = OMNIBUS_GITLAB_YML, environment: str = DEFAULT_ENVIRONMENT) -> GitLabRegistrySettings:
    """Read gitlab.yml's registry section for ``environment``. ConfigError for unreadable/invalid files."""
    return _from_doc(load_yaml(path), environment)


def parse_gitlab_yml(text: str, source: str = "<text>", environment: str = DEFAULT_ENVIRONMENT) -> GitLabRegistrySettings:
    """Same as :func:`read_gitlab_yml`, from text already in hand."""
    return _from_doc(parse_yaml(text, source), environment)


_ERB = re.compile(r"<%")


def _from_doc(doc: YamlDoc, environment: str) -> GitLabRegistrySettings:
    data = doc.data
    if data is None:
        raise ConfigError(doc.source, "is empty", line=1)
    if not isinstance(data, dict):
        raise ConfigError(doc.source, f"top level is a {type(data).__name__}, not a mapping", line=1)
    notes = [d for d in doc.duplicates if "registry" in d]
    erb = [i + 1 for i, line in enumerate(doc.text.splitlines()) if _ERB.search(line)]
    if erb:
        notes.append(f"ERB tags (<% %>) at lines {', '.join(map(str, erb[:10]))} are not evaluated here; "
                     "GitLab renders them at boot")

    prefix: tuple[str, ...]
    if isinstance(data.get(environment), dict):
        section, prefix = data[environment], (environment,)
    elif environment not in data and "registry" in data and "gitlab" not in data:
        section, prefix = data, ()
        notes.append(f"no `{environment}:` key: read as a bare fragment of gitlab.yml")
    else:
        envs = [k for k, v in data.items() if isinstance(v, dict)]
        notes.append(f"no `{environment}:` section (found: {', '.join(map(str, envs)) or 'none'})")
        return GitLabRegistrySettings(doc.source, environment, False, notes=tuple(notes))

    reg = section.get("registry")
    if not isinstance(reg, dict):
        misplaced = section.get("gitlab", {}).get("registry") if isinstance(section.get("gitlab"), dict) else None
        if isinstance(misplaced, dict):
            notes.append(f"`registry:` is under `{'.'.join(prefix + ('gitlab',))}:`, where GitLab does not look: "
                         f"it belongs directly under `{environment}:`")
        elif "registry" in section:
            notes.append("`registry:` is present but empty (all settings commented out): the registry is disabled")
        else:
            notes.append("no `registry:` section: GitLab treats the container registry as disabled")
        return GitLabRegistrySettings(doc.source, environment, False, notes=tuple(notes),
                                      key_lines=MappingProxyType(_lines(doc, prefix)))

    enabled = as_bool(reg.get("enabled"))
    if reg.get("enabled") is not None and enabled is None:
        notes.append(f"registry.enabled is {reg.get('enabled')!r}, not a boolean")
    port_raw = reg.get("port")
    port = as_int(port_raw)
    if port_raw not in (None, "") and port is None:
        notes.append(f"registry.port {port_raw!r} is not a number")
    key = as_str(reg.get("key"))
    if key and not key.startswith("/"):
        notes.append(f"registry.key {key!r} is relative: GitLab resolves it from the Rails root (e.g. /home/git/gitlab)")
    secret = reg.get("notification_secret")
    return GitLabRegistrySettings(
        source=doc.source,
        environment=environment,
        present=True,
        enabled=bool(enabled),
        host=as_str(reg.get("host")),
        port=port,
        api_url=as_str(reg.get("api_url")),
        key=key,
        issuer=as_str(reg.get("issuer")),
        path=as_str(reg.get("path")),
        notes=tuple(notes),
        raw=MappingProxyType(dict(reg)),
        key_lines=MappingProxyType(_lines(doc, prefix)),
        _notification_secret=None if secret is None else str(secret),
    )


def _lines(doc: YamlDoc, prefix: tuple[str, ...]) -> dict[str, int]:
    base = prefix + ("registry",)
    out = {}
    if base in doc.lines:
        out["registry"] = doc.lines[base]
    for path, line in doc.lines.items():
        if len(path) == len(base) + 1 and path[: len(base)] == base:
            out[path[-1]] = line
    return out
