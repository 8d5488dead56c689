"""Faults the lab can inject, each a small piece: hooks that edit configs before start or act after it.

Faults compose: several may be given at once, in any order. They are applied in one canonical order —
faults that set up data (markers, uploads) before faults that break a service (trust, clocks, storage) —
so `--fault a --fault b` and `--fault b --fault a` give the same lab. A new fault registers one more
`Fault` (in a `fault_*.py` module); one that writes data through the registry sets ``sets_up_data``.
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
    """One reproducible misconfiguration or failure. Which runbook it reproduces is the scenario spec's to say
    (``runbooklib.scenarios.Scenario.faults``), not the fault's."""

    name: str
    description: str
    registry_config: ConfigHook = _noop_config
    issuer_config: ConfigHook = _noop_config
    after_start: LabHook = _noop
    sets_up_data: bool = False  # writes through the registry/S3 after start: runs before faults that break them


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
    return canonical_order([FAULTS[n] for n in dict.fromkeys(names)])


def canonical_order(faults: list[Fault]) -> list[Fault]:
    """Data set-up first, then the rest, each by name: the order given on the command line never matters."""
    return sorted(faults, key=lambda f: (not f.sets_up_data, f.name))


def load_plugins() -> None:
    """Import every `runbooklib/lab/fault_*.py` and `component_*.py`: each registers its own pieces."""
    import importlib
    import pkgutil
    from pathlib import Path

    folder = Path(__file__).resolve().parent
    for info in sorted(pkgutil.iter_modules([str(folder)]), key=lambda m: m.name):
        if info.name.startswith(("fault_", "component_")):
            importlib.import_module(f"{__package__}.{info.name}")
