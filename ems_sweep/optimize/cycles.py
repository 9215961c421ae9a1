"""Appliance cycles as the modes move them: profiles, allowed start windows, learned preferences.

Preferences (pipeline B): device -> 24 hour-of-day start probabilities. In `restrict` mode a start
at an hour with probability < preference_threshold is forbidden, except the cycle's observed
start (what the user actually did is always allowed; it also keeps every day feasible). In
`penalize` mode a start costs penalty_eur_per_unlikely_start x unlikeliness, where unlikeliness
= 1 - p(hour) / max(p) is 0 at the device's favourite hour and 1 where it never starts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ems_sweep.config import EmsConfig, Mode, PreferenceMode
from ems_sweep.data.model import DayCycle, DayData

BASELINE = "baseline"


def cycle_profile(cycle: DayCycle, mode: str) -> np.ndarray:
    """kWh per step the cycle draws from its start: a mean-power block in `centralized`."""
    profile = np.asarray(cycle.profile_kwh, dtype=float)
    if mode == Mode.centralized.value:
        return np.full(len(profile), profile.mean())
    return profile


@dataclass(frozen=True)
class StartRule:
    """How far a mode may move a cycle's start (mode.max_delay_hours, mode.allow_advance)."""

    max_delay_hours: float
    allow_advance: bool = False

    @classmethod
    def from_config(cls, cfg: EmsConfig) -> StartRule:
        return cls(float(cfg.mode.max_delay_hours), bool(cfg.mode.allow_advance))


def start_window(cycle: DayCycle, day: DayData, rule: StartRule) -> range:
    """Starts from the observed one to max_delay_hours later, the whole cycle inside its day
    (its own local day also inside a multi-day horizon).

    A programme cannot run before the user started it (the machine was not loaded yet); with
    allow_advance it may also start up to max_delay_hours earlier.
    """
    shift = int(math.floor(rule.max_delay_hours / day.dt_h + 1e-9))
    obs = cycle.observed_start_step
    first, end = day.day_span(obs)
    last = end - len(cycle.profile_kwh)
    lo = max(first, obs - shift) if rule.allow_advance else obs
    hi = min(last, obs + shift)
    return range(lo, hi + 1)


def _check_probs(device: str, probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=float)
    if probs.shape != (24,) or np.isnan(probs).any() or (probs < 0).any():
        raise ValueError(
            f"preferences[{device!r}] must be 24 non-negative hour-of-day probabilities; "
            f"got shape {probs.shape}"
        )
    return probs


def forbidden_start_hours(
    preferences: dict[str, np.ndarray] | None, cfg: EmsConfig
) -> dict[str, set[int]]:
    """Hours at which each device may not start in `restrict` mode (empty otherwise)."""
    if not preferences or cfg.pipeline.preference_mode != PreferenceMode.restrict:
        return {}
    thr = cfg.pipeline.preference_threshold
    return {
        dev: {h for h, p in enumerate(_check_probs(dev, probs)) if p < thr}
        for dev, probs in preferences.items()
    }


def start_penalties(
    preferences: dict[str, np.ndarray] | None, cfg: EmsConfig
) -> dict[str, np.ndarray]:
    """EUR added to the objective per start hour in `penalize` mode (empty otherwise)."""
    if not preferences or cfg.pipeline.preference_mode != PreferenceMode.penalize:
        return {}
    out = {}
    for dev, probs in preferences.items():
        probs = _check_probs(dev, probs)
        top = probs.max()
        unlikely = 1.0 - probs / top if top > 0 else np.zeros(24)
        out[dev] = cfg.pipeline.penalty_eur_per_unlikely_start * unlikely
    return out


def allowed_starts(
    cycle: DayCycle, day: DayData, rule: StartRule, forbidden: dict[str, set[int]]
) -> list[int]:
    """The start steps a mode may choose for `cycle` (always including the observed start)."""
    banned = forbidden.get(cycle.device, set())
    hours = day.index.hour
    starts = [
        s
        for s in start_window(cycle, day, rule)
        if s == cycle.observed_start_step or hours[s] not in banned
    ]
    if cycle.observed_start_step not in starts:  # window empty only if the data is inconsistent
        raise ValueError(
            f"cycle {cycle.cycle_id}: observed start step {cycle.observed_start_step} with "
            f"{len(cycle.profile_kwh)} steps does not fit the day's {day.n_steps} steps"
        )
    return starts


def devices(day: DayData, cfg: EmsConfig) -> list[str]:
    """Shiftable devices of the building plus any device with a cycle this day, in order."""
    out = list(cfg.building.shiftable)
    out += sorted({c.device for c in day.cycles} - set(out))
    return out
