"""optimize_day: one day's schedule in the configured mode (the entry point pipelines call)."""

from __future__ import annotations

import numpy as np

from ems_sweep.config import EmsConfig, Mode
from ems_sweep.data.horizon import horizon_day
from ems_sweep.data.model import DayData
from ems_sweep.optimize import appliances as appl
from ems_sweep.optimize import ev as evm
from ems_sweep.optimize import milp
from ems_sweep.optimize.baseline import decentralized_day
from ems_sweep.optimize.fixing import FixedFlows
from ems_sweep.optimize.infeasibility import infeasibility_reason
from ems_sweep.optimize.realize import physical_table
from ems_sweep.optimize.schedule import DaySchedule, SolverStats
from ems_sweep.optimize.solver import SolveOutcome, solve
from ems_sweep.optimize.state import PeriodEnd, StorageState
from ems_sweep.optimize.tariffs import tariff_prices

MODES = tuple(m.value for m in Mode)


class SolverFailedError(RuntimeError):
    """The solver returned no usable schedule (infeasible, unbounded or nothing in time)."""


def _check_inputs(day: DayData, cfg: EmsConfig, state: StorageState) -> None:
    n = day.n_steps
    for name in ("fixed_load_kwh", "pv_kwh"):
        arr = np.asarray(getattr(day, name), dtype=float)
        if arr.shape != (n,) or np.isnan(arr).any() or (arr < 0).any():
            raise ValueError(
                f"day {day.date}: {name} must be {n} non-negative numbers without NaN "
                f"(shape {arr.shape})"
            )
    b = cfg.battery
    if b.enabled and b.capacity_kwh > 0:
        lo, hi = b.soc_min * b.capacity_kwh, b.soc_max * b.capacity_kwh
        if not lo - 1e-6 <= state.battery_kwh <= hi + 1e-6:
            raise ValueError(
                f"start battery energy {state.battery_kwh:.3f} kWh outside "
                f"[soc_min, soc_max] x capacity = [{lo:.3f}, {hi:.3f}] kWh"
            )
    if cfg.ev.enabled and not 0 <= state.ev_kwh <= cfg.ev.capacity_kwh + 1e-6:
        raise ValueError(
            f"start EV energy {state.ev_kwh:.3f} kWh outside [0, ev.capacity_kwh="
            f"{cfg.ev.capacity_kwh}]"
        )


def optimize_day(
    day: DayData,
    cfg: EmsConfig,
    state: StorageState,
    preferences: dict[str, np.ndarray] | None = None,
    period_end: PeriodEnd | None = None,
    fixed: FixedFlows | None = None,
) -> DaySchedule:
    """The schedule of `day` (one day or a horizon, see data.horizon) in mode cfg.mode.name.

    Raises InfeasibleDayError with the reason. period_end: the end-of-period storage rule, given
    when `day` ends with the period. The table is the physical schedule (real cycle profiles at
    the chosen starts, see realize.py), so its costs are what the house pays; `model_cost_eur`
    is the cost of the model's own flows (differs in `centralized`, which moves mean-power
    blocks). Neither includes the learned-preference penalty nor a storage value (they live only
    in the objective, SolverStats.objective). fixed: families held at given flows (MILP modes
    only; the attribution's "off", see fixing.py).
    """
    mode = cfg.mode.name.value  # the schedule's label (DaySchedule.mode); the schema's enum
    _check_inputs(day, cfg, state)
    evm.check_feasible(day, cfg, state.ev_kwh)
    if mode == Mode.decentralized.value:
        if fixed is not None:
            raise ValueError("fixed flows need a MILP mode; decentralized follows rules")
        return decentralized_day(day, cfg, state, preferences)
    prices = tariff_prices(day, cfg)
    problem = milp.DayProblem(day, state, mode, prices, preferences, period_end, fixed)
    return solve_day(problem, cfg)


def solve_day(problem: milp.DayProblem, cfg: EmsConfig) -> DaySchedule:
    """Build and solve the MILP of `problem`; its physical schedule, or a clear error."""
    day, mode = problem.day, problem.mode
    model = milp.build_model(problem, cfg)
    outcome = solve(model.prob, cfg, has_integers=model.n_binaries > 0)
    if outcome.status == "Infeasible":
        raise evm.InfeasibleDayError(
            f"day {day.date} ({mode}): the solver proved the day infeasible (the EV needs passed "
            f"the pre-check); {infeasibility_reason(model, cfg)}"
        )
    if outcome.status not in ("Optimal", "TimeLimit"):
        raise SolverFailedError(
            f"day {day.date} ({mode}): solver {cfg.solver.name} returned {outcome.status} "
            f"after {outcome.solve_s:.1f} s (time_limit_s={cfg.solver.time_limit_s})"
        )
    placements = appl.placements(model.appliances, day)
    table, model_table = physical_table(day, cfg, problem.prices, placements, mode, model.flows())
    notes = [] if outcome.status == "Optimal" else ["time limit hit: best schedule found so far"]
    return DaySchedule(
        table=table,
        placements=placements,
        stats=solver_stats(model, outcome),
        battery_start_kwh=problem.state.battery_kwh,
        ev_start_kwh=problem.state.ev_kwh,
        notes=notes,
        mode=mode,
        model_table=model_table,
    )


def solver_stats(model: milp.DayModel, outcome: SolveOutcome) -> SolverStats:
    """What the solve reports on the schedule: status, objective, gap, times and model size."""
    return SolverStats(
        status=outcome.status,
        objective=outcome.objective,
        mip_gap=outcome.mip_gap,
        build_s=model.build_s,
        solve_s=outcome.solve_s,
        n_variables=model.prob.numVariables(),
        n_constraints=model.prob.numConstraints(),
        n_binaries=model.n_binaries,
        solver_run_s=outcome.solver_run_s,
    )


def first_day(schedule: DaySchedule, day: DayData) -> DaySchedule:
    """The part of a horizon's schedule that is committed: its first local day `day`."""
    ids = {c.cycle_id for c in day.cycles}
    return DaySchedule(
        table=schedule.table.iloc[: day.n_steps].copy(),
        placements=[p for p in schedule.placements if p.cycle_id in ids],
        stats=schedule.stats,
        battery_start_kwh=schedule.battery_start_kwh,
        ev_start_kwh=schedule.ev_start_kwh,
        notes=schedule.notes,
        mode=schedule.mode,
        model_table=None
        if schedule.model_table is None
        else schedule.model_table.iloc[: day.n_steps].copy(),
    )


def optimize_horizon(
    days: list[DayData],
    cfg: EmsConfig,
    state: StorageState,
    preferences: dict[str, np.ndarray] | None = None,
    period_end: PeriodEnd | None = None,
    fixed: FixedFlows | None = None,
) -> DaySchedule:
    """Rolling horizon: plan `days` (today and the look-ahead) as one model, commit today.

    The decentralized mode plans no storage ahead (its devices follow rules), so it plans today.
    """
    if cfg.mode.name == Mode.decentralized or len(days) == 1:
        return optimize_day(days[0], cfg, state, preferences, period_end, fixed)
    planned = optimize_day(horizon_day(days), cfg, state, preferences, period_end, fixed)
    return first_day(planned, days[0])
