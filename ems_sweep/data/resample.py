"""Change the time step of a data frame: energies split (60 -> 15 min) or sum (15 -> 60 min).

Works on whole-hour-aligned frames with a tz-aware index, so DST days keep their 23 or 25 hours.
Missing values stay missing: an hour with a missing quarter is missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ems_sweep.data.model import PRICE

INTENSIVE = (PRICE,)  # columns that are rates, not energies: repeated or averaged, never split


def resample(frame: pd.DataFrame, from_min: int, to_min: int) -> pd.DataFrame:
    """The frame at to_min resolution (from_min and to_min are 15 or 60)."""
    if from_min == to_min:
        return frame
    if from_min == 60 and to_min == 15:
        index = (
            pd.DatetimeIndex(
                np.repeat(frame.index.asi8, 4) + np.tile(np.arange(4) * 15 * 60 * 10**9, len(frame))
            )
            .tz_localize("UTC")
            .tz_convert(frame.index.tz)
        )
        data = {
            c: np.repeat(frame[c].to_numpy(dtype=float), 4) / (1 if c in INTENSIVE else 4)
            for c in frame.columns
        }
        return pd.DataFrame(data, index=index)
    if from_min == 15 and to_min == 60:
        if len(frame) % 4 or (frame.index[0].minute != 0):
            raise ValueError("15 -> 60 min needs whole hours starting at a full hour")
        data = {}
        for c in frame.columns:
            v = frame[c].to_numpy(dtype=float).reshape(-1, 4)
            data[c] = v.mean(axis=1) if c in INTENSIVE else v.sum(axis=1)
        return pd.DataFrame(data, index=frame.index[::4])
    raise ValueError(f"resolution change {from_min} -> {to_min} min; allowed: 15 <-> 60")
