"""`runbook run triage` end to end: papermill, the real lab, the findings file, the exit code."""

import json
import socket
import threading
import time

import pytest

from tests.conftest import runbook


def _findings(out, scenario="triage"):
    return {f["id"]: f for f in json.loads((out / f"{scenario}.findings.json").read_text())["findings"]}


def test_healthy_lab_exits_0_with_no_fail(fresh_lab, tmp_path):
    # a lab of its own: other tests leave errors in the shared lab's logs and metrics on purpose
    out = tmp_path / "out"
    r = runbook("run", "triage", "-f", str(fresh_lab.params_path), "-o", str(out))
    assert r.returncode == 0, r.stderr
    found = _findings(out)
    assert {f["status"] for f in found.values()} <= {"ok", "skip", "info"}
    assert found["tls.registry.not_https"]["status"] == "skip"  # the lab's registry speaks plain HTTP
    assert {"forwarding.ok", "token.issued", "token.accepted", "clock.registry", "clock.realm", "health.ok"} <= set(found)
    for name in ("triage.ipynb", "triage.html", "triage.findings.json"):
        assert (out / name).stat().st_size > 0


def test_stopped_registry_exits_1_with_connection_refused(fresh_lab, tmp_path):
    fresh_lab.stop_component("registry")
    out = tmp_path / "out"
    r = runbook("run", "triage", "-f", str(fresh_lab.params_path), "-o", str(out))
    assert r.returncode == 1, r.stderr
    f = _findings(out)["forwarding.unreachable"]
    assert f["status"] == "fail" and "connection refused" in f["title"]
    assert "Omnibus" in f["remedy"] and "Helm" in f["remedy"]


def test_wrong_password_fails_at_the_realm(lab, tmp_path):
    (tmp_path / "pw").write_text("not-the-password")
    out = tmp_path / "out"
    r = runbook("run", "triage", "-f", str(lab.params_path), "-p", "password", f"file:{tmp_path / 'pw'}",
                "-o", str(out))
    assert r.returncode == 1
    assert _findings(out)["token.bad_credentials"]["status"] == "fail"


@pytest.fixture
def silent_server():
    """Accepts TCP connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    conns = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(listener.accept()[0])
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    listener.close()


def test_silent_server_finishes_within_timeout_with_a_timeout_finding(silent_server, tmp_path):
    out = tmp_path / "out"
    t0 = time.monotonic()
    r = runbook("run", "triage", "-p", "registry_url", silent_server, "-p", "timeout_s", "2", "-o", str(out))
    took = time.monotonic() - t0
    assert r.returncode == 1
    f = _findings(out)["forwarding.unreachable"]
    assert f["title"].endswith("timed out")
    # forwarding, the token challenge and the clock: each request bounded by timeout_s; plus kernel start
    assert took < 4 * 2 + 15


def test_a_step_that_times_out_is_named_in_one_line_a_finding_and_the_report_and_exits_2(silent_server, tmp_path):
    out = tmp_path / "out"
    # the step waits up to 60 s on the silent server; 8 s leaves the session's start room on a busy machine
    r = runbook("run", "triage", "-p", "registry_url", silent_server, "-p", "timeout_s", "60",
                "--cell-timeout", "8", "-o", str(out))
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.strip().splitlines() == [
        "runbook: triage could not finish: step '1. Are requests forwarded to the registry?' timed out after 8 s"]
    page = (out / "triage.html").read_text()
    assert "rb-run-error" in page and "could not finish" in page and "timed out after 8 s" in page
    assert (out / "triage.ipynb").exists()
    findings = json.loads((out / "triage.findings.json").read_text())["findings"]
    assert [f["id"] for f in findings] == ["run.step_timeout"]
    assert findings[0]["status"] == "error" and "check_forwarding" in findings[0]["evidence"]["call"]
