"""Plots of a bucket's metrics: blob sizes, bytes by repository, upload ages (each a PngFigure)."""

from __future__ import annotations

from ..figures import png_figure
from .metrics import STALE_UPLOAD_S, BucketMetrics, _human, top_repositories

def plot_blob_sizes(m: BucketMetrics):
    """Histogram of blob sizes on a log scale: one bar per octave (a doubling of size), the same bars
    whether the sizes were listed or aggregated by a query engine."""
    fig = png_figure(8, 3.2)
    ax = fig.subplots()
    octaves = {o: v for o, v in m.size_octaves().items() if o >= 0}
    if octaves:
        edges = [2.0 ** o for o in octaves]
        ax.bar(edges, [n for n, _ in octaves.values()], width=edges, align="edge", color="#4878a8",
               edgecolor="white", linewidth=0.5)
        ax.set_xscale("log", base=2)
    ax.set_xlabel("blob size (bytes)")
    ax.set_ylabel("blobs")
    ax.set_title(f"{sum(n for n, _ in octaves.values())} blobs, {_human(sum(b for _, b in octaves.values()))}")
    return fig


def plot_bytes_by_repository(m: BucketMetrics, top_n: int = 20):
    """Bytes referenced by each of the top-N repositories' layer links."""
    table = top_repositories(m, top_n)
    fig = png_figure(8, max(2.0, 0.28 * len(table) + 1))
    ax = fig.subplots()
    if len(table):
        ax.barh(table["repository"][::-1], table["referenced_bytes"][::-1] / 2 ** 20, color="#6a9a58")
    ax.set_xlabel("MiB referenced by layer links")
    ax.set_title(f"Top {len(table)} repositories by referenced bytes")
    ax.tick_params(axis="y", labelsize=8)
    return fig


def plot_upload_ages(m: BucketMetrics):
    """Ages of the upload sessions left in _uploads/ (hours)."""
    fig = png_figure(8, 3.0)
    ax = fig.subplots()
    ages = [a / 3600 for a in (u.age_s(m.measured_at) for u in m.repos.uploads.values()) if a is not None]
    if ages:
        ax.hist(ages, bins=min(30, max(5, len(ages))), color="#b8860b")
    ax.axvline(STALE_UPLOAD_S / 3600, color="#cf222e", linestyle="--", label="stale (24 h)")
    ax.set_xlabel("age (hours)")
    ax.set_ylabel("upload sessions")
    ax.set_title(f"{len(ages)} upload sessions in _uploads/")
    ax.legend(loc="upper right")
    return fig
