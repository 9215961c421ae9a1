"""Execute a plan made on forecasts against the actual day: what the house really does and pays.

The plan is the committed first day of a horizon planned on forecasts (a physical schedule on
the forecast day). Execution runs step by step on the actual data, using at each step only what
is known then (the plan, prices, the actual step, what happened before it):
1. Appliance cycles: with a forecast that knows no cycles, each cycle is placed when the user
   starts it, at the allowed start (delay window, one programme per machine) with the lowest
   cost at the plan's marginal price: the export price where the plan exports, else the import
   price. A forecast that knows the cycles keeps the plan's starts.
2. EV: charges the plan's setpoint where the car is actually plugged in; plugged in at a step
   the plan had it away, it charges on arrival (full power up to target_soc); always at least
   what keeps the target reachable at full power by must_be_full_by_hour (deadline rule); V2G
   discharges as planned down to the reserve, never while holding the target before it leaves.
   Trips take their actual energy; what the car lacked is reported (ev_unmet_need_kwh).
3. Battery: follows the planned grid exchange, b = b_plan + (d - d_plan) with b = discharge -
   charge and d = demand - PV before the battery (actual; d_plan: the plan's), except that it
   never discharges into export nor charges from the grid beyond its setpoint:
   d > d_plan: b <= max(b_plan, d);  d < d_plan: b >= min(b_plan, d); then power and energy
   limits.
4. Grid: the rest; PV is curtailed where the plan curtailed (as far as there is surplus) and
   beyond the export limit.
With forecast.replan_hours the pipeline re-plans during the day from the executed state; each
re-plan replaces the plan from its step on (`spliced_plan`), a cycle sees the plan in force when
it was started. The placement rule, like the decentralized mode's, keeps room for a later cycle
of the same machine at its observed start (a user cannot load a machine that is still running).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ems_sweep.config import EmsConfig
from ems_sweep.data.model import DayCycle, DayData
from ems_sweep.optimize import ev as evm
from ems_sweep.optimize import schedule as S
from ems_sweep.optimize.appliances import appliance_loads
from ems_sweep.optimize.baseline import cheapest_placements
from ems_sweep.optimize.battery import battery_params
from ems_sweep.optimize.grid import grid_exchange
from ems_sweep.optimize.schedule import CyclePlacement, DaySchedule
from ems_sweep.optimize.state import StorageState
from ems_sweep.optimize.table import Flows, GridFlows, StorageFlows, build_table
from ems_sweep.optimize.tariffs import tariff_prices


def col(plan: DaySchedule, key: str) -> np.ndarray:
    return plan.table[key].to_numpy(dtype=float)


def net_demand(table_cols: dict[str, np.ndarray]) -> np.ndarray:
    """d = fixed load + appliances + EV charge - EV discharge - PV (before the battery)."""
    c = table_cols
    return c["fixed"] + c["appl"] + c["ev_ch"] - c["ev_dis"] - c["pv"]


def spliced_plan(plan: DaySchedule, replans: Sequence[tuple[int, DaySchedule]]) -> DaySchedule:
    """The plan in force at each step: `plan`, replaced from each re-plan's step on."""
    if not replans:
        return plan
    table = plan.table.copy()
    for step, later in replans:
        common = [c for c in table.columns if c in later.table.columns]
        table.iloc[step:, [table.columns.get_loc(c) for c in common]] = later.table[common].values
    return dataclasses.replace(plan, table=table)


def placements_as_observed(
    plan: DaySchedule,
    actual: DayData,
    cfg: EmsConfig,
    knows_cycles: bool,
    replans: Sequence[tuple[int, DaySchedule]] = (),
) -> list[CyclePlacement]:
    """Rule 1 (module docstring): where each actual cycle runs, each one at the marginal price
    of the plan in force when the user started it."""
    if knows_cycles:
        return list(plan.placements)
    imp_price, exp_price = tariff_prices(actual, cfg)
    in_force = [(0, plan)]
    for step, later in replans:  # each re-plan spliced onto the plan in force before it
        in_force.append((step, spliced_plan(in_force[-1][1], [(step, later)])))

    def marginal(cycle: DayCycle) -> np.ndarray:
        current = [p for s, p in in_force if s <= cycle.observed_start_step][-1]
        return np.where(col(current, S.EXPORT) > 1e-9, exp_price, imp_price)

    return cheapest_placements(actual, cfg, marginal)


def target_checkpoint(actual: DayData, cfg: EmsConfig) -> int | None:
    """The step ending at must_be_full_by_hour on the day (None: no such step in the day)."""
    late = np.nonzero(np.asarray(actual.index.hour) >= cfg.ev.must_be_full_by_hour)[0]
    if not len(late) or late[0] == 0:
        return None
    return int(late[0]) - 1


def execute_ev(
    plan: DaySchedule, forecast: DayData, actual: DayData, cfg: EmsConfig, start_kwh: float
) -> tuple[StorageFlows, float]:
    """Rule 2: the EV's flows on the actual day and the kWh the trips lacked."""
    n = actual.n_steps
    ch, dis, energy = np.zeros(n), np.zeros(n), np.zeros(n)
    if not cfg.ev.enabled:
        return StorageFlows(ch, dis, energy), 0.0
    ev = cfg.ev
    per_step = ev.charger_kw * actual.dt_h
    eta_c, eta_d = ev.charge_efficiency, ev.discharge_efficiency
    reserve, target = ev.soc_min * ev.capacity_kwh, ev.target_soc * ev.capacity_kwh
    plugged, expected = evm.plugged_mask(actual, cfg), evm.plugged_mask(forecast, cfg)
    leaving = evm.trip_deductions(actual, cfg)
    plan_ch, plan_dis = col(plan, S.EV_CHARGE), col(plan, S.EV_DISCHARGE)
    point = target_checkpoint(actual, cfg)
    e, held, unmet = float(start_kwh), False, 0.0
    for t in range(n):
        if not plugged[t]:
            held = False
        c = d = 0.0
        if plugged[t]:
            c = plan_ch[t]
            if not expected[t] and e < target:
                c = per_step  # an arrival the plan did not expect: charge on arrival
            if point is not None and t <= point:
                c = max(c, (target - e) / eta_c - (point - t) * per_step)
            c = min(max(c, 0.0), per_step, max(ev.capacity_kwh - e, 0.0) / eta_c)
            if ev.v2g and not held and c <= 0.0:
                d = min(plan_dis[t], max(e - reserve, 0.0) * eta_d)
        e += eta_c * c - d / eta_d - leaving[t]
        if e < 0.0:
            unmet, e = unmet - e, 0.0
        ch[t], dis[t], energy[t] = c, d, e
        if point is not None and t == point:
            held = True
    return StorageFlows(ch, dis, energy), unmet


def execute_battery(
    d: np.ndarray,
    d_plan: np.ndarray,
    b_plan: np.ndarray,
    cfg: EmsConfig,
    dt_h: float,
    start: float,
) -> StorageFlows:
    """Rule 3: the battery's flows following the planned grid exchange."""
    n = len(d)
    ch, dis, energy = np.zeros(n), np.zeros(n), np.zeros(n)
    p = battery_params(cfg)
    if p is None:
        return StorageFlows(ch, dis, energy)
    max_c, max_d = p.max_charge_kw * dt_h, p.max_discharge_kw * dt_h
    e = float(start)
    for t in range(n):
        b = b_plan[t] + d[t] - d_plan[t]
        if d[t] > d_plan[t]:
            b = min(b, max(b_plan[t], d[t]))
        elif d[t] < d_plan[t]:
            b = max(b, min(b_plan[t], d[t]))
        if b > 0:
            dis[t] = max(0.0, min(b, max_d, (e - p.e_min) * p.eta_d))
            e -= dis[t] / p.eta_d
        elif b < 0:
            ch[t] = max(0.0, min(-b, max_c, (p.e_max - e) / p.eta_c))
            e += p.eta_c * ch[t]
        energy[t] = e
    return StorageFlows(ch, dis, energy)


def execute_grid(
    residual: np.ndarray, plan_curtailed: np.ndarray, pv: np.ndarray, export_limit_kwh: float
) -> GridFlows:
    """Rule 4: the grid's flows from residual = demand - PV after storage, the plan's
    curtailment taken first (at most the surplus and the PV)."""
    curt = np.minimum(np.minimum(plan_curtailed, np.maximum(-residual, 0.0)), pv)
    grid = grid_exchange(residual + curt, export_limit_kwh)
    return GridFlows(grid.import_kwh, grid.export_kwh, curt + grid.curtailed_kwh)


@dataclass(frozen=True)
class PlanInForce:
    """The day's plan and the re-plans made during it (forecast.replan_hours).

    replans: (step, plan of the steps from `step` on); from its step on each replaces the plan
    before it.
    """

    plan: DaySchedule
    replans: Sequence[tuple[int, DaySchedule]] = ()


def executed_flows(
    plan: DaySchedule,
    forecast: DayData,
    actual: DayData,
    cfg: EmsConfig,
    state: StorageState,
    loads: dict[str, np.ndarray],
) -> tuple[Flows, float]:
    """Rules 2-4 around the actual appliance `loads`: the flows and kWh the trips lacked."""
    appl = sum(loads.values(), np.zeros(actual.n_steps))
    ev, unmet = execute_ev(plan, forecast, actual, cfg, state.ev_kwh)
    d = np.asarray(actual.fixed_load_kwh) + appl + ev.charge - ev.discharge
    d = d - np.asarray(actual.pv_kwh)
    d_plan = net_demand(
        {
            "fixed": col(plan, S.FIXED_LOAD),
            "appl": col(plan, S.APPLIANCES),
            "ev_ch": col(plan, S.EV_CHARGE),
            "ev_dis": col(plan, S.EV_DISCHARGE),
            "pv": col(plan, S.PV),
        }
    )
    b_plan = col(plan, S.BATTERY_DISCHARGE) - col(plan, S.BATTERY_CHARGE)
    battery = execute_battery(d, d_plan, b_plan, cfg, actual.dt_h, state.battery_kwh)
    limit = float(cfg.building.grid_export_limit_kw) * actual.dt_h
    grid = execute_grid(
        d + battery.charge - battery.discharge,
        col(plan, S.PV_CURTAILED),
        np.asarray(actual.pv_kwh),
        limit,
    )
    return Flows(grid=grid, battery=battery, ev=ev), unmet


def execute_plan(
    plans: PlanInForce,
    forecast: DayData,
    actual: DayData,
    cfg: EmsConfig,
    state: StorageState,
    knows_cycles: bool,
) -> tuple[DaySchedule, dict[str, float]]:
    """The executed schedule of `actual` (a normal DaySchedule) and its execution figures."""
    placements = placements_as_observed(plans.plan, actual, cfg, knows_cycles, plans.replans)
    plan = spliced_plan(plans.plan, plans.replans)
    loads = appliance_loads(actual, cfg, placements)
    flows, unmet = executed_flows(plan, forecast, actual, cfg, state, loads)
    table = build_table(actual, cfg, tariff_prices(actual, cfg), loads, flows)
    needs = evm.trip_requirements(actual, cfg)
    ev_e = flows.ev.energy
    short = sum(
        max(0.0, r.required_kwh - (state.ev_kwh if r.step < 0 else ev_e[r.step])) for r in needs
    )
    notes = list(plan.notes)
    if unmet > 1e-6 or short > 1e-6:
        notes.append(
            f"executed EV: trips lacked {unmet:.2f} kWh, {short:.2f} kWh below trip needs "
            "(trip energy + reserve) at departure"
        )
    executed = DaySchedule(
        table=table,
        placements=placements,
        stats=plan.stats,
        battery_start_kwh=state.battery_kwh,
        ev_start_kwh=state.ev_kwh,
        notes=notes,
        mode=plan.mode,
    )
    return executed, {"ev_unmet_need_kwh": float(short + unmet)}
