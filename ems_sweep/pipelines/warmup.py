"""Warm start: the state the baseline controller would have had at the start of the period.

Starting both schedules from the configured soc_initial would charge or drain storage on day 1
that the data does not show (a car at 80 % charging 13 kWh at midnight). Instead the baseline
controller runs the day before `start_date` from soc_initial (not counted, not in daily.csv) and
both baseline and optimized start from its end state. Without such a day in the data both
start from soc_initial, and the job says so.
"""

from __future__ import annotations

import datetime as dt
import logging

from omegaconf import DictConfig, OmegaConf

from ems_sweep.data.model import BuildingData, DayData
from ems_sweep.data.slicing import slice_day
from ems_sweep.optimize.state import StorageState, end_state, initial_state

log = logging.getLogger(__name__)


def _warmup_day(building: BuildingData, date: dt.date, cfg: DictConfig) -> DayData:
    """The day from the building's data, else loaded on its own (the period's data lacks it)."""
    from ems_sweep.data import load_building
    from ems_sweep.data.slicing import DayNotAvailableError

    try:
        return slice_day(building, date)
    except DayNotAvailableError:
        one_day = OmegaConf.merge(cfg, {"start_date": date.isoformat(), "n_days": 1})
        return slice_day(load_building(one_day), date)


def warm_start(building: BuildingData, first: dt.date, cfg: DictConfig) -> tuple[StorageState, str]:
    """(start state of the period's first day, a note for the log and report)."""
    from ems_sweep.optimize import baseline_day

    init = initial_state(cfg)
    if not cfg.battery.enabled and not cfg.ev.enabled:
        return init, ""
    date = first - dt.timedelta(days=1)
    try:
        schedule = baseline_day(_warmup_day(building, date, cfg), cfg, init)
    except (ValueError, KeyError, OSError) as exc:  # no usable day before the period
        note = (
            f"Warm start: no usable day {date} before the period ({exc}); baseline and optimized "
            f"start from soc_initial (battery {init.battery_kwh:.2f} kWh, EV {init.ev_kwh:.2f} kWh)"
        )
        log.warning(note)
        return init, note
    state = end_state(schedule)
    note = (
        f"Warm start: the baseline controller ran {date} (not counted) from soc_initial; "
        f"baseline and optimized start at battery {state.battery_kwh:.2f} kWh, "
        f"EV {state.ev_kwh:.2f} kWh"
    )
    log.info(note)
    return state, note
