"""Where the packaged notebooks and example parameter files are, installed or in a checkout.

They live in the top-level ``notebooks/`` and ``parameters/`` folders of the repository and are shipped as
the packages ``runbooklib.notebooks`` and ``runbooklib.parameters`` (see pyproject's package-dir), so the
same lookup works for a wheel, a pipx install and an editable checkout.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def _package_dir(package: str) -> Path:
    root = resources.files(package)
    path = Path(str(root))
    if not path.is_dir():  # a zipped install: papermill needs real files, and we do not ship zipped
        raise RuntimeError(f"{package} is not installed as files ({root})")
    return path


def notebook_dir() -> Path:
    """The folder holding ``<scenario>.ipynb`` for every built scenario."""
    return _package_dir("runbooklib.notebooks")


def parameters_dir() -> Path:
    """The folder holding the example parameter files (lab, Omnibus, Helm)."""
    return _package_dir("runbooklib.parameters")
