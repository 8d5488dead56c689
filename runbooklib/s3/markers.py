"""Tags with an empty name: zero-byte "directory marker" objects below `repositories/`, and their safe removal.

Copy tools such as AWS DataSync leave a zero-byte object at every folder level. On registry 2.8 the one at
``<name>/_manifests/tags/`` is listed as a tag named ``""``; GitLab's documented advice (delete ``<name>/``) does
not remove that one (lab-facts.md). This module finds every marker with one flat listing of the
``repositories/`` subtree (never the blobs), classifies it, and removes markers only by an explicit plan:

* :func:`plan_marker_cleanup` -> an immutable :class:`MarkerPlan` (each key, size 0, ETag) and its digest;
* :func:`apply_marker_cleanup` (``confirm`` must equal the digest) re-checks that each key is still a
  zero-byte object with the planned ETag, deletes exactly those keys with DeleteObjects (<= 1000 a call,
  each conditional on its ETag where S3 supports it), never a prefix, never recursively, and returns a
  :class:`CleanupAudit` of what was deleted and what was skipped and why.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable

from ..errors import RunbookError
from ..findings import Finding, Status
from .client import S3Target
from .errors import S3Failure, attempt, classify
from .layout import EMPTY_TAG_KINDS, MARKER_KINDS, Marker, classify_marker
from .listing import ListStats, list_partitioned
from ..probes.registry_tags import RegistryTags, TagsAnswer

SEED = "Tags with an empty name"
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
EVIDENCE_ROWS = 200


class MarkerCollector:
    """Feeds on listing pages (or inventory rows): zero-byte keys ending in ``/``, and repository names."""

    def __init__(self, repositories_prefix: str) -> None:
        self.prefix = repositories_prefix
        self.candidates: list[tuple[str, str, int, str]] = []
        self.repositories: set[str] = set()
        self.objects = 0
        self.slash_keys_with_data = 0
        self._last_repo = "\0"

    def page(self, contents: list[dict[str, Any]]) -> None:
        plen = len(self.prefix)
        last = self._last_repo
        repos = self.repositories
        for obj in contents:
            key = obj["Key"]
            if key[-1:] == "/":
                if obj.get("Size", 0) == 0:
                    lm = obj.get("LastModified")
                    self.candidates.append((key, str(obj.get("ETag", "")).strip('"'), 0,
                                            lm.isoformat() if isinstance(lm, dt.datetime) else str(lm or "")))
                else:
                    self.slash_keys_with_data += 1
                continue
            if key.startswith(last, plen):
                continue
            rel = key[plen:]
            idx = rel.find("/_")
            if idx > 0:
                last = rel[:idx + 2]
                repos.add(rel[:idx])
        self._last_repo = last
        self.objects += len(contents)

    def row(self, key: str, size: int, etag: str, last_modified: str = "") -> None:
        """One object from an inventory (same rules as a listing page)."""
        self.page([{"Key": key, "Size": size, "ETag": etag, "LastModified": last_modified}])

    def markers(self) -> list[Marker]:
        plen = len(self.prefix)
        out = []
        for key, etag, size, lm in sorted(self.candidates):
            kind, repo = classify_marker(key[plen:], self.repositories)
            out.append(Marker(key, etag, size, lm, kind, repo))
        return out


@dataclass
class MarkerScan:
    """Markers found below ``repositories/`` and what finding them cost."""

    bucket: str
    repositories_prefix: str
    markers: list[Marker] = field(default_factory=list)
    repositories: set[str] = field(default_factory=set)
    objects: int = 0
    slash_keys_with_data: int = 0
    stats: ListStats | None = None
    source: str = "listing"
    failure: S3Failure | None = None
    problem: str = ""
    target: S3Target | None = field(default=None, repr=False, compare=False)

    @property
    def by_kind(self) -> dict[str, int]:
        return dict(Counter(m.kind for m in self.markers))

    @property
    def empty_tag_repositories(self) -> list[str]:
        """Repositories the layout predicts to show a tag named ``""``."""
        return sorted({m.repository for m in self.markers if m.kind in EMPTY_TAG_KINDS})

    @property
    def affected_repositories(self) -> list[str]:
        return sorted({m.repository for m in self.markers if m.repository})

    def table(self):
        """The markers as a DataFrame (key, kind, repository, shows empty tag)."""
        import pandas as pd

        return pd.DataFrame([{"key": m.key, "kind": m.kind, "repository": m.repository,
                              "shows_empty_tag": m.makes_empty_tag, "etag": m.etag} for m in self.markers],
                            columns=["key", "kind", "repository", "shows_empty_tag", "etag"])

    def _repr_html_(self) -> str:
        import html

        head = (f"<p>{len(self.markers)} marker(s) in {len(self.affected_repositories)} repositories, "
                f"{self.objects} objects read below <code>{html.escape(self.repositories_prefix)}</code>"
                f" ({html.escape(self.source)}).</p>")
        if not self.markers:
            return head
        return head + self.table().head(EVIDENCE_ROWS).to_html(index=False, escape=True)


def scan_markers(target: S3Target, progress: bool = True) -> MarkerScan:
    """One flat listing of ``repositories/`` split by its top-level prefixes (never the blobs)."""
    scan = MarkerScan(target.bucket, target.repositories_prefix, target=target)
    if not target.ok:
        scan.problem = target.problem
        return scan
    collector = MarkerCollector(target.repositories_prefix)
    stats = list_partitioned(target, target.repositories_prefix, collector.page, progress, "repositories/")
    scan.stats, scan.failure = stats, stats.failure
    _fill(scan, collector)
    return scan


def find_markers(target: S3Target, inventory: str = "", progress: bool = True, memory_limit: str = "1GiB",
                 spill_dir: str = "") -> MarkerScan:
    """Markers from a listing, or from an S3 Inventory report when ``inventory`` is given (no LIST call): its
    manifest (read by DuckDB within ``memory_limit``, see inventory_db.py) or a folder of the CSV result sets
    an engine returned for ``runbook inventory-sql``. A plan made from an inventory is applied like any other:
    each key is re-checked live (HEAD: still zero bytes, same ETag) before it is deleted."""
    if not inventory:
        return scan_markers(target, progress)
    from . import inventory_sql as Q
    from .inventory import InventoryError, read_inventory
    from .inventory_db import is_results_folder, read_results, run_inventory

    source = f"query results {inventory}" if is_results_folder(inventory) else f"inventory {inventory}"
    scan = MarkerScan(target.bucket, target.repositories_prefix, source=source)
    try:
        if source.startswith("query results"):
            res = read_results(inventory, Q.MARKER_RESULTS)
        else:
            inv = read_inventory(inventory, target if target.client is not None else None)
            res = run_inventory(inv, Q.Layout(target.blobs_prefix, target.repositories_prefix), Q.MARKER_RESULTS,
                                memory_limit, spill_dir, progress)
        fill_from_results(scan, res)
    except InventoryError as exc:
        scan.failure = S3Failure("inventory", "", None, str(exc))
    scan.target = target
    return scan


def fill_from_results(scan: MarkerScan, res: Any) -> None:
    """The scan from an inventory's result sets (``summary``, ``markers``, ``repository_names``)."""
    from .inventory_db import from_epoch_ms, iso_or_empty

    summary = res.summary()
    scan.objects = summary["repository_objects"]
    scan.slash_keys_with_data = summary["slash_keys_with_data"]
    scan.repositories = {r[0] for r in res.rows("repository_names")}
    scan.markers = [Marker(key, str(etag or "").strip('"'), int(size or 0), iso_or_empty(from_epoch_ms(ms)), kind, repo or "")
                    for key, etag, size, ms, kind, repo in sorted(res.rows("markers"),
                                                                  key=lambda r: (r[0], str(r[1] or "").strip('"')))]


def _fill(scan: MarkerScan, collector: MarkerCollector) -> None:
    scan.markers = collector.markers()
    scan.repositories = set(collector.repositories)
    scan.objects = collector.objects
    scan.slash_keys_with_data = collector.slash_keys_with_data


def scan_markers_from_rows(rows: Iterable[tuple[str, int, str, str]], bucket: str,
                           repositories_prefix: str, source: str = "inventory") -> MarkerScan:
    """The same scan fed by ``(key, size, etag, last_modified)`` rows (an S3 Inventory): no LIST call."""
    collector = MarkerCollector(repositories_prefix)
    batch: list[dict[str, Any]] = []
    for key, size, etag, lm in rows:
        if not key.startswith(repositories_prefix):
            continue
        batch.append({"Key": key, "Size": size, "ETag": etag, "LastModified": lm})
        if len(batch) >= 10000:
            collector.page(batch)
            batch = []
    if batch:
        collector.page(batch)
    scan = MarkerScan(bucket, repositories_prefix, source=source)
    _fill(scan, collector)
    return scan


# ------------------------------------------------------------------------------------------------ findings

_REMEDY = (
    "Remove exactly the zero-byte marker objects, never a prefix and never with `--recursive`. This runbook "
    "does it safely: run it once to get the plan and its digest, then again with `-p apply true -p "
    "confirm_digest <digest>`; each key is re-checked (still zero bytes, same ETag) before it is deleted.\n"
    "By hand: `aws s3api delete-object --bucket <bucket> --key '<key ending in />'` for each key listed.\n"
    "On registry 2.8 the empty tag comes from `<name>/_manifests/tags/`, so deleting only `<name>/` (the "
    "GitLab's documented command) does not clear it; delete every marker listed.\n"
    "GitLab's documented alternative: `aws s3 sync` the registry's data to a new bucket (sync skips the markers "
    "that DataSync created only if you filter them; check the new bucket with this runbook), point the "
    "registry at it (`registry['storage']['s3']['bucket']` in gitlab.rb and `gitlab-ctl reconfigure`; Helm: "
    "the `registry.storage.secret` Secret; source: `storage.s3.bucket`), restart, then retire the old bucket.\n"
    "Avoid the cause: copy registry buckets with `aws s3 sync`/`rclone`, or configure DataSync not to "
    "create folder objects; re-run this runbook after every copy."
)


def failure_finding(fid: str, what: str, failure: S3Failure | None, problem: str = "",
                    refs: tuple[str, ...] = (SEED,)) -> Finding:
    """An S3 call that failed, as a finding that names the cause (never a traceback)."""
    from .errors import CREDENTIAL_REMEDY

    if problem:
        return Finding(fid, Status.SKIP, f"{what}: not checked", detail=problem, remedy="Give the S3 parameters "
                       "(`s3_bucket`, `s3_region`, `s3_endpoint`, `s3_root`, keys) or a registry config.", refs=refs)
    assert failure is not None
    remedy = CREDENTIAL_REMEDY.get(failure.kind, "")
    if failure.kind == "access_denied":
        remedy = "Run `s3-permissions`: it tests each action of the registry's IAM policy and names the missing ones."
    elif failure.kind == "no_such_bucket":
        remedy = "Check `s3_bucket` (or `storage.s3.bucket`): the bucket name is wrong or it is in another account."
    elif failure.kind == "wrong_region":
        remedy = f"Set the bucket's region{(' ' + failure.region_hint) if failure.region_hint else ''} in `s3_region` / `storage.s3.region`."
    elif failure.kind in ("unreachable", "timeout"):
        remedy = "Check `s3_endpoint` (scheme, host, port) and that this host can reach it (proxy, firewall)."
    elif failure.kind == "throttled":
        remedy = "S3 kept throttling after retries: run again later, or read an S3 Inventory (`inventory`) instead."
    return Finding(fid, Status.ERROR, f"{what}: {failure.title}",
                   detail=f"S3 call failed ({failure.code or failure.kind}): {failure.message}".strip(),
                   evidence=failure.evidence(), remedy=remedy, refs=refs)


def check_markers(scan: MarkerScan) -> list[Finding]:
    """Markers found, by kind, with the repositories that show an empty tag according to the layout."""
    if scan.problem or scan.failure is not None:
        found = failure_finding("markers.scan_failed", "Marker scan", scan.failure, scan.problem)
        if scan.objects:
            found = Finding(found.id, found.status, found.title,
                            detail=found.detail + f" The listing stopped after {scan.objects} objects: no marker "
                            "result is given for a partial listing.", evidence=found.evidence, remedy=found.remedy, refs=found.refs)
        return [found]
    cost = scan.stats.to_dict() if scan.stats else {"source": scan.source}
    ev: dict[str, Any] = {"objects_read": scan.objects, "repositories": len(scan.repositories),
                          "by_kind": scan.by_kind, "cost": cost}
    if scan.slash_keys_with_data:
        ev["keys_ending_in_slash_with_data"] = scan.slash_keys_with_data
    if not scan.objects:
        return [Finding("markers.nothing_listed", Status.WARN, "No object at all below repositories/",
                        detail=f"Nothing was found below {scan.repositories_prefix!r} in bucket {scan.bucket!r} ({scan.source}), "
                        "so there is nothing to judge: is this the registry's bucket and rootdirectory?", evidence=ev,
                        remedy="Check `s3_bucket` and `s3_root` against `storage.s3.bucket` / `rootdirectory` (the registry "
                        "writes below `<rootdirectory>/docker/registry/v2/`).", refs=(SEED,))]
    if not scan.markers:
        return [Finding("markers.none", Status.OK, "No zero-byte marker objects below repositories/",
                        detail=f"{scan.objects} objects in {len(scan.repositories)} repositories read "
                        f"({scan.source}); none is a zero-byte key ending in '/'.", evidence=ev, refs=(SEED,))]
    empty = scan.empty_tag_repositories
    ev["empty_tag_repositories"] = empty[:EVIDENCE_ROWS]
    ev["markers"] = [{"key": m.key, "kind": m.kind, "repository": m.repository} for m in scan.markers[:EVIDENCE_ROWS]]
    kinds = ", ".join(f"{n} {k}" for k, n in sorted(scan.by_kind.items()))
    detail = (f"{len(scan.markers)} zero-byte marker object(s) below repositories/ ({kinds}) in "
              f"{len(scan.affected_repositories)} repositories. ")
    if empty:
        detail += (f"{len(empty)} repositories have a `_manifests/tags/` marker, which registry 2.8 lists as a "
                   f"tag named \"\": {', '.join(empty[:10])}{' …' if len(empty) > 10 else ''}.")
        status = Status.FAIL
    else:
        detail += "None sits at `_manifests/tags/`, so no empty tag is expected; they are still copy debris."
        status = Status.WARN
    return [Finding("markers.found", status, "Zero-byte marker objects below repositories/", detail=detail, evidence=ev,
                    remedy=_REMEDY, refs=(SEED,))]


def check_empty_tags(scan: MarkerScan, tags: RegistryTags | None) -> list[Finding]:
    """Ask the registry (tags/list) which of the affected repositories really show a tag named ``""``."""
    if tags is None:
        return [Finding("markers.tags_list_not_checked", Status.SKIP, "Registry not asked (no registry_url)",
                        detail="Give `registry_url` (and credentials) to confirm with `GET /v2/<name>/tags/list`.", refs=(SEED,))]
    repos = scan.affected_repositories
    if not repos:
        return [Finding("markers.tags_list_not_needed", Status.OK, "No repository to confirm",
                        detail="No marker belongs to a repository.", refs=(SEED,))]
    answers = tags.tags_of(repos)
    return [tags_finding(answers, set(scan.empty_tag_repositories))]


def tags_finding(answers: dict[str, TagsAnswer], predicted: set[str], fid_prefix: str = "markers") -> Finding:
    showing = sorted(r for r, a in answers.items() if a.has_empty_tag)
    failed = {r: a.error or f"HTTP {a.status}" for r, a in answers.items() if a.tags is None}
    ev = {"asked": len(answers), "showing_empty_tag": showing[:EVIDENCE_ROWS],
          "predicted_by_layout": sorted(predicted)[:EVIDENCE_ROWS],
          "answers": [a.to_dict() for a in list(answers.values())[:50]]}
    if failed:
        ev["not_answered"] = dict(list(failed.items())[:50])
    unexpected = sorted(set(showing) - predicted)
    if unexpected:
        ev["showing_but_not_predicted"] = unexpected[:EVIDENCE_ROWS]
    if showing:
        return Finding(f"{fid_prefix}.empty_tag_listed", Status.FAIL, "The registry lists a tag with an empty name",
                       detail=f"`GET /v2/<name>/tags/list` includes \"\" for {len(showing)} repositories: "
                       f"{', '.join(showing[:10])}{' …' if len(showing) > 10 else ''}.", evidence=ev, remedy=_REMEDY, refs=(SEED,))
    if failed and len(failed) == len(answers):
        first = next(iter(failed.values()))
        return Finding(f"{fid_prefix}.tags_list_unanswered", Status.ERROR, "The registry did not answer tags/list",
                       detail=f"No repository could be checked: {first}.", evidence=ev,
                       remedy="Check `registry_url`, `username` and `password` (run `triage`).", refs=(SEED,))
    status = Status.WARN if failed else Status.OK
    return Finding(f"{fid_prefix}.no_empty_tag", status, "No repository lists an empty tag",
                   detail=f"tags/list of {len(answers) - len(failed)} repositories has no \"\""
                   + (f"; {len(failed)} could not be asked." if failed else "."), evidence=ev, refs=(SEED,))


# --------------------------------------------------------------------------------------- plan and apply


class CleanupRefused(RunbookError, ValueError):
    """apply was asked without the plan's digest (or with another one): nothing was deleted."""


@dataclass(frozen=True)
class PlannedDelete:
    key: str
    etag: str
    size: int
    kind: str
    repository: str


def _digest(bucket: str, endpoint: str, prefix: str, items: tuple[PlannedDelete, ...]) -> str:
    doc = {"bucket": bucket, "endpoint": endpoint, "prefix": prefix,
           "delete": [[i.key, i.etag, i.size] for i in items]}
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass(frozen=True)
class MarkerPlan:
    """Exactly which keys a cleanup would delete; ``digest`` pins bucket, endpoint, keys, sizes and ETags."""

    bucket: str
    endpoint: str
    prefix: str
    items: tuple[PlannedDelete, ...]
    digest: str
    created: str
    target: S3Target | None = field(default=None, compare=False, repr=False, hash=False)

    @property
    def keys(self) -> list[str]:
        return [i.key for i in self.items]

    def to_dict(self, limit: int = EVIDENCE_ROWS) -> dict[str, Any]:
        return {"digest": self.digest, "bucket": self.bucket, "endpoint": self.endpoint or "(AWS)",
                "prefix": self.prefix, "created": self.created, "keys": len(self.items),
                "delete": [{"key": i.key, "size": i.size, "etag": i.etag, "kind": i.kind} for i in self.items[:limit]],
                **({"truncated": len(self.items) - limit} if len(self.items) > limit else {})}

    def _repr_html_(self) -> str:
        import html

        import pandas as pd

        rows = pd.DataFrame([{"key": i.key, "size": i.size, "etag": i.etag, "kind": i.kind} for i in self.items],
                            columns=["key", "size", "etag", "kind"])
        return (f"<p><b>Plan</b>: delete {len(self.items)} zero-byte key(s) in bucket "
                f"<code>{html.escape(self.bucket)}</code>. Digest: <code>{self.digest}</code></p>"
                + rows.head(EVIDENCE_ROWS).to_html(index=False, escape=True))


def plan_marker_cleanup(scan: MarkerScan, target: S3Target | None = None) -> MarkerPlan:
    """The immutable plan: every marker found (zero bytes, key ending in ``/``, below repositories/)."""
    target = target or scan.target
    items = tuple(PlannedDelete(m.key, m.etag, m.size, m.kind, m.repository)
                  for m in sorted(scan.markers, key=lambda m: m.key)
                  if m.size == 0 and m.key.endswith("/") and m.key.startswith(scan.repositories_prefix))
    endpoint = target.settings.endpoint if target is not None else ""
    return MarkerPlan(scan.bucket, endpoint, scan.repositories_prefix, items,
                      _digest(scan.bucket, endpoint, scan.repositories_prefix, items),
                      dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), target)


@dataclass
class CleanupAudit:
    """What an apply did, for the report: deleted keys, skipped keys with the reason, S3 requests made."""

    digest: str
    bucket: str
    started: str
    finished: str = ""
    planned: int = 0
    deleted: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    errors: list[dict[str, str]] = field(default_factory=list)
    requests: dict[str, Any] = field(default_factory=dict)
    tags_after: dict[str, TagsAnswer] = field(default_factory=dict)
    conditional_delete: bool = True

    @property
    def empty_tag_after(self) -> list[str]:
        return sorted(r for r, a in self.tags_after.items() if a.has_empty_tag)

    def to_dict(self, limit: int = EVIDENCE_ROWS) -> dict[str, Any]:
        return {"digest": self.digest, "bucket": self.bucket, "started": self.started, "finished": self.finished,
                "planned": self.planned, "deleted_count": len(self.deleted), "deleted": self.deleted[:limit],
                "skipped": self.skipped[:limit], "errors": self.errors[:limit], "s3_requests": self.requests,
                "etag_conditional_delete": self.conditional_delete,
                "tags_after": {r: a.to_dict() for r, a in list(self.tags_after.items())[:50]},
                "empty_tag_after": self.empty_tag_after}

    def _repr_html_(self) -> str:
        import html

        return "<pre>" + html.escape(json.dumps(self.to_dict(), indent=2, default=str)) + "</pre>"


def _recheck(target: S3Target, item: PlannedDelete) -> tuple[PlannedDelete, str]:
    """'' when the key is still the planned zero-byte object, else why it is skipped."""
    out = attempt(target.client.head_object, Bucket=target.bucket, Key=item.key)
    if not out.ok:
        assert out.failure is not None
        if out.failure.kind == "not_found":
            return item, "gone: the key no longer exists"
        return item, f"not re-checked: {out.failure.title} ({out.failure.code})"
    head = out.value
    size = int(head.get("ContentLength", -1))
    etag = str(head.get("ETag", "")).strip('"')
    if size != 0:
        return item, f"changed: now {size} bytes"
    if etag != item.etag:
        return item, f"changed: ETag {etag} differs from the planned {item.etag}"
    return item, ""


def _delete_batch(target: S3Target, batch: list[PlannedDelete], audit: CleanupAudit) -> None:
    def call(with_etag: bool):
        objects = [{"Key": i.key, **({"ETag": f'"{i.etag}"'} if with_etag and i.etag else {})} for i in batch]
        return attempt(target.client.delete_objects, Bucket=target.bucket,
                       Delete={"Objects": objects, "Quiet": False})

    out = call(audit.conditional_delete)
    if not out.ok and out.failure is not None and out.failure.code in ("MalformedXML", "NotImplemented", "InvalidArgument"):
        audit.conditional_delete = False  # an S3 that does not know per-key ETag conditions: keys were re-checked
        out = call(False)
    if not out.ok:
        assert out.failure is not None
        for i in batch:
            audit.errors.append({"key": i.key, "error": f"{out.failure.code}: {out.failure.message}"[:200]})
        return
    for d in out.value.get("Deleted") or []:
        audit.deleted.append(d["Key"])
    for e in out.value.get("Errors") or []:
        reason = f"{e.get('Code', '')}: {e.get('Message', '')}"[:200]
        if e.get("Code") in ("PreconditionFailed", "ConditionalRequestConflict"):
            audit.skipped.append({"key": e.get("Key", ""), "reason": f"changed during apply ({reason})"})
        else:
            audit.errors.append({"key": e.get("Key", ""), "error": reason})


def apply_marker_cleanup(plan: MarkerPlan, confirm: str, target: S3Target | None = None,
                         tags: RegistryTags | None = None) -> CleanupAudit:
    """Delete exactly the plan's keys that are still unchanged; ``confirm`` must be the plan's digest.

    Raises :class:`CleanupRefused` (nothing deleted) when ``confirm`` is not the digest, the plan was
    altered, or there is no S3 client. Never lists, never deletes a prefix, never recurses.
    """
    target = target or plan.target
    if not confirm or confirm.strip() != plan.digest:
        raise CleanupRefused(f"confirm_digest {confirm or '(empty)'!r} is not this plan's digest {plan.digest}: "
                             "nothing was deleted")
    if _digest(plan.bucket, plan.endpoint, plan.prefix, plan.items) != plan.digest:
        raise CleanupRefused("the plan does not match its own digest (was it edited?): nothing was deleted")
    if target is None or not target.ok:
        raise CleanupRefused("no usable S3 client to apply the plan with: nothing was deleted")
    if target.bucket != plan.bucket:
        raise CleanupRefused(f"the plan is for bucket {plan.bucket!r}, the client for {target.bucket!r}")
    for item in plan.items:  # belt and braces: the plan type allows only zero-byte folder keys
        if item.size != 0 or not item.key.endswith("/") or not item.key.startswith(plan.prefix):
            raise CleanupRefused(f"the plan holds a key that is not a marker below {plan.prefix}: {item.key!r}")
    before = target.counter.snapshot()
    audit = CleanupAudit(plan.digest, plan.bucket, dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                         planned=len(plan.items))
    if plan.items:
        with ThreadPoolExecutor(max_workers=max(1, min(target.workers, len(plan.items))), thread_name_prefix="recheck") as pool:
            checked = list(pool.map(lambda i: _recheck(target, i), plan.items))
        still = [item for item, why in checked if not why]
        audit.skipped.extend({"key": item.key, "reason": why} for item, why in checked if why)
        for start in range(0, len(still), DELETE_BATCH):
            _delete_batch(target, still[start:start + DELETE_BATCH], audit)
    audit.requests = target.counter.since(before)
    if tags is not None:
        audit.tags_after = tags.tags_of({i.repository for i in plan.items if i.repository})
    audit.finished = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    return audit


def check_marker_cleanup(plan: MarkerPlan, apply: bool = False, confirm: str = "",
                         tags: RegistryTags | None = None) -> list[Finding]:
    """The notebook's cleanup step: plan only by default; with ``apply`` and the plan's digest, do it and
    put the audit record in the report."""
    ev = plan.to_dict()
    if not apply or not plan.items:
        if not plan.items:
            return [Finding("markers.cleanup_nothing", Status.OK, "Nothing to clean up",
                            detail="The plan is empty: no marker object below repositories/.", evidence=ev, refs=(SEED,))]
        return [Finding("markers.cleanup_planned", Status.WARN, f"Cleanup planned: {len(plan.items)} key(s), not applied",
                        detail=f"Plan digest {plan.digest}. Nothing was deleted (plan only). To apply exactly this plan: "
                        f"`runbook run empty-name-tags -f PARAMS -p apply true -p confirm_digest {plan.digest} -o OUT`.",
                        evidence=ev, remedy=_REMEDY, refs=(SEED,))]
    try:
        audit = apply_marker_cleanup(plan, confirm, tags=tags)
    except CleanupRefused as exc:
        return [Finding("markers.cleanup_refused", Status.ERROR, "Cleanup refused: nothing deleted", detail=str(exc), evidence=ev,
                        remedy="Run once without `apply` to see the plan and its digest, then pass that digest as "
                        "`confirm_digest` (the digest changes when any marker changes).", refs=(SEED,))]
    record = audit.to_dict()
    problems = []
    if audit.skipped:
        problems.append(f"{len(audit.skipped)} key(s) skipped because they changed or vanished since the plan")
    if audit.errors:
        problems.append(f"{len(audit.errors)} key(s) could not be deleted")
    if audit.empty_tag_after:
        problems.append(f"tags/list still shows \"\" for {', '.join(audit.empty_tag_after[:10])}")
    detail = (f"Deleted {len(audit.deleted)} of {audit.planned} planned key(s) with DeleteObjects "
              f"({audit.requests.get('requests', 0)} S3 requests). ")
    if audit.tags_after:
        detail += (f"tags/list re-checked for {len(audit.tags_after)} repositories: "
                   + ("no empty tag left." if not audit.empty_tag_after else "an empty tag is still listed."))
    if problems:
        status = Status.FAIL if audit.empty_tag_after or audit.errors else Status.WARN
        return [Finding("markers.cleanup_applied", status, "Cleanup applied with exceptions",
                        detail=detail + " " + "; ".join(problems) + ".", evidence=record,
                        remedy="Run the runbook again: it plans the markers that are left.", refs=(SEED,))]
    return [Finding("markers.cleanup_applied", Status.OK, "Cleanup applied", detail=detail, evidence=record, refs=(SEED,))]


__all__ = [
    "MARKER_KINDS", "MarkerCollector", "MarkerScan", "find_markers", "scan_markers", "scan_markers_from_rows", "check_markers",
    "check_empty_tags", "MarkerPlan", "PlannedDelete", "plan_marker_cleanup", "apply_marker_cleanup",
    "CleanupAudit", "CleanupRefused", "check_marker_cleanup", "failure_finding", "classify",
]
