"""Write the scenario notebooks from their outlines (tools/outlines/<scenario>.py): narrative cells and one
call per step, no outputs.

Notebooks are committed; this script is how they are (re)made so that every notebook keeps the same
shape (title, parameters cell, session, steps, summary). Run: python tools/make_notebooks.py [SCENARIO...]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from runbooklib import scenarios  # noqa: E402
from runbooklib.kernel import DISPLAY_NAME, KERNEL_NAME  # noqa: E402
from runbooklib.params import FINDINGS_PATH  # noqa: E402


def parameters_cell(scenario_id: str) -> nbformat.NotebookNode:
    lines = ["# Parameters (`runbook run` / papermill inject values after this cell).",
             "# Left as they are, they are filled from the running lab (`runbook lab up`); set them for your registry."]
    for name, spec in scenarios.get(scenario_id).schema.items():
        value = spec.default
        lines.append(f"# {spec.description}")
        lines.append(f"{name} = {value!r}")
    lines.append("# Set by `runbook run`: where the findings file is written")
    lines.append(f"{FINDINGS_PATH} = ''")
    cell = nbformat.v4.new_code_cell("\n".join(lines))
    cell.metadata["tags"] = ["parameters"]
    return cell


def _slug(text: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return words[:56].rstrip("-") or "cell"


def cell_ids(cells: list[nbformat.NotebookNode]) -> list[str]:
    """A stable id per cell, from what it is: intro, parameters, session, each step's heading (and its call,
    `<heading>-run`), summary. Positional ids renumbered every later cell when a step was added."""
    ids: list[str] = []
    heading = ""
    for index, cell in enumerate(cells):
        if index == 0:
            cid = "intro"
        elif "parameters" in cell.metadata.get("tags", []):
            cid = "parameters"
        elif index == 2:
            cid = "session"
        elif cell.cell_type == "markdown":
            first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
            heading = _slug(first.lstrip("#"))
            cid = heading
        else:
            cid = f"{heading}-run" if heading else "cell"
        base, n = cid, 2
        while cid in ids:
            cid = f"{base}-{n}"
            n += 1
        ids.append(cid)
    return ids


def heading(sc: "scenarios.Scenario") -> str:
    """The notebook's title and where GitLab documents it, from the scenario spec (outlines never retype them)."""
    if sc.beyond_the_page:
        where = "**Beyond GitLab's troubleshooting page:** " + sc.seed_section.split(":", 1)[-1].strip() + "."
    else:
        where = f"**GitLab's documentation:** [{sc.seed_section}]({sc.doc_url})"
    return f"# {sc.title}\n\n{where}\n\n"


def build(scenario_id: str, intro: str, imports: str, steps: list[tuple[str, str]]) -> nbformat.NotebookNode:
    sc = scenarios.get(scenario_id)
    cells = [nbformat.v4.new_markdown_cell(heading(sc) + intro.strip()), parameters_cell(scenario_id)]
    cells.append(nbformat.v4.new_code_cell(f"{imports.strip()}\n\nrb = Session.start({scenario_id!r}, globals())"))
    for md, code in steps:
        cells.append(nbformat.v4.new_markdown_cell(md.strip()))
        cells.append(nbformat.v4.new_code_cell(code.strip()))
    cells.append(nbformat.v4.new_markdown_cell(
        "## Summary\nWorst findings first. `runbook run` reads the findings file written here to set its exit "
        "code (0 no fail, 1 a fail finding)."))
    cells.append(nbformat.v4.new_code_cell("rb.finish()"))
    for cell, cid in zip(cells, cell_ids(cells)):  # ids from content: adding a step changes no other id
        cell["id"] = cid
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": KERNEL_NAME, "display_name": DISPLAY_NAME, "language": "python"}
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


def render(scenario_id: str) -> str:
    """The notebook file's exact text as this script writes it (tests compare it with the committed one)."""
    nb = build(scenario_id, **outlines()[scenario_id])
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def drifted(only: list[str] | None = None) -> list[str]:
    """Scenario ids whose committed notebook differs from what its outline generates (or is missing)."""
    out = []
    for scenario_id in sorted(outlines()):
        if only and scenario_id not in only:
            continue
        path = ROOT / "notebooks" / f"{scenario_id}.ipynb"
        if not path.is_file() or path.read_text(encoding="utf-8") != render(scenario_id):
            out.append(scenario_id)
    return out


def main(argv: list[str]) -> int:
    """Write the notebooks (all, or the ids given); ``--check`` writes nothing and exits 1 on any drift."""
    check = "--check" in argv
    ids = [a for a in argv if a != "--check"]
    if check:
        stale = drifted(ids)
        for scenario_id in stale:
            print(f"notebooks/{scenario_id}.ipynb drifted from tools/outlines: run "
                  f"`python tools/make_notebooks.py {scenario_id}`")
        return 1 if stale else 0
    for scenario_id in sorted(outlines()):
        if ids and scenario_id not in ids:
            continue
        path = ROOT / "notebooks" / f"{scenario_id}.ipynb"
        path.write_text(render(scenario_id), encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
