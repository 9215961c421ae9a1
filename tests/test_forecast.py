"""Plan on forecasts, pay on actuals (forecast group): perfect unchanged, a forecast equal to the
actuals executes its plan exactly, persistence passes the checker and never beats perfect
foresight, and no forecaster reads data from after the planning time."""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import study_params
from test_storage_period import cossmic_cfg

from ems_sweep.config import ConfigError, EmsConfig, LoadLag, validate
from ems_sweep.data import load_building
from ems_sweep.data.forecast import (
    Average,
    History,
    LookaheadError,
    Persistence,
    known_part,
    load_history,
    make_forecaster,
)
from ems_sweep.data.model import FIXED_LOAD, PV, BuildingData, DayData
from ems_sweep.data.slicing import slice_day
from ems_sweep.optimize import schedule as S
from ems_sweep.pipelines.days import RunOptions, Timings, run_days

NUMERIC = [S.IMPORT, S.EXPORT, S.BATTERY_ENERGY, S.EV_ENERGY, S.APPLIANCES, S.COST]


@pytest.fixture(scope="module")
def cossmic_dir():
    from conftest import COSSMIC_DIR

    if not COSSMIC_DIR.is_dir():
        pytest.skip(f"real CoSSMic data not found at {COSSMIC_DIR} (../shared/data/cossmic)")
    return COSSMIC_DIR


def _runs(cfg: EmsConfig, **kw):
    building = load_building(cfg)
    return building, run_days(building, building.days(), cfg, Timings(), RunOptions(**kw))


@dataclasses.dataclass(frozen=True)
class Oracle:
    """A test forecaster that returns the actual day, cycles included."""

    data: BuildingData
    knows_cycles: bool = True
    lookback_days: int = 0

    def forecast(self, history: History, known: DayData) -> DayData:
        return slice_day(self.data, known.date)


def test_perfect_is_todays_behaviour(cossmic_dir):
    cfg = cossmic_cfg(cossmic_dir, "cossmic_res4", "start_date=2016-06-01", "n_days=3")
    assert make_forecaster(cfg) is None
    _, runs = _runs(cfg)
    for a in runs:  # no plan/execution split: the optimized schedule is the perfect one
        assert a.perfect is None and a.planned is None and "perfect_cost_eur" not in a.row


def test_forecast_equal_to_actuals_executes_its_plan_exactly(cossmic_dir):
    cfg = cossmic_cfg(cossmic_dir, "cossmic_res4", "start_date=2016-06-01", "n_days=3")
    building = load_building(cfg)
    oracle = RunOptions(forecaster=Oracle(building), history=building)
    runs = run_days(building, building.days(), cfg, Timings(), oracle)
    for run in runs:
        assert run.status == "ok", run.reason
        executed, planned, perfect = run.optimized.table, run.planned.table, run.perfect.table
        for key in NUMERIC:
            np.testing.assert_allclose(executed[key], planned[key], atol=1e-6, err_msg=key)
        assert run.row["optimized_cost_eur"] == pytest.approx(perfect["cost_eur"].sum(), abs=1e-5)
        assert run.row["value_of_perfect_information_eur"] == pytest.approx(0.0, abs=1e-5)
        assert run.row["forecast_pv_mae_kwh"] == 0.0


@pytest.mark.parametrize("building", ["cossmic_res1", "cossmic_res4"])
@pytest.mark.parametrize("start", ["2016-06-01", "2016-01-11"])
def test_persistence_passes_the_checker_and_never_beats_perfect_foresight(
    cossmic_dir, tmp_path, building, start
):
    from ems_sweep.pipelines.comparison import run_comparison

    cfg = cossmic_cfg(
        cossmic_dir, building, f"start_date={start}", "n_days=4", "forecast=persistence"
    )
    result = run_comparison(cfg, tmp_path)
    daily = pd.read_csv(tmp_path / "daily.csv")
    assert result.status == "ok", result.error
    assert (daily["constraint_violations"] == 0).all()
    m = result.metrics
    # storage is carried over midnight, so one day can be cheaper than perfect foresight by
    # draining what the next day pays for; over the period (end storage included) it cannot
    assert m["savings_eur"] <= m["perfect_savings_eur"] + 1e-6
    assert m["value_of_perfect_information_eur"] >= -1e-6
    # persistence: the PV forecast is yesterday's PV on the clock, so each day's MAE is the
    # mean step difference between the two days' actual PV
    building = load_building(cfg)
    checked = 0
    for _, row in daily[daily["status"] == "ok"].iterrows():
        today = dt.date.fromisoformat(row["date"])
        yesterday = today - dt.timedelta(days=1)
        if yesterday not in building.days():
            continue
        pv, before = slice_day(building, today).pv_kwh, slice_day(building, yesterday).pv_kwh
        mae = float(np.mean(np.abs(np.asarray(before) - np.asarray(pv))))
        assert row["forecast_pv_mae_kwh"] == pytest.approx(mae, abs=1e-9), today
        assert row["actual_pv_kwh"] == pytest.approx(float(np.sum(pv))), today
        checked += 1
    assert checked >= 2


def _perturbed(data: BuildingData, planning: dt.date) -> BuildingData:
    """The same building with every actual from `planning` (midnight) on changed."""
    frame = data.frame.copy()
    late = frame.index >= pd.Timestamp(planning).tz_localize(data.timezone)
    frame.loc[late, FIXED_LOAD] *= 3.0
    frame.loc[late, PV] = frame.loc[late, PV][::-1].to_numpy()
    cut = pd.Timestamp(planning).tz_localize(data.timezone)
    trips = [
        t if t.arrival < cut else dataclasses.replace(t, energy_kwh=t.energy_kwh + 5.0)
        for t in data.ev_trips
    ]
    return dataclasses.replace(data, frame=frame, ev_trips=trips)


@pytest.mark.parametrize(
    "forecaster",
    [Persistence(), Persistence(load_lag=LoadLag.week), Average(load_weeks=2, pv_days=3)],
    ids=["persistence", "persistence_week", "average"],
)
def test_no_forecaster_reads_data_after_the_planning_time(cossmic_dir, forecaster):
    cfg = cossmic_cfg(cossmic_dir, "cossmic_res4", "start_date=2016-06-06", "n_days=2")
    data = load_history(cfg, forecaster)
    planning = dt.date(2016, 6, 6)
    changed = _perturbed(data, planning)
    for target in (planning, planning + dt.timedelta(days=1)):  # today and tomorrow
        known = known_part(slice_day(data, target))
        a = forecaster.forecast(History(data, planning), known)
        b = forecaster.forecast(History(changed, planning), known)
        np.testing.assert_array_equal(a.fixed_load_kwh, b.fixed_load_kwh)
        np.testing.assert_array_equal(a.pv_kwh, b.pv_kwh)
        assert a.ev_trips == b.ev_trips
        assert not a.cycles
        assert not np.array_equal(a.pv_kwh, slice_day(data, target).pv_kwh)
    with pytest.raises(LookaheadError):
        History(data, planning).day(planning)


def test_forecast_options_are_checked(cossmic_dir):
    cfg = cossmic_cfg(cossmic_dir, "cossmic_res4", "forecast=persistence")
    cfg.pipeline.attribution = True
    with pytest.raises(ConfigError, match="pipeline.attribution"):
        validate(cfg)
    cfg.pipeline.attribution = False
    cfg.forecast.load_weeks = 0
    with pytest.raises(ConfigError, match="forecast.load_weeks"):
        validate(cfg)


def test_report_and_daily_hold_the_forecast_figures(cossmic_dir, tmp_path: Path):
    from ems_sweep.pipelines.comparison import run_comparison

    cfg = cossmic_cfg(
        cossmic_dir, "cossmic_res4", "start_date=2016-06-01", "n_days=2", "forecast=average"
    )
    result = run_comparison(cfg, tmp_path)
    daily = pd.read_csv(tmp_path / "daily.csv")
    assert result.status == "ok", result.error
    ok = daily[daily["status"] == "ok"]
    assert len(ok) == 2
    # the value of perfect information: what the executed schedule paid beyond perfect foresight
    vpi = ok["optimized_cost_eur"] - ok["perfect_cost_eur"]
    np.testing.assert_allclose(ok["value_of_perfect_information_eur"], vpi, atol=1e-9)
    m = result.metrics
    assert m["perfect_total_cost"] == pytest.approx(ok["perfect_cost_eur"].sum())
    vpi_job = m["perfect_savings_eur"] - m["savings_eur"]  # each with its end-of-period storage
    assert m["value_of_perfect_information_eur"] == pytest.approx(vpi_job)
    kinds = set(pd.read_csv(tmp_path / "schedules.csv")["schedule"])
    assert kinds == {"baseline", "optimized", "perfect", "planned"}
    report = (tmp_path / "report.md").read_text()
    assert "Forecast" in report and "executed" in report


def test_forecast_value_study_sweeps_forecast_building_and_hardware():
    params = study_params("forecast_value")
    assert params["forecast"] == "perfect,persistence,average"
    assert {"building", "battery", "ev"} <= set(params)


def test_replan_changes_only_what_follows_each_replan(cossmic_dir):
    cfg = cossmic_cfg(
        cossmic_dir, "cossmic_res4", "start_date=2016-06-01", "n_days=2", "forecast=persistence"
    )
    _, once = _runs(cfg)
    cfg.forecast.replan_hours = 12
    _, twice = _runs(cfg)
    first, replanned = once[0].optimized.table, twice[0].optimized.table
    assert twice[0].row["replans"] == 1 and twice[0].status == "ok"
    for key in NUMERIC:  # same plan, same state: the morning is executed alike
        np.testing.assert_allclose(first[key][:12], replanned[key][:12], atol=1e-9, err_msg=key)
    assert all(r.status == "ok" for r in twice)
    cfg.forecast.replan_hours = 24
    with pytest.raises(ConfigError, match="forecast.replan_hours"):
        validate(cfg)


def test_average_forecasts_the_usual_trip_of_the_preceding_days(cossmic_dir):
    cfg = cossmic_cfg(cossmic_dir, "cossmic_res4", "start_date=2016-06-08", "n_days=1")
    forecaster = Average(ev_days=7)
    data = load_history(cfg, forecaster)
    planning = dt.date(2016, 6, 8)
    history = History(data, planning)
    previous = [slice_day(data, planning - dt.timedelta(days=k)) for k in range(1, 8)]
    left = [
        min(t.departure for t in d.ev_trips if t.departure.date() == d.date)
        for d in previous
        if any(t.departure.date() == d.date and t.arrival < history.cutoff for t in d.ev_trips)
    ]
    trips = forecaster.forecast(history, known_part(slice_day(data, planning))).ev_trips
    if len(left) < 3.5:
        assert trips == []
        return
    (trip,) = trips
    minutes = sorted(t.hour * 60 + t.minute for t in left)
    assert minutes[0] <= trip.departure.hour * 60 + trip.departure.minute <= minutes[-1]
    assert trip.departure.date() == planning and trip.arrival > trip.departure
    assert trip.energy_kwh > 0


def test_usual_trip_is_the_median_of_the_days_the_car_left(cossmic_dir):
    # res4, 2016-06-02..04: no trip, then 07:00-17:00 (3.0 kWh), then 07:00-12:00 in two trips
    # (1.0 + 6.0 kWh): the car left on 2 of 3 days -> median departure 07:00, energy 5.0 kWh
    cfg = cossmic_cfg(cossmic_dir, "cossmic_res4", "start_date=2016-06-05", "n_days=1")
    forecaster = Average(ev_days=3)
    data = load_history(cfg, forecaster)
    planning = dt.date(2016, 6, 5)
    (trip,) = forecaster.forecast(
        History(data, planning), known_part(slice_day(data, planning))
    ).ev_trips
    assert (trip.departure.date(), trip.departure.hour) == (planning, 7)
    assert trip.energy_kwh == pytest.approx(5.0, abs=0.05)
    assert 12 <= trip.arrival.hour <= 17
