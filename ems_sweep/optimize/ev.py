"""The EV as the day's data defines it: when it is plugged in, what trips take, what it must hold.

Shared by the baseline, the MILP and the checker; everything here is derived from the day data
and the config alone (never from a schedule). Conventions:
- a step is plugged in only when the car is home for the whole step;
- a trip's energy leaves the battery at its departure step (trips that departed the day before
  were already paid for on that day);
- before each departure the car holds the trip energy plus the soc_min reserve; when it leaves
  at or after `must_be_full_by_hour`, it holds target_soc x capacity from that hour until it leaves;
- end of day (carry-over rule): the car holds at least what the baseline (charge on arrival at
  full power up to target_soc) would leave at midnight from the same start, so no mode gains by
  handing the next day (or the end of the run) an emptier car.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from ems_sweep.data.model import DayData


class InfeasibleDayError(ValueError):
    """The day cannot be scheduled at all (e.g. the EV's need exceeds what its window allows)."""


@dataclass(frozen=True)
class EVRequirement:
    """Stored energy >= required_kwh at the END of step `step` (-1: at the start of the day)."""

    step: int
    required_kwh: float
    why: str


def _bounds_ns(day: DayData) -> tuple[np.ndarray, np.ndarray]:
    """Step starts and ends as int64 ns since the epoch (fast to compare, tz-free)."""
    starts = np.asarray(day.index.asi8)
    return starts, starts + int(round(day.dt_h * 3600e9))


def plugged_mask(day: DayData, cfg: DictConfig) -> np.ndarray:
    """True for steps the car spends entirely at home (only those may charge or discharge)."""
    n = day.n_steps
    if not cfg.ev.enabled:
        return np.zeros(n, dtype=bool)
    starts, ends = _bounds_ns(day)
    home = np.ones(n, dtype=bool)
    for trip in day.ev_trips:
        home &= ~((ends > trip.departure.value) & (starts < trip.arrival.value))
    return home


def departure_step(day: DayData, departure: pd.Timestamp) -> int | None:
    """Index of the step in which the car leaves, or None when it leaves outside this day."""
    starts, ends = _bounds_ns(day)
    dep = departure.value
    if dep < starts[0] or dep >= ends[-1]:
        return None
    return int(np.searchsorted(starts, dep, side="right") - 1)


def trip_deductions(day: DayData, cfg: DictConfig) -> np.ndarray:
    """kWh leaving the car's battery per step (trip energy at the departure step)."""
    out = np.zeros(day.n_steps)
    if not cfg.ev.enabled:
        return out
    for trip in day.ev_trips:
        step = departure_step(day, trip.departure)
        if step is not None:
            out[step] += float(trip.energy_kwh)
    return out


def requirements(day: DayData, cfg: DictConfig) -> list[EVRequirement]:
    """Energy the car must hold before each departure of the day (see module docstring)."""
    ev = cfg.ev
    if not ev.enabled:
        return []
    reserve = ev.soc_min * ev.capacity_kwh
    target = ev.target_soc * ev.capacity_kwh
    hours = np.asarray(day.index.hour)
    late = np.nonzero(hours >= ev.must_be_full_by_hour)[0]
    full_step = int(late[0]) if len(late) else None
    plugged = plugged_mask(day, cfg)
    out: list[EVRequirement] = []
    full_done = False
    for trip in sorted(day.ev_trips, key=lambda tr: tr.departure):
        step = departure_step(day, trip.departure)
        if step is None:
            continue
        when = trip.departure.strftime("%H:%M")
        need = float(trip.energy_kwh) + reserve
        out.append(
            EVRequirement(
                step - 1, need, f"trip at {when} uses {trip.energy_kwh:.2f} kWh + reserve"
            )
        )
        # The morning target applies to the first departure at/after the hour, when the car has
        # been home since that hour (a second trip later in the day is not a "morning").
        if full_done or full_step is None or trip.departure.hour < ev.must_be_full_by_hour:
            continue
        full_done = True
        first = max(full_step - 1, -1)
        if not plugged[max(first, 0) : step].all():
            continue
        why = f"target_soc={ev.target_soc} by {ev.must_be_full_by_hour}:00, leaves {when}"
        out.extend(EVRequirement(s, target, why) for s in range(first, step))
    return out


def charge_asap(
    day: DayData, cfg: DictConfig, start_kwh: float, level_kwh: float
) -> tuple[np.ndarray, np.ndarray]:
    """Charge at full power whenever plugged in until `level_kwh` is stored.

    Returns (grid-side charge kWh per step, stored energy at the end of each step). This is the
    baseline's EV rule and, with level = capacity, the most energy the car can hold at any time.
    """
    n = day.n_steps
    charge, energy = np.zeros(n), np.zeros(n)
    if not cfg.ev.enabled:
        return charge, energy
    eta = cfg.ev.charge_efficiency
    per_step = cfg.ev.charger_kw * day.dt_h
    plugged = plugged_mask(day, cfg)
    out = trip_deductions(day, cfg)
    e = float(start_kwh)
    for t in range(n):
        if plugged[t] and e < level_kwh:
            charge[t] = min(per_step, (level_kwh - e) / eta)
            e += eta * charge[t]
        e -= out[t]
        energy[t] = e
    return charge, energy


def end_of_day_min(day: DayData, cfg: DictConfig, start_kwh: float) -> float:
    """The carry-over rule: the baseline's midnight energy from the same start."""
    if not cfg.ev.enabled:
        return 0.0
    _, energy = charge_asap(day, cfg, start_kwh, cfg.ev.target_soc * cfg.ev.capacity_kwh)
    return float(energy[-1])


def check_feasible(day: DayData, cfg: DictConfig, start_kwh: float) -> None:
    """Raise InfeasibleDayError naming the first EV need that no schedule can meet."""
    ev = cfg.ev
    if not ev.enabled:
        return
    _, most = charge_asap(day, cfg, start_kwh, ev.capacity_kwh)
    plugged = plugged_mask(day, cfg)
    for req in requirements(day, cfg):
        if req.required_kwh > ev.capacity_kwh + 1e-9:
            raise InfeasibleDayError(
                f"EV on {day.date}: needs {req.required_kwh:.2f} kWh ({req.why}) but "
                f"ev.capacity_kwh={ev.capacity_kwh}"
            )
        reach = start_kwh if req.step < 0 else most[req.step]
        if reach < req.required_kwh - 1e-6:
            when = (
                day.index[0] if req.step < 0 else day.index[req.step] + pd.Timedelta(hours=day.dt_h)
            )
            hours = float(plugged[: req.step + 1].sum() * day.dt_h)
            raise InfeasibleDayError(
                f"EV on {day.date}: needs {req.required_kwh:.2f} kWh stored at "
                f"{when.strftime('%H:%M')} ({req.why}) but can reach at most {reach:.2f} kWh "
                f"(start {start_kwh:.2f} kWh, charger {ev.charger_kw} kW x efficiency "
                f"{ev.charge_efficiency}, plugged in {hours:.2f} h before)"
            )
