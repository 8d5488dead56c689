"""One registry as the probes see it: its URL and the credentials that belong to it, as one value.

Six loose arguments (URL, user, password, service, realm, insecure-realm switch) let a call pair one registry's
URL with another's password; one frozen value keeps the credentials with the registry they are for.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

DEFAULT_SERVICE = "container_registry"


@dataclass(frozen=True)
class RegistryEndpoint:
    """A registry and its credentials. The credentials travel with the registry they belong to (each probe
    still sends them only to that registry's token realm, see ``realm_policy``); ``repr`` never shows the
    password, so the value can be printed, logged or put in a finding's evidence safely."""

    url: str
    username: str = ""
    password: str = field(default="", repr=False)
    service: str = DEFAULT_SERVICE
    realm_url: str = ""
    allow_insecure_realm: bool = False

    @classmethod
    def from_params(cls, values: Mapping[str, Any]) -> "RegistryEndpoint":
        """The endpoint named by resolved parameters (``registry_url``, ``username``, ``password``, ``service``,
        ``realm_url``, ``allow_insecure_realm``); a parameter the scenario lacks takes the default, so every
        scenario can build one whatever subset of these it takes."""
        service = values.get("service")
        return cls(
            url=str(values.get("registry_url") or ""),
            username=str(values.get("username") or ""),
            password=str(values.get("password") or ""),
            service=DEFAULT_SERVICE if service is None else str(service),
            realm_url=str(values.get("realm_url") or ""),
            allow_insecure_realm=bool(values.get("allow_insecure_realm") or False),
        )

    @property
    def base(self) -> str:
        """The URL without a trailing slash, for joining ``/v2/...`` paths."""
        return self.url.rstrip("/")
