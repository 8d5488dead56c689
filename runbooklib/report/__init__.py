"""Run notebooks with papermill and turn them into self-contained HTML reports."""
