"""The scenario notebooks, shipped inside the wheel as ``runbooklib.notebooks`` (package data)."""
