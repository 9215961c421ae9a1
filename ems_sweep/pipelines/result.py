"""What a job returns to Hydra (and what the tracking callback logs).

Pipelines write every figure into files of the job dir as well (summary.json, daily.csv, ...),
so a job's result can be replayed into MLflow later from disk alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ems_sweep.names import SUMMARY_FILE

if TYPE_CHECKING:  # pandas only for annotations: the CLI and tracking start faster without it
    import pandas as pd


@dataclass
class JobResult:
    status: str  # "ok" | "failed"
    job_dir: Path
    # User vocabulary params (building_id, optimization_mode, battery_enabled, ev_enabled, n_days)
    params: dict[str, Any] = field(default_factory=dict)
    # Job figures: scalar metrics (total_cost, savings_eur, savings_pct, ...)
    metrics: dict[str, float] = field(default_factory=dict)
    # Tags (solver_status, ...)
    tags: dict[str, str] = field(default_factory=dict)
    # One row per day (column "date" + KPI columns) -> step metrics, step = day index
    daily: pd.DataFrame | None = None
    # Extra step series, e.g. learning curves: name -> frame with columns step, value[, date]
    curves: dict[str, pd.DataFrame] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    error: str | None = None  # "Type: message" when status == "failed"

    @property
    def key_figure(self) -> str:
        if self.status != "ok":
            return self.error or "failed"
        return "savings " + format_savings(self.metrics)


def format_savings(metrics: dict[str, Any]) -> str:
    """'12.3% (0.45 EUR)'; the % reads n/a where the baseline cost is too small to be a base."""
    import math

    eur = metrics.get("savings_eur")
    if eur is None:
        return "n/a"
    pct = metrics.get("savings_pct")
    pct_text = "n/a" if pct is None or math.isnan(pct) else f"{pct:.1f}%"
    return f"{pct_text} ({eur:.2f} EUR)"


def write_summary(result: JobResult, extra: dict[str, Any] | None = None) -> Path:
    """Write summary.json: the job figures, params, tags and status (the replayable record)."""
    payload = {
        "status": result.status,
        "error": result.error,
        "params": result.params,
        "metrics": result.metrics,
        "tags": result.tags,
        **(extra or {}),
    }
    from ems_sweep.tracking.record import write_json

    path = Path(result.job_dir) / SUMMARY_FILE
    write_json(path, payload, default=_json_default)
    return path


def read_summary(job_dir: Path) -> dict[str, Any] | None:
    import json

    path = Path(job_dir) / SUMMARY_FILE
    if not path.exists():
        return None
    return json.loads(path.read_text())


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return str(value)
