"""Dirichlet start-hour learning: peaks where the household starts, JS curve falls, no leak."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from ems_sweep.pipelines.preferences import (
    NEVER,
    js_divergence,
    learn,
    prior_alpha,
    split_days,
)

DAYS = [dt.date(2016, 6, 1) + dt.timedelta(days=i) for i in range(14)]


def test_prior_sums_to_strength_and_daytime_has_less_night_mass() -> None:
    uniform = prior_alpha("uniform", 2.0)
    daytime = prior_alpha("daytime", 2.0)
    assert uniform.sum() == pytest.approx(2.0) and daytime.sum() == pytest.approx(2.0)
    assert daytime[3] < daytime[12]
    with pytest.raises(ValueError, match="prior shape='weekly'"):
        prior_alpha("weekly", 2.0)


def test_js_divergence_bounds() -> None:
    p = np.eye(24)[0]
    q = np.eye(24)[1]
    assert js_divergence(p, p) == pytest.approx(0.0, abs=1e-12)
    assert js_divergence(p, q) == pytest.approx(1.0)


def test_dishwasher_always_at_19_peaks_at_19_and_js_curve_falls() -> None:
    starts = [("dishwasher", d, 19) for d in DAYS]
    post = learn(["dishwasher"], DAYS, starts, "daytime", 2.0)["dishwasher"]
    assert int(np.argmax(post.mean)) == 19
    assert post.mean[19] > 0.8
    steps = [s.js_step for s in post.history]
    assert steps[1] > steps[5] > steps[-1]
    assert all(a >= b for a, b in zip(steps[1:], steps[2:], strict=False))
    prior_js = [s.js_prior for s in post.history]
    assert prior_js[-1] > prior_js[0]
    day = post.convergence_day(0.01)
    assert day != NEVER and 2 <= day <= len(DAYS)
    assert post.history[day - 1].js_step < 0.01
    assert post.observations == len(DAYS)
    assert 3 in post.unlikely_hours(0.02) and 19 not in post.unlikely_hours(0.02)


def test_irregular_habits_never_settle_under_a_tight_threshold() -> None:
    hours = [2, 20, 7, 14, 23, 9, 17, 4, 12, 21, 6, 15, 1, 19]
    starts = [("washing_machine", d, h) for d, h in zip(DAYS, hours, strict=True)]
    post = learn(["washing_machine"], DAYS, starts, "uniform", 2.0)["washing_machine"]
    assert post.convergence_day(1e-4) == NEVER
    assert post.convergence_rate(1e-4) == 0.0


def test_start_on_a_non_training_day_is_rejected() -> None:
    later = dt.date(2016, 7, 1)
    with pytest.raises(ValueError, match="not a training day"):
        learn(["dishwasher"], DAYS, [("dishwasher", later, 19)], "uniform", 2.0)


def test_split_is_time_ordered_and_disjoint() -> None:
    shuffled = list(reversed(DAYS))
    train, opt = split_days(shuffled, None, 0.67)
    assert len(train) == 9 and len(opt) == 5
    assert max(train) < min(opt)
    assert not set(train) & set(opt) and set(train) | set(opt) == set(DAYS)
    train, opt = split_days(DAYS, 10, 0.5)
    assert len(train) == 10
    with pytest.raises(ValueError, match="training_days=14"):
        split_days(DAYS, 14, 0.5)
