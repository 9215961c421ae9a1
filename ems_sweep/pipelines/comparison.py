"""Pipeline A: for each day, baseline (what happened) against the optimized schedule, checked."""

from __future__ import annotations

import time
from pathlib import Path

from omegaconf import DictConfig

from ems_sweep.pipelines.days import Timings, run_days
from ems_sweep.pipelines.output import finish_job
from ems_sweep.pipelines.result import JobResult


def run_comparison(cfg: DictConfig, job_dir: Path) -> JobResult:
    """Run every usable day of the configured period and write the job's files into job_dir."""
    from ems_sweep.data import load_building

    started = time.perf_counter()
    building = load_building(cfg)
    time_data = time.perf_counter() - started
    timings = Timings()
    runs = run_days(building, building.days(), cfg, timings)
    return finish_job(cfg, Path(job_dir), building, runs, timings, time_data)
