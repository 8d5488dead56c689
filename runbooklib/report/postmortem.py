"""What goes into a postmortem: `summary.md` (paste into an issue) and PDFs of the pages (attach them).

The Markdown names the causes first, each with its fix per install type and the runbooks that saw it, then
the symptoms no cause explains and when the logs saw them. The PDFs are printed by headless Chromium from
the bundle's own self-contained pages, offline.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ..errors import RunbookError

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
                  "--disable-component-update", "--disable-sync", "--no-pdf-header-footer")
PDF_TIMEOUT_S = 120


class PdfError(RunbookError, RuntimeError):
    """A page could not be printed (no Chromium, or it failed): one line naming the page."""


def _seen_window(evidence: Any) -> str:
    if not isinstance(evidence, dict):
        return ""
    first, last = evidence.get("first_seen"), evidence.get("last_seen")
    return f" (first seen {first}, last {last})" if first and last else ""


def summary_markdown(bundle: dict[str, Any], digest: str = "") -> str:
    """The bundle as Markdown: causes with fixes, other symptoms, runbooks run, how to check the bundle."""
    lines = [f"## Incident {bundle['incident']}: {str(bundle.get('status', '')).upper()}", "",
             f"Registry runbooks bundle, {bundle.get('started', '')} → {bundle.get('finished', '')} on "
             f"{bundle.get('host', '')}.", ""]
    by_id: dict[tuple[Any, Any], Any] = {}
    for f in bundle.get("findings", []):
        by_id.setdefault((f.get("scenario"), f.get("id")), f)
    causes = bundle.get("causes", [])
    lines.append(f"### Causes ({len(causes)})" if causes else "### Causes: none found")
    for i, c in enumerate(causes, 1):
        lines += ["", f"{i}. **{c['title']}** ({c['status']}). {c['diagnosis']}"]
        for e in c["evidence"]:
            seen = _seen_window((by_id.get((e["scenario"], e["id"])) or {}).get("evidence"))
            lines.append(f"   - {e['scenario']}: {e['title']}{' (symptom)' if e.get('symptom') else ''}{seen}")
        for install, fix in c.get("remedy", {}).items():
            lines.append(f"   - Fix, {install}: {fix}")
        if c.get("scenario"):
            lines.append(f"   - Runbook: `{c['scenario']}`")
    others = bundle.get("other_symptoms", [])
    if others:
        lines += ["", "### Other findings"]
        for o in others:
            seen = ""
            for sid in o["scenarios"]:
                seen = seen or _seen_window((by_id.get((sid, o["id"])) or {}).get("evidence"))
            lines.append(f"- {o['status']}: {o['title']} ({', '.join(o['scenarios'])}){seen}")
    lines += ["", "### Runbooks run", ""]
    for s in bundle.get("scenarios", []):
        lines.append(f"- `{s['id']}` {s.get('status') or 'not run'}: {s.get('why', '')}")
    sig = bundle.get("signature", {})
    lines += ["", "### Check the bundle", "",
              f"Signed by {sig.get('kind', '')} key `{sig.get('fingerprint', '')}`"
              + (f"; manifest SHA-256 `{digest}`" if digest else "") + ".",
              f"`runbook verify DIR --trust {sig.get('fingerprint', '')}`", ""]
    return "\n".join(lines)


def find_chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise PdfError("no Chromium to print PDFs with (apt-get install chromium, or `make setup`)")


def print_pdf(page: Path, out: Path, chromium: str | None = None) -> Path:
    """Print one self-contained HTML page to PDF with headless Chromium (private profile, offline)."""
    binary = chromium or find_chromium()
    with tempfile.TemporaryDirectory(prefix="runbook-pdf-") as profile:
        argv = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={out}", page.resolve().as_uri()]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=PDF_TIMEOUT_S,
                                  env={**os.environ, "HOME": profile})
        except subprocess.TimeoutExpired:
            raise PdfError(f"printing {page.name} took longer than {PDF_TIMEOUT_S} s") from None
    if done.returncode != 0 or not out.exists() or out.stat().st_size == 0:
        raise PdfError(f"printing {page.name} failed: {(done.stderr.strip().splitlines() or ['no output'])[-1][:200]}")
    return out


def print_bundle(folder: Path, out_dir: Path | None = None) -> list[Path]:
    """index.pdf first, then one PDF per report page, into ``out_dir`` (default: the bundle folder)."""
    out_dir = out_dir or folder
    out_dir.mkdir(parents=True, exist_ok=True)
    chromium = find_chromium()
    pages = [folder / "index.html"] + sorted(p for p in folder.glob("*.html") if p.name != "index.html")
    return [print_pdf(p, out_dir / (p.stem + ".pdf"), chromium) for p in pages if p.is_file()]
