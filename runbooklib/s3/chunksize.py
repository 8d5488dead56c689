"""Large pushes to S3 break off with `unexpected EOF`: the s3 driver's `chunksize`.

GitLab's documentation: when pushing large images to S3 the registry logs
``level=error msg="response completed with error" err.code=unknown err.detail="unexpected EOF"``; the fix is
a `chunksize` between 25000000 and 50000000 (the driver's default is 10 MiB, 5 MiB is the minimum S3
allows for a multipart part). This module reads the value from the registry config and gitlab.rb.
"""

from __future__ import annotations

from typing import Any

from ..config.gitlab_rb import GitLabRb
from ..config.registry import RegistryConfig
from ..config.registry import S3_DEFAULT_CHUNKSIZE, S3_MIN_CHUNKSIZE
from ..findings import Finding, Status

SEED = "AWS S3 with the GitLab registry error when pushing large images"
RECOMMENDED = (25_000_000, 50_000_000)

REMEDY = (
    "Set `chunksize` in the s3 storage section; start with 25000000 (25 MB), at most 50000000:\n"
    "- Omnibus (/etc/gitlab/gitlab.rb), then `gitlab-ctl reconfigure`:\n"
    "  ```ruby\n  registry['storage'] = {\n    's3' => {\n      'accesskey' => '...',\n      'secretkey' => '...',\n"
    "      'bucket' => '...',\n      'chunksize' => 25000000\n    }\n  }\n  ```\n"
    "- Helm: in the storage Secret that `registry.storage.secret` names (key `config`), add "
    "`chunksize: 25000000` under `s3:`, then restart the registry pods "
    "(`kubectl rollout restart deploy/<release>-registry`).\n"
    "- Source (the registry's config.yml), then restart the registry:\n"
    "  ```yaml\n  storage:\n    s3:\n      chunksize: 25000000\n  ```"
)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).replace("_", "").strip())
    except (TypeError, ValueError):
        return None


def _judge(value: int | None, where: str, defaulted: bool) -> tuple[Status, str]:
    if value is None:
        return Status.FAIL, f"{where}: chunksize is not a whole number: the registry refuses to start"
    if value < S3_MIN_CHUNKSIZE:
        return Status.FAIL, f"{where}: chunksize {value} is below S3's 5 MiB part minimum: the registry refuses to start"
    if defaulted:
        return Status.WARN, (f"{where}: no chunksize, so the driver's default {S3_DEFAULT_CHUNKSIZE} (10 MiB) applies; "
                             "large layers are then sent in many small parts, the case GitLab's documentation fixes with 25–50 MB")
    if value < RECOMMENDED[0]:
        return Status.WARN, f"{where}: chunksize {value} is below the recommended 25000000–50000000"
    if value > RECOMMENDED[1]:
        return Status.OK, (f"{where}: chunksize {value} is above 50 MB: each upload holds a part this large in "
                           "memory; fine if the registry has the memory")
    return Status.OK, f"{where}: chunksize {value} is in the recommended 25–50 MB range"


def check_chunksize(registry: RegistryConfig | None = None, gitlab_rb: GitLabRb | None = None) -> list[Finding]:
    """`chunksize` of the s3 driver from config.yml and/or gitlab.rb (absent -> the 10 MiB default)."""
    refs = (SEED,)
    judged: list[tuple[Status, str]] = []
    ev: dict[str, Any] = {}
    driver = None
    if registry is not None:
        st = registry.storage
        driver = st.driver
        ev["registry_config"] = {"driver": st.driver, "chunksize": st.chunksize, "defaulted": st.chunksize_defaulted,
                                 "where": registry.where(f"storage.{st.driver}.chunksize") if st.driver else registry.source}
        if st.driver in ("s3", "s3_v2"):
            raw = (st.options or {}).get("chunksize")
            value = st.chunksize if raw is None else _as_int(raw)
            judged.append(_judge(value, f"config.yml ({registry.source})", st.chunksize_defaulted or raw is None))
    rb_value: int | None = None
    if gitlab_rb is not None:
        rb_driver, opts = gitlab_rb.registry_storage
        ev["gitlab_rb"] = {"driver": rb_driver, "chunksize": opts.get("chunksize"),
                           "line": gitlab_rb.line_of("registry['storage']")}
        driver = driver or rb_driver
        if rb_driver in ("s3", "s3_v2"):
            rb_value = _as_int(opts["chunksize"]) if "chunksize" in opts else S3_DEFAULT_CHUNKSIZE
            judged.append(_judge(rb_value if "chunksize" in opts else S3_DEFAULT_CHUNKSIZE,
                                 "gitlab.rb registry['storage']['s3']", "chunksize" not in opts))
    if registry is None and gitlab_rb is None:
        return [Finding("eof.chunksize_not_checked", Status.SKIP, "chunksize not checked: no config given",
                        detail="Give `registry_config` (Omnibus: /var/opt/gitlab/registry/config.yml) or `gitlab_rb`.", remedy=REMEDY, refs=refs)]
    if not judged:
        return [Finding("eof.not_s3", Status.SKIP, "The registry does not use the s3 driver",
                        detail=f"Storage driver: {driver or 'none found'}. This section concerns S3 only.", evidence=ev, refs=refs)]
    out: list[Finding] = []
    worst = max((s for s, _ in judged), key=lambda s: s.severity)
    title = {Status.OK: "chunksize is set for large pushes", Status.WARN: "chunksize is too small for large pushes",
             Status.FAIL: "chunksize is invalid"}[worst]
    out.append(Finding(f"eof.chunksize_{worst.value}" if worst is not Status.OK else "eof.chunksize_ok", worst, title,
                       detail=". ".join(text for _, text in judged) + ".", evidence=ev, remedy=REMEDY if worst is not Status.OK else "", refs=refs))
    if registry is not None and rb_value is not None and registry.storage.driver in ("s3", "s3_v2"):
        cfg_value = registry.storage.chunksize
        if cfg_value != rb_value:
            out.append(Finding("eof.chunksize_not_applied", Status.WARN, "gitlab.rb and config.yml disagree on chunksize",
                               detail=f"gitlab.rb says {rb_value}, the registry's config.yml {cfg_value}: "
                               "`gitlab-ctl reconfigure` has not been run since gitlab.rb changed.", evidence=ev,
                               remedy="Run `gitlab-ctl reconfigure` (it rewrites config.yml and restarts the registry).", refs=refs))
    return out


def check_broken_pushes(scan: Any) -> list[Finding]:
    """Corroboration: a large push that broke off leaves its S3 multipart upload open under ``_uploads/``."""
    from .multipart import check_multipart

    return check_multipart(scan, seed=SEED, fid="eof.multipart")
