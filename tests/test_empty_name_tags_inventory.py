"""The empty-name-tags runbook hands its `memory_limit` and `spill_dir` parameters to DuckDB when it reads an
S3 Inventory: the notebook's own cells run in this process (no kernel), against a small generated inventory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runbooklib.findings import Status
from runbooklib.s3 import inventory_db
from runbooklib.s3 import inventory_fixture as F

pytest.importorskip("duckdb")

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "empty-name-tags.ipynb"


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    path, shape = F.write(tmp_path_factory.mktemp("inv"), 3000, fmt="CSV", files=2, threads=1)
    return path, F.truth(shape)


def _run_until_markers(tmp_path: Path, **values) -> dict:
    """The notebook's cells up to the marker search, with ``values`` injected after the parameters cell (as
    papermill does); returns the notebook's namespace."""
    cells = ["".join(c["source"]) for c in json.loads(NOTEBOOK.read_text())["cells"] if c["cell_type"] == "code"]
    ns: dict = {}
    exec(cells[0], ns)  # the parameters cell
    ns.update(s3_bucket="registry", s3_region="us-east-1", s3_endpoint="http://127.0.0.1:9", s3_access_key="env:HOME",
              s3_secret_key="env:HOME", timeout_s=2.0, findings_path=str(tmp_path / "findings.json"), **values)
    for cell in cells[1:]:
        exec(cell, ns)
        if "find_markers(" in cell:
            return ns
    raise AssertionError("the notebook has no find_markers step")


def test_an_invalid_memory_limit_is_a_one_line_error_naming_the_parameter(manifest, tmp_path):
    path, _ = manifest
    ns = _run_until_markers(tmp_path, inventory=str(path), memory_limit="lots")
    [found] = [f for f in ns["rb"].report.findings if f.id.startswith("markers.")]
    assert found.status is Status.ERROR
    assert "memory_limit 'lots'" in found.detail and "\n" not in found.detail


def test_memory_limit_reaches_duckdb_and_the_spill_folder_is_used_then_removed(manifest, tmp_path, monkeypatch):
    path, truth = manifest
    spill = tmp_path / "spill"
    spill.mkdir()
    seen: list[tuple[Path, int]] = []
    real_connect = inventory_db._connect

    def spy(folder: Path, memory: int, threads: int | None = None):
        seen.append((folder, memory))
        assert folder.is_dir()  # the private folder exists while DuckDB works in it
        return real_connect(folder, memory, threads)

    monkeypatch.setattr(inventory_db, "_connect", spy)
    ns = _run_until_markers(tmp_path, inventory=str(path), memory_limit="96MiB", spill_dir=str(spill))
    assert {m.key: (m.kind, m.repository) for m in ns["scan"].markers} == truth["markers"]
    assert seen and all(memory == 96 << 20 for _, memory in seen)
    assert all(folder.parent == spill for folder, _ in seen)
    assert list(spill.iterdir()) == []  # used, then removed


def test_a_spill_dir_that_is_no_folder_is_named_in_the_finding(manifest, tmp_path):
    path, _ = manifest
    ns = _run_until_markers(tmp_path, inventory=str(path), spill_dir=str(tmp_path / "nope"))
    [found] = [f for f in ns["rb"].report.findings if f.id.startswith("markers.")]
    assert found.status is Status.ERROR and "spill_dir" in found.detail
