"""The HTML report opens in a real headless Chromium from disk, with the network off."""

import shutil
from pathlib import Path

import pytest

from tests.conftest import runbook

pytestmark = [pytest.mark.lab, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
        "--disable-component-update", "--disable-sync", "--disable-quic"]


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    from runbooklib.lab import control

    state = tmp_path_factory.mktemp("browser-lab")  # its own healthy lab: the summary must read ok
    lab = control.up(state, [], free_ports=True)
    try:
        out = tmp_path_factory.mktemp("report")
        r = runbook("run", "triage", "-f", str(lab.params_path), "-o", str(out))
    finally:
        control.down(state)
    assert r.returncode == 0, r.stderr
    return out / "triage.html"


def test_report_has_no_remote_script_or_stylesheet(report):
    import re

    page = report.read_text()
    assert not re.search(r'<(script|link|img)[^>]+(src|href)="(https?:)?//', page)


def test_report_opens_offline_with_summary_first_and_no_request_leaving(report):
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `make setup`")
    from playwright.sync_api import sync_playwright

    requests, errors = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.on("request", lambda req: requests.append(req.url))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.goto(report.as_uri())
        page.wait_for_load_state("load")
        summary = page.locator(".rb-report-head .rb-summary")
        assert summary.count() == 1
        assert summary.get_attribute("data-status") == "ok"
        box = page.locator(".rb-report-head .rb-summary .rb-summary-table").bounding_box()
        assert box is not None and box["y"] + box["height"] <= 900
        first = page.locator(".rb-report-head, .jp-MarkdownOutput").first
        assert first.get_attribute("class") == "rb-report-head"
        rows = page.locator(".rb-report-head .rb-summary .rb-summary-table tbody tr").count()
        assert rows >= 5
        assert page.locator(".jp-CodeCell .jp-InputArea").count() == 0  # code hidden
        browser.close()
    leaving = [u for u in requests if not u.startswith(("file:", "data:"))]
    assert leaving == []
    assert errors == []
