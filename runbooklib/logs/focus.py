"""Log evidence for one scenario: the scan's findings that concern it, and the values it needs (key IDs)."""

from __future__ import annotations

from ..findings import Finding, Status
from .checks import check_logs
from .scan import LogScan


def check_logs_for(scan: LogScan | None, scenario: str) -> list[Finding]:
    """Findings of ``scan`` whose signature leads to ``scenario`` (and unreadable paths); ok when none matched."""
    if scan is None or not scan.paths:
        return [Finding("logs.not_given", Status.SKIP, "Logs not scanned: no log_paths",
                        detail="Give `log_paths` (files, folders or globs) to add the registry's own account of the failure.", remedy="Omnibus: /var/log/gitlab/registry/ and /var/log/gitlab/gitlab-rails/production_json.log; "
                        "Helm: `kubectl logs deploy/<release>-registry > registry.log`.")]
    kept = []
    for f in check_logs(scan):
        ev = f.evidence if isinstance(f.evidence, dict) else {}
        if ev.get("scenario") == scenario or f.id.startswith("logs.path_") or f.id == "logs.file_corrupt":
            kept.append(f)
    if not any(isinstance(f.evidence, dict) and f.evidence.get("scenario") == scenario for f in kept):
        kept.append(Finding(f"logs.{scenario.replace('-', '_')}.none", Status.OK,
                            "No log line of this kind",
                            detail=f"None of the signatures that point to `{scenario}` matched in {len(scan.files)} file(s).",
                            evidence={"paths": scan.paths, "files": len(scan.files)}))
    return kept


def key_ids_in(scan: LogScan | None) -> list[str]:
    """Key IDs of `token signed by untrusted key with ID: "..."` lines, most frequent first."""
    if scan is None:
        return []
    stats = scan.stats.get("token-untrusted-key")
    if stats is None or "key_id" not in stats.fields:
        return []
    return [k for k, _ in stats.fields["key_id"].most_common()]


def check_all_logs(scan: LogScan | None) -> list[Finding]:
    """Every signature's finding (each naming its runbook), or a skip when no log_paths were given."""
    if scan is None or not scan.paths:
        return check_logs_for(None, "logs")
    return check_logs(scan)
