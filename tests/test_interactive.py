"""The interactive path: notebooks opened unchanged follow the running lab, `runbook open` prepares a work
copy and starts JupyterLab (as root too), and `lab up` says loudly when it had to move ports."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

import httpx
import nbformat
import pytest

from runbooklib import scenarios
from runbooklib.lab import control
from tests.conftest import ROOT, runbook

pytestmark = pytest.mark.lab


def _execute(path, tmp_path):
    """Run a notebook the way JupyterLab's Run All does: no parameters injected, no findings path."""
    from nbclient import NotebookClient

    from runbooklib.report.runner import _ipc_kernel_manager

    nb = nbformat.read(str(path), as_version=4)
    sockets = tmp_path / "sockets"
    sockets.mkdir(exist_ok=True)
    client = NotebookClient(nb, timeout=120, kernel_manager_class=_ipc_kernel_manager(str(sockets)),
                            allow_errors=True, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    return nb


def _errors(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]


def _stdout(nb):
    return "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
                   if o.output_type == "stream")


def test_a_notebook_opened_unchanged_runs_against_the_recorded_running_lab(lab, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("RUNBOOK_LAB_DIR", str(tmp_path / "no-default-lab"))
    control.record_current(lab)
    nb = _execute(scenarios.get("triage").notebook, tmp_path)
    assert _errors(nb) == []
    assert f"Parameters of the running lab ({lab.params_path})" in _stdout(nb)
    html = "".join(o.get("data", {}).get("text/html", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs if o.output_type in ("display_data", "execute_result"))
    assert f"127.0.0.1:{lab.ports['registry']}" in html  # it probed the lab's real (free) port


def test_a_notebook_opened_unchanged_without_a_lab_says_what_to_set_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.setenv("RUNBOOK_LAB_DIR", str(tmp_path / "no-lab"))
    nb = _execute(scenarios.get("triage").notebook, tmp_path)
    error = _errors(nb)[0]  # Run All stops here; later cells only lack `rb`
    assert error.traceback == [
        "ParamError: parameter 'registry_url' is empty: set it in the parameters cell, or start the lab "
        "(`runbook lab up`) to run this notebook against it"]


def test_open_writes_a_prepared_copy_with_the_given_parameters_and_never_overwrites_edits(tmp_path):
    work = tmp_path / "work"
    r = runbook("open", "triage", "--dir", str(work), "--no-browser", "-p", "registry_url", "https://r.example:5050",
                "-p", "timeout_s", "3")
    assert r.returncode == 0, r.stderr
    path = work / "triage.ipynb"
    assert r.stdout.strip() == str(path)
    nb = nbformat.read(str(path), as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1 and "registry_url = \"https://r.example:5050\"" in injected[0].source
    assert all(c.get("outputs", []) == [] for c in nb.cells if c.cell_type == "code")  # nothing executed
    assert nb.metadata.kernelspec.name == "runbook"
    path.write_text(path.read_text().replace("Triage", "Triage (my notes)"))
    again = runbook("open", "triage", "--dir", str(work), "--no-browser")
    assert again.returncode == 2 and "exists" in again.stderr and "my notes" in path.read_text()


def test_open_refuses_a_secret_given_as_a_value(tmp_path):
    r = runbook("open", "triage", "--dir", str(tmp_path), "--no-browser", "-p", "registry_url", "http://x",
                "-p", "password", "hunter2")
    assert r.returncode == 2 and "hunter2" not in r.stderr and "env:NAME" in r.stderr
    assert not (tmp_path / "triage.ipynb").exists()


def test_open_starts_jupyterlab_with_the_runbook_kernel_and_prints_its_url(tmp_path):
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "HOME": str(tmp_path)}
    proc = subprocess.Popen([sys.executable, "-m", "runbooklib.cli", "open", "logs", "--dir", str(tmp_path / "w")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=ROOT)
    try:
        line = proc.stdout.readline()
        assert line.startswith("JupyterLab: http://127.0.0.1:"), line
        url = line.split()[1]
        base, token = url.split("/lab/tree/")[0], url.split("token=")[1]
        deadline = time.monotonic() + 60
        while True:
            try:
                specs = httpx.get(f"{base}/api/kernelspecs", params={"token": token}, timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "JupyterLab did not start"
                time.sleep(0.3)
        assert specs.status_code == 200 and "runbook" in specs.json()["kernelspecs"]
        contents = httpx.get(f"{base}/api/contents/logs.ipynb", params={"token": token}, timeout=5)
        assert contents.status_code == 200
        assert httpx.get(f"{base}/api/contents/logs.ipynb", timeout=5).status_code == 403  # the token is needed
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_lab_up_on_busy_default_ports_moves_says_so_and_records_itself(tmp_path):
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", control.DEFAULT_PORTS["registry"]))
        holder.listen(1)
    except OSError:
        pass  # already busy: the lab must move all the same
    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    state = tmp_path / "lab"
    try:
        r = runbook("lab", "up", "--state-dir", str(state), env=env)
        assert r.returncode == 0, r.stderr
        assert "WARNING default ports were busy" in r.stderr and f"registry {control.DEFAULT_PORTS['registry']}" in r.stderr
        recorded = json.loads((tmp_path / "state" / "runbook" / "current-lab.json").read_text())
        assert recorded["state_dir"] == str(state.resolve())
    finally:
        down = runbook("lab", "down", "--state-dir", str(state), env=env)
        holder.close()
    assert down.returncode == 0
    assert not (tmp_path / "state" / "runbook" / "current-lab.json").exists()
