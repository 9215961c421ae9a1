"""The day loop both pipelines share: baseline and optimized schedule per day, checked, with KPIs.

Both start in the warm-start state (warmup.py) and carry their own storage state (battery, EV)
over midnight. The baseline runs over the whole period first; the optimized schedule is then
planned with a rolling horizon (pipeline.horizon_days: today plus the next days, truncated at the
period's end and at a skipped day) and only today is committed. When a day's optimization fails,
the next optimized day starts from the baseline's end state: what the house would have done
that day without the EMS. At the end of the period the storage difference is either forbidden
(end_storage=no_less: the last horizons end with at least the baseline's final battery and
EV energy, each; the decentralized mode plans nothing, so what it leaves missing is bought back at
the last day's mean import price) or valued at end_storage_price_eur_per_kwh
(end_storage=value); the last day's row holds end_storage_diff_kwh and end_storage_value_eur,
which the period's savings include.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

from omegaconf import DictConfig

from ems_sweep.config import EndStorage
from ems_sweep.data.forecast import load_history, make_forecaster
from ems_sweep.data.model import BuildingData, DayData
from ems_sweep.data.slicing import slice_day
from ems_sweep.optimize import schedule as S
from ems_sweep.optimize.fixing import baseline_flows
from ems_sweep.optimize.schedule import DaySchedule
from ems_sweep.optimize.state import PeriodEnd, StorageState, end_state, stored_kwh
from ems_sweep.pipelines import kpis
from ems_sweep.pipelines.forecast_days import execute_days
from ems_sweep.pipelines.planning import (
    INFEASIBLE,
    OK,
    VIOLATIONS,
    Horizon,
    JobPeriod,
    Planner,
    RunOptions,
    Timings,
    checker_verdict,
)
from ems_sweep.pipelines.warmup import warm_start

__all__ = ["INFEASIBLE", "OK", "VIOLATIONS", "DayRun", "RunOptions", "Timings", "run_days"]

log = logging.getLogger(__name__)


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
    notes: list[str] = field(default_factory=list)  # for the job's report (warm start, ...)
    # With a forecast (forecast != perfect): `optimized` is the executed schedule, `perfect`
    # the perfect-foresight schedule of the same day, `planned` the plan it executed.
    perfect: DaySchedule | None = None
    planned: DaySchedule | None = None


def period_end_rule(cfg: DictConfig, baseline_end: StorageState) -> PeriodEnd:
    """The end-of-period storage rule of pipeline.end_storage (see module docstring)."""
    p = cfg.pipeline
    if EndStorage(p.end_storage) == EndStorage.value:
        return PeriodEnd(None, float(p.end_storage_price_eur_per_kwh))
    return PeriodEnd(minimum=baseline_end)


STORES = ("battery_kwh", "ev_kwh")  # the StorageState fields the end-of-period rule compares


def end_storage_figures(
    cfg: DictConfig,
    optimized_end: StorageState,
    baseline_end: StorageState,
    buyback_eur_per_kwh: float,
) -> dict[str, float]:
    """Stored energy the optimized schedule leaves beyond the baseline's, and its value (EUR).

    value: the difference at end_storage_price_eur_per_kwh. no_less: more is not credited (0);
    less, which only a rule-based mode (decentralized, which plans nothing) can leave, is
    charged at `buyback_eur_per_kwh` (the last day's mean import price), so it is never a gain.
    """
    diff = stored_kwh(optimized_end) - stored_kwh(baseline_end)
    p = cfg.pipeline
    if EndStorage(p.end_storage) == EndStorage.value:
        value = float(p.end_storage_price_eur_per_kwh) * diff
    else:
        missing = [getattr(baseline_end, k) - getattr(optimized_end, k) for k in STORES]
        short = sum(m for m in missing if m > 1e-5)  # below: solver tolerance, not a decision
        value = -buyback_eur_per_kwh * short
    return {"end_storage_diff_kwh": diff, "end_storage_value_eur": value}


def run_days(
    building: BuildingData,
    dates: list[dt.date],
    cfg: DictConfig,
    timings: Timings,
    options: RunOptions | None = None,
) -> list[DayRun]:
    """Baseline, optimized (and, options.with_reference, optimized without preferences) day by
    day; with a forecaster the optimized schedule is then planned on its forecasts and executed
    against the actual days (pipelines/forecast_days.py), the perfect-foresight run kept beside
    it. See RunOptions for what a pipeline adds (None: a plain comparison)."""
    if not dates:
        return []
    options = options or RunOptions()
    start, warm_note = warm_start(building, dates[0], cfg)
    days = {d: slice_day(building, d) for d in dates}
    baselines, base_end = _baselines(days, dates, cfg, start, timings)
    horizon_days = int(cfg.pipeline.horizon_days)
    period = JobPeriod(dates, days, start, period_end_rule(cfg, base_end), horizon_days)
    planner = Planner(cfg, timings, options.preferences)
    runs, opt_state = _optimized_runs(period, baselines, planner, options)

    forecaster = options.forecaster if options.forecaster is not None else make_forecaster(cfg)
    perfect_end = None
    if forecaster is not None:
        history = options.history if options.history is not None else load_history(cfg, forecaster)
        perfect_end = opt_state
        executing = replace(options, forecaster=forecaster, history=history)
        opt_state = execute_days(runs, period, planner, executing)
    if warm_note:
        runs[0].notes.append(warm_note)
    _close_period(runs[-1], cfg, period.end_rule, opt_state, base_end, perfect_end)
    return runs


def _baselines(
    days: dict[dt.date, DayData],
    dates: list[dt.date],
    cfg: DictConfig,
    start: StorageState,
    timings: Timings,
) -> tuple[dict[dt.date, DaySchedule], StorageState]:
    """The baseline of every day, its state carried over midnight, and its end state."""
    from ems_sweep.optimize import baseline_day

    started = time.perf_counter()
    baselines: dict[dt.date, DaySchedule] = {}
    state = start
    for date in dates:
        baselines[date] = baseline_day(days[date], cfg, state)
        state = end_state(baselines[date])
    timings.baseline_s += time.perf_counter() - started
    return baselines, state


def _optimized_runs(
    period: JobPeriod,
    baselines: dict[dt.date, DaySchedule],
    planner: Planner,
    options: RunOptions,
) -> tuple[list[DayRun], StorageState]:
    """Each day's rolling-horizon optimization (today committed), checked, with its KPI row;
    returns the runs and the optimized end state (a failed day continues from the baseline's)."""
    cfg, timings = planner.cfg, planner.timings
    opt_state = ref_state = period.start
    runs: list[DayRun] = []
    for i, date in enumerate(period.dates):
        day, baseline = period.days[date], baselines[date]
        planned = period.planned(i)
        flows = None
        if options.fixed:
            flows = baseline_flows(options.fixed, [baselines[d] for d in planned])
        horizon = Horizon([period.days[d] for d in planned], period.end_rule_for(planned), flows)
        optimized, reason = planner.plan(horizon, opt_state)
        reference = None
        if options.with_reference:
            if options.preferences is None and ref_state == opt_state:
                reference = optimized  # no learned preferences: the very same solve
            else:
                unfixed = replace(horizon, fixed=None)
                reference, _ = planner.without_preferences().plan(unfixed, ref_state)
            ref_state = end_state(reference if reference is not None else baseline)
        run = DayRun(date, day, baseline, optimized, INFEASIBLE, reason, reference=reference)
        _check(run, cfg, options.forbidden_starts, timings)
        started = time.perf_counter()
        run.row = kpis.day_row(run, cfg, options.preferences)
        timings.kpis_s += time.perf_counter() - started
        runs.append(run)
        log.info("%s: %s %s", date, run.status, run.reason)
        opt_state = end_state(optimized if run.status == OK else baseline)
    return runs, opt_state


def _check(
    run: DayRun,
    cfg: DictConfig,
    forbidden_starts: dict[str, set[int]] | None,
    timings: Timings,
) -> None:
    """The day's verdict: the baseline's own violations first, then no schedule (infeasible),
    then the independent checker's violations of the optimized schedule."""
    from ems_sweep.optimize import check_schedule
    from ems_sweep.optimize.checker import baseline_battery_idle

    violations: list[Any] = list(baseline_battery_idle(run.baseline, run.day, cfg))
    if violations:
        run.status, run.violations = VIOLATIONS, violations
        run.reason = f"baseline: {len(violations)} violation(s), first: {violations[0]}"
        return
    if run.optimized is None:
        run.status = INFEASIBLE
        return
    started = time.perf_counter()
    violations = list(check_schedule(run.optimized, run.day, cfg, forbidden_starts))
    timings.check_s += time.perf_counter() - started
    run.violations = violations
    run.status, reason = checker_verdict(violations)
    run.reason = reason or run.reason


def _close_period(
    last: DayRun,
    cfg: DictConfig,
    period_end: PeriodEnd,
    opt_end: StorageState,
    base_end: StorageState,
    perfect_end: StorageState | None,
) -> None:
    """The end-of-period figures on the last day's row (perfect_end: the perfect-foresight end
    state when the schedule was executed on forecasts), and the checker's end-of-period rule."""
    from ems_sweep.optimize.checker import period_end as checker_period_end

    executed = perfect_end is not None
    buyback = float(last.baseline.table[S.IMPORT_PRICE].mean())
    figures = end_storage_figures(cfg, opt_end, base_end, buyback)
    last.row.update(figures)
    if perfect_end is not None:
        perfect_figures = end_storage_figures(cfg, perfect_end, base_end, buyback)
        last.row["perfect_end_storage_value_eur"] = perfect_figures["end_storage_value_eur"]
    # an executed schedule, like the rule-based mode, may end short: bought back, see above
    planned = last.optimized is not None and last.optimized.mode != "decentralized" and not executed
    if period_end.minimum is not None and last.status == OK and planned:
        broken = checker_period_end(opt_end, base_end, last.date)
        if broken:
            last.violations += broken
            last.status = VIOLATIONS
            last.reason = f"{broken[0]}"
            last.row.update(status=VIOLATIONS, reason=last.reason)
            last.row["constraint_violations"] = len(last.violations)
    last.notes.append(end_storage_note(cfg, figures))


def end_storage_note(cfg: DictConfig, figures: dict[str, float]) -> str:
    """One sentence for the report on how the end of the period entered the savings."""
    diff = figures["end_storage_diff_kwh"] + 0.0  # no '-0.00' in the report
    value = figures["end_storage_value_eur"] + 0.0
    p = cfg.pipeline
    if EndStorage(p.end_storage) == EndStorage.value:
        return (
            f"End of period (end_storage=value): the optimized storage (battery + EV) ends "
            f"{diff:+.2f} kWh against the baseline's, valued at "
            f"{p.end_storage_price_eur_per_kwh:g} EUR/kWh = {value:+.2f} EUR, included in the "
            "period's savings (savings_eur = savings_eur_operational + end_storage_value_eur)."
        )
    return (
        f"End of period (end_storage=no_less): the optimized battery and EV may not end "
        f"below the baseline's; together they end {diff:+.2f} kWh against it (more is credited "
        f"at 0 EUR; less, possible only in the rule-based decentralized mode, is bought back at "
        f"the last day's mean import price: {value:+.2f} EUR in the savings)."
    )
