"""Config files as Findings: a file that cannot be read or parsed becomes one ``error`` Finding naming the
file and line, so a notebook records it and goes on with the checks that do not need that file."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..findings import Finding, Status
from .errors import ConfigError
from .gitlab_rb import GitLabRb, read_gitlab_rb
from .gitlab_yml import GitLabRegistrySettings, read_gitlab_yml
from .redact import is_secret_key
from .registry import RegistryConfig, read_registry_config

SEED_UNTRUSTED_KEY = "Docker login attempt fails with: 'token signed by untrusted key'"

# kind -> (label, reader, where it lives, refs). Parameter names of the shared vocabulary are accepted too.
_KINDS: dict[str, tuple[str, Callable[[str], Any], str]] = {
    "registry": ("registry config.yml", read_registry_config,
                 "Omnibus: /var/opt/gitlab/registry/config.yml; Helm: `helm get values RELEASE` or the registry "
                 "ConfigMap; source: the file passed to `registry serve`"),
    "gitlab_yml": ("gitlab.yml", read_gitlab_yml,
                   "Omnibus: /var/opt/gitlab/gitlab-rails/etc/gitlab.yml; source: config/gitlab.yml"),
    "gitlab_rb": ("gitlab.rb", read_gitlab_rb, "Omnibus: /etc/gitlab/gitlab.rb (readable by root only)"),
}
_ALIASES = {"registry_config": "registry", "config.yml": "registry", "helm": "registry",
            "gitlab_config": "gitlab_yml", "gitlab.yml": "gitlab_yml", "gitlab.rb": "gitlab_rb"}

AnyConfig = RegistryConfig | GitLabRegistrySettings | GitLabRb


def _kind(kind: str) -> str:
    k = _ALIASES.get(kind, kind)
    if k not in _KINDS:
        raise ValueError(f"unknown config kind {kind!r}: use one of {', '.join(sorted(_KINDS))}")
    return k


def load_config(path: str | Path, kind: str) -> AnyConfig:
    """Read a config of ``kind`` (``registry``, ``gitlab_yml``, ``gitlab_rb``); ConfigError on failure."""
    return _KINDS[_kind(kind)][1](str(path))


def _line_text(path: str, line: int | None) -> str | None:
    """The offending line, unless it may carry a secret (then withheld)."""
    if not line:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for i, text in enumerate(fh, 1):
                if i == line:
                    text = text.rstrip("\n")
                    words = [w.strip("'\":=>[]{},") for w in text.replace(":", " ").split()]
                    if any(is_secret_key(w) for w in words if w):
                        return "[line withheld: it may hold a secret]"
                    return text[:200]
    except OSError:
        return None
    return None


def check_config_readable(path: str | Path | None, kind: str) -> list[Finding]:
    """Can this config be read and understood? ``config.readable`` (ok), ``config.unreadable`` /
    ``config.invalid`` (error, detail ``FILE:LINE: ...``), ``config.not_given`` (skip) and, for gitlab.rb,
    ``config.not_understood`` (warn) listing registry-related lines that were not evaluated."""
    k = _kind(kind)
    label, reader, where = _KINDS[k]
    if not path:
        return [Finding("config.not_given", Status.SKIP, f"No {label} given",
                        detail=f"No path for the {label}: checks that need it are skipped.", evidence={"kind": k},
                        remedy=f"Pass the file ({where}).")]
    path = str(path)
    try:
        cfg = reader(path)
    except ConfigError as err:
        if err.kind == "unreadable":
            return [Finding("config.unreadable", Status.ERROR, f"Cannot read the {label}", detail=str(err),
                            evidence={"file": err.file, "kind": k},
                            remedy=f"Check the path and permissions ({where}). Copy the file somewhere readable if "
                            "this notebook does not run as a user that may read it.")]
        return [Finding("config.invalid", Status.ERROR, f"The {label} is not valid", detail=str(err),
                        evidence={"file": err.file, "line": err.line, "kind": k, "line_text": _line_text(err.file, err.line)},
                        remedy=f"Fix the file at {err.file}:{err.line or '?'} (YAML: indentation with spaces only, "
                        "`key: value`, quotes around values with `: ` or `#`). A registry with an invalid config.yml "
                        "does not start; GitLab with an invalid gitlab.yml does not boot.")]
    findings = [Finding("config.readable", Status.OK, f"{label} read", detail=_summary(cfg), evidence=_evidence(cfg))]
    if isinstance(cfg, GitLabRb) and cfg.relevant_not_understood:
        rel = cfg.relevant_not_understood
        findings.append(Finding(
            "config.not_understood", Status.WARN,
            f"{len(rel)} registry-related line(s) of gitlab.rb not evaluated",
            detail="These statements are Ruby beyond plain values (method calls, ENV, interpolation, conditionals); "
            "their effect is unknown here, so checks based on gitlab.rb may miss them: "
            + "; ".join(f"line {nu.line}: {nu.reason}" for nu in rel[:5]) + ("; ..." if len(rel) > 5 else ""),
            evidence={"file": cfg.source, "not_understood": [nu.to_dict() for nu in rel]},
            remedy="Compare with the generated files, which hold the evaluated result: "
            "/var/opt/gitlab/registry/config.yml and /var/opt/gitlab/gitlab-rails/etc/gitlab.yml.",
        ))
    return findings


def _summary(cfg: AnyConfig) -> str:
    if isinstance(cfg, RegistryConfig):
        s = (f"{cfg.source}: {cfg.flavour} registry config; storage driver {cfg.storage.driver or 'unknown'}, "
             f"auth {cfg.auth_kind or 'none'}.")
    elif isinstance(cfg, GitLabRegistrySettings):
        s = (f"{cfg.source}: registry section {'present' if cfg.present else 'absent'} for {cfg.environment}"
             + (f", enabled={cfg.enabled}, issuer={cfg.issuer!r}, key={cfg.key!r}." if cfg.present else "."))
    else:
        s = (f"{cfg.source}: {len(cfg.assignments)} setting(s) read, {len(cfg.not_understood)} statement(s) not "
             f"evaluated ({len(cfg.relevant_not_understood)} registry-related).")
    if getattr(cfg, "notes", ()):
        s += " Notes: " + "; ".join(cfg.notes)
    return s


def _evidence(cfg: AnyConfig) -> dict[str, Any]:
    return cfg.evidence()
