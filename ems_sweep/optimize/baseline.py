"""Solver-free schedules: the baseline (what happened) and the decentralized mode.

Both run the same device rules (EV charges on arrival at full power up to target_soc, the battery
follows the self-consumption rule); they differ only in where the appliance cycles run: at their
observed starts (baseline) or where each appliance alone finds its import price cheapest
(decentralized: no view of PV, battery or the other devices).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from ems_sweep.config import EmsConfig
from ems_sweep.data.model import DayCycle, DayData
from ems_sweep.optimize import ev as evm
from ems_sweep.optimize.appliances import appliance_loads
from ems_sweep.optimize.battery import self_consumption
from ems_sweep.optimize.cycles import (
    BASELINE,
    StartRule,
    allowed_starts,
    forbidden_start_hours,
    start_penalties,
)
from ems_sweep.optimize.grid import grid_exchange
from ems_sweep.optimize.schedule import CyclePlacement, DaySchedule, SolverStats
from ems_sweep.optimize.state import StorageState
from ems_sweep.optimize.table import Flows, StorageFlows, build_table
from ems_sweep.optimize.tariffs import tariff_prices


def rule_schedule(
    day: DayData,
    cfg: EmsConfig,
    state: StorageState,
    placements: list[CyclePlacement],
    mode: str,
    prices: tuple[np.ndarray, np.ndarray],
) -> DaySchedule:
    """Apply the EV and battery rules around the given cycle placements."""
    started = time.perf_counter()
    notes: list[str] = []
    loads = appliance_loads(day, cfg, placements)
    ev_ch, ev_e = evm.charge_asap(day, cfg, state.ev_kwh, cfg.ev.target_soc * cfg.ev.capacity_kwh)
    if cfg.ev.enabled and ev_e.min() < -1e-9:
        notes.append(f"EV trips need more than stored (min {ev_e.min():.2f} kWh), clipped at 0")
        ev_e = np.maximum(ev_e, 0.0)
    appl = np.sum(list(loads.values()), axis=0) if loads else np.zeros(day.n_steps)
    demand = np.asarray(day.fixed_load_kwh) + appl + ev_ch
    net = demand - np.asarray(day.pv_kwh)
    battery = self_consumption(net, cfg, day.dt_h, state.battery_kwh)
    export_limit = cfg.building.grid_export_limit_kw * day.dt_h
    grid = grid_exchange(net + battery.charge - battery.discharge, export_limit)
    flows = Flows(grid, battery, ev=StorageFlows(ev_ch, np.zeros(day.n_steps), ev_e))
    table = build_table(day, cfg, prices, loads, flows)
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


def baseline_day(day: DayData, cfg: EmsConfig, state: StorageState) -> DaySchedule:
    """Cycles at their observed times, EV charging on arrival, battery self-consumption."""
    placements = [
        CyclePlacement(c.cycle_id, c.device, c.observed_start_step, c.observed_start_step)
        for c in day.cycles
    ]
    return rule_schedule(day, cfg, state, placements, BASELINE, tariff_prices(day, cfg))


def decentralized_day(
    day: DayData,
    cfg: EmsConfig,
    state: StorageState,
    preferences: dict[str, np.ndarray] | None = None,
) -> DaySchedule:
    """Each appliance picks its cheapest allowed start against the import price alone."""
    prices = tariff_prices(day, cfg)
    placements = cheapest_placements(day, cfg, prices[0], preferences)
    return rule_schedule(day, cfg, state, placements, "decentralized", prices)


def cheapest_placements(
    day: DayData,
    cfg: EmsConfig,
    step_price: np.ndarray | Callable[[DayCycle], np.ndarray],
    preferences: dict[str, np.ndarray] | None = None,
) -> list[CyclePlacement]:
    """Each cycle at its allowed start with the lowest cost at `step_price` (EUR/kWh per step;
    a function of the cycle where the price a cycle sees depends on when it was observed).

    A machine runs one programme at a time: cycles are placed in observed order, each at its
    cheapest start that neither overlaps a cycle of the device already placed nor the observed
    run of a later one (so every later cycle can still run at least where the user started it).
    """
    forbidden = forbidden_start_hours(preferences, cfg)
    penalties = start_penalties(preferences, cfg)
    hours = np.asarray(day.index.hour)
    rule = StartRule.from_config(cfg)
    ordered = sorted(day.cycles, key=lambda c: (c.observed_start_step, c.cycle_id))
    busy = {c.device: np.zeros(day.n_steps, dtype=int) for c in ordered}
    for c in ordered:  # the observed runs, released as each cycle is placed
        busy[c.device][_steps(c, c.observed_start_step)] += 1
    chosen: dict[str, int] = {}
    for c in ordered:
        occupied = busy[c.device]
        occupied[_steps(c, c.observed_start_step)] -= 1
        starts = np.array(
            [s for s in allowed_starts(c, day, rule, forbidden) if not occupied[_steps(c, s)].any()]
        )
        if not len(starts):
            raise ValueError(
                f"cycle {c.cycle_id}: its observed run overlaps another {c.device} cycle; "
                "one machine runs one programme at a time"
            )
        prof = np.asarray(c.profile_kwh, dtype=float)
        price = step_price(c) if callable(step_price) else step_price
        cost = np.correlate(np.asarray(price, dtype=float), prof, mode="valid")[starts]
        if c.device in penalties:
            cost = cost + penalties[c.device][hours[starts]]
        # ties: closest to the observed start, then the earlier one (deterministic)
        order = np.lexsort((starts, np.abs(starts - c.observed_start_step), np.round(cost, 9)))
        chosen[c.cycle_id] = int(starts[order[0]])
        occupied[_steps(c, chosen[c.cycle_id])] += 1
    return [
        CyclePlacement(c.cycle_id, c.device, c.observed_start_step, chosen[c.cycle_id])
        for c in day.cycles
    ]


def _steps(cycle: DayCycle, start: int) -> slice:
    """The steps a cycle started at `start` runs in."""
    return slice(start, start + len(cycle.profile_kwh))
