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
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ems_sweep.config import EmsConfig, EndStorage
from ems_sweep.data.forecast import Forecaster, load_history, make_forecaster
from ems_sweep.data.model import BuildingData, DayData
from ems_sweep.optimize import schedule as S
from ems_sweep.optimize.fixing import FixedFlows, baseline_flows
from ems_sweep.optimize.schedule import DaySchedule
from ems_sweep.optimize.state import PeriodEnd, StorageState, end_state, stored_kwh
from ems_sweep.pipelines import kpis
from ems_sweep.pipelines.warmup import warm_start

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
    notes: list[str] = field(default_factory=list)  # for the job's report (warm start, ...)
    # With a forecast (forecast != perfect): `optimized` is the executed schedule, `perfect`
    # the perfect-foresight schedule of the same day, `planned` the plan it executed.
    perfect: DaySchedule | None = None
    planned: DaySchedule | None = None


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
    days: list[DayData],
    cfg: EmsConfig,
    state: Any,
    preferences: dict[str, np.ndarray] | None,
    timings: Timings,
    period_end: PeriodEnd | None,
    fixed: FixedFlows | None = None,
) -> tuple[DaySchedule | None, str]:
    from ems_sweep.optimize import optimize_horizon

    started = time.perf_counter()
    try:
        schedule = optimize_horizon(days, cfg, state, preferences, period_end, fixed)
    except Exception as exc:  # a day the solver cannot do fails that day, not the job
        log.warning("Optimization of %s failed: %s", days[0].date, exc)
        timings.optimize_other_s += time.perf_counter() - started
        return None, f"{type(exc).__name__}: {exc}"
    wall = time.perf_counter() - started
    timings.build_s += schedule.stats.build_s
    timings.solve_s += schedule.stats.solve_s
    timings.optimize_other_s += max(0.0, wall - schedule.stats.build_s - schedule.stats.solve_s)
    if not _feasible(schedule):
        return None, f"solver status {schedule.stats.status}"
    return schedule, ""


def horizon_dates(dates: list[dt.date], i: int, horizon_days: int) -> list[dt.date]:
    """dates[i] and the following consecutive period days, at most horizon_days in all."""
    out = [dates[i]]
    for d in dates[i + 1 : i + horizon_days]:
        if d != out[-1] + dt.timedelta(days=1):
            break
        out.append(d)
    return out


def period_end_rule(cfg: EmsConfig, baseline_end: StorageState) -> PeriodEnd:
    """The end-of-period storage rule of pipeline.end_storage (see module docstring)."""
    p = cfg.pipeline
    if EndStorage(p.end_storage) == EndStorage.value:
        return PeriodEnd(None, float(p.end_storage_price_eur_per_kwh))
    return PeriodEnd(minimum=baseline_end)


STORES = ("battery_kwh", "ev_kwh")  # the StorageState fields the end-of-period rule compares


def end_storage_figures(
    cfg: EmsConfig,
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
    cfg: EmsConfig,
    timings: Timings,
    preferences: dict[str, np.ndarray] | None = None,
    forbidden_starts: dict[str, set[int]] | None = None,
    with_reference: bool = False,
    fixed: tuple[str, ...] = (),
    forecaster: Forecaster | None = None,
    history: BuildingData | None = None,
) -> list[DayRun]:
    """Baseline, optimized (and, with_reference, optimized without preferences) day by day.

    fixed: flexibilities (fixing.FAMILIES) held at the baseline's flows of each planned day in
    the optimized schedule (the attribution's coalitions). forecaster (default: cfg.forecast;
    None for perfect): the optimized schedule is planned on its forecasts and executed against
    the actual days (pipelines/forecast_days.py); the perfect-foresight run is kept beside it.
    history: the data forecasts read (default: loaded from lookback days before the period).
    """
    from ems_sweep.optimize import baseline_day, check_schedule
    from ems_sweep.optimize.checker import baseline_battery_idle
    from ems_sweep.optimize.checker import period_end as checker_period_end

    if not dates:
        return []
    start, warm_note = warm_start(building, dates[0], cfg)
    days = {d: building.day(d) for d in dates}
    started = time.perf_counter()
    baselines: dict[dt.date, DaySchedule] = {}
    base_state = start
    for date in dates:
        baselines[date] = baseline_day(days[date], cfg, base_state)
        base_state = end_state(baselines[date])
    timings.baseline_s += time.perf_counter() - started
    base_end = base_state
    period_end = period_end_rule(cfg, base_end)
    horizon = int(cfg.pipeline.horizon_days)

    opt_state = ref_state = start
    runs: list[DayRun] = []
    for i, date in enumerate(dates):
        day, baseline = days[date], baselines[date]
        planned = horizon_dates(dates, i, horizon)
        ahead = [days[d] for d in planned]
        end_rule = period_end if ahead[-1].date == dates[-1] else None
        flows = baseline_flows(fixed, [baselines[d] for d in planned]) if fixed else None

        optimized, reason = _optimize(ahead, cfg, opt_state, preferences, timings, end_rule, flows)
        reference = None
        if with_reference:
            if preferences is None and ref_state == opt_state:
                reference = optimized  # no learned preferences: the very same solve
            else:
                reference, _ = _optimize(ahead, cfg, ref_state, None, timings, end_rule)
            ref_state = end_state(reference if reference is not None else baseline)

        violations: list[Any] = list(baseline_battery_idle(baseline, day, cfg))
        status = OK
        if violations:
            status = VIOLATIONS
            reason = f"baseline: {len(violations)} violation(s), first: {violations[0]}"
        elif optimized is None:
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
        opt_state = end_state(optimized if status == OK else baseline)

    if forecaster is None:
        forecaster = make_forecaster(cfg)
    executed = forecaster is not None
    if executed:
        from ems_sweep.pipelines.forecast_days import execute_days

        if history is None:
            history = load_history(cfg, forecaster)
        perfect_end = opt_state
        opt_state = execute_days(
            runs, dates, days, start, cfg, timings, forecaster, history, period_end,
            forbidden_starts,
        )  # fmt: skip
    if warm_note:
        runs[0].notes.append(warm_note)
    last = runs[-1]
    buyback = float(last.baseline.table[S.IMPORT_PRICE].mean())
    figures = end_storage_figures(cfg, opt_state, base_end, buyback)
    last.row.update(figures)
    if executed:
        perfect_figures = end_storage_figures(cfg, perfect_end, base_end, buyback)
        last.row["perfect_end_storage_value_eur"] = perfect_figures["end_storage_value_eur"]
    # an executed schedule, like the rule-based mode, may end short: bought back, see above
    planned = last.optimized is not None and last.optimized.mode != "decentralized" and not executed
    if period_end.minimum is not None and last.status == OK and planned:
        broken = checker_period_end(opt_state, base_end, last.date)
        if broken:
            last.violations += broken
            last.status = VIOLATIONS
            last.reason = f"{broken[0]}"
            last.row.update(status=VIOLATIONS, reason=last.reason)
            last.row["constraint_violations"] = len(last.violations)
    last.notes.append(end_storage_note(cfg, figures))
    return runs


def end_storage_note(cfg: EmsConfig, figures: dict[str, float]) -> str:
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
