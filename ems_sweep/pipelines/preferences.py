"""Hour-of-day start preferences of shiftable appliances: a Dirichlet posterior over 24 hours.

Why Dirichlet: the start hour of a cycle is a categorical draw over 24 hours; the Dirichlet is its
conjugate prior, so a day's observed starts update the posterior by adding counts, and the prior
strength says how many observations it takes before the household's habits dominate.
Divergences are Jensen-Shannon in bits (base 2), bounded in [0, 1] and symmetric.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial.distance import jensenshannon

HOURS = 24
# Relative prior weight of night hours (23:00-06:00) under the "daytime" prior shape.
NIGHT_WEIGHT = 0.25
NIGHT_HOURS = (23, 0, 1, 2, 3, 4, 5)
NEVER = -1  # convergence day of a device that never settled


def prior_alpha(shape: str, strength: float) -> np.ndarray:
    """Dirichlet pseudo-counts over 24 hours summing to `strength`.

    `uniform`: every hour alike; `daytime`: night hours get NIGHT_WEIGHT of a day hour's mass,
    because appliances are rarely started while the household sleeps.
    """
    if strength <= 0:
        raise ValueError(f"prior strength={strength!r}; allowed: a value > 0")
    if shape == "uniform":
        weights = np.ones(HOURS)
    elif shape == "daytime":
        weights = np.ones(HOURS)
        weights[list(NIGHT_HOURS)] = NIGHT_WEIGHT
    else:
        raise ValueError(f"prior shape={shape!r}; allowed: uniform, daytime")
    return strength * weights / weights.sum()


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in bits between two distributions (0 = equal, 1 = disjoint)."""
    distance = jensenshannon(np.asarray(p, float), np.asarray(q, float), base=2)
    return float(distance) ** 2


@dataclass
class DayStep:
    """A device's posterior after one training day."""

    day_index: int  # 1-based training day
    date: dt.date
    new_observations: int
    observations: int  # cumulative
    js_prior: float  # JS(posterior, prior)
    js_step: float  # JS(posterior, previous day's posterior); 0 when nothing was observed


@dataclass
class DevicePosterior:
    """Dirichlet posterior of one device's start hour, updated day by day."""

    device: str
    prior: np.ndarray  # pseudo-counts alpha_0 (24,)
    counts: np.ndarray = field(default_factory=lambda: np.zeros(HOURS))
    history: list[DayStep] = field(default_factory=list)

    @property
    def alpha(self) -> np.ndarray:
        return self.prior + self.counts

    @property
    def prior_mean(self) -> np.ndarray:
        return self.prior / self.prior.sum()

    @property
    def mean(self) -> np.ndarray:
        """Posterior predictive probability of a start in each hour."""
        a = self.alpha
        return a / a.sum()

    @property
    def observations(self) -> int:
        return int(self.counts.sum())

    def update(self, date: dt.date, hours: Sequence[int]) -> DayStep:
        """Add one day's observed start hours; records the divergences of the new posterior."""
        bad = [h for h in hours if not 0 <= int(h) < HOURS]
        if bad:
            raise ValueError(f"start hours {bad} of {self.device}; allowed: 0..23")
        before = self.mean
        for h in hours:
            self.counts[int(h)] += 1
        after = self.mean
        step = DayStep(
            day_index=len(self.history) + 1,
            date=date,
            new_observations=len(hours),
            observations=self.observations,
            js_prior=js_divergence(after, self.prior_mean),
            js_step=js_divergence(after, before) if hours else 0.0,
        )
        self.history.append(step)
        return step

    def convergence_day(self, threshold: float) -> int:
        """First training day from which every later update moved the posterior by < threshold.

        Only days with observations count (a day without one trivially changes nothing).
        The first update always moves the posterior away from the prior, so it never counts as
        settled by itself: NEVER when fewer than two updates happened or the last one was large.
        """
        updates = [s for s in self.history if s.new_observations > 0]
        if len(updates) < 2:
            return NEVER
        settled = NEVER
        for s in updates[1:]:
            if s.js_step < threshold:
                if settled == NEVER:
                    settled = s.day_index
            else:
                settled = NEVER
        return settled

    def convergence_rate(self, threshold: float) -> float:
        """Share of the training days spent settled (0 when it never settled)."""
        day = self.convergence_day(threshold)
        if day == NEVER or not self.history:
            return 0.0
        n = len(self.history)
        return (n - day + 1) / n

    def unlikely_hours(self, threshold: float) -> set[int]:
        """Hours whose posterior probability is below threshold (the household rarely starts)."""
        return {h for h, p in enumerate(self.mean) if p < threshold}


def learn(
    devices: Iterable[str],
    days: Sequence[dt.date],
    starts: Iterable[tuple[str, dt.date, int]],
    shape: str,
    strength: float,
) -> dict[str, DevicePosterior]:
    """Update one posterior per device over `days` in order from (device, date, hour) starts.

    Starts on dates outside `days` raise: the caller must not let optimization days leak in.
    """
    posteriors = {d: DevicePosterior(d, prior_alpha(shape, strength)) for d in devices}
    by_day: dict[tuple[str, dt.date], list[int]] = {}
    day_set = set(days)
    for device, date, hour in starts:
        if date not in day_set:
            raise ValueError(f"start of {device} on {date} is not a training day")
        if device in posteriors:
            by_day.setdefault((device, date), []).append(int(hour))
    for date in sorted(days):
        for device, post in posteriors.items():
            post.update(date, by_day.get((device, date), []))
    return posteriors


def split_days(
    dates: Sequence[dt.date], training_days: int | None, training_fraction: float
) -> tuple[list[dt.date], list[dt.date]]:
    """Time-ordered split: the first days train, the rest are optimized; no day in both."""
    ordered = sorted(dates)
    n = len(ordered)
    if n < 2:
        raise ValueError(f"{n} day(s); learning needs >= 2 (training + optimization)")
    k = training_days if training_days is not None else round(training_fraction * n)
    if not 1 <= k < n:
        if training_days is not None:
            raise ValueError(f"training_days={training_days}; allowed: 1..{n - 1}")
        k = min(max(k, 1), n - 1)
    return ordered[:k], ordered[k:]
