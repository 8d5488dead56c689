"""Write the scenario notebooks from their outlines (tools/outlines/<scenario>.py): narrative cells and one
call per step, no outputs.

Notebooks are committed; this script is how they are (re)made so that every notebook keeps the same
shape (title, parameters cell, session, steps, summary). Run: python tools/make_notebooks.py [SCENARIO...]
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runbooklib import scenarios  # noqa: E402
from runbooklib.params import FINDINGS_PATH  # noqa: E402

LAB = yaml.safe_load((ROOT / "parameters" / "lab.yaml").read_text())


def parameters_cell(scenario_id: str) -> nbformat.NotebookNode:
    lines = ["# Parameters (papermill injects overrides after this cell). Defaults target `runbook lab up`."]
    for name, spec in scenarios.get(scenario_id).schema.items():
        value = LAB.get(name, spec.default)
        lines.append(f"# {spec.description}")
        lines.append(f"{name} = {value!r}")
    lines.append("# Set by `runbook run`: where the findings file is written")
    lines.append(f"{FINDINGS_PATH} = ''")
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["parameters"]
    return cell


def build(scenario_id: str, intro: str, imports: str, steps: list[tuple[str, str]]) -> nbformat.NotebookNode:
    sc = scenarios.get(scenario_id)
    cells = [nbformat.v4.new_markdown_cell(intro.strip()), parameters_cell(scenario_id)]
    cells.append(nbformat.v4.new_code_cell(f"{imports.strip()}\n\nrb = Session.start({scenario_id!r}, globals())"))
    for md, code in steps:
        cells.append(nbformat.v4.new_markdown_cell(md.strip()))
        cells.append(nbformat.v4.new_code_cell(code.strip()))
    cells.append(nbformat.v4.new_markdown_cell(
        "## Summary\nWorst findings first. `runbook run` reads the findings file written here to set its exit "
        "code (0 no fail, 1 a fail finding)."))
    cells.append(nbformat.v4.new_code_cell("rb.finish()"))
    for index, cell in enumerate(cells):  # stable ids: regenerating a notebook changes only what changed
        cell["id"] = f"{scenario_id}-{index:02d}"[:64]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.metadata["runbook"] = {"scenario": sc.id, "seed_section": sc.seed_section}
    return nb


def outlines() -> dict[str, dict]:
    import importlib
    import pkgutil

    sys.path.insert(0, str(ROOT / "tools"))
    import outlines as package

    found = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"outlines.{info.name}")
        found[module.SCENARIO] = module.OUTLINE
    return found


def main(argv: list[str]) -> None:
    for scenario_id, outline in sorted(outlines().items()):
        if argv and scenario_id not in argv:
            continue
        nb = build(scenario_id, **outline)
        nbformat.validate(nb)
        path = ROOT / "notebooks" / f"{scenario_id}.ipynb"
        nbformat.write(nb, str(path))
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
