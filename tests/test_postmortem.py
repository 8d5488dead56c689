"""What goes into a postmortem: summary.md to paste, PDFs to attach, causes on page 1, all inside the
signed manifest (or beside a bundle, never inside it)."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from runbooklib.report.postmortem import summary_markdown
from tests.conftest import runbook

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def pdf_bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("pm") / "bundle"
    r = runbook("triage", "-p", "registry_url", "http://127.0.0.1:9", "-o", str(out), "--pdf", "--incident", "PM-1")
    assert r.returncode == 1, r.stdout + r.stderr
    return out


def test_triage_pdf_puts_the_causes_on_page_one_and_keeps_the_bundle_verifiable(pdf_bundle):
    if not shutil.which("pdftotext"):
        pytest.fail("pdftotext is not installed: run `make setup` (poppler-utils)")
    page1 = subprocess.run(["pdftotext", "-f", "1", "-l", "1", str(pdf_bundle / "index.pdf"), "-"],
                           capture_output=True, text=True, timeout=60).stdout
    assert "Causes (1)" in page1 and "The registry does not answer" in page1 and "Omnibus" in page1
    assert (pdf_bundle / "triage.pdf").stat().st_size > 1000
    manifest = (pdf_bundle / "MANIFEST.sha256").read_text()
    assert "index.pdf" in manifest and "summary.md" in manifest
    assert runbook("verify", str(pdf_bundle)).returncode == 3  # intact; one-time key: integrity only


def test_summary_md_names_each_cause_once_with_its_fix_and_how_to_verify(pdf_bundle):
    text = (pdf_bundle / "summary.md").read_text()
    assert text.startswith("## Incident PM-1: FAIL")
    assert text.count("**The registry does not answer**") == 1
    assert "Fix, Omnibus: `gitlab-ctl status registry`" in text and "runbook verify DIR --trust SHA256:" in text


def test_runbook_report_prints_pdfs_beside_a_bundle_never_inside_it(pdf_bundle, tmp_path):
    r = runbook("report", str(pdf_bundle), "-o", str(tmp_path / "pdfs"))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in (tmp_path / "pdfs").iterdir()) == ["index.pdf", "triage.pdf"]
    inside = runbook("report", str(pdf_bundle), "-o", str(pdf_bundle))
    assert inside.returncode == 2 and "signed manifest" in inside.stderr


def test_summary_markdown_lists_symptoms_with_their_log_window():
    bundle = {"incident": "X", "status": "warn", "started": "a", "finished": "b", "host": "h", "causes": [],
              "other_symptoms": [{"id": "logs.http_500", "title": "Requests failed with 500", "status": "warn",
                                  "scenarios": ["triage"]}],
              "findings": [{"id": "logs.http_500", "scenario": "triage",
                            "evidence": {"first_seen": "2026-11-30T10:00:00Z", "last_seen": "2026-11-30T10:05:00Z"}}],
              "scenarios": [], "signature": {"kind": "operator", "fingerprint": "SHA256:ab"}}
    text = summary_markdown(bundle, digest="f00")
    assert "### Causes: none found" in text
    assert "warn: Requests failed with 500 (triage) (first seen 2026-11-30T10:00:00Z, last 2026-11-30T10:05:00Z)" in text
    assert "manifest SHA-256 `f00`" in text
