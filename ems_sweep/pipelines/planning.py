"""What the day loops (days.py, forecast_days.py) share: the period they walk, the horizon each
day plans, the optimizer call, the day statuses and the stage timings.

Its own module so that days.py can import forecast_days.py without the reverse import."""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, replace

import numpy as np
from omegaconf import DictConfig

from ems_sweep.data.forecast import Forecaster
from ems_sweep.data.model import BuildingData, DayData
from ems_sweep.optimize import schedule as S
from ems_sweep.optimize.fixing import FixedFlows
from ems_sweep.optimize.schedule import DaySchedule
from ems_sweep.optimize.state import PeriodEnd, StorageState

log = logging.getLogger(__name__)

OK = "ok"
INFEASIBLE = "infeasible"  # the solver found no schedule (or raised) for the day
VIOLATIONS = "violations"  # a schedule came back but the independent checker rejected it
FEASIBLE_STATUSES = {"optimal", "timelimit", "feasible"}  # what optimize_day returns (else raises)


def checker_verdict(violations: list) -> tuple[str, str]:
    """(status, reason) of a schedule from the independent checker's violations: one rule for
    the perfect-foresight and the executed days alike."""
    if violations:
        return VIOLATIONS, f"{len(violations)} violation(s), first: {violations[0]}"
    return OK, ""


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


@dataclass(frozen=True)
class RunOptions:
    """What a pipeline adds to the plain day loop (days.run_days); the defaults are a comparison.

    preferences: learned usage probabilities the optimizer weighs; forbidden_starts: start hours
    the checker rejects; with_reference: also optimize each day without the preferences; fixed:
    flexibilities (fixing.FAMILIES) held at the baseline's flows (the attribution's coalitions);
    forecaster (None: cfg.forecast, itself None for perfect foresight) and history (None: loaded
    from the lookback days before the period): plan on forecasts, execute on the actual days."""

    preferences: dict[str, np.ndarray] | None = None
    forbidden_starts: dict[str, set[int]] | None = None
    with_reference: bool = False
    fixed: tuple[str, ...] = ()
    forecaster: Forecaster | None = None
    history: BuildingData | None = None


def horizon_dates(dates: list[dt.date], i: int, horizon_days: int) -> list[dt.date]:
    """dates[i] and the following consecutive period days, at most horizon_days in all."""
    out = [dates[i]]
    for d in dates[i + 1 : i + horizon_days]:
        if d != out[-1] + dt.timedelta(days=1):
            break
        out.append(d)
    return out


@dataclass(frozen=True)
class JobPeriod:
    """The job's days and their data, the warm-start state both schedules start from, and the
    end-of-period storage rule the horizons reaching the last day obey."""

    dates: list[dt.date]
    days: dict[dt.date, DayData]
    start: StorageState
    end_rule: PeriodEnd
    horizon_days: int

    def planned(self, i: int) -> list[dt.date]:
        """The dates day i plans (pipeline.horizon_days, cut at the end and at a skipped day)."""
        return horizon_dates(self.dates, i, self.horizon_days)

    def end_rule_for(self, planned: list[dt.date]) -> PeriodEnd | None:
        """The end-of-period rule, for a horizon that reaches the period's last day."""
        return self.end_rule if planned[-1] == self.dates[-1] else None


@dataclass(frozen=True)
class Horizon:
    """The days one optimization plans (today first), the end rule it obeys and the flows it
    holds at the baseline's."""

    days: list[DayData]
    period_end: PeriodEnd | None = None
    fixed: FixedFlows | None = None


def feasible(schedule: DaySchedule) -> bool:
    """A schedule the solver reports usable, with a number in every decision column."""
    table = schedule.table
    if table is None or table.empty:
        return False
    if str(schedule.stats.status).strip().lower() not in FEASIBLE_STATUSES:
        return False
    # the day-ahead column is information only (flat/tou tariffs do not price with it)
    decisions = table.drop(columns=[S.DAY_AHEAD], errors="ignore")
    return not bool(decisions.select_dtypes("number").isna().to_numpy().any())


@dataclass(frozen=True)
class Planner:
    """The job's optimizer call: its config, the learned preferences it weighs (None: none) and
    the timings it adds to."""

    cfg: DictConfig
    timings: Timings
    preferences: dict[str, np.ndarray] | None = None

    def without_preferences(self) -> Planner:
        return replace(self, preferences=None)

    def plan(self, horizon: Horizon, state: StorageState) -> tuple[DaySchedule | None, str]:
        """The horizon's optimized schedule (None and the reason when it has none)."""
        from ems_sweep.optimize import optimize_horizon

        timings = self.timings
        started = time.perf_counter()
        try:
            schedule = optimize_horizon(
                horizon.days, self.cfg, state, self.preferences, horizon.period_end, horizon.fixed
            )
        except Exception as exc:  # a day the solver cannot do fails that day, not the job
            log.warning("Optimization of %s failed: %s", horizon.days[0].date, exc)
            timings.optimize_other_s += time.perf_counter() - started
            return None, f"{type(exc).__name__}: {exc}"
        wall = time.perf_counter() - started
        stats = schedule.stats
        timings.build_s += stats.build_s
        timings.solve_s += stats.solve_s
        timings.optimize_other_s += max(0.0, wall - stats.build_s - stats.solve_s)
        if not feasible(schedule):
            return None, f"solver status {stats.status}"
        return schedule, ""
