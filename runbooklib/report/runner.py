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
from ..kernel import KERNEL_NAME, kernel_spec
from ..findings import Report, Status
from .html import footer_html, render_report, summary_cell_html
from .sanitize import Redactor, Withheld

KERNEL = KERNEL_NAME


def _ipc_kernel_manager(socket_dir: str):
    """A kernel manager on local IPC sockets in a private folder: no TCP ports opened, no "running over TCP"
    warning, and no collision with another run's sockets (IPC paths default to the working directory).
    Its kernel is always this interpreter (no kernel spec lookup: nothing to register, nothing stale)."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self) -> str:
            return "ipc"

        @default("ip")
        def _default_ip(self) -> str:
            return os.path.join(socket_dir, "kernel")

        @property
        def kernel_spec(self):
            if self._kernel_spec is None:
                self._kernel_spec = kernel_spec()
            return self._kernel_spec

        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            # The kernel's own stderr (e.g. "KeyboardInterrupt caught in kernel" when shutdown interrupts it
            # first) is noise on an SRE's terminal; what matters reaches the notebook and the report.
            with open(os.path.join(socket_dir, "kernel.stderr"), "ab") as err:
                kw.setdefault("stderr", err)
                kw.setdefault("stdout", err)
                await super()._async_launch_kernel(kernel_cmd, **kw)

    return IPCKernelManager


SUN_PATH_MAX = 100  # a Unix socket path holds at most 107 bytes; the kernel adds "-<port>" to ours


def kernel_socket_dir() -> str:
    """A private folder for the kernel's sockets, under TMPDIR when its path is short enough for a Unix socket,
    else under /tmp: with a long TMPDIR the kernel's sockets cannot be bound and the run would wait forever."""
    folder = tempfile.mkdtemp(prefix="runbook-kernel-")
    if len(os.path.join(folder, "kernel-65535").encode()) <= SUN_PATH_MAX:
        return folder
    os.rmdir(folder)
    return tempfile.mkdtemp(prefix="runbook-kernel-", dir="/tmp")


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


def step_titles(nb: Any) -> dict[str, str]:
    """Code cell id -> the heading of the step it runs (the markdown cell before it), for progress lines.
    Ids, not positions: papermill inserts the injected-parameters cell, which shifts every position."""
    titles: dict[str, str] = {}
    heading = ""
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
            if first.startswith("#"):
                heading = first.lstrip("#").strip()
        elif "parameters" not in cell.metadata.get("tags", []) and heading and cell.get("id"):
            titles[cell["id"]] = heading
            heading = ""  # one line per step, not per code cell
    return titles


class StepProgress:
    """``[3/11] 3. Is the token flow working?`` on stderr as each step starts (nbclient's on_cell_start hook),
    so nobody stares at a silent terminal during an incident."""

    def __init__(self, scenario_id: str, nb: Any, stream: Any = None) -> None:
        self.scenario = scenario_id
        self.titles = step_titles(nb)
        self.order = {cid: n for n, cid in enumerate(self.titles, 1)}
        self.stream = stream or sys.stderr
        self.t0 = time.monotonic()

    def __call__(self, cell: Any = None, cell_index: int = 0, **_: Any) -> None:
        cid = (cell or {}).get("id", "")
        title = self.titles.get(cid)
        if title is None:
            return
        elapsed = time.monotonic() - self.t0
        self.stream.write(f"{self.scenario} [{self.order[cid]}/{len(self.titles)}] {title} "
                          f"({elapsed:.0f} s)\n")
        self.stream.flush()


def default_cell_timeout(timeout_s: Any) -> float:
    """The bound on one step when none is given: room for many probes of ``timeout_s`` each, never forever."""
    try:
        per_call = float(timeout_s)
    except (TypeError, ValueError):
        per_call = 10.0
    return max(300.0, 60.0 * per_call)


def _quiet_papermill() -> None:
    # papermill logs parameters at DEBUG and cell output at INFO; nbclient logs a cell timeout through
    # traitlets' logger. None of it belongs on an SRE's terminal: the outcome is the one line we print.
    logging.getLogger("papermill").setLevel(logging.CRITICAL)  # nbclient logs through papermill's logger


@dataclass(frozen=True)
class FailedStep:
    """The step a run stopped in: its heading (the markdown cell before it) and its call."""

    heading: str
    source: str


def failed_step(nb: Any) -> FailedStep | None:
    """The last code cell papermill started, with the heading of the step it belongs to."""
    heading, found = "", None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            first = cell.source.strip().splitlines()[0] if cell.source.strip() else ""
            heading = first.lstrip("#").strip() or heading
            continue
        started = (cell.metadata.get("papermill") or {}).get("start_time")
        if started:
            found = FailedStep(heading, cell.source.strip())
    return found


def _is_timeout(exc: BaseException) -> bool:
    return type(exc).__name__ in ("CellTimeoutError", "TimeoutError")


def _step_report(scenario_id: str, values: dict[str, Any], step: FailedStep | None, timed_out: bool,
                 error: str, cell_timeout: float | None) -> Report:
    """A report for a run that stopped before its summary: the one finding that says where and why."""
    from ..findings import Finding

    where = f"step '{step.heading}'" if step and step.heading else "a step"
    if timed_out:
        finding = Finding(
            "run.step_timeout", Status.ERROR, f"{where[0].upper()}{where[1:]} timed out after {cell_timeout:g} s",
            detail="The run stopped there; the steps before it completed and are in this report.",
            evidence={"step": step.heading if step else "", "call": step.source if step else "", "cell_timeout_s": cell_timeout},
            remedy="Run again with a larger `--cell-timeout`, or a smaller `timeout_s` so that each probe gives up sooner "
            "than the step does (a host that accepts connections and never answers costs `timeout_s` per probe).")
    else:
        finding = Finding(
            "run.step_error", Status.ERROR, f"{where[0].upper()}{where[1:]} could not run",
            detail=error, evidence={"step": step.heading if step else "", "call": step.source if step else ""},
            remedy="This is a fault of the runbook, not of the registry: keep the .ipynb and report it with the step's "
            "output.")
    report = Report(scenario_id, parameters=dict(values))
    report.add(finding)
    report.finished = report.started
    return report


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
    if cell_timeout is None:
        cell_timeout = default_cell_timeout(values.get("timeout_s", 10.0))
    parameters = {**values, P.FINDINGS_PATH: str(findings_path)}
    if progress is None:
        progress = sys.stderr.isatty()
    hooks: dict[str, Any] = {}
    if progress:
        hooks["on_cell_start"] = StepProgress(sc.id, nbformat.read(str(sc.notebook), as_version=4))
    _quiet_papermill()
    error: str | None = None
    timed_out = False
    t0 = time.monotonic()
    socket_dir = kernel_socket_dir()
    try:
        pm.execute_notebook(
            str(sc.notebook),
            str(nb_path),
            parameters=parameters,
            kernel_name=KERNEL,
            progress_bar=False,
            execution_timeout=cell_timeout,
            cwd=os.getcwd(),  # relative paths in -p values mean what they mean in the caller's shell
            log_output=False,
            kernel_manager_class=_ipc_kernel_manager(socket_dir),
            **hooks,
        )
    except pm.PapermillExecutionError as exc:
        error = _error_text(exc)
        error = f"raised {error}"
    except Exception as exc:  # kernel died, cell timeout, no such kernel: still write what we have
        timed_out = _is_timeout(exc)
        error = f"timed out after {cell_timeout:g} s" if timed_out and cell_timeout else _error_text(exc).splitlines()[0]
    finally:
        shutil.rmtree(socket_dir, ignore_errors=True)
    # One redaction pass per artifact, on objects before they are written or rendered (never on serialized
    # text); an artifact that cannot be made safe is withheld, and the report says which and why.
    redactor = Redactor(secrets, usernames=[str(values.get("username") or "")])
    error = redactor.safe_text(error) if error else None
    withheld: list[Withheld] = []
    nb = None
    if nb_path.exists():
        nb, note = redactor.notebook_file(nb_path)
        withheld += [note] if note else []
    report = None
    fresh = False  # a report made here (not the kernel's): stamped when written
    if findings_path.exists():
        data, note = redactor.json_file(findings_path)
        if note is not None:
            withheld.append(note)
            error = error or f"{note.artifact} withheld: {note.reason}"
            report, fresh = Report(sc.id, parameters=dict(values)), True
        else:
            try:
                report = Report.from_dict(data)
            except (ValueError, KeyError, TypeError) as exc:
                error = error or redactor.safe_text(f"findings file unreadable: {exc}")
    if nb is None:  # papermill failed before writing anything, or the notebook was withheld: render the source
        nb = nbformat.read(str(sc.notebook), as_version=4)
    if error is not None and report is None:
        step = failed_step(nb)
        if step is not None and step.heading:
            error = f"step '{step.heading}' {error}"
        report, fresh = _step_report(sc.id, values, step, timed_out, error, cell_timeout), True
    if report is not None and (fresh or withheld):
        for note in withheld:
            report.add(note.finding())
        note = redactor.write_report(report, findings_path, stamp=fresh)
        if note is not None:
            report.add(note.finding())
    head = summary_cell_html(sc.title, report, error, values)  # parameters: secrets are references
    page = render_report(nb, head, footer_html(report, time.monotonic() - t0))
    note = redactor.write_html(page, html_path)
    if note is not None and report is not None:
        report.add(note.finding())
        redactor.write_report(report, findings_path, stamp=False)
    return RunResult(sc.id, nb_path, html_path, findings_path, report, error)
