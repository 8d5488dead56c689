"""One-line helpers for the logs notebook: tables, a timeline, failing requests, what to run next."""

from __future__ import annotations

from .scan import LogScan
from .signatures import AGGREGATES, SEVERITY_RANK
from .suggest import Suggestion, suggested_scenarios  # noqa: F401  (the notebook's one-line helpers)


def signature_table(scan: LogScan, include_unmatched: bool = False):
    """Signatures with their counts, first/last seen and extracted fields, worst first (a DataFrame)."""
    import pandas as pd

    rows = []
    stats = scan.matched if not include_unmatched else sorted(
        scan.stats.values(), key=lambda s: (-s.count, s.signature.id))
    for st in stats:
        sig = st.signature
        rows.append({
            "id": sig.id, "scenario": sig.scenario, "severity": st.effective_severity, "count": st.count,
            "first_seen": st.first_seen, "last_seen": st.last_seen,
            "fields": "; ".join(f"{k}={', '.join(v[:3])}" for k, v in st.field_summary().items()),
            "meaning": sig.meaning,
        })
    for loop in scan.uploads.loops():
        agg = AGGREGATES[0]
        rows.append({"id": agg.id, "scenario": agg.scenario, "severity": agg.severity, "count": loop.starts,
                     "first_seen": loop.first, "last_seen": loop.last,
                     "fields": f"repository={loop.repository}; completed={loop.completed}", "meaning": agg.meaning})
    frame = pd.DataFrame(rows, columns=["id", "scenario", "severity", "count", "first_seen", "last_seen", "fields",
                                       "meaning"])
    for col in ("first_seen", "last_seen"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def _bin(span_seconds: float) -> tuple[str, str]:
    """Per minute as asked; coarser when that would draw thousands of bars."""
    for freq, label, seconds in (("1min", "minute", 60), ("10min", "10 minutes", 600), ("1h", "hour", 3600),
                                 ("1D", "day", 86400)):
        if span_seconds / seconds <= 1500:
            return freq, label
    return "7D", "week"


def _per_minute(scan: LogScan):
    """Every matched line's minute by signature (``time``, ``sig``, ``n``), from the scan's counters."""
    import pandas as pd

    rows = [(minute, sid, n) for sid, st in scan.stats.items() for minute, n in st.minutes.items()]
    frame = pd.DataFrame(rows, columns=["time", "sig", "n"])
    frame["time"] = pd.to_datetime(frame["time"], utc=True)
    return frame


def timeline_counts(scan: LogScan, signatures: list[str] | None = None):
    """Lines per time bin (columns: signatures) and the bin's label; None when no timed line matched.

    From the events table while it holds every matched line; once lines were left out of it (an incident),
    from the per-minute counters the scan keeps for every line, so the timeline covers the whole log."""
    if scan.events_dropped and any(st.minutes for st in scan.stats.values()):
        lines = _per_minute(scan)
    else:
        events = scan.events
        events = events[events["time"].notna()] if len(events) else events
        if not len(events):
            return None
        lines = events.assign(sig=events["signatures"].str.split(","), n=1).explode("sig")
    if signatures:
        lines = lines[lines["sig"].isin(signatures)]
    info = {s.signature.id for s in scan.stats.values() if s.effective_severity == "info"}
    if not signatures:
        keep = ~lines["sig"].isin(info)
        if keep.any():  # routine lines would drown the failures; show them only when alone
            lines = lines[keep]
    if not len(lines):
        return None
    span = (lines["time"].max() - lines["time"].min()).total_seconds()
    freq, label = _bin(span)
    counts = lines.groupby([lines["time"].dt.floor(freq), "sig"])["n"].sum().unstack(fill_value=0)
    return counts, label


def plot_timeline(scan: LogScan, signatures: list[str] | None = None):
    """Events per minute by signature (a figure that renders as PNG; coarser bins for spans over a day)."""
    from ..figures import png_figure

    fig = png_figure(10, 3.6)
    ax = fig.add_subplot()
    found = timeline_counts(scan, signatures)
    if found is None:
        ax.text(0.5, 0.5, "no timestamped events matched", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    counts, label = found
    order = sorted(counts.columns, key=lambda s: (-SEVERITY_RANK[scan.stats[s].effective_severity]
                                                  if s in scan.stats else 0, -counts[s].sum()))
    for sig in order[:12]:
        ax.plot(counts.index, counts[sig], marker="o", markersize=3, linewidth=1.2, label=sig)
    ax.set_ylabel(f"lines per {label}")
    ax.set_title("Log signatures over time")
    ax.legend(loc="upper left", fontsize=8, ncols=2)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    return fig


def top_failing_requests(scan: LogScan, n: int = 10):
    """The n most frequent failing requests among matched events, by method, path and status."""
    import pandas as pd

    cols = ["method", "path", "status", "count", "first_seen", "last_seen", "signatures"]
    ev = scan.events
    if not len(ev):
        return pd.DataFrame(columns=cols)
    failing = ev[ev["uri"].notna() & ((ev["status"].fillna(0) >= 400) | ev["level"].isin(["error", "warning",
                                                                                          "fatal", "panic"]))]
    if not len(failing):
        return pd.DataFrame(columns=cols)
    failing = failing.assign(path=failing["uri"].str.split("?").str[0],
                             status=failing["status"].astype("object").where(failing["status"].notna(), "-"),
                             method=failing["method"].fillna("-"))
    grouped = failing.groupby(["method", "path", "status"], dropna=False).agg(
        count=("raw", "size"), first_seen=("time", "min"), last_seen=("time", "max"),
        signatures=("signatures", lambda s: ",".join(sorted(set(",".join(s).split(","))))),
    ).reset_index()
    return grouped.sort_values(["count", "last_seen"], ascending=[False, False]).head(n).reset_index(drop=True)[cols]


