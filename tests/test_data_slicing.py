"""slice_day: step offsets, cycles past midnight, trips of the day, skipped and unknown days."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ems_sweep.data import DayNotAvailableError, slice_day
from ems_sweep.data.model import (
    FIXED_LOAD,
    PRICE,
    PV,
    BuildingData,
    Cycle,
    DayQuality,
    EVTrip,
)

TZ = "Europe/Berlin"


def two_days() -> BuildingData:
    index = pd.date_range(pd.Timestamp("2016-06-01", tz=TZ), periods=48, freq="h")
    frame = pd.DataFrame(
        {FIXED_LOAD: np.full(48, 0.3), PV: np.zeros(48), PRICE: np.full(48, 0.03)}, index=index
    )
    late = Cycle("dishwasher", index[23], np.array([1.0, 0.5, 0.2]))  # 23:00, runs 3 h
    noon = Cycle("washing_machine", index[36], np.array([0.8, 0.4]))
    trip = EVTrip(index[31], index[42], 8.0)
    return BuildingData(
        building="test",
        timezone=TZ,
        dt_h=1.0,
        frame=frame,
        cycles=[late, noon],
        ev_trips=[trip],
        quality=[DayQuality(dt.date(2016, 6, 1)), DayQuality(dt.date(2016, 6, 2))],
        shiftable_devices=["dishwasher", "washing_machine"],
    )


def test_cycle_past_midnight_belongs_to_its_start_day_and_is_pulled_back():
    data = two_days()
    first = slice_day(data, dt.date(2016, 6, 1))
    second = slice_day(data, dt.date(2016, 6, 2))
    assert [c.cycle_id for c in first.cycles] == ["dishwasher@2016-06-01T23:00"]
    late = first.cycles[0]
    assert late.clipped and late.observed_start_step == 21
    np.testing.assert_allclose(late.profile_kwh, [1.0, 0.5, 0.2])
    assert [(c.device, c.observed_start_step, c.clipped) for c in second.cycles] == [
        ("washing_machine", 12, False)
    ]
    assert first.ev_trips == [] and len(second.ev_trips) == 1
    assert first.n_steps == 24 and first.dt_h == 1.0


def test_skipped_and_unknown_days_raise():
    data = two_days()
    data.quality[1] = DayQuality(dt.date(2016, 6, 2), skipped=True, reason="price missing for 3 h")
    assert data.days() == [dt.date(2016, 6, 1)]
    with pytest.raises(DayNotAvailableError, match="price missing"):
        slice_day(data, dt.date(2016, 6, 2))
    with pytest.raises(DayNotAvailableError, match="2016-06-01 .. 2016-06-02"):
        slice_day(data, dt.date(2016, 7, 1))
