"""Small PuLP helpers shared by the device modules that build the MILP (no model logic here)."""

from __future__ import annotations

import numpy as np
import pulp

Terms = list[tuple[pulp.LpVariable, float]]


def step_vars(
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


def terms(*pairs: tuple[object, float]) -> Terms:
    """(variable, coefficient) pairs, constants and zero coefficients left out."""
    return [(v, c) for v, c in pairs if isinstance(v, pulp.LpVariable) and c != 0.0]


def add(prob: pulp.LpProblem, lhs: Terms, sense: int, rhs: float, name: str | None = None) -> None:
    """Add sum(lhs) <sense> rhs, named (names make an LP file readable and debuggable)."""
    prob.addConstraint(pulp.LpConstraint(pulp.LpAffineExpression(lhs), sense, rhs=rhs), name)
