"""Finding and Report: the one currency every check returns.

A check never prints; it returns Findings. Notebooks display them (``_repr_html_``), the runner reads
them back from ``<scenario>.findings.json`` to decide the exit code, and bundles merge them.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
from dataclasses import KW_ONLY, dataclass, field
from enum import Enum
from typing import Any, Iterable, Iterator


class Status(str, Enum):
    """Outcome of one check, ordered so that ``max`` picks the most alarming."""

    OK = "ok"
    INFO = "info"  # context (routine 404 HEADs, unauthenticated first requests): never healthy evidence, never routes
    SKIP = "skip"
    WARN = "warn"
    ERROR = "error"
    FAIL = "fail"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]


_SEVERITY = {Status.OK: 0, Status.INFO: 0, Status.SKIP: 1, Status.WARN: 2, Status.ERROR: 3, Status.FAIL: 4}
_COLOURS = {
    Status.OK: "#1a7f37",
    Status.INFO: "#8c959f",
    Status.SKIP: "#6e7781",
    Status.WARN: "#9a6700",
    Status.ERROR: "#8250df",
    Status.FAIL: "#cf222e",
}


def _jsonable(value: Any) -> Any:
    """Evidence may hold DataFrames, tuples, datetimes: turn it into plain JSON values."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (_dt.datetime, _dt.date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):  # pandas DataFrame / Series
        try:
            return _jsonable(to_dict(orient="records"))
        except TypeError:
            return _jsonable(to_dict())
    return str(value)


@dataclass(frozen=True)
class Finding:
    """What one check saw, what it means and how to fix it.

    ``id``, ``status`` and ``title`` are positional; everything else is named, so a call reads as what it says
    and a forgotten field is a default, not a shifted argument."""

    id: str
    status: Status
    title: str
    _: KW_ONLY
    detail: str = ""
    evidence: Any = field(default_factory=dict)
    remedy: str = ""
    refs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))
        object.__setattr__(self, "refs", tuple(self.refs))
        if not self.id or " " in self.id:
            raise ValueError(f"finding id must be a non-empty dotted name, got {self.id!r}")

    @classmethod
    def skip(cls, id: str, title: str, detail: str = "", **fields: Any) -> "Finding":
        """A check that could not run: ``detail`` says what to provide so it can."""
        return cls(id, Status.SKIP, title, detail=detail, **fields)

    @classmethod
    def info(cls, id: str, title: str, detail: str = "", **fields: Any) -> "Finding":
        """Context worth showing that is neither healthy evidence nor a problem."""
        return cls(id, Status.INFO, title, detail=detail, **fields)

    @property
    def cause(self) -> str:
        """The root cause this finding establishes (runbooklib.causes), '' when it names none."""
        from .causes import cause_of

        return cause_of(self.id, self.status.value)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "id": self.id,
            "status": self.status.value,
            "title": self.title,
            "detail": self.detail,
            "evidence": _jsonable(self.evidence),
            "remedy": self.remedy,
            "refs": list(self.refs),
        }
        if self.cause:
            out["cause"] = self.cause
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Finding":
        return cls(
            id=data["id"],
            status=Status(data["status"]),
            title=data.get("title", ""),
            detail=data.get("detail", ""),
            evidence=data.get("evidence", {}),
            remedy=data.get("remedy", ""),
            refs=tuple(data.get("refs", ())),
        )

    def _repr_html_(self) -> str:
        return render_finding_html(self)


def _badge(status: Status) -> str:
    return (
        f'<span class="rb-badge rb-{status.value}" style="display:inline-block;min-width:3.2em;'
        f"text-align:center;padding:1px 6px;border-radius:4px;color:#fff;font-weight:600;"
        f'font-size:85%;background:{_COLOURS[status]}">{status.value.upper()}</span>'
    )


def _evidence_html(evidence: Any) -> str:
    data = _jsonable(evidence)
    if not data:
        return ""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    return (
        "<details><summary>Evidence</summary>"
        f'<pre style="white-space:pre-wrap;max-height:30em;overflow:auto">{html.escape(text)}</pre></details>'
    )


_INSTALLS = ("Omnibus", "Helm", "Source", "Docker daemon", "GitLab Runner / docker-in-docker jobs", "GitLab itself")


def split_remedy(remedy: str) -> tuple[str, list[tuple[str, str]]]:
    """Remedy markdown → (general text, [(install type, steps)]) for lines like `- Omnibus: ...`."""
    general, per_install = [], []
    for line in remedy.splitlines():
        stripped = line.strip()
        head, sep, rest = stripped[2:].partition(":") if stripped.startswith("- ") else ("", "", "")
        label = head.split(" (")[0].strip()
        if sep and (label.lower() in {i.lower() for i in _INSTALLS} or label.lower().startswith(("omnibus", "helm", "source"))):
            per_install.append((head.strip(), rest.strip()))
        elif per_install and stripped and not stripped.startswith("- ") and line.startswith(("  ", "\t")):
            per_install[-1] = (per_install[-1][0], per_install[-1][1] + " " + stripped)
        else:
            general.append(line)
    return "\n".join(general).strip(), per_install


def _remedy_html(remedy: str) -> str:
    if not remedy:
        return ""
    # Remedies are our own small Markdown (runbooklib.markdown): code spans, lists, links; all else escaped.
    from .markdown import md_block, md_inline

    general, per_install = split_remedy(remedy)
    parts = ["<details open><summary>Remedy</summary>"]
    if general:
        parts.append(f'<div class="rb-remedy-text">{md_block(general)}</div>')
    if per_install:
        rows = "".join(
            f'<tr><th style="text-align:left;vertical-align:top;padding:2px 8px;white-space:nowrap">{html.escape(k)}</th>'
            f'<td style="text-align:left;padding:2px 8px">{md_inline(v)}</td></tr>' for k, v in per_install)
        parts.append(f'<table class="rb-remedy">{rows}</table>')
    parts.append("</details>")
    return "".join(parts)


def render_finding_html(f: Finding, shown: dict[str, str] | None = None) -> str:
    """One finding as an HTML block; every string escaped (evidence may come from the network). With
    ``shown`` (remedy -> title of the finding that showed it), a remedy already shown in this report is
    referred to instead of repeated."""
    refs = ""
    if f.refs:
        refs = '<div style="color:#6e7781;font-size:85%">See: ' + html.escape("; ".join(f.refs)) + "</div>"
    return (
        f'<div class="rb-finding" data-status="{f.status.value}" data-id="{html.escape(f.id)}" '
        'style="border-left:4px solid ' + _COLOURS[f.status] + ';padding:4px 10px;margin:6px 0">'
        f"{_badge(f.status)} <b>{html.escape(f.title)}</b> "
        f'<code style="color:#6e7781">{html.escape(f.id)}</code>'
        f'<div class="rb-detail" style="margin:4px 0">{_detail_html(f.detail)}</div>'
        f"{_evidence_html(f.evidence)}{_remedy_once(f, shown)}{refs}</div>"
    )


def _detail_html(detail: str) -> str:
    from .markdown import md_block

    return md_block(detail)


def _remedy_once(f: Finding, shown: dict[str, str] | None) -> str:
    if shown is None or not f.remedy:
        return _remedy_html(f.remedy)
    first = shown.get(f.remedy)
    if first is not None and first != f.title:
        return (f'<div class="rb-remedy-ref" style="color:#57606a">Remedy: as for '
                f"<i>{html.escape(first)}</i> above.</div>")
    shown.setdefault(f.remedy, f.title)
    return _remedy_html(f.remedy)


class Findings(list):
    """A list of Findings that renders itself in a notebook. Findings added to one Report share what was
    already shown, so a remedy appears once per report."""

    shown: dict[str, str] | None = None

    def _repr_html_(self) -> str:
        if not self:
            return "<i>no findings</i>"
        return "".join(render_finding_html(f, self.shown) for f in self)


def worst(findings: Iterable[Finding]) -> Status:
    """The most alarming status among findings (OK when there are none)."""
    return max((f.status for f in findings), key=lambda s: s.severity, default=Status.OK)


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


@dataclass
class Report:
    """All findings of one scenario run, serialised as the findings.json contract."""

    scenario: str
    parameters: dict[str, Any] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    started: str = field(default_factory=_now)
    finished: str | None = None
    _shown_remedies: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def add(self, result: Finding | Iterable[Finding]) -> Findings:
        """Record a check's result and hand it back for display."""
        new = Findings([result] if isinstance(result, Finding) else list(result))
        new.shown = self._shown_remedies
        for item in new:
            if not isinstance(item, Finding):
                raise TypeError(f"a check returned {type(item).__name__}, not a Finding")
        self.findings.extend(new)
        return new

    def __iter__(self) -> Iterator[Finding]:
        return iter(self.findings)

    @property
    def status(self) -> Status:
        """Worst status; a skipped check does not make an otherwise healthy report look worse, and context
        (info) is no evidence either way: a report of context alone is OK, of skips alone SKIP."""
        ran = [f for f in self.findings if f.status not in (Status.SKIP, Status.INFO)]
        if not ran and self.findings:
            return Status.OK if any(f.status is Status.INFO for f in self.findings) else Status.SKIP
        return worst(ran)

    def summary(self) -> list[Finding]:
        """Findings worst first; order of discovery kept within one status; context (info) last."""
        return sorted(self.findings, key=lambda f: (f.status is Status.INFO, -f.status.severity))

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in sorted(Status, key=lambda s: (s is Status.INFO, -s.severity))}
        for f in self.findings:
            out[f.status.value] += 1
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "started": self.started,
            "finished": self.finished,
            "parameters": _jsonable(self.parameters),
            "findings": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Report":
        return cls(
            scenario=data["scenario"],
            parameters=data.get("parameters", {}),
            findings=[Finding.from_dict(f) for f in data.get("findings", [])],
            started=data.get("started", ""),
            finished=data.get("finished"),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    @classmethod
    def load(cls, path: str) -> "Report":
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))

    def write(self, path: str) -> None:
        """Stamp the finish time and write findings.json (atomically: a reader never sees half)."""
        import os

        self.finished = _now()
        tmp = f"{path}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(self.to_json())
        os.replace(tmp, path)

    def _repr_html_(self) -> str:
        return render_summary_html(self)


def render_summary_html(report: Report) -> str:
    """The summary table (worst first); checks not run and context notes folded below it, so what is wrong
    and what passed stay above the fold."""
    counts = " ".join(
        f"{_badge(Status(s))}&nbsp;{n}" for s, n in report.counts().items() if n
    ) or "<i>no findings</i>"

    def row(f: Finding) -> str:
        return (f"<tr><td>{_badge(f.status)}</td><td>{html.escape(f.title)}</td>"
                f"<td><code>{html.escape(f.id)}</code></td></tr>")

    ordered = report.summary()
    main = [f for f in ordered if f.status not in (Status.SKIP, Status.INFO)]
    rest = [f for f in ordered if f.status in (Status.SKIP, Status.INFO)]
    folded = ""
    if rest:
        skipped = sum(1 for f in rest if f.status is Status.SKIP)
        context = len(rest) - skipped
        label = ", ".join(x for x in (f"{skipped} not run" if skipped else "",
                                      f"{context} for context" if context else "") if x)
        folded = (f'<details class="rb-summary-rest"><summary>{label}</summary>'
                  '<table class="rb-summary-rest-table"><tbody>'
                  + "".join(row(f) for f in rest) + "</tbody></table></details>")
    return (
        f'<div class="rb-summary" data-status="{report.status.value}">'
        f"<h2>Findings summary: {html.escape(report.scenario)} {_badge(report.status)}</h2>"
        f"<p>{counts}</p>"
        '<table class="rb-summary-table"><thead><tr><th>status</th><th>finding</th><th>id</th></tr></thead>'
        f"<tbody>{''.join(row(f) for f in main)}</tbody></table>{folded}</div>"
    )
