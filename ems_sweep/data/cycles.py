"""Appliance cycles in metered device data: runs above the device's threshold, as programmes.

A programme is not always one unbroken run above the threshold: a washing machine soaking or a
dishwasher drying draws almost nothing for a while, and a meter reading of a few Wh between two
runs of the same device is standby, not a programme. Detection therefore
  1. finds the runs of steps drawing more than `threshold_kw` on average,
  2. merges runs separated by a pause of at most `max_pause_hours` (one programme with a pause;
     the pause's own consumption becomes part of the cycle), and
  3. drops merged runs of less than `min_cycle_kwh` in total (standby blips).

Defaults (building config, see ems_sweep/config.py) are chosen from the hourly CoSSMic data of
residential1 and residential4 (whole files, threshold 0.05 kW, counted with `runs_above` below):
  - pauses between runs of one device, hours 1, 2, 3, 4, >8:
    washing machine 59/6, 25/7, 15/4, 11/1, 284/162 (res1/res4), dishwasher 0/0, 2/0, 3/1,
    4/1, 296/200. One-hour pauses are programme phases (res1's washing machine shows the same
    0.47 kWh run, a 0.033 kWh hour, then 1.55 kWh again and again); from two hours on both sides
    are usually full loads (0.4-1.1 kWh each), i.e. two programmes: max_pause_hours = 1.
  - run energies, kWh <0.1, 0.1-0.2, 0.2-0.3, 0.3-0.5, 0.5-1: washing machine 7/4, 14/1, 26/3,
    94/8, 167/137; dishwasher 1/0, 1/0, 7/28, 12/19, 241/157. The smallest real programme is
    res4's dishwasher eco run at ~0.23 kWh; below 0.1 kWh are single-hour standby blips:
    min_cycle_kwh = 0.1.
The built-in generator keeps runs of one machine further apart than that (builtin.MIN_GAP_MIN),
so its cycles are detected as generated at 15 and 60 min.
"""

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


def merge_pauses(
    runs: list[tuple[int, int]], values: np.ndarray, max_pause_steps: int
) -> list[tuple[int, int]]:
    """Runs joined where the pause between them is at most max_pause_steps measured steps.

    A pause with a missing value (NaN) is not merged: what was not measured is not a programme.
    """
    out: list[tuple[int, int]] = []
    for s, e in runs:
        if out:
            prev_s, prev_e = out[-1]
            pause = values[prev_e:s]
            if s - prev_e <= max_pause_steps and not np.isnan(pause).any():
                out[-1] = (prev_s, e)
                continue
        out.append((s, e))
    return out


def cycle_runs(
    values: np.ndarray, threshold_kwh: float, max_pause_steps: int, min_cycle_kwh: float
) -> list[tuple[int, int]]:
    """(start, end) of the programmes in one device's series (see module docstring)."""
    merged = merge_pauses(runs_above(values, threshold_kwh), values, max_pause_steps)
    return [(s, e) for s, e in merged if np.nansum(values[s:e]) >= min_cycle_kwh]


def detect_cycles(
    series: pd.Series,
    device: str,
    threshold_kw: float,
    dt_h: float,
    max_pause_hours: float = 0.0,
    min_cycle_kwh: float = 0.0,
) -> list[Cycle]:
    """Cycles of one device: runs above threshold_kw, short pauses merged, blips dropped."""
    values = series.to_numpy(dtype=float)
    max_pause_steps = int(np.floor(max_pause_hours / dt_h + 1e-9))
    return [
        Cycle(device=device, start=series.index[s], profile_kwh=values[s:e].copy())
        for s, e in cycle_runs(values, threshold_kw * dt_h, max_pause_steps, min_cycle_kwh)
    ]
