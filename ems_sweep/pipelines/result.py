"""The job's result contract: what a job returns to Hydra and writes into summary.json.

The pipelines own it: the status, the error, every job figure and the params are decided here
(and in kpis.py), once. Tracking maps summary.json to MLflow as it stands and the sweep table
reads it; neither decides a status nor derives a figure. `SCHEMA_VERSION` changes when a key
changes meaning, so a reader of old job dirs can tell.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ems_sweep.names import SUMMARY_FILE

if TYPE_CHECKING:  # pandas only for annotations: the CLI and tracking start faster without it
    import pandas as pd
    from omegaconf import DictConfig

    from ems_sweep.config import EmsConfig

SCHEMA_VERSION = 1  # of summary.json: status, error, params, metrics, tags


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


def user_params(cfg: DictConfig | EmsConfig) -> dict[str, object]:
    """The params users' existing analysis queries look for, besides the flattened config."""
    return {
        "building_id": cfg.building.name,
        "optimization_mode": cfg.mode.name.value,
        "battery_enabled": bool(cfg.battery.enabled),
        "ev_enabled": bool(cfg.ev.enabled),
        "n_days": int(cfg.n_days),
        "pipeline": cfg.pipeline.name.value,
    }


def format_savings(metrics: dict[str, Any]) -> str:
    """'12.3% (0.45 EUR)'; the % reads n/a where the baseline cost is too small to be a base."""

    eur = metrics.get("savings_eur")
    if eur is None:
        return "n/a"
    pct = metrics.get("savings_pct")
    pct_text = "n/a" if pct is None or math.isnan(pct) else f"{pct:.1f}%"
    return f"{pct_text} ({eur:.2f} EUR)"


def write_summary(result: JobResult, extra: dict[str, Any] | None = None) -> Path:
    """Write summary.json: the job figures, params, tags and status (the replayable record)."""
    payload = {
        "schema_version": SCHEMA_VERSION,
        "status": result.status,
        "error": result.error,
        "params": result.params,
        "metrics": result.metrics,
        "tags": result.tags,
        **(extra or {}),
    }
    path = Path(result.job_dir) / SUMMARY_FILE
    write_json(path, payload, default=_json_default)
    return path


def read_summary(job_dir: Path) -> dict[str, Any] | None:
    """The job's summary.json, or None when the job did not finish (it is written last)."""
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


def json_safe(value: Any) -> Any:
    """NaN and infinities as None (JSON null): bare NaN is not JSON (JSON.parse rejects it)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def write_json(path: Path, data: dict[str, Any], default: Any = str) -> None:
    """Atomic replace, so a reader never sees half a record; no .tmp left when a write fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    safe_default = lambda value: json_safe(default(value))  # noqa: E731 (numpy scalars too)
    text = json.dumps(json_safe(data), indent=2, default=safe_default, allow_nan=False)
    try:
        tmp.write_text(text)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
