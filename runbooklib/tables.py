"""One table renderer for every DataFrame a runbook shows, in JupyterLab, under papermill and in the HTML
report: no index column, text wrapped instead of cut with "…", long values folded (click to see all),
empty cells blank instead of NaN. Session.start registers it with IPython, so checks keep returning plain
DataFrames (tests and callers use them as data) and every runbook displays them the same way."""

from __future__ import annotations

import html
import math
from typing import Any

FOLD_AT = 160  # characters: longer values show their start and fold the rest
MAX_ROWS = 500


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    try:
        import pandas as pd

        if value is pd.NaT or (not isinstance(value, (list, dict, tuple, str)) and pd.isna(value)):
            return ""
    except (TypeError, ValueError):
        pass
    if isinstance(value, float):
        text = f"{value:,.3f}".rstrip("0").rstrip(".") if not value.is_integer() else f"{int(value):,}"
    elif isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}"
    elif isinstance(value, (list, tuple)):
        text = ", ".join(str(v) for v in value)
    else:
        text = str(value)
    if len(text) <= FOLD_AT:
        return html.escape(text)
    return (f"<details><summary>{html.escape(text[:FOLD_AT - 40])}…</summary>"
            f'<div style="white-space:pre-wrap;word-break:break-word">{html.escape(text)}</div></details>')


def render_table(frame: Any) -> str:
    """HTML for a DataFrame (a named or non-trivial index becomes the first column)."""
    import pandas as pd

    df = frame
    if not isinstance(df.index, pd.RangeIndex) or any(n is not None for n in df.index.names):
        df = df.reset_index()
    if df.empty:
        return "<p><i>(no rows)</i></p>"
    shown = df.head(MAX_ROWS)
    head = "".join(f'<th style="text-align:left">{html.escape(str(c))}</th>' for c in shown.columns)
    body = "".join("<tr>" + "".join(f'<td style="text-align:left;vertical-align:top;white-space:normal">{_cell(v)}</td>'
                                    for v in row) + "</tr>" for row in shown.itertuples(index=False, name=None))
    more = f"<p><i>{len(df) - MAX_ROWS:,} more row(s) not shown</i></p>" if len(df) > MAX_ROWS else ""
    return (f'<table class="rb-table" style="border-collapse:collapse;font-size:13px"><thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table>{more}")


def register_table_renderer() -> bool:
    """Make IPython display every DataFrame with :func:`render_table`; False outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    if shell is None:
        return False
    import pandas as pd

    shell.display_formatter.formatters["text/html"].for_type(pd.DataFrame, render_table)
    return True
