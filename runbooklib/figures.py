"""One kind of figure for every plot: it renders as PNG in JupyterLab, under papermill and in the HTML
report, whether or not pyplot (and its inline backend) was ever imported. A bare matplotlib Figure would
show as ``<Figure size 1000x360 with 1 Axes>`` instead of the picture."""

from __future__ import annotations

import io

from matplotlib.figure import Figure

DPI = 96


class PngFigure(Figure):
    """A matplotlib Figure with ``_repr_png_``: IPython displays the picture."""

    def _repr_png_(self) -> bytes:
        buf = io.BytesIO()
        self.savefig(buf, format="png", dpi=DPI)
        return buf.getvalue()

    def __repr__(self) -> str:  # a text-only front end gets words, not a Python object
        return f"<plot: {len(self.axes)} panel(s); open the report or notebook to see it>"


def png_figure(width: float, height: float) -> PngFigure:
    """A figure of ``width`` x ``height`` inches with a constrained layout."""
    return PngFigure(figsize=(width, height), layout="constrained")
