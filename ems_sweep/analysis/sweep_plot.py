"""The comparison figure of a sweep: one panel per pivoted metric, building (rows) x mode.

Grouped bars while the grid is small enough to read bar by bar; an annotated heatmap once there
are many rows (a 200-job sweep), where bars would turn into a comb.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ems_sweep.analysis.sweep_analysis import unit

MAX_BAR_ROWS = 12
# Values are written into the heatmap cells up to this many per panel; beyond, text rendering
# dominates compare's run time and report.md holds the numbers anyway.
MAX_ANNOTATED_CELLS = 120


def _axis_label(metric: str) -> str:
    u = unit(metric)
    return f"{metric} [{u}]" if u else metric


def _no_finished(table: pd.DataFrame, finished: pd.DataFrame | None) -> np.ndarray:
    """True where a cell has no finished job (drawn apart from n/a: finished, no value)."""
    if finished is None:
        return np.zeros(table.shape, dtype=bool)
    counts = finished.reindex(index=table.index, columns=table.columns).fillna(0)
    return counts.to_numpy() == 0


def _bars(ax, table: pd.DataFrame, metric: str, finished: pd.DataFrame | None = None) -> None:
    n_rows, n_modes = table.shape
    width = 0.8 / max(n_modes, 1)
    x = np.arange(n_rows)
    digits = _digits(table.to_numpy(dtype=float))
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    failed = _no_finished(table, finished)
    for i, mode in enumerate(table.columns):
        values = table[mode].to_numpy(dtype=float)
        pos = x - 0.4 + width * (i + 0.5)
        bars = ax.bar(pos, np.nan_to_num(values), width, label=str(mode), color=cmap(i % 10))
        for bar, value, none_ok in zip(bars, values, failed[:, i], strict=True):
            text = "failed" if none_ok else "n/a" if np.isnan(value) else f"{value:.{digits}f}"
            y = 0.0 if np.isnan(value) else value
            ax.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, y),
                xytext=(0, 2 if y >= 0 else -2),
                textcoords="offset points",
                ha="center",
                va="bottom" if y >= 0 else "top",
                fontsize=7,
            )
    ax.axhline(0, color="black", linewidth=0.6)
    labels = [str(r).replace(" | ", "\n") for r in table.index]
    rotate = n_rows > 6
    ax.set_xticks(x, labels, rotation=30 if rotate else 0, ha="right" if rotate else "center")
    ax.set_ylabel(_axis_label(metric))
    ax.margins(y=0.15)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(
        title="mode", fontsize=8, title_fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1)
    )


def _digits(data: np.ndarray) -> int:
    finite = data[np.isfinite(data)]
    return 2 if finite.size and np.abs(finite).max() < 10 else 1


def _heatmap_figure(
    tables: dict[str, pd.DataFrame], title: str, note: str, finished: pd.DataFrame | None
):
    """Side-by-side heatmaps sharing the row labels; laid out by hand in inches.

    A 200-job grid has ~60 rows: tight_layout would measure every label again (seconds of
    text layout), so the margins are computed from the label lengths instead.
    """
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    first = next(iter(tables.values()))
    n_rows, n_cols = first.shape
    label_w = 0.3 + 0.055 * max(len(str(r)) for r in first.index)
    panel_w, cbar_gap, cbar_w, gap = 0.85 * n_cols + 0.2, 0.12, 0.15, 1.0
    top, bottom, row_h = 1.7, 0.2, 0.18
    width = label_w + len(tables) * (panel_w + cbar_gap + cbar_w + gap)
    height = top + bottom + row_h * n_rows
    fig = plt.figure(figsize=(width, height))
    x = label_w
    for i, (metric, table) in enumerate(tables.items()):
        ax = fig.add_axes((x / width, bottom / height, panel_w / width, row_h * n_rows / height))
        cax = fig.add_axes(
            (
                (x + panel_w + cbar_gap) / width,
                bottom / height,
                cbar_w / width,
                0.6 * n_rows * row_h / height,
            )
        )
        data = table.to_numpy(dtype=float)
        finite = data[np.isfinite(data)]
        limit = float(np.abs(finite).max()) if finite.size else 1.0
        cmap = colormaps["RdYlGn"].with_extremes(bad="lightgrey")
        image = ax.imshow(data, aspect="auto", cmap=cmap, vmin=-limit, vmax=limit)
        failed = _no_finished(table, finished)
        for r, c in zip(*np.nonzero(failed), strict=True):
            ax.add_patch(
                Rectangle(
                    (c - 0.5, r - 0.5),
                    1,
                    1,
                    facecolor="dimgrey",
                    hatch="//",
                    edgecolor="white",
                    linewidth=0,
                )  # fmt: skip
            )
        ax.xaxis.tick_top()
        ax.set_xticks(range(n_cols), [str(c) for c in table.columns], rotation=30, ha="left")
        if i == 0:
            ax.set_yticks(range(n_rows), [str(r) for r in table.index], fontsize=7)
        else:
            ax.set_yticks([])
        if table.size <= MAX_ANNOTATED_CELLS:
            digits = _digits(data)
            for (r, c), value in np.ndenumerate(data):
                text = "n/a" if np.isnan(value) else f"{value:.{digits}f}"
                if failed[r, c]:
                    text = "failed"
                colour = "white" if failed[r, c] else "black"
                ax.text(c, r, text, ha="center", va="center", fontsize=6, color=colour)
        fig.colorbar(image, cax=cax, label=_axis_label(metric))
        ax.set_title(f"{_axis_label(metric)}{note}", fontsize=9, pad=8)
        x += panel_w + cbar_gap + cbar_w + gap
    fig.suptitle(
        f"{title}\nby building (rows) and mode (columns); light grey: n/a (finished, no "
        "value); dark hatched: no finished job",
        fontsize=10,
        y=1 - 0.1 / height,
        va="top",
    )
    return fig


def plot_comparison(
    tables: dict[str, pd.DataFrame],
    title: str,
    path: Path,
    cell_jobs: int = 1,
    finished: pd.DataFrame | None = None,
) -> Path:
    """Draw each metric's pivot (rows x modes) into one PNG; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows = max(len(t.index) for t in tables.values())
    if n_rows > MAX_BAR_ROWS:
        note = f"\n(mean of up to {cell_jobs} jobs per cell)" if cell_jobs > 1 else ""
        fig = _heatmap_figure(tables, title, note, finished)
    else:
        width = min(max(6.0, 1.1 * n_rows * max(len(t.columns) for t in tables.values())), 20)
        fig, axes = plt.subplots(len(tables), 1, figsize=(width, 3.6 * len(tables)), squeeze=False)
        for ax, (metric, table) in zip(axes.flat, tables.items(), strict=True):
            _bars(ax, table, metric, finished)
            note = f" (mean of up to {cell_jobs} jobs per bar)" if cell_jobs > 1 else ""
            ax.set_title(f"{_axis_label(metric)} by building and mode{note}", fontsize=10)
        fig.suptitle(title, fontsize=11)
        fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
