"""Extra lab components (e.g. a GitLab REST stand-in, NGINX) registered by `component_*.py` modules.

A component gets a port in `lab.ports`, is started after the registry is seeded and before faults act,
and adds its parameters to the lab's params.yaml. Its processes go through `lab.spawn`, so `lab down`
stops them by PID like everything else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from .control import Lab


@dataclass(frozen=True)
class Component:
    name: str
    default_port: int
    start: Callable[["Lab"], None]
    params: Callable[["Lab"], dict[str, Any]]
    order: int = 50  # lower starts first


COMPONENTS: dict[str, Component] = {}


def register_component(component: Component) -> Component:
    COMPONENTS[component.name] = component
    return component


def ordered() -> list[Component]:
    from .faults import load_plugins

    load_plugins()
    return sorted(COMPONENTS.values(), key=lambda c: (c.order, c.name))
