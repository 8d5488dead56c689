"""Shared fixtures: the real lab (free ports, a temp state dir) and the `runbook` CLI as a subprocess."""

from __future__ import annotations

import inspect
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "tests" / "data" / "reference"  # excerpts of outside documents (README.md there says which)


# Fixtures that start the real lab: a test that uses one is a `lab` test (`make test-fast` leaves them out).
LAB_FIXTURES = frozenset({"lab", "fresh_lab", "untrusted_lab", "faulted_lab", "fresh", "pdf_bundle", "lab_with"})
# Fixtures that start headless Chromium: `browser` tests.
BROWSER_FIXTURES = frozenset({"chromium", "pdf_bundle", "screenshot"})
SHARED_LABS = 3  # read-only labs kept running at once (least recently used stopped first)


def pytest_collection_modifyitems(config, items) -> None:
    """Markers from what a test does, so nobody has to remember them: `lab` and `browser` from its fixtures,
    `slow` when its body starts a child interpreter (the CLI, a kernel, a subprocess)."""
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if LAB_FIXTURES & names:
            item.add_marker(pytest.mark.lab)
        if BROWSER_FIXTURES & names:
            item.add_marker(pytest.mark.browser)
        if _starts_a_process(getattr(item, "function", None)):
            item.add_marker(pytest.mark.slow)


_PROCESS_CALLS = re.compile(r"\b(runbook|_run\w*|subprocess\.\w+|run_notebook|execute_notebook|Popen)\(")


def _starts_a_process(function) -> bool:
    try:
        return bool(_PROCESS_CALLS.search(inspect.getsource(function)))
    except (TypeError, OSError):
        return False


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


class LabPool:
    """Labs by fault set. Read-only tests share one per set (at most SHARED_LABS running); a test that breaks
    its lab asks for a fresh one, stopped when the test ends."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.shared: dict[tuple[str, ...], object] = {}
        self.count = 0

    def _start(self, faults: tuple[str, ...]):
        from runbooklib.lab import control

        _need("docker-registry", "skopeo", "nginx")
        self.count += 1
        state = self.root / f"lab{self.count}"
        return control.up(state, list(faults), free_ports=True)

    def shared_lab(self, faults: tuple[str, ...]):
        from runbooklib.lab import control

        key = tuple(sorted(set(faults)))
        if key in self.shared:
            self.shared[key] = self.shared.pop(key)  # most recently used last
            return self.shared[key]
        while len(self.shared) >= SHARED_LABS:
            oldest = next(iter(self.shared))
            control.down(self.shared.pop(oldest).state_dir)
        self.shared[key] = self._start(key)
        return self.shared[key]

    def close(self) -> None:
        from runbooklib.lab import control

        for running in self.shared.values():
            control.down(running.state_dir)
        self.shared.clear()


@pytest.fixture(scope="session")
def lab_pool(tmp_path_factory):
    pool = LabPool(tmp_path_factory.mktemp("labs"))
    yield pool
    pool.close()


@pytest.fixture
def lab_with(lab_pool, request):
    """``lab_with("storage-403", ...)``: a running lab with those faults, shared with other read-only tests;
    ``lab_with(..., fresh=True)`` for a test that changes its lab (stopped at the end of the test)."""
    from runbooklib.lab import control

    def get(*faults: str, fresh: bool = False):
        if not fresh:
            return lab_pool.shared_lab(faults)
        running = lab_pool._start(tuple(faults))
        request.addfinalizer(lambda: control.down(running.state_dir))
        return running

    return get
