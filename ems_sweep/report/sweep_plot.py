"""The comparison figure of a sweep: one panel per pivoted metric, building (rows) x mode.

Grouped bars while the grid is small enough to read bar by bar; an annotated heatmap once there
are many rows (a 200-job sweep), where bars would turn into a comb.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ems_sweep.report.sweep_analysis import unit

MAX_BAR_ROWS = 12


def _axis_label(metric: str) -> str:
    u = unit(metric)
    return f"{metric} [{u}]" if u else metric


def _bars(ax, table: pd.DataFrame, metric: str) -> None:
    n_rows, n_modes = table.shape
    width = 0.8 / max(n_modes, 1)
    x = np.arange(n_rows)
    finite = table.to_numpy(dtype=float)
    finite = finite[np.isfinite(finite)]
    digits = 2 if finite.size and np.abs(finite).max() < 10 else 1
    from matplotlib import colormaps

    cmap = colormaps["tab10"]
    for i, mode in enumerate(table.columns):
        values = table[mode].to_numpy(dtype=float)
        pos = x - 0.4 + width * (i + 0.5)
        bars = ax.bar(pos, np.nan_to_num(values), width, label=str(mode), color=cmap(i % 10))
        for bar, value in zip(bars, values, strict=True):
            text = "n/a" if np.isnan(value) else f"{value:.{digits}f}"
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


def _heatmap(ax, fig, table: pd.DataFrame, metric: str) -> None:
    data = table.to_numpy(dtype=float)
    finite = data[np.isfinite(data)]
    limit = float(np.abs(finite).max()) if finite.size else 1.0
    image = ax.imshow(data, aspect="auto", cmap="RdYlGn", vmin=-limit, vmax=limit)
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns])
    ax.set_yticks(range(table.shape[0]), [str(r) for r in table.index], fontsize=7)
    if table.size <= 400:
        for (r, c), value in np.ndenumerate(data):
            text = "n/a" if np.isnan(value) else f"{value:.1f}"
            ax.text(c, r, text, ha="center", va="center", fontsize=6)
    fig.colorbar(image, ax=ax, label=_axis_label(metric))


def plot_comparison(
    tables: dict[str, pd.DataFrame], title: str, path: Path, cell_jobs: int = 1
) -> Path:
    """Draw each metric's pivot (rows x modes) into one PNG; returns its path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows = max(len(t.index) for t in tables.values())
    heat = n_rows > MAX_BAR_ROWS
    if heat:
        width, height = 4.0 + 2.2 * len(tables) * 1.4, min(3 + 0.22 * n_rows, 40)
        fig, axes = plt.subplots(1, len(tables), figsize=(width, height), squeeze=False)
    else:
        width = min(max(6.0, 1.1 * n_rows * max(len(t.columns) for t in tables.values())), 20)
        fig, axes = plt.subplots(len(tables), 1, figsize=(width, 3.6 * len(tables)), squeeze=False)
    for ax, (metric, table) in zip(axes.flat, tables.items(), strict=True):
        if heat:
            _heatmap(ax, fig, table, metric)
        else:
            _bars(ax, table, metric)
        note = f" (mean of up to {cell_jobs} jobs per bar)" if cell_jobs > 1 else ""
        ax.set_title(f"{_axis_label(metric)} by building and mode{note}", fontsize=10)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
