"""Solver-free schedules: the baseline (what happened) and the decentralized mode.

Both run the same device rules (EV charges on arrival at full power up to target_soc, the battery
follows the self-consumption rule); they differ only in where the appliance cycles run: at their
observed starts (baseline) or where each appliance alone finds its import price cheapest
(decentralized: no view of PV, battery or the other devices).
"""

from __future__ import annotations

import time

import numpy as np
from omegaconf import DictConfig

from ems_sweep.data.model import DayData
from ems_sweep.optimize import ev as evm
from ems_sweep.optimize.battery import self_consumption
from ems_sweep.optimize.cycles import (
    BASELINE,
    allowed_starts,
    cycle_profile,
    fast_cfg,
    forbidden_start_hours,
    start_penalties,
)
from ems_sweep.optimize.grid import grid_exchange
from ems_sweep.optimize.schedule import CyclePlacement, DaySchedule, SolverStats
from ems_sweep.optimize.state import StorageState
from ems_sweep.optimize.table import appliance_loads, build_table
from ems_sweep.optimize.tariffs import tariff_prices


def rule_schedule(
    day: DayData,
    cfg: DictConfig,
    state: StorageState,
    placements: list[CyclePlacement],
    mode: str,
    prices: tuple[np.ndarray, np.ndarray],
) -> DaySchedule:
    """Apply the EV and battery rules around the given cycle placements."""
    started = time.perf_counter()
    notes: list[str] = []
    loads = appliance_loads(day, cfg, placements, mode)
    ev_ch, ev_e = evm.charge_asap(day, cfg, state.ev_kwh, cfg.ev.target_soc * cfg.ev.capacity_kwh)
    if cfg.ev.enabled and ev_e.min() < -1e-9:
        notes.append(f"EV trips need more than stored (min {ev_e.min():.2f} kWh), clipped at 0")
        ev_e = np.maximum(ev_e, 0.0)
    appl = np.sum(list(loads.values()), axis=0) if loads else np.zeros(day.n_steps)
    demand = np.asarray(day.fixed_load_kwh) + appl + ev_ch
    net = demand - np.asarray(day.pv_kwh)
    b_ch, b_dis, b_e = self_consumption(net, cfg, day.dt_h, state.battery_kwh)
    imp, exp, curt = grid_exchange(net + b_ch - b_dis, cfg, day.dt_h)
    table = build_table(
        day,
        cfg,
        prices=prices,
        loads=loads,
        import_kwh=imp,
        export_kwh=exp,
        pv_curtailed_kwh=curt,
        battery=(b_ch, b_dis, b_e),
        ev=(ev_ch, np.zeros(day.n_steps), ev_e),
    )
    # the baseline is "rule"; a rule-based mode's schedule is a valid answer: "Feasible"
    status = "rule" if mode == BASELINE else "Feasible"
    stats = SolverStats(status=status, build_s=time.perf_counter() - started)
    return DaySchedule(
        table=table,
        placements=placements,
        stats=stats,
        battery_start_kwh=state.battery_kwh,
        ev_start_kwh=state.ev_kwh,
        notes=notes,
        mode=mode,
    )


def baseline_day(day: DayData, cfg: DictConfig, state: StorageState) -> DaySchedule:
    """Cycles at their observed times, EV charging on arrival, battery self-consumption."""
    cfg = fast_cfg(cfg)
    placements = [
        CyclePlacement(c.cycle_id, c.device, c.observed_start_step, c.observed_start_step)
        for c in day.cycles
    ]
    return rule_schedule(day, cfg, state, placements, BASELINE, tariff_prices(day, cfg))


def decentralized_day(
    day: DayData,
    cfg: DictConfig,
    state: StorageState,
    preferences: dict[str, np.ndarray] | None = None,
) -> DaySchedule:
    """Each appliance picks its cheapest allowed start against the import price alone."""
    cfg = fast_cfg(cfg)
    prices = tariff_prices(day, cfg)
    imp_price = prices[0]
    forbidden = forbidden_start_hours(preferences, cfg)
    penalties = start_penalties(preferences, cfg)
    hours = np.asarray(day.index.hour)
    placements = []
    for c in day.cycles:
        starts = np.array(allowed_starts(c, day, cfg, forbidden))
        prof = cycle_profile(c, "decentralized")
        cost = np.correlate(imp_price, prof, mode="valid")[starts]
        if c.device in penalties:
            cost = cost + penalties[c.device][hours[starts]]
        # ties: closest to the observed start, then the earlier one (deterministic)
        order = np.lexsort((starts, np.abs(starts - c.observed_start_step), np.round(cost, 9)))
        placements.append(
            CyclePlacement(c.cycle_id, c.device, c.observed_start_step, int(starts[order[0]]))
        )
    return rule_schedule(day, cfg, state, placements, "decentralized", prices)
