"""Turns a pipeline's day runs into the job's files, plots, report and JobResult.

Shared by comparison and learning so both write the same files with the same meaning.
Schedule plots are drawn for the first `pipeline.max_plot_days` days only: one figure per day is
the largest Python cost of a job, and a month of near-identical plots adds little for a reader.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ems_sweep.config import EmsConfig, LearningPipelineConfig
from ems_sweep.data.model import BuildingData
from ems_sweep.names import CYCLES_FILE, LEARNING_CURVE_FILE, PREFERENCES_FILE, TAG_SOLVER_STATUS
from ems_sweep.pipelines.days import DayRun, Timings
from ems_sweep.pipelines.kpis import job_metrics, status_of
from ems_sweep.pipelines.result import JobResult, user_params
from ems_sweep.report import files
from ems_sweep.report.job_plots import JobTables, draw
from ems_sweep.report.report import JobOutcome, write_report

REFERENCE = "optimized_no_prefs"


@dataclass
class Extras:
    """What a pipeline adds on top of the shared files (learning: preferences, curves)."""

    metrics: dict[str, float] = field(default_factory=dict)
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)
    sections: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    preferences: pd.DataFrame | None = None  # preferences.csv
    curve: pd.DataFrame | None = None  # learning_curve.csv


def solver_status_tag(daily: pd.DataFrame) -> str:
    """'Optimal' when every day agrees, else counts like 'Optimal:18,failed:2'."""
    if "solver_status" not in daily or daily.empty:
        return "none"
    counts = Counter(daily["solver_status"].astype(str))
    if len(counts) == 1:
        return next(iter(counts))
    return ",".join(f"{k}:{v}" for k, v in counts.most_common())


def _schedules(run: DayRun) -> dict:
    kinds = {"baseline": run.baseline, "optimized": run.optimized}
    if run.reference is not None:
        kinds[REFERENCE] = run.reference
    if run.perfect is not None:  # forecast != perfect: optimized is the executed schedule
        kinds["perfect"] = run.perfect
        kinds["planned"] = run.planned  # on the forecast day's load and PV
    return kinds


def finish_job(
    cfg: EmsConfig,
    job_dir: Path,
    building: BuildingData,
    runs: Sequence[DayRun],
    timings: Timings,
    time_data_s: float,
    extras: Extras | None = None,
) -> JobResult:
    """Write daily.csv, schedules.csv, plots/ and report.md; return the job's result.

    Seven parameters: what comparison and learning both hand over (their config, where, the
    data, the day runs and their timings, and their own extras); a bundle would only rename them.
    """
    extras = extras or Extras()
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    daily = pd.DataFrame([r.row for r in runs])
    if daily.empty:
        daily = pd.DataFrame(columns=["date", "status", "reason", "constraint_violations"])
    metrics = job_metrics(daily)
    skipped = [q for q in building.quality if q.skipped]
    metrics["days_skipped"] = float(len(skipped))
    metrics.update(extras.metrics)
    status, error = status_of(metrics, daily)

    seconds = {"time_data_s": time_data_s}
    started = time.perf_counter()
    schedules = files.schedules_frame((r.date.isoformat(), _schedules(r)) for r in runs)
    written = _write_tables(job_dir, runs, daily, schedules, extras)
    seconds["time_files_s"] = time.perf_counter() - started

    started = time.perf_counter()
    drawn = _draw(cfg, job_dir, daily, schedules, extras) if plots_wanted(cfg) else []
    seconds["time_plots_s"] = time.perf_counter() - started

    notes = _notes(cfg, building, runs, extras)
    started = time.perf_counter()
    outcome = JobOutcome(status, error, metrics, daily, drawn, notes, extras.sections)
    report = write_report(job_dir, cfg, outcome)
    seconds["time_report_s"] = time.perf_counter() - started

    metrics.update(timings.as_metrics())
    metrics.update(seconds, plots_count=float(len(drawn)))
    metrics["time_files_plots_s"] = sum(seconds.values()) - time_data_s
    return JobResult(
        status=status,
        job_dir=job_dir,
        params=user_params(cfg),
        metrics=metrics,
        tags={TAG_SOLVER_STATUS: solver_status_tag(daily)},
        daily=daily,
        curves=extras.curves,
        files=[*written, *drawn, report],
        error=error,
    )


def _write_tables(
    job_dir: Path,
    runs: Sequence[DayRun],
    daily: pd.DataFrame,
    schedules: pd.DataFrame,
    extras: Extras,
) -> list[Path]:
    """daily.csv, schedules.csv, cycles.csv and the pipeline's own tables (learning)."""
    written = [
        files.write_daily(job_dir, daily),
        files.write_schedules(job_dir, schedules),
        files.write_frame(
            job_dir,
            CYCLES_FILE,
            files.placements_frame(
                (r.date.isoformat(), r.day.dt_h, r.day.index, _schedules(r)) for r in runs
            ),
        ),
    ]
    for name, frame in (
        (PREFERENCES_FILE, extras.preferences),
        (LEARNING_CURVE_FILE, extras.curve),
    ):
        if frame is not None:
            written.append(files.write_frame(job_dir, name, frame))
    return written


def plots_wanted(cfg: EmsConfig) -> bool:
    """pipeline.plots, where null means: in a single run yes, in a sweep's job no (drawing two
    figures costs more CPU than a one-day job's data, solve and files; benchmarks/README.md)."""
    if cfg.pipeline.plots is not None:
        return bool(cfg.pipeline.plots)
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return not (HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN)


def _draw(
    cfg: EmsConfig, job_dir: Path, daily: pd.DataFrame, schedules: pd.DataFrame, extras: Extras
) -> list[Path]:
    """The job's plots (plots/) from the tables it has just written."""
    p = cfg.pipeline
    thresholds = (  # the learning pipeline's; the plots that use them are learning's only
        dict(
            preference_threshold=p.preference_threshold,
            convergence_threshold=p.convergence_threshold,
        )
        if isinstance(p, LearningPipelineConfig)
        else {}
    )
    tables = JobTables(
        title=f"{cfg.building.name} {cfg.mode.name.value}",
        daily=daily,
        schedules=schedules,
        preferences=extras.preferences,
        curve=extras.curve,
        **thresholds,
    )
    return draw(job_dir, tables, int(p.max_plot_days))


def _notes(
    cfg: EmsConfig, building: BuildingData, runs: Sequence[DayRun], extras: Extras
) -> list[str]:
    """report.md's notes: the days', the pipeline's, the data's, skipped and failed days, plots."""
    notes = [n for r in runs for n in r.notes] + list(extras.notes) + list(building.notes)
    notes += [f"{q.date} skipped: {q.reason}" for q in building.quality if q.skipped]
    notes += [f"{r.date} {r.status}: {r.reason}" for r in runs if r.status != "ok"]
    if not plots_wanted(cfg):
        why = "in a sweep's job" if cfg.pipeline.plots is None else "pipeline.plots=false"
        notes.append(
            f"No plots ({why}); `python -m ems_sweep.report.job_plots <job dir>` "
            "draws them from the job's files."
        )
    elif len(runs) > int(cfg.pipeline.max_plot_days):
        notes.append(
            f"Schedule plots drawn for the first {cfg.pipeline.max_plot_days} of {len(runs)} days "
            "(pipeline.max_plot_days); every day is in schedules.csv, and "
            "`python -m ems_sweep.report.job_plots <job dir> --max-days N` draws more."
        )
    return notes
