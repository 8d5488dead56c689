"""`runbook triage`: triage, then every scenario it routes to, into one signed incident bundle.

Layout of DIR: index.html, findings.json (merged), <scenario>.{ipynb,html,findings.json} for each runbook
run, MANIFEST.sha256, MANIFEST.sig, MANIFEST.pub; with --archive also DIR.tar.gz beside it.
"""

from __future__ import annotations

import datetime as dt
import platform
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from .. import params as P
from .. import scenarios
from ..findings import Status
from . import manifest as M
from .index import render_index
from .runner import run_scenario
from .sanitize import Redactor, Withheld, archive, recheck_tree, withheld_page

TRIAGE = "triage"


@dataclass
class BundleRequest:
    """Everything `runbook triage` was asked, checked before any notebook runs."""

    out_dir: Path
    file_values: dict[str, Any] = field(default_factory=dict)
    file_base: Path | None = None
    overrides: list[tuple[str, Any]] = field(default_factory=list)
    incident: str = ""
    only: list[str] | None = None  # None: follow routing; ["all"]: every built scenario
    sign_key: str = ""  # env:NAME / file:PATH of an Ed25519 PEM private key
    archive: bool = False
    force: bool = False
    cell_timeout: float | None = None
    progress: bool = False
    pdf: bool = False  # also print index and reports to PDF (headless Chromium), inside the manifest


@dataclass
class BundleResult:
    out_dir: Path
    exit_code: int
    summary: dict[str, Any]
    archive: Path | None = None


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _values_for(sc: scenarios.Scenario, req: BundleRequest) -> dict[str, Any]:
    overrides = [(n, v) for n, v in req.overrides if n in sc.schema]
    return P.validate(sc.schema, req.file_values, overrides, scenario=sc.id, file_base=req.file_base)


def _check_request(req: BundleRequest) -> tuple[dict[str, Any], Any]:
    """Refuse bad input before anything runs: output dir, override names, only-list, signing key, triage params."""
    out = req.out_dir
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not req.force:
        raise P.ParamError(f"output folder {out} exists and is not empty (use --force to replace its bundle)")
    if req.force and out.is_dir() and any(out.iterdir()) and not any((out / m).exists() for m in BUNDLE_MARKERS):
        raise P.ParamError(f"output folder {out} holds files but no bundle (no {BUNDLE_MARKERS[0]}): --force "
                           "only replaces a previous bundle, it never empties another folder")
    for name, _ in req.overrides:
        if name not in P.VOCABULARY:
            raise P.ParamError(f"unknown parameter {name!r} (valid: {', '.join(sorted(P.VOCABULARY))})")
    if req.only and req.only != ["all"]:
        for sid in req.only:
            sc = scenarios.CATALOGUE.get(sid)
            if sc is None:
                raise P.ParamError(f"--only: unknown scenario {sid!r} (known: {', '.join(scenarios.CATALOGUE)})")
            if not sc.built:
                raise P.ParamError(f"--only: scenario {sid} is not built yet")
    key = None
    if req.sign_key:
        pem = P.resolve_secret("sign_key", req.sign_key)
        key = M.load_signing_key(pem.encode() + b"\n", req.sign_key)
    triage_values = _values_for(scenarios.get(TRIAGE), req)
    for name, spec in scenarios.get(TRIAGE).schema.items():
        if spec.secret:
            P.resolve_secret(name, triage_values[name])
    P.check_files_exist({**dict(req.file_values), **dict(req.overrides)})
    return triage_values, key


def _plan(triage_findings: list[Any], only: list[str] | None) -> list[dict[str, str]]:
    if only == ["all"]:
        return [{"scenario": s.id, "why": "forced with --only all", "finding": ""}
                for s in scenarios.CATALOGUE.values() if s.built and s.id != TRIAGE]
    if only:
        return [{"scenario": sid, "why": "forced with --only", "finding": ""} for sid in dict.fromkeys(only)
                if sid != TRIAGE]
    return [r for r in scenarios.route(triage_findings)
            if r["scenario"] != TRIAGE and scenarios.CATALOGUE[r["scenario"]].built]


BUNDLE_MARKERS = ("MANIFEST.sha256", "findings.json", "index.html")


def _clean(folder: Path) -> None:
    """Empty a previous bundle's folder for --force. Symlinks are removed, never followed."""
    import shutil

    for child in folder.iterdir():
        if child.is_symlink() or not child.is_dir():
            child.unlink()
        else:
            shutil.rmtree(child)


def run_bundle(req: BundleRequest) -> BundleResult:
    """Run triage and its routed scenarios into a redacted, manifested, signed bundle."""
    triage_values, key = _check_request(req)
    out = req.out_dir
    out.mkdir(parents=True, exist_ok=True)
    if req.force:
        _clean(out)
    started = _now()
    incident = req.incident or "incident-" + dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    secrets: set[str] = set(P.referenced_secrets(req.file_values, req.overrides, req.file_base))
    usernames = {str(v) for n, v in [*req.file_values.items(), *req.overrides] if n == "username" and v}
    entries: list[dict[str, Any]] = []
    merged: list[dict[str, Any]] = []

    done = [0]

    def run_one(sc: scenarios.Scenario, values: dict[str, Any], why: str, finding: str) -> Any:
        secrets.update(P.secret_values(sc.schema, values))
        if values.get("username"):
            usernames.add(str(values["username"]))
        t0 = time.monotonic()
        if req.progress:
            print(f"runbook {done[0] + 1}: {sc.id} ({why})", file=sys.stderr, flush=True)
        # every secret the bundle knows so far: one runbook may meet another's (a shared parameter file)
        result = run_scenario(sc.id, values, out, cell_timeout=req.cell_timeout, progress=req.progress,
                              extra_secrets=sorted(secrets))
        entry = {"id": sc.id, "title": sc.title, "why": why, "finding": finding,
                 "status": result.report.status.value if result.report else Status.ERROR.value,
                 "exit_code": result.exit_code, "error": result.error, "html": result.html.name,
                 "duration_s": round(time.monotonic() - t0, 2)}
        entries.append(entry)
        if result.report:
            merged.extend({**f.to_dict(), "scenario": sc.id} for f in result.report.findings)
        done[0] += 1
        return result

    triage = run_one(scenarios.get(TRIAGE), triage_values, "first look: GitLab's documented checks before investigating", "")
    plan = _plan(triage.report.findings if triage.report else [], req.only)
    if req.progress and plan:
        print(f"triage routes to {len(plan)} runbook(s): {', '.join(p['scenario'] for p in plan)}",
              file=sys.stderr, flush=True)
    for step in plan:
        sc = scenarios.get(step["scenario"])
        try:
            values = _values_for(sc, req)
            for name, spec in sc.schema.items():
                if spec.secret:
                    P.resolve_secret(name, values[name])
        except P.ParamError as exc:
            entries.append({"id": sc.id, "title": sc.title, "why": step["why"], "finding": step["finding"],
                            "status": None, "exit_code": 2, "error": f"not run: {exc}", "html": None,
                            "duration_s": 0.0})
            continue
        run_one(sc, values, step["why"], step["finding"])

    # Each run masked its own artifacts; check them all against every secret the bundle met (a later runbook
    # may have added one) and redact again, as objects, only where a form of one is found. What cannot be made
    # safe is withheld and becomes a finding of the bundle.
    redactor = Redactor(secrets, usernames)
    withheld = recheck_tree(out, redactor)
    for note in withheld:
        merged.append({**note.finding().to_dict(), "scenario": note.artifact.split(".")[0]})

    codes = [e["exit_code"] for e in entries]
    exit_code = 2 if 2 in codes and any(e["html"] for e in entries if e["exit_code"] == 2) else (1 if 1 in codes else 0)
    worst = max((Status(f["status"]) for f in merged if f["status"] not in ("skip", "info")), key=lambda s: s.severity,
                default=Status.OK)
    if any(e["error"] and e["html"] for e in entries):
        worst = max(worst, Status.ERROR, key=lambda s: s.severity)
    from ..causes import group

    causes, symptoms = group(merged)
    summary: dict[str, Any] = {
        "incident": incident,
        "started": started,
        "finished": _now(),
        "host": socket.gethostname(),
        "status": worst.value,
        "exit_code": exit_code,
        "parameters": _shown_parameters(req),
        "scenarios": entries,
        "causes": causes,
        "other_symptoms": symptoms,
        "findings": merged,
        "versions": _versions(),
        "withheld": [note.to_dict() for note in withheld],
    }
    ephemeral = key is None
    if key is None:
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        key = Ed25519PrivateKey.generate()
    summary["signature"] = {"kind": "one-time (integrity only)" if ephemeral else "operator",
                            "fingerprint": M.key_fingerprint(key.public_key())}
    _write_summary(out, summary, redactor)
    from .postmortem import PdfError, print_bundle, summary_markdown

    (out / "summary.md").write_text(summary_markdown(redactor.obj(summary)), encoding="utf-8")
    if redactor.text_file(out / "summary.md") is not None:  # could not be made safe: withheld, not shipped
        (out / "summary.md").unlink(missing_ok=True)
    if req.pdf:
        try:
            print_bundle(out)
        except PdfError as exc:
            summary.setdefault("problems", []).append(str(exc))
    data = M.write_manifest(out)
    M.sign(out, data, key)
    tarball = archive(out) if req.archive else None
    return BundleResult(out, exit_code, summary, tarball)


def _write_summary(out: Path, summary: dict[str, Any], redactor: Redactor) -> None:
    """findings.json and index.html from the masked summary; either one withheld is said in the other."""

    def withhold(note: Withheld) -> None:
        summary["withheld"].append(note.to_dict())
        summary["findings"].append({**note.finding().to_dict(), "scenario": "bundle"})
        summary["status"] = max(Status(summary["status"]), Status.ERROR, key=lambda s: s.severity).value

    _, note = redactor.write_json(summary, out / "findings.json")
    if note is not None:
        withhold(note)
    try:
        note = redactor.write_html(render_index(redactor.obj(summary)), out / "index.html")
    except Exception as exc:  # noqa: BLE001 - rendering failed: the bundle still completes
        note = Withheld("index.html", redactor.reason(exc))
    if note is not None:
        withhold(note)
        (out / "index.html").write_text(withheld_page([Withheld(**w) for w in summary["withheld"]]),
                                        encoding="utf-8")
        if (out / "findings.json").exists():
            redactor.write_json(summary, out / "findings.json")


def _shown_parameters(req: BundleRequest) -> dict[str, Any]:
    """What the bundle was run with: file values then overrides; secrets are references by construction."""
    shown = {k: v for k, v in req.file_values.items() if k in P.VOCABULARY}
    shown.update(dict(req.overrides))
    for name, value in list(shown.items()):
        spec = P.VOCABULARY.get(name)
        if spec and spec.secret and value and not P.is_reference(str(value)):
            shown[name] = "[REDACTED]"
    return shown


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {"runbooklib": __version__, "python": platform.python_version()}
    for pkg in ("papermill", "nbconvert"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            pass
    return out


def scenario_ids(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]
