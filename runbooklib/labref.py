"""The lab `runbook lab up` last started, as the product sees it: a recorded file and live processes.

The lab writes this record (``runbooklib.lab.control``); a notebook whose parameters cell is untouched reads it
to run against that lab. Keeping the reader here means the product never imports the lab.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .config.procenv import process_alive


def _state_home() -> Path:
    return Path(os.environ.get("XDG_STATE_HOME", "~/.local/state")).expanduser()


def default_lab_state_dir() -> Path:
    """Where `runbook lab up` keeps its state unless told otherwise (``RUNBOOK_LAB_DIR``)."""
    env = os.environ.get("RUNBOOK_LAB_DIR")
    return Path(env).expanduser() if env else _state_home() / "runbook-lab"


def current_lab_file() -> Path:
    """Where `runbook lab up` records the lab it started."""
    return _state_home() / "runbook" / "current-lab.json"


def _running_params(state_dir: Path) -> Path | None:
    try:
        data = json.loads((state_dir / "lab.json").read_text())
    except (OSError, ValueError):
        return None
    pids = data.get("pids") or {}
    params = state_dir / "params.yaml"
    alive = all(process_alive(int(p["pid"]), str(p.get("cmd", ""))) for p in pids.values())
    return params if pids and alive and params.is_file() else None


def running_lab_params() -> Path | None:
    """The parameters file of the recorded (else the default) lab when all its processes still run."""
    candidates = []
    try:
        candidates.append(Path(json.loads(current_lab_file().read_text())["state_dir"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    candidates.append(default_lab_state_dir().resolve())
    for state_dir in candidates:
        found = _running_params(state_dir)
        if found is not None:
            return found
    return None
