"""One local day of BuildingData as the plain arrays a day's optimization needs.

A cycle belongs to the day it started. When it runs past midnight, the day's optimization still
has to place its whole profile inside the day, so its observed start is pulled back until it
fits (`DayCycle.clipped`), and so is any earlier cycle of the same device it would then overlap
(one machine runs one programme at a time). Its tail was consumed on the next day, where it is
not part of the fixed load either, so over the two days the energy is counted exactly once; the
baseline of the start day then holds the whole cycle and the next day's baseline lacks the tail.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from ems_sweep.data.assemble import day_bounds
from ems_sweep.data.model import (
    FIXED_LOAD,
    OBSERVED_EV,
    OBSERVED_EXPORT,
    OBSERVED_IMPORT,
    PRICE,
    PV,
    BuildingData,
    DayCycle,
    DayData,
    DayQuality,
)


class DayNotAvailableError(KeyError):
    """The requested day is outside the data or was skipped for a data-quality reason."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def cycle_id(device: str, start: pd.Timestamp) -> str:
    return f"{device}@{start.strftime('%Y-%m-%dT%H:%M')}"


def _one_programme_at_a_time(cycles: list[DayCycle], n: int) -> list[DayCycle]:
    """Cycles pulled back (latest first) where a clipped successor of the device overlaps them."""
    out = list(cycles)
    free_from: dict[str, int] = {}  # device -> first step taken by its later cycles
    for i in sorted(range(len(out)), key=lambda i: out[i].observed_start_step, reverse=True):
        c = out[i]
        limit = free_from.get(c.device, n)
        if c.observed_start_step + len(c.profile_kwh) > limit:
            start = limit - len(c.profile_kwh)
            if start < 0:
                raise ValueError(f"{c.device}: its cycles need more than the day's {n} steps")
            out[i] = DayCycle(c.cycle_id, c.device, start, c.profile_kwh, clipped=True)
        free_from[c.device] = out[i].observed_start_step
    return out


def slice_day(data: BuildingData, date: dt.date) -> DayData:
    """The day's fixed load, PV, price, cycles (step offsets) and EV trips."""
    quality = next((q for q in data.quality if q.date == date), None)
    if quality is not None and quality.skipped:
        raise DayNotAvailableError(f"day {date} of {data.building} was skipped: {quality.reason}")
    lo, hi = day_bounds(date, 1, data.timezone)
    index = data.frame.index
    a, b = int(np.searchsorted(index, lo)), int(np.searchsorted(index, hi))
    if a == b:
        first, last = (index[0].date(), index[-1].date()) if len(index) else (None, None)
        raise DayNotAvailableError(
            f"day {date} is not in the data of {data.building} (days {first} .. {last})"
        )
    day_frame = data.frame.iloc[a:b]
    day_index = day_frame.index
    n = len(day_index)

    cycles: list[DayCycle] = []
    for c in data.cycles:
        if not lo <= c.start < hi:
            continue
        profile = np.asarray(c.profile_kwh, dtype=float)
        if len(profile) > n:
            raise ValueError(
                f"cycle {cycle_id(c.device, c.start)} is longer than a day ({n} steps)"
            )
        step = int(np.searchsorted(day_index, c.start))
        clipped = step + len(profile) > n
        cycles.append(
            DayCycle(
                cycle_id=cycle_id(c.device, c.start),
                device=c.device,
                observed_start_step=n - len(profile) if clipped else step,
                profile_kwh=profile,
                clipped=clipped,
            )
        )
    cycles = _one_programme_at_a_time(cycles, n)
    trips = [t for t in data.ev_trips if lo <= t.departure < hi or lo <= t.arrival < hi]

    def metered(col: str) -> np.ndarray | None:
        return day_frame[col].to_numpy(dtype=float) if col in day_frame else None

    return DayData(
        date=date,
        index=day_index,
        dt_h=data.dt_h,
        fixed_load_kwh=day_frame[FIXED_LOAD].to_numpy(dtype=float),
        pv_kwh=day_frame[PV].to_numpy(dtype=float),
        day_ahead_eur_per_kwh=day_frame[PRICE].to_numpy(dtype=float),
        cycles=cycles,
        ev_trips=trips,
        quality=quality if quality is not None else DayQuality(date=date),
        metered_import_kwh=metered(OBSERVED_IMPORT),
        metered_export_kwh=metered(OBSERVED_EXPORT),
        metered_ev_kwh=metered(OBSERVED_EV),
    )
