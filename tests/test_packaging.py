"""A plain `pip install` of the wheel, in a fresh venv outside the tree, runs every runbook from any folder.

The wheel is built from this checkout and installed with its dependencies (pip's cache makes this quick
after `make setup`); nothing of the source tree is on the path of what runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from runbooklib import scenarios
from tests.conftest import ROOT

pytestmark = [pytest.mark.lab, pytest.mark.packaging]

INSTALL_TIMEOUT_S = 900


def _run(argv: list[str], cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env={**clean, **(env or {})})


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    r = _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(ROOT)], cwd=out)
    assert r.returncode == 0, r.stderr[-2000:]
    (found,) = out.glob("runbooklib-*.whl")
    return found


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, wheel) -> dict:
    """A venv outside the tree with the wheel installed (no extras yet), and a working folder elsewhere."""
    base = tmp_path_factory.mktemp("fresh")
    venv = base / "venv"
    r = _run([sys.executable, "-m", "venv", str(venv)], cwd=base)
    assert r.returncode == 0, r.stderr
    r = _run([str(venv / "bin" / "pip"), "install", "-q", str(wheel)], cwd=base, timeout=INSTALL_TIMEOUT_S)
    assert r.returncode == 0, r.stderr[-3000:]
    work = base / "work"
    work.mkdir()
    env = {"XDG_STATE_HOME": str(base / "state"), "JUPYTER_DATA_DIR": str(base / "jupyter"), "HOME": str(base)}
    return {"venv": venv, "runbook": str(venv / "bin" / "runbook"), "work": work, "env": env, "wheel": wheel}


def test_wheel_carries_every_notebook_and_example_parameter_file(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for sc in scenarios.CATALOGUE.values():
        assert f"runbooklib/notebooks/{sc.id}.ipynb" in names
    for example in ("lab.yaml", "omnibus.example.yaml", "helm.example.yaml"):
        assert f"runbooklib/parameters/{example}" in names
    packaged = {n.rsplit("/", 1)[0] for n in names if n.endswith("/__init__.py")}
    on_disk = {str(p.parent.relative_to(ROOT)) for p in (ROOT / "runbooklib").rglob("__init__.py")}
    assert on_disk <= packaged, f"subpackages missing from pyproject's package list: {on_disk - packaged}"


def test_installed_runbook_lists_every_scenario_as_built_from_another_folder(fresh):
    r = _run([fresh["runbook"], "list"], cwd=fresh["work"], env=fresh["env"])
    assert r.returncode == 0, r.stderr
    rows = {line.split()[0]: line for line in r.stdout.splitlines()}
    assert set(rows) == set(scenarios.CATALOGUE)
    assert not [sid for sid, line in rows.items() if "not built" in line]
    where = _run([str(fresh["venv"] / "bin" / "python"), "-c", "import runbooklib.scenarios as s; print(s.NOTEBOOK_DIR)"],
                 cwd=fresh["work"], env=fresh["env"])
    assert str(fresh["venv"]) in where.stdout and str(ROOT) not in where.stdout


def test_lab_without_the_lab_extra_names_the_extra_in_one_line(fresh):
    r = _run([fresh["runbook"], "lab", "up", "--state-dir", str(fresh["work"] / "lab"), "--free-ports"],
             cwd=fresh["work"], env=fresh["env"])
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'runbooklib[lab]'" in lines[0] and "moto" in lines[0]
    assert "Traceback" not in r.stderr


@pytest.fixture(scope="module")
def fresh_lab(fresh):
    """The [lab] extra added to the fresh venv, and a lab started by that install's own `runbook lab up`."""
    r = _run([str(fresh["venv"] / "bin" / "pip"), "install", "-q", f"runbooklib[lab] @ {fresh['wheel'].as_uri()}"],
             cwd=fresh["work"], timeout=INSTALL_TIMEOUT_S)
    assert r.returncode == 0, r.stderr[-3000:]
    state = fresh["work"] / "lab"
    r = _run([fresh["runbook"], "lab", "up", "--state-dir", str(state), "--free-ports"], cwd=fresh["work"], env=fresh["env"])
    assert r.returncode == 0, r.stderr[-2000:]
    yield state
    _run([fresh["runbook"], "lab", "down", "--state-dir", str(state)], cwd=fresh["work"], env=fresh["env"])


def test_installed_runbook_runs_triage_on_the_lab_and_writes_the_report(fresh, fresh_lab):
    out = fresh["work"] / "reports"
    r = _run([fresh["runbook"], "run", "triage", "-f", str(fresh_lab / "params.yaml"), "-o", str(out)],
             cwd=fresh["work"], env=fresh["env"])
    assert r.returncode == 0, r.stdout + r.stderr
    html = (out / "triage.html").read_text()
    assert "Triage" in html and "Are requests forwarded" in html
    assert (out / "triage.findings.json").exists()


def test_installed_runbook_shows_params_and_builds_a_triage_bundle(fresh, fresh_lab):
    r = _run([fresh["runbook"], "params", "triage", "--json"], cwd=fresh["work"], env=fresh["env"])
    assert r.returncode == 0 and any(row["name"] == "registry_url" for row in __import__("json").loads(r.stdout))
    out = fresh["work"] / "bundle"
    r = _run([fresh["runbook"], "triage", "-f", str(fresh_lab / "params.yaml"), "-o", str(out)],
             cwd=fresh["work"], env=fresh["env"])
    assert r.returncode in (0, 1), r.stdout + r.stderr
    assert (out / "index.html").exists() and (out / "MANIFEST.sha256").exists()
    v = _run([fresh["runbook"], "verify", str(out)], cwd=fresh["work"], env=fresh["env"])
    assert v.returncode == 3  # intact, signed by a one-time key: integrity only


def test_installed_runbook_discovers_the_labs_omnibus_layout_and_opens_a_prepared_notebook(fresh, fresh_lab):
    params = fresh["work"] / "discovered.yaml"
    r = _run([fresh["runbook"], "discover", "--root", str(fresh_lab / "omnibus-root"), "-o", str(params)],
             cwd=fresh["work"], env=fresh["env"])
    assert r.returncode == 0, r.stderr
    r = _run([fresh["runbook"], "open", "token-untrusted-key", "-f", str(params), "--dir", str(fresh["work"] / "nb"),
              "--no-browser"], cwd=fresh["work"], env=fresh["env"])
    assert r.returncode == 0, r.stderr
    notebook = Path(r.stdout.strip())
    assert notebook.parent == fresh["work"] / "nb" and "registry_url" in notebook.read_text()
