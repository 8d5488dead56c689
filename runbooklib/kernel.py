"""The `runbook` Jupyter kernel: the Python that has runbooklib, whatever Jupyter the user opens.

Notebooks name this kernel in their metadata, so JupyterLab (ours or one the user already has) starts the
environment that can import runbooklib. `runbook run` never looks the name up: it starts this very
interpreter, so a stale or foreign kernel spec cannot run a report with another Python.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

KERNEL_NAME = "runbook"
DISPLAY_NAME = "Python (runbook)"


def kernel_argv(python: str | None = None) -> list[str]:
    """The command Jupyter starts: this interpreter's ipykernel."""
    return [python or sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]


def kernel_spec_dict(python: str | None = None) -> dict:
    return {"argv": kernel_argv(python), "display_name": DISPLAY_NAME, "language": "python",
            "metadata": {"debugger": True}}


def kernel_spec():
    """A jupyter_client KernelSpec for this interpreter (used by the runner without any registration)."""
    from jupyter_client.kernelspec import KernelSpec

    return KernelSpec(resource_dir="", **kernel_spec_dict())


def user_kernels_dir() -> Path:
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "kernels"


def install_kernel_spec(kernels_dir: Path | None = None) -> Path:
    """Write (or refresh) ``kernels/runbook/kernel.json`` pointing at this interpreter; return its folder."""
    folder = (kernels_dir or user_kernels_dir()) / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "kernel.json").write_text(json.dumps(kernel_spec_dict(), indent=1) + "\n")
    return folder


def installed_python(kernels_dir: Path | None = None) -> str | None:
    """The interpreter the registered `runbook` kernel starts, or None when none is registered."""
    path = (kernels_dir or user_kernels_dir()) / KERNEL_NAME / "kernel.json"
    try:
        return json.loads(path.read_text())["argv"][0]
    except (OSError, ValueError, KeyError, IndexError):
        return None
