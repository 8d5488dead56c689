"""Configuration readers: the registry's config.yml (Omnibus, Distribution or Helm values), gitlab.yml's
registry section and gitlab.rb (parsed as literals, never executed). Every view keeps secrets to itself:
``repr``, ``to_dict`` and ``evidence`` pass through :func:`redact_config`."""

from ._ruby import RubySymbol
from .checks import check_config_readable, load_config
from .errors import ConfigError
from .gitlab_rb import GitLabRb, NotUnderstood, parse_gitlab_rb, read_gitlab_rb
from .gitlab_yml import GitLabRegistrySettings, parse_gitlab_yml, read_gitlab_yml
from .redact import is_secret_key, redact_config
from .registry import (
    DebugServer,
    HelmMapping,
    HttpConfig,
    LogConfig,
    NotificationEndpoint,
    RegistryConfig,
    StorageConfig,
    TokenAuth,
    parse_registry_config,
    read_registry_config,
)

__all__ = [
    "ConfigError", "check_config_readable", "load_config", "redact_config", "is_secret_key",
    "RegistryConfig", "HttpConfig", "DebugServer", "TokenAuth", "StorageConfig", "LogConfig",
    "NotificationEndpoint", "HelmMapping", "read_registry_config", "parse_registry_config",
    "GitLabRegistrySettings", "read_gitlab_yml", "parse_gitlab_yml",
    "GitLabRb", "NotUnderstood", "RubySymbol", "read_gitlab_rb", "parse_gitlab_rb",
]
