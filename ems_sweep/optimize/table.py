"""Assemble the schedule table (see schedule.py) from per-step arrays and cycle placements."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ems_sweep.config import EmsConfig
from ems_sweep.data.model import DayData
from ems_sweep.optimize import schedule as S
from ems_sweep.optimize.ev import plugged_mask


def _clean(a: np.ndarray) -> np.ndarray:
    """Solver noise off: tiny negatives and sub-1e-9 values become exact zeros."""
    a = np.asarray(a, dtype=float).copy()
    a[np.abs(a) < 1e-9] = 0.0
    return np.maximum(a, 0.0)


def build_table(
    day: DayData,
    cfg: EmsConfig,
    *,
    prices: tuple[np.ndarray, np.ndarray],
    loads: dict[str, np.ndarray],
    import_kwh: np.ndarray,
    export_kwh: np.ndarray,
    pv_curtailed_kwh: np.ndarray,
    battery: tuple[np.ndarray, np.ndarray, np.ndarray],
    ev: tuple[np.ndarray, np.ndarray, np.ndarray],
) -> pd.DataFrame:
    """One row per step with every column of the contract; cost includes battery wear."""
    imp_price, exp_price = prices
    b_ch, b_dis, b_e = (_clean(x) for x in battery)
    ev_ch, ev_dis, ev_e = (_clean(x) for x in ev)
    imp, exp = _clean(import_kwh), _clean(export_kwh)
    cols: dict[str, np.ndarray] = {
        S.IMPORT: imp,
        S.EXPORT: exp,
        S.PV: np.asarray(day.pv_kwh, dtype=float),
        S.PV_CURTAILED: _clean(pv_curtailed_kwh),
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
