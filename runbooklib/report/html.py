"""Executed notebook → one self-contained HTML page: summary first, code hidden, nothing fetched."""

from __future__ import annotations

import copy
import html
from pathlib import Path
from typing import Any

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import TagRemovePreprocessor

from ..findings import Report, render_summary_html

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
_exporter: HTMLExporter | None = None


def _get_exporter() -> HTMLExporter:
    """One exporter reused: building it costs more than a conversion."""
    global _exporter
    if _exporter is None:
        exp = HTMLExporter(template_name="runbook", extra_template_basedirs=[str(TEMPLATE_DIR)])
        exp.exclude_input = True
        exp.exclude_input_prompt = True
        exp.exclude_output_prompt = True
        tags = TagRemovePreprocessor(remove_cell_tags={"injected-parameters", "parameters"})
        exp.register_preprocessor(tags, enabled=True)
        _exporter = exp
    return _exporter


def _parameter_table(parameters: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>" for k, v in parameters.items()
    )
    return f'<details><summary>Parameters</summary><table class="rb-summary-table rb-params">{rows}</table></details>'


def summary_cell_html(title: str, report: Report | None, error: str | None, parameters: dict[str, Any]) -> str:
    """The block that opens every report: status, summary table, parameters; or why the run failed."""
    parts = [f'<div class="rb-report-head"><p style="color:#6e7781;margin:0">registry runbook report</p>'
             f"<h1>{html.escape(title)}</h1>"]
    if report is not None:
        parts.append(f'<p style="color:#6e7781">started {html.escape(report.started)} · finished '
                     f"{html.escape(str(report.finished))}</p>")
    if error:
        parts.append(
            '<div class="rb-run-error" style="border:2px solid #cf222e;padding:8px;margin:8px 0">'
            f"<b>The runbook could not finish.</b><pre style='white-space:pre-wrap'>{html.escape(error)}</pre>"
            "The failing step is marked below with its error.</div>"
        )
    if report is not None:
        parts.append(render_summary_html(report))
    elif not error:
        parts.append("<p><i>No findings file was written.</i></p>")
    parts.append(_parameter_table(parameters))
    parts.append("</div>")
    return "".join(parts)


def footer_html(report: Report | None, duration_s: float | None = None) -> str:
    """Versions and timings, so a report read months later says what produced it."""
    from importlib.metadata import PackageNotFoundError, version

    from .. import __version__

    parts = [f"runbooklib {__version__}"]
    for pkg in ("papermill", "nbconvert"):
        try:
            parts.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            pass
    if report is not None:
        parts.append(f"started {report.started}, finished {report.finished}")
        registry = next((f.evidence.get("registry_version") for f in report.findings
                         if isinstance(f.evidence, dict) and f.evidence.get("registry_version")), None)
        if registry:
            parts.append(f"registry {registry}")
    if duration_s is not None:
        parts.append(f"run took {duration_s:.1f} s")
    return f'<footer class="rb-footer" style="color:#6e7781;font-size:85%;margin-top:16px">{html.escape(" · ".join(parts))}</footer>'


def _display_cell(html_text: str) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source="")
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": html_text})]
    return cell


def render_report(nb: nbformat.NotebookNode, head_html: str, foot_html: str = "") -> str:
    """HTML for an executed notebook with ``head_html`` placed first (and ``foot_html`` last)."""
    nb = copy.deepcopy(nb)
    nb.metadata.pop("widgets", None)  # would make the page load a widget manager from a CDN
    nb.cells.insert(0, _display_cell(head_html))
    if foot_html:
        nb.cells.append(_display_cell(foot_html))
    body, _ = _get_exporter().from_notebook_node(nb)
    return body
