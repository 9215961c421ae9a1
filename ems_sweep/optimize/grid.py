"""The grid connection: import, export and PV curtailment, the energy balance, the baseline rule.

All energies kWh per step, >= 0. Import and export are bounded by the connection's limits in the
MILP; the baseline (what happened) is not capped on import, the checker reports it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pulp

from ems_sweep.optimize.lp import Terms, add, step_vars, terms
from ems_sweep.optimize.table import GridFlows


def grid_exchange(residual_kwh: np.ndarray, export_limit_kwh: float) -> GridFlows:
    """The grid's flows from residual = demand - PV after storage (the baseline's rule, and the
    executed schedule's after its planned curtailment).

    Surplus beyond the export limit is curtailed; import is not capped (the baseline is what
    happened; the checker reports an import above the connection limit).
    """
    imp = np.maximum(residual_kwh, 0.0)
    surplus = np.maximum(-residual_kwh, 0.0)
    exp = np.minimum(surplus, export_limit_kwh)
    return GridFlows(imp, exp, surplus - exp)


@dataclass
class GridVars:
    """Per-step import, export and curtailed PV (constant 0 where there is no PV)."""

    imp: list
    exp: list
    curt: list
    limit_import_kwh: float
    limit_export_kwh: float
    n_binaries: int = 0


def grid_variables(
    prob: pulp.LpProblem, cfg: SimpleNamespace, n: int, dt_h: float, pv: np.ndarray
) -> GridVars:
    """0 <= import <= limit_import dt, 0 <= export <= limit_export dt, 0 <= curtailed <= pv."""
    lim_i = float(cfg.building.grid_import_limit_kw) * dt_h
    lim_e = float(cfg.building.grid_export_limit_kw) * dt_h
    return GridVars(
        imp=step_vars(prob, "imp", n, lim_i),
        exp=step_vars(prob, "exp", n, lim_e),
        curt=step_vars(prob, "curt", n, pv),
        limit_import_kwh=lim_i,
        limit_export_kwh=lim_e,
    )


def energy_balance(
    prob: pulp.LpProblem,
    g: GridVars,
    device_terms: list[Terms],
    fixed: np.ndarray,
    pv: np.ndarray,
) -> None:
    """energy_balance_<t>:  import - curtailed - export + sum(device terms) = fixed - pv.

    Device terms carry their sign: storage adds + discharge - charge, appliances - load.
    """
    for t in range(len(g.imp)):
        lhs = terms((g.imp[t], 1.0), (g.curt[t], -1.0), (g.exp[t], -1.0)) + device_terms[t]
        add(prob, lhs, pulp.LpConstraintEQ, float(fixed[t] - pv[t]), f"energy_balance_{t}")


def grid_exclusive(
    prob: pulp.LpProblem, g: GridVars, imp_price: np.ndarray, exp_price: np.ndarray
) -> None:
    """grid_exclusive_{imp,exp}_<t>:  import <= y I_max,  export <= (1 - y) X_max  at steps where
    import price <= export price (only there could importing and exporting at once pay)."""
    for t in np.nonzero(np.asarray(imp_price) <= np.asarray(exp_price))[0]:
        y = prob.add_variable(f"yg_{t}", 0, 1, cat=pulp.LpBinary)
        g.n_binaries += 1
        big_i, big_e = g.limit_import_kwh, g.limit_export_kwh
        add(
            prob,
            terms((g.imp[t], 1.0)) + [(y, -big_i)],
            pulp.LpConstraintLE,
            0.0,
            f"grid_exclusive_imp_{t}",
        )
        add(
            prob,
            terms((g.exp[t], 1.0)) + [(y, big_e)],
            pulp.LpConstraintLE,
            big_e,
            f"grid_exclusive_exp_{t}",
        )


def grid_cost_terms(g: GridVars, imp_price: np.ndarray, exp_price: np.ndarray, eps: float) -> Terms:
    """import x import price - export x export price (+ eps on export: tie-break only)."""
    out: Terms = []
    for t in range(len(g.imp)):
        out += terms((g.imp[t], float(imp_price[t])), (g.exp[t], -float(exp_price[t]) + eps))
    return out
