"""Built-in buildings: determinism, plausible magnitudes, detected cycles = generated cycles."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hydra import compose, initialize_config_module

from ems_sweep.config import register_configs
from ems_sweep.data import builtin, load_building
from ems_sweep.data.model import FIXED_LOAD, OBSERVED_EV, PRICE, PV, device_column
from ems_sweep.data.resample import resample
from ems_sweep.data.slicing import slice_day

register_configs()


def make_cfg(*overrides: str):
    with initialize_config_module("ems_sweep.conf", version_base="1.3"):
        return compose("config", overrides=list(overrides))


def test_same_seed_same_data_other_seed_other_data():
    a = load_building(make_cfg("building=res1", "n_days=2"))
    b = load_building(make_cfg("building=res1", "n_days=2"))
    c = load_building(make_cfg("building=res1", "n_days=2", "seed=7"))
    assert a.frame.equals(b.frame)
    assert [x.start for x in a.cycles] == [x.start for x in b.cycles]
    assert not np.allclose(a.frame[FIXED_LOAD], c.frame[FIXED_LOAD])


def test_a_day_does_not_depend_on_the_requested_range():
    short = load_building(make_cfg("building=res4", "n_days=1", "start_date=2016-06-02"))
    long = load_building(make_cfg("building=res4", "n_days=3", "start_date=2016-06-01"))
    d = dt.date(2016, 6, 2)
    a, b = slice_day(short, d), slice_day(long, d)
    np.testing.assert_allclose(a.fixed_load_kwh, b.fixed_load_kwh)
    np.testing.assert_allclose(a.pv_kwh, b.pv_kwh)
    assert [c.cycle_id for c in a.cycles] == [c.cycle_id for c in b.cycles]


def test_60_min_is_the_sum_of_15_min():
    h = load_building(make_cfg("building=res1", "n_days=1", "resolution_min=60"))
    q = load_building(make_cfg("building=res1", "n_days=1", "resolution_min=15"))
    assert len(h.frame) == 24 and len(q.frame) == 96 and q.dt_h == 0.25
    for col in (FIXED_LOAD, PV):
        assert h.frame[col].sum() == pytest.approx(q.frame[col].sum(), abs=0.05)
    np.testing.assert_allclose(h.frame[PRICE], q.frame[PRICE].to_numpy()[::4])


@pytest.mark.parametrize("resolution", [15, 60])
def test_detected_cycles_equal_generated_cycles(resolution):
    cfg = make_cfg("building=res5", "n_days=7", f"resolution_min={resolution}")
    data = load_building(cfg)
    start = dt.date(2016, 6, 1)
    truth = builtin.generate(cfg.building, 42, start, start + dt.timedelta(days=7)).cycles
    truth = [c for c in truth if c.device in data.shiftable_devices]
    assert len(truth) >= 5
    assert len(data.cycles) == len(truth)
    freq = f"{resolution}min"
    for found, made in zip(
        data.cycles, sorted(truth, key=lambda c: (c.start, c.device)), strict=True
    ):
        assert found.device == made.device
        assert found.start == made.start.floor(freq)
        # Only a drying tail below the threshold may stay in the fixed load.
        assert found.energy_kwh == pytest.approx(made.energy_kwh, abs=0.05)


@pytest.mark.parametrize("ev", ["none", "default"])
def test_baseline_balance_reproduces_consumption(ev):
    """With an EV model the metered charging is its own column; without, it stays fixed load."""
    cfg = make_cfg("building=res4", "n_days=2", "start_date=2016-06-01", f"ev={ev}")
    start = dt.date(2016, 6, 1)
    gen = builtin.generate(cfg.building, 42, start - dt.timedelta(days=1), start + dt.timedelta(3))
    data = load_building(cfg)
    consumption = gen.frame[builtin.CONSUMPTION]
    lo, hi = data.frame.index[0], data.frame.index[-1] + dt.timedelta(hours=1)
    observed = consumption[(consumption.index >= lo) & (consumption.index < hi)]
    observed = resample(observed.to_frame(), 15, 60)[builtin.CONSUMPTION]
    rebuilt = data.frame[FIXED_LOAD] + (data.frame[OBSERVED_EV] if ev == "default" else 0.0)
    for c in data.cycles:
        pos = data.frame.index.get_loc(c.start)
        rebuilt.iloc[pos : pos + len(c.profile_kwh)] += c.profile_kwh[: len(rebuilt) - pos]
    # Exact except for a cycle running past the last day (its tail lies outside the window).
    assert abs(rebuilt.sum() - observed.sum()) < 1.0
    assert (data.frame.drop(columns=[PRICE]) >= 0).all().all()


@pytest.mark.parametrize("building", ["res1", "res2", "res3", "res4", "res5", "res6", "ind3"])
def test_magnitudes_are_plausible_for_german_homes(building):
    summer = load_building(make_cfg(f"building={building}", "n_days=7", "start_date=2016-06-10"))
    winter = load_building(make_cfg(f"building={building}", "n_days=7", "start_date=2016-01-10"))
    for data, season in ((summer, "summer"), (winter, "winter")):
        f = data.frame
        load = (f[FIXED_LOAD] + sum(f[device_column(d)] for d in data.shiftable_devices)).sum()
        per_day = load / 7
        assert 2.0 < per_day < 45.0, (building, season, per_day)
        assert f[PRICE].between(-0.1, 0.25).all()


def test_pv_follows_the_seasons():
    """Shared regional weather: one building over 45 days per season is enough."""
    kwp = float(make_cfg("building=res4").building.generator.pv_kwp)
    summer = load_building(make_cfg("building=res4", "n_days=45", "start_date=2016-06-01"))
    winter = load_building(make_cfg("building=res4", "n_days=45", "start_date=2016-12-01"))
    per_kwp_summer = summer.frame[PV].sum() / 45 / kwp
    per_kwp_winter = winter.frame[PV].sum() / 45 / kwp
    # Konstanz: about 4-5.5 kWh/kWp a day in June-July, about 1 in December-January.
    assert 3.5 < per_kwp_summer < 6.0
    assert 0.4 < per_kwp_winter < 1.6


def test_day_slicing_covers_dst_days():
    spring = load_building(make_cfg("building=res1", "start_date=2016-03-27", "resolution_min=15"))
    autumn = load_building(make_cfg("building=res1", "start_date=2016-10-30"))
    assert slice_day(spring, dt.date(2016, 3, 27)).n_steps == 92
    assert slice_day(autumn, dt.date(2016, 10, 30)).n_steps == 25


def test_ev_trips_only_when_ev_enabled():
    off = load_building(make_cfg("building=res4", "n_days=3"))
    on = load_building(make_cfg("building=res4", "n_days=3", "ev=default"))
    synthetic = load_building(make_cfg("building=res1", "n_days=3", "ev=default"))
    assert off.ev_trips == [] and on.ev_trips and synthetic.ev_trips
    # Without an EV model the metered charging is part of the fixed load, as it happened.
    np.testing.assert_allclose(off.frame[FIXED_LOAD], on.frame[FIXED_LOAD] + on.frame[OBSERVED_EV])
    for trip in on.ev_trips:
        assert trip.departure < trip.arrival and 0 < trip.energy_kwh < 60
    day = slice_day(on, dt.date(2016, 6, 1))
    assert all(t.departure.date() == day.date or t.arrival.date() == day.date for t in day.ev_trips)


def test_price_shape_over_a_year():
    from ems_sweep.data.prices import hourly_prices
    from ems_sweep.data.weather import _summerness, day_weather

    days = [dt.date(2016, 1, 1) + dt.timedelta(days=k) for k in range(366)]
    prices = np.array([hourly_prices(42, d, day_weather(42, d), _summerness(d)) for d in days])
    weekend = np.array([d.weekday() >= 5 for d in days])
    weekday_mean = prices[~weekend].mean(axis=0)
    assert weekday_mean[8] > weekday_mean[3] and weekday_mean[19] > weekday_mean[13]  # peaks
    assert weekday_mean[13] < weekday_mean[9]  # midday dip
    assert prices[weekend].mean() < prices[~weekend].mean()
    negative = (prices < 0).mean()
    assert 0.003 < negative < 0.05  # occasional negative hours
    assert 0.02 < prices.mean() < 0.045  # EUR/kWh, 2015-2017 wholesale level


def test_generator_next_to_real_residential4(cossmic_dir):
    """The built-in res4 against the real CoSSMic residential4 in June 2016 (daily means)."""
    path = cossmic_dir / "DE_KN_residential4_60min.csv.gz"
    real = load_building(make_cfg("building=cossmic_res4", f"building.path={path}", "n_days=30"))
    made = load_building(make_cfg("building=res4", "n_days=30"))

    def figures(data):
        f = data.frame
        load = f[FIXED_LOAD] + sum(f[device_column(d)] for d in data.shiftable_devices)
        return {
            "load": load.sum() / 30,
            "pv": f[PV].sum() / 30,
            "cycles": len(data.cycles) / 30,
            "ev": f[OBSERVED_EV].sum() / 30,
            "price": f[PRICE].mean(),
        }

    r, m = figures(real), figures(made)
    for key in ("load", "cycles", "ev"):
        assert 0.5 < m[key] / r[key] < 2.0, (key, m[key], r[key])
    assert 0.7 < m["pv"] / r["pv"] < 1.3
    assert abs(m["price"] - r["price"]) < 0.015
