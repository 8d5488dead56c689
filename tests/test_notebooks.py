"""Notebooks are committed thin and clean: one parameters cell, no outputs, no logic in cells."""

import ast

import nbformat
import pytest

from runbooklib import scenarios
from runbooklib.scenarios import NOTEBOOK_DIR
from tests.conftest import ROOT

NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def test_every_built_scenario_has_a_notebook_and_every_notebook_a_scenario():
    ids = {p.stem for p in NOTEBOOKS}
    assert ids == set(scenarios.CATALOGUE)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_valid_and_committed_without_outputs(path):
    nb = nbformat.read(str(path), as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_exactly_one_parameters_cell_covering_its_schema(path):
    nb = nbformat.read(str(path), as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    assigned = {t.id for node in ast.parse(tagged[0].source).body for t in getattr(node, "targets", [])}
    assert set(scenarios.get(path.stem).schema) <= assigned
    assert nb.cells[0].cell_type == "markdown" and nb.cells[0].source.startswith("# ")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_cells_stay_thin(path):
    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tree = ast.parse(cell.source)
        banned = (ast.FunctionDef, ast.ClassDef, ast.For, ast.While, ast.AsyncFunctionDef)
        assert not any(isinstance(n, banned) for n in ast.walk(tree)), cell.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_defaults_hold_no_secret_values(path):
    nb = nbformat.read(str(path), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    values = {t.id: ast.literal_eval(node.value) for node in ast.parse(cell.source).body
              for t in getattr(node, "targets", [])}
    for name, spec in scenarios.get(path.stem).schema.items():
        if spec.secret and values.get(name):
            assert values[name].startswith(("env:", "file:")), name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_notebook_is_exactly_what_its_outline_generates(path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "tools" / "make_notebooks.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert path.read_text(encoding="utf-8") == tool.render(path.stem), (
        f"{path.name} drifted from tools/outlines: run `python tools/make_notebooks.py {path.stem}`")


def test_make_notebooks_check_passes_on_the_tree_and_fails_on_a_planted_drift(tmp_path):
    import shutil
    import subprocess
    import sys

    ok = subprocess.run([sys.executable, str(ROOT / "tools" / "make_notebooks.py"), "--check"],
                        capture_output=True, text=True, timeout=300)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    copy = tmp_path / "repo"
    shutil.copytree(ROOT / "tools", copy / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "notebooks", copy / "notebooks")
    planted = copy / "notebooks" / "logs.ipynb"
    planted.write_text(planted.read_text(encoding="utf-8").replace("## ", "## (edited by hand) ", 1), encoding="utf-8")
    bad = subprocess.run([sys.executable, str(copy / "tools" / "make_notebooks.py"), "--check"],
                         capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and bad.stdout.splitlines() == [
        "notebooks/logs.ipynb drifted from tools/outlines: run `python tools/make_notebooks.py logs`"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_names_the_runbook_kernel_and_leaves_lab_values_to_the_running_lab(path):
    nb = nbformat.read(str(path), as_version=4)
    assert nb.metadata.kernelspec.name == "runbook"
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    assert "runbook-lab" not in cell.source and "127.0.0.1" not in cell.source


def test_no_plot_function_returns_a_bare_figure_that_would_print_as_text():
    """Every plotting entry point the notebooks call returns a figure that renders as PNG."""
    import runbooklib.figures as figures
    from runbooklib.logs import scan_logs
    from runbooklib.logs.views import plot_timeline

    fig = plot_timeline(scan_logs([str(ROOT / "tests" / "data" / "logs")]))
    assert isinstance(fig, figures.PngFigure)
    assert fig._repr_png_().startswith(b"\x89PNG") and "Figure size" not in repr(fig)


def test_cell_ids_come_from_content_so_a_new_step_renumbers_nothing():
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_notebooks", ROOT / "tools" / "make_notebooks.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    outline = dict(tool.outlines()["logs"])
    before = tool.build("logs", **outline)
    outline["steps"] = [("## 0. A new first step", "rb.p.timeout_s")] + list(outline["steps"])
    after = tool.build("logs", **outline)
    old = {c["id"] for c in before.cells}
    assert old <= {c["id"] for c in after.cells}  # every earlier id survives
    assert {"intro", "parameters", "session", "summary", "summary-run"} <= old
