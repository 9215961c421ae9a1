"""Per-day KPI rows (daily.csv) and the job figures computed from them (summary.json).

The job figures are recomputed from the daily frame only, so anyone can check them from
daily.csv: savings % over the period is sum(savings) / sum(|baseline cost|), not a mean of days.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ems_sweep.config import EmsConfig
from ems_sweep.data.model import DayData
from ems_sweep.names import (
    METRIC_AVG_SAVINGS_PCT,
    METRIC_CONSTRAINT_VIOLATIONS,
    METRIC_OPTIMIZATION_SUCCESS,
    METRIC_OPTIMIZATION_TIME,
    METRIC_SAVINGS_EUR,
    METRIC_SAVINGS_PCT,
    METRIC_TOTAL_COST,
)
from ems_sweep.optimize import schedule as S
from ems_sweep.optimize.kpis import day_kpis
from ems_sweep.optimize.schedule import DaySchedule
from ems_sweep.pipelines.fidelity import meter_figures, meter_job_figures

MIN_BASE_EUR = 0.01  # below this baseline cost magnitude a percentage means nothing
MIN_BASE_SHARE = 0.25  # ... nor below this share of the consumption valued at the import price

if TYPE_CHECKING:
    from ems_sweep.pipelines.days import DayRun


def savings_pct(savings: float, baseline_cost: float, consumption_cost: float = 0.0) -> float:
    """Savings in % of the magnitude of the baseline's net cost.

    Why the magnitude: a house with PV often has a negative net cost (it earns more from feed-in
    than it pays); a plain % of the baseline cost is undefined there, which would blank every
    summer job. With |baseline|, +20 % means the net bill moved by a fifth of its size in the
    house's favour, for payers and earners alike.
    NaN when that base is too small to mean anything: under 1 cent, or under MIN_BASE_SHARE of
    the consumption's value at the import price (a day whose PV revenue nearly cancels its
    bill would otherwise report several hundred %, and dominate a mean of days).
    """
    base = abs(baseline_cost)
    if base < MIN_BASE_EUR or base < MIN_BASE_SHARE * consumption_cost:
        return math.nan
    return 100.0 * savings / base


def consumption_cost(table: pd.DataFrame) -> float:
    """What the household's consumption would cost at the import price without PV or storage.

    A well-conditioned base for a savings %: always positive, and equal to the net cost for a
    house without PV, where the net cost itself is a fine base.
    """
    load = table[S.FIXED_LOAD] + table[S.APPLIANCES] + table[S.EV_CHARGE]
    return float((load * table[S.IMPORT_PRICE]).sum())


def preference_figures(
    run: DayRun, preferences: dict[str, np.ndarray] | None, threshold: float
) -> dict[str, float]:
    """Share of cycles started in hours the household uses (p >= threshold), mean shift in h."""
    if preferences is None or run.optimized is None:
        return {}
    index = run.day.index
    ok, shifts, n = 0, [], 0
    for p in run.optimized.placements:
        if p.device not in preferences:
            continue
        n += 1
        hour = index[min(p.start_step, len(index) - 1)].hour
        ok += preferences[p.device][hour] >= threshold
        shifts.append(abs(p.start_step - p.observed_start_step) * run.day.dt_h)
    if n == 0:
        return {"preference_cycles": 0.0}
    return {
        "preference_cycles": float(n),
        "preference_satisfied": float(ok),
        "preference_satisfaction_pct": 100.0 * ok / n,
        "mean_shift_h": float(np.mean(shifts)),
    }


def quality_figures(day: DayData) -> dict[str, Any]:
    """The day's data-quality record (data/quality.py) as daily.csv columns."""
    q = day.quality
    if q is None:
        return {"filled_steps": 0}
    return {
        "present_steps": q.present_steps,
        "filled_steps": q.filled_steps,
        "flagged_steps": q.flagged_steps,
        "quality_flags": " | ".join(q.flags),
    }


def day_row(run: DayRun, cfg: EmsConfig, preferences: dict[str, np.ndarray] | None) -> dict:
    """One daily.csv row: date, status, baseline and optimized figures, savings, solver stats."""
    row: dict[str, Any] = {
        "date": run.date.isoformat(),
        "status": run.status,
        "reason": run.reason,
        "n_steps": run.day.n_steps,
        "n_cycles": len(run.day.cycles),
        "constraint_violations": len(run.violations),
    }
    row.update(quality_figures(run.day))
    base = _prefixed("baseline", run.baseline, run, cfg)
    row.update(base)
    row.update(meter_figures(run.day, run.baseline, cfg))
    consumption = consumption_cost(run.baseline.table)
    row["baseline_consumption_cost_eur"] = consumption
    if run.optimized is not None:
        stats = run.optimized.stats
        row.update(_prefixed("optimized", run.optimized, run, cfg))
        eur = base["baseline_cost_eur"] - row["optimized_cost_eur"]
        row["savings_eur"] = eur
        row["savings_pct"] = savings_pct(eur, base["baseline_cost_eur"], consumption)
        row.update(
            {
                "solver_status": stats.status,
                "build_s": stats.build_s,
                "solve_s": stats.solve_s,
                "variables_count": stats.n_variables,
                "constraints_count": stats.n_constraints,
            }
        )
    else:
        row["solver_status"] = "failed"
    if run.reference is not None:
        ref = day_kpis(run.reference, run.day, cfg)
        eur = base["baseline_cost_eur"] - ref["cost_eur"]
        row["no_prefs_cost_eur"] = ref["cost_eur"]
        row["no_prefs_savings_eur"] = eur
        row["no_prefs_savings_pct"] = savings_pct(eur, base["baseline_cost_eur"], consumption)
    if preferences is not None:  # learning only: comparison's pipeline has no threshold
        row.update(preference_figures(run, preferences, cfg.pipeline.preference_threshold))
    return row


# Solver figures are reported once (solver_status, build_s, ...), not per schedule; so is the
# model's own cost (the baseline has no model).
_SOLVER_KEYS = {
    "model_cost_eur",
    "solver_optimal",
    "solver_objective",
    "solver_mip_gap",
    "build_seconds",
    "solve_seconds",
    "solver_run_seconds",
    "n_variables",
    "n_constraints",
    "n_binaries",
}


def _prefixed(prefix: str, sched: DaySchedule, run: DayRun, cfg: EmsConfig) -> dict[str, float]:
    """The optimizer's day_kpis of one schedule, keys prefixed with the schedule kind."""
    return {
        f"{prefix}_{k}": v
        for k, v in day_kpis(sched, run.day, cfg).items()
        if k not in _SOLVER_KEYS or prefix == "optimized"
    }


def job_metrics(daily: pd.DataFrame) -> dict[str, float]:
    """The job figures in the users' vocabulary, recomputed from the daily frame only."""
    ok = daily[daily["status"] == "ok"] if len(daily) else daily
    n_ok = len(ok)
    metrics: dict[str, float] = {
        "total_days_processed": float(len(daily)),
        "days_ok": float(n_ok),
        "days_failed": float(len(daily) - n_ok),
        METRIC_CONSTRAINT_VIOLATIONS: (
            float(daily["constraint_violations"].sum()) if len(daily) else 0
        ),
    }
    metrics.update(meter_job_figures(daily))
    if n_ok == 0:
        metrics[METRIC_OPTIMIZATION_SUCCESS] = 0.0
        return metrics
    savings = cost_figures(ok, daily)
    metrics.update(savings)
    metrics.update(energy_figures(ok))
    metrics[METRIC_OPTIMIZATION_SUCCESS] = float(
        metrics["days_failed"] == 0 and metrics[METRIC_CONSTRAINT_VIOLATIONS] == 0
    )
    baseline_cost = savings["baseline_cost"]
    if "perfect_cost_eur" in ok:
        metrics.update(forecast_job_figures(ok, daily, baseline_cost, savings[METRIC_SAVINGS_EUR]))
    if "no_prefs_savings_eur" in ok:
        ref = float(ok["no_prefs_savings_eur"].sum())
        metrics["savings_eur_without_preferences"] = ref
        metrics["savings_pct_without_preferences"] = savings_pct(
            ref, baseline_cost, float(ok["baseline_consumption_cost_eur"].sum())
        )
    metrics.update(preference_job_figures(ok))
    return metrics


def cost_figures(ok: pd.DataFrame, daily: pd.DataFrame) -> dict[str, float]:
    """Costs and savings over the ok days; the end-of-period storage (on the last day's row,
    pipeline.end_storage) counts towards the savings."""
    baseline_cost = float(ok["baseline_cost_eur"].sum())
    total_cost = float(ok["optimized_cost_eur"].sum())
    consumption = float(ok["optimized_consumption_kwh"].sum())
    # the baseline's own consumption: EV charging can differ between the two schedules
    baseline_consumption = float(ok["baseline_consumption_kwh"].sum())
    operational = baseline_cost - total_cost
    end_value = float(daily["end_storage_value_eur"].fillna(0).sum())
    savings = operational + end_value
    consumption_value = float(ok["baseline_consumption_cost_eur"].sum())
    return {
        METRIC_TOTAL_COST: total_cost,
        # what the model believed it would cost (centralized moves flat blocks; the reported
        # costs are the physical schedule's real profiles)
        "model_cost": float(ok["optimized_model_cost_eur"].sum()),
        "baseline_cost": baseline_cost,
        "mean_daily_cost": total_cost / len(ok),
        METRIC_SAVINGS_EUR: savings,
        "savings_eur_operational": operational,
        "end_storage_value_eur": end_value,
        "end_storage_diff_kwh": float(daily["end_storage_diff_kwh"].fillna(0).sum()),
        "ev_target_shortfall_kwh": _sum(ok, "optimized_ev_target_shortfall_kwh"),
        "baseline_ev_target_shortfall_kwh": _sum(ok, "baseline_ev_target_shortfall_kwh"),
        METRIC_SAVINGS_PCT: savings_pct(savings, baseline_cost, consumption_value),
        METRIC_AVG_SAVINGS_PCT: float(ok["savings_pct"].mean()),  # NaN days left out
        "savings_pct_of_consumption_cost": savings_pct(savings, consumption_value),
        "cost_per_kwh": total_cost / consumption if consumption > 0 else math.nan,
        "baseline_cost_per_kwh": (
            baseline_cost / baseline_consumption if baseline_consumption > 0 else math.nan
        ),
    }


def energy_figures(ok: pd.DataFrame) -> dict[str, float]:
    """Energy, solver effort and model size over the ok days."""
    return {
        METRIC_OPTIMIZATION_TIME: float((ok["build_s"] + ok["solve_s"]).sum()),
        "solve_time_seconds": float(ok["solve_s"].sum()),
        "variables_count": float(ok["variables_count"].max()),
        "constraints_count": float(ok["constraints_count"].max()),
        "total_consumption_kwh": float(ok["optimized_consumption_kwh"].sum()),
        "total_import_kwh": float(ok["optimized_import_kwh"].sum()),
        "total_export_kwh": float(ok["optimized_export_kwh"].sum()),
        "battery_cycles": float(ok["optimized_battery_efc"].fillna(0).sum()),
        "ev_charging_kwh": float(ok["optimized_ev_charged_kwh"].sum()),
        "pv_self_consumption": _share(ok, "optimized"),
    }


def preference_job_figures(ok: pd.DataFrame) -> dict[str, float]:
    """Share of cycles in hours the household uses and the mean shift (learning pipeline)."""
    if "preference_cycles" not in ok or ok["preference_cycles"].sum() <= 0:
        return {}
    n = float(ok["preference_cycles"].sum())
    weights = ok["preference_cycles"]
    return {
        "preference_satisfaction_pct": 100.0 * ok["preference_satisfied"].sum() / n,
        "mean_shift_h": float((ok["mean_shift_h"] * weights).sum() / n),
    }


def forecast_job_figures(
    ok: pd.DataFrame, daily: pd.DataFrame, baseline_cost: float, savings: float
) -> dict[str, float]:
    """Executed against perfect foresight over the ok days, and the forecast errors.

    value_of_perfect_information_eur = perfect savings - executed savings (each with its own
    end-of-period storage figure) = executed cost - perfect cost when storage ends alike.
    Errors: MAE and bias per step (kWh) over the days' forecasts of load and PV, and the
    summed absolute error in % of the actual energy.
    """
    perfect_cost = float(ok["perfect_cost_eur"].sum())  # NaN when a perfect day failed
    end = _sum(daily, "perfect_end_storage_value_eur")
    perfect_savings = baseline_cost - perfect_cost + end
    out = {
        "perfect_total_cost": perfect_cost,
        "perfect_savings_eur": perfect_savings,
        "perfect_savings_pct": savings_pct(
            perfect_savings, baseline_cost, float(ok["baseline_consumption_cost_eur"].sum())
        ),
        "value_of_perfect_information_eur": perfect_savings - savings,
        "planned_cost": _sum(ok, "planned_cost_eur"),
        "forecast_plan_failed_days": _sum(ok, "forecast_plan_failed"),
        "ev_unmet_need_kwh": _sum(ok, "ev_unmet_need_kwh"),
    }
    for key in ("load", "pv"):
        if f"forecast_{key}_mae_kwh" not in ok:
            continue
        steps = ok["n_steps"]
        out[f"forecast_{key}_mae_kwh"] = float(
            ok[f"forecast_{key}_abs_error_kwh"].sum() / steps.sum()
        )
        out[f"forecast_{key}_bias_kwh"] = float(
            (ok[f"forecast_{key}_bias_kwh"] * steps).sum() / steps.sum()
        )
        actual = float(ok[f"actual_{key}_kwh"].sum())
        abs_err = float(ok[f"forecast_{key}_abs_error_kwh"].sum())
        out[f"forecast_{key}_error_pct"] = 100.0 * abs_err / actual if actual > 1e-9 else math.nan
    return out


def _sum(ok: pd.DataFrame, column: str) -> float:
    return float(ok[column].fillna(0).sum()) if column in ok else 0.0


def _share(ok: pd.DataFrame, prefix: str) -> float:
    """PV self-consumption over the period: PV used on site / PV generated."""
    pv = ok[f"{prefix}_pv_kwh"].sum()
    used = pv - ok[f"{prefix}_pv_curtailed_kwh"].sum() - ok[f"{prefix}_export_kwh"].sum()
    return float(used / pv) if pv > 1e-9 else math.nan


SAVINGS_KEYS = (
    METRIC_TOTAL_COST,
    "model_cost",
    METRIC_SAVINGS_EUR,
    "savings_eur_operational",
    "end_storage_value_eur",
    METRIC_SAVINGS_PCT,
    METRIC_AVG_SAVINGS_PCT,
    "savings_pct_of_consumption_cost",
    "cost_per_kwh",
    "savings_eur_without_preferences",
    "savings_pct_without_preferences",
)


def status_of(metrics: dict[str, float], daily: pd.DataFrame) -> tuple[str, str | None]:
    """A job is failed when any optimized schedule broke the checker or no day could be solved.

    Its savings figures are then dropped from the metrics: a rejected schedule is never a saving.
    """
    if metrics.get(METRIC_CONSTRAINT_VIOLATIONS, 0) > 0:
        bad = daily.loc[daily["constraint_violations"] > 0, "date"].tolist()
        for key in SAVINGS_KEYS:
            metrics.pop(key, None)
        metrics[METRIC_OPTIMIZATION_SUCCESS] = 0.0
        n = int(metrics[METRIC_CONSTRAINT_VIOLATIONS])
        return "failed", f"ScheduleRejected: {n} constraint violation(s) on {', '.join(bad)}"
    if metrics.get("days_ok", 0) == 0:
        reasons = "; ".join(
            f"{d}: {r}" for d, r in zip(daily["date"], daily["reason"], strict=True)
        )
        return "failed", f"NoFeasibleDay: {reasons or 'no usable day in the data'}"
    return "ok", None
