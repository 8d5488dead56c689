"""registry runbooks: diagnose a GitLab container registry from Jupyter, papermill or the `runbook` CLI."""

__version__ = "0.1.0"
