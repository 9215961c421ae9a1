"""Which constraint families make an infeasible day infeasible (a deletion filter).

The model's constraints are named by family (milp.FAMILIES); the rules that are variable bounds
(import and export limits, battery and EV power and energy bounds) are families too
(bound_families; relaxed, a bound family has no upper bound and a lower bound <= 0).
Starting from the whole model, each family is dropped in turn; a family whose removal leaves
the model still infeasible stays dropped, one whose removal makes it feasible is kept and
reported. What remains is an irreducible set of families: together they cannot hold, and
without any one of them the rest can. A day's model solves in tens of ms, so the filter costs
a few dozen solves of a day that has failed anyway.
"""

from __future__ import annotations

import time

import pulp

from ems_sweep.config import EmsConfig
from ems_sweep.optimize.milp import FAMILIES, DayModel, family_of
from ems_sweep.optimize.solver import solve


def bound_families(model: DayModel) -> dict[str, list[pulp.LpVariable]]:
    """The rules that are variable bounds, by name (relaxed: no upper bound, lower bound <= 0)."""
    g, b, e = model.grid, model.battery, model.ev
    groups = {
        "grid_import_limit": g.imp,
        "grid_export_limit": g.exp,
        "pv_curtailment_limit": g.curt,
        "battery_power_limit": b.ch + b.dis,
        "battery_energy_bounds": b.energy,
        "ev_charger_limit": e.ch + e.dis,
        "ev_capacity": e.energy,
    }
    return {
        name: [v for v in items if isinstance(v, pulp.LpVariable)] for name, items in groups.items()
    }


def _infeasible(
    model: DayModel, cfg: EmsConfig, dropped: set[str], bounds: dict[str, list]
) -> bool:
    """Is the model without the `dropped` families (constraints or bounds) still infeasible?"""
    sub = pulp.LpProblem(f"{model.prob.name}_without", pulp.LpMinimize)
    for constraint in model.prob.constraints():
        if family_of(constraint.name) not in dropped:
            sub.addConstraint(constraint, constraint.name)
    sub.setObjective(pulp.LpAffineExpression())  # feasibility only
    relaxed = [v for f in dropped if f in bounds for v in bounds[f]]
    saved = [(v.lowBound, v.upBound) for v in relaxed]
    try:
        for v in relaxed:
            v.upBound = None
            if v.lowBound is not None and v.lowBound > 0:
                v.lowBound = 0.0
        return solve(sub, cfg, has_integers=model.n_binaries > 0).status == "Infeasible"
    finally:
        for v, (lo, up) in zip(relaxed, saved, strict=True):
            v.lowBound, v.upBound = lo, up


def conflicting_families(model: DayModel, cfg: EmsConfig) -> tuple[list[str], bool]:
    """An irreducible set of families of a `model` proven infeasible (module docstring), and
    whether the filter finished: it stops once it has spent solver.time_limit_s, the families
    not examined by then counted as needed (a day's model takes ms; a hard MILP may not)."""
    started = time.perf_counter()
    bounds = bound_families(model)
    present = {family_of(c.name) for c in model.prob.constraints()}
    candidates = [f for f in FAMILIES if f in present] + [f for f, vs in bounds.items() if vs]
    dropped: set[str] = set()
    needed: list[str] = []
    for i, family in enumerate(candidates):
        if time.perf_counter() - started > float(cfg.solver.time_limit_s):
            return needed + candidates[i:], False
        if _infeasible(model, cfg, dropped | {family}, bounds):
            dropped.add(family)
        else:
            needed.append(family)
    return needed, True


def settings_of(families: list[str], cfg: EmsConfig) -> list[str]:
    """The configured values behind the families that come straight from settings."""
    b, e = cfg.battery, cfg.ev
    keys = {
        "grid_import_limit": [("building.grid_import_limit_kw", cfg.building.grid_import_limit_kw)],
        "grid_export_limit": [("building.grid_export_limit_kw", cfg.building.grid_export_limit_kw)],
        "battery_power_limit": [
            ("battery.max_charge_kw", b.max_charge_kw),
            ("battery.max_discharge_kw", b.max_discharge_kw),
        ],
        "battery_energy_bounds": [("battery.soc_min", b.soc_min), ("battery.soc_max", b.soc_max)],
        "ev_charger_limit": [("ev.charger_kw", e.charger_kw), ("ev.discharge_kw", e.discharge_kw)],
        "ev_capacity": [("ev.capacity_kwh", e.capacity_kwh)],
        "ev_target": [
            ("ev.target_soc", e.target_soc),
            ("ev.must_be_full_by_hour", e.must_be_full_by_hour),
        ],
        "period_end_storage": [("pipeline.end_storage", cfg.pipeline.end_storage.value)],
    }
    return [f"{k}={v}" for f in families for k, v in keys.get(f, [])]


def infeasibility_reason(model: DayModel, cfg: EmsConfig) -> str:
    """What an infeasible day's error says: the families in conflict and the settings behind."""
    families, complete = conflicting_families(model, cfg)
    if not families:
        return "no set of constraint families found that explains it"
    settings = settings_of(families, cfg)
    text = f"constraint families in conflict: {', '.join(families)} (without any one of them "
    text += "the rest holds)" if complete else "the rest may hold; stopped at solver.time_limit_s)"
    return text + (f"; settings involved: {', '.join(settings)}" if settings else "")
