"""Tables made for reading: no index column, no "…" cuts, long values folded, empty cells blank."""

from __future__ import annotations

import math

import pandas as pd

from runbooklib.tables import FOLD_AT, render_table


def test_no_index_column_and_nan_shows_blank():
    page = render_table(pd.DataFrame({"scenario": ["triage", "logs"], "count": [3, math.nan]}))
    assert page.count("<th style") == 2 and "NaN" not in page and "nan" not in page
    assert "<td style=\"text-align:left;vertical-align:top;white-space:normal\"></td>" in page


def test_a_long_value_is_kept_whole_behind_a_fold_and_escaped():
    long = "token signed by untrusted key <script>" + "x" * FOLD_AT
    page = render_table(pd.DataFrame({"example": [long]}))
    assert "…</summary>" in page and "&lt;script&gt;" in page and "<script>" not in page
    assert "x" * FOLD_AT in page  # nothing cut


def test_a_named_index_becomes_a_column_and_numbers_read_with_separators():
    frame = pd.DataFrame({"bytes": [1234567]}, index=pd.Index(["group/app"], name="repository"))
    page = render_table(frame)
    assert "<th style=\"text-align:left\">repository</th>" in page and "1,234,567" in page and "group/app" in page
