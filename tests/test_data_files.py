"""Real-file loaders: OPSD cumulative files (written here), tidy CoSSMic files, bad input."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_module

from ems_sweep.config import register_configs
from ems_sweep.data import DataError, DayNotAvailableError, load_building
from ems_sweep.data.columns import ColumnError
from ems_sweep.data.evtrips import session_energy
from ems_sweep.data.model import (
    FIXED_LOAD,
    OBSERVED_EV,
    OBSERVED_EXPORT,
    OBSERVED_IMPORT,
    PRICE,
    PV,
    device_column,
)
from ems_sweep.data.readers import FileFormatError
from ems_sweep.data.slicing import slice_day

register_configs()

BID = "DE_KN_residential9"
DEVICES = ["dishwasher", "freezer"]


def make_cfg(*overrides: str):
    with initialize_config_module("ems_sweep.conf", version_base="1.3"):
        return compose("config", overrides=list(overrides))


def interval_data(start_utc: str, hours: int, seed: int = 0) -> pd.DataFrame:
    """Hourly interval energies of a small building with a dishwasher run every evening."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range(start_utc, periods=hours, freq="h", tz="UTC")
    local_h = idx.tz_convert("Europe/Berlin").hour.to_numpy()
    dish = np.where(np.isin(local_h, [19, 20]), 0.6, 0.0)
    freezer = 0.03 + 0.01 * rng.uniform(size=hours)
    pv = np.clip(np.sin((local_h - 6) / 14 * np.pi), 0, None) * 2.0
    other = 0.2 + 0.1 * rng.uniform(size=hours)
    consumption = dish + freezer + other
    net = consumption - pv
    return pd.DataFrame(
        {
            f"{BID}_dishwasher": dish,
            f"{BID}_freezer": freezer,
            f"{BID}_grid_import": np.maximum(net, 0),
            f"{BID}_grid_export": -np.maximum(-net, 0),
            f"{BID}_pv": -pv,
        },
        index=idx,
    )


def write_opsd(path: Path, intervals: pd.DataFrame, drop_rows: list[int]) -> None:
    """An OPSD singleindex file: cumulative readings at interval starts, some rows missing."""
    cumulative = intervals.cumsum().shift(1).fillna(0.0)
    step = intervals.index[1] - intervals.index[0]
    cumulative.loc[intervals.index[-1] + step] = intervals.sum()
    cumulative = cumulative.round(6)
    out = cumulative.copy()
    out.insert(0, "cet_cest_timestamp", out.index.tz_convert("Europe/Berlin").strftime("%FT%T%z"))
    out["interpolated"] = ""
    # OPSD marks rows it interpolated with the series' names joined by " | ".
    row = out.index.get_loc(pd.Timestamp("2016-06-01 10:00", tz="UTC"))
    out.iloc[row, out.columns.get_loc("interpolated")] = f"{BID}_pv | {BID}_freezer"
    out["DE_KN_public1_grid_import"] = 1.0
    out = out.drop(out.index[drop_rows])
    out.index.name = "utc_timestamp"
    out.to_csv(path, date_format="%Y-%m-%dT%H:%M:%SZ")


def opsd_cfg(path: Path, *extra: str):
    return make_cfg(
        "building.source=opsd",
        f"building.path={path}",
        f"building.id={BID}",
        "building.shiftable=[dishwasher]",
        "building.fixed=[freezer]",
        "building.synthetic_price=true",
        *extra,
    )


def test_opsd_cumulative_readings_are_differenced(tmp_path):
    truth = interval_data("2016-05-30 22:00", 24 * 5)
    path = tmp_path / "household_data_60min_singleindex.csv"
    write_opsd(path, truth, drop_rows=[])
    data = load_building(opsd_cfg(path, "start_date=2016-06-01", "n_days=2"))
    f = data.frame
    window = truth.loc[f.index[0] : f.index[-1]]
    np.testing.assert_allclose(
        f[device_column("dishwasher")], window[f"{BID}_dishwasher"], atol=1e-6
    )
    np.testing.assert_allclose(f[PV], -window[f"{BID}_pv"], atol=1e-6)
    np.testing.assert_allclose(f[OBSERVED_EXPORT], -window[f"{BID}_grid_export"], atol=1e-6)
    # One dishwasher run per evening, found as one cycle each day.
    assert [c.start.hour for c in data.cycles] == [19, 19]
    assert [c.energy_kwh for c in data.cycles] == pytest.approx([1.2, 1.2])
    # Balance: fixed + cycles - pv == import - export at every step.
    rebuilt = f[FIXED_LOAD].copy()
    for c in data.cycles:
        pos = f.index.get_loc(c.start)
        rebuilt.iloc[pos : pos + len(c.profile_kwh)] += c.profile_kwh
    np.testing.assert_allclose(rebuilt - f[PV], f[OBSERVED_IMPORT] - f[OBSERVED_EXPORT], atol=1e-6)
    # The one row OPSD marked as interpolated counts as filled.
    assert [(q.filled_steps, q.skipped) for q in data.quality] == [(1, False), (0, False)]


def test_opsd_short_gaps_filled_long_gaps_skip_the_day(tmp_path):
    truth = interval_data("2016-05-30 22:00", 24 * 5)
    path = tmp_path / "household_data_60min_singleindex.csv"
    # 2016-06-01 loses one reading (two hours of intervals, filled); 2016-06-02 loses six.
    write_opsd(path, truth, drop_rows=[24 + 12, *range(48 + 5, 48 + 11)])
    data = load_building(opsd_cfg(path, "start_date=2016-06-01", "n_days=2"))
    q1, q2 = data.quality
    assert not q1.skipped and q1.filled_steps == 2  # (the OPSD-marked row is the dropped one)
    assert q2.skipped and "missing" in q2.reason and "max_fill_hours=2" in q2.reason
    assert data.days() == [dt.date(2016, 6, 1)]
    with pytest.raises(DayNotAvailableError, match="skipped"):
        slice_day(data, dt.date(2016, 6, 2))
    # Asked for the bad day alone: nothing usable is an error that names the reason.
    with pytest.raises(DataError, match="2016-06-02.*missing"):
        load_building(opsd_cfg(path, "start_date=2016-06-02", "n_days=1"))


def test_missing_price_is_never_made_up(tmp_path):
    path = tmp_path / "household_data_60min_singleindex.csv"
    write_opsd(path, interval_data("2016-05-30 22:00", 24 * 4), drop_rows=[])
    cfg = opsd_cfg(path, "start_date=2016-06-01", "building.synthetic_price=false")
    with pytest.raises(DataError, match="price"):
        load_building(cfg)


def test_resolution_15_min_splits_energy(tmp_path):
    path = tmp_path / "household_data_60min_singleindex.csv"
    write_opsd(path, interval_data("2016-05-30 22:00", 24 * 4), drop_rows=[])
    h = load_building(opsd_cfg(path, "start_date=2016-06-01"))
    q = load_building(opsd_cfg(path, "start_date=2016-06-01", "resolution_min=15"))
    assert len(q.frame) == 4 * len(h.frame)
    for col in (FIXED_LOAD, PV):
        assert q.frame[col].sum() == pytest.approx(h.frame[col].sum())
    np.testing.assert_allclose(q.frame[PRICE].to_numpy()[::4], h.frame[PRICE])
    assert [c.energy_kwh for c in q.cycles] == pytest.approx([c.energy_kwh for c in h.cycles])


def tidy_cfg(path: Path, *extra: str):
    return make_cfg("building.source=tidy", f"building.path={path}", *extra)


def test_cossmic_res4_balance_cycles_and_ev(cossmic_dir):
    path = cossmic_dir / "DE_KN_residential4_60min.csv.gz"
    cfg = tidy_cfg(path, "building=cossmic_res4", "start_date=2016-06-01", "n_days=7", "ev=default")
    data = load_building(cfg)
    f = data.frame
    assert len(f) == 7 * 24 and data.days()[0] == dt.date(2016, 6, 1)
    energies = f.drop(columns=[PRICE])
    assert (energies >= 0).all().all()
    # the EV model takes over the charging sessions; the charger's standby stays fixed load
    rebuilt = f[FIXED_LOAD] + session_energy(f[OBSERVED_EV], data.dt_h)
    for c in data.cycles:
        pos = f.index.get_loc(c.start)
        n = min(len(c.profile_kwh), len(f) - pos)
        rebuilt.iloc[pos : pos + n] += c.profile_kwh[:n]
    net = f[OBSERVED_IMPORT] - f[OBSERVED_EXPORT]
    # Exact wherever the meters are consistent (consumption >= submetered devices).
    assert np.mean(np.abs(rebuilt - f[PV] - net) < 1e-6) > 0.97
    per_day = len(data.cycles) / 7
    assert 0.1 <= per_day <= 4
    assert data.ev_trips and all(t.departure < t.arrival for t in data.ev_trips)
    assert sum(t.energy_kwh for t in data.ev_trips) == pytest.approx(
        f[OBSERVED_EV].sum() * cfg.ev.charge_efficiency, rel=0.2
    )


def test_cossmic_price_gap_is_reported(cossmic_dir):
    path = cossmic_dir / "DE_KN_residential4_60min.csv.gz"
    data = load_building(
        tidy_cfg(path, "building=cossmic_res4", "start_date=2016-12-13", "n_days=3")
    )
    reasons = {q.date: q.reason for q in data.quality if q.skipped}
    assert dt.date(2016, 12, 13) not in reasons
    assert set(reasons) == {dt.date(2016, 12, 14), dt.date(2016, 12, 15)}
    assert all("price missing" in r for r in reasons.values())


def test_cossmic_res1_without_export_meter(cossmic_dir):
    path = cossmic_dir / "DE_KN_residential1_60min.csv.gz"
    cfg = tidy_cfg(path, "building=cossmic_res1", "start_date=2016-07-01", "n_days=3", "ev=default")
    data = load_building(cfg)
    f = data.frame
    assert OBSERVED_EXPORT not in f.columns
    assert (f.drop(columns=[PRICE]) >= 0).all().all()
    # Night-time consumption is metered import; by day the other load never drops to zero.
    assert f[FIXED_LOAD].min() > 0
    # No EV meter: plausible synthetic trips, on the run's hourly grid.
    assert data.ev_trips
    assert all(t.departure.minute == 0 and t.arrival.minute == 0 for t in data.ev_trips)


def test_load_is_fast_and_cached(cossmic_dir):
    path = cossmic_dir / "DE_KN_residential4_60min.csv.gz"
    cfg = tidy_cfg(path, "building=cossmic_res4", "start_date=2016-06-01", "n_days=7")
    load_building(cfg)
    t = time.perf_counter()
    load_building(cfg)
    assert time.perf_counter() - t < 0.5
    builtin_cfg = make_cfg("building=res4", "n_days=7", "ev=default")
    t = time.perf_counter()
    load_building(builtin_cfg)
    assert time.perf_counter() - t < 0.5


def test_parquet_tidy_file(tmp_path, cossmic_dir):
    src = pd.read_csv(cossmic_dir / "DE_KN_residential4_60min.csv.gz", index_col=0)
    src = src.loc["2016-05-30":"2016-06-04"]
    path = tmp_path / "res4.parquet"
    src.to_parquet(path)
    a = load_building(tidy_cfg(path, "building=cossmic_res4", "start_date=2016-06-01", "n_days=2"))
    csv = cossmic_dir / "DE_KN_residential4_60min.csv.gz"
    b = load_building(tidy_cfg(csv, "building=cossmic_res4", "start_date=2016-06-01", "n_days=2"))
    pd.testing.assert_frame_equal(a.frame, b.frame)


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        (["building.path=nowhere/x.csv"], FileNotFoundError, "no such file"),
        (["building.id=DE_KN_residential7"], ColumnError, "DE_KN_residential4"),
        (["building.shiftable=[dryer]"], ColumnError, "devices of DE_KN_residential4"),
        (["start_date=2019-01-01"], DataError, "covers local days 2015-10-10"),
    ],
)
def test_bad_input_names_what_exists(cossmic_dir, overrides, error, message):
    path = cossmic_dir / "DE_KN_residential4_60min.csv.gz"
    cfg = tidy_cfg(path, "building=cossmic_res4", *overrides)
    with pytest.raises(error, match=message):
        load_building(cfg)


def test_unreadable_file(tmp_path):
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"not a parquet file")
    with pytest.raises(FileFormatError, match="cannot read"):
        load_building(tidy_cfg(path, f"building.id={BID}"))


def test_opsd_with_prices_from_a_separate_file(tmp_path):
    truth = interval_data("2016-05-30 22:00", 24 * 4)
    path = tmp_path / "household_data_60min_singleindex.csv"
    write_opsd(path, truth, drop_rows=[])
    prices = pd.DataFrame(
        {"DE_price_day_ahead": np.linspace(0.01, 0.05, len(truth))},
        index=pd.Index(truth.index, name="utc_timestamp"),
    )
    prices = prices.drop(prices.index[30])  # one hour missing: filled and reported
    price_path = tmp_path / "prices.csv"
    prices.to_csv(price_path)
    cfg = opsd_cfg(
        path,
        "start_date=2016-06-01",
        "building.synthetic_price=false",
        f"building.price_path={price_path}",
        "resolution_min=15",
    )
    data = load_building(cfg)
    expected = prices["DE_price_day_ahead"].reindex(truth.index).interpolate()
    window = expected.loc[data.frame.index[0] : data.frame.index[-1]].to_numpy()
    np.testing.assert_allclose(data.frame[PRICE].to_numpy()[::4], window)
    assert data.quality[0].filled_steps == 8  # the price hour and the OPSD-marked hour, at 15 min


def test_continuous_load_listed_as_shiftable_is_an_error(tmp_path):
    path = tmp_path / "household_data_60min_singleindex.csv"
    write_opsd(path, interval_data("2016-05-30 22:00", 24 * 4), drop_rows=[])
    cfg = opsd_cfg(
        path,
        "start_date=2016-06-01",
        "building.shiftable=[freezer]",
        "building.fixed=[]",
        "building.cycle_threshold_kw=0.01",
    )
    with pytest.raises(DataError, match="'freezer'.*building.fixed"):
        load_building(cfg)


def test_dst_days_of_a_real_file(cossmic_dir):
    path = cossmic_dir / "DE_KN_residential4_60min.csv.gz"
    spring = load_building(
        tidy_cfg(path, "building=cossmic_res4", "start_date=2016-03-27", "resolution_min=15")
    )
    autumn = load_building(tidy_cfg(path, "building=cossmic_res4", "start_date=2016-10-30"))
    assert slice_day(spring, dt.date(2016, 3, 27)).n_steps == 92
    assert slice_day(autumn, dt.date(2016, 10, 30)).n_steps == 25


def test_price_in_eur_per_mwh_is_rejected(tmp_path):
    truth = interval_data("2016-05-30 22:00", 24 * 4)
    path = tmp_path / "household_data_60min_singleindex.csv"
    write_opsd(path, truth, drop_rows=[])
    prices = pd.DataFrame(
        {"price": np.full(len(truth), 35.0)}, index=pd.Index(truth.index, name="utc_timestamp")
    )
    prices.to_csv(tmp_path / "prices.csv")
    cfg = opsd_cfg(
        path, "building.synthetic_price=false", f"building.price_path={tmp_path}/prices.csv"
    )
    with pytest.raises(DataError, match="EUR/MWh"):
        load_building(cfg)


def test_opsd_15_min_file_loaded_at_60_min(tmp_path):
    hourly = interval_data("2016-05-30 22:00", 24 * 4)
    quarters = pd.DataFrame(
        np.repeat(hourly.to_numpy() / 4, 4, axis=0),
        index=pd.date_range(hourly.index[0], periods=4 * len(hourly), freq="15min"),
        columns=hourly.columns,
    )
    path = tmp_path / "household_data_15min_singleindex.csv"
    write_opsd(path, quarters, drop_rows=[])
    data = load_building(opsd_cfg(path, "start_date=2016-06-01"))
    window = hourly.loc[data.frame.index[0] : data.frame.index[-1]]
    assert len(data.frame) == 24
    np.testing.assert_allclose(data.frame[PV], -window[f"{BID}_pv"], atol=1e-5)
    assert [c.start.hour for c in data.cycles] == [19]
