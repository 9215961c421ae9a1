"""Broken copies of the shared CoSSMic files: each class of bad data has its outcome.

An error naming file, column and lines (data that cannot be right), the day skipped with its
reason (unusable), or the day flagged in its quality record (suspicious but usable).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import compose_config

from ems_sweep.config import register_configs
from ems_sweep.data import DataError, load_building
from ems_sweep.data.model import PRICE, PV
from ems_sweep.data.readers import FileFormatError

register_configs()

R4 = "DE_KN_residential4"
PRICE_COL = "DE_day_ahead_price_eur_per_kwh"
DAY = dt.date(2016, 6, 2)  # the edited day; the run covers 2016-06-01 .. 06-03


def make_cfg(*overrides: str):
    return compose_config(*overrides, validated=False)


@pytest.fixture
def res4(cossmic_dir) -> pd.DataFrame:
    """Six days of residential4 (tz-aware UTC index), to edit and write."""
    src = pd.read_csv(cossmic_dir / f"{R4}_60min.csv.gz", index_col=0, parse_dates=True)
    return src.loc["2016-05-30":"2016-06-04"].copy()


def local_day(frame: pd.DataFrame, day: dt.date) -> np.ndarray:
    return np.asarray(frame.index.tz_convert("Europe/Berlin").date == day)


def load(path: Path, *extra: str):
    return load_building(
        make_cfg(
            "building=cossmic_res4",
            f"building.path={path}",
            "start_date=2016-06-01",
            "n_days=3",
            *extra,
        )
    )


def write(frame: pd.DataFrame, path: Path, **kwargs) -> Path:
    frame.to_csv(path, index_label="utc_timestamp", **kwargs)
    return path


def test_unedited_copy_is_clean(res4, tmp_path):
    data = load(write(res4, tmp_path / "ok.csv"))
    assert data.days() == [dt.date(2016, 6, 1), DAY, dt.date(2016, 6, 3)]
    assert all(not q.flags and q.present_steps == q.expected_steps == 24 for q in data.quality)
    assert data.columns["pv"] == f"{R4}_pv"


def test_dead_main_meter_skips_the_day(res4, tmp_path):
    rows = local_day(res4, DAY)
    for col in ("grid_import", "grid_export", "pv"):
        res4.loc[rows, f"{R4}_{col}"] = 0.0  # the submeters keep reading
    data = load(write(res4, tmp_path / "dead.csv"))
    q = {q.date: q for q in data.quality}
    assert q[DAY].skipped and "dead or stuck meter" in q[DAY].reason
    assert f"{R4}_grid_import" in q[DAY].reason
    assert data.days() == [dt.date(2016, 6, 1), dt.date(2016, 6, 3)]


def test_second_pv_array_is_summed(res4, tmp_path):
    whole = load(write(res4, tmp_path / "one.csv"))
    res4[f"{R4}_pv_roof"] = 0.75 * res4[f"{R4}_pv"]
    res4[f"{R4}_pv_facade"] = 0.25 * res4[f"{R4}_pv"]
    split = load(write(res4.drop(columns=[f"{R4}_pv"]), tmp_path / "two.csv"))
    np.testing.assert_allclose(split.frame[PV], whole.frame[PV], atol=1e-9)
    assert split.columns["pv (summed)"] == f"{R4}_pv_roof, {R4}_pv_facade"
    assert any("PV summed over 2 columns" in n for n in split.notes)
    # building.pv_columns picks arrays explicitly
    roof = load(tmp_path / "two.csv", f"building.pv_columns=[{R4}_pv_roof]")
    np.testing.assert_allclose(roof.frame[PV], 0.75 * whole.frame[PV], atol=1e-9)


def test_price_in_eur_per_mwh_on_one_day_is_an_error(res4, tmp_path):
    res4.loc[local_day(res4, DAY), PRICE_COL] *= 1000
    with pytest.raises(DataError, match=rf"{PRICE_COL}.*2016-06-02.*EUR/MWh"):
        load(write(res4, tmp_path / "mwh.csv"))


def test_naive_timestamps_need_file_timezone(res4, tmp_path):
    clean = load(write(res4, tmp_path / "ok.csv"))
    naive = res4.copy()
    naive.index = naive.index.tz_convert(None)  # UTC wall time, zone dropped
    path = write(naive, tmp_path / "naive.csv")
    with pytest.raises(FileFormatError, match=r"without a time zone.*lines 2, 3.*file_timezone"):
        load(path)
    as_utc = load(path, "building.file_timezone=UTC")
    pd.testing.assert_frame_equal(as_utc.frame, clean.frame)
    local = res4.copy()
    local.index = local.index.tz_convert("Europe/Berlin").tz_localize(None)
    as_local = load(write(local, tmp_path / "local.csv"), "building.file_timezone=Europe/Berlin")
    pd.testing.assert_frame_equal(as_local.frame, clean.frame)


def test_duplicated_timestamp_is_an_error(res4, tmp_path):
    dup = pd.concat([res4.iloc[:50], res4.iloc[49:50] * 2, res4.iloc[50:]])
    with pytest.raises(FileFormatError, match=r"duplicated timestamps.*lines 51, 52"):
        load(write(dup, tmp_path / "dup.csv"))
    swapped = pd.concat([res4.iloc[:50], res4.iloc[51:52], res4.iloc[50:51], res4.iloc[52:]])
    with pytest.raises(FileFormatError, match=r"out of order at line 53"):
        load(write(swapped, tmp_path / "swapped.csv"))


def test_negative_import_is_flagged_and_treated_as_missing(res4, tmp_path):
    col = f"{R4}_grid_import"
    hour = res4.index[local_day(res4, DAY)][12]
    res4.loc[hour, col] = -0.4
    data = load(write(res4, tmp_path / "neg.csv"))
    q = {q.date: q for q in data.quality}
    assert not q[DAY].skipped and q[DAY].filled_steps == 1 and q[DAY].flagged_steps == 1
    assert any(f"negative {col}" in f and "expected >= 0" in f for f in q[DAY].flags)
    assert not q[dt.date(2016, 6, 1)].flags
    res4[col] = -res4[col].abs()  # the whole column in the generation sign convention
    with pytest.raises(DataError, match=rf"{col}.*flip its sign"):
        load(write(res4, tmp_path / "flipped.csv"))


@pytest.mark.parametrize(
    ("cell", "hint"),
    [("meter error", "expected numbers"), ("0,512", "comma decimals"), ("0.512 kWh", "unit")],
)
def test_non_numeric_cell_is_an_error_naming_column_and_line(res4, tmp_path, cell, hint):
    col = f"{R4}_dishwasher"
    res4[col] = res4[col].astype(object)
    res4.iloc[30, res4.columns.get_loc(col)] = cell
    expected = rf"column '{col}' has non-numeric cells at line 32\b.*{hint}"
    with pytest.raises(FileFormatError, match=expected):
        load(write(res4, tmp_path / "text.csv"))


def test_semicolon_file_with_comma_decimals_is_an_error(res4, tmp_path):
    path = write(res4, tmp_path / "excel.csv", sep=";", decimal=",")
    with pytest.raises(FileFormatError, match="separated by ';'"):
        load(path)


def test_bad_price_file_is_named(cossmic_dir, tmp_path):
    src = pd.read_csv(cossmic_dir / f"{R4}_60min.csv.gz", index_col=0, parse_dates=True)
    src = src.loc["2016-05-30":"2016-06-04"]
    data_path = write(src.drop(columns=[PRICE_COL]), tmp_path / "energy.csv")
    prices = src[[PRICE_COL]].astype(object)
    prices.iloc[40, 0] = "n/a?"
    price_path = write(prices, tmp_path / "prices.csv")
    with pytest.raises(FileFormatError, match=r"building.price_path='.*prices.csv'.*line 42"):
        load(data_path, f"building.price_path={price_path}")
    mwh = src[[PRICE_COL]] * 1000
    mwh_path = write(mwh, tmp_path / "prices_mwh.csv")
    with pytest.raises(DataError, match=r"building.price_path='.*prices_mwh.csv'.*EUR/MWh"):
        load(data_path, f"building.price_path={mwh_path}")
    good = load(data_path, f"building.price_path={write(src[[PRICE_COL]], tmp_path / 'p.csv')}")
    assert good.frame[PRICE].notna().all()


def test_submeters_above_consumption_flag_the_day(res4, tmp_path):
    rows = local_day(res4, DAY)
    res4.loc[rows, f"{R4}_heat_pump"] += 1.0  # 24 kWh the main meters never saw
    data = load(write(res4, tmp_path / "excess.csv"))
    q = {q.date: q for q in data.quality}
    assert not q[DAY].skipped and q[DAY].flagged_steps > 12
    assert any("submetered devices exceed" in f for f in q[DAY].flags)
    assert not q[dt.date(2016, 6, 1)].flags


def test_builtin_buildings_get_a_quality_record():
    data = load_building(make_cfg("building=res1", "n_days=2"))
    assert [q.present_steps for q in data.quality] == [24, 24]
    assert set(data.step_status.unique()) == {0}
    with pytest.raises(Exception, match="price_max_eur_per_kwh"):
        load_building(make_cfg("building=res1", "building.quality.price_max_eur_per_kwh=0.001"))


def test_copied_day_is_skipped(res4, tmp_path):
    main = [f"{R4}_{c}" for c in ("grid_import", "grid_export", "pv")]
    day3 = local_day(res4, dt.date(2016, 6, 3))
    res4.loc[day3, main] = res4.loc[local_day(res4, DAY), main].to_numpy() + 0.001
    data = load(write(res4, tmp_path / "copied.csv"))
    q = {q.date: q for q in data.quality}
    assert q[dt.date(2016, 6, 3)].skipped
    assert "repeat 2016-06-02 in every step" in q[dt.date(2016, 6, 3)].reason
    assert not q[DAY].skipped
