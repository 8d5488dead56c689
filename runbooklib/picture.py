"""The request path at a glance: client → NGINX → registry → token realm and storage, each box coloured by
the worst finding about it. An inline SVG: it renders in JupyterLab, in the HTML report and in its PDF with
nothing to load."""

from __future__ import annotations

import html
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Iterable

from .findings import _COLOURS, Status

# hop -> finding id patterns about it (TLS and forwarding describe the way in, so they colour the registry box)
HOPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("client", "Client (docker, CI)", ("logs.client_*", "push.canary.*", "schema1.old_clients.*")),
    ("proxy", "NGINX / proxy", ("nginx.*", "hops.location.*", "hops.body_too_large", "hops.proxy_bad_gateway",
                                "ipv6.*", "urls.*", "logs.nginx_*", "logs.body_too_large_413", "body_limit.*")),
    ("registry", "Registry", ("forwarding.*", "tls.registry.*", "health.*", "metrics.*", "tags.*", "catalog.*",
                              "debug.*", "vars.*", "logs.registry_*", "logs.http_5*", "pull.*", "clock.registry",
                              "gc.pull*", "gc.index_*", "gc.output*", "gc.summary", "gc.untagged_removed")),
    ("realm", "GitLab /jwt/auth", ("token.*", "trust.*", "clock.realm", "clock.token*", "registry_key.*",
                                   "tls.realm.*", "logs.token_*", "logs.auth_*", "logs.rails_*", "logs.missing_registry_key")),
    ("storage", "Storage (S3/GCS)", ("s3.*", "bucket.*", "markers.*", "hops.forbidden.storage", "eof.*", "gcs.*",
                                     "redirect.storage_unreachable", "redirect.expired", "hops.storage_*",
                                     "gc.storage_*", "gc.versioning_*",
                                     "logs.s3_*", "logs.gcs_*", "logs.health_check_failed")),
)
_ORDER = {Status.FAIL: 5, Status.ERROR: 4, Status.WARN: 3, Status.OK: 2, Status.INFO: 1, Status.SKIP: 0}


@dataclass(frozen=True)
class HopState:
    key: str
    label: str
    status: Status | None  # None: nothing was checked about this hop
    worst: str  # title of the worst finding


def hop_states(findings: Iterable[Any]) -> list[HopState]:
    """The worst status per hop over findings (objects with id/status/title, or dicts)."""
    found = list(findings)
    out = []
    for key, label, patterns in HOPS:
        best: tuple[int, Status, str] | None = None
        for f in found:
            fid = f["id"] if isinstance(f, dict) else f.id
            status = Status(f["status"] if isinstance(f, dict) else f.status)
            title = f["title"] if isinstance(f, dict) else f.title
            if any(fnmatchcase(fid, p) for p in patterns) and (best is None or _ORDER[status] > best[0]):
                best = (_ORDER[status], status, title)
        out.append(HopState(key, label, best[1] if best else None, best[2] if best else "not checked"))
    return out


class RequestPath:
    """Renders the hops as an SVG diagram (``_repr_html_``) and as text (``repr``)."""

    def __init__(self, findings: Iterable[Any]) -> None:
        self.hops = hop_states(findings)

    def __repr__(self) -> str:
        return " → ".join(f"{h.label}: {h.status.value if h.status else 'not checked'}" for h in self.hops)

    def _repr_html_(self) -> str:
        w, h, gap, top = 170, 64, 40, 20
        boxes, arrows = [], []
        x = 10
        positions = {}
        for hop in self.hops[:3]:  # client -> proxy -> registry in a row, realm and storage below the registry
            positions[hop.key] = (x, top)
            x += w + gap
        rx = positions["registry"][0]
        positions["realm"] = (rx - w // 2 - gap // 2, top + h + 50)
        positions["storage"] = (rx + w // 2 + gap // 2, top + h + 50)
        for hop in self.hops:
            px, py = positions[hop.key]
            colour = _COLOURS[hop.status] if hop.status else "#d0d7de"
            text_colour = "#ffffff" if hop.status and hop.status not in (Status.SKIP, Status.INFO) else "#1f2328"
            state = hop.status.value.upper() if hop.status else "NOT CHECKED"
            worst = hop.worst if len(hop.worst) <= 30 else hop.worst[:29] + "…"
            boxes.append(
                f'<g><title>{html.escape(hop.label)}: {html.escape(hop.worst)}</title>'
                f'<rect x="{px}" y="{py}" width="{w}" height="{h}" rx="8" fill="{colour}"/>'
                f'<text x="{px + w / 2}" y="{py + 20}" text-anchor="middle" font-weight="600" fill="{text_colour}">'
                f"{html.escape(hop.label)}</text>"
                f'<text x="{px + w / 2}" y="{py + 38}" text-anchor="middle" font-size="11" fill="{text_colour}">{state}</text>'
                f'<text x="{px + w / 2}" y="{py + 54}" text-anchor="middle" font-size="10" fill="{text_colour}">'
                f"{html.escape(worst)}</text></g>")
        for a, b in (("client", "proxy"), ("proxy", "registry")):
            ax, ay = positions[a]
            bx, _ = positions[b]
            arrows.append(f'<line x1="{ax + w}" y1="{ay + h / 2}" x2="{bx - 4}" y2="{ay + h / 2}" '
                          'stroke="#57606a" stroke-width="2" marker-end="url(#rb-arrow)"/>')
        gx, gy = positions["registry"]
        for target in ("realm", "storage"):
            tx, ty = positions[target]
            arrows.append(f'<line x1="{gx + w / 2}" y1="{gy + h}" x2="{tx + w / 2}" y2="{ty - 4}" '
                          'stroke="#57606a" stroke-width="2" marker-end="url(#rb-arrow)"/>')
        width = max(px for px, _ in positions.values()) + w + 10
        height = top + 2 * h + 70
        return (f'<svg class="rb-request-path" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
                f'viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif" font-size="13">'
                '<defs><marker id="rb-arrow" markerWidth="8" markerHeight="8" refX="6" refY="3" orient="auto">'
                '<path d="M0,0 L6,3 L0,6 z" fill="#57606a"/></marker></defs>'
                + "".join(arrows) + "".join(boxes) + "</svg>")
