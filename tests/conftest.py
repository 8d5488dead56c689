"""Shared fixtures: the real lab (free ports, a temp state dir) and the `runbook` CLI as a subprocess."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests" / "data" / "reference"  # excerpts of outside documents (README.md there says which)


# Fixtures that start the real lab: a test that uses one is a `lab` test (`make test-fast` leaves them out).
LAB_FIXTURES = frozenset({"lab", "fresh_lab", "untrusted_lab", "faulted_lab", "fresh", "pdf_bundle"})


def pytest_collection_modifyitems(config, items) -> None:
    for item in items:
        if LAB_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.lab)


def runbook(*args: str, env: dict | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    """Run the real CLI in a child process, as automation would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "runbooklib.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=full_env, cwd=ROOT)


def _need(*binaries: str) -> None:
    missing = [b for b in binaries if not shutil.which(b)]
    if missing:
        pytest.fail(f"lab tests need {', '.join(missing)}: run `make setup` (installs the Debian packages)")


@pytest.fixture(scope="session")
def lab(tmp_path_factory):
    """A healthy lab shared by read-only tests."""
    from runbooklib.lab import control

    _need("docker-registry", "skopeo")
    state = tmp_path_factory.mktemp("lab")
    running = control.up(state, [], free_ports=True)
    yield running
    control.down(state)


@pytest.fixture
def fresh_lab(tmp_path):
    """A lab of its own for a test that breaks it."""
    from runbooklib.lab import control

    _need("docker-registry", "skopeo")
    running = control.up(tmp_path / "lab", [], free_ports=True)
    yield running
    control.down(tmp_path / "lab")


@pytest.fixture
def faulted_lab(tmp_path, request):
    """A lab of its own with the faults a test names: ``@pytest.mark.parametrize("faulted_lab", [[...]], indirect=True)``."""
    from runbooklib.lab import control

    _need("docker-registry", "skopeo", "nginx")
    running = control.up(tmp_path / "lab", request.param, free_ports=True)
    yield running
    control.down(tmp_path / "lab")
