"""The read-only pull path finds a storage 403 without pushing anything, and reads back on a healthy lab."""

from __future__ import annotations

import json

import pytest

from runbooklib.lab import control
from runbooklib.params import resolve_secret
from runbooklib.probes.endpoint import RegistryEndpoint
from runbooklib.probes.http import make_client
from runbooklib.probes.pull import check_pull_path
from tests.conftest import runbook

pytestmark = pytest.mark.lab


def test_an_existing_blob_reads_back_on_a_healthy_lab(lab):
    with make_client(10) as client:
        found = check_pull_path(client, RegistryEndpoint(lab.url("registry"), control.USERNAME, lab.secret("password")))
    assert [f.id for f in found] == ["pull.ok"]
    assert found[0].evidence["blob"].startswith("sha256:")
    assert any(h["method"] == "GET" and "/blobs/" in h["url"] for h in found[0].evidence["hops"])


def test_push_403_names_the_storage_without_a_canary(tmp_path):
    lab = control.up(tmp_path / "lab", ["storage-403"], free_ports=True)
    try:
        out = tmp_path / "out"
        r = runbook("run", "push-403", "-f", str(lab.params_path), "-o", str(out))
        assert r.returncode == 1, r.stdout + r.stderr
        findings = {f["id"]: f for f in json.loads((out / "push-403.findings.json").read_text())["findings"]}
        assert findings["push.canary.not_run"]["status"] == "skip"  # nothing was written
        storage = findings["hops.forbidden.storage"]
        assert storage["status"] == "fail" and "AmazonS3" in storage["detail"]
        with make_client(10) as client:
            again = check_pull_path(client, RegistryEndpoint(
                lab.url("registry"), control.USERNAME, resolve_secret("password", f"file:{lab.secrets_dir / 'password'}")))
        assert "pull.ok" not in [f.id for f in again]
    finally:
        control.down(tmp_path / "lab")
