"""Pipelines A and B end to end on built-in buildings: files, figures, split, restriction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_module

from ems_sweep.config import EmsConfig, register_configs, typed, validate
from ems_sweep.data.slicing import slice_day


def make_cfg(*overrides: str) -> EmsConfig:
    register_configs()
    with initialize_config_module(config_module="ems_sweep.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=["tracking=none", *overrides])
    validate(cfg)
    return typed(cfg)


def test_comparison_writes_files_and_consistent_figures(tmp_path: Path) -> None:
    from ems_sweep.pipelines.comparison import run_comparison

    cfg = make_cfg("building=res1", "n_days=2", "pipeline.max_plot_days=1")
    result = run_comparison(cfg, tmp_path)
    assert result.status == "ok", result.error
    m = result.metrics
    assert m["constraint_violations"] == 0 and m["days_failed"] == 0
    assert m["total_days_processed"] == 2 and m["optimization_success"] == 1.0

    daily = pd.read_csv(tmp_path / "daily.csv")
    assert list(daily["date"]) == ["2016-06-01", "2016-06-02"]
    recomputed = 100 * daily["savings_eur"].sum() / abs(daily["baseline_cost_eur"].sum())
    assert m["savings_pct"] == pytest.approx(recomputed, rel=1e-4)
    # the period's savings: the days' plus the end-of-period storage figure (0 with no_less)
    end_value = daily["end_storage_value_eur"].fillna(0).sum()
    assert end_value == 0.0 and daily["end_storage_diff_kwh"].iloc[-1] >= -1e-6
    assert m["savings_eur"] == pytest.approx(daily["savings_eur"].sum() + end_value, rel=1e-4)
    schedules = pd.read_csv(tmp_path / "schedules.csv")
    assert set(schedules["schedule"]) == {"baseline", "optimized"}
    assert len(schedules) == 2 * 2 * 24
    assert_physical_schedules(schedules, cfg)
    # daily.csv's costs are what the schedules' steps cost, and savings = baseline - optimized
    cost = schedules.groupby(["date", "schedule"])["cost_eur"].sum().unstack()
    np.testing.assert_allclose(daily["baseline_cost_eur"], cost["baseline"], atol=1e-5)
    np.testing.assert_allclose(daily["optimized_cost_eur"], cost["optimized"], atol=1e-5)
    np.testing.assert_allclose(
        daily["savings_eur"], daily["baseline_cost_eur"] - daily["optimized_cost_eur"], atol=1e-9
    )
    assert m["baseline_cost"] == pytest.approx(cost["baseline"].sum(), abs=1e-5)
    cycles = pd.read_csv(tmp_path / "cycles.csv")
    assert set(cycles["schedule"]) <= {"baseline", "optimized"}

    plots = sorted(p.name for p in (tmp_path / "plots").glob("*.png"))
    assert plots == ["daily_costs.png", "schedule_2016-06-01.png"]  # capped at max_plot_days=1
    report = (tmp_path / "report.md").read_text()
    assert "plots/daily_costs.png" in report and "savings over the period" in report
    assert result.tags["solver_status"] == "Optimal"  # every day solved to optimality
    parts = m["time_files_s"] + m["time_plots_s"] + m["time_report_s"]
    assert m["time_files_plots_s"] == pytest.approx(parts)
    assert m["optimization_time_seconds"] == pytest.approx(
        (daily["build_s"] + daily["solve_s"]).sum()
    )


def assert_physical_schedules(schedules: pd.DataFrame, cfg: EmsConfig) -> None:
    """Every step of every schedule in schedules.csv (kWh per step) obeys the physics: the energy
    balance at the meter, the cost of the metered exchange, and the battery's stored energy."""
    s = schedules
    supply = s["import_kwh"] + s["pv_kwh"] - s["pv_curtailed_kwh"]
    supply += s["battery_discharge_kwh"] + s["ev_discharge_kwh"]
    demand = s["fixed_load_kwh"] + s["appliances_kwh"] + s["export_kwh"]
    demand += s["battery_charge_kwh"] + s["ev_charge_kwh"]
    np.testing.assert_allclose(supply, demand, atol=1e-4, err_msg="energy balance")
    devices = [c for c in s.columns if c.startswith("appliance_") and c.endswith("_kwh")]
    np.testing.assert_allclose(s[devices].sum(axis=1), s["appliances_kwh"], atol=1e-6)
    bill = s["import_kwh"] * s["import_price_eur_per_kwh"]
    bill -= s["export_kwh"] * s["export_price_eur_per_kwh"]
    np.testing.assert_allclose(s["cost_eur"], bill, atol=1e-5, err_msg="cost of the exchange")
    flows = ["import_kwh", "export_kwh", "pv_kwh", "pv_curtailed_kwh", "appliances_kwh"]
    flows += ["battery_charge_kwh", "battery_discharge_kwh", "ev_charge_kwh", "ev_discharge_kwh"]
    assert (s[flows] >= -1e-6).all().all(), "flows are non-negative kWh"
    b = cfg.battery
    if not b.enabled:
        return
    for key, t in s.groupby(["date", "schedule"]):
        stored = np.concatenate([[t["battery_start_kwh"].iloc[0]], t["battery_energy_kwh"]])
        change = t["battery_charge_kwh"] * b.charge_efficiency
        change -= t["battery_discharge_kwh"] / b.discharge_efficiency
        np.testing.assert_allclose(np.diff(stored), change, atol=1e-4, err_msg=str(key))
        assert stored.min() >= b.soc_min * b.capacity_kwh - 1e-4, key
        assert stored.max() <= b.soc_max * b.capacity_kwh + 1e-4, key


def test_runner_summary_matches_daily(tmp_path: Path) -> None:
    from ems_sweep.pipelines.runner import run_job

    cfg = make_cfg("building=res2", "n_days=2", "start_date=2016-01-12", "pipeline.plots=false")
    result = run_job(cfg, tmp_path)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == result.status == "ok"
    daily = pd.read_csv(tmp_path / "daily.csv")
    ok = daily[daily["status"] == "ok"]
    expected = 100 * ok["savings_eur"].sum() / abs(ok["baseline_cost_eur"].sum())
    assert summary["metrics"]["savings_pct"] == pytest.approx(expected, rel=1e-4)
    assert summary["metrics"]["avg_savings_pct"] == pytest.approx(ok["savings_pct"].mean(), 1e-4)

    # plots=false: no plot in the job; the job's files alone can draw them later.
    assert not list(tmp_path.glob("**/*.png"))
    from ems_sweep.report import job_plots

    job_plots.main([str(tmp_path), "--max-days", "1"])
    assert (tmp_path / "plots" / "schedule_2016-01-12.png").stat().st_size > 10_000
    assert not (tmp_path / "plots" / "schedule_2016-01-13.png").exists()
    with pytest.raises(SystemExit):
        job_plots.main([str(tmp_path), "--max-days", "-1"])


def test_learning_split_leaks_no_day_and_writes_learning_files(tmp_path: Path) -> None:
    from ems_sweep.pipelines.learning import run_learning

    cfg = make_cfg(
        "pipeline=learning",
        "building=res1",
        "n_days=5",
        "pipeline.training_days=3",
        "pipeline.max_plot_days=1",
    )
    result = run_learning(cfg, tmp_path)
    assert result.status == "ok", result.error
    curve = pd.read_csv(tmp_path / "learning_curve.csv")
    daily = pd.read_csv(tmp_path / "daily.csv")
    train_dates, opt_dates = set(curve["date"]), set(daily["date"])
    assert train_dates == {"2016-06-01", "2016-06-02", "2016-06-03"}
    assert opt_dates == {"2016-06-04", "2016-06-05"}
    assert max(train_dates) < min(opt_dates)
    m = result.metrics
    assert m["training_days"] == 3 and m["optimization_days"] == 2
    prefs = pd.read_csv(tmp_path / "preferences.csv")
    for _, d in prefs.groupby("device"):
        assert len(d) == 24
        assert d["posterior"].sum() == pytest.approx(1.0)
        assert d["prior"].sum() == pytest.approx(1.0)
    # Observations used = starts on training days only, never one from an optimization day.
    from ems_sweep.data import load_building

    building = load_building(cfg)
    starts = [c.start.tz_convert(building.timezone).date().isoformat() for c in building.cycles]
    assert any(d in opt_dates for d in starts)  # there was something to leak
    assert prefs["observed_starts"].sum() == sum(d in train_dates for d in starts)
    for device in building.shiftable_devices:
        seen = sum(
            c.device == device
            and c.start.tz_convert(building.timezone).date().isoformat() in train_dates
            for c in building.cycles
        )
        assert m[f"{device}_updates_count"] == seen, device
        assert prefs.loc[prefs["device"] == device, "observed_starts"].sum() == seen, device
    # what the preferences cost: the same days optimized without them, summed like the savings
    ok = daily[daily["status"] == "ok"]
    assert m["savings_eur_without_preferences"] == pytest.approx(ok["no_prefs_savings_eur"].sum())
    np.testing.assert_allclose(
        ok["no_prefs_savings_eur"], ok["baseline_cost_eur"] - ok["no_prefs_cost_eur"], atol=1e-9
    )
    assert {"preferences.png", "learning_curve.png"} <= {
        p.name for p in (tmp_path / "plots").glob("*.png")
    }
    assert set(pd.read_csv(tmp_path / "schedules.csv")["schedule"]) == {
        "baseline",
        "optimized",
        "optimized_no_prefs",
    }
    trained = [d for d in building.shiftable_devices if m[f"{d}_updates_count"] > 0]
    rates = [m[f"{d}_convergence_rate"] for d in trained]
    assert m["devices_trained"] == len(trained)
    assert m["avg_convergence"] == pytest.approx(float(np.mean(rates)) if rates else 0.0)


def test_restriction_never_places_a_cycle_in_a_forbidden_hour(tmp_path: Path) -> None:
    from ems_sweep.data import load_building
    from ems_sweep.optimize import check_schedule
    from ems_sweep.pipelines.days import RunOptions, Timings, run_days

    cfg = make_cfg(
        "pipeline=learning",
        "building=res1",
        "n_days=3",
        "pipeline.preference_mode=restrict",
        "mode.max_delay_hours=8",
    )
    building = load_building(cfg)
    # Allow each device only a band of evening hours plus its observed hours.
    preferences, forbidden = {}, {}
    days = building.days()[-2:]
    for device in building.shiftable_devices:
        p = np.full(24, 1e-3)
        allowed = {18, 19, 20, 21, 22}
        for date in days:
            for c in slice_day(building, date).cycles:
                if c.device == device:
                    allowed.add(slice_day(building, date).index[c.observed_start_step].hour)
        p[sorted(allowed)] = 1.0
        preferences[device] = p / p.sum()
        forbidden[device] = set(range(24)) - allowed
    runs = run_days(building, days, cfg, Timings(), RunOptions(preferences, forbidden))
    placed = 0
    for run in runs:
        assert run.status == "ok", run.reason
        for pl in run.optimized.placements:
            hour = run.day.index[pl.start_step].hour
            assert hour not in forbidden[pl.device], (pl, hour)
            placed += 1
        assert check_schedule(run.optimized, run.day, cfg, forbidden) == []
    assert placed > 0
