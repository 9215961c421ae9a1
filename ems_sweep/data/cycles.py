"""Appliance cycles in metered device data: contiguous runs above the device's threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ems_sweep.data.model import Cycle


def runs_above(values: np.ndarray, threshold_kwh: float) -> list[tuple[int, int]]:
    """(start, end) positions, end exclusive, of contiguous runs with values > threshold.

    Missing values (NaN) break a run: a cycle is only what was actually measured.
    """
    return true_runs(np.nan_to_num(values, nan=0.0) > threshold_kwh)


def true_runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) positions, end exclusive, of contiguous runs of True."""
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def detect_cycles(series: pd.Series, device: str, threshold_kw: float, dt_h: float) -> list[Cycle]:
    """Cycles of one device: each run of steps drawing more than threshold_kw on average."""
    values = series.to_numpy(dtype=float)
    return [
        Cycle(device=device, start=series.index[s], profile_kwh=values[s:e].copy())
        for s, e in runs_above(values, threshold_kw * dt_h)
    ]
