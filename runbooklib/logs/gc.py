"""The output of the registry's offline garbage collector (``registry garbage-collect [--dry-run]
[--delete-untagged] CONFIG``), read for what it marked, what it found eligible and what it deleted.

Three wordings exist, all read here:

* Distribution 2.x (Debian's docker-registry 2.8, Omnibus before the metadata database): plain lines
  ``<repo>``, ``<repo>: marking manifest <digest>``, ``<repo>: marking blob <digest>``,
  ``manifest eligible for deletion: <digest>`` (under the last repository line), the summary
  ``N blobs marked, N blobs and N manifests eligible for deletion``, ``blob eligible for deletion: <digest>``,
  then logrus lines ``msg="deleting manifest: <path>"`` and ``msg="Deleting blob: <path>"`` in a real run;
* Distribution 3: the same, but ``manifest eligible for deletion: {<repo> <digest> [<tags>]}``;
* GitLab's fork (offline GC, v3+): structured lines ``msg="marking manifest"`` / ``"manifest eligible for
  deletion"`` / ``"blob eligible for deletion"`` / ``"mark stage complete"`` with ``digest``, ``repository``,
  ``blobs_marked``, ``blobs_to_delete``, ``manifests_to_delete`` fields (logfmt or JSON).

Registry 2.x with ``--delete-untagged`` treats the platform manifests of a multi-arch index as untagged: it
marks them as *blobs* (the index references them) and deletes them as *manifests*. A digest that is both
``marking blob`` and ``manifest eligible for deletion`` in one repository is that case.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ..findings import Finding, Status

SECTION = "Beyond the troubleshooting page: garbage collection that broke pulls"
_DIGEST = r"sha256:[0-9a-f]{64}"
_REPO = r"[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|[-]*)[a-z0-9]+)*)*"
_REPO_LINE = re.compile(rf"^(?P<repo>{_REPO})$")
_MARK = re.compile(rf"^(?P<repo>{_REPO}): marking (?P<kind>manifest|blob) (?P<digest>{_DIGEST})\s*$")
_ELIGIBLE_2 = re.compile(rf"^manifest eligible for deletion: (?P<digest>{_DIGEST})\s*$")
_ELIGIBLE_3 = re.compile(rf"^manifest eligible for deletion: \{{(?P<repo>{_REPO}) (?P<digest>{_DIGEST}) \[(?P<tags>[^\]]*)\]\}}")
_SUMMARY = re.compile(r"^(?P<marked>[0-9]+) blobs marked, (?P<blobs>[0-9]+) blobs and (?P<manifests>[0-9]+) manifests "
                      r"eligible for deletion")
_BLOB_ELIGIBLE = re.compile(rf"^blob eligible for deletion: (?P<digest>{_DIGEST})")
_DELETING_BLOB = re.compile(r'Deleting blob: [^" ]*/blobs/sha256/[0-9a-f]{2}/(?P<hex>[0-9a-f]{64})')
_DELETING_MANIFEST = re.compile(rf'deleting manifest: [^" ]*/repositories/(?P<repo>{_REPO})/_manifests/revisions/'
                                r"sha256/(?P<hex>[0-9a-f]{64})")
_LOGFMT = re.compile(r'([A-Za-z_.]+)=("(?:[^"\\]|\\.)*"|[^ ]*)')


@dataclass
class GcRun:
    """What one garbage-collect run printed."""

    flavour: str = ""  # "distribution 2", "distribution 3", "gitlab" ("" when nothing was recognised)
    repositories: list[str] = field(default_factory=list)
    marked_manifests: dict[str, set[str]] = field(default_factory=dict)  # repo -> digests
    marked_blobs: dict[str, set[str]] = field(default_factory=dict)  # repo -> digests
    manifests_eligible: list[tuple[str, str]] = field(default_factory=list)  # (repo, digest)
    blobs_eligible: set[str] = field(default_factory=set)
    deleted_blobs: set[str] = field(default_factory=set)
    deleted_manifests: list[tuple[str, str]] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)
    lines: int = 0
    recognised: int = 0

    @property
    def delete_untagged(self) -> bool:
        return bool(self.manifests_eligible)

    @property
    def dry_run(self) -> bool | None:
        """True: things were eligible and nothing was deleted; False: deletions were logged; None: nothing to do."""
        if self.deleted_blobs or self.deleted_manifests:
            return False
        return True if (self.blobs_eligible or self.manifests_eligible) else None

    def index_children_deleted(self) -> list[dict[str, str]]:
        """Manifests a tagged manifest list/index references (marked as blobs in their repository) that the run
        deleted as untagged manifests: every pull of that index breaks."""
        return [{"repository": repo, "digest": d} for repo, d in self.manifests_eligible
                if d in self.marked_blobs.get(repo, set())]


def _fields(line: str) -> dict[str, Any]:
    text = line.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}
    out: dict[str, Any] = {}
    for key, value in _LOGFMT.findall(text):
        out[key] = value[1:-1].replace('\\"', '"') if value.startswith('"') else value
    return out


def parse_gc_output(text: str) -> GcRun:
    """Read garbage-collect output (any of the three wordings; svlogd prefixes and blank lines are fine)."""
    run = GcRun()
    current = ""
    for raw in text.splitlines():
        run.lines += 1
        line = re.sub(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}_[0-9:.]+ ", "", raw.rstrip("\r"))
        if not line.strip():
            continue
        m = _MARK.match(line)
        if m:
            repo = m["repo"]
            (run.marked_manifests if m["kind"] == "manifest" else run.marked_blobs).setdefault(repo, set()).add(m["digest"])
            run.flavour = run.flavour or "distribution 2"
            run.recognised += 1
            continue
        m = _ELIGIBLE_3.match(line)
        if m:
            run.manifests_eligible.append((m["repo"], m["digest"]))
            run.flavour = "distribution 3"
            run.recognised += 1
            continue
        m = _ELIGIBLE_2.match(line)
        if m:
            run.manifests_eligible.append((current, m["digest"]))
            run.recognised += 1
            continue
        m = _SUMMARY.match(line)
        if m:
            run.summary = {"blobs_marked": int(m["marked"]), "blobs_to_delete": int(m["blobs"]),
                           "manifests_to_delete": int(m["manifests"])}
            run.recognised += 1
            continue
        m = _BLOB_ELIGIBLE.match(line)
        if m:
            run.blobs_eligible.add(m["digest"])
            run.recognised += 1
            continue
        m = _DELETING_BLOB.search(line)
        if m:
            run.deleted_blobs.add("sha256:" + m["hex"])
            run.recognised += 1
            continue
        m = _DELETING_MANIFEST.search(line)
        if m:
            run.deleted_manifests.append((m["repo"], "sha256:" + m["hex"]))
            run.recognised += 1
            continue
        m = _REPO_LINE.match(line)
        if m:
            current = m["repo"]  # a bare word: a repository only in a file that has GC lines (counted below)
            run.repositories.append(current)
            continue
        f = _fields(line)
        msg = str(f.get("msg", ""))
        if msg in ("marking manifest", "marking manifest list reference", "marking repository",
                   "manifest eligible for deletion", "blob eligible for deletion", "mark stage complete",
                   "starting sweep stage", "sweep stage complete", "starting mark stage"):
            run.flavour = "gitlab"
            run.recognised += 1
            repo = str(f.get("repository") or f.get("repo") or current)
            digest = str(f.get("digest", ""))
            if msg == "marking repository":
                current = repo
                run.repositories.append(repo)
            elif msg == "marking manifest" and digest:
                kind = run.marked_blobs if f.get("digest_type") == "layer" else run.marked_manifests
                kind.setdefault(repo, set()).add(digest)
            elif msg == "marking manifest list reference" and digest:
                run.marked_blobs.setdefault(repo, set()).add(digest)
                run.marked_manifests.setdefault(repo, set()).add(digest)
            elif msg == "manifest eligible for deletion" and digest:
                run.manifests_eligible.append((repo, digest))
            elif msg == "blob eligible for deletion" and digest:
                run.blobs_eligible.add(digest)
            elif msg == "mark stage complete":
                run.summary = {k: int(f[k]) for k in ("blobs_marked", "blobs_to_delete", "manifests_to_delete")
                               if str(f.get(k, "")).isdigit()}
    if not run.recognised:
        run.repositories = []
    if run.recognised and not run.flavour:
        run.flavour = "distribution 2"
    return run


def gc_repositories(path: str | None) -> list[str]:
    """The repositories a garbage-collect output names ([] without a readable file): what to check live."""
    if not path:
        return []
    from ..safefile import UnsafeFile, read_bytes

    try:
        return list(dict.fromkeys(parse_gc_output(read_bytes(path).decode("utf-8", errors="replace")).repositories))
    except UnsafeFile:
        return []


REMEDY = (
    "Stop GC from deleting referenced content, then restore what it deleted:\n"
    "- Never run `--delete-untagged` (`gitlab-ctl registry-garbage-collect -m`) on registry 2.x while multi-arch "
    "images (OCI indexes, Docker manifest lists) are stored: it deletes their platform manifests. Run GC without "
    "it, or move to GitLab's registry with the metadata database, whose online GC follows index references.\n"
    "- Run GC only in read-only mode: Omnibus `registry['storage'] = { ..., 'maintenance' => { 'readonly' => "
    "{ 'enabled' => true } } }` then `gitlab-ctl reconfigure` (`gitlab-ctl registry-garbage-collect` stops the "
    "registry for the run); Helm: `registry.maintenance.readonly.enabled: true` for the GC window; source: "
    "`storage.maintenance.readonly.enabled: true`, restart, GC, set it back. Pushes during a GC lose blobs.\n"
    "- Restore: with bucket versioning on, restore the previous version of each deleted `…/blobs/sha256/xx/<hex>/data` "
    "and `…/_manifests/revisions/sha256/<hex>/link` (`aws s3api list-object-versions`, then copy the version "
    "back, or delete the delete marker); without it, push the affected tags again from CI or a local copy."
)


def check_gc_output(path: str | None) -> list[Finding]:
    """Findings from a file of garbage-collect output (read through ``safefile``); see :func:`check_gc_text`."""
    if not path:
        return check_gc_text(None)
    from ..safefile import UnsafeFile, read_bytes

    try:
        text = read_bytes(path).decode("utf-8", errors="replace")
    except UnsafeFile as exc:
        return [Finding("gc.output_unreadable", Status.ERROR, "Cannot read gc_output",
                        detail=f"{exc.path}: {exc.reason}.", evidence={"gc_output": str(path)},
                        remedy="Give `gc_output` as a regular, readable file (the saved output of the GC run).",
                        refs=(SECTION,))]
    return check_gc_text(text, str(path))


def check_gc_text(text: str | None, source: str = "gc_output") -> list[Finding]:
    """Findings from garbage-collect output: index children deleted (or about to be, in a dry run), untagged
    manifests removed, and what the run did. ``text`` None or empty: a skip saying how to capture it."""
    refs = (SECTION,)
    if not text:
        return [Finding("gc.output_not_given", Status.SKIP, "Garbage collection output not read",
                        detail="Give `gc_output`: a file with what `registry garbage-collect` printed. Omnibus: "
                               "`sudo gitlab-ctl registry-garbage-collect -m 2>&1 | tee gc.txt` logs to "
                               "`/var/log/gitlab/registry/current`; for a preview without deleting anything: "
                               "`/opt/gitlab/embedded/bin/registry garbage-collect --dry-run --delete-untagged "
                               "/var/opt/gitlab/registry/config.yml > gc.txt 2>&1`. Helm: the output of the "
                               "`registry garbage-collect` you ran in the registry pod.", refs=refs)]
    run = parse_gc_output(text)
    if not run.recognised:
        return [Finding("gc.output_unrecognised", Status.SKIP, f"{source} is not garbage-collect output",
                        detail=f"None of its {run.lines} line(s) is a line `registry garbage-collect` prints "
                               "(`<repo>: marking manifest …`, `blob eligible for deletion: …`, `mark stage complete`).",
                        evidence={"lines": run.lines}, refs=refs)]
    mode = {True: "a dry run (nothing deleted)", False: "a real run (deletions logged)", None: "a run with nothing to delete"}
    ev = {"flavour": run.flavour, "mode": mode[run.dry_run], "repositories": run.repositories[:50],
          "summary": run.summary, "manifests_eligible": len(run.manifests_eligible),
          "blobs_eligible": len(run.blobs_eligible), "blobs_deleted": len(run.deleted_blobs),
          "manifests_deleted": len(run.deleted_manifests)}
    found = [Finding("gc.summary", Status.INFO, f"Garbage collection output: {mode[run.dry_run]}",
                     detail=f"{run.flavour}; {len(run.repositories)} repositories; "
                            f"{len(run.manifests_eligible)} manifest(s) and {len(run.blobs_eligible)} blob(s) eligible "
                            f"for deletion; {len(run.deleted_manifests)} manifest(s) and {len(run.deleted_blobs)} "
                            "blob(s) deleted.", evidence=ev, refs=refs)]
    children = run.index_children_deleted()
    if children:
        repos = sorted({c["repository"] for c in children})
        real = run.dry_run is False
        found.append(Finding(
            "gc.index_children_deleted" if real else "gc.index_children_at_risk", Status.FAIL if real else Status.WARN,
            f"{'Garbage collection deleted' if real else 'A real run would delete'} {len(children)} platform "
            f"manifest(s) of multi-arch images in {', '.join(repos[:3])}",
            detail=f"With `--delete-untagged`, {len(children)} manifest(s) a tagged index or manifest list references "
                   "(each is `marking blob` and `manifest eligible for deletion` in the same repository) "
                   f"{'were' if real else 'would be'} deleted as untagged, with the layers only they reference. The "
                   "index stays tagged, so `tags/list` still shows the tag while pulls fail with `manifest unknown` "
                   "(and `blob unknown` for its layers).",
            evidence={**ev, "manifests": children[:50], "scenario": "gc-broke-pulls"}, remedy=REMEDY, refs=refs))
    elif run.delete_untagged:
        found.append(Finding(
            "gc.untagged_removed", Status.INFO, f"{len(run.manifests_eligible)} untagged manifest(s) removed by "
                                               "--delete-untagged",
            detail="None of them is referenced by a tagged index in this output: pulls by tag are unaffected; pulls "
                   "by digest of those manifests fail from now on.",
            evidence={**ev, "manifests": [{"repository": r, "digest": d} for r, d in run.manifests_eligible[:50]]},
            refs=refs))
    return found
