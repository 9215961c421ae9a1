"""Assemble the schedule table (see schedule.py) from per-step flows and cycle placements."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from ems_sweep.data.model import DayData
from ems_sweep.optimize import schedule as S
from ems_sweep.optimize.ev import plugged_mask


@dataclass(frozen=True)
class StorageFlows:
    """A storage's kWh per step: grid-side charge and discharge, stored energy at step end."""

    charge: np.ndarray
    discharge: np.ndarray
    energy: np.ndarray

    @classmethod
    def zeros(cls, n: int) -> StorageFlows:
        """No storage (absent hardware): zero flows and zero energy."""
        return cls(np.zeros(n), np.zeros(n), np.zeros(n))


@dataclass(frozen=True)
class GridFlows:
    """The grid connection's kWh per step: import, export and curtailed PV."""

    import_kwh: np.ndarray
    export_kwh: np.ndarray
    curtailed_kwh: np.ndarray


@dataclass(frozen=True)
class Flows:
    """Every non-appliance flow of a schedule: the grid, the battery and the EV."""

    grid: GridFlows
    battery: StorageFlows
    ev: StorageFlows


def _clean(a: np.ndarray) -> np.ndarray:
    """Solver noise off: tiny negatives and sub-1e-9 values become exact zeros."""
    a = np.asarray(a, dtype=float).copy()
    a[np.abs(a) < 1e-9] = 0.0
    return np.maximum(a, 0.0)


def build_table(
    day: DayData,
    cfg: DictConfig,
    prices: tuple[np.ndarray, np.ndarray],
    loads: dict[str, np.ndarray],
    flows: Flows,
) -> pd.DataFrame:
    """One row per step with every column of the contract; cost includes battery wear.

    loads: kWh per step per appliance (the appliances column is their sum).
    """
    imp_price, exp_price = prices
    battery, ev = flows.battery, flows.ev
    b_ch, b_dis, b_e = _clean(battery.charge), _clean(battery.discharge), _clean(battery.energy)
    ev_ch, ev_dis, ev_e = _clean(ev.charge), _clean(ev.discharge), _clean(ev.energy)
    imp, exp = _clean(flows.grid.import_kwh), _clean(flows.grid.export_kwh)
    cols: dict[str, np.ndarray] = {
        S.IMPORT: imp,
        S.EXPORT: exp,
        S.PV: np.asarray(day.pv_kwh, dtype=float),
        S.PV_CURTAILED: _clean(flows.grid.curtailed_kwh),
        S.FIXED_LOAD: np.asarray(day.fixed_load_kwh, dtype=float),
        S.APPLIANCES: np.sum(list(loads.values()), axis=0) if loads else np.zeros(day.n_steps),
    }
    for dev, load in loads.items():
        cols[S.appliance_column(dev)] = load
    wear = cfg.battery.cost_per_kwh_throughput if cfg.battery.enabled else 0.0
    cols.update(
        {
            S.BATTERY_CHARGE: b_ch,
            S.BATTERY_DISCHARGE: b_dis,
            S.BATTERY_ENERGY: b_e,
            S.EV_CHARGE: ev_ch,
            S.EV_DISCHARGE: ev_dis,
            S.EV_ENERGY: ev_e,
            S.EV_PLUGGED: plugged_mask(day, cfg).astype(int),
            S.IMPORT_PRICE: imp_price,
            S.EXPORT_PRICE: exp_price,
            S.DAY_AHEAD: np.asarray(day.day_ahead_eur_per_kwh, dtype=float),
            S.COST: imp * imp_price - exp * exp_price + wear * (b_ch + b_dis),
        }
    )
    return pd.DataFrame(cols, index=day.index)
