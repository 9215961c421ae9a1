"""From a source's series to BuildingData: cycles, fixed load, requested window, quality.

Every source (built-in generator, tidy file, OPSD file) delivers the same intermediate frame at
the run's resolution over an *extended* window (one day before and after the requested days):
total consumption, the shiftable devices' metered energy, PV, price and optional observed
import/export/EV columns. Cycles are detected over the extended window so that a run crossing a
window edge is seen whole; only those that start inside the requested days are kept (a cycle
belongs to the day it started). The fixed load is what remains of the consumption once the kept
cycles and the EV charging (when the job models the EV) are taken out, so that the baseline
(cycles at their observed times) reproduces the observed consumption. The tail of a cycle started
the day before the window stays in the fixed load of the first day, where it was consumed.
"""

from __future__ import annotations

import datetime as dt
import logging

import numpy as np
import pandas as pd

from ems_sweep.data.builtin import CONSUMPTION
from ems_sweep.data.cycles import detect_cycles
from ems_sweep.data.errors import DataError
from ems_sweep.data.model import (
    FIXED_LOAD,
    OBSERVED_EV,
    OBSERVED_EXPORT,
    OBSERVED_IMPORT,
    PRICE,
    PV,
    BuildingData,
    Cycle,
    DayQuality,
    EVTrip,
    device_column,
)

log = logging.getLogger(__name__)

OPTIONAL = (OBSERVED_IMPORT, OBSERVED_EXPORT, OBSERVED_EV)
MAX_CYCLE_HOURS = 12  # longer "runs" are continuous loads (heat pump, freezer), not cycles


def day_bounds(start: dt.date, n_days: int, tz: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Local midnight of the first day and of the day after the last."""
    return pd.Timestamp(start, tz=tz), pd.Timestamp(start + dt.timedelta(days=n_days), tz=tz)


def assemble(
    *,
    building: str,
    timezone: str,
    dt_h: float,
    ext: pd.DataFrame,
    shiftable: list[str],
    threshold_kw: float,
    max_pause_hours: float,
    min_cycle_kwh: float,
    start: dt.date,
    n_days: int,
    quality: dict[dt.date, DayQuality],
    ev_trips: list[EVTrip],
    ev_charging_kwh: np.ndarray | None = None,
) -> BuildingData:
    """BuildingData for the requested days from the extended-window frame `ext`.

    ev_charging_kwh: the metered EV charging the job's EV model takes over (its sessions), taken
    out of the fixed load. None (no EV model, ev.enabled=false): metered charging stays in the
    fixed load as it happened, so the baseline still reproduces the meters."""
    lo, hi = day_bounds(start, n_days, timezone)
    cycles: list[Cycle] = []
    for device in shiftable:
        found = detect_cycles(
            ext[device_column(device)], device, threshold_kw, dt_h, max_pause_hours, min_cycle_kwh
        )
        too_long = [c for c in found if len(c.profile_kwh) * dt_h > MAX_CYCLE_HOURS]
        if too_long:
            c = too_long[0]
            raise DataError(
                f"building.shiftable lists {device!r}, but it ran {len(c.profile_kwh) * dt_h:g} h "
                f"without a break from {c.start} (above building.cycle_threshold_kw="
                f"{threshold_kw}); a shiftable appliance run lasts at most {MAX_CYCLE_HOURS} h: "
                "list the device under building.fixed or raise the threshold"
            )
        cycles += [c for c in found if lo <= c.start < hi]
    cycles.sort(key=lambda c: (c.start, c.device))

    in_cycles = np.zeros(len(ext))
    for c in cycles:
        pos = int(np.searchsorted(ext.index, c.start))
        in_cycles[pos : pos + len(c.profile_kwh)] += c.profile_kwh[: len(ext) - pos]
    ev = np.zeros(len(ext)) if ev_charging_kwh is None else ev_charging_kwh
    fixed = ext[CONSUMPTION].to_numpy(dtype=float) - in_cycles - np.nan_to_num(ev)
    negative = np.nansum(np.minimum(fixed, 0.0))
    if negative < -1e-6:
        log.info(
            "%s: consumption below submetered devices by %.3f kWh; clipped", building, -negative
        )
    fixed = np.where(np.isnan(fixed), np.nan, np.maximum(fixed, 0.0))

    columns = {FIXED_LOAD: fixed, PV: ext[PV].to_numpy(dtype=float)}
    columns[PRICE] = ext[PRICE].to_numpy(dtype=float)
    for device in shiftable:
        columns[device_column(device)] = ext[device_column(device)].to_numpy(dtype=float)
    for col in OPTIONAL:
        if col in ext:
            columns[col] = ext[col].to_numpy(dtype=float)
    full = pd.DataFrame(columns, index=ext.index)
    frame = full[(full.index >= lo) & (full.index < hi)]

    days = [start + dt.timedelta(days=k) for k in range(n_days)]
    trips = [t for t in ev_trips if lo <= t.departure < hi or lo <= t.arrival < hi]
    return BuildingData(
        building=building,
        timezone=timezone,
        dt_h=dt_h,
        frame=frame,
        cycles=cycles,
        ev_trips=trips,
        quality=[quality.get(d, DayQuality(date=d)) for d in days],
        shiftable_devices=list(shiftable),
    )
