"""Which runbooks to run next from what a log scan matched, most alarming evidence first."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from .signatures import AGGREGATES, SEVERITY_RANK

if TYPE_CHECKING:
    from .scan import LogScan


class Suggestion(NamedTuple):
    """A runbook to run next and the log evidence that points there."""

    scenario: str
    why: str


def suggested_scenarios(scan: LogScan) -> list[Suggestion]:
    """Runbooks to run next, most alarming evidence first, specific runbooks before ``triage`` at equal
    severity, then by number of lines (info-level and routine hits suggest nothing)."""
    best: dict[str, tuple[int, int, list[str]]] = {}

    def note(scenario: str, severity: str, count: int, why: str) -> None:
        rank, total, reasons = best.get(scenario, (-1, 0, []))
        reasons.append(why)
        best[scenario] = (max(rank, SEVERITY_RANK[severity]), total + count, reasons)

    for st in scan.matched:
        sev = st.effective_severity
        if sev == "info" or st.signature.scenario == "logs":
            continue
        extra = ""
        fields = st.field_summary()
        if fields:
            extra = " (" + "; ".join(f"{k} {v[0]}" for k, v in fields.items()) + ")"
        note(st.signature.scenario, sev, st.count, f"{st.signature.id}: {st.count} line(s){extra}")
    loops = scan.uploads.loops()
    if loops:
        agg = AGGREGATES[0]
        note(agg.scenario, agg.severity, sum(r.starts for r in loops),
             f"{agg.id}: {len(loops)} repositor{'y' if len(loops) == 1 else 'ies'}, e.g. {loops[0].repository}")
    # triage is where one starts without a specific lead: at equal severity a specific runbook comes first
    # (an IPv6 upstream refusal is also a refusal; 502s next to HTTP/2 errors towards GCS are the GCS case)
    ordered = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0] == "triage", -kv[1][1], kv[0]))
    return [Suggestion(sc, "; ".join(reasons)) for sc, (_, _, reasons) in ordered]
