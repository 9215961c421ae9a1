"""The joint MILP (centralized and centralized_phases modes) over a day or a horizon, with PuLP.

Per step t (all energies kWh per step, >= 0), each constraint family a named function in its
device module, its constraints named <family>_<index> (FAMILIES lists them all):
  grid.energy_balance      import + (pv - curtailed) + bat_dis + ev_dis
                               = fixed + appliances + bat_ch + ev_ch + export
  grid.grid_variables      import <= limit_kw dt, export <= limit_kw dt, curtailed <= pv (bounds)
  grid.grid_exclusive      no import and export at once where that could pay
  battery.battery_soc      bat_E[t] = bat_E[t-1] + eta_c bat_ch - bat_dis / eta_d,
                           soc_min C <= bat_E <= soc_max C (bounds; no end-of-day rule)
  ev.ev_soc / ev.ev_trip_need / ev.ev_target / ev.ev_v2g
                           the EV likewise with trips leaving at departure, needs before
                           departures and the daily target (see ev.py)
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
from omegaconf import DictConfig

from ems_sweep.data.model import DayData
from ems_sweep.optimize import appliances as appl
from ems_sweep.optimize import battery as bat
from ems_sweep.optimize import ev as evm
from ems_sweep.optimize import grid
from ems_sweep.optimize.fixing import FixedFlows
from ems_sweep.optimize.lp import Terms, add, terms
from ems_sweep.optimize.state import PeriodEnd, StorageState
from ems_sweep.optimize.table import Flows, GridFlows, StorageFlows

EPS = 1e-5  # EUR/kWh on storage throughput and export: breaks ties against wasting energy

# Every constraint family of the model: each constraint is named <family>_<index>.
FAMILIES = (
    "energy_balance",
    "grid_exclusive",
    "battery_soc",
    "battery_exclusive",
    "battery_fixed",
    "ev_soc",
    "ev_trip_need",
    "ev_target",
    "ev_v2g",
    "ev_fixed",
    "cycle_once",
    "device_one_programme",
    "appliances_fixed",
    "period_end_storage",
)


def family_of(constraint_name: str) -> str:
    """The family a constraint belongs to (by its name's prefix; ValueError if none)."""
    for family in FAMILIES:
        if constraint_name.startswith(family + "_"):
            return family
    raise ValueError(f"constraint {constraint_name!r} belongs to no family of milp.FAMILIES")


@dataclass(frozen=True)
class DayProblem:
    """What one model is built from besides the config: a day (or horizon) and its rules.

    period_end: given when the model's last step is the end of the period. fixed_flows:
    families held at given flows (the attribution's "off"). preferences: learned start
    probabilities per device (pipeline B).
    """

    day: DayData
    state: StorageState
    mode: str
    prices: tuple[np.ndarray, np.ndarray]
    preferences: dict[str, np.ndarray] | None = None
    period_end: PeriodEnd | None = None
    fixed_flows: FixedFlows | None = None


@dataclass
class DayModel:
    """The built problem and the handles needed to read the solution back."""

    prob: pulp.LpProblem
    grid: grid.GridVars
    battery: bat.BatteryVars
    ev: evm.EVVars
    appliances: appl.ApplianceVars = field(default_factory=appl.ApplianceVars)
    build_s: float = 0.0

    @property
    def n_binaries(self) -> int:
        return (
            self.appliances.n_binaries
            + self.grid.n_binaries
            + self.battery.n_binaries
            + self.ev.n_binaries
        )

    def flows(self) -> Flows:
        """The solution's grid, battery and EV flows (call after solving)."""
        g, b, e = self.grid, self.battery, self.ev
        return Flows(
            grid=GridFlows(values(g.imp), values(g.exp), values(g.curt)),
            battery=StorageFlows(values(b.ch), values(b.dis), values(b.energy)),
            ev=StorageFlows(values(e.ch), values(e.dis), values(e.energy)),
        )


def period_end_storage(
    prob: pulp.LpProblem, b_e: list, ev_e: list, end: PeriodEnd
) -> list[tuple[pulp.LpVariable, float]]:
    """period_end_storage_{battery,ev}:  bat_E[end] >= baseline's,  ev_E[end] >= baseline's
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
            add(
                prob, [(last, 1.0)], pulp.LpConstraintGE, float(floor) - 1e-6,
                f"period_end_storage_{name}",
            )  # fmt: skip
    return []


def build_model(problem: DayProblem, cfg: DictConfig) -> DayModel:
    """The MILP of `problem` (one day or a horizon) in its mode (see module docstring).

    Build time is recorded on the model.
    """
    started = time.perf_counter()
    day = problem.day
    n, dt = day.n_steps, day.dt_h
    pv = np.asarray(day.pv_kwh, dtype=float)
    prob = pulp.LpProblem(f"ems_{day.date}", pulp.LpMinimize)
    params = appl.ApplianceParams.from_config(cfg, problem.mode, problem.preferences)
    model = DayModel(
        prob=prob,
        grid=grid.grid_variables(prob, cfg, n, dt, pv),
        battery=bat.battery_variables(prob, bat.battery_params(cfg), n, dt),
        ev=evm.ev_variables(prob, day, cfg),
        appliances=appl.add_appliances(prob, day, params),
    )
    objective = list(model.appliances.objective) + grid_constraints(model, problem)
    objective += storage_constraints(model, problem, cfg)
    if problem.fixed_flows is not None:
        add_fixed(model, day, problem.fixed_flows)
    if problem.period_end is not None:
        b_e, ev_e = model.battery.energy, model.ev.energy
        objective += period_end_storage(prob, b_e, ev_e, problem.period_end)
    prob.setObjective(pulp.LpAffineExpression(objective))
    model.build_s = time.perf_counter() - started
    return model


def grid_constraints(model: DayModel, problem: DayProblem) -> Terms:
    """The energy balance and grid exclusivity; returns the grid's objective terms."""
    day, (imp_price, exp_price) = problem.day, problem.prices
    b, ev, loads = model.battery, model.ev, model.appliances.load
    device_terms = [
        bat.battery_balance_terms(b, t)
        + evm.ev_balance_terms(ev, t)
        + [(x, -kwh) for x, kwh in loads[t]]
        for t in range(day.n_steps)
    ]
    fixed = np.asarray(day.fixed_load_kwh, dtype=float)
    pv = np.asarray(day.pv_kwh, dtype=float)
    grid.energy_balance(model.prob, model.grid, device_terms, fixed, pv)
    grid.grid_exclusive(model.prob, model.grid, imp_price, exp_price)
    return grid.grid_cost_terms(model.grid, imp_price, exp_price, EPS)


def storage_constraints(model: DayModel, problem: DayProblem, cfg: DictConfig) -> Terms:
    """The battery's and the EV's families; returns their objective terms (wear, tie-breaks)."""
    prob, day, state = model.prob, problem.day, problem.state
    imp_price = problem.prices[0]
    b, ev = model.battery, model.ev
    bp = bat.battery_params(cfg)
    objective = bat.battery_cost_terms(b, bp, EPS) + evm.ev_cost_terms(ev, EPS)
    if bp is not None:
        bat.battery_soc(prob, b, bp, state.battery_kwh)
        bat.battery_exclusive(prob, b, bp, day.dt_h, imp_price)
    if cfg.ev.enabled:
        evm.ev_soc(prob, ev, day, cfg, state.ev_kwh)
        evm.ev_trip_need(prob, ev, day, cfg)
        evm.ev_target(prob, ev, day, cfg, state.ev_kwh)
        if cfg.ev.v2g:
            evm.ev_v2g(prob, ev, day, cfg, imp_price)
    return objective


def add_fixed(model: DayModel, day: DayData, fixed: FixedFlows) -> None:
    """The families `fixed` names, each its device module's *_fixed constraints."""
    if fixed.appliances:
        appl.appliances_fixed(model.prob, day, model.appliances)
    if fixed.battery is not None:
        bat.battery_fixed(model.prob, model.battery, *fixed.battery)
    if fixed.ev_charge is not None:
        evm.ev_fixed(model.prob, model.ev, fixed.ev_charge)


def values(items: list) -> np.ndarray:
    """Solution values of a list of variables/constants (0 for unset)."""
    out = np.zeros(len(items))
    for i, v in enumerate(items):
        if isinstance(v, pulp.LpVariable):
            out[i] = v.varValue or 0.0
        else:
            out[i] = float(v)
    return out
