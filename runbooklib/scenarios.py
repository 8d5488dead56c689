"""The catalogue: every troubleshooting scenario, its notebook, its parameters and whether it is built."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .params import VOCABULARY, ParamSpec

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"

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
    built: bool = False

    @property
    def notebook(self) -> Path:
        return NOTEBOOK_DIR / f"{self.id}.ipynb"

    @property
    def schema(self) -> dict[str, ParamSpec]:
        names = tuple(dict.fromkeys(self.params + _COMMON))
        return {n: VOCABULARY[n].required_for(n in self.required) for n in names}


_HTTP = ("registry_url", "realm_url", "service", "username", "password", "ca_bundle")
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
            _HTTP + ("debug_url",),
            required=("registry_url",),
            symptoms=("anything is wrong with the registry and you do not know where to start",),
            built=True,
        ),
        Scenario("logs", "Registry, NGINX and GitLab logs", "Before investigating: check the logs", _LOGS),
        Scenario("s3-permissions", "S3 permissions, credentials and region",
                 "Before investigating: IAM permissions and S3 credentials", _S3),
        Scenario("bucket-metrics", "Bucket health and metrics", "Storage (bucket metrics)", _S3),
        Scenario("x509-unknown-authority", "x509: certificate signed by unknown authority",
                 "Error: x509: certificate signed by unknown authority", _HTTP + _CONFIGS),
        Scenario("token-untrusted-key", "Token signed by untrusted key",
                 "Docker login attempt fails with: 'token signed by untrusted key'", _HTTP + _CONFIGS + _LOGS),
        Scenario("missing-registry-key", "Missing gitlab-registry.key",
                 "Missing gitlab-registry.key prevents container repository deletion", _CONFIGS),
        Scenario("s3-push-unexpected-eof", "Large pushes fail with unexpected EOF on S3",
                 "AWS S3 with the GitLab registry error when pushing large images",
                 _S3 + ("registry_config", "gitlab_rb") + _LOGS),
        Scenario("schema1-old-clients", "Older Docker clients (schema1)", "Supporting older Docker clients",
                 _HTTP + ("registry_config",) + _LOGS),
        Scenario("path-naming", "Special characters in group, project or branch paths",
                 "Docker connection error", ("gitlab_api_url", "gitlab_token", "project")),
        Scenario("push-retry-relative-urls", "Push retry loops and relative URLs", "Image push errors",
                 _HTTP + ("nginx_config", "registry_config")),
        Scenario("push-403", "Unexpected 403 during push", "Unexpected 403 error during push",
                 _HTTP + ("nginx_config",) + _LOGS),
        Scenario("debug-server-metrics", "Debug server and Prometheus metrics",
                 "Enable the Registry debug server / Prometheus metrics", ("debug_url", "prometheus_url")),
        Scenario("debug-logs", "Registry debug logs", "Enable registry debug logs", ("registry_config", "gitlab_rb")),
        Scenario("empty-name-tags", "Tags with an empty name", "Tags with an empty name",
                 _S3 + ("registry_url", "username", "password")),
        Scenario("cleanup-policy", "Investigate a cleanup policy", "Investigate a cleanup policy",
                 ("gitlab_api_url", "gitlab_token", "project")),
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
