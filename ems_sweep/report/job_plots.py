"""All plots of one job, drawn from its tables: inside the job, or later from its files.

Plots are the largest Python cost of a job (about 0.5 s of CPU per schedule figure against a
few hundredths of a second of solver time per day), so a sweep can run with
`pipeline.max_plot_days=0` and draw any job's figures afterwards from its dir alone:

    python -m ems_sweep.report.job_plots outputs/multirun/.../3_building=res2 --max-days 7
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from ems_sweep.names import (
    DAILY_FILE,
    LEARNING_CURVE_FILE,
    PLOTS_DIR,
    PREFERENCES_FILE,
    SCHEDULES_FILE,
    SUMMARY_FILE,
)
from ems_sweep.report import plots

SCHEDULE_ORDER = ("baseline", "optimized")  # optimized_no_prefs only in daily_costs.png


@dataclass
class JobTables:
    """The frames the plots read (what daily.csv, schedules.csv ... hold)."""

    title: str  # e.g. "res1 centralized"
    daily: pd.DataFrame
    schedules: pd.DataFrame | None = None
    preferences: pd.DataFrame | None = None
    curve: pd.DataFrame | None = None
    preference_threshold: float = 0.02
    convergence_threshold: float = 0.01


def _dt_h(times: pd.Series) -> float:
    if len(times) < 2:
        return 1.0
    stamps = pd.to_datetime(times.iloc[:2], utc=True)
    return (stamps.iloc[1] - stamps.iloc[0]).total_seconds() / 3600.0


def draw(job_dir: Path, tables: JobTables, max_days: int) -> list[Path]:
    """daily_costs.png, one schedule_<date>.png per day for the first max_days days, and the
    learning plots when their tables are given. Returns the files drawn."""
    plot_dir = Path(job_dir) / PLOTS_DIR
    plot_dir.mkdir(parents=True, exist_ok=True)
    drawn: list[Path] = []
    daily = tables.daily
    if len(daily):
        path = plot_dir / "daily_costs.png"
        drawn.append(plots.daily_cost_plot(path, daily, f"{tables.title}: daily cost"))
    sched = tables.schedules
    if sched is not None and len(sched) and max_days > 0:
        status = dict(zip(daily["date"].astype(str), daily["status"], strict=False))
        for date in list(dict.fromkeys(sched["date"].astype(str)))[:max_days]:
            day = sched[sched["date"].astype(str) == date]
            by_kind = {
                k: day[day["schedule"] == k].reset_index(drop=True)
                for k in SCHEDULE_ORDER
                if (day["schedule"] == k).any()
            }
            first = next(iter(by_kind.values()))
            subtitle = f"{tables.title} ({status.get(date, '?')})"
            path = plot_dir / f"schedule_{date}.png"
            drawn.append(plots.schedule_plot(path, date, _dt_h(first["time"]), by_kind, subtitle))
    if tables.preferences is not None and len(tables.preferences):
        path = plot_dir / "preferences.png"
        drawn.append(plots.preferences_plot(path, tables.preferences, tables.preference_threshold))
    if tables.curve is not None and len(tables.curve):
        path = plot_dir / "learning_curve.png"
        drawn.append(plots.learning_curve_plot(path, tables.curve, tables.convergence_threshold))
    return drawn


def read_tables(job_dir: Path) -> JobTables:
    """The plot tables of a finished job, from its files (summary.json gives the title)."""
    job_dir = Path(job_dir)
    daily_path = job_dir / DAILY_FILE
    if not daily_path.exists():
        raise FileNotFoundError(f"{daily_path} not found: not a job dir of ems-sweep")
    title = job_dir.name
    summary = job_dir / SUMMARY_FILE
    if summary.exists():
        params = json.loads(summary.read_text()).get("params", {})
        title = f"{params.get('building_id', '?')} {params.get('optimization_mode', '')}".strip()
    thresholds = {}
    hydra_config = job_dir / ".hydra" / "config.yaml"
    if hydra_config.exists():  # the job's own thresholds, when Hydra saved its config
        thresholds = OmegaConf.to_container(OmegaConf.load(hydra_config).get("pipeline", {}))

    def optional(name: str) -> pd.DataFrame | None:
        path = job_dir / name
        return pd.read_csv(path) if path.exists() else None

    return JobTables(
        title=title,
        daily=pd.read_csv(daily_path),
        schedules=optional(SCHEDULES_FILE),
        preferences=optional(PREFERENCES_FILE),
        curve=optional(LEARNING_CURVE_FILE),
        preference_threshold=float(thresholds.get("preference_threshold", 0.02)),
        convergence_threshold=float(thresholds.get("convergence_threshold", 0.01)),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Draw a finished job's plots from its files.")
    parser.add_argument("job_dir", type=Path, nargs="+")
    parser.add_argument("--max-days", type=int, default=7, help="schedule plots (first days)")
    args = parser.parse_args(argv)
    if args.max_days < 0:
        parser.error(f"--max-days={args.max_days}; allowed: an integer >= 0")
    for job_dir in args.job_dir:
        drawn = draw(job_dir, read_tables(job_dir), args.max_days)
        print(f"{job_dir}: {len(drawn)} plot(s) in {job_dir / PLOTS_DIR}")


if __name__ == "__main__":
    main()
