"""A planning horizon: consecutive local days joined into one DayData.

The rolling-horizon optimizer plans today plus the next day(s) in one model and commits only
today. Series and prices are concatenated; each cycle keeps its own day (its step offsets are
shifted and `DayData.day_starts` tells the optimizer where each day begins, so no cycle is moved
across midnight); EV trips are the union of the days' trips (a trip over midnight is in both).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from ems_sweep.data.model import DayData


def horizon_day(days: list[DayData]) -> DayData:
    """One DayData spanning `days` (consecutive, same resolution); the first day names it."""
    if not days:
        raise ValueError("a horizon needs at least one day")
    if len(days) == 1:
        return days[0]
    for prev, nxt in zip(days, days[1:], strict=False):
        expected_next = prev.index[-1] + pd.Timedelta(hours=prev.dt_h)
        if nxt.dt_h != prev.dt_h or nxt.index[0] != expected_next:
            raise ValueError(f"horizon days {prev.date} and {nxt.date} are not consecutive")
    offsets = np.cumsum([0] + [d.n_steps for d in days[:-1]]).tolist()
    cycles = [
        dataclasses.replace(c, observed_start_step=c.observed_start_step + off)
        for d, off in zip(days, offsets, strict=True)
        for c in d.cycles
    ]
    trips = sorted({t for d in days for t in d.ev_trips}, key=lambda t: t.departure)
    return DayData(
        date=days[0].date,
        index=days[0].index.append([d.index for d in days[1:]]),
        dt_h=days[0].dt_h,
        fixed_load_kwh=np.concatenate([d.fixed_load_kwh for d in days]),
        pv_kwh=np.concatenate([d.pv_kwh for d in days]),
        day_ahead_eur_per_kwh=np.concatenate([d.day_ahead_eur_per_kwh for d in days]),
        cycles=cycles,
        ev_trips=trips,
        quality=days[0].quality,
        day_starts=tuple(int(o) for o in offsets),
    )


def day_tail(day: DayData, start: int) -> DayData:
    """The steps of a one-day DayData from `start` on (a re-plan during the day); its cycles
    are left out (a forecast day knows none; observed ones are placed by execution)."""
    if len(day.day_starts) > 1:
        raise ValueError("day_tail takes one local day, not a horizon")
    return dataclasses.replace(
        day,
        index=day.index[start:],
        fixed_load_kwh=np.asarray(day.fixed_load_kwh)[start:],
        pv_kwh=np.asarray(day.pv_kwh)[start:],
        day_ahead_eur_per_kwh=np.asarray(day.day_ahead_eur_per_kwh)[start:],
        cycles=[],
        metered_import_kwh=None,
        metered_export_kwh=None,
        metered_ev_kwh=None,
    )
