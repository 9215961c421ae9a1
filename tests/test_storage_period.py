"""Storage over the period on the shared buildings: an honest baseline battery, warm start,
rolling horizon, the end-of-period rule and the EV target on every plugged day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import compose_config

from ems_sweep.config import ConfigError, EmsConfig
from ems_sweep.data.horizon import horizon_day
from ems_sweep.data.slicing import slice_day
from ems_sweep.optimize import schedule as S
from ems_sweep.optimize.cycles import StartRule, start_window
from ems_sweep.pipelines.planning import horizon_dates

BUILDINGS = {"cossmic_res1": "DE_KN_residential1", "cossmic_res4": "DE_KN_residential4"}


def cossmic_cfg(cossmic_dir: Path, building: str, *overrides: str) -> EmsConfig:
    path = cossmic_dir / f"{BUILDINGS[building]}_60min.csv.gz"
    return compose_config(
        "tracking=none",
        "pipeline.plots=false",
        f"building={building}",
        f"building.path={path}",
        "battery=default",
        "ev=default",
        *overrides,
    )


def run_job(cfg: EmsConfig, job_dir: Path):
    from ems_sweep.pipelines.comparison import run_comparison

    result = run_comparison(cfg, job_dir)
    schedules = pd.read_csv(job_dir / "schedules.csv")
    return result, pd.read_csv(job_dir / "daily.csv"), schedules


@pytest.fixture(scope="module")
def june_res4(tmp_path_factory, request):
    """21 days of June 2016 for cossmic_res4 (battery and EV default), run once."""
    cossmic_dir = request.getfixturevalue("cossmic_dir")
    cfg = cossmic_cfg(cossmic_dir, "cossmic_res4", "start_date=2016-06-01", "n_days=21")
    return cfg, *run_job(cfg, tmp_path_factory.mktemp("june_res4"))


@pytest.fixture(scope="module")
def cossmic_dir():  # module scope for the fixture above (conftest's is per test)
    from conftest import COSSMIC_DIR

    if not COSSMIC_DIR.is_dir():
        pytest.skip(f"real CoSSMic data not found at {COSSMIC_DIR} (../shared/data/cossmic)")
    return COSSMIC_DIR


def _baseline(schedules: pd.DataFrame) -> pd.DataFrame:
    return schedules[schedules["schedule"] == "baseline"].reset_index(drop=True)


def test_baseline_battery_discharges_at_night_when_load_exceeds_pv(june_res4):
    cfg, result, daily, schedules = june_res4
    base = _baseline(schedules)
    floor = cfg.battery.soc_min * cfg.battery.capacity_kwh
    before = base["battery_energy_kwh"].shift(1).fillna(base["battery_start_kwh"])
    deficit = base[S.FIXED_LOAD] + base[S.APPLIANCES] + base[S.EV_CHARGE] - base[S.PV]
    night = pd.to_datetime(base["time"], utc=True).dt.tz_convert("Europe/Berlin").dt.hour < 5
    can = (deficit > 1e-3) & (before > floor + 1e-3)
    assert (night & can).sum() > 20  # the data has such steps every night
    discharged = base.loc[night & can, S.BATTERY_DISCHARGE]
    expected = np.minimum(deficit[night & can], cfg.battery.max_discharge_kw)
    expected = np.minimum(expected, (before[night & can] - floor) * 0.95)
    np.testing.assert_allclose(discharged, expected, atol=1e-4)
    assert result.metrics["constraint_violations"] == 0  # the checker's battery_idle kind too


def test_baseline_battery_start_energy_does_not_climb_over_21_june_days(june_res4):
    _, result, daily, _ = june_res4
    assert result.status == "ok", result.error
    starts = daily["baseline_battery_start_kwh"].to_numpy()
    lows = _baseline(june_res4[3]).groupby("date")["battery_energy_kwh"].min().to_numpy()
    # a held-back battery never went below its start and its start ratcheted up day by day
    assert (lows < starts - 0.5).all(), list(zip(starts, lows, strict=True))
    assert not (np.diff(starts) >= -1e-6).all()
    assert starts[-7:].mean() <= starts[:7].mean() + 0.5


def test_warm_start_leaves_no_phantom_ev_charge_on_day_one(june_res4):
    cfg, result, daily, schedules = june_res4
    first = _baseline(schedules).query("date == '2016-06-01'")
    # the warm-up day (2016-05-31) charged the car on arrival; day 1 starts as the controller
    # left it (at the target: the metered car charges back to it after each trip)
    assert first["ev_start_kwh"].iloc[0] == pytest.approx(cfg.ev.target_soc * cfg.ev.capacity_kwh)
    assert first[S.EV_CHARGE].iloc[:3].sum() == pytest.approx(0.0, abs=1e-6)
    assert daily["optimized_battery_start_kwh"].iloc[0] == pytest.approx(
        daily["baseline_battery_start_kwh"].iloc[0]
    )


def test_warm_start_falls_back_to_soc_initial_without_a_day_before(cossmic_dir, tmp_path):
    # the file starts on 2015-10-10 at 19:00 local: no usable day before 2015-10-11
    cfg = cossmic_cfg(cossmic_dir, "cossmic_res4", "start_date=2015-10-11", "n_days=1")
    result, daily, _ = run_job(cfg, tmp_path)
    assert result.status == "ok", result.error
    assert daily["baseline_battery_start_kwh"].iloc[0] == pytest.approx(5.0)
    report = (tmp_path / "report.md").read_text()
    assert "no usable day 2015-10-10" in report and "soc_initial" in report


def test_ev_target_met_every_plugged_day_or_shortfall_reported(june_res4):
    cfg, result, daily, schedules = june_res4
    target = cfg.ev.target_soc * cfg.ev.capacity_kwh
    hour = cfg.ev.must_be_full_by_hour
    opt = schedules[schedules["schedule"] == "optimized"]
    local = pd.to_datetime(opt["time"], utc=True).dt.tz_convert("Europe/Berlin")
    before_hour = opt[(local.dt.hour == hour - 1) & (opt[S.EV_PLUGGED] == 1)]
    assert len(before_hour) >= 10  # plugged in at 07:00 on most days, trip or not
    short = daily.set_index("date")["optimized_ev_target_shortfall_kwh"]
    for _, step in before_hour.iterrows():
        missing = max(0.0, target - step[S.EV_ENERGY])
        assert missing < 1e-4 or short[step["date"]] >= missing - 1e-4
    assert result.metrics["ev_target_shortfall_kwh"] == pytest.approx(short.sum())


@pytest.mark.parametrize(
    "building, start, n_days, mode",
    [
        ("cossmic_res4", "2016-01-11", 7, "centralized"),
        ("cossmic_res1", "2016-01-11", 7, "centralized"),
        ("cossmic_res1", "2016-06-01", 21, "centralized"),
        ("cossmic_res4", "2016-01-11", 7, "centralized_phases"),
    ],
)
def test_centralized_never_costs_more_than_the_baseline_over_the_period(
    cossmic_dir, tmp_path, building, start, n_days, mode
):
    cfg = cossmic_cfg(
        cossmic_dir, building, f"start_date={start}", f"n_days={n_days}", f"mode={mode}"
    )
    result, daily, _ = run_job(cfg, tmp_path)
    assert result.status == "ok", result.error
    m = result.metrics
    assert m["savings_eur"] >= -1e-6
    assert daily["end_storage_diff_kwh"].iloc[-1] >= -1e-4  # no_less: nothing drained at the end


def test_centralized_never_costs_more_over_21_june_days(june_res4):
    _, result, daily, _ = june_res4
    assert result.metrics["savings_eur"] >= -1e-6
    assert result.metrics["end_storage_value_eur"] == pytest.approx(0.0, abs=1e-9)


def test_storage_left_missing_at_the_end_is_bought_back(cossmic_dir, tmp_path):
    # Executed on forecasts, the battery ends above the baseline's and the EV below it. (A
    # decentralized case used to run here too; it ends level, so it checked 0 = 0.)
    overrides = ["start_date=2016-06-01", "n_days=3", "forecast=persistence"]
    cfg = cossmic_cfg(cossmic_dir, "cossmic_res4", *overrides)
    result, daily, schedules = run_job(cfg, tmp_path)
    assert result.status == "ok", result.error
    m = result.metrics
    # under no_less, what the battery and the EV each end below the baseline's is bought back
    # at the last day's mean import price; what they end above it is not credited
    last = daily.iloc[-1]
    short = sum(
        max(0.0, last[f"baseline_{store}_end_kwh"] - last[f"optimized_{store}_end_kwh"])
        for store in ("battery", "ev")
    )
    assert short > 1e-3  # something is bought back, or the check below is 0 = 0
    day = schedules[(schedules["date"] == last["date"]) & (schedules["schedule"] == "baseline")]
    price = day["import_price_eur_per_kwh"].mean()
    assert m["end_storage_value_eur"] == pytest.approx(-price * short, abs=1e-4)
    assert m["savings_eur"] == pytest.approx(
        m["savings_eur_operational"] + m["end_storage_value_eur"]
    )


def test_end_storage_value_is_its_own_figure_in_the_savings(cossmic_dir, tmp_path):
    cfg = cossmic_cfg(
        cossmic_dir,
        "cossmic_res4",
        "start_date=2016-01-11",
        "n_days=3",
        "pipeline.end_storage=value",
        "pipeline.end_storage_price_eur_per_kwh=0.1",
    )
    result, daily, _ = run_job(cfg, tmp_path)
    assert result.status == "ok", result.error
    m = result.metrics
    diff = daily["end_storage_diff_kwh"].iloc[-1]
    assert m["end_storage_value_eur"] == pytest.approx(0.1 * diff)
    assert m["savings_eur"] == pytest.approx(m["savings_eur_operational"] + 0.1 * diff)
    assert "end_storage=value" in (tmp_path / "report.md").read_text()


def test_end_storage_value_needs_a_price(cossmic_dir):
    with pytest.raises(ConfigError, match="end_storage_price_eur_per_kwh"):
        cossmic_cfg(cossmic_dir, "cossmic_res4", "pipeline.end_storage=value")
    with pytest.raises(ConfigError, match="horizon_days"):
        cossmic_cfg(cossmic_dir, "cossmic_res4", "pipeline.horizon_days=0")


def test_horizon_joins_days_and_keeps_each_cycle_in_its_day(cossmic_dir):
    from ems_sweep.data import load_building

    cfg = cossmic_cfg(cossmic_dir, "cossmic_res4", "start_date=2016-06-01", "n_days=3")
    building = load_building(cfg)
    days = [slice_day(building, d) for d in building.days()[:2]]
    h = horizon_day(days)
    assert h.n_steps == days[0].n_steps + days[1].n_steps
    np.testing.assert_allclose(h.pv_kwh[days[0].n_steps :], days[1].pv_kwh)
    assert len(h.cycles) == len(days[0].cycles) + len(days[1].cycles)
    assert len(set(h.ev_trips)) == len(h.ev_trips)  # a trip over midnight counted once
    for c in h.cycles:
        lo, end = h.day_span(c.observed_start_step)
        window = start_window(c, h, StartRule(6.0, allow_advance=True))
        assert window.start >= lo and window.stop - 1 + len(c.profile_kwh) <= end


def test_horizon_dates_truncate_at_period_end_and_gaps():
    d = [dt.date(2016, 6, k) for k in (1, 2, 3, 5)]
    assert horizon_dates(d, 0, 2) == d[:2]
    assert horizon_dates(d, 2, 2) == [d[2]]  # 06-04 skipped: no look-ahead over the gap
    assert horizon_dates(d, 3, 3) == [d[3]]  # the period's end
    assert horizon_dates(d, 0, 1) == [d[0]]


def test_end_storage_figures_by_rule():
    from ems_sweep.config import EndStorage
    from ems_sweep.optimize import StorageState
    from ems_sweep.pipelines.days import end_storage_figures

    cfg = EmsConfig()
    base = StorageState(5.0, 50.0)
    # no_less: more is not credited, less (a rule-based mode) is bought back at the given price
    more = end_storage_figures(cfg, StorageState(6.0, 50.0), base, 0.3)
    assert more == {"end_storage_diff_kwh": 1.0, "end_storage_value_eur": 0.0}
    less = end_storage_figures(cfg, StorageState(6.0, 48.0), base, 0.3)
    assert less["end_storage_diff_kwh"] == pytest.approx(-1.0)
    assert less["end_storage_value_eur"] == pytest.approx(-0.6)  # the car's 2 kWh, not netted
    cfg.pipeline.end_storage = EndStorage.value
    cfg.pipeline.end_storage_price_eur_per_kwh = 0.1
    valued = end_storage_figures(cfg, StorageState(6.0, 48.0), base, 0.3)
    assert valued["end_storage_value_eur"] == pytest.approx(-0.1)
