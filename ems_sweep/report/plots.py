"""Per-job plots: day schedules, daily costs, learned start distributions, JS learning curve.

Figures are built with `matplotlib.figure.Figure` (no pyplot state, Agg canvas): nothing stays
open between figures and no display is needed, which keeps parallel sweep workers lean.
Energies are drawn as average power (kW = kWh per step / dt_h) so 15- and 60-min runs compare.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ems_sweep.optimize import schedule as S

DPI = 80
LOAD_COLORS = ["#8c8c8c", "#1f77b4", "#9467bd", "#17becf", "#e377c2", "#bcbd22"]


def _stairs_stack(ax, edges: np.ndarray, layers: list[tuple[str, np.ndarray, str]]) -> None:
    bottom = np.zeros(len(edges) - 1)
    for label, values, color in layers:
        if not np.any(values > 1e-9):
            continue
        top = bottom + values
        ax.stairs(top, edges, baseline=bottom, fill=True, color=color, alpha=0.75, label=label)
        bottom = top


def _flows_panel(ax, table: pd.DataFrame, dt_h: float, devices: Sequence[str], title: str):
    n = len(table)
    edges = np.arange(n + 1) * dt_h
    kw = {c: table[c].to_numpy(float) / dt_h for c in table.columns if c.endswith("_kwh")}
    zero = np.zeros(n)
    layers = [("fixed load", kw.get(S.FIXED_LOAD, zero), LOAD_COLORS[0])]
    for i, device in enumerate(devices):
        col = S.appliance_column(device)
        color = LOAD_COLORS[1 + i % (len(LOAD_COLORS) - 1)]
        layers.append((device.replace("_", " "), kw.get(col, zero), color))
    layers.append(("EV charging", kw.get(S.EV_CHARGE, zero), "#2ca02c"))
    layers.append(("battery charging", kw.get(S.BATTERY_CHARGE, zero), "#ff7f0e"))
    _stairs_stack(ax, edges, layers)
    pv = kw.get(S.PV, zero) - kw.get(S.PV_CURTAILED, zero)
    if np.any(pv > 0):
        ax.stairs(pv, edges, color="goldenrod", linewidth=2, label="PV used")
    ax.stairs(kw.get(S.IMPORT, zero), edges, color="red", linewidth=1.5, label="grid import")
    export = kw.get(S.EXPORT, zero)
    if np.any(export > 0):
        ax.stairs(-export, edges, color="green", linewidth=1.5, label="grid export (neg.)")
    discharge = kw.get(S.BATTERY_DISCHARGE, zero)
    if np.any(discharge > 0):
        ax.stairs(-discharge, edges, color="#ff7f0e", linestyle="--", label="battery discharge")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_ylabel("power (kW)")
    cost = float(table[S.COST].sum()) if S.COST in table else float("nan")
    ax.set_title(f"{title}: cost {cost:.2f} EUR")


def schedule_plot(
    path: Path,
    date: str,
    dt_h: float,
    tables: Mapping[str, pd.DataFrame],
    subtitle: str = "",
) -> Path:
    """One day: flows of each schedule table (baseline first) and their stored energies below.

    Tables are schedules.csv's per-day slices (schedule-table columns, plus `battery_start_kwh`
    and `ev_start_kwh`, the energy stored at the day's first step start).
    """
    shown = {k: t for k, t in tables.items() if t is not None and not t.empty}
    devices = sorted(
        {
            c[len("appliance_") : -len("_kwh")]
            for t in shown.values()
            for c in t.columns
            if c.startswith("appliance_") and c.endswith("_kwh")
        }
    )
    fig = Figure(figsize=(12, 2.8 * (len(shown) + 1)), dpi=DPI)
    axes = fig.subplots(len(shown) + 1, 1, sharex=True)
    handles: dict[str, object] = {}
    for ax, (kind, table) in zip(axes, shown.items(), strict=False):
        _flows_panel(ax, table, dt_h, devices, kind)
        for h, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, h)
    store = axes[-1]
    first = next(iter(shown.values()), None)
    handles.update(_price_line(store, first, dt_h))
    _storage_lines(store, shown, dt_h)
    for h, label in zip(*store.get_legend_handles_labels(), strict=True):
        handles[label] = h
    store.set_xlim(0, len(first) * dt_h if first is not None else 24)
    store.set_xticks(np.arange(0, 25, 3))
    fig.legend(list(handles.values()), list(handles), loc="center right", fontsize=8)
    fig.suptitle(f"Schedule {date} {subtitle}".strip(), y=0.985)
    fig.subplots_adjust(left=0.07, right=0.8, top=0.9, bottom=0.07, hspace=0.4)
    fig.savefig(path)
    return path


def _price_line(ax: Axes, table: pd.DataFrame | None, dt_h: float) -> dict[str, object]:
    """The import price on a twin axis of `ax`; its legend handle (none without a price).

    The import price is the tariff's, the same for every schedule: drawn once, under them."""
    if table is None or S.IMPORT_PRICE not in table:
        return {}
    price = table[S.IMPORT_PRICE].to_numpy(float)
    price_ax = ax.twinx()
    edges = np.arange(len(price) + 1) * dt_h
    price_ax.stairs(price, edges, color="black", linestyle=":", label="import price")
    price_ax.set_ylabel("import price (EUR/kWh)")
    spread = max(float(price.max() - price.min()), 0.01)
    price_ax.set_ylim(price.min() - 0.1 * spread, price.max() + 0.6 * spread)
    return {"import price (lower panel)": price_ax.get_legend_handles_labels()[0][0]}


def _storage_lines(ax: Axes, tables: Mapping[str, pd.DataFrame], dt_h: float) -> None:
    """Battery and EV stored energy of each schedule, from the day's start state (step edges)."""
    styles = ["--", "-", "-."]
    for i, (kind, t) in enumerate(tables.items()):
        x = np.arange(len(t) + 1) * dt_h
        for col, start_col, name, color in (
            (S.BATTERY_ENERGY, "battery_start_kwh", "battery", "#ff7f0e"),
            (S.EV_ENERGY, "ev_start_kwh", "EV", "#2ca02c"),
        ):
            if col not in t or not np.any(t[col].to_numpy() > 0):
                continue
            start = float(t[start_col].iloc[0]) if start_col in t else np.nan
            y = np.concatenate([[start], t[col].to_numpy(float)])
            ax.plot(x, y, linestyle=styles[i % 3], color=color, label=f"{name} energy, {kind}")
    ax.set_ylabel("stored energy (kWh)")
    ax.set_xlabel("hour of the day (local time)")
    ax.set_title("Battery and EV stored energy, import price")


def daily_cost_plot(path: Path, daily: pd.DataFrame, title: str) -> Path:
    """Bars of baseline vs optimized cost per day; failed days marked."""
    n = len(daily)
    fig = Figure(figsize=(min(14, max(7, 0.45 * n + 3)), 4.2), dpi=DPI)
    ax = fig.subplots()
    x = np.arange(n)
    series = [("baseline", "baseline_cost_eur", "#8c8c8c")]
    if "no_prefs_cost_eur" in daily:
        series.append(("optimized, no preferences", "no_prefs_cost_eur", "#aec7e8"))
    series.append(("optimized", "optimized_cost_eur", "#1f77b4"))
    width = 0.8 / len(series)
    for i, (label, col, color) in enumerate(series):
        if col in daily:
            ax.bar(
                x + (i - (len(series) - 1) / 2) * width, daily[col], width, label=label, color=color
            )
    for i, status in enumerate(daily["status"]):
        if status != "ok":
            ax.annotate(
                status, (i, 0), ha="center", va="bottom", color="red", fontsize=8, rotation=90
            )
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xticks(x, [d[5:] for d in daily["date"]], rotation=60, fontsize=8)
    ax.set_ylabel("cost (EUR per day)")
    ax.set_xlabel("day (MM-DD)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.subplots_adjust(left=0.1, right=0.97, top=0.9, bottom=0.22)
    fig.savefig(path)
    return path


def preferences_plot(path: Path, prefs: pd.DataFrame, threshold: float) -> Path:
    """Per device: learned start-hour probability vs prior, threshold of rarely used hours."""
    devices = list(dict.fromkeys(prefs["device"]))
    fig = Figure(figsize=(10, 2.8 * max(1, len(devices))), dpi=DPI)
    axes = np.atleast_1d(fig.subplots(max(1, len(devices)), 1, sharex=True))
    for ax, device in zip(axes, devices, strict=False):
        d = prefs[prefs["device"] == device]
        ax.bar(d["hour"], d["posterior"], color="#1f77b4", label="posterior (learned)")
        ax.step(d["hour"], d["prior"], where="mid", color="black", linestyle="--", label="prior")
        ax.axhline(threshold, color="red", linestyle=":", label=f"threshold {threshold:g}")
        n = int(d["observed_starts"].sum())
        ax.set_title(f"{device.replace('_', ' ')}: start-hour distribution ({n} observed starts)")
        ax.set_ylabel("probability")
        ax.legend(fontsize=8, loc="upper left")
    axes[-1].set_xlabel("start hour (local time)")
    axes[-1].set_xticks(range(0, 24, 2))
    fig.subplots_adjust(left=0.08, right=0.97, top=0.93, bottom=0.1, hspace=0.35)
    fig.savefig(path)
    return path


def learning_curve_plot(path: Path, curve: pd.DataFrame, threshold: float) -> Path:
    """JS divergence between consecutive posteriors (the learning curve) and to the prior."""
    fig = Figure(figsize=(10, 6), dpi=DPI)
    ax_step, ax_prior = fig.subplots(2, 1, sharex=True)
    for device, d in curve.groupby("device", sort=False):
        upd = d[d["new_observations"] > 0]
        line = ax_step.plot(
            upd["day_index"],
            upd["js_step"].clip(lower=1e-6),
            marker="o",
            label=device.replace("_", " "),
        )[0]
        ax_prior.plot(
            d["day_index"],
            d["js_prior"],
            color=line.get_color(),
            marker=".",
            label=device.replace("_", " "),
        )
    ax_step.axhline(threshold, color="red", linestyle=":", label=f"threshold {threshold:g}")
    ax_step.set_yscale("log")
    ax_step.set_ylabel("JS(day, previous day) (bits)")
    ax_step.set_title("Learning curve: change of the posterior on days with observed starts")
    ax_step.legend(fontsize=8)
    ax_prior.set_ylabel("JS(posterior, prior) (bits)")
    ax_prior.set_xlabel("training day")
    ax_prior.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax_prior.set_title("Distance of the learned distribution from the prior")
    fig.subplots_adjust(left=0.1, right=0.97, top=0.94, bottom=0.09, hspace=0.3)
    fig.savefig(path)
    return path
