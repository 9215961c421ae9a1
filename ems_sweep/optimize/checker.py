"""Independent checker: reads only the schedule table, the placements and the day's data.

It never sees solver variables; it recomputes every rule from the table's numbers and counts
each broken one as a Violation (kind, step, detail). Kinds:
  columns, data, negative, balance, grid_limit, pv_curtailed, exclusive_grid,
  battery_power, battery_bounds, battery_dynamics, exclusive_battery,
  ev_power, ev_unplugged, ev_bounds, ev_dynamics, ev_requirement, ev_target, ev_v2g,
  exclusive_ev, appliance_total, cycle_missing, cycle_duplicate, cycle_window,
  cycle_profile, cycle_overlap, forbidden_start, cost, cost_physical,
  battery_idle (rule-based schedules)
There is no end-of-day kind: storage is carried over midnight; the end of the period is checked
by `period_end` on the period's last day. Every schedule is checked as the physical one:
appliance columns must hold the real cycle profiles at the placed starts, whatever the model
moved (centralized: mean-power blocks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from omegaconf import DictConfig

from ems_sweep.data.model import DayCycle, DayData
from ems_sweep.optimize import ev as evm
from ems_sweep.optimize import schedule as S
from ems_sweep.optimize.cycles import BASELINE, StartRule, devices, fast_cfg, start_window
from ems_sweep.optimize.schedule import CyclePlacement, DaySchedule
from ems_sweep.optimize.table import StorageFlows
from ems_sweep.optimize.tariffs import tariff_prices

TOL = 1e-5  # kWh (or EUR): far above solver tolerances, far below anything that matters
RULE_MODES = (BASELINE, "decentralized")  # their battery is the self-consumption controller
COST_TOL_EUR = 1e-4  # a day's cost: per-step rounding summed over up to 100 steps


@dataclass(frozen=True)
class Violation:
    kind: str
    step: int | None
    detail: str


class _Collector:
    def __init__(self) -> None:
        self.items: list[Violation] = []

    def steps(self, kind: str, bad: np.ndarray, detail: str, values: np.ndarray) -> None:
        """One violation per offending step."""
        for t in np.nonzero(bad)[0]:
            self.items.append(Violation(kind, int(t), f"{detail} ({float(values[t]):.6g})"))

    def one(self, kind: str, step: int | None, detail: str) -> None:
        self.items.append(Violation(kind, step, detail))


def _storage(
    c: _Collector,
    prefix: str,
    flows: StorageFlows,
    start: float,
    device: Any,
    out: np.ndarray,
) -> None:
    """{prefix}_dynamics and exclusive_{prefix}; `device` holds charge/discharge_efficiency
    (cfg.battery or cfg.ev), `out` the kWh leaving per step (trips)."""
    ch, dis, energy = flows.charge, flows.discharge, flows.energy
    eta_c, eta_d = device.charge_efficiency, device.discharge_efficiency
    prev = np.concatenate([[start], energy[:-1]])
    err = energy - (prev + eta_c * ch - dis / eta_d - out)
    c.steps(f"{prefix}_dynamics", np.abs(err) > TOL, "energy != previous + in - out", err)
    c.steps(
        f"exclusive_{prefix}",
        (ch > TOL) & (dis > TOL),
        "charges and discharges in the same step",
        np.minimum(ch, dis),
    )


def _needed_columns(devs: list[str]) -> list[str]:
    """Every column the checker reads, in the order the `negative` kind checks them."""
    return [
        S.IMPORT, S.EXPORT, S.PV, S.PV_CURTAILED, S.FIXED_LOAD, S.APPLIANCES,
        S.BATTERY_CHARGE, S.BATTERY_DISCHARGE, S.BATTERY_ENERGY,
        S.EV_CHARGE, S.EV_DISCHARGE, S.EV_ENERGY, S.EV_PLUGGED, S.IMPORT_PRICE,
        S.EXPORT_PRICE, S.COST,
    ] + [S.appliance_column(d) for d in devs]  # fmt: skip


def check_schedule(
    schedule: DaySchedule,
    day: DayData,
    cfg: DictConfig,
    forbidden_starts: dict[str, set[int]] | None = None,
) -> list[Violation]:
    """Every broken rule of the schedule (empty list: valid). See module docstring for kinds."""
    cfg = fast_cfg(cfg)
    c = _Collector()
    tab = schedule.table
    n = day.n_steps
    needed = _needed_columns(devices(day, cfg))
    missing = [col for col in needed if col not in tab.columns]
    if missing or len(tab) != n:
        c.one("columns", None, f"missing columns {missing} or {len(tab)} rows != {n} steps")
        return c.items
    col = {k: tab[k].to_numpy(dtype=float) for k in needed}
    prices = tariff_prices(day, cfg)
    check_data(c, day, col, prices)
    check_grid(c, col, cfg, day.dt_h)
    check_battery(c, schedule, cfg, col, day.dt_h)
    check_ev(c, schedule, day, cfg, col)
    _check_cycles(c, schedule, day, cfg, col, forbidden_starts or {})
    if schedule.mode in RULE_MODES:
        c.items += baseline_battery_idle(schedule, day, cfg)
    wear = cfg.battery.cost_per_kwh_throughput if cfg.battery.enabled else 0.0
    check_cost(c, col, prices, wear)
    check_overlap(c, schedule, day)
    check_physical_cost(c, schedule, day, col, prices, wear)
    return c.items


def check_data(
    c: _Collector,
    day: DayData,
    col: dict[str, np.ndarray],
    prices: tuple[np.ndarray, np.ndarray],
) -> None:
    """data: the day's load, PV and prices are what the schedule used; negative: no energy
    column below zero."""
    imp_price, exp_price = prices
    for key, ref in (
        (S.FIXED_LOAD, day.fixed_load_kwh),
        (S.PV, day.pv_kwh),
        (S.IMPORT_PRICE, imp_price),
        (S.EXPORT_PRICE, exp_price),
    ):
        diff = col[key] - np.asarray(ref, dtype=float)
        c.steps("data", np.abs(diff) > TOL, f"{key} differs from the day data", diff)
    for key in [k for k in col if k.endswith("_kwh") and "_eur_" not in k]:
        c.steps("negative", col[key] < -TOL, f"{key} < 0", col[key])


def check_grid(c: _Collector, col: dict[str, np.ndarray], cfg: DictConfig, dt: float) -> None:
    """balance (supply = demand per step), grid_limit, pv_curtailed and exclusive_grid."""
    imp, exp, pv, curt = col[S.IMPORT], col[S.EXPORT], col[S.PV], col[S.PV_CURTAILED]
    supply = imp + (pv - curt) + col[S.BATTERY_DISCHARGE] + col[S.EV_DISCHARGE]
    demand = col[S.FIXED_LOAD] + col[S.APPLIANCES] + col[S.BATTERY_CHARGE] + col[S.EV_CHARGE] + exp
    c.steps("balance", np.abs(supply - demand) > TOL, "supply - demand", supply - demand)
    lim_i = cfg.building.grid_import_limit_kw * dt
    lim_e = cfg.building.grid_export_limit_kw * dt
    c.steps("grid_limit", imp > lim_i + TOL, f"import above {lim_i} kWh/step", imp)
    c.steps("grid_limit", exp > lim_e + TOL, f"export above {lim_e} kWh/step", exp)
    c.steps("pv_curtailed", curt > pv + TOL, "curtailed more PV than generated", curt - pv)
    c.steps(
        "exclusive_grid", (imp > TOL) & (exp > TOL), "imports and exports", np.minimum(imp, exp)
    )


def _flows(col: dict[str, np.ndarray], charge: str, discharge: str, energy: str) -> StorageFlows:
    return StorageFlows(col[charge], col[discharge], col[energy])


def check_battery(
    c: _Collector, schedule: DaySchedule, cfg: DictConfig, col: dict[str, np.ndarray], dt: float
) -> None:
    """battery_power, battery_bounds, battery_dynamics, exclusive_battery (or no use at all
    without a battery)."""
    f = _flows(col, S.BATTERY_CHARGE, S.BATTERY_DISCHARGE, S.BATTERY_ENERGY)
    b_ch, b_dis, b_e = f.charge, f.discharge, f.energy
    b = cfg.battery
    if not (b.enabled and b.capacity_kwh > 0):
        used = (np.abs(b_ch) + np.abs(b_dis) + np.abs(b_e)) > TOL
        c.steps("battery_power", used, "battery used although disabled", b_ch + b_dis)
        return
    c.steps("battery_power", b_ch > b.max_charge_kw * dt + TOL, "charge above limit", b_ch)
    c.steps("battery_power", b_dis > b.max_discharge_kw * dt + TOL, "discharge > limit", b_dis)
    lo, hi = b.soc_min * b.capacity_kwh, b.soc_max * b.capacity_kwh
    c.steps("battery_bounds", (b_e < lo - TOL) | (b_e > hi + TOL), "energy outside soc", b_e)
    _storage(c, "battery", f, schedule.battery_start_kwh, b, np.zeros(len(b_e)))


def check_ev(
    c: _Collector, schedule: DaySchedule, day: DayData, cfg: DictConfig, col: dict[str, np.ndarray]
) -> None:
    """ev_power, ev_v2g, ev_unplugged, ev_bounds, ev_dynamics, exclusive_ev, ev_requirement,
    ev_target (or no use at all without an EV); data: the plugged column matches the trips."""
    f = _flows(col, S.EV_CHARGE, S.EV_DISCHARGE, S.EV_ENERGY)
    e_ch, e_dis, e_e = f.charge, f.discharge, f.energy
    dt = day.dt_h
    e = cfg.ev
    plugged = evm.plugged_mask(day, cfg)
    if e.enabled:
        c.steps("ev_power", e_ch > e.charger_kw * dt + TOL, "charge above charger_kw", e_ch)
        dis_lim = e.discharge_kw * dt if e.v2g else 0.0
        c.steps("ev_v2g" if not e.v2g else "ev_power", e_dis > dis_lim + TOL, "discharge", e_dis)
        c.steps("ev_unplugged", ~plugged & ((e_ch > TOL) | (e_dis > TOL)), "away", e_ch + e_dis)
        c.steps("ev_bounds", (e_e < -TOL) | (e_e > e.capacity_kwh + TOL), "energy", e_e)
        reserve = e.soc_min * e.capacity_kwh
        c.steps("ev_v2g", (e_dis > TOL) & (e_e < reserve - TOL), "discharges below reserve", e_e)
        _storage(c, "ev", f, schedule.ev_start_kwh, e, evm.trip_deductions(day, cfg))
        for req in evm.trip_requirements(day, cfg):
            have = schedule.ev_start_kwh if req.step < 0 else e_e[req.step]
            if have < req.required_kwh - TOL:
                c.one(
                    "ev_requirement",
                    req.step,
                    f"holds {have:.3f} kWh < {req.required_kwh:.3f} kWh needed ({req.why})",
                )
        c.items += ev_below_target(schedule, day, cfg)
    else:
        used = (np.abs(e_ch) + np.abs(e_dis) + np.abs(e_e)) > TOL
        c.steps("ev_power", used, "EV used although disabled", e_ch + e_dis)
    if (schedule.table[S.EV_PLUGGED].to_numpy() != plugged.astype(int)).any():
        c.one("data", None, "ev_plugged column differs from the trips in the day data")


def check_cost(
    c: _Collector,
    col: dict[str, np.ndarray],
    prices: tuple[np.ndarray, np.ndarray],
    wear: float,
) -> None:
    """cost: each step's cost_eur = import x price - export x price + wear x throughput."""
    imp_price, exp_price = prices
    throughput = col[S.BATTERY_CHARGE] + col[S.BATTERY_DISCHARGE]
    cost = col[S.IMPORT] * imp_price - col[S.EXPORT] * exp_price + wear * throughput
    diff = col[S.COST] - cost
    c.steps("cost", np.abs(diff) > TOL, "cost_eur differs from import/export x prices", diff)


def _placed(schedule: DaySchedule, day: DayData):
    """(placement, its cycle of the day) for every placement naming a known cycle."""
    by_id = {cy.cycle_id: cy for cy in day.cycles}
    return [(p, by_id[p.cycle_id]) for p in schedule.placements if p.cycle_id in by_id]


def _real_loads(schedule: DaySchedule, day: DayData) -> dict[str, np.ndarray]:
    """kWh per step per device: each placed cycle's real profile at its placed start."""
    loads: dict[str, np.ndarray] = {}
    for p, cycle in _placed(schedule, day):
        load = loads.setdefault(cycle.device, np.zeros(day.n_steps))
        prof = np.asarray(cycle.profile_kwh, dtype=float)[: max(0, day.n_steps - p.start_step)]
        load[p.start_step : p.start_step + len(prof)] += prof
    return loads


def check_overlap(c: _Collector, schedule: DaySchedule, day: DayData) -> None:
    """cycle_overlap: one machine runs one programme at a time (one violation per step)."""
    running: dict[str, np.ndarray] = {}
    for p, cycle in _placed(schedule, day):
        count = running.setdefault(cycle.device, np.zeros(day.n_steps, dtype=int))
        count[max(0, p.start_step) : p.start_step + len(cycle.profile_kwh)] += 1
    for device, count in running.items():
        c.steps("cycle_overlap", count > 1, f"{device}: cycles running at once", count)


def check_physical_cost(
    c: _Collector,
    schedule: DaySchedule,
    day: DayData,
    col: dict[str, np.ndarray],
    prices: tuple[np.ndarray, np.ndarray],
    wear: float,
) -> None:
    """cost_physical: the reported day cost is what the physical schedule costs.

    Physical schedule: the real cycle profiles at the placed starts, the table's battery/EV
    flows and PV curtailment, the grid taking the rest (import = max(residual, 0), export =
    max(-residual, 0)); its cost is compared with the sum of the table's cost_eur.
    """
    real = sum(_real_loads(schedule, day).values(), np.zeros(day.n_steps))
    residual = (
        col[S.FIXED_LOAD] + real + col[S.BATTERY_CHARGE] + col[S.EV_CHARGE]
        - col[S.BATTERY_DISCHARGE] - col[S.EV_DISCHARGE] - (col[S.PV] - col[S.PV_CURTAILED])
    )  # fmt: skip
    imp, exp = np.maximum(residual, 0.0), np.maximum(-residual, 0.0)
    throughput = col[S.BATTERY_CHARGE] + col[S.BATTERY_DISCHARGE]
    physical = float(np.sum(imp * prices[0] - exp * prices[1] + wear * throughput))
    reported = float(np.sum(col[S.COST]))
    if abs(reported - physical) > COST_TOL_EUR:
        c.one(
            "cost_physical",
            None,
            f"reported cost {reported:.4f} EUR != the physical schedule's {physical:.4f} EUR "
            "(real cycle profiles at their starts)",
        )


def _check_cycles(
    c: _Collector,
    schedule: DaySchedule,
    day: DayData,
    cfg: DictConfig,
    col: dict[str, np.ndarray],
    forbidden: dict[str, set[int]],
) -> None:
    """appliance_total, cycle_duplicate, cycle_window, forbidden_start, cycle_missing and
    cycle_profile: every cycle runs once, in its window, with its real profile."""
    n = day.n_steps
    devs = devices(day, cfg)
    appl = col[S.APPLIANCES]
    total = np.sum([col[S.appliance_column(d)] for d in devs], axis=0) if devs else np.zeros(n)
    c.steps("appliance_total", np.abs(total - appl) > TOL, "appliances != sum of devices", appl)
    by_id = {cy.cycle_id: cy for cy in day.cycles}
    seen: dict[str, int] = {}
    expected = {d: np.zeros(n) for d in devs}
    rule = StartRule.from_config(cfg)
    for p in schedule.placements:
        cycle = by_id.get(p.cycle_id)
        if cycle is None or p.cycle_id in seen or p.device != cycle.device:
            c.one("cycle_duplicate", p.start_step, f"{p.cycle_id}: unknown, repeated or renamed")
            continue
        seen[p.cycle_id] = p.start_step
        if not _start_allowed(c, schedule, day, rule, (p, cycle), forbidden):
            continue
        prof = np.asarray(cycle.profile_kwh, dtype=float)
        expected[cycle.device][p.start_step : p.start_step + len(prof)] += prof
    for cy in day.cycles:
        if cy.cycle_id not in seen:
            c.one("cycle_missing", None, f"{cy.cycle_id} ({cy.device}) never runs")
    for d in devs:
        diff = col[S.appliance_column(d)] - expected[d]
        c.steps(
            "cycle_profile",
            np.abs(diff) > TOL,
            f"{d}: consumption differs from its placed cycles' real profiles "
            "(interrupted/moved/block/extra)",
            diff,
        )


def _start_allowed(
    c: _Collector,
    schedule: DaySchedule,
    day: DayData,
    rule: StartRule,
    placed: tuple[CyclePlacement, DayCycle],
    forbidden: dict[str, set[int]],
) -> bool:
    """cycle_window (False: outside the window) and forbidden_start of one placed cycle."""
    p, cycle = placed
    window = (
        range(cycle.observed_start_step, cycle.observed_start_step + 1)
        if (schedule.mode or BASELINE) == BASELINE
        else start_window(cycle, day, rule)
    )
    if p.start_step not in window:
        c.one(
            "cycle_window",
            p.start_step,
            f"{p.cycle_id} starts at step {p.start_step}, allowed {window.start}.."
            f"{window.stop - 1}",
        )
        return False
    hour = day.index.hour[p.start_step]
    if p.start_step != cycle.observed_start_step and hour in forbidden.get(cycle.device, set()):
        c.one("forbidden_start", p.start_step, f"{p.cycle_id} starts at a forbidden hour")
    return True


def ev_below_target(schedule: DaySchedule, day: DayData, cfg: DictConfig) -> list[Violation]:
    """ev_target: on a day the car is plugged in just before must_be_full_by_hour it holds
    target_soc x capacity at that hour (and until it leaves that day), or at least what charging
    at full power whenever plugged in, up to the target, reaches from the day's start (all the
    window allows). Checkpoints come from the table's own ev_plugged column and time index.
    """
    cfg = fast_cfg(cfg)
    e = cfg.ev
    if not e.enabled:
        return []
    tab = schedule.table
    energy = tab[S.EV_ENERGY].to_numpy(dtype=float)
    plugged = tab[S.EV_PLUGGED].to_numpy() == 1
    hours = np.asarray(tab.index.hour)
    dates = np.asarray(tab.index.date)
    target = e.target_soc * e.capacity_kwh
    _, reach = evm.charge_asap(day, cfg, schedule.ev_start_kwh, target)
    out = []
    for date in dict.fromkeys(dates):
        steps = np.nonzero(dates == date)[0]
        late = steps[hours[steps] >= e.must_be_full_by_hour]
        if not len(late):
            continue
        point = int(late[0]) - 1
        if not plugged[max(point, 0)]:
            continue
        away = [int(t) for t in late if not plugged[t]]
        hold = range(point, away[0]) if away and plugged[max(point, 0) : away[0]].all() else [point]
        for t in hold:
            have = schedule.ev_start_kwh if t < 0 else energy[t]
            need = min(target, schedule.ev_start_kwh if t < 0 else reach[t])
            if have < need - TOL:
                out.append(
                    Violation(
                        "ev_target",
                        t,
                        f"{date}: holds {have:.3f} kWh < {need:.3f} kWh (target_soc={e.target_soc} "
                        f"by {e.must_be_full_by_hour}:00, or all charging since arrival allows)",
                    )
                )
    return out


def baseline_battery_idle(schedule: DaySchedule, day: DayData, cfg: DictConfig) -> list[Violation]:
    """battery_idle: a self-consumption battery that holds energy above soc_min while the load
    exceeds PV must discharge min(deficit, power limit, what it holds above soc_min); less is
    a battery held back (as a per-day reserve rule would)."""
    cfg = fast_cfg(cfg)
    b = cfg.battery
    if not b.enabled or b.capacity_kwh <= 0:
        return []
    tab = schedule.table
    col = {k: tab[k].to_numpy(dtype=float) for k in (
        S.FIXED_LOAD, S.APPLIANCES, S.EV_CHARGE, S.PV, S.BATTERY_DISCHARGE, S.BATTERY_ENERGY,
    )}  # fmt: skip
    deficit = col[S.FIXED_LOAD] + col[S.APPLIANCES] + col[S.EV_CHARGE] - col[S.PV]
    before = np.concatenate([[schedule.battery_start_kwh], col[S.BATTERY_ENERGY][:-1]])
    above = before - b.soc_min * b.capacity_kwh
    could = np.minimum.reduce(
        [deficit, np.full(len(tab), b.max_discharge_kw * day.dt_h), above * b.discharge_efficiency]
    )
    idle = (deficit > TOL) & (above > TOL) & (col[S.BATTERY_DISCHARGE] < could - TOL)
    return [
        Violation(
            "battery_idle",
            int(t),
            f"load exceeds PV by {deficit[t]:.3f} kWh and the battery holds {above[t]:.3f} kWh "
            f"above soc_min, but discharges {col[S.BATTERY_DISCHARGE][t]:.3f} kWh",
        )
        for t in np.nonzero(idle)[0]
    ]


def period_end(optimized_end: object, baseline_end: object, date: object) -> list[Violation]:
    """period_end (end_storage=no_less): the optimized battery and EV each end the period with
    at least the baseline's energy (both StorageState-like: battery_kwh, ev_kwh)."""
    out = []
    for name in ("battery_kwh", "ev_kwh"):
        have, need = getattr(optimized_end, name), getattr(baseline_end, name)
        if have < need - 1e-4:
            out.append(
                Violation(
                    "period_end",
                    None,
                    f"{date}: optimized {name} ends at {have:.3f} < baseline's {need:.3f} "
                    "(pipeline.end_storage=no_less)",
                )
            )
    return out
