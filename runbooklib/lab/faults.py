"""Faults the lab can inject, each a small piece: hooks that edit configs before start or act after it.

Faults compose: several may be given at once, applied in the order given. A later issue adds a fault by
registering one more `Fault` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .control import Lab

ConfigHook = Callable[["Lab", dict[str, Any]], None]
LabHook = Callable[["Lab"], None]


def _noop_config(lab: "Lab", cfg: dict[str, Any]) -> None:
    return None


def _noop(lab: "Lab") -> None:
    return None


@dataclass(frozen=True)
class Fault:
    """One reproducible misconfiguration or failure from the troubleshooting page."""

    name: str
    description: str
    scenario: str = ""
    registry_config: ConfigHook = _noop_config
    issuer_config: ConfigHook = _noop_config
    after_start: LabHook = _noop


FAULTS: dict[str, Fault] = {}


def register(fault: Fault) -> Fault:
    FAULTS[fault.name] = fault
    return fault


register(Fault("none", "a healthy lab: no fault injected"))


def resolve(names: list[str]) -> list[Fault]:
    """Faults by name, or a one-line error listing the valid names."""
    load_plugins()
    unknown = [n for n in names if n not in FAULTS]
    if unknown:
        raise ValueError(f"unknown fault {unknown[0]!r} (valid: {', '.join(sorted(FAULTS))})")
    return [FAULTS[n] for n in dict.fromkeys(names)]


def load_plugins() -> None:
    """Import every `runbooklib/lab/fault_*.py` and `component_*.py`: each registers its own pieces."""
    import importlib
    import pkgutil
    from pathlib import Path

    folder = Path(__file__).resolve().parent
    for info in sorted(pkgutil.iter_modules([str(folder)]), key=lambda m: m.name):
        if info.name.startswith(("fault_", "component_")):
            importlib.import_module(f"{__package__}.{info.name}")
