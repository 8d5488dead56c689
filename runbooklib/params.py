"""Parameters: one vocabulary for every notebook, validated before anything runs.

Secret parameters never carry values: only ``env:NAME``, ``file:PATH`` or ``yaml:PATH#dotted.key``
references (the last one names a value inside a YAML file, e.g. the registry's own
``yaml:/var/opt/gitlab/registry/config.yml#storage.s3.secretkey``), resolved at run time inside the
kernel, so the value is never written into a notebook, a report or papermill's argv.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import DEFAULT_TIMEOUT_S, RunbookError
from .timebounds import parse_bound


class ParamError(RunbookError, ValueError):
    """Bad input from the user: one line that names what is wrong."""

    def _render_traceback_(self) -> list[str]:  # IPython (JupyterLab, papermill): the line, not a traceback
        return [f"{type(self).__name__}: {self}"]


@dataclass(frozen=True)
class ParamSpec:
    """One parameter of the shared vocabulary."""

    name: str
    type: str  # str | int | float | bool | list
    default: Any = None
    description: str = ""
    secret: bool = False
    required: bool = False

    def required_for(self, required: bool) -> "ParamSpec":
        return ParamSpec(self.name, self.type, self.default, self.description, self.secret, required)


_V = [
    ParamSpec("registry_url", "str", "", "Registry URL as clients use it (scheme://host:port)"),
    ParamSpec("realm_url", "str", "", "Token realm (GitLab /jwt/auth); empty = taken from the registry's challenge"),
    ParamSpec("service", "str", "container_registry", "Token service name the registry expects"),
    ParamSpec("username", "str", "", "GitLab user for the token flow"),
    ParamSpec("password", "str", "", "Password or personal access token: env:NAME or file:PATH", secret=True),
    ParamSpec("ca_bundle", "str", "", "PEM bundle trusted for TLS; empty = system store"),
    ParamSpec("allow_insecure_realm", "bool", False,
              "Send username/password to a plain-http token realm that is not loopback (cleartext)"),
    ParamSpec("debug_url", "str", "", "Registry debug server (http.debug.addr) as a URL"),
    ParamSpec("prometheus_url", "str", "", "Prometheus server to query for registry metrics"),
    ParamSpec("log_paths", "list", [], "Log files, folders or globs to scan"),
    ParamSpec("since", "str", "", "Only events at or after this time (ISO 8601)"),
    ParamSpec("until", "str", "", "Only events before this time (ISO 8601)"),
    ParamSpec("registry_config", "str", "", "Registry config.yml"),
    ParamSpec("gitlab_config", "str", "", "gitlab.yml"),
    ParamSpec("gitlab_rb", "str", "", "/etc/gitlab/gitlab.rb"),
    ParamSpec("nginx_config", "str", "", "NGINX config for the registry"),
    ParamSpec("s3_bucket", "str", "", "S3 bucket of the registry storage"),
    ParamSpec("s3_region", "str", "", "S3 region"),
    ParamSpec("s3_endpoint", "str", "", "S3 endpoint URL (empty = AWS)"),
    ParamSpec("s3_root", "str", "", "storage.s3.rootdirectory"),
    ParamSpec("s3_access_key", "str", "", "env:NAME or file:PATH; empty = boto3's credential chain", secret=True),
    ParamSpec("s3_secret_key", "str", "", "env:NAME or file:PATH; empty = boto3's credential chain", secret=True),
    ParamSpec("gitlab_api_url", "str", "", "GitLab REST API base (https://host/api/v4)"),
    ParamSpec("gitlab_token", "str", "", "GitLab token: env:NAME or file:PATH", secret=True),
    ParamSpec("project", "str", "", "Project path or id"),
    ParamSpec("timeout_s", "float", DEFAULT_TIMEOUT_S, "Bound on every network call, in seconds"),
    # scenario-specific parameters (still one name, one meaning everywhere)
    ParamSpec("write_probe", "bool", False, "S3: also test write actions on one probe key under a dedicated prefix"),
    ParamSpec("apply", "bool", False, "Apply the cleanup plan (only with confirm_digest equal to the plan's digest)"),
    ParamSpec("confirm_digest", "str", "", "Digest of the plan to apply, as shown by the dry run"),
    ParamSpec("inventory", "str", "", "S3 Inventory manifest.json (s3://bucket/key or a local path) instead of LISTs"),
    ParamSpec("inventory_results", "str", "",
              "Folder of the CSV result sets Athena/Trino returned for `runbook inventory-sql` (instead of inventory)"),
    ParamSpec("memory_limit", "str", "1GiB", "Memory DuckDB may use to read an inventory (beyond it, it spills to disk)"),
    ParamSpec("spill_dir", "str", "", "Where an inventory is spilled and downloaded (a private subfolder, removed "
              "afterwards); empty = the system's temp folder"),
    ParamSpec("top_n", "int", 20, "How many rows the top-N tables show"),
    ParamSpec("metrics_path", "str", "/metrics", "Prometheus path on the debug server"),
    ParamSpec("interval", "float", 10.0, "Seconds between two metric scrapes (for rates)"),
    ParamSpec("tag", "str", "", "A tag to explain (why the cleanup policy keeps or deletes it)"),
    ParamSpec("group", "str", "", "Group path or id (scan all its projects)"),
    ParamSpec("policy_keep_n", "int", None, "Override the policy's keep_n"),
    ParamSpec("policy_older_than", "str", "", "Override the policy's older_than (7d, 14d, 30d, 90d)"),
    ParamSpec("policy_name_regex", "str", "", "Override the policy's name_regex (delete)"),
    ParamSpec("policy_name_regex_keep", "str", "", "Override the policy's name_regex_keep"),
    ParamSpec("canary_push", "bool", False, "Push a small canary image (and delete it) to test the push path"),
    ParamSpec("har_file", "str", "", "A HAR capture (browser or mitmdump) to analyse hop by hop"),
    ParamSpec("repository", "str", "", "Registry repository (image path, e.g. group/project/app) to ask pull and "
              "push tokens for"),
    ParamSpec("gc_output", "str", "", "Output of `registry garbage-collect` (dry run or real), saved to a file"),
    ParamSpec("proxy_configs", "list", [], "NGINX configs of the proxies in front of the registry's NGINX (load "
              "balancer, ingress), outermost first"),
]
VOCABULARY: dict[str, ParamSpec] = {p.name: p for p in _V}

# Injected by the runner, never by the user: where the notebook writes its findings.json.
FINDINGS_PATH = "findings_path"


REFERENCE_KINDS = ("env:", "file:", "yaml:")
_MAX_SECRET_FILE = 1 << 20  # a secret or a config file holding one: anything larger is not what was meant


def is_reference(value: str) -> bool:
    return isinstance(value, str) and value.startswith(REFERENCE_KINDS)


def _read_small_file(name: str, path: Path, what: str) -> str:
    import stat

    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise ParamError(f"parameter {name!r}: {what} {path} is not a regular file")
        with open(path, "rb") as fh:
            data = fh.read(_MAX_SECRET_FILE + 1)
    except OSError as exc:
        raise ParamError(f"parameter {name!r}: cannot read {what} {path}: {exc.strerror}") from None
    if len(data) > _MAX_SECRET_FILE:
        raise ParamError(f"parameter {name!r}: {what} {path} is larger than {_MAX_SECRET_FILE >> 20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ParamError(f"parameter {name!r}: {what} {path} is not UTF-8 text") from None


def _yaml_value(name: str, path: Path, dotted: str) -> str:
    import yaml  # here, not at the top: the log scanner's CLI imports this module and never reads YAML

    text = _read_small_file(name, path, "config file")
    try:
        cur: Any = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ParamError(f"parameter {name!r}: {path} is not valid YAML") from None
    for part in dotted.split("."):
        if not isinstance(cur, dict) or part not in cur:
            raise ParamError(f"parameter {name!r}: {path} has no key {dotted}")
        cur = cur[part]
    if cur is None or isinstance(cur, (dict, list)):
        raise ParamError(f"parameter {name!r}: {path} key {dotted} is not a single value")
    return str(cur)


def resolve_secret(name: str, ref: str, base: Path | None = None) -> str:
    """Turn ``env:NAME`` / ``file:PATH`` into the secret's value; empty stays empty."""
    if ref in ("", None):
        return ""
    if not is_reference(ref):
        raise ParamError(f"parameter {name!r} is a secret: give env:NAME, file:PATH or yaml:PATH#key, not a value")
    kind, _, target = ref.partition(":")
    if not target:
        raise ParamError(f"parameter {name!r}: empty {kind}: reference")
    if kind == "env":
        if target not in os.environ:
            raise ParamError(f"parameter {name!r}: environment variable {target} is not set")
        return os.environ[target]
    dotted = ""
    if kind == "yaml":
        target, _, dotted = target.rpartition("#")
        if not target or not dotted:
            raise ParamError(f"parameter {name!r}: a yaml: reference is yaml:PATH#dotted.key")
    path = Path(os.path.expanduser(target))
    if not path.is_absolute() and base is not None:
        path = base / path
    if kind == "yaml":
        return _yaml_value(name, path, dotted)
    return _read_small_file(name, path, "secret file").strip("\r\n")


# Parameters that are URLs (scheme http/https and a host); the first ones name a server root, not a page.
URL_PARAMS = ("registry_url", "debug_url", "prometheus_url", "s3_endpoint", "realm_url", "gitlab_api_url")
ROOT_URL_PARAMS = ("registry_url", "debug_url", "s3_endpoint")
TIME_PARAMS = ("since", "until")
# Parameters naming one file that must be there (checked by the CLI before a run; a notebook opened by hand
# reports a missing file as a finding instead)
FILE_PARAMS = ("registry_config", "gitlab_config", "gitlab_rb", "nginx_config", "har_file", "ca_bundle", "gc_output")


def check_files_exist(values: Mapping[str, Any]) -> None:
    """ParamError naming the first file parameter whose path does not exist (or is a folder)."""
    for name in FILE_PARAMS:
        value = values.get(name)
        if not value:
            continue
        path = Path(os.path.expanduser(str(value)))
        if not path.exists():
            raise ParamError(f"parameter {name!r}: {path} not found")
        if path.is_dir():
            raise ParamError(f"parameter {name!r}: {path} is a folder, not a file")


def check_value(name: str, value: Any, source: str = "") -> None:
    """ParamError (one line naming the parameter) for a URL or time that cannot be what was meant."""
    if value in ("", None):
        return
    where = f"parameter {name!r}" + (f" ({source})" if source else "")
    if name in URL_PARAMS:
        from urllib.parse import urlsplit

        text = str(value)
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError as exc:
            raise ParamError(f"{where}: {text!r} is not a URL ({exc})") from None
        if parts.scheme not in ("http", "https"):
            hint = "add the scheme, e.g. https://" + text if "://" not in text else "use http:// or https://"
            raise ParamError(f"{where}: {text!r} needs the scheme http:// or https:// ({hint})")
        if not parts.hostname:
            raise ParamError(f"{where}: {text!r} has no host")
        if name in ROOT_URL_PARAMS and parts.path not in ("", "/"):
            raise ParamError(f"{where}: {text!r} has a path ({parts.path}); give the server's address only, "
                             "e.g. " + f"{parts.scheme}://{parts.netloc}")
    elif name in TIME_PARAMS:
        try:
            parse_bound(value)
        except (ValueError, OverflowError, OSError) as exc:
            raise ParamError(f"{where}: {exc}") from None


def _coerce(spec: ParamSpec, value: Any, source: str) -> Any:
    where = f"parameter {spec.name!r} ({source})"
    if value is None:
        return spec.default
    t = spec.type
    if t == "str":
        if isinstance(value, (dict, list)):
            raise ParamError(f"{where}: expected a string, got {type(value).__name__}")
        return str(value)
    if t == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "1", "false", "no", "0"):
            return value.lower() in ("true", "yes", "1")
        raise ParamError(f"{where}: expected true or false, got {value!r}")
    if t in ("int", "float"):
        if value == "" and spec.default is None:
            return None
        if isinstance(value, bool):
            raise ParamError(f"{where}: expected a number, got {value!r}")
        try:
            number = float(value) if t == "float" else int(value)
        except (TypeError, ValueError):
            raise ParamError(f"{where}: expected a number, got {value!r}") from None
        if number < 0:
            raise ParamError(f"{where}: must not be negative, got {value!r}")
        return number
    if t == "list":
        if isinstance(value, str):
            return [value] if value else []
        if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
            return [str(v) for v in value]
        raise ParamError(f"{where}: expected a list of strings, got {value!r}")
    raise AssertionError(t)


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML parameter file: a mapping of vocabulary names to values."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParamError(f"parameter file {p} not found") from None
    except OSError as exc:
        raise ParamError(f"parameter file {p}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise ParamError(f"parameter file {p}:{line} is not valid YAML") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ParamError(f"parameter file {p} must be a mapping of name: value")
    return data


def parse_override(value: str) -> Any:
    """`-p NAME VALUE` as papermill reads it: YAML scalars and lists, else the raw string."""
    import yaml

    try:
        return yaml.safe_load(value) if value.strip() else ""
    except yaml.YAMLError:
        return value


def validate(
    schema: Mapping[str, ParamSpec],
    file_values: Mapping[str, Any] | None = None,
    overrides: Iterable[tuple[str, Any]] = (),
    scenario: str = "",
    file_base: Path | None = None,
) -> dict[str, Any]:
    """Merge defaults, a parameter file and overrides into validated values (secrets stay references).

    A parameter file is shared across scenarios, so it may hold vocabulary names this scenario does not
    use (they are dropped); a name outside the vocabulary is an error. An override must be a name of this
    scenario's schema.
    """
    label = f" for {scenario}" if scenario else ""
    valid = ", ".join(sorted(schema))
    values: dict[str, Any] = {name: spec.default for name, spec in schema.items()}
    sources: dict[str, str] = {}
    for name, raw in (file_values or {}).items():
        if name not in VOCABULARY and name not in schema:
            raise ParamError(f"unknown parameter {name!r} in parameter file{label} (valid: {valid})")
        if name in schema:
            values[name] = raw
            sources[name] = "parameter file"
    for name, raw in overrides:
        if name not in schema:
            raise ParamError(f"unknown parameter {name!r}{label} (valid: {valid})")
        values[name] = raw
        sources[name] = "-p"
    out: dict[str, Any] = {}
    for name, spec in schema.items():
        value = _coerce(spec, values[name], sources.get(name, "default"))
        if spec.secret and value not in ("", None):
            if not is_reference(value):
                raise ParamError(
                    f"parameter {name!r} is a secret: give env:NAME, file:PATH or yaml:PATH#key, never the value itself"
                )
            if value.startswith(("file:", "yaml:")) and file_base is not None and sources.get(name) == "parameter file":
                target = os.path.expanduser(value[5:])
                if not os.path.isabs(target):
                    value = value[:5] + str((file_base / target).resolve())
        if spec.required and value in ("", None, []):
            raise ParamError(f"parameter {name!r} is required{label}")
        check_value(name, value, sources.get(name, ""))
        out[name] = value
    return out


def resolve_all(schema: Mapping[str, ParamSpec], values: Mapping[str, Any]) -> dict[str, Any]:
    """Values with secret references replaced by the secrets (for use inside the kernel only)."""
    return {
        name: resolve_secret(name, values.get(name, ""), None) if spec.secret else values.get(name)
        for name, spec in schema.items()
    }


def secret_values(schema: Mapping[str, ParamSpec], values: Mapping[str, Any]) -> list[str]:
    """The resolved secret values, for the redaction pass over every artifact."""
    found = []
    for name, spec in schema.items():
        if spec.secret:
            try:
                value = resolve_secret(name, values.get(name, ""), None)
            except ParamError:
                continue
            if value:
                found.append(value)
    return found


def referenced_secrets(file_values: Mapping[str, Any], overrides: Iterable[tuple[str, Any]] = (),
                       file_base: Path | None = None) -> list[str]:
    """Every secret the run was handed, for any scenario: a parameter file is shared, so a runbook that does
    not take `s3_secret_key` may still meet it (in a config file, a log) and must mask it too."""
    found = []
    for name, value in list((file_values or {}).items()) + list(overrides):
        spec = VOCABULARY.get(name)
        if not spec or not spec.secret or not is_reference(value):
            continue
        ref = value
        if ref.startswith(("file:", "yaml:")) and file_base is not None and not os.path.isabs(os.path.expanduser(ref[5:])):
            ref = ref[:5] + str(file_base / os.path.expanduser(ref[5:]))
        try:
            secret = resolve_secret(name, ref)
        except ParamError:
            continue
        if secret:
            found.append(secret)
    return found
