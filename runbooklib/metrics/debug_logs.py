"""Registry debug logs (seed: "Enable registry debug logs"): the configured level, the warning and the way
back when it is ``debug``, how to turn it on for a while when it is not, and what debug logging has left in
the log files (debug lines, token-shaped values, storage paths that name repositories).

Lives beside the metrics because both are the registry's own diagnostics; it reads configs and logs only.
"""

from __future__ import annotations

from typing import Any

from ..config.gitlab_rb import GitLabRb
from ..config.registry import RegistryConfig
from ..findings import Finding, Status
from ..logs.signatures import Signature

SEED_DEBUG_LOGS = "Enable registry debug logs"
WARNING = ("Debug logs may contain sensitive information such as authentication details, tokens, or repository "
           "information. Enable debug logs only when necessary, and disable them when troubleshooting is complete.")

ENABLE_STEPS = {
    "omnibus": (
        "Omnibus (temporary, as GitLab's documentation does it):\n"
        "1. Edit /var/opt/gitlab/registry/config.yml: under `log:` set `level: debug`.\n"
        "2. `sudo gitlab-ctl restart registry`.\n"
        "3. Reproduce the problem, collect /var/log/gitlab/registry/current.\n"
        "The edit is temporary: the next `sudo gitlab-ctl reconfigure` rewrites config.yml from gitlab.rb and "
        "discards it (do not set `registry['log_level'] = 'debug'` in gitlab.rb: that makes it permanent)."
    ),
    "helm": (
        "Helm chart:\n"
        "1. `helm get values gitlab > gitlab_values.yaml`\n"
        "2. In gitlab_values.yaml set:\n   registry:\n     log:\n       level: debug\n"
        "3. `helm upgrade -f gitlab_values.yaml gitlab gitlab/gitlab --namespace <namespace>`\n"
        "4. Reproduce, then `kubectl logs -l app=registry --namespace <namespace>`."
    ),
    "distribution": (
        "Source / Docker Distribution:\n"
        "1. In the registry's config.yml set `log.level: debug` (under `log:`, not at the top level).\n"
        "2. Restart the registry, reproduce, collect its log."
    ),
}


def revert_steps(install: str, rb_level: str | None) -> str:
    """The exact way back from debug logging for one install type."""
    if install == "omnibus":
        if rb_level == "debug":
            return ("Omnibus: gitlab.rb itself sets `registry['log_level'] = 'debug'` (permanent):\n"
                    "1. In /etc/gitlab/gitlab.rb remove that line or set `registry['log_level'] = 'info'`.\n"
                    "2. `sudo gitlab-ctl reconfigure` (rewrites /var/opt/gitlab/registry/config.yml and restarts "
                    "the registry).")
        return ("Omnibus: the debug level is GitLab's documented temporary edit of /var/opt/gitlab/registry/config.yml:\n"
                "1. `sudo gitlab-ctl reconfigure` discards it (config.yml is rewritten from gitlab.rb, level "
                f"`{rb_level or 'info'}`), and restarts the registry;\n"
                "   or edit config.yml back to `level: info` under `log:` and `sudo gitlab-ctl restart registry`.")
    if install == "helm":
        return ("Helm:\n1. In gitlab_values.yaml set `registry.log.level: info` (or remove the key).\n"
                "2. `helm upgrade -f gitlab_values.yaml gitlab gitlab/gitlab --namespace <namespace>`.")
    return ("Source: set `log.level: info` in the registry's config.yml and restart the registry.")


def _install(registry_cfg: RegistryConfig | None, gitlab_rb: GitLabRb | None) -> str:
    flavour = getattr(registry_cfg, "flavour", None)
    if flavour in ("omnibus", "helm", "distribution"):
        return "omnibus" if flavour == "distribution" and gitlab_rb is not None else flavour
    return "omnibus" if gitlab_rb is not None else "distribution"


def check_log_level(registry_cfg: RegistryConfig | None = None, gitlab_rb: GitLabRb | None = None) -> list[Finding]:
    """The configured ``log.level`` (config.yml / Helm values) and ``registry['log_level']`` (gitlab.rb):
    a warning with the exact way back when it is ``debug``; how to enable it for a while when not."""
    refs = (SEED_DEBUG_LOGS,)
    if registry_cfg is None and gitlab_rb is None:
        return [Finding("debug_logs.level_unknown", Status.SKIP, "Log level not read: no config given",
                        detail="Give `registry_config` (config.yml or Helm values) or `gitlab_rb`.",
                        remedy="\n\n".join(ENABLE_STEPS.values()), refs=refs)]
    install = _install(registry_cfg, gitlab_rb)
    rb_raw = gitlab_rb.registry("log_level") if gitlab_rb is not None else None
    rb_level = str(rb_raw).lower() if rb_raw is not None else None
    found: list[Finding] = []
    evidence: dict[str, Any] = {"install": install}
    level = None
    if registry_cfg is not None:
        level = (registry_cfg.log.level or "info").lower()
        evidence["config"] = registry_cfg.evidence("log.level", "log.formatter")
        top = registry_cfg.get("level")
        if top is not None:
            found.append(Finding("debug_logs.misplaced_level", Status.WARN, "`level:` at the top of config.yml is ignored",
                                 detail=f"{registry_cfg.source} sets `level: {top}` at the top level (line "
                                 f"{registry_cfg.line_of('level') or '?'}); the registry reads only `log.level`, which is "
                                 f"`{level}`.", evidence=evidence,
                                 remedy="Indent it under `log:` (`log:\\n  level: debug`) and restart the registry.", refs=refs))
    if gitlab_rb is not None:
        evidence["gitlab_rb"] = {"registry['log_level']": rb_raw, "where": gitlab_rb.where("registry['log_level']")}
    effective = level or rb_level or "info"
    where = (registry_cfg.where("log.level") if registry_cfg is not None
             else gitlab_rb.where("registry['log_level']") if gitlab_rb is not None else "")
    evidence["level"] = effective
    if effective == "debug":
        found.append(Finding("debug_logs.enabled", Status.WARN, "Registry debug logging is on",
                             detail=f"log level `debug` ({where}). {WARNING}", evidence=evidence,
                             remedy=revert_steps(install, rb_level) + "\nThen restrict or delete the debug log files written "
                             "meanwhile: they may hold tokens and repository names.", refs=refs))
    else:
        found.append(Finding("debug_logs.off", Status.OK, f"Registry logs at level `{effective}`",
                             detail=f"log level `{effective}` ({where}): no debug logging. To debug an issue, enable it for a "
                             "while (see the remedy) and turn it off again.", evidence=evidence, remedy=ENABLE_STEPS[install], refs=refs))
    if install == "omnibus" and rb_level and level and rb_level != level:
        found.append(Finding("debug_logs.rb_mismatch", Status.WARN if "debug" in (rb_level, level) else Status.OK,
                             "config.yml and gitlab.rb disagree on the log level",
                             detail=f"config.yml says `{level}`, gitlab.rb `registry['log_level']` says `{rb_level}`: "
                             f"config.yml was edited by hand; the next `gitlab-ctl reconfigure` sets `{rb_level}`.",
                             evidence=evidence, remedy="Decide which one you want, set it in gitlab.rb and reconfigure.", refs=refs))
    elif install == "omnibus" and rb_level == "debug" and level is None:
        found.append(Finding("debug_logs.rb_debug", Status.WARN, "gitlab.rb makes debug logging permanent",
                             detail="`registry['log_level'] = 'debug'` survives every reconfigure.", evidence=evidence,
                             remedy=revert_steps("omnibus", "debug"), refs=refs))
    return found


DEBUG_SIGNATURES: tuple[Signature, ...] = (
    Signature("debug-line", "debug-logs", "info", ("level=debug", '"level":"debug"'),
              r'level=debug|"level":"debug"', "A line logged at debug level."),
    Signature("token-in-log", "debug-logs", "warn", ("eyJ", "Bearer ", "bearer "),
              r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}|[Bb]earer [A-Za-z0-9._~+/=-]{20,}",
              "A token-shaped value (a JWT or a bearer credential) in a log line."),
    Signature("repository-path-in-log", "debug-logs", "info", ("/docker/registry/v2/repositories/",),
              r"/docker/registry/v2/repositories/(?P<repository>[a-z0-9._/-]+)/_",
              "A storage driver call naming a repository's path (debug level)."),
)


def scan_debug_logs(log_paths: Any, since: Any = None, until: Any = None):
    """Scan logs for debug-level lines, token-shaped values and repository paths (a LogScan; None without
    log_paths)."""
    from ..logs import scan_logs

    if not log_paths:
        return None
    return scan_logs(log_paths, since or None, until or None, examples=2, signatures=DEBUG_SIGNATURES)


def check_debug_log_lines(scan: Any) -> list[Finding]:
    """What debug logging left in the logs: counts, time span and files of debug lines; lines with token-shaped
    values (never shown unredacted); how many repositories the storage calls name."""
    refs = (SEED_DEBUG_LOGS,)
    if scan is None or not getattr(scan, "paths", None):
        return [Finding("debug_logs.logs_not_given", Status.SKIP, "Logs not scanned: no log_paths",
                        detail="Give `log_paths` to see whether debug lines (and the tokens they may carry) are in the logs.", refs=refs)]
    stats = scan.stats
    found: list[Finding] = []
    for problem in scan.problems:
        found.append(Finding("debug_logs.path_problem", Status.WARN, f"Log path {problem.kind}: {problem.path}",
                             detail=problem.reason, evidence={"path": problem.path}, refs=refs))
    debug = stats.get("debug-line")
    files = len([f for f in scan.files if not f.skipped])
    if debug is not None and debug.count:
        ev = debug.to_json()
        ev["files"] = dict(debug.sources.most_common(10))
        found.append(Finding("debug_logs.lines_present", Status.WARN, f"{debug.count} debug-level line(s) in the logs",
                             detail=f"Debug logging was on between {ev['first_seen'] or '?'} and {ev['last_seen'] or '?'} "
                             f"({len(debug.sources)} file(s)). If that was not a deliberate, finished investigation, "
                             "turn it off.", evidence=ev, remedy="See the log level finding above for the way back.", refs=refs))
    else:
        found.append(Finding("debug_logs.no_lines", Status.OK, "No debug-level line in the logs",
                             detail=f"{files} file(s) scanned: no line logged at debug level.", evidence={"files": files}, refs=refs))
    tokens = stats.get("token-in-log")
    if tokens is not None and tokens.count:
        ev = tokens.to_json()
        ev["files"] = dict(tokens.sources.most_common(10))
        found.append(Finding("debug_logs.tokens_in_logs", Status.WARN,
                             f"{tokens.count} log line(s) carry token-shaped values",
                             detail="JWTs or bearer credentials appear in the logs (shown redacted here). Registry tokens live "
                             "minutes, but the logs outlive them: keep these files private and redact before sharing.",
                             evidence=ev, remedy="Restrict access to the log files (and any copy in a log pipeline); turn debug "
                             "logging off when done.", refs=refs))
    repos = stats.get("repository-path-in-log")
    if repos is not None and repos.count:
        names = repos.fields.get("repository")
        found.append(Finding("debug_logs.repository_paths", Status.OK,
                             f"Storage calls name {len(names) if names else 0} repositor(ies)",
                             detail=f"{repos.count} debug line(s) name repository paths: the logs disclose which repositories "
                             "exist and are used.", evidence={"repositories": [n for n, _ in names.most_common(10)] if names else [],
                                                      "count": repos.count}, refs=refs))
    return found
