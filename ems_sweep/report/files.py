"""The job's tabular files: daily.csv, schedules.csv, preferences.csv, learning_curve.csv.

Every file is plain CSV with ISO dates, so a job dir alone is enough to recheck or replay a job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from ems_sweep.names import DAILY_FILE, SCHEDULES_FILE
from ems_sweep.optimize.schedule import DaySchedule


def write_daily(job_dir: Path, daily: pd.DataFrame) -> Path:
    path = Path(job_dir) / DAILY_FILE
    daily.to_csv(path, index=False, float_format="%.9g")
    return path


def schedules_frame(days: Iterable[tuple[str, Mapping[str, DaySchedule | None]]]) -> pd.DataFrame:
    """Long table: one row per (schedule kind, time step) with date, kind and every column."""
    parts = []
    for date, by_kind in days:
        for kind, sched in by_kind.items():
            if sched is None or sched.table is None or sched.table.empty:
                continue
            t = sched.table.copy()
            t.index.name = "time"
            t = t.reset_index()
            t.insert(0, "schedule", kind)
            t.insert(0, "date", date)
            # Stored energy at the day's start (the table holds end-of-step energies).
            t["battery_start_kwh"] = sched.battery_start_kwh
            t["ev_start_kwh"] = sched.ev_start_kwh
            parts.append(t)
    if not parts:
        return pd.DataFrame(columns=["date", "schedule", "time"])
    frame = pd.concat(parts, ignore_index=True)
    frame["time"] = frame["time"].map(lambda ts: ts.isoformat())
    return frame


def write_schedules(job_dir: Path, frame: pd.DataFrame) -> Path:
    path = Path(job_dir) / SCHEDULES_FILE
    frame.to_csv(path, index=False, float_format="%.6g")
    return path


def write_frame(job_dir: Path, name: str, frame: pd.DataFrame) -> Path:
    path = Path(job_dir) / name
    frame.to_csv(path, index=False, float_format="%.9g")
    return path


def placements_frame(
    days: Iterable[tuple[str, float, pd.DatetimeIndex, Mapping[str, DaySchedule | None]]],
) -> pd.DataFrame:
    """Where each cycle started in each schedule: observed and placed start (time, hour, shift)."""
    rows = []
    for date, dt_h, index, by_kind in days:
        last = len(index) - 1
        for kind, sched in by_kind.items():
            if sched is None:
                continue
            for p in sched.placements:
                start = index[min(p.start_step, last)]
                rows.append(
                    {
                        "date": date,
                        "schedule": kind,
                        "cycle_id": p.cycle_id,
                        "device": p.device,
                        "observed_start": index[min(p.observed_start_step, last)].isoformat(),
                        "start": start.isoformat(),
                        "start_hour": start.hour,
                        "shift_h": (p.start_step - p.observed_start_step) * dt_h,
                    }
                )
    columns = ["date", "schedule", "cycle_id", "device", "observed_start", "start", "start_hour"]
    return pd.DataFrame(rows, columns=[*columns, "shift_h"])
