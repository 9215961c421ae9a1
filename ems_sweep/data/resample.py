"""Change the time step of a data frame: energies split (coarse -> fine) or sum (fine -> coarse).

Works on frames whose index is a regular grid aligned to whole hours (tz-aware), so DST days keep
their 23 or 25 hours. Missing values stay missing: a coarse step with a missing part is missing.
Prices are rates, not energies: they are repeated or averaged, never split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ems_sweep.data.model import PRICE

INTENSIVE = (PRICE,)


def resample(frame: pd.DataFrame, from_min: int, to_min: int) -> pd.DataFrame:
    """The frame at to_min resolution; one of from_min and to_min must divide the other."""
    if from_min == to_min:
        return frame
    if from_min % to_min == 0:
        k = from_min // to_min
        offsets = np.tile(np.arange(k) * to_min * 60 * 10**9, len(frame))
        utc = pd.DatetimeIndex(np.repeat(frame.index.asi8, k) + offsets).tz_localize("UTC")
        data = {
            c: np.repeat(frame[c].to_numpy(dtype=float), k) / (1 if c in INTENSIVE else k)
            for c in frame.columns
        }
        return pd.DataFrame(data, index=utc.tz_convert(frame.index.tz))
    if to_min % from_min == 0:
        k = to_min // from_min
        first = frame.index[0]
        if len(frame) % k or (first.minute * 60 + first.second) % (to_min * 60):
            raise ValueError(f"{from_min} -> {to_min} min needs whole {to_min}-min steps")
        data = {}
        for c in frame.columns:
            v = frame[c].to_numpy(dtype=float).reshape(-1, k)
            data[c] = v.mean(axis=1) if c in INTENSIVE else v.sum(axis=1)
        return pd.DataFrame(data, index=frame.index[::k])
    raise ValueError(f"resolution change {from_min} -> {to_min} min: neither divides the other")
