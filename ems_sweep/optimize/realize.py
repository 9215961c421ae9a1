"""The physical schedule of a model solution: what the house really draws and pays.

A model may simplify an appliance (`centralized` moves each cycle as a flat mean-power block);
the machine still runs its own programme. The physical schedule keeps every decision of the
model (cycle starts, battery and EV setpoints, planned PV curtailment) and puts the real cycle
profiles at the chosen starts; the grid absorbs the difference, so the energy balance holds:

    residual = model import - model export + (real appliance load - modelled appliance load)
    import = max(residual, 0), export = max(-residual, 0)

and PV is curtailed further only where the export would exceed the connection's limit.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from ems_sweep.data.model import DayData
from ems_sweep.optimize.appliances import appliance_loads
from ems_sweep.optimize.schedule import CyclePlacement
from ems_sweep.optimize.table import Flows, GridFlows, build_table


def realized_exchange(
    model: GridFlows,
    pv_kwh: np.ndarray,
    modelled_load_kwh: np.ndarray,
    real_load_kwh: np.ndarray,
    export_limit_kwh: float,
) -> GridFlows:
    """The grid's flows per step once the real appliance load replaces the model's."""
    residual = (
        np.asarray(model.import_kwh, dtype=float)
        - np.asarray(model.export_kwh, dtype=float)
        + np.asarray(real_load_kwh, dtype=float)
        - np.asarray(modelled_load_kwh, dtype=float)
    )
    imp = np.maximum(residual, 0.0)
    surplus = np.maximum(-residual, 0.0)
    curt = np.asarray(model.curtailed_kwh, dtype=float)
    over = np.maximum(surplus - export_limit_kwh, 0.0)
    extra = np.minimum(over, np.maximum(np.asarray(pv_kwh, dtype=float) - curt, 0.0))
    return GridFlows(imp, surplus - extra, curt + extra)


def physical_table(
    day: DayData,
    cfg: DictConfig,
    prices: tuple[np.ndarray, np.ndarray],
    placements: list[CyclePlacement],
    mode: str,
    model_flows: Flows,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The physical schedule's table and the table of the model's own flows.

    model_flows: the model's grid flows and its battery and EV flows as planned (kept as they
    are in the physical schedule).
    """
    planned = appliance_loads(day, cfg, placements, mode)
    model_table = build_table(day, cfg, prices, planned, model_flows)
    real = appliance_loads(day, cfg, placements)
    grid = realized_exchange(
        model_flows.grid,
        day.pv_kwh,
        sum(planned.values(), np.zeros(day.n_steps)),
        sum(real.values(), np.zeros(day.n_steps)),
        float(cfg.building.grid_export_limit_kw) * day.dt_h,
    )
    table = build_table(day, cfg, prices, real, dataclasses.replace(model_flows, grid=grid))
    return table, model_table
