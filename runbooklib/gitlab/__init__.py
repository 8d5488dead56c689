"""GitLab's side of the registry: REST client, cleanup policy replay, path naming rules.

- :mod:`.client` — :class:`GitLabClient` (token header, timeouts, pagination, 429 Retry-After) and
  :func:`error_finding` (401/403/404/... as findings naming the missing scope or role).
- :mod:`.policy` — the project's ``container_expiration_policy`` with overrides; :func:`check_policy`.
- :mod:`.inventory` — repositories and tags with details (``created_at``).
- :mod:`.cleanup` — :func:`replay` of the policy tag by tag, step tables, :func:`explain_tag`, limits, plot.
- :mod:`.registry` — GitLab's tags beside the registry's ``/v2/<name>/tags/list``.
- :mod:`.naming` — Docker's naming rules over group, project, image and branch paths.
"""

from .client import GitLabClient, GitLabError, check_api_access, error_finding

__all__ = ["GitLabClient", "GitLabError", "check_api_access", "error_finding"]
