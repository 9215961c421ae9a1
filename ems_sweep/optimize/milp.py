"""The joint day-ahead MILP (centralized and centralized_phases modes), built with PuLP.

Per step t (all energies kWh per step, >= 0):
  import + (pv - curtailed) + bat_dis + ev_dis = fixed + appliances + bat_ch + ev_ch + export
  import <= limit_kw dt, export <= limit_kw dt, curtailed <= pv
  bat_E[t] = bat_E[t-1] + eta_c bat_ch - bat_dis / eta_d,  soc_min C <= bat_E <= soc_max C,
  bat_E[end] >= bat_E[start];  ev likewise with trips leaving at departure (see ev.py)
  appliances (appliances.py): each cycle once over its allowed starts, one programme at a time
  per device, load = sum_s x[c, s] profile[t - s]
Objective: import cost - export revenue + battery wear (+ learned start penalties).

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
from ems_sweep.optimize import ev as evm
from ems_sweep.optimize.cycles import plain
from ems_sweep.optimize.state import StorageState

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


def _vars(
    prob: pulp.LpProblem, prefix: str, n: int, ub: np.ndarray | float | None, lb: float = 0.0
) -> list:
    """Continuous variables per step; a step whose upper bound is 0 gets the constant 0."""
    ubs = np.broadcast_to(np.asarray(ub if ub is not None else np.inf, dtype=float), (n,))
    return [
        prob.add_variable(f"{prefix}_{t}", lb, None if np.isinf(u) else float(u))
        if u > 0 or lb < 0
        else 0.0
        for t, u in enumerate(ubs)
    ]


def _terms(*pairs: tuple[object, float]) -> list[tuple[pulp.LpVariable, float]]:
    return [(v, c) for v, c in pairs if isinstance(v, pulp.LpVariable) and c != 0.0]


def _add(prob: pulp.LpProblem, terms: list, sense: int, rhs: float) -> None:
    prob.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression(terms), sense, rhs=rhs))


def build_model(
    day: DayData,
    cfg: DictConfig,
    state: StorageState,
    mode: str,
    prices: tuple[np.ndarray, np.ndarray],
    preferences: dict[str, np.ndarray] | None = None,
) -> DayModel:
    """The day's MILP in `mode` (see module docstring); build time is recorded on the model."""
    started = time.perf_counter()
    n, dt = day.n_steps, day.dt_h
    imp_price, exp_price = prices
    b, e = plain(cfg.battery), plain(cfg.ev)
    lim_imp = float(cfg.building.grid_import_limit_kw)
    lim_exp = float(cfg.building.grid_export_limit_kw)
    pv = np.asarray(day.pv_kwh, dtype=float)
    fixed = np.asarray(day.fixed_load_kwh, dtype=float)
    prob = pulp.LpProblem(f"ems_{day.date}", pulp.LpMinimize)

    imp = _vars(prob, "imp", n, lim_imp * dt)
    exp = _vars(prob, "exp", n, lim_exp * dt)
    curt = _vars(prob, "curt", n, pv)
    bat_on = bool(b.enabled and b.capacity_kwh > 0)
    zeros = [0.0] * n
    if bat_on:
        b_ch = _vars(prob, "bch", n, b.max_charge_kw * dt)
        b_dis = _vars(prob, "bdis", n, b.max_discharge_kw * dt)
        b_e = _vars(prob, "be", n, b.soc_max * b.capacity_kwh, lb=b.soc_min * b.capacity_kwh)
    else:
        b_ch, b_dis, b_e = zeros, zeros, zeros
    plugged = evm.plugged_mask(day, cfg)
    if e.enabled:
        ev_ch = _vars(prob, "evch", n, np.where(plugged, e.charger_kw * dt, 0.0))
        ev_dis = _vars(
            prob, "evdis", n, np.where(plugged, e.discharge_kw * dt, 0.0) if e.v2g else 0.0
        )
        ev_e = [prob.add_variable(f"eve_{t}", 0.0, float(e.capacity_kwh)) for t in range(n)]
    else:
        ev_ch, ev_dis, ev_e = zeros, zeros, zeros

    appliances = appl.add_appliances(
        prob, day, appl.ApplianceParams.from_config(cfg, mode, preferences)
    )
    obj: list[tuple[pulp.LpVariable, float]] = list(appliances.objective)
    n_bin = appliances.n_binaries

    # energy balance: import + pv_used + dis - ch - export - appliances = fixed
    for t in range(n):
        terms = _terms(
            (imp[t], 1.0),
            (curt[t], -1.0),
            (b_dis[t], 1.0),
            (ev_dis[t], 1.0),
            (b_ch[t], -1.0),
            (ev_ch[t], -1.0),
            (exp[t], -1.0),
        )
        load = [(x, -kwh) for x, kwh in appliances.load[t]]
        _add(prob, terms + load, pulp.LpConstraintEQ, float(fixed[t] - pv[t]))

    wear = float(b.cost_per_kwh_throughput) if bat_on else 0.0
    for t in range(n):
        obj += _terms(
            (imp[t], float(imp_price[t])),
            (exp[t], -float(exp_price[t]) + EPS),
            (b_ch[t], wear + EPS),
            (b_dis[t], wear + EPS),
            (ev_dis[t], EPS),
        )

    if bat_on:
        big_c, big_d = b.max_charge_kw * dt, b.max_discharge_kw * dt
        prev: object = None
        for t in range(n):
            terms = _terms((b_e[t], 1.0), (b_ch[t], -b.charge_efficiency))
            terms += _terms((b_dis[t], 1.0 / b.discharge_efficiency))
            if prev is None:
                _add(prob, terms, pulp.LpConstraintEQ, float(state.battery_kwh))
            else:
                _add(prob, terms + [(prev, -1.0)], pulp.LpConstraintEQ, 0.0)
            prev = b_e[t]
        _add(prob, [(b_e[-1], 1.0)], pulp.LpConstraintGE, float(state.battery_kwh))
        for t in np.nonzero(imp_price < 0)[0]:
            y = prob.add_variable(f"yb_{t}", 0, 1, cat=pulp.LpBinary)
            n_bin += 1
            _add(prob, [(b_ch[t], 1.0), (y, -big_c)], pulp.LpConstraintLE, 0.0)
            _add(prob, [(b_dis[t], 1.0), (y, big_d)], pulp.LpConstraintLE, big_d)

    if e.enabled:
        out = evm.trip_deductions(day, cfg)
        prev = None
        for t in range(n):
            terms = _terms((ev_e[t], 1.0), (ev_ch[t], -e.charge_efficiency))
            terms += _terms((ev_dis[t], 1.0 / e.discharge_efficiency))
            rhs = -float(out[t])
            if prev is None:
                _add(prob, terms, pulp.LpConstraintEQ, rhs + float(state.ev_kwh))
            else:
                _add(prob, terms + [(prev, -1.0)], pulp.LpConstraintEQ, rhs)
            prev = ev_e[t]
        for req in evm.requirements(day, cfg):
            if req.step >= 0:
                _add(prob, [(ev_e[req.step], 1.0)], pulp.LpConstraintGE, req.required_kwh)
        end_min = evm.end_of_day_min(day, cfg, state.ev_kwh)
        _add(prob, [(ev_e[-1], 1.0)], pulp.LpConstraintGE, end_min)
        if e.v2g:
            reserve = e.soc_min * e.capacity_kwh
            big = e.discharge_kw * dt / e.discharge_efficiency
            for t in range(n):
                if isinstance(ev_dis[t], pulp.LpVariable):
                    # discharging only while the car holds its reserve (checked at step end)
                    z = prob.add_variable(f"zv_{t}", 0, 1, cat=pulp.LpBinary)
                    n_bin += 1
                    _add(
                        prob, [(ev_dis[t], 1.0), (z, -e.discharge_kw * dt)], pulp.LpConstraintLE, 0
                    )
                    _add(
                        prob,
                        [(ev_e[t], 1.0), (z, -(reserve + big))],
                        pulp.LpConstraintGE,
                        -big,
                    )
                    if imp_price[t] < 0:
                        _add(
                            prob,
                            [(ev_ch[t], 1.0), (z, e.charger_kw * dt)],
                            pulp.LpConstraintLE,
                            e.charger_kw * dt,
                        )

    for t in np.nonzero(imp_price <= exp_price)[0]:
        g = prob.add_variable(f"yg_{t}", 0, 1, cat=pulp.LpBinary)
        n_bin += 1
        big_i = lim_imp * dt
        big_e = lim_exp * dt
        _add(prob, _terms((imp[t], 1.0)) + [(g, -big_i)], pulp.LpConstraintLE, 0.0)
        _add(prob, _terms((exp[t], 1.0)) + [(g, big_e)], pulp.LpConstraintLE, big_e)

    prob.setObjective(pulp.LpAffineExpression(obj))
    return DayModel(
        prob=prob,
        n=n,
        imp=imp,
        exp=exp,
        curt=curt,
        b_ch=b_ch,
        b_dis=b_dis,
        b_e=b_e,
        ev_ch=ev_ch,
        ev_dis=ev_dis,
        ev_e=ev_e,
        appliances=appliances,
        n_binaries=n_bin,
        build_s=time.perf_counter() - started,
    )


def values(items: list) -> np.ndarray:
    """Solution values of a list of variables/constants (0 for unset)."""
    out = np.zeros(len(items))
    for i, v in enumerate(items):
        if isinstance(v, pulp.LpVariable):
            out[i] = v.varValue or 0.0
        else:
            out[i] = float(v)
    return out
