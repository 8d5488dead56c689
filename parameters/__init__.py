"""Example parameter files, shipped inside the wheel as ``runbooklib.parameters`` (package data)."""
