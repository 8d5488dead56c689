"""One base for every error runbooklib raises on purpose, so callers (the CLI, a notebook, automation) can tell
"the input or the environment is wrong, here is the one-line reason" from a bug with one ``except``.

Each concrete error also keeps the built-in base it always had (``ValueError``, ``OSError``...), so existing
``except ValueError`` handlers keep working.
"""

from __future__ import annotations

DEFAULT_TIMEOUT_S = 10.0  # seconds per network call unless the parameters say otherwise (`timeout_s`)


class RunbookError(Exception):
    """A clear, one-line failure of input or environment (never a bug)."""
