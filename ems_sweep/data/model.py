"""The one in-memory form of building data, whatever its source (built-in, OPSD, tidy files).

Every energy is a non-negative kWh per time step with an explicit name; sign conventions of the
sources are converted by the loaders. Local days (the building's timezone) are the unit of work,
so a day has 23, 24 or 25 hours around DST changes.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

# Columns of BuildingData.frame (index: tz-aware step starts in the building's timezone).
FIXED_LOAD = "fixed_load_kwh"  # all non-shiftable consumption (base, fridge, heat pump, other)
PV = "pv_kwh"  # PV generation available
PRICE = "day_ahead_eur_per_kwh"  # wholesale day-ahead price (NaN where missing)
OBSERVED_IMPORT = "observed_import_kwh"  # metered grid import, where the source has it
OBSERVED_EXPORT = "observed_export_kwh"  # metered grid export, where the source has it
OBSERVED_EV = "observed_ev_kwh"  # metered EV charging, where the source has it


def device_column(device: str) -> str:
    """Observed consumption of a shiftable device: cycles plus its standby below threshold."""
    return f"{device}_kwh"


@dataclass(frozen=True)
class Cycle:
    """One run of a shiftable appliance found in (or generated for) the data."""

    device: str
    start: pd.Timestamp  # tz-aware start of its first step
    profile_kwh: np.ndarray  # energy per step at the data's resolution, all > 0

    @property
    def energy_kwh(self) -> float:
        return float(np.sum(self.profile_kwh))


@dataclass(frozen=True)
class EVTrip:
    """The car leaves at `departure` and returns at `arrival`, having used `energy_kwh` of its
    battery (energy the charger must put back, before charging losses)."""

    departure: pd.Timestamp
    arrival: pd.Timestamp
    energy_kwh: float


@dataclass
class DayQuality:
    """What the data of one local day is made of, in the run's steps (see data/quality.py)."""

    date: dt.date
    filled_steps: int = 0  # steps interpolated because of short gaps
    skipped: bool = False
    reason: str = ""
    expected_steps: int = 0  # steps of the local day (23, 24 or 25 h)
    present_steps: int = 0  # steps with every energy column in the file (before filling)
    flagged_steps: int = 0  # steps a quality rule flagged as suspicious but usable
    flags: list[str] = field(default_factory=list)  # one line per rule that flagged the day


@dataclass
class DayCycle:
    """A cycle as one day's optimization sees it: step offsets within the day."""

    cycle_id: str  # unique within the run, e.g. "dishwasher@2016-06-01T19:00"
    device: str
    observed_start_step: int  # clipped so the whole profile fits in the day (see `clipped`)
    profile_kwh: np.ndarray
    clipped: bool = False  # True when the observed cycle ran past midnight and was pulled back


@dataclass
class DayData:
    """Everything one day's baseline, optimization and checker need, as plain arrays."""

    date: dt.date
    index: pd.DatetimeIndex  # step starts, tz-aware
    dt_h: float
    fixed_load_kwh: np.ndarray
    pv_kwh: np.ndarray
    day_ahead_eur_per_kwh: np.ndarray
    cycles: list[DayCycle]
    # EV trips whose departure or arrival falls in this day (empty without an EV).
    ev_trips: list[EVTrip] = field(default_factory=list)
    quality: DayQuality | None = None
    # First step of each local day: (0,) for one day, more for a planning horizon (horizon.py).
    day_starts: tuple[int, ...] = (0,)
    # The meters as they read (kWh per step), where the source has them: what the baseline is
    # compared with (pipelines/fidelity.py).
    metered_import_kwh: np.ndarray | None = None
    metered_export_kwh: np.ndarray | None = None
    metered_ev_kwh: np.ndarray | None = None

    @property
    def n_steps(self) -> int:
        return len(self.index)

    def day_span(self, step: int) -> tuple[int, int]:
        """(first step, end step) of the local day holding `step`: a cycle stays in its day."""
        bounds = [*self.day_starts, self.n_steps]
        k = max(i for i, s in enumerate(self.day_starts) if s <= step)
        return bounds[k], bounds[k + 1]


@dataclass
class BuildingData:
    """A building's data for the requested days at the run's resolution."""

    building: str
    timezone: str
    dt_h: float
    frame: pd.DataFrame
    cycles: list[Cycle]
    ev_trips: list[EVTrip]
    quality: list[DayQuality]
    shiftable_devices: list[str]
    # Internal quantity -> source column(s) (files; empty for the built-in generator).
    columns: dict[str, str] = field(default_factory=dict)
    # Data status per native step of the requested days (quality.PRESENT/FILLED/FLAGGED/MISSING).
    step_status: pd.Series | None = None
    notes: list[str] = field(default_factory=list)  # what the loader decided, for the report

    def days(self) -> list[dt.date]:
        """The usable days, in order (skipped days are in `quality` with their reason)."""
        skipped = {q.date for q in self.quality if q.skipped}
        local_days = sorted(set(self.frame.index.date))
        return [d for d in local_days if d not in skipped]
