"""The joint MILP (centralized and centralized_phases modes) over a day or a horizon, with PuLP.

Per step t (all energies kWh per step, >= 0), each family a named function in its device module:
  grid.energy_balance      import + (pv - curtailed) + bat_dis + ev_dis
                               = fixed + appliances + bat_ch + ev_ch + export
  grid.grid_variables      import <= limit_kw dt, export <= limit_kw dt, curtailed <= pv
  battery.battery_soc      bat_E[t] = bat_E[t-1] + eta_c bat_ch - bat_dis / eta_d,
                           soc_min C <= bat_E <= soc_max C (no end-of-day rule)
  ev.ev_soc / ev.ev_needs  ev likewise with trips leaving at departure, needs before departures
                           and the daily target (see ev.py)
  appliances.*             each cycle once over its allowed starts, one programme at a time
                           per device, load = sum_s x[c, s] profile[t - s]
  *_fixed (optional)       a flexibility held at given flows (fixing.FixedFlows): cycles at
                           their observed starts, battery / EV flows = the baseline's
  period_end_storage       at the end of the period only: bat_E and ev_E >= the baseline's
                           (end_storage=no_less), or stored energy valued in the objective
Objective: import cost - export revenue + battery wear (+ learned start penalties)
           (- end-of-period storage value).

Binaries that forbid simultaneous import/export (or charge/discharge) are added only at steps
where doing both could pay (import price <= export price; import price < 0); everywhere else a
tiny throughput cost (EPS, not part of any reported cost) makes wasting energy strictly worse,
so the solution is exclusive without them. The checker verifies exclusivity independently.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pulp

from ems_sweep.config import EmsConfig
from ems_sweep.data.model import DayData
from ems_sweep.optimize import appliances as appl
from ems_sweep.optimize import battery as bat
from ems_sweep.optimize import ev as evm
from ems_sweep.optimize import grid
from ems_sweep.optimize.fixing import FixedFlows
from ems_sweep.optimize.lp import add, terms
from ems_sweep.optimize.state import PeriodEnd, StorageState

EPS = 1e-5  # EUR/kWh on storage throughput and export: breaks ties against wasting energy


@dataclass
class DayModel:
    """The built problem and the handles needed to read the solution back."""

    prob: pulp.LpProblem
    n: int
    imp: list
    exp: list
    curt: list  # LpVariable or 0.0 where there is no PV
    b_ch: list
    b_dis: list
    b_e: list
    ev_ch: list
    ev_dis: list
    ev_e: list
    appliances: appl.ApplianceVars = field(default_factory=appl.ApplianceVars)
    n_binaries: int = 0
    build_s: float = 0.0


def period_end_storage(
    prob: pulp.LpProblem, b_e: list, ev_e: list, end: PeriodEnd
) -> list[tuple[pulp.LpVariable, float]]:
    """period_end_{battery,ev}:  bat_E[end] >= baseline's,  ev_E[end] >= baseline's
    (end_storage=no_less); with a price instead, returns the objective terms
    - price x (bat_E[end] + ev_E[end])."""
    stored = terms((b_e[-1], 1.0), (ev_e[-1], 1.0))
    if end.minimum is None:
        return [(v, -float(end.value_eur_per_kwh) * c) for v, c in stored]
    for name, last, floor in (
        ("battery", b_e[-1], end.minimum.battery_kwh),
        ("ev", ev_e[-1], end.minimum.ev_kwh),
    ):
        if isinstance(last, pulp.LpVariable):
            add(prob, [(last, 1.0)], pulp.LpConstraintGE, float(floor) - 1e-6, f"period_end_{name}")
    return []


def build_model(
    day: DayData,
    cfg: EmsConfig,
    state: StorageState,
    mode: str,
    prices: tuple[np.ndarray, np.ndarray],
    preferences: dict[str, np.ndarray] | None = None,
    period_end: PeriodEnd | None = None,
    fixed_flows: FixedFlows | None = None,
) -> DayModel:
    """The MILP of `day` (one day or a horizon) in `mode` (see module docstring).

    period_end: given when the model's last step is the end of the period. fixed_flows: families
    held at given flows (the attribution's "off"). Build time is recorded on the model.
    """
    started = time.perf_counter()
    n, dt = day.n_steps, day.dt_h
    imp_price, exp_price = prices
    pv = np.asarray(day.pv_kwh, dtype=float)
    fixed = np.asarray(day.fixed_load_kwh, dtype=float)
    prob = pulp.LpProblem(f"ems_{day.date}", pulp.LpMinimize)

    g = grid.grid_variables(prob, cfg, n, dt, pv)
    bp = bat.battery_params(cfg)
    b = bat.battery_variables(prob, bp, n, dt)
    ev = evm.ev_variables(prob, day, cfg)

    appliances = appl.add_appliances(
        prob, day, appl.ApplianceParams.from_config(cfg, mode, preferences)
    )
    obj: list[tuple[pulp.LpVariable, float]] = list(appliances.objective)

    device_terms = [
        bat.battery_balance_terms(b, t)
        + evm.ev_balance_terms(ev, t)
        + [(x, -kwh) for x, kwh in appliances.load[t]]
        for t in range(n)
    ]
    grid.energy_balance(prob, g, device_terms, fixed, pv)
    grid.grid_exclusive(prob, g, imp_price, exp_price)
    obj += grid.grid_cost_terms(g, imp_price, exp_price, EPS)
    obj += bat.battery_cost_terms(b, bp, EPS)
    obj += evm.ev_cost_terms(ev, EPS)

    if bp is not None:
        bat.battery_soc(prob, b, bp, state.battery_kwh)
        bat.battery_exclusive(prob, b, bp, dt, imp_price)
    if cfg.ev.enabled:
        evm.ev_soc(prob, ev, day, cfg, state.ev_kwh)
        evm.ev_needs(prob, ev, day, cfg, state.ev_kwh)
        if cfg.ev.v2g:
            evm.ev_v2g(prob, ev, day, cfg, imp_price)
    if fixed_flows is not None:
        add_fixed(prob, day, fixed_flows, appliances, b, ev)
    if period_end is not None:
        obj += period_end_storage(prob, b.energy, ev.energy, period_end)

    prob.setObjective(pulp.LpAffineExpression(obj))
    return DayModel(
        prob=prob,
        n=n,
        imp=g.imp,
        exp=g.exp,
        curt=g.curt,
        b_ch=b.ch,
        b_dis=b.dis,
        b_e=b.energy,
        ev_ch=ev.ch,
        ev_dis=ev.dis,
        ev_e=ev.energy,
        appliances=appliances,
        n_binaries=appliances.n_binaries + g.n_binaries + b.n_binaries + ev.n_binaries,
        build_s=time.perf_counter() - started,
    )


def add_fixed(
    prob: pulp.LpProblem,
    day: DayData,
    fixed: FixedFlows,
    appliances: appl.ApplianceVars,
    b: bat.BatteryVars,
    ev: evm.EVVars,
) -> None:
    """The families `fixed` names, each its device module's *_fixed constraints."""
    if fixed.appliances:
        appl.appliances_fixed(prob, day, appliances)
    if fixed.battery is not None:
        bat.battery_fixed(prob, b, *fixed.battery)
    if fixed.ev_charge is not None:
        evm.ev_fixed(prob, ev, fixed.ev_charge)


def values(items: list) -> np.ndarray:
    """Solution values of a list of variables/constants (0 for unset)."""
    out = np.zeros(len(items))
    for i, v in enumerate(items):
        if isinstance(v, pulp.LpVariable):
            out[i] = v.varValue or 0.0
        else:
            out[i] = float(v)
    return out
