"""Missing data in real files: fill short gaps (and say so), skip days with long gaps or no price.

Gaps up to `building.max_fill_hours` inside the data are interpolated linearly and counted per
day in `DayQuality.filled_steps` (in the run's steps; steps OPSD itself marked as interpolated
count too). A day that still misses energy data, or misses any hour of the day-ahead price, is
skipped with its reason: a missing price is never replaced by a made-up value.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ems_sweep.data.cycles import true_runs
from ems_sweep.data.model import PRICE, DayQuality


def fill_short_gaps(frame: pd.DataFrame, max_steps: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Interpolate interior runs of NaN up to max_steps long; also return which rows were filled."""
    out = frame.copy()
    filled = np.zeros(len(frame), dtype=bool)
    if max_steps <= 0:
        return out, filled
    for col in frame.columns:
        values = frame[col].to_numpy(dtype=float)
        missing = np.isnan(values)
        if not missing.any() or missing.all():
            continue
        short = np.zeros(len(values), dtype=bool)
        for s, e in true_runs(missing):
            if e - s <= max_steps and s > 0 and e < len(values):
                short[s:e] = True
        if short.any():
            known = ~missing
            x = np.arange(len(values))
            values = values.copy()
            values[short] = np.interp(x[short], x[known], values[known])
            out[col] = values
            filled |= short
    return out, filled


def _longest_run(mask: np.ndarray) -> int:
    return max((e - s for s, e in true_runs(mask)), default=0)


def day_quality(
    native: pd.DataFrame,
    filled: np.ndarray,
    days: list[dt.date],
    step_min: int,
    run_step_min: int,
    max_fill_hours: int,
) -> dict[dt.date, DayQuality]:
    """Quality record of each requested local day from the filled native-resolution frame."""
    local_dates = np.array(native.index.date)
    energy_cols = [c for c in native.columns if c != PRICE]
    result: dict[dt.date, DayQuality] = {}
    for day in days:
        rows = local_dates == day
        q = DayQuality(date=day, filled_steps=int(filled[rows].sum() * step_min // run_step_min))
        missing = native.loc[rows, energy_cols].isna().any(axis=1).to_numpy()
        if not rows.any() or missing.all():
            q.skipped, q.reason = True, "no data for this day in the file"
        elif missing.any():
            hours = missing.sum() * step_min / 60
            longest = _longest_run(missing) * step_min / 60
            q.skipped = True
            q.reason = (
                f"{hours:g} h of data missing (longest gap {longest:g} h > "
                f"building.max_fill_hours={max_fill_hours})"
            )
        elif PRICE not in native.columns:
            q.skipped, q.reason = True, "no day-ahead price column in the file"
        elif native.loc[rows, PRICE].isna().any():
            hours = native.loc[rows, PRICE].isna().sum() * step_min / 60
            q.skipped = True
            q.reason = f"day-ahead price missing for {hours:g} h"
        result[day] = q
    return result
