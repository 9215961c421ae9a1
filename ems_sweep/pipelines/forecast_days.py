"""Plan on forecasts, pay on actuals: the optimized schedule a real EMS would have run.

Each day, at midnight, the optimizer plans its rolling horizon on the forecaster's days (made
only from data before that midnight, data/forecast.py) and commits today; the plan is executed
against the actual day (optimize/execute.py), and the executed schedule is what the checker
verifies, what is costed and what is carried to the next day as state. When no plan can be made
(no usable history, or the forecast day is infeasible), the house runs its own controllers that
day (the baseline rules from the executed state) and the row says so (forecast_plan_failed).
The perfect-foresight run of the same job stays beside it (DayRun.perfect), so every row holds
the perfect cost and the value of perfect information = executed cost - perfect cost.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from ems_sweep.data.forecast import (
    Forecaster,
    ForecastError,
    History,
    forecast_errors,
    known_part,
)
from ems_sweep.data.horizon import day_tail
from ems_sweep.data.model import DayData
from ems_sweep.optimize import schedule as S
from ems_sweep.optimize.execute import PlanInForce, execute_plan
from ems_sweep.optimize.schedule import DaySchedule
from ems_sweep.optimize.state import StorageState, end_state
from ems_sweep.pipelines import kpis
from ems_sweep.pipelines.planning import (
    VIOLATIONS,
    Horizon,
    JobPeriod,
    Planner,
    RunOptions,
    checker_verdict,
)

if TYPE_CHECKING:
    from ems_sweep.pipelines.days import DayRun

log = logging.getLogger(__name__)


def execute_days(
    runs: list[DayRun], period: JobPeriod, planner: Planner, options: RunOptions
) -> StorageState:
    """Replace each run's optimized schedule by the executed one; returns the final state.

    Plans without learned preferences; options.forecaster and options.history must be set."""
    from ems_sweep.optimize import baseline_day, check_schedule

    cfg, timings = planner.cfg, planner.timings
    planner = planner.without_preferences()
    forecaster, history = options.forecaster, options.history
    assert forecaster is not None and history is not None, "run_days sets both"
    state = period.start
    for i, run in enumerate(runs):
        perfect_row = dict(run.row)
        run.perfect, run.reference = run.optimized, None
        planned = period.planned(i)
        end_rule = period.end_rule_for(planned)
        history_now = History(history, before=run.date)
        plan, reason, horizon = None, "", None
        try:
            ahead = [forecaster.forecast(history_now, known_part(period.days[d])) for d in planned]
            horizon = Horizon(ahead, end_rule)
            plan, reason = planner.plan(horizon, state)
        except ForecastError as exc:
            reason = str(exc)
        actual = period.days[run.date]
        figures: dict[str, float] = {"forecast_plan_failed": float(plan is None)}
        if plan is not None and horizon is not None:
            replans = replan_day(plan, horizon, actual, state, forecaster, planner)
            in_force, today = PlanInForce(plan, replans), horizon.days[0]
            executed, more = execute_plan(
                in_force, today, actual, cfg, state, forecaster.knows_cycles
            )
            figures["replans"] = float(len(replans))
            figures.update(more)
            figures["planned_cost_eur"] = float(plan.table["cost_eur"].sum())
        else:
            log.warning(
                "%s: no plan (%s); the house's own controllers run the day", run.date, reason
            )
            executed = baseline_day(actual, cfg, state)
            executed.notes.append(f"no plan ({reason}): baseline rules from the executed state")
        if horizon is not None:
            figures.update(forecast_errors(horizon.days[0], actual))
        run.planned, run.optimized = plan, executed
        run.reason = "" if plan is not None else f"no plan: {reason}"
        started = time.perf_counter()
        run.violations = list(check_schedule(executed, actual, cfg, options.forbidden_starts))
        timings.check_s += time.perf_counter() - started
        _verdict(run, perfect_row)
        run.row = kpis.day_row(run, cfg, None)
        run.row.update(figures)
        run.row.update(perfect_figures(perfect_row, run.row))
        state = end_state(executed)  # what physically happened, violations or not
        log.info("%s executed: %s %s", run.date, run.status, run.reason)
    return state


def _verdict(run: DayRun, perfect_row: dict[str, Any]) -> None:
    """The executed day's status: the baseline's own violations stay the day's verdict, else
    the checker's verdict on the executed schedule."""
    if run.status == VIOLATIONS and perfect_row.get("reason", "").startswith("baseline"):
        return
    run.status, reason = checker_verdict(run.violations)
    run.reason = reason or run.reason


def replan_day(
    plan: DaySchedule,
    horizon: Horizon,
    actual: DayData,
    state: StorageState,
    forecaster: Forecaster,
    planner: Planner,
) -> list[tuple[int, DaySchedule]]:
    """forecast.replan_hours: every N hours, re-plan the rest of today plus the look-ahead from
    the state the execution so far has reached (same forecasts; a forecast that knows the
    cycles is not re-planned). A re-plan that fails leaves the plan before it in force."""
    cfg = planner.cfg
    hours = OmegaConf.select(cfg, "forecast.replan_hours")
    if not hours or forecaster.knows_cycles:
        return []
    today = horizon.days[0]
    every = max(1, int(round(hours / actual.dt_h)))
    replans: list[tuple[int, DaySchedule]] = []
    for step in range(every, actual.n_steps, every):
        so_far, _ = execute_plan(PlanInForce(plan, replans), today, actual, cfg, state, False)
        table = so_far.table
        now = StorageState(
            float(table[S.BATTERY_ENERGY].iloc[step - 1]), float(table[S.EV_ENERGY].iloc[step - 1])
        )
        rest = replace(horizon, days=[day_tail(today, step), *horizon.days[1:]])
        later, reason = planner.plan(rest, now)
        if later is None:
            log.info("%s: re-plan at step %d failed (%s)", actual.date, step, reason)
            continue
        replans.append((step, later))
    return replans


def perfect_figures(perfect_row: dict[str, Any], row: dict[str, Any]) -> dict[str, float]:
    """The perfect-foresight cost and savings of the day and the value of perfect information."""
    cost = (
        perfect_row.get("optimized_cost_eur", np.nan) if perfect_row["status"] == "ok" else np.nan
    )
    base = row["baseline_cost_eur"]
    executed = row.get("optimized_cost_eur", np.nan)
    return {
        "perfect_status": perfect_row["status"],
        "perfect_cost_eur": float(cost),
        "perfect_savings_eur": float(base - cost),
        "value_of_perfect_information_eur": float(executed - cost),
    }


EXECUTION_RULE = (
    "Each day at midnight the optimizer plans its horizon on the forecasts (data before that "
    "midnight only; day-ahead prices known; no appliance cycle known in advance) and commits "
    "today. The plan is executed against the actual day: each cycle is placed when the user "
    "starts it, at the start in its delay window that is cheapest at the plan's marginal price "
    "(export price where the plan exports, else import price); the EV charges the plan's "
    "setpoint while actually plugged in, charges on arrival when it arrives unplanned, and at "
    "least what keeps its target reachable by the target hour; the battery follows the planned "
    "grid exchange (it covers extra load and stores extra PV) within its power and energy "
    "limits, but never discharges into export nor charges from the grid beyond its setpoint; "
    "the grid takes the rest. Costs, the checker and the next day's state are the executed "
    "schedule's."
)

FIGURES = [
    ("baseline_cost", "baseline cost", "EUR"),
    ("total_cost", "executed cost", "EUR"),
    ("planned_cost", "planned cost (on the forecasts)", "EUR"),
    ("perfect_total_cost", "perfect-foresight cost", "EUR"),
    ("savings_eur", "executed savings (incl. end-of-period storage)", "EUR"),
    ("perfect_savings_eur", "perfect-foresight savings (incl. end-of-period storage)", "EUR"),
    ("value_of_perfect_information_eur", "value of perfect information", "EUR"),
    ("forecast_load_mae_kwh", "load forecast MAE per step", "kWh"),
    ("forecast_load_bias_kwh", "load forecast bias per step", "kWh"),
    ("forecast_load_error_pct", "load forecast absolute error / actual load", "%"),
    ("forecast_pv_mae_kwh", "PV forecast MAE per step", "kWh"),
    ("forecast_pv_bias_kwh", "PV forecast bias per step", "kWh"),
    ("forecast_pv_error_pct", "PV forecast absolute error / actual PV", "%"),
    ("ev_unmet_need_kwh", "EV need not met in execution", "kWh"),
    ("forecast_plan_failed_days", "days without a plan (house controllers ran)", "days"),
]


def forecast_section(cfg: DictConfig, metrics: dict[str, float]) -> str:
    """report.md: the forecaster, the execution rule and the executed vs perfect figures."""
    name = getattr(cfg.forecast.name, "value", cfg.forecast.name)
    rows = [
        f"| {label} | {metrics[key]:.3f} | {unit} |"
        for key, label, unit in FIGURES
        if key in metrics
    ]
    return "\n".join(
        [
            f"## Forecast: plan on forecasts, pay on actuals (forecast={name})",
            "",
            EXECUTION_RULE,
            "",
            "| figure | value | unit |",
            "|---|---|---|",
            *rows,
            "",
        ]
    )
