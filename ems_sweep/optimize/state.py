"""Storage energy carried over midnight from one day's schedule to the next."""

from __future__ import annotations

from dataclasses import dataclass

from ems_sweep.config import EmsConfig
from ems_sweep.optimize.schedule import BATTERY_ENERGY, EV_ENERGY, DaySchedule


@dataclass(frozen=True)
class StorageState:
    """Stored energy (kWh) at the start of a day: what the previous day left behind."""

    battery_kwh: float
    ev_kwh: float


@dataclass(frozen=True)
class PeriodEnd:
    """How the optimizer treats the storage left at the end of the period (pipeline.end_storage).

    no_less: `minimum` = the baseline's final state; each device (battery, EV) may not end with
    less (per device, so a kWh left in the battery cannot stand in for one missing in the car).
    value: no minimum; each stored kWh is worth value_eur_per_kwh, and the difference to the
    baseline is reported as its own figure.
    """

    minimum: StorageState | None = None
    value_eur_per_kwh: float = 0.0


def stored_kwh(state: StorageState) -> float:
    """Battery plus EV energy: what the end-of-period rule compares."""
    return float(state.battery_kwh + state.ev_kwh)


def initial_state(cfg: EmsConfig) -> StorageState:
    """The run's first midnight: configured initial state of charge (0 for absent hardware)."""
    battery = cfg.battery.soc_initial * cfg.battery.capacity_kwh if cfg.battery.enabled else 0.0
    ev = cfg.ev.soc_initial * cfg.ev.capacity_kwh if cfg.ev.enabled else 0.0
    return StorageState(battery_kwh=float(battery), ev_kwh=float(ev))


def end_state(schedule: DaySchedule) -> StorageState:
    """Energy at the end of the day's last step: the next day's start."""
    table = schedule.table
    if len(table) == 0:
        return StorageState(schedule.battery_start_kwh, schedule.ev_start_kwh)
    return StorageState(
        battery_kwh=float(table[BATTERY_ENERGY].iloc[-1]),
        ev_kwh=float(table[EV_ENERGY].iloc[-1]),
    )
