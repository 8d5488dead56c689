"""`runbook triage` bundles: routing, manifest and signature, verify, bad input, crashes, redaction, browser."""

import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from runbooklib import scenarios
from runbooklib.lab import control
from tests.conftest import ROOT, _need, runbook

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def untrusted_lab(tmp_path_factory):
    _need("docker-registry", "skopeo")
    state = tmp_path_factory.mktemp("bundle-lab")
    lab = control.up(state, ["untrusted-token-key"], free_ports=True)
    yield lab
    control.down(state)


@pytest.fixture(scope="module")
def keypair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    r = runbook("keygen", str(folder / "bundle.key"))
    assert r.returncode == 0, r.stderr
    return folder / "bundle.key", folder / "bundle.key.pub"


@pytest.fixture(scope="module")
def bundle(untrusted_lab, keypair, tmp_path_factory):
    out = tmp_path_factory.mktemp("b") / "inc"
    r = runbook("triage", "-f", str(untrusted_lab.params_path), "-o", str(out), "--incident", "INC-42",
                "--sign-key", f"file:{keypair[0]}", "--archive")
    assert r.returncode == 1, r.stdout + r.stderr
    return out


def test_keygen_writes_a_private_key_only_its_owner_can_read(keypair):
    assert oct(os.stat(keypair[0]).st_mode & 0o777) == "0o600"
    assert b"PUBLIC KEY" in keypair[1].read_bytes()


def test_triage_routes_to_the_faults_scenario_and_says_why(bundle):
    summary = json.loads((bundle / "findings.json").read_text())
    ran = {s["id"]: s for s in summary["scenarios"]}
    assert set(ran) == {"triage", "token-untrusted-key"}
    assert ran["token-untrusted-key"]["finding"] in ("token.invalid_token", "logs.token_untrusted_key")
    assert summary["incident"] == "INC-42" and summary["status"] == "fail"
    assert {f["scenario"] for f in summary["findings"]} == {"triage", "token-untrusted-key"}
    for name in ("index.html", "triage.html", "token-untrusted-key.html", "token-untrusted-key.ipynb",
                 "MANIFEST.sha256", "MANIFEST.sig"):
        assert (bundle / name).is_file(), name


def test_bundle_verifies_with_the_pinned_key_and_sha256sum(bundle, keypair):
    r = runbook("verify", str(bundle), "--public-key", str(keypair[1]))
    assert r.returncode == 0, r.stdout
    import subprocess
    check = subprocess.run(["sha256sum", "-c", "--quiet", "MANIFEST.sha256"], cwd=bundle, capture_output=True)
    assert check.returncode == 0


def test_archive_holds_the_same_files(bundle):
    with tarfile.open(bundle.with_name(bundle.name + ".tar.gz")) as tar:
        names = {Path(n).relative_to(bundle.name).as_posix() for n in tar.getnames() if n != bundle.name}
    assert names == {p.relative_to(bundle).as_posix() for p in bundle.rglob("*")}


def _copy(bundle, tmp_path):
    dst = tmp_path / "copy"
    shutil.copytree(bundle, dst)
    return dst


@pytest.mark.parametrize("victim", ["index.html", "triage.findings.json", "token-untrusted-key.ipynb", "MANIFEST.sha256"])
def test_a_one_byte_change_to_any_file_fails_verify_naming_it(bundle, keypair, tmp_path, victim):
    copy = _copy(bundle, tmp_path)
    data = bytearray((copy / victim).read_bytes())
    data[len(data) // 2] ^= 0x01
    (copy / victim).write_bytes(bytes(data))
    r = runbook("verify", str(copy), "--public-key", str(keypair[1]))
    assert r.returncode == 1
    if victim == "MANIFEST.sha256":
        assert "signature: bad" in r.stdout or "changed:" in r.stdout or "missing:" in r.stdout
    else:
        assert f"changed: {victim}" in r.stdout


def test_missing_and_extra_files_are_named(bundle, keypair, tmp_path):
    copy = _copy(bundle, tmp_path)
    (copy / "triage.html").unlink()
    (copy / "notes.txt").write_text("added later")
    r = runbook("verify", str(copy), "--public-key", str(keypair[1]))
    assert r.returncode == 1
    assert "missing: triage.html" in r.stdout and "extra:   notes.txt" in r.stdout


def test_another_key_does_not_verify_the_signature(bundle, tmp_path):
    assert runbook("keygen", str(tmp_path / "other.key")).returncode == 0
    r = runbook("verify", str(bundle), "--public-key", str(tmp_path / "other.key.pub"))
    assert r.returncode == 1 and "signature: bad" in r.stdout


def test_verify_on_a_folder_that_is_not_a_bundle_exits_2(tmp_path):
    r = runbook("verify", str(tmp_path))
    assert r.returncode == 2 and "not a bundle" in r.stderr


def test_non_empty_output_is_refused_without_force(lab, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    r = runbook("triage", "-f", str(lab.params_path), "-o", str(out))
    assert r.returncode == 2 and "not empty" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["keep.txt"]


@pytest.mark.parametrize("ref", ["env:RB_NO_SUCH_KEY", "file:/nonexistent/key.pem"])
def test_missing_signing_key_is_refused_before_anything_runs(lab, tmp_path, ref):
    out = tmp_path / "out"
    r = runbook("triage", "-f", str(lab.params_path), "-o", str(out), "--sign-key", ref)
    assert r.returncode == 2 and "sign_key" in r.stderr
    assert not out.exists()


def test_wrong_kind_of_signing_key_is_refused(lab, tmp_path):
    shutil.copy(lab.issuer_key_path, tmp_path / "rsa.pem")  # an RSA key, not Ed25519
    r = runbook("triage", "-f", str(lab.params_path), "-o", str(tmp_path / "o"), "--sign-key",
                f"file:{tmp_path / 'rsa.pem'}")
    assert r.returncode == 2 and "Ed25519" in r.stderr


def test_a_crashing_runbook_still_completes_the_bundle_and_says_so(tmp_path):
    import socket
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        out = tmp_path / "crash"
        r = runbook("triage", "-p", "registry_url", f"http://127.0.0.1:{listener.getsockname()[1]}",
                    "-p", "timeout_s", "30", "--cell-timeout", "2", "-o", str(out))
    finally:
        listener.close()
    assert r.returncode == 2
    summary = json.loads((out / "findings.json").read_text())
    assert summary["scenarios"][0]["error"] and summary["status"] == "error"
    assert "could not finish" in (out / "triage.html").read_text()
    assert runbook("verify", str(out)).returncode == 3  # one-time key: integrity only, signer not pinned


def test_no_canary_secret_in_any_file_of_a_bundle_of_every_built_scenario(lab, tmp_path):
    canaries = {"RB_CANARY_PASSWORD": lab.secret("password"),
                "RB_CANARY_S3_ACCESS": lab.secret("s3_access_key"),
                "RB_CANARY_S3_SECRET": lab.secret("s3_secret_key"),
                "RB_CANARY_GITLAB": "glpat-canary-0123456789abcdef"}
    out = tmp_path / "all"
    args = ["triage", "-f", str(lab.params_path), "-o", str(out), "--only", "all", "--archive",
            "-p", "password", "env:RB_CANARY_PASSWORD",
            "-p", "s3_access_key", "env:RB_CANARY_S3_ACCESS", "-p", "s3_secret_key", "env:RB_CANARY_S3_SECRET",
            "-p", "gitlab_token", "env:RB_CANARY_GITLAB"]
    r = runbook(*args, env=canaries, timeout=900)
    assert r.returncode in (0, 1), r.stdout + r.stderr
    summary = json.loads((out / "findings.json").read_text())
    built = {s.id for s in scenarios.CATALOGUE.values() if s.built}
    assert {s["id"] for s in summary["scenarios"]} == built
    files = [p for p in out.rglob("*") if p.is_file()] + [out.with_name("all.tar.gz")]
    with tarfile.open(out.with_name("all.tar.gz")) as tar:
        members = [tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()]
    for blob in [p.read_bytes() for p in files] + members:
        for value in canaries.values():
            assert value.encode() not in blob
    assert canaries["RB_CANARY_PASSWORD"] not in r.stdout + r.stderr


@pytest.mark.browser
def test_index_and_every_report_open_offline_with_no_request_and_the_summary_in_view(bundle):
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run `make setup`")
    from playwright.sync_api import sync_playwright

    from tests.test_browser import ARGS

    pages = ["index.html"] + [s["html"] for s in json.loads((bundle / "findings.json").read_text())["scenarios"]
                              if s["html"]]
    requests, errors = [], []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(offline=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.on("request", lambda req: requests.append(req.url))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        for name in pages:
            page.goto((bundle / name).as_uri())
            page.wait_for_load_state("load")
            if name == "index.html":
                box = page.locator(".rb-index-summary").bounding_box()
                assert box is not None and box["y"] + box["height"] <= 900
                page.screenshot(path=str(bundle.parent / "index.png"))
                shots = ROOT / "reports" / "screenshots"  # for a person to look at (reports/ is not committed)
                shots.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(shots / "bundle-index.png"), full_page=True)
                links = page.locator(".rb-index-scenarios a").count()
                assert links == len(pages) - 1
            elif name == "token-untrusted-key.html":
                (ROOT / "reports" / "screenshots").mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ROOT / "reports" / "screenshots" / "token-untrusted-key.png"), full_page=True)
        browser.close()
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    assert errors == []


def test_no_report_in_the_bundle_shows_a_figure_as_text_nan_or_raw_backticks_in_the_index(bundle):
    for page in bundle.glob("*.html"):
        text = page.read_text()
        assert "Figure size" not in text, page.name
    index = (bundle / "index.html").read_text()
    assert "NaN" not in index and "`" not in index.split("<h2>Parameters")[0]


def test_the_untrusted_key_is_one_cause_in_the_index_with_its_fix_and_the_evidence_of_both_runbooks(bundle):
    import re

    summary = json.loads((bundle / "findings.json").read_text())
    keys = [c["key"] for c in summary["causes"]]
    assert keys.count("token-key-mismatch") == 1
    cause = next(c for c in summary["causes"] if c["key"] == "token-key-mismatch")
    assert {e["scenario"] for e in cause["evidence"]} == {"triage", "token-untrusted-key"}
    index = (bundle / "index.html").read_text()
    assert index.count('data-cause="token-key-mismatch"') == 1 and "gitlab-ctl restart registry" in index
    for page in bundle.glob("*.html"):  # pictures are inline, never fetched
        for src in re.findall(r'<img[^>]+src="([^"]*)"', page.read_text()):
            assert src.startswith("data:"), (page.name, src[:40])
        assert ">NaN<" not in page.read_text(), page.name
    assert "token-key-mismatch" in (bundle / "summary.md").read_text() or "GitLab signs tokens" in (
        bundle / "summary.md").read_text()
