"""The catalogue: every troubleshooting scenario, its notebook, its parameters and whether it is built."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any
from pathlib import Path

from .params import VOCABULARY, ParamSpec
from .resources import notebook_dir

NOTEBOOK_DIR: Path = notebook_dir()  # package data: the same lookup installed, pipx'd or in a checkout

_COMMON = ("timeout_s",)


DOCS_PAGE = "https://docs.gitlab.com/administration/packages/container_registry_troubleshooting/"


def doc_anchor(heading: str) -> str:
    """The anchor docs.gitlab.com gives a heading: lower case, punctuation dropped, each space a hyphen."""
    kept = "".join(ch for ch in heading.lower() if ch.isalnum() or ch in " -_")
    return kept.replace(" ", "-")


@dataclass(frozen=True)
class Route:
    """A finding id pattern (fnmatch) at or above a status sends the SRE to a scenario."""

    finding: str
    why: str
    statuses: tuple[str, ...] = ("fail", "error", "warn")
    scenario: str = ""  # filled from the scenario that lists the route


@dataclass(frozen=True)
class Scenario:
    """One runbook, all in one place: what the SRE sees (title, the GitLab section it comes from), what it takes
    (parameters), which findings send triage to it (routes) and which lab faults reproduce it (or why none can).

    The notebook's outline (tools/outlines/) holds only narrative and steps; the title and the documentation
    link come from here. tests/test_scenario_spec.py holds every table that names a scenario to this one."""

    id: str
    title: str
    seed_section: str  # the heading on GitLab's troubleshooting page, or "Beyond the troubleshooting page: ..."
    params: tuple[str, ...]
    required: tuple[str, ...] = ()
    symptoms: tuple[str, ...] = field(default_factory=tuple)
    anchor: str | None = None  # None: derived from seed_section; "": the page's top (its "before investigating")
    routes: tuple[Route, ...] = ()
    faults: tuple[str, ...] = ()  # lab faults (runbooklib/lab/fault_*.py) that reproduce it
    no_fault: str = ""  # why no lab fault can reproduce it, when none does

    @property
    def built(self) -> bool:
        """A scenario is built when its notebook exists (made by tools/make_notebooks.py from its outline)."""
        return self.notebook.exists()

    @property
    def notebook(self) -> Path:
        return NOTEBOOK_DIR / f"{self.id}.ipynb"

    @property
    def schema(self) -> dict[str, ParamSpec]:
        names = tuple(dict.fromkeys(self.params + _COMMON))
        return {n: VOCABULARY[n].required_for(n in self.required) for n in names}

    @property
    def beyond_the_page(self) -> bool:
        return self.seed_section.startswith("Beyond the troubleshooting page")

    @property
    def doc_url(self) -> str:
        """Where GitLab documents it: the section's address on docs.gitlab.com ("" beyond the page)."""
        if self.beyond_the_page:
            return ""
        anchor = doc_anchor(self.seed_section) if self.anchor is None else self.anchor
        return DOCS_PAGE + (f"#{anchor}" if anchor else "")


_HTTP = ("registry_url", "realm_url", "service", "username", "password", "ca_bundle", "allow_insecure_realm")
_S3 = ("s3_bucket", "s3_region", "s3_endpoint", "s3_root", "s3_access_key", "s3_secret_key")
_CONFIGS = ("registry_config", "gitlab_config", "gitlab_rb")
_LOGS = ("log_paths", "since", "until")
_R = Route

_SPECS: list[Scenario] = [
    Scenario(
        "triage",
        "Triage: before investigating",
        "Before investigating (clock, forwarding, token flow, health)",
        _HTTP + ("debug_url", "nginx_config", "proxy_configs", "canary_push", "registry_config") + _LOGS,
        required=("registry_url",),
        symptoms=("anything is wrong with the registry and you do not know where to start",),
        anchor="",
        faults=("clock-skew",),
    ),
    Scenario("logs", "Registry, NGINX and GitLab logs", "Before investigating: check the logs", _LOGS,
             required=("log_paths",), anchor="",
             no_fault="every lab fault leaves its own log lines; the log runbook reads them (tests/test_logs_lab.py)"),
    Scenario("s3-permissions", "S3 permissions, credentials and region",
             "Before investigating: IAM permissions and S3 credentials", _S3 + ("registry_config", "write_probe"),
             anchor="", faults=("s3-bad-secret", "s3-missing-permissions"),
             routes=(_R("health.storage_driver", "the storage driver's health check fails"),)),
    Scenario("bucket-metrics", "Bucket health and metrics", "Storage (bucket metrics)",
             _S3 + ("registry_config", "inventory", "top_n", "inventory_results", "memory_limit", "spill_dir"),
             anchor="", faults=("stale-uploads",)),
    Scenario("x509-unknown-authority", "x509: certificate signed by unknown authority",
             "Error: x509: certificate signed by unknown authority", _HTTP + _CONFIGS + _LOGS,
             required=("registry_url",), anchor="error--x509-certificate-signed-by-unknown-authority",
             faults=("self-signed-tls",),
             routes=(_R("tls.*.self_signed", "the registry presents a self-signed certificate"),
                     _R("tls.*.unknown_ca", "the registry's CA is not trusted"),
                     _R("tls.*.missing_intermediate", "the chain lacks its intermediate"),
                     _R("tls.*.verify_failed", "the registry's certificate is not accepted"))),
    Scenario("token-untrusted-key", "Token signed by untrusted key",
             "Docker login attempt fails with: 'token signed by untrusted key'", _HTTP + _CONFIGS + _LOGS,
             required=("registry_url",), faults=("untrusted-token-key",),
             routes=(_R("token.invalid_token", "the registry rejects GitLab's tokens (invalid_token)"),
                     _R("trust.*", "signing key, issuer or service disagree"))),
    Scenario("missing-registry-key", "Missing gitlab-registry.key",
             "Missing gitlab-registry.key prevents container repository deletion", _HTTP + _CONFIGS + _LOGS,
             faults=("missing-registry-key",),
             routes=(_R("token.realm_bad_answer", "GitLab's /jwt/auth fails to issue a token"),
                     _R("registry_key.*", "gitlab-registry.key is missing or unusable"))),
    Scenario("s3-push-unexpected-eof", "Large pushes fail with unexpected EOF on S3",
             "AWS S3 with the GitLab registry error when pushing large images",
             _S3 + ("registry_config", "gitlab_rb") + _LOGS,
             no_fault="the EOF comes from AWS S3 itself under large multipart uploads; moto_server does not cut "
                      "connections, so the runbook is tested on configs and recorded log lines"),
    Scenario("schema1-old-clients", "Older Docker clients (schema1)", "Supporting older Docker clients",
             _HTTP + ("registry_config",) + _LOGS,
             no_fault="the lab's registry config is the variable: tests run the runbook on the healthy lab and on "
                      "configs with and without `compatibility.schema1`"),
    Scenario("path-naming", "Special characters in group, project or branch paths", "Docker connection error",
             ("gitlab_api_url", "gitlab_token", "project", "group"),
             no_fault="the cause is a path's name in GitLab; the stand-in holds such projects in every lab"),
    Scenario("push-retry-relative-urls", "Push retry loops and relative URLs", "Image push errors",
             _HTTP + ("nginx_config", "registry_config", "canary_push", "har_file") + _LOGS,
             faults=("missing-forwarded-proto",),
             routes=(_R("hops.location.*", "upload Locations send clients to another scheme or host"),
                     _R("hops.upload_restarts", "blob uploads are restarted again and again"),
                     _R("nginx.headers.*", "NGINX does not forward Host / X-Forwarded-Proto"),
                     _R("nginx.port.*", "registry_url's port is not NGINX's"))),
    Scenario("push-403", "Unexpected 403 during push", "Unexpected 403 error during push",
             _HTTP + ("nginx_config", "registry_config", "canary_push", "har_file") + _LOGS,
             faults=("storage-403",),
             routes=(_R("hops.forbidden.*", "a hop answered 403 during the push"),)),
    Scenario("debug-server-metrics", "Debug server and Prometheus metrics",
             "Enable the Registry debug server / Prometheus metrics", anchor="enable-the-registry-debug-server",
             params=("debug_url", "prometheus_url", "metrics_path", "interval", "registry_config", "gitlab_rb"),
             faults=("debug-exposed", "storage-down"),
             routes=(_R("health.failing", "a registry health check fails"),
                     _R("forwarding.upstream_down", "the registry upstream is down or unhealthy"),
                     _R("debug.exposed", "the registry debug server is reachable beyond loopback"),
                     _R("metrics.*", "a metrics health rule tripped or metrics cannot be read"))),
    Scenario("debug-logs", "Registry debug logs", "Enable registry debug logs", ("registry_config", "gitlab_rb") + _LOGS,
             faults=("debug-logging",),
             routes=(_R("debug_logs.*", "debug logging is on or left debug lines/tokens in the logs"),)),
    Scenario("empty-name-tags", "Tags with an empty name", "Tags with an empty name",
             _S3 + ("registry_url", "username", "password", "ca_bundle", "allow_insecure_realm", "inventory",
                    "memory_limit", "spill_dir", "apply", "confirm_digest"),
             faults=("empty-name-tags",),
             routes=(_R("tags.empty_name", "a repository lists a tag with an empty name"),)),
    Scenario("cleanup-policy", "Investigate a cleanup policy", "Investigate a cleanup policy",
             ("gitlab_api_url", "gitlab_token", "project", "tag", "policy_keep_n", "policy_older_than",
              "policy_name_regex", "policy_name_regex_keep", "registry_url", "username", "password",
              "ca_bundle", "service", "allow_insecure_realm"),
             no_fault="a policy is GitLab data, not a failure: the stand-in holds projects with policies and tags "
                      "in every lab, and the runbook replays them"),
    Scenario("ipv6-listener", "Registry listens on IPv6 instead of IPv4",
             "Registry service listens on IPv6 address instead of IPv4",
             ("registry_url", "registry_config", "gitlab_rb", "nginx_config") + _LOGS,
             faults=("ipv6-upstream",),
             routes=(_R("hops.proxy_bad_gateway", "NGINX cannot reach the registry upstream (502)"),
                     _R("nginx.upstream.*", "NGINX proxies where the registry does not listen"))),
    Scenario("gcs-http2", "Push failures and high CPU with GCS",
             "Push failures and high CPU usage with Google Cloud Storage (GCS)",
             ("registry_config", "gitlab_rb") + _LOGS,
             no_fault="no Google Cloud Storage endpoint runs here; the runbook is tested on GCS configs, process "
                      "environments and recorded HTTP/2 error lines"),
    Scenario("notifications", "Registry notifications do not reach GitLab",
             "Beyond the troubleshooting page: registry notifications to GitLab",
             ("registry_config", "gitlab_config", "gitlab_rb", "debug_url") + _LOGS,
             symptoms=("GitLab does not show pushed tags or usage data; the registry logs `error writing events`",),
             faults=("notification-secret-mismatch", "notification-endpoint-down"),
             routes=(_R("vars.notifications_failing", "a notification endpoint is failing"),
                     _R("notify.*", "the registry's notifications do not reach GitLab"))),
    Scenario("jwt-auth-refused", "GitLab's /jwt/auth refuses registry tokens",
             "Beyond the troubleshooting page: GitLab's /jwt/auth refuses registry tokens",
             _HTTP + ("repository",) + _LOGS, required=("registry_url",),
             symptoms=("`docker login` says `HTTP Basic: Access denied`, or pushes say `denied: requested access to "
                       "the resource is denied`",),
             faults=("jwt-auth-refused",),
             routes=(_R("token.bad_credentials", "GitLab's /jwt/auth refused the credentials"),
                     _R("jwt.*", "GitLab's /jwt/auth refuses or narrows registry tokens"))),
    Scenario("redis-cache-down", "The registry's Redis cache is down or refuses AUTH",
             "Beyond the troubleshooting page: the registry's Redis cache",
             ("registry_config", "debug_url", "metrics_path") + _LOGS,
             symptoms=("the registry logs `error connecting to redis instance` or `WRONGPASS`; pulls got slower",),
             faults=("redis-cache-down", "redis-auth-refused"),
             routes=(_R("redis.*", "the registry's Redis cache is unreachable, refuses AUTH or never hits"),)),
    Scenario("gc-broke-pulls", "Garbage collection broke pulls",
             "Beyond the troubleshooting page: after `registry garbage-collect`, pulls fail with manifest unknown / "
             "blob unknown", _HTTP + ("gc_output", "registry_config") + _S3 + _LOGS, required=("registry_url",),
             faults=("gc-delete-untagged",),
             routes=(_R("gc.pull_broken", "listed tags do not pull: their manifests or blobs are gone"),
                     _R("gc.index_children_*", "garbage collection deletes the platform manifests of indexes"),
                     _R("gc.storage_dangling", "repository links lead to deleted content"))),
    Scenario("body-limit-413", "413 from a proxy or load balancer in front of NGINX",
             "Beyond the troubleshooting page: 413 Request Entity Too Large from a hop in front of the registry's "
             "NGINX", _HTTP + ("nginx_config", "proxy_configs", "registry_config", "canary_push", "har_file") + _LOGS,
             required=("registry_url",), faults=("outer-body-limit", "small-body-limit"),
             routes=(_R("hops.body_too_large", "a proxy refuses large layers (413)"),
                     _R("body_limit.*", "a hop in front of the registry refuses large request bodies (413)"),
                     _R("nginx.body_size.limited", "NGINX limits request bodies"))),
    Scenario("storage-redirect-unreachable", "Storage redirects clients cannot follow",
             "Beyond the troubleshooting page: blobs redirect to a storage URL clients cannot reach or that has "
             "expired", _HTTP + ("registry_config",) + _LOGS, required=("registry_url",),
             faults=("storage-redirect-unreachable",),
             routes=(_R("hops.storage_unreachable", "clients cannot reach the storage host blobs are redirected to"),
                     _R("hops.storage_expired", "the storage refuses presigned URLs as expired"),
                     _R("redirect.storage_unreachable", "clients cannot reach the storage host blobs are redirected to"),
                     _R("redirect.expired", "presigned storage URLs are expired when used"),
                     _R("redirect.endpoint_internal", "blobs redirect to an in-cluster or private storage endpoint"))),
]

CATALOGUE: dict[str, Scenario] = {s.id: s for s in _SPECS}


def get(scenario_id: str) -> Scenario:
    """Look a scenario up by id, with an error that lists the valid ids."""
    try:
        return CATALOGUE[scenario_id]
    except KeyError:
        raise KeyError(f"unknown scenario {scenario_id!r} (known: {', '.join(CATALOGUE)})") from None


# --- routing: which runbook to open next, from findings (data, not code paths) -----------------------------

ROUTES: tuple[Route, ...] = tuple(replace(r, scenario=s.id) for s in _SPECS for r in s.routes)


def scenario_of_fault(fault: str) -> str:
    """The scenario a lab fault reproduces ("" for none: the healthy lab)."""
    return next((s.id for s in _SPECS if fault in s.faults), "")


def route(findings: "list[Any]") -> list[dict[str, str]]:
    """Scenarios to run next, each with the finding that sent it; a finding's evidence may name one too
    (log signatures do: ``evidence['scenario']``). Unbuilt scenarios are listed but marked."""
    from fnmatch import fnmatchcase

    out: dict[str, dict[str, str]] = {}
    for f in findings:
        status = getattr(f.status, "value", f.status)
        targets = [(r.scenario, r.why) for r in ROUTES if fnmatchcase(f.id, r.finding) and status in r.statuses]
        named = f.evidence.get("scenario") if isinstance(f.evidence, dict) else None
        if named and status in ("fail", "error", "warn") and named in CATALOGUE:
            targets.append((named, f.title))
        for scenario_id, why in targets:
            if scenario_id not in out:
                out[scenario_id] = {"scenario": scenario_id, "finding": f.id, "why": why,
                                    "built": "yes" if CATALOGUE[scenario_id].built else "not yet"}
    return list(out.values())
