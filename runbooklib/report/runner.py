"""`runbook run`: papermill executes a scenario notebook; we write .ipynb, .html and .findings.json."""

from __future__ import annotations

import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from .. import params as P
from .. import scenarios
from ..findings import Report, Status
from .html import footer_html, render_report, summary_cell_html
from .redact import redact_file, redact_text
from .sanitize import scrub, scrub_file

KERNEL = "python3"


def _ipc_kernel_manager(socket_dir: str):
    """A kernel manager on local IPC sockets in a private folder: no TCP ports opened, no "running over TCP"
    warning, and no collision with another run's sockets (IPC paths default to the working directory)."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self) -> str:
            return "ipc"

        @default("ip")
        def _default_ip(self) -> str:
            return os.path.join(socket_dir, "kernel")

    return IPCKernelManager


class NotBuilt(P.ParamError):
    pass


@dataclass
class RunResult:
    """Where the artifacts are and how the run ended (exit code per DESIGN.md)."""

    scenario: str
    notebook: Path
    html: Path
    findings: Path
    report: Report | None
    error: str | None

    @property
    def exit_code(self) -> int:
        if self.error is not None or self.report is None:
            return 2
        return 1 if self.report.status is Status.FAIL else 0


def _quiet_papermill() -> None:
    # papermill logs parameters at DEBUG and cell output at INFO; neither belongs on an SRE's terminal
    logging.getLogger("papermill").setLevel(logging.WARNING)


def _error_text(exc: BaseException) -> str:
    name = getattr(exc, "ename", type(exc).__name__)
    value = getattr(exc, "evalue", str(exc))
    return f"{name}: {value}".strip()


def run_scenario(
    scenario_id: str,
    values: dict[str, Any],
    out_dir: Path,
    cell_timeout: float | None = None,
    progress: bool | None = None,
    extra_secrets: list[str] | None = None,
) -> RunResult:
    """Execute one scenario's notebook with already validated parameter values."""
    import papermill as pm

    sc = scenarios.get(scenario_id)
    if not sc.built:
        raise NotBuilt(f"scenario {scenario_id} is not built yet")
    out_dir.mkdir(parents=True, exist_ok=True)
    nb_path = out_dir / f"{sc.id}.ipynb"
    html_path = out_dir / f"{sc.id}.html"
    findings_path = (out_dir / f"{sc.id}.findings.json").resolve()
    for stale in (nb_path, html_path, findings_path):
        stale.unlink(missing_ok=True)
    secrets = P.secret_values(sc.schema, values) + list(extra_secrets or [])
    parameters = {**values, P.FINDINGS_PATH: str(findings_path)}
    if progress is None:
        progress = sys.stderr.isatty()
    _quiet_papermill()
    error: str | None = None
    t0 = time.monotonic()
    socket_dir = tempfile.mkdtemp(prefix="runbook-kernel-")
    try:
        pm.execute_notebook(
            str(sc.notebook),
            str(nb_path),
            parameters=parameters,
            kernel_name=KERNEL,
            progress_bar=progress,
            execution_timeout=cell_timeout,
            cwd=str(sc.notebook.parent),
            log_output=False,
            kernel_manager_class=_ipc_kernel_manager(socket_dir),
        )
    except pm.PapermillExecutionError as exc:
        error = _error_text(exc)
        error = f"step {exc.exec_count} raised {error}" if getattr(exc, "exec_count", None) else error
    except Exception as exc:  # kernel died, cell timeout, no such kernel: still write what we have
        error = _error_text(exc)
    finally:
        shutil.rmtree(socket_dir, ignore_errors=True)
    error = redact_text(error, secrets) if error else None

    for artifact in (nb_path, findings_path):
        redact_file(artifact, secrets)
        scrub_file(artifact, secrets)
    report = None
    if findings_path.exists():
        try:
            report = Report.load(str(findings_path))
        except (ValueError, KeyError) as exc:
            error = error or f"findings file unreadable: {exc}"
    if nb_path.exists():
        nb = nbformat.read(str(nb_path), as_version=4)
    else:  # papermill failed before writing anything: render the source notebook unexecuted
        nb = nbformat.read(str(sc.notebook), as_version=4)
    head = summary_cell_html(sc.title, report, error, values)
    page = render_report(nb, head, footer_html(report, time.monotonic() - t0))
    html_path.write_text(scrub(page, secrets), encoding="utf-8")
    return RunResult(sc.id, nb_path, html_path, findings_path, report, error)
