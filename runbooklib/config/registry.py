"""The registry's own configuration, as diagnoses need it.

Three shapes of input carry it:

* Omnibus ``/var/opt/gitlab/registry/config.yml`` (written by ``gitlab-ctl reconfigure`` from gitlab.rb),
* a plain Distribution ``config.yml`` (source installs, the lab, a Helm ConfigMap's ``config.yml``),
* Helm values (``helm get values gitlab``), whose ``registry:`` block uses the chart's own keys.

All three become one frozen :class:`RegistryConfig`. Secrets stay inside it (a check may need them) but
never leave it: ``repr``, ``to_dict`` and ``evidence`` go through :func:`redact_config`.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml

from ._yaml import YamlDoc, as_bool, as_int, as_str, dig, load_yaml, mapping, parse_yaml
from .errors import ConfigError
from .redact import partial_mask, redact_config

S3_DEFAULT_CHUNKSIZE = 10 * 1024 * 1024  # Distribution's s3 driver default (and GitLab's fork)
S3_MIN_CHUNKSIZE = 5 * 1024 * 1024  # below this the s3 driver refuses to start
STORAGE_PARAMETERS = frozenset({"cache", "delete", "redirect", "maintenance", "tag"})  # storage keys that are no driver
HELM_DEBUG_PORT = 5001
HELM_SERVICE_PORT = 5000

def _freeze(value: Any) -> Any:
    """Read-only views of nested dicts/lists, so a frozen config cannot be changed behind its back."""
    if isinstance(value, dict):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value


# ---------------------------------------------------------------------------------------------- views


@dataclass(frozen=True)
class DebugServer:
    """``http.debug``: where ``/debug/health``, ``/debug/vars`` and (maybe) Prometheus metrics are served."""

    addr: str | None = None
    prometheus_enabled: bool = False
    prometheus_path: str | None = None


@dataclass(frozen=True)
class HttpConfig:
    """``http``: the listener clients (through NGINX) reach, and how the registry builds URLs."""

    addr: str | None = None
    net: str | None = None
    host: str | None = None
    prefix: str | None = None
    relativeurls: bool = False
    tls_certificate: str | None = None
    tls_key: str | None = None
    tls_clientcas: tuple[str, ...] = ()
    has_secret: bool = False
    draintimeout: str | None = None
    debug: DebugServer | None = None


@dataclass(frozen=True)
class TokenAuth:
    """``auth.token``: GitLab's token flow; ``rootcertbundle`` must hold the cert of GitLab's signing key."""

    realm: str | None = None
    service: str | None = None
    issuer: str | None = None
    rootcertbundle: str | None = None
    autoredirect: bool | None = None


@dataclass(frozen=True, repr=False)
class StorageConfig:
    """``storage``: the driver and the options that matter when pushes or pulls fail.

    ``options`` holds the driver's raw options, secrets included; display only ``redacted_options()``.
    """

    driver: str | None = None
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), compare=False, hash=False)
    bucket: str | None = None
    region: str | None = None
    regionendpoint: str | None = None
    rootdirectory: str | None = None
    accesskey: str | None = None
    has_secretkey: bool = False
    chunksize: int | None = None
    chunksize_defaulted: bool = False
    redirect_disabled: bool = False
    delete_enabled: bool = False
    readonly: bool = False
    other_drivers: tuple[str, ...] = ()

    def redacted_options(self) -> dict[str, Any]:
        return redact_config(_thaw(self.options))

    def to_dict(self) -> dict[str, Any]:
        return {
            "driver": self.driver,
            "options": self.redacted_options(),
            "bucket": self.bucket,
            "region": self.region,
            "regionendpoint": self.regionendpoint,
            "rootdirectory": self.rootdirectory,
            "accesskey": partial_mask(self.accesskey) if self.accesskey else self.accesskey,
            "has_secretkey": self.has_secretkey,
            "chunksize": self.chunksize,
            "chunksize_defaulted": self.chunksize_defaulted,
            "redirect_disabled": self.redirect_disabled,
            "delete_enabled": self.delete_enabled,
            "readonly": self.readonly,
            "other_drivers": list(self.other_drivers),
        }

    def __repr__(self) -> str:
        return f"StorageConfig({self.to_dict()!r})"


@dataclass(frozen=True)
class LogConfig:
    """``log``: what the registry writes, and whether access lines are in it."""

    level: str | None = None
    formatter: str | None = None
    accesslog_disabled: bool = False


@dataclass(frozen=True)
class NotificationEndpoint:
    """One ``notifications.endpoints`` entry: name and URL only (headers carry secrets)."""

    name: str | None
    url: str | None
    disabled: bool = False


@dataclass(frozen=True)
class HelmMapping:
    """One Helm values key and the config.yml key the chart renders it into."""

    helm_key: str
    config_key: str
    note: str = ""


@dataclass(frozen=True, repr=False)
class RegistryConfig:
    """What a registry config says, typed. ``flavour`` is ``omnibus``, ``distribution`` or ``helm``.

    ``defaulted`` lists config keys whose value is the registry's (or chart's) default, not the file's;
    ``notes`` says what looked odd while reading; ``helm_mappings`` which Helm keys fed which config keys.
    """

    source: str
    flavour: str
    version: str | None = None
    http: HttpConfig = field(default_factory=HttpConfig)
    auth_kind: str | None = None
    token: TokenAuth | None = None
    storage: StorageConfig = field(default_factory=StorageConfig)
    log: LogConfig = field(default_factory=LogConfig)
    schema1_enabled: bool = False
    health_storagedriver_enabled: bool | None = None
    health_storagedriver_interval: str | None = None
    health_storagedriver_threshold: int | None = None
    notifications: tuple[NotificationEndpoint, ...] = ()
    middleware: tuple[tuple[str, str], ...] = ()
    database_enabled: bool = False
    external_host: str | None = None
    defaulted: frozenset[str] = frozenset()
    default_values: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), compare=False, hash=False)
    env_overrides: tuple[str, ...] = ()
    helm_mappings: tuple[HelmMapping, ...] = ()
    notes: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), compare=False, hash=False)
    key_lines: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}), compare=False, hash=False)
    key_files: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), compare=False, hash=False)

    def get(self, key: str, default: Any = None) -> Any:
        """A raw (unredacted) value of the effective config by dotted key, e.g. ``storage.s3.bucket``."""
        cur: Any = self.raw
        for part in key.split("."):
            if isinstance(cur, Mapping) and part in cur:
                cur = cur[part]
            elif isinstance(cur, tuple) and part.isdigit() and int(part) < len(cur):
                cur = cur[int(part)]
            else:
                return default
        return _thaw(cur)

    def line_of(self, key: str) -> int | None:
        """The line that sets a dotted config key (for Helm: the values line it was mapped from)."""
        parts = key.split(".")
        while parts:
            line = self.key_lines.get(".".join(parts))
            if line:
                return line
            parts.pop()  # fall back to the enclosing block
        return None

    def file_of(self, key: str) -> str:
        """The file that sets a key: ``source``, or (Helm) the storage file given as ``helm_storage``."""
        parts = key.split(".")
        while parts:
            dotted = ".".join(parts)
            if dotted in self.key_files:
                return self.key_files[dotted]
            if dotted in self.key_lines:
                break
            parts.pop()
        return self.source

    def where(self, key: str) -> str:
        """``FILE:LINE`` of a dotted key, for findings' detail."""
        line = self.line_of(key)
        return f"{self.file_of(key)}:{line}" if line else self.file_of(key)

    def to_dict(self) -> dict[str, Any]:
        """Every typed field, secrets masked: safe for evidence, logs and reports."""
        return redact_config({
            "source": self.source,
            "flavour": self.flavour,
            "version": self.version,
            "http": {**_dc(self.http, "debug"), "debug": _dc(self.http.debug) if self.http.debug else None},
            "auth_kind": self.auth_kind,
            "token": _dc(self.token) if self.token else None,
            "storage": self.storage.to_dict(),
            "log": _dc(self.log),
            "schema1_enabled": self.schema1_enabled,
            "health_storagedriver": {"enabled": self.health_storagedriver_enabled,
                                     "interval": self.health_storagedriver_interval,
                                     "threshold": self.health_storagedriver_threshold},
            "notifications": [_dc(n) for n in self.notifications],
            "middleware": [list(m) for m in self.middleware],
            "database_enabled": self.database_enabled,
            "external_host": self.external_host,
            "defaulted": {k: self.default_values.get(k, self.get(k)) for k in sorted(self.defaulted)},
            "env_overrides": list(self.env_overrides),
            "helm_mappings": [_dc(m) for m in self.helm_mappings],
            "notes": list(self.notes),
        })

    def evidence(self, *keys: str) -> dict[str, Any]:
        """Small, redacted evidence: the named dotted keys with value, line and whether defaulted;
        with no keys, the whole typed view."""
        if not keys:
            return self.to_dict()
        out: dict[str, Any] = {"file": self.source, "flavour": self.flavour}
        for key in keys:
            value = self.get(key)
            if value is None and key in self.default_values:
                value = self.default_values[key]
            out[key] = {"value": redact_config(value, key.rsplit(".", 1)[-1]), "line": self.line_of(key),
                        "defaulted": key in self.defaulted}
            if self.file_of(key) != self.source:
                out[key]["file"] = self.file_of(key)
        return out

    def __repr__(self) -> str:
        d = self.to_dict()
        return (f"RegistryConfig(source={self.source!r}, flavour={self.flavour!r}, http={d['http']!r}, "
                f"token={d['token']!r}, storage={d['storage']!r}, log={d['log']!r}, notes={d['notes']!r})")


def _dc(obj: Any, *skip: str) -> dict[str, Any]:
    out = {}
    for name in obj.__dataclass_fields__:
        if name in skip:
            continue
        v = getattr(obj, name)
        out[name] = list(v) if isinstance(v, tuple) else v
    return out


# ---------------------------------------------------------------------------------------------- reading


def read_registry_config(
    path: str | Path, *, helm_storage: str | Path | None = None, env: Mapping[str, str] | None = None
) -> RegistryConfig:
    """Read a registry config.yml or Helm values file (the shape is detected) into a RegistryConfig.

    ``helm_storage``: for Helm, a file holding the ``storage`` block kept in the Kubernetes Secret that
    ``registry.storage.secret`` names (``kubectl get secret NAME -o jsonpath='{.data.config}' | base64 -d``).
    ``env``: ``REGISTRY_*`` variables the registry process sees (Omnibus ``registry['env']``); they override
    the file as Distribution does. Raises ConfigError (``FILE:LINE: ...``) for unreadable or invalid input.
    """
    doc = load_yaml(path)
    storage_doc = load_yaml(helm_storage) if helm_storage else None
    return _from_doc(doc, storage_doc, env)


def parse_registry_config(
    text: str, source: str = "<text>", *, helm_storage_text: str | None = None, env: Mapping[str, str] | None = None
) -> RegistryConfig:
    """Same as :func:`read_registry_config`, from text already in hand."""
    doc = parse_yaml(text, source)
    storage_doc = parse_yaml(helm_storage_text, f"{source} (helm storage)") if helm_storage_text is not None else None
    return _from_doc(doc, storage_doc, env)


_HELM_MARKERS = frozenset({"authEndpoint", "tokenService", "tokenIssuer", "authAutoRedirect", "certificate",
                           "httpSecret", "hpa", "image", "ingress", "deployment", "minReplicas", "maxReplicas"})
_CONFIG_MARKERS = frozenset({"version", "http", "auth", "storage", "log", "loglevel"})


def detect_flavour(data: Mapping[str, Any], text: str = "") -> str:
    """``helm`` for chart values, ``omnibus`` for a config.yml that gitlab-ctl wrote, else ``distribution``."""
    keys = set(data)
    reg = data.get("registry")
    if isinstance(reg, Mapping) and not (keys & _CONFIG_MARKERS):
        return "helm"
    if (keys & _HELM_MARKERS) and not (keys & {"version", "http", "auth"}):
        return "helm"
    if "gitlab-ctl" in text or "/var/opt/gitlab" in text or "omnibus-gitlab-issuer" in text:
        return "omnibus"
    return "distribution"


def _from_doc(doc: YamlDoc, storage_doc: YamlDoc | None, env: Mapping[str, str] | None) -> RegistryConfig:
    data = doc.data
    if data is None:
        raise ConfigError(doc.source, "is empty: no registry configuration in it", line=1)
    if not isinstance(data, dict):
        raise ConfigError(doc.source, f"top level is a {type(data).__name__}, not a mapping of settings", line=1)
    notes: list[str] = list(doc.duplicates)
    lines = {".".join(k): v for k, v in doc.lines.items()}
    text = doc.text

    # A Kubernetes ConfigMap (the chart renders config.yml into one): read the embedded file.
    if data.get("kind") == "ConfigMap" and isinstance(data.get("data"), dict):
        inner_key = next((k for k in ("config.yml", "config.yaml") if isinstance(data["data"].get(k), str)), None)
        if inner_key:
            base = doc.lines.get(("data", inner_key), 0)
            inner = parse_yaml(data["data"][inner_key], f"{doc.source} (data.{inner_key})")
            if not isinstance(inner.data, dict):
                raise ConfigError(doc.source, f"data.{inner_key} is not a mapping of settings", line=base or None)
            notes.append(f"read from the ConfigMap's data.{inner_key}; line numbers are approximate")
            notes.extend(inner.duplicates)
            data, text = inner.data, inner.text
            lines = {".".join(k): base + v for k, v in inner.lines.items()}

    flavour = detect_flavour(data, text)
    mappings: list[HelmMapping] = []
    defaulted: set[str] = set()
    external_host = None
    files: dict[str, str] = {}
    if flavour == "helm":
        cfg, lines, mappings, external_host = _helm_to_config(data, doc, storage_doc, defaulted, notes, files)
    else:
        cfg = copy.deepcopy(data)
        if storage_doc is not None:
            notes.append("helm_storage given but this is not a Helm values file: ignored")

    overrides = _apply_env(cfg, env or {}, notes)
    return _build(cfg, doc.source, flavour, lines, defaulted, notes, overrides, mappings, external_host, files)


def _apply_env(cfg: dict[str, Any], env: Mapping[str, str], notes: list[str]) -> tuple[str, ...]:
    """Distribution's ``REGISTRY_<SECTION>_<KEY>`` overrides: underscores are levels, values are YAML."""
    done = []
    for name in sorted(env):
        if not name.startswith("REGISTRY_") or name == "REGISTRY_CONFIGURATION_PATH":
            continue
        parts = [p for p in name[len("REGISTRY_"):].lower().split("_") if p]
        if not parts:
            continue
        try:
            value = yaml.safe_load(str(env[name]))
        except yaml.YAMLError:
            value = env[name]
        cur = cfg
        for p in parts[:-1]:
            if not isinstance(cur.get(p), dict):
                cur[p] = {}
            cur = cur[p]
        cur[parts[-1]] = value
        done.append(".".join(parts))
    if done:
        notes.append("overridden by REGISTRY_* environment: " + ", ".join(done))
    return tuple(done)


def _build(cfg: dict[str, Any], source: str, flavour: str, lines: dict[str, int], defaulted: set[str],
           notes: list[str], overrides: tuple[str, ...], mappings: list[HelmMapping],
           external_host: str | None, files: dict[str, str]) -> RegistryConfig:
    default_values: dict[str, Any] = {}
    # Misplaced keys that look right but that the registry ignores.
    if "level" in cfg:
        notes.append("top-level `level:` is not `log.level`: the registry ignores it (put it under `log:`)")
    log_section = mapping(cfg.get("log"))
    level = as_str(log_section.get("level"))
    if level is None and cfg.get("loglevel") is not None:
        level = as_str(cfg.get("loglevel"))
        notes.append("log level from the deprecated top-level `loglevel`")
    log = LogConfig(
        level=level,
        formatter=as_str(log_section.get("formatter")),
        accesslog_disabled=bool(as_bool(dig(log_section, "accesslog", "disabled"))),
    )
    if level is None:
        defaulted.add("log.level")
        default_values["log.level"] = "info"

    http_section = mapping(cfg.get("http"))
    dbg = http_section.get("debug") if isinstance(http_section.get("debug"), dict) else None
    debug = None
    if dbg is not None:
        debug = DebugServer(
            addr=as_str(dbg.get("addr")),
            prometheus_enabled=bool(as_bool(dig(dbg, "prometheus", "enabled"))),
            prometheus_path=as_str(dig(dbg, "prometheus", "path")),
        )
    tls = mapping(http_section.get("tls"))
    cas = tls.get("clientcas") or ()
    http = HttpConfig(
        addr=as_str(http_section.get("addr")),
        net=as_str(http_section.get("net")),
        host=as_str(http_section.get("host")),
        prefix=as_str(http_section.get("prefix")),
        relativeurls=bool(as_bool(http_section.get("relativeurls"))),
        tls_certificate=as_str(tls.get("certificate")),
        tls_key=as_str(tls.get("key")),
        tls_clientcas=tuple(str(c) for c in cas) if isinstance(cas, (list, tuple)) else (str(cas),),
        has_secret=bool(http_section.get("secret")),
        draintimeout=as_str(http_section.get("draintimeout")),
        debug=debug,
    )

    auth = cfg.get("auth")
    auth_kind = None
    token = None
    if isinstance(auth, dict) and auth:
        kinds = [str(k) for k in auth]
        auth_kind = kinds[0]
        if len(kinds) > 1:
            notes.append(f"more than one auth provider ({', '.join(kinds)}): the registry accepts only one")
        t = auth.get("token")
        if isinstance(t, dict):
            auth_kind = "token"
            token = TokenAuth(
                realm=as_str(t.get("realm")),
                service=as_str(t.get("service")),
                issuer=as_str(t.get("issuer")),
                rootcertbundle=as_str(t.get("rootcertbundle")),
                autoredirect=as_bool(t.get("autoredirect")),
            )
    elif auth is None:
        notes.append("no `auth` section: the registry accepts anonymous pushes and pulls")

    storage = _storage(cfg.get("storage"), defaulted, notes)

    health_sd = dig(cfg, "health", "storagedriver")
    health_sd = health_sd if isinstance(health_sd, dict) else {}

    endpoints = []
    eps = dig(cfg, "notifications", "endpoints")
    for ep in eps if isinstance(eps, list) else []:
        if isinstance(ep, dict):
            endpoints.append(NotificationEndpoint(as_str(ep.get("name")), as_str(ep.get("url")),
                                                  bool(as_bool(ep.get("disabled")))))

    middleware = []
    mw = cfg.get("middleware")
    for kind, entries in (mw.items() if isinstance(mw, dict) else ()):
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict):
                middleware.append((str(kind), str(entry.get("name"))))

    if dig(cfg, "compatibility", "schema1", "enabled") is None:
        defaulted.add("compatibility.schema1.enabled")
        default_values["compatibility.schema1.enabled"] = False
    if storage.chunksize_defaulted:
        default_values[f"storage.{storage.driver}.chunksize"] = storage.chunksize

    return RegistryConfig(
        source=source,
        flavour=flavour,
        version=as_str(cfg.get("version")),
        http=http,
        auth_kind=auth_kind,
        token=token,
        storage=storage,
        log=log,
        schema1_enabled=bool(as_bool(dig(cfg, "compatibility", "schema1", "enabled"))),
        health_storagedriver_enabled=as_bool(health_sd.get("enabled")),
        health_storagedriver_interval=as_str(health_sd.get("interval")),
        health_storagedriver_threshold=as_int(health_sd.get("threshold")),
        notifications=tuple(endpoints),
        middleware=tuple(middleware),
        database_enabled=bool(as_bool(dig(cfg, "database", "enabled"))),
        external_host=external_host,
        defaulted=frozenset(defaulted),
        default_values=MappingProxyType(default_values),
        env_overrides=overrides,
        helm_mappings=tuple(mappings),
        notes=tuple(notes),
        raw=_freeze(cfg),
        key_lines=MappingProxyType(dict(lines)),
        key_files=MappingProxyType(files),
    )


def _storage(st: Any, defaulted: set[str], notes: list[str]) -> StorageConfig:
    if isinstance(st, str):  # REGISTRY_STORAGE=s3 style: a driver with no options
        return StorageConfig(driver=st)
    if not isinstance(st, dict):
        if st is None:
            notes.append("no `storage` section: the registry will not start without a storage driver")
        return StorageConfig()
    drivers = [str(k) for k in st if k not in STORAGE_PARAMETERS]
    driver = drivers[0] if drivers else None
    if len(drivers) > 1:
        notes.append(f"more than one storage driver ({', '.join(drivers)}): the registry refuses to start")
    opts = st.get(driver) if driver else None
    opts = opts if isinstance(opts, dict) else {}
    chunksize = None
    chunk_defaulted = False
    if driver and driver.startswith("s3"):
        raw_chunk = opts.get("chunksize")
        chunksize = as_int(raw_chunk)
        if raw_chunk is None:
            chunksize, chunk_defaulted = S3_DEFAULT_CHUNKSIZE, True
            defaulted.add(f"storage.{driver}.chunksize")
        elif chunksize is None:
            notes.append(f"storage.{driver}.chunksize {raw_chunk!r} is not a whole number: the registry refuses to start")
        elif chunksize < S3_MIN_CHUNKSIZE:
            notes.append(f"storage.{driver}.chunksize {chunksize} is below the 5 MiB minimum: the registry refuses to start")
    elif opts.get("chunksize") is not None:
        chunksize = as_int(opts.get("chunksize"))
    return StorageConfig(
        driver=driver,
        options=_freeze(copy.deepcopy(opts)),
        bucket=as_str(opts.get("bucket") or opts.get("container")),
        region=as_str(opts.get("region")),
        regionendpoint=as_str(opts.get("regionendpoint")),
        rootdirectory=as_str(opts.get("rootdirectory")),
        accesskey=as_str(opts.get("accesskey")),
        has_secretkey=bool(opts.get("secretkey")),
        chunksize=chunksize,
        chunksize_defaulted=chunk_defaulted,
        redirect_disabled=bool(as_bool(dig(st, "redirect", "disable"))),
        delete_enabled=bool(as_bool(dig(st, "delete", "enabled"))),
        readonly=bool(as_bool(dig(st, "maintenance", "readonly", "enabled"))),
        other_drivers=tuple(drivers[1:]),
    )


# ---------------------------------------------------------------------------------------------- Helm

# registry.<helm block> copied as is to <config block> (the chart renders these verbatim).
_HELM_BLOCKS = (
    ("log", "log"),
    ("health", "health"),
    ("notifications", "notifications"),
    ("middleware", "middleware"),
    ("compatibility", "compatibility"),
    ("validation", "validation"),
    ("database", "database"),
    ("gc", "gc"),
    ("reporting", "reporting"),
    ("redis", "redis"),
    ("maintenance", "storage.maintenance"),
)


def _set(cfg: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    cur = cfg
    for p in parts[:-1]:
        if not isinstance(cur.get(p), dict):
            cur[p] = {}
        cur = cur[p]
    cur[parts[-1]] = value


def _helm_to_config(data: dict[str, Any], doc: YamlDoc, storage_doc: YamlDoc | None, defaulted: set[str],
                    notes: list[str], files: dict[str, str]
                    ) -> tuple[dict[str, Any], dict[str, int], list[HelmMapping], str | None]:
    """Render the chart's registry values into the config.yml keys the chart would produce."""
    if "USER-SUPPLIED VALUES" in data:
        notes.append("`helm get values` output: only user-supplied values; chart defaults are filled in here")
    prefix: tuple[str, ...]
    if isinstance(data.get("registry"), dict):
        reg, prefix = data["registry"], ("registry",)
    else:  # the registry chart's own values (standalone)
        reg, prefix = data, ()
    glob = mapping(data.get("global"))
    cfg: dict[str, Any] = {"version": 0.1}
    lines: dict[str, int] = {}
    mappings: list[HelmMapping] = []

    def mapped(helm_keys: tuple[str, ...], config_key: str, value: Any, note: str = "", default: bool = False,
               line: int | None = None) -> None:
        _set(cfg, config_key, value)
        helm_key = ".".join(prefix + helm_keys)
        if default:
            note = f"{note} (chart default)" if note else "chart default"
        mappings.append(HelmMapping(helm_key, config_key, note))
        if default:
            defaulted.add(config_key)
        ln = line if line is not None else doc.lines.get(prefix + helm_keys)
        if ln:
            lines[config_key] = ln

    if reg.get("enabled") is False:
        notes.append(f"{'.'.join(prefix + ('enabled',))} is false: the chart deploys no registry")

    # auth.token.*
    hosts = mapping(glob.get("hosts"))
    https = as_bool(hosts.get("https"))
    scheme = "http" if https is False else "https"
    domain = as_str(hosts.get("domain"))
    gitlab_host = as_str(dig(hosts, "gitlab", "name")) or (f"gitlab.{domain}" if domain else None)
    registry_host = as_str(dig(hosts, "registry", "name")) or (f"registry.{domain}" if domain else None)
    endpoint = as_str(reg.get("authEndpoint"))
    if endpoint:
        mapped(("authEndpoint",), "auth.token.realm", endpoint.rstrip("/") + "/jwt/auth",
               "authEndpoint + /jwt/auth")
    elif gitlab_host:
        mapped(("authEndpoint",), "auth.token.realm", f"{scheme}://{gitlab_host}/jwt/auth",
               "from global.hosts (gitlab host) + /jwt/auth", default=True,
               line=doc.lines.get(("global", "hosts", "gitlab", "name")) or doc.lines.get(("global", "hosts", "domain")))
    else:
        notes.append("no authEndpoint and no global.hosts: the token realm is unknown here")
    for helm_key, key, default in (("tokenService", "service", "container_registry"),
                                   ("tokenIssuer", "issuer", "gitlab-issuer"),
                                   ("authAutoRedirect", "autoredirect", True)):
        if reg.get(helm_key) is not None:
            mapped((helm_key,), f"auth.token.{key}", reg[helm_key])
        else:
            mapped((helm_key,), f"auth.token.{key}", default, default=True)
    cert = mapping(reg.get("certificate"))
    gcert = dig(glob, "registry", "certificate") if isinstance(dig(glob, "registry", "certificate"), dict) else {}
    secret = as_str(cert.get("secret")) or as_str(gcert.get("secret")) or "gitlab-registry"
    key = as_str(cert.get("key")) or as_str(gcert.get("key")) or "registry-auth.crt"
    mapped(("certificate",), "auth.token.rootcertbundle", f"k8s-secret:{secret}/{key}",
           "a Kubernetes Secret, not a path: compare its certificate with GitLab's registry key",
           default=not (cert or gcert))

    # http.*
    port = as_int(dig(reg, "service", "internalPort")) or HELM_SERVICE_PORT
    mapped(("service", "internalPort"), "http.addr", f":{port}", default=dig(reg, "service", "internalPort") is None)
    if reg.get("relativeurls") is not None:
        mapped(("relativeurls",), "http.relativeurls", reg["relativeurls"])
    if reg.get("draintimeout") is not None:
        mapped(("draintimeout",), "http.draintimeout", reg["draintimeout"])
    hs = reg.get("httpSecret") if isinstance(reg.get("httpSecret"), dict) else dig(glob, "registry", "httpSecret")
    hs = hs if isinstance(hs, dict) else {}
    mapped(("httpSecret",), "http.secret",
           f"k8s-secret:{as_str(hs.get('secret')) or 'RELEASE-registry-httpsecret'}/{as_str(hs.get('key')) or 'secret'}",
           "a Kubernetes Secret reference", default=not hs)
    tls = mapping(reg.get("tls"))
    if as_bool(tls.get("enabled")):
        name = as_str(tls.get("secretName")) or "RELEASE-registry-tls"
        mapped(("tls", "secretName"), "http.tls.certificate", f"k8s-secret:{name}/tls.crt", "TLS on the registry Service")
        mapped(("tls", "secretName"), "http.tls.key", f"k8s-secret:{name}/tls.key")
    debug = mapping(reg.get("debug"))
    dport = as_int(dig(debug, "addr", "port"))
    mapped(("debug", "addr", "port"), "http.debug.addr", f":{dport or HELM_DEBUG_PORT}",
           "the chart always runs the debug server (probes use /debug/health)", default=dport is None)
    prom = mapping(debug.get("prometheus"))
    if prom:
        mapped(("debug", "prometheus", "enabled"), "http.debug.prometheus.enabled", prom.get("enabled", False))
        mapped(("debug", "prometheus", "path"), "http.debug.prometheus.path", prom.get("path", "/metrics"),
               default="path" not in prom)
    else:
        mapped(("debug", "prometheus", "enabled"), "http.debug.prometheus.enabled", False, default=True)

    # verbatim blocks
    for helm_block, config_block in _HELM_BLOCKS:
        if reg.get(helm_block) is None:
            continue
        value = copy.deepcopy(reg[helm_block])
        if config_block == "storage.maintenance" and isinstance(value, dict) and "readOnly" in value:
            value.setdefault("readonly", value.pop("readOnly"))  # the chart accepts both spellings
        mapped((helm_block,), config_block, value)
        base = prefix + (helm_block,)
        for path, ln in doc.lines.items():
            if path[: len(base)] == base and len(path) > len(base):
                lines[".".join((config_block,) + tuple(path[len(base):]))] = ln
    if reg.get("log") is None:
        mapped(("log",), "log", {"level": "info", "fields": {"service": "registry"}}, default=True)

    # storage: the chart keeps it in a Secret
    st = reg.get("storage")
    st = st if isinstance(st, dict) else {}
    storage: dict[str, Any] = {}
    if storage_doc is not None:
        if not isinstance(storage_doc.data, dict):
            raise ConfigError(storage_doc.source, "is not a mapping of storage settings", line=1)
        body = mapping(storage_doc.data.get("storage")) or storage_doc.data
        storage = copy.deepcopy(body)
        notes.extend(storage_doc.duplicates)
        notes.append(f"storage read from {storage_doc.source}")
        for path, ln in storage_doc.lines.items():
            p = path[1:] if path[:1] == ("storage",) and body is not storage_doc.data else path
            if p:
                dotted = ".".join(("storage",) + tuple(p))
                lines[dotted] = ln
                files[dotted] = storage_doc.source
        files["storage"] = storage_doc.source
        lines.setdefault("storage", 1)
    elif any(k not in ("secret", "key", "extraKey") for k in st):  # storage written inline (standalone use)
        storage = {k: copy.deepcopy(v) for k, v in st.items() if k not in ("secret", "key", "extraKey")}
    elif st.get("secret"):
        notes.append(f"storage settings are in Kubernetes Secret {st['secret']!r} (key {st.get('key') or 'config'!r}): "
                     "pass its contents as helm_storage to read the driver")
    elif as_bool(dig(glob, "minio", "enabled")) is not False:
        storage = {"s3": {"bucket": as_str(dig(glob, "registry", "bucket")) or "registry", "regionendpoint": "(bundled MinIO)"}}
        notes.append("no registry.storage: the chart points the registry at its bundled MinIO (s3 driver)")
        defaulted.add("storage.s3")
    if st.get("secret"):
        mappings.append(HelmMapping(".".join(prefix + ("storage", "secret")), "storage",
                                    f"k8s-secret:{st['secret']}/{st.get('key') or 'config'}"))
        if doc.lines.get(prefix + ("storage", "secret")):
            lines.setdefault("storage", doc.lines[prefix + ("storage", "secret")])
    if storage:
        if "delete" not in storage:  # the chart adds this unless the user set it
            storage["delete"] = {"enabled": True}
            defaulted.add("storage.delete.enabled")
        if isinstance(cfg.get("storage"), dict):  # maintenance mapped above
            storage = {**storage, **cfg["storage"]}
        cfg["storage"] = storage

    return cfg, lines, mappings, registry_host
