"""Cycle detection on synthetic series: a programme with a pause is one cycle, blips are none."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ems_sweep.data.cycles import detect_cycles


def series(values: list[float], freq: str = "h") -> pd.Series:
    idx = pd.date_range("2016-06-01", periods=len(values), freq=freq, tz="Europe/Berlin")
    return pd.Series(values, index=idx, dtype=float)


def detect(values: list[float], **kw) -> list[tuple[int, float]]:
    s = series(values)
    found = detect_cycles(s, "washing_machine", 0.05, 1.0, **kw)
    return [(int(s.index.get_loc(c.start)), round(c.energy_kwh, 6)) for c in found]


def test_one_step_pause_is_merged_into_one_cycle_with_the_pause_energy():
    values = [0, 0.47, 0.03, 1.5, 0.2, 0, 0, 0]
    assert detect(values, max_pause_hours=0.0) == [(1, 0.47), (3, 1.7)]
    assert detect(values, max_pause_hours=1.0) == [(1, 2.2)]


def test_a_pause_longer_than_the_maximum_keeps_two_cycles():
    values = [0.6, 0.5, 0, 0, 0.7, 0.4]
    assert detect(values, max_pause_hours=1.0) == [(0, 1.1), (4, 1.1)]


def test_blip_below_min_energy_is_dropped_and_a_real_run_kept():
    values = [0, 0.08, 0, 0, 0, 0.6, 0.5, 0, 0]
    assert detect(values, max_pause_hours=1.0, min_cycle_kwh=0.1) == [(5, 1.1)]
    assert detect(values, max_pause_hours=1.0, min_cycle_kwh=0.0) == [(1, 0.08), (5, 1.1)]


def test_merging_comes_before_the_energy_test():
    """Two small runs of one programme count together (0.07 + 0.01 + 0.09 >= 0.1 kWh)."""
    assert detect([0.07, 0.01, 0.09, 0, 0, 0], max_pause_hours=1.0, min_cycle_kwh=0.1) == [
        (0, 0.17)
    ]


def test_a_missing_value_is_never_merged_across():
    values = [0.6, np.nan, 0.5, 0, 0]
    assert detect(values, max_pause_hours=1.0) == [(0, 0.6), (2, 0.5)]


@pytest.mark.parametrize("step_min", [15, 60])
def test_pause_is_in_hours_whatever_the_resolution(step_min):
    """A 1 h pause merges at 15 min (4 steps) and 60 min (1 step); a 2 h pause does not."""
    per_h = 60 // step_min
    dt_h = step_min / 60

    def hours(pattern: list[float]) -> pd.Series:
        vals = np.repeat(np.asarray(pattern) * dt_h, per_h)
        return series(list(vals), f"{step_min}min")

    one = detect_cycles(hours([0.5, 0, 0.8, 0, 0, 0]), "d", 0.05, dt_h, 1.0, 0.1)
    two = detect_cycles(hours([0.5, 0, 0, 0.8, 0, 0]), "d", 0.05, dt_h, 1.0, 0.1)
    assert len(one) == 1 and one[0].energy_kwh == pytest.approx(1.3)
    assert len(two) == 2
