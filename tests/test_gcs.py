"""GCS and HTTP/2: the driver, every place GODEBUG can be set, the running process, and the log symptoms.
GCS cannot run here: configs and logs are fixtures, the process is a stand-in with the registry's command line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runbooklib.config import read_gitlab_rb, read_registry_config
from runbooklib.logs import scan_logs
from runbooklib.probes.gcs import check_gcs_http2, disables_http2, find_registry_processes, helm_extra_env
from tests.conftest import runbook

DATA = Path(__file__).parent / "data"
GCS_CONFIG = DATA / "config" / "distribution-gcs.yml"
PUSH = DATA / "push"


def _ids(findings):
    return {f.id: f for f in findings}


@pytest.mark.parametrize("value, expected", [
    ("http2client=0", True), ("madvdontneed=1,http2client=0", True), ("http2client=1", False),
    ("http2server=0", False), ("", False), (None, False),
])
def test_godebug_value(value, expected):
    assert disables_http2(value) is expected


def test_gcs_without_godebug_and_http2_errors_in_logs_fails():
    scan = scan_logs([str(PUSH / "registry-gcs-http2.log")])
    found = _ids(check_gcs_http2(read_registry_config(GCS_CONFIG), read_gitlab_rb(PUSH / "gcs-gitlab.rb"),
                                 str(GCS_CONFIG), scan, env_dir=""))
    f = found["gcs.http2_in_use"]
    assert f.status.value == "fail" and "2 HTTP/2 stream error" in f.detail
    assert 'registry[\'env\'] = { "GODEBUG" => "http2client=0" }' in f.remedy and "extraEnv" in f.remedy


def test_gcs_without_godebug_and_no_symptom_warns():
    found = _ids(check_gcs_http2(read_registry_config(GCS_CONFIG), None, str(GCS_CONFIG), None, env_dir=""))
    assert found["gcs.http2_in_use"].status.value == "warn"


def test_godebug_in_gitlab_rb_or_helm_extra_env_counts_as_configured():
    rb = read_gitlab_rb(PUSH / "gcs-gitlab-godebug.rb")
    found = _ids(check_gcs_http2(None, rb, "", None, env_dir=""))
    assert found["gcs.driver"].status.value == "ok"  # the driver from registry['storage']
    assert found["gcs.http2_disabled_in_config"].status.value == "ok"
    helm = PUSH / "gcs-helm-values.yaml"
    assert helm_extra_env(str(helm)) == {"GODEBUG": "http2client=0"}
    found = _ids(check_gcs_http2(read_registry_config(GCS_CONFIG), None, str(helm), None, env_dir=""))
    assert "Helm registry.extraEnv" in found["gcs.http2_disabled_in_config"].detail


def test_omnibus_env_folder_is_read(tmp_path):
    (tmp_path / "GODEBUG").write_text("http2client=0\n")
    found = _ids(check_gcs_http2(read_registry_config(GCS_CONFIG), None, "", None, env_dir=str(tmp_path)))
    assert "runit env folder" in found["gcs.http2_disabled_in_config"].detail


@pytest.fixture
def registry_process(tmp_path):
    """A stand-in process with the registry's command line (`... serve CONFIG`) and a chosen environment."""
    procs = []

    def start(godebug):
        config = tmp_path / f"config-{len(procs)}.yml"
        config.write_text(GCS_CONFIG.read_text())
        env = {k: v for k, v in os.environ.items() if k != "GODEBUG"}
        if godebug:
            env["GODEBUG"] = godebug
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "serve", str(config)], env=env)
        procs.append(p)
        return config

    yield start
    for p in procs:
        p.terminate()
        p.wait(5)


def test_the_running_process_environment_decides(registry_process):
    import time

    applied = registry_process("http2client=0")
    stale = registry_process("")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and len(find_registry_processes(str(stale))) < 1:
        time.sleep(0.05)
    reg = read_registry_config(applied)
    found = _ids(check_gcs_http2(reg, None, str(applied), None, env_dir=""))
    assert found["gcs.http2_disabled"].status.value == "ok"
    rb = read_gitlab_rb(PUSH / "gcs-gitlab-godebug.rb")
    found = _ids(check_gcs_http2(reg, rb, str(stale), None, env_dir=""))
    f = found["gcs.godebug_not_in_effect"]
    assert f.status.value == "fail" and "gitlab-ctl reconfigure" in f.remedy


def test_s3_registry_is_not_concerned():
    found = check_gcs_http2(read_registry_config(DATA / "config" / "omnibus-config.yml"), None, "", None, env_dir="")
    assert [f.id for f in found] == ["gcs.not_gcs"]


def test_gcs_http2_notebook_exits_1_on_the_fixture_and_routes_by_log_signature(tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text(json.dumps({"registry_config": str(GCS_CONFIG), "gitlab_rb": str(PUSH / "gcs-gitlab.rb"),
                                  "log_paths": [str(PUSH / "registry-gcs-http2.log")]}))
    r = runbook("run", "gcs-http2", "-f", str(params), "-o", str(tmp_path / "o"))
    assert r.returncode == 1, r.stderr
    found = {f["id"]: f for f in json.loads((tmp_path / "o" / "gcs-http2.findings.json").read_text())["findings"]}
    assert found["gcs.http2_in_use"]["status"] == "fail"
    assert found["logs.gcs_http2_error"]["evidence"]["scenario"] == "gcs-http2"
    page = (tmp_path / "o" / "gcs-http2.html").read_text()
    assert "BEGIN PRIVATE KEY" not in page and "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in page
