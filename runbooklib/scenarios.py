"""The catalogue: every troubleshooting scenario, its notebook, its parameters and whether it is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from pathlib import Path

from .params import VOCABULARY, ParamSpec
from .resources import notebook_dir

NOTEBOOK_DIR: Path = notebook_dir()  # package data: the same lookup installed, pipx'd or in a checkout

_COMMON = ("timeout_s",)


@dataclass(frozen=True)
class Scenario:
    """One seed section turned into a runbook."""

    id: str
    title: str
    seed_section: str
    params: tuple[str, ...]
    required: tuple[str, ...] = ()
    symptoms: tuple[str, ...] = field(default_factory=tuple)

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


_HTTP = ("registry_url", "realm_url", "service", "username", "password", "ca_bundle", "allow_insecure_realm")
_S3 = ("s3_bucket", "s3_region", "s3_endpoint", "s3_root", "s3_access_key", "s3_secret_key")
_CONFIGS = ("registry_config", "gitlab_config", "gitlab_rb")
_LOGS = ("log_paths", "since", "until")

CATALOGUE: dict[str, Scenario] = {
    s.id: s
    for s in [
        Scenario(
            "triage",
            "Triage: before investigating",
            "Before investigating (clock, forwarding, token flow, health)",
            _HTTP + ("debug_url", "nginx_config", "canary_push", "registry_config") + _LOGS,
            required=("registry_url",),
            symptoms=("anything is wrong with the registry and you do not know where to start",),
        ),
        Scenario("logs", "Registry, NGINX and GitLab logs", "Before investigating: check the logs", _LOGS,
                 required=("log_paths",)),
        Scenario("s3-permissions", "S3 permissions, credentials and region",
                 "Before investigating: IAM permissions and S3 credentials", _S3 + ("registry_config", "write_probe")),
        Scenario("bucket-metrics", "Bucket health and metrics", "Storage (bucket metrics)",
                 _S3 + ("registry_config", "inventory", "top_n", "inventory_results", "memory_limit", "spill_dir")),
        Scenario("x509-unknown-authority", "x509: certificate signed by unknown authority",
                 "Error: x509: certificate signed by unknown authority", _HTTP + _CONFIGS + _LOGS,
                 required=("registry_url",)),
        Scenario("token-untrusted-key", "Token signed by untrusted key",
                 "Docker login attempt fails with: 'token signed by untrusted key'", _HTTP + _CONFIGS + _LOGS,
                 required=("registry_url",)),
        Scenario("missing-registry-key", "Missing gitlab-registry.key",
                 "Missing gitlab-registry.key prevents container repository deletion", _HTTP + _CONFIGS + _LOGS),
        Scenario("s3-push-unexpected-eof", "Large pushes fail with unexpected EOF on S3",
                 "AWS S3 with the GitLab registry error when pushing large images",
                 _S3 + ("registry_config", "gitlab_rb") + _LOGS),
        Scenario("schema1-old-clients", "Older Docker clients (schema1)", "Supporting older Docker clients",
                 _HTTP + ("registry_config",) + _LOGS),
        Scenario("path-naming", "Special characters in group, project or branch paths",
                 "Docker connection error", ("gitlab_api_url", "gitlab_token", "project", "group")),
        Scenario("push-retry-relative-urls", "Push retry loops and relative URLs", "Image push errors",
                 _HTTP + ("nginx_config", "registry_config", "canary_push", "har_file") + _LOGS),
        Scenario("push-403", "Unexpected 403 during push", "Unexpected 403 error during push",
                 _HTTP + ("nginx_config", "registry_config", "canary_push", "har_file") + _LOGS),
        Scenario("debug-server-metrics", "Debug server and Prometheus metrics",
                 "Enable the Registry debug server / Prometheus metrics",
                 ("debug_url", "prometheus_url", "metrics_path", "interval", "registry_config", "gitlab_rb")),
        Scenario("debug-logs", "Registry debug logs", "Enable registry debug logs",
                 ("registry_config", "gitlab_rb") + _LOGS),
        Scenario("empty-name-tags", "Tags with an empty name", "Tags with an empty name",
                 _S3 + ("registry_url", "username", "password", "ca_bundle", "allow_insecure_realm", "inventory",
                        "memory_limit", "spill_dir", "apply", "confirm_digest")),
        Scenario("cleanup-policy", "Investigate a cleanup policy", "Investigate a cleanup policy",
                 ("gitlab_api_url", "gitlab_token", "project", "tag", "policy_keep_n", "policy_older_than",
                  "policy_name_regex", "policy_name_regex_keep", "registry_url", "username", "password",
                  "ca_bundle", "service", "allow_insecure_realm")),
        Scenario("ipv6-listener", "Registry listens on IPv6 instead of IPv4",
                 "Registry service listens on IPv6 address instead of IPv4",
                 ("registry_url", "registry_config", "gitlab_rb", "nginx_config") + _LOGS),
        Scenario("gcs-http2", "Push failures and high CPU with GCS",
                 "Push failures and high CPU usage with Google Cloud Storage (GCS)",
                 ("registry_config", "gitlab_rb") + _LOGS),
    ]
}


def get(scenario_id: str) -> Scenario:
    """Look a scenario up by id, with an error that lists the valid ids."""
    try:
        return CATALOGUE[scenario_id]
    except KeyError:
        raise KeyError(f"unknown scenario {scenario_id!r} (known: {', '.join(CATALOGUE)})") from None


# --- routing: which runbook to open next, from findings (data, not code paths) -----------------------------


@dataclass(frozen=True)
class Route:
    """A finding id pattern (fnmatch) at or above a status sends the SRE to a scenario."""

    finding: str
    scenario: str
    why: str
    statuses: tuple[str, ...] = ("fail", "error", "warn")


ROUTES: tuple[Route, ...] = (
    Route("token.invalid_token", "token-untrusted-key", "the registry rejects GitLab's tokens (invalid_token)"),
    Route("trust.*", "token-untrusted-key", "signing key, issuer or service disagree"),
    Route("tls.*.self_signed", "x509-unknown-authority", "the registry presents a self-signed certificate"),
    Route("tls.*.unknown_ca", "x509-unknown-authority", "the registry's CA is not trusted"),
    Route("tls.*.missing_intermediate", "x509-unknown-authority", "the chain lacks its intermediate"),
    Route("tls.*.verify_failed", "x509-unknown-authority", "the registry's certificate is not accepted"),
    Route("token.realm_bad_answer", "missing-registry-key", "GitLab's /jwt/auth fails to issue a token"),
    Route("registry_key.*", "missing-registry-key", "gitlab-registry.key is missing or unusable"),
    Route("health.failing", "debug-server-metrics", "a registry health check fails"),
    Route("forwarding.upstream_down", "debug-server-metrics", "the registry upstream is down or unhealthy"),
    Route("tags.empty_name", "empty-name-tags", "a repository lists a tag with an empty name"),
    Route("debug.exposed", "debug-server-metrics", "the registry debug server is reachable beyond loopback"),
    Route("metrics.*", "debug-server-metrics", "a metrics health rule tripped or metrics cannot be read"),
    Route("vars.notifications_failing", "debug-server-metrics", "a notification endpoint is failing"),
    Route("health.storage_driver", "s3-permissions", "the storage driver's health check fails"),
    Route("debug_logs.*", "debug-logs", "debug logging is on or left debug lines/tokens in the logs"),
    Route("hops.location.*", "push-retry-relative-urls", "upload Locations send clients to another scheme or host"),
    Route("hops.upload_restarts", "push-retry-relative-urls", "blob uploads are restarted again and again"),
    Route("hops.body_too_large", "push-retry-relative-urls", "the proxy refuses large layers (413)"),
    Route("nginx.headers.*", "push-retry-relative-urls", "NGINX does not forward Host / X-Forwarded-Proto"),
    Route("nginx.body_size.limited", "push-retry-relative-urls", "NGINX limits request bodies"),
    Route("nginx.port.*", "push-retry-relative-urls", "registry_url's port is not NGINX's"),
    Route("hops.forbidden.*", "push-403", "a hop answered 403 during the push"),
    Route("hops.proxy_bad_gateway", "ipv6-listener", "NGINX cannot reach the registry upstream (502)"),
    Route("nginx.upstream.*", "ipv6-listener", "NGINX proxies where the registry does not listen"),
)


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
