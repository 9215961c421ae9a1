"""The home battery: its parameters, its baseline rule and its MILP variables and constraints.

All energies kWh per step; E[t] is the stored energy at the END of step t. The baseline is a
plain self-consumption controller (charge from PV surplus, discharge to cover the load down to
soc_min, state carried from day to day, no end-of-day rule); the optimizer's storage is bounded
per step only, the end of the period is handled by the pipeline (see milp.period_end_storage).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pulp

from ems_sweep.optimize.lp import Terms, add, step_vars, terms
from ems_sweep.optimize.table import StorageFlows


@dataclass(frozen=True)
class BatteryParams:
    """The battery's parameters as plain floats (read once from cfg.battery)."""

    capacity_kwh: float
    max_charge_kw: float
    max_discharge_kw: float
    eta_c: float
    eta_d: float
    e_min: float  # soc_min x capacity
    e_max: float  # soc_max x capacity
    wear_eur_per_kwh: float


def battery_params(cfg: SimpleNamespace) -> BatteryParams | None:
    """The configured battery, or None when there is none (disabled or zero capacity)."""
    b = cfg.battery
    if not b.enabled or b.capacity_kwh <= 0:
        return None
    return BatteryParams(
        capacity_kwh=float(b.capacity_kwh),
        max_charge_kw=float(b.max_charge_kw),
        max_discharge_kw=float(b.max_discharge_kw),
        eta_c=float(b.charge_efficiency),
        eta_d=float(b.discharge_efficiency),
        e_min=float(b.soc_min * b.capacity_kwh),
        e_max=float(b.soc_max * b.capacity_kwh),
        wear_eur_per_kwh=float(b.cost_per_kwh_throughput),
    )


def self_consumption(
    net_kwh: np.ndarray, cfg: SimpleNamespace, dt_h: float, start_kwh: float
) -> StorageFlows:
    """The baseline rule: the battery's flows per step from net = consumption - PV.

    Surplus (net < 0) charges what fits (power, soc_max); a deficit (net > 0) is covered by
    discharging down to soc_min. No reserve and no end-of-day target: what a self-consumption
    controller in a real house does, its state carried to the next day by the caller.
    """
    n = len(net_kwh)
    p = battery_params(cfg)
    if p is None:
        return StorageFlows.zeros(n)
    max_c, max_d = p.max_charge_kw * dt_h, p.max_discharge_kw * dt_h
    ch, dis, energy = [0.0] * n, [0.0] * n, [0.0] * n
    e = float(start_kwh)
    for t, net in enumerate(np.asarray(net_kwh, dtype=float).tolist()):
        if net < 0:
            ch[t] = max(0.0, min(-net, max_c, (p.e_max - e) / p.eta_c))
            e += p.eta_c * ch[t]
        elif net > 0:
            dis[t] = max(0.0, min(net, max_d, (e - p.e_min) * p.eta_d))
            e -= dis[t] / p.eta_d
        energy[t] = e
    return StorageFlows(np.array(ch), np.array(dis), np.array(energy))


@dataclass
class BatteryVars:
    """Per-step charge, discharge (grid side) and stored energy; constants 0 without battery."""

    ch: list
    dis: list
    energy: list
    n_binaries: int = 0


def battery_variables(
    prob: pulp.LpProblem, p: BatteryParams | None, n: int, dt_h: float
) -> BatteryVars:
    """0 <= ch <= max_charge_kw dt, 0 <= dis <= max_discharge_kw dt, e_min <= E <= e_max."""
    if p is None:
        return BatteryVars([0.0] * n, [0.0] * n, [0.0] * n)
    return BatteryVars(
        ch=step_vars(prob, "bch", n, p.max_charge_kw * dt_h),
        dis=step_vars(prob, "bdis", n, p.max_discharge_kw * dt_h),
        energy=step_vars(prob, "be", n, p.e_max, lb=p.e_min),
    )


def battery_soc(prob: pulp.LpProblem, v: BatteryVars, p: BatteryParams, start_kwh: float) -> None:
    """battery_soc_<t>:  E[t] = E[t-1] + eta_c ch[t] - dis[t] / eta_d,  E[-1] = start_kwh."""
    prev: object = None
    for t in range(len(v.energy)):
        lhs = terms((v.energy[t], 1.0), (v.ch[t], -p.eta_c), (v.dis[t], 1.0 / p.eta_d))
        if prev is None:
            add(prob, lhs, pulp.LpConstraintEQ, float(start_kwh), f"battery_soc_{t}")
        else:
            add(prob, lhs + [(prev, -1.0)], pulp.LpConstraintEQ, 0.0, f"battery_soc_{t}")
        prev = v.energy[t]


def battery_exclusive(
    prob: pulp.LpProblem, v: BatteryVars, p: BatteryParams, dt_h: float, imp_price: np.ndarray
) -> None:
    """battery_exclusive_{ch,dis}_<t>:  ch <= y C_max,  dis <= (1 - y) D_max  at steps with import
    price < 0 (only there could charging and discharging at once pay: burning energy)."""
    big_c, big_d = p.max_charge_kw * dt_h, p.max_discharge_kw * dt_h
    for t in np.nonzero(np.asarray(imp_price) < 0)[0]:
        y = prob.add_variable(f"yb_{t}", 0, 1, cat=pulp.LpBinary)
        v.n_binaries += 1
        add(
            prob, [(v.ch[t], 1.0), (y, -big_c)], pulp.LpConstraintLE, 0.0,
            f"battery_exclusive_ch_{t}",
        )  # fmt: skip
        add(
            prob, [(v.dis[t], 1.0), (y, big_d)], pulp.LpConstraintLE, big_d,
            f"battery_exclusive_dis_{t}",
        )  # fmt: skip


def battery_balance_terms(v: BatteryVars, t: int) -> Terms:
    """The battery's part of the energy balance at step t: + discharge - charge."""
    return terms((v.dis[t], 1.0), (v.ch[t], -1.0))


def battery_cost_terms(v: BatteryVars, p: BatteryParams | None, eps: float) -> Terms:
    """Wear on throughput (reported cost) plus eps (tie-break only) on charge and discharge."""
    wear = p.wear_eur_per_kwh if p is not None else 0.0
    out: Terms = []
    for t in range(len(v.ch)):
        out += terms((v.ch[t], wear + eps), (v.dis[t], wear + eps))
    return out


def battery_fixed(
    prob: pulp.LpProblem, v: BatteryVars, charge: np.ndarray, discharge: np.ndarray
) -> None:
    """battery_fixed_{ch,dis}_<t>:  ch[t] = charge[t],  dis[t] = discharge[t]  (given flows,
    e.g. the baseline's: the battery "off" for the attribution; E follows from battery_soc)."""
    for t in range(len(v.ch)):
        for kind, var, kwh in (("ch", v.ch[t], charge[t]), ("dis", v.dis[t], discharge[t])):
            add(
                prob,
                terms((var, 1.0)),
                pulp.LpConstraintEQ,
                float(kwh),
                f"battery_fixed_{kind}_{t}",
            )
