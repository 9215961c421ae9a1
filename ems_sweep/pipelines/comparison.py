"""Pipeline A: for each day, baseline (what happened) against the optimized schedule, checked."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from ems_sweep.config import EmsConfig
from ems_sweep.data.model import BuildingData
from ems_sweep.pipelines.days import DayRun, Timings, run_days
from ems_sweep.pipelines.kpis import job_metrics, status_of
from ems_sweep.pipelines.output import Extras, finish_job
from ems_sweep.pipelines.result import JobResult


def run_comparison(cfg: EmsConfig, job_dir: Path) -> JobResult:
    """Run every usable day of the configured period and write the job's files into job_dir."""
    from ems_sweep.data import load_building

    started = time.perf_counter()
    building = load_building(cfg)
    time_data = time.perf_counter() - started
    timings = Timings()
    dates = building.days()
    runs = run_days(building, dates, cfg, timings)
    extras = attribution_extras(building, dates, cfg, runs) if cfg.pipeline.attribution else None
    if runs and runs[0].perfect is not None:
        extras = forecast_extras(cfg, runs)
    return finish_job(cfg, Path(job_dir), building, runs, timings, time_data, extras)


def forecast_extras(cfg: EmsConfig, runs: Sequence[DayRun]) -> Extras:
    """forecast != perfect: the executed vs perfect-foresight section of report.md."""
    from ems_sweep.pipelines.forecast_days import forecast_section

    metrics = job_metrics(pd.DataFrame([r.row for r in runs]))
    return Extras(sections=[forecast_section(cfg, metrics)])


def attribution_extras(
    building: BuildingData, dates: Sequence[dt.date], cfg: EmsConfig, runs: Sequence[DayRun]
) -> Extras:
    """pipeline.attribution=true: the saving split (metrics and a report section).

    A job whose own schedule failed has no saving to split: the note says so.
    """
    from ems_sweep.pipelines.attribution import attribute

    daily = pd.DataFrame([r.row for r in runs])
    status, error = status_of(job_metrics(daily), daily)
    if status != "ok":
        return Extras(notes=[f"No attribution: the job failed ({error})."])
    result = attribute(building, dates, cfg, runs)
    return Extras(metrics=result.metrics(), sections=[result.section()])
