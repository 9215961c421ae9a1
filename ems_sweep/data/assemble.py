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
from dataclasses import dataclass

import numpy as np
import pandas as pd
from omegaconf import DictConfig

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


@dataclass(frozen=True)
class Period:
    """The requested local days start .. start + n_days - 1 in the building's timezone."""

    start: dt.date
    n_days: int
    timezone: str

    @property
    def last(self) -> dt.date:
        return self.start + dt.timedelta(days=self.n_days - 1)

    def bounds(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        return day_bounds(self.start, self.n_days, self.timezone)

    def extended_bounds(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """One day before and after the requested days: the window every source delivers."""
        return day_bounds(self.start - dt.timedelta(days=1), self.n_days + 2, self.timezone)

    def days(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=k) for k in range(self.n_days)]


@dataclass(frozen=True)
class CycleRules:
    """How appliance cycles are found in a device's meter (building.cycle_*)."""

    threshold_kw: float
    max_pause_hours: float
    min_cycle_kwh: float

    @classmethod
    def of(cls, b: DictConfig) -> CycleRules:
        return cls(
            float(b.cycle_threshold_kw), float(b.cycle_max_pause_hours), float(b.cycle_min_kwh)
        )


@dataclass(frozen=True)
class SourceSeries:
    """What a source delivers at the run's resolution over the extended window.

    ev_charging_kwh: the metered EV charging the job's EV model takes over (its sessions), taken
    out of the fixed load. None (no EV model, ev.enabled=false): metered charging stays in the
    fixed load as it happened, so the baseline still reproduces the meters."""

    ext: pd.DataFrame
    dt_h: float
    quality: dict[dt.date, DayQuality]
    ev_trips: list[EVTrip]
    ev_charging_kwh: np.ndarray | None = None


def assemble(
    building: str,
    shiftable: list[str],
    period: Period,
    series: SourceSeries,
    rules: CycleRules,
) -> BuildingData:
    """BuildingData for the requested days from the source's extended-window series."""
    lo, hi = period.bounds()
    ext, dt_h = series.ext, series.dt_h
    cycles = _kept_cycles(ext, shiftable, rules, dt_h, (lo, hi))
    columns = {
        FIXED_LOAD: _fixed_load(building, ext, cycles, series.ev_charging_kwh),
        PV: ext[PV].to_numpy(dtype=float),
        PRICE: ext[PRICE].to_numpy(dtype=float),
    }
    for device in shiftable:
        columns[device_column(device)] = ext[device_column(device)].to_numpy(dtype=float)
    for col in OPTIONAL:
        if col in ext:
            columns[col] = ext[col].to_numpy(dtype=float)
    full = pd.DataFrame(columns, index=ext.index)
    frame = full[(full.index >= lo) & (full.index < hi)]
    trips = [t for t in series.ev_trips if lo <= t.departure < hi or lo <= t.arrival < hi]
    return BuildingData(
        building=building,
        timezone=period.timezone,
        dt_h=dt_h,
        frame=frame,
        cycles=cycles,
        ev_trips=trips,
        quality=[series.quality.get(d, DayQuality(date=d)) for d in period.days()],
        shiftable_devices=list(shiftable),
    )


def _kept_cycles(
    ext: pd.DataFrame,
    shiftable: list[str],
    rules: CycleRules,
    dt_h: float,
    bounds: tuple[pd.Timestamp, pd.Timestamp],
) -> list[Cycle]:
    """The shiftable devices' cycles over the extended window that start inside `bounds`."""
    lo, hi = bounds
    cycles: list[Cycle] = []
    for device in shiftable:
        found = detect_cycles(
            ext[device_column(device)],
            device,
            rules.threshold_kw,
            dt_h,
            rules.max_pause_hours,
            rules.min_cycle_kwh,
        )
        too_long = [c for c in found if len(c.profile_kwh) * dt_h > MAX_CYCLE_HOURS]
        if too_long:
            c = too_long[0]
            raise DataError(
                f"building.shiftable lists {device!r}, but it ran {len(c.profile_kwh) * dt_h:g} h "
                f"without a break from {c.start} (above building.cycle_threshold_kw="
                f"{rules.threshold_kw}); a shiftable appliance run lasts at most "
                f"{MAX_CYCLE_HOURS} h: list the device under building.fixed or raise the threshold"
            )
        cycles += [c for c in found if lo <= c.start < hi]
    cycles.sort(key=lambda c: (c.start, c.device))
    return cycles


def _fixed_load(
    building: str, ext: pd.DataFrame, cycles: list[Cycle], ev_charging_kwh: np.ndarray | None
) -> np.ndarray:
    """Consumption minus the kept cycles and the modelled EV charging, clipped at 0 (NaN kept)."""
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
    return np.where(np.isnan(fixed), np.nan, np.maximum(fixed, 0.0))
