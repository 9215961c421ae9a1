"""Job figures from a daily frame, the failed-job rule, and report/plot files (no solver)."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from ems_sweep.pipelines.kpis import job_metrics, savings_pct, status_of
from ems_sweep.report import plots


def daily_frame(violations: tuple[int, int] = (0, 0), status=("ok", "ok")) -> pd.DataFrame:
    """Two days of daily.csv with every column job_metrics reads from a real job's daily.csv
    (the baseline consumption, the model's cost, the end-of-period figures on the last day)."""
    return pd.DataFrame(
        {
            "date": ["2016-06-01", "2016-06-02"],
            "status": list(status),
            "reason": ["", ""],
            "constraint_violations": list(violations),
            "baseline_cost_eur": [2.0, 4.0],
            "optimized_cost_eur": [1.5, 3.0],
            "optimized_model_cost_eur": [1.4, 2.9],
            "end_storage_diff_kwh": [math.nan, 0.0],
            "end_storage_value_eur": [math.nan, 0.0],
            "baseline_consumption_kwh": [10.0, 14.0],
            "savings_eur": [0.5, 1.0],
            "savings_pct": [25.0, 25.0],
            "baseline_consumption_cost_eur": [3.0, 5.0],
            "optimized_consumption_kwh": [10.0, 12.0],
            "optimized_import_kwh": [8.0, 9.0],
            "optimized_export_kwh": [1.0, 2.0],
            "optimized_pv_kwh": [4.0, 5.0],
            "optimized_pv_curtailed_kwh": [0.0, 0.0],
            "optimized_battery_efc": [0.5, math.nan],
            "optimized_ev_charged_kwh": [0.0, 3.0],
            "build_s": [0.01, 0.02],
            "solve_s": [0.1, 0.2],
            "variables_count": [100, 120],
            "constraints_count": [50, 60],
        }
    )


def test_period_savings_pct_is_sum_over_sum_not_mean_of_days() -> None:
    daily = daily_frame()
    daily.loc[1, ["savings_eur", "savings_pct"]] = [0.4, 10.0]
    daily.loc[1, "optimized_cost_eur"] = 3.6
    m = job_metrics(daily)
    assert m["savings_eur"] == pytest.approx(0.9)
    assert m["savings_pct"] == pytest.approx(100 * 0.9 / 6.0)  # 15 %, not the daily mean 17.5
    assert m["avg_savings_pct"] == pytest.approx(17.5)
    assert m["total_cost"] == pytest.approx(5.1) and m["baseline_cost"] == pytest.approx(6.0)
    assert m["savings_pct_of_consumption_cost"] == pytest.approx(100 * 0.9 / 8.0)
    assert m["cost_per_kwh"] == pytest.approx(5.1 / 22.0)
    # the baseline per kWh of its own consumption (EV charging can differ between schedules)
    assert m["baseline_cost_per_kwh"] == pytest.approx(6.0 / 24.0)
    assert m["model_cost"] == pytest.approx(1.4 + 2.9)
    assert m["end_storage_value_eur"] == 0.0 and m["savings_eur_operational"] == pytest.approx(0.9)
    assert m["battery_cycles"] == pytest.approx(0.5)  # NaN (no battery use figure) counts 0
    assert m["variables_count"] == 120 and m["optimization_success"] == 1.0
    assert status_of(m, daily) == ("ok", None)


def test_storage_left_short_at_the_end_counts_against_the_savings() -> None:
    daily = daily_frame()
    daily.loc[1, "end_storage_value_eur"] = -0.2  # the last day's buy-back of missing storage
    m = job_metrics(daily)
    assert m["end_storage_value_eur"] == pytest.approx(-0.2)
    assert m["savings_eur_operational"] == pytest.approx(6.0 - 4.5)
    assert m["savings_eur"] == pytest.approx(6.0 - 4.5 - 0.2)


def test_negative_and_tiny_baseline_costs() -> None:
    assert savings_pct(1.0, -4.0) == pytest.approx(25.0)
    assert math.isnan(savings_pct(1.0, 0.001))
    # A net bill that PV revenue nearly cancels is no base for a percentage (592 % otherwise).
    assert math.isnan(savings_pct(0.39, 0.066, consumption_cost=3.0))
    assert savings_pct(0.3, 1.0, consumption_cost=3.0) == pytest.approx(30.0)


def test_a_schedule_with_violations_fails_the_job_and_reports_no_saving() -> None:
    daily = daily_frame(violations=(0, 2), status=("ok", "violations"))
    m = job_metrics(daily)
    status, error = status_of(m, daily)
    assert status == "failed" and "2 constraint violation(s) on 2016-06-02" in error
    assert "savings_pct" not in m and "savings_eur" not in m
    assert m["optimization_success"] == 0.0 and m["days_failed"] == 1


def test_an_infeasible_day_counts_as_failed_but_the_job_still_reports() -> None:
    daily = daily_frame(status=("ok", "infeasible"))
    m = job_metrics(daily)
    assert m["days_failed"] == 1 and m["days_ok"] == 1
    assert m["savings_eur"] == pytest.approx(0.5) and m["optimization_success"] == 0.0
    assert status_of(m, daily)[0] == "ok"


def test_daily_cost_and_learning_plots_are_written(tmp_path: Path) -> None:
    daily = daily_frame(status=("ok", "infeasible"))
    path = plots.daily_cost_plot(tmp_path / "costs.png", daily, "res1 centralized")
    assert path.stat().st_size > 5_000
    curve = pd.DataFrame(
        {
            "device": ["dishwasher"] * 3,
            "day_index": [1, 2, 3],
            "new_observations": [1, 1, 0],
            "js_step": [0.3, 0.05, 0.0],
            "js_prior": [0.3, 0.35, 0.35],
        }
    )
    assert plots.learning_curve_plot(tmp_path / "curve.png", curve, 0.01).stat().st_size > 5_000
