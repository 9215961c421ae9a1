"""The day loop both pipelines share: baseline and optimized schedule per day, checked, with KPIs.

Baseline and optimized each carry their own storage state (battery, EV) over midnight. When a
day's optimization fails, the next optimized day starts from the baseline's end state: that is
what the house would have done that day without the EMS.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from omegaconf import DictConfig

from ems_sweep.data.model import BuildingData, DayData
from ems_sweep.optimize import schedule as S
from ems_sweep.optimize.schedule import DaySchedule
from ems_sweep.pipelines import kpis

log = logging.getLogger(__name__)

OK = "ok"
INFEASIBLE = "infeasible"  # the solver found no schedule (or raised) for the day
VIOLATIONS = "violations"  # a schedule came back but the independent checker rejected it
FEASIBLE_STATUSES = {"optimal", "timelimit", "feasible"}  # what optimize_day returns (else raises)


@dataclass
class DayRun:
    """One day's outcome: schedules, checker verdict and the KPI row for daily.csv."""

    date: dt.date
    day: DayData
    baseline: DaySchedule
    optimized: DaySchedule | None
    status: str
    reason: str = ""
    violations: list[Any] = field(default_factory=list)
    row: dict[str, Any] = field(default_factory=dict)
    # Optional second optimization of the same day (learning: without preferences).
    reference: DaySchedule | None = None


@dataclass
class Timings:
    """Seconds spent per stage, summed over days (for the benchmark's breakdown)."""

    baseline_s: float = 0.0
    build_s: float = 0.0
    solve_s: float = 0.0
    optimize_other_s: float = 0.0  # optimize_day wall time minus build and solve
    check_s: float = 0.0
    kpis_s: float = 0.0

    def as_metrics(self) -> dict[str, float]:
        return {
            "time_baseline_s": self.baseline_s,
            "time_build_s": self.build_s,
            "time_solve_s": self.solve_s,
            "time_optimize_other_s": self.optimize_other_s,
            "time_check_s": self.check_s,
            "time_kpis_s": self.kpis_s,
        }


def _feasible(schedule: DaySchedule) -> bool:
    table = schedule.table
    if table is None or table.empty:
        return False
    if str(schedule.stats.status).strip().lower() not in FEASIBLE_STATUSES:
        return False
    # the day-ahead column is information only (flat/tou tariffs do not price with it)
    decisions = table.drop(columns=[S.DAY_AHEAD], errors="ignore")
    return not bool(decisions.select_dtypes("number").isna().to_numpy().any())


def _optimize(
    day: DayData,
    cfg: DictConfig,
    state: Any,
    preferences: dict[str, np.ndarray] | None,
    timings: Timings,
) -> tuple[DaySchedule | None, str]:
    from ems_sweep.optimize import optimize_day

    started = time.perf_counter()
    try:
        schedule = optimize_day(day, cfg, state, preferences)
    except Exception as exc:  # a day the solver cannot do fails that day, not the job
        log.warning("Optimization of %s failed: %s", day.date, exc)
        timings.optimize_other_s += time.perf_counter() - started
        return None, f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - started
    timings.build_s += schedule.stats.build_s
    timings.solve_s += schedule.stats.solve_s
    timings.optimize_other_s += max(0.0, wall - schedule.stats.build_s - schedule.stats.solve_s)
    if not _feasible(schedule):
        return None, f"solver status {schedule.stats.status}"
    return schedule, ""


def run_days(
    building: BuildingData,
    dates: list[dt.date],
    cfg: DictConfig,
    timings: Timings,
    preferences: dict[str, np.ndarray] | None = None,
    forbidden_starts: dict[str, set[int]] | None = None,
    with_reference: bool = False,
) -> list[DayRun]:
    """Baseline, optimized (and, with_reference, optimized without preferences) day by day."""
    from ems_sweep.optimize import baseline_day, check_schedule, end_state, initial_state

    base_state = initial_state(cfg)
    opt_state = initial_state(cfg)
    ref_state = initial_state(cfg)
    runs: list[DayRun] = []
    for date in dates:
        day = building.day(date)
        started = time.perf_counter()
        baseline = baseline_day(day, cfg, base_state)
        timings.baseline_s += time.perf_counter() - started

        optimized, reason = _optimize(day, cfg, opt_state, preferences, timings)
        reference = None
        if with_reference:
            if preferences is None and ref_state == opt_state:
                reference = optimized  # no learned preferences: the very same solve
            else:
                reference, _ = _optimize(day, cfg, ref_state, None, timings)
            ref_state = end_state(reference if reference is not None else baseline)

        violations: list[Any] = []
        status = OK
        if optimized is None:
            status = INFEASIBLE
        else:
            started = time.perf_counter()
            violations = list(check_schedule(optimized, day, cfg, forbidden_starts))
            timings.check_s += time.perf_counter() - started
            if violations:
                status = VIOLATIONS
                reason = f"{len(violations)} violation(s), first: {violations[0]}"
        run = DayRun(
            date, day, baseline, optimized, status, reason, violations, reference=reference
        )
        started = time.perf_counter()
        run.row = kpis.day_row(run, cfg, preferences)
        timings.kpis_s += time.perf_counter() - started
        runs.append(run)
        log.info("%s: %s %s", date, status, reason)

        base_state = end_state(baseline)
        opt_state = end_state(optimized if status == OK else baseline)
    return runs
