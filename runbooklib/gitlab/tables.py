"""DataFrames that show every character of their reasons: the `reason` column is the point of a replay table."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd


class Table(pd.DataFrame):
    """A DataFrame whose notebook rendering keeps long text whole, hides the index and leaves blanks blank.
    Cells are HTML-escaped (tag and path names come from the network)."""

    @property
    def _constructor(self):  # operations on a Table give a Table
        return Table

    def _repr_html_(self) -> str:
        with pd.option_context("display.max_colwidth", None):
            return self.to_html(index=False, na_rep="", escape=True, border=0, classes="dataframe rb-table")


def table(rows: list[dict[str, Any]], columns: list[str]) -> Table:
    return Table(rows, columns=columns)


def when(value: dt.datetime | None) -> str:
    """A time short enough for a table column: ``2026-11-25 17:45:22Z``; '' when unknown."""
    if value is None:
        return ""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")
