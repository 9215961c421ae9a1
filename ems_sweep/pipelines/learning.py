"""Pipeline B: learn when the household starts each appliance, then optimize honouring it.

The period is split in time order: the first training days only feed the Dirichlet posteriors
(no optimization), the later days are optimized with the learned start-hour distributions, and
the same days are optimized once more without them, so the job reports what the preferences cost.
Only cycles that started on a training day are seen while learning (no leak).
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig

from ems_sweep.data.model import BuildingData
from ems_sweep.optimize import forbidden_start_hours
from ems_sweep.pipelines import preferences as prefs
from ems_sweep.pipelines.days import RunOptions, Timings, run_days
from ems_sweep.pipelines.output import Extras, finish_job
from ems_sweep.pipelines.result import JobResult


def period(cfg: DictConfig) -> list[dt.date]:
    """The calendar days of the job: n_days from start_date."""
    first = dt.date.fromisoformat(str(cfg.start_date))
    return [first + dt.timedelta(days=i) for i in range(int(cfg.n_days))]


def observed_starts(building: BuildingData, days: list[dt.date]) -> list[tuple[str, dt.date, int]]:
    """(device, local date, local hour) of every observed cycle that started on one of `days`."""
    wanted = set(days)
    out = []
    for cycle in building.cycles:
        start = pd.Timestamp(cycle.start).tz_convert(building.timezone)
        if start.date() in wanted and cycle.device in building.shiftable_devices:
            out.append((cycle.device, start.date(), int(start.hour)))
    return out


def preferences_frame(posteriors: dict[str, prefs.DevicePosterior], threshold: float):
    rows = []
    for device, post in posteriors.items():
        for h in range(prefs.HOURS):
            rows.append(
                {
                    "device": device,
                    "hour": h,
                    "prior_alpha": post.prior[h],
                    "prior": post.prior_mean[h],
                    "observed_starts": int(post.counts[h]),
                    "posterior_alpha": post.alpha[h],
                    "posterior": post.mean[h],
                    "unlikely": bool(post.mean[h] < threshold),
                }
            )
    return pd.DataFrame(rows)


def curve_frame(posteriors: dict[str, prefs.DevicePosterior]) -> pd.DataFrame:
    rows = [
        {"device": device, **{k: getattr(s, k) for k in s.__dataclass_fields__}}
        for device, post in posteriors.items()
        for s in post.history
    ]
    frame = pd.DataFrame(rows)
    if len(frame):
        frame["date"] = frame["date"].map(dt.date.isoformat)
    return frame


def learning_metrics(
    posteriors: dict[str, prefs.DevicePosterior], threshold: float, n_train: int, n_opt: int
) -> dict[str, float]:
    """Per-device figures plus the users' aliases (js_divergence, learning_updates, ...)."""
    m: dict[str, float] = {}
    rates = []
    for device, post in posteriors.items():
        js = post.history[-1].js_prior if post.history else 0.0
        day = post.convergence_day(threshold)
        rate = post.convergence_rate(threshold)
        m[f"{device}_js_prior"] = js
        m[f"{device}_updates_count"] = float(post.observations)
        m[f"{device}_convergence_day"] = float(day)
        m[f"{device}_js_divergence"] = js
        m[f"{device}_learning_updates"] = float(post.observations)
        m[f"{device}_convergence_rate"] = rate
        if post.observations > 0:
            rates.append(rate)
    m["devices_trained"] = float(len(rates))
    m["training_days"] = float(n_train)
    m["optimization_days"] = float(n_opt)
    m["avg_convergence"] = float(np.mean(rates)) if rates else 0.0
    return m


def learning_section(
    posteriors: dict[str, prefs.DevicePosterior], threshold: float, convergence: float
) -> str:
    lines = [
        "## Learned start-hour preferences",
        "",
        "| device | starts observed | JS to prior (bits) | settled on training day | "
        "most likely hour | rarely used hours |",
        "|---|---|---|---|---|---|",
    ]
    for device, post in posteriors.items():
        js = post.history[-1].js_prior if post.history else 0.0
        day = post.convergence_day(convergence)
        rare = post.unlikely_hours(threshold)
        lines.append(
            f"| {device} | {post.observations} | {js:.3f} | "
            f"{'never' if day == prefs.NEVER else day} | {int(np.argmax(post.mean))}:00 | "
            f"{len(rare)} of 24 |"
        )
    return "\n".join(lines) + "\n"


def run_learning(cfg: DictConfig, job_dir: Path) -> JobResult:
    """Train on the first days, optimize the rest with and without the learned preferences."""
    from ems_sweep.data import load_building

    p = cfg.pipeline
    started = time.perf_counter()
    building = load_building(cfg)
    time_data = time.perf_counter() - started

    train, optimize = prefs.split_days(period(cfg), p.training_days, p.training_fraction)
    usable = set(building.days())
    train = [d for d in train if d in usable]
    optimize = [d for d in optimize if d in usable]
    if not optimize:
        raise ValueError(f"no usable optimization day after training on {len(train)} day(s)")

    started = time.perf_counter()
    posteriors = prefs.learn(
        building.shiftable_devices,
        train,
        observed_starts(building, train),
        p.prior_shape.value,
        float(p.prior_strength),
    )
    time_learn = time.perf_counter() - started
    learned = {d: post.mean for d, post in posteriors.items() if post.observations > 0}
    forbidden = forbidden_start_hours(learned, cfg) or None

    timings = Timings()
    options = RunOptions(learned or None, forbidden, with_reference=True)
    runs = run_days(building, optimize, cfg, timings, options)
    extras = learning_extras(cfg, posteriors, train, optimize)
    extras.metrics["time_learn_s"] = time_learn
    return finish_job(cfg, Path(job_dir), building, runs, timings, time_data, extras)


def learning_extras(
    cfg: DictConfig,
    posteriors: dict[str, prefs.DevicePosterior],
    train: list[dt.date],
    optimize: list[dt.date],
) -> Extras:
    """What a learning job adds to its files: the learning figures and curves, the learned
    preferences, the report's section and notes."""
    p = cfg.pipeline
    threshold = float(p.preference_threshold)
    conv = float(p.convergence_threshold)
    curve = curve_frame(posteriors)
    curves = {}
    for device, d in curve.groupby("device", sort=False) if len(curve) else []:
        for key in ("js_step", "js_prior"):
            curves[f"{device}_{key}"] = pd.DataFrame(
                {"step": d["day_index"] - 1, "value": d[key], "date": d["date"]}
            )
    mode = p.preference_mode.value
    return Extras(
        metrics=learning_metrics(posteriors, conv, len(train), len(optimize)),
        curves=curves,
        sections=[learning_section(posteriors, threshold, conv)],
        notes=[
            f"Trained on {len(train)} day(s) ({train[0] if train else '-'} .. "
            f"{train[-1] if train else '-'}), optimized {len(optimize)} later day(s); "
            f"preference_mode={mode}, hours with probability < {threshold:g} count as rarely "
            "used.",
            *[
                f"{d}: no start observed while training; not constrained"
                for d in posteriors
                if posteriors[d].observations == 0
            ],
        ],
        preferences=preferences_frame(posteriors, threshold),
        curve=curve,
    )
