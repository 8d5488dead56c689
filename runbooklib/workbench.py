"""`runbook open`: a scenario's notebook copied into a work folder with its parameters filled, opened in
JupyterLab (the interactive third of the product, next to `runbook run` and bundles).

The copy is papermill's prepare-only mode: parameters injected as a cell after the `parameters` cell,
nothing executed. Secrets stay references; they are resolved in the kernel when the cell runs.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import params as P
from . import scenarios
from .kernel import KERNEL_NAME, install_kernel_spec


@dataclass(frozen=True)
class Prepared:
    notebook: Path
    injected: dict[str, Any]


def prepare_notebook(scenario_id: str, values: dict[str, Any], injected: list[str], out_dir: Path,
                     force: bool = False) -> Prepared:
    """Write ``out_dir/<scenario>.ipynb`` with the named parameters injected (none: left for the running lab)."""
    import logging

    import papermill as pm

    sc = scenarios.get(scenario_id)
    if out_dir.exists() and not out_dir.is_dir():
        raise P.ParamError(f"work folder {out_dir} is a file, not a folder")
    target = out_dir / f"{sc.id}.ipynb"
    if target.exists() and not force:
        raise P.ParamError(f"{target} exists (it may hold your edits): use --force to replace it, or --dir")
    out_dir.mkdir(parents=True, exist_ok=True)
    chosen = {name: values[name] for name in injected if name in values}
    logging.getLogger("papermill").setLevel(logging.WARNING)
    pm.execute_notebook(str(sc.notebook), str(target), parameters=chosen, prepare_only=True,
                        kernel_name=KERNEL_NAME, language="python", progress_bar=False, log_output=False)
    return Prepared(target, chosen)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def jupyter_argv(work_dir: Path, port: int, token: str) -> list[str]:
    """JupyterLab on loopback with a known token (so we can print the URL); `--allow-root` when root."""
    argv = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.root_dir={work_dir}",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")
    return argv


def start_jupyterlab(notebook: Path, port: int | None = None) -> tuple[subprocess.Popen, str]:
    """Start JupyterLab on the notebook's folder; return the process and the URL (with its token)."""
    install_kernel_spec(Path(sys.prefix) / "share" / "jupyter" / "kernels")
    port = port or _free_port()
    token = secrets.token_hex(24)
    work_dir = notebook.parent.resolve()
    proc = subprocess.Popen(jupyter_argv(work_dir, port, token), stdin=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}/lab/tree/{notebook.name}?token={token}"
