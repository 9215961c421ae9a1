"""Read one Hydra job dir into what MLflow will get: params, metrics, step metrics, tags, files.

Everything comes from files (summary.json, daily.csv, learning_curve.csv, .hydra/), never from
process memory, so the callback and `python -m ems_sweep.tracking sync` log exactly the same run.
It maps, and decides nothing: the status, the error, every figure and the user params are the
pipelines' (summary.json, pipelines/result.py); a job dir without summary.json is a job that did
not finish. This module does not import MLflow.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from ems_sweep.names import (
    DAILY_FILE,
    DAILY_STEP_METRICS,
    JOB_RUN_FILE,
    LEARNING_CURVE_FILE,
    RUN_TYPE_JOB,
    SUMMARY_FILE,
    TAG_ERROR,
    TAG_ERROR_TYPE,
    TAG_JOB_DIR,
    TAG_JOB_NUM,
    TAG_NOTE,
    TAG_OVERRIDES,
    TAG_RUN_TYPE,
    TAG_STATUS,
    TAG_SWEEP_DIR,
)
from ems_sweep.pipelines.result import read_summary, write_json

EXPERIMENTS = {"comparison": "Pipeline_A_Comparison", "learning": "Pipeline_B_Learning"}

# MLflow limits (mlflow.utils.validation): param values, tag values.
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
TRUNCATED = "...(truncated, see config.yaml)"


class JobNotStarted(Exception):
    """A job dir whose .hydra/config.yaml Hydra never finished writing (the sweep was killed as
    Hydra set the job up): the job never ran, and without its config there is no run to log."""


@dataclass
class StepMetric:
    key: str
    value: float
    step: int
    timestamp_ms: int


@dataclass
class JobRecord:
    """One job as MLflow will see it (built from the job dir alone)."""

    job_dir: Path
    run_name: str
    status: str  # MLflow run status: FINISHED | FAILED
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    step_metrics: list[StepMetric] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: list[Path] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)  # resolved job config
    pipeline: str = "comparison"
    tracking: dict[str, Any] = field(default_factory=dict)  # the job's tracking.* settings
    cwd: Path | None = None  # hydra.runtime.cwd of the job (where mlflow_runs/ lives)
    start_time_ms: int | None = None
    end_time_ms: int | None = None
    error: str | None = None


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Nested dicts to dotted keys (`battery.capacity_kwh`); lists stay values."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(flatten(sub, f"{prefix}{key}."))
        if not value and prefix:
            out[prefix[:-1]] = {}
        return out
    return {prefix[:-1]: value}


def param_value(value: Any) -> str:
    """A param string within MLflow's length limit (the full config stays in config.yaml)."""
    text = json.dumps(value) if isinstance(value, list | dict) else str(value)
    if len(text) > MAX_PARAM_VALUE:
        text = text[: MAX_PARAM_VALUE - len(TRUNCATED)] + TRUNCATED
    return text


def tag_value(value: Any) -> str:
    text = str(value)
    return text if len(text) <= MAX_TAG_VALUE else text[: MAX_TAG_VALUE - 3] + "..."


def _number(value: Any) -> float | None:
    if isinstance(value, int | float):  # bool included: True -> 1.0
        return float(value)
    return None


def load_job_config(job_dir: Path) -> dict[str, Any]:
    """The job's config from .hydra/config.yaml (Hydra writes it before the job starts).

    Read with PyYAML's C loader (OmegaConf.load: ~40 ms a job); OmegaConf only resolves."""
    cfg = OmegaConf.create(_load_yaml(job_dir / ".hydra" / "config.yaml") or {})
    try:
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    except Exception:  # an interpolation that only resolves inside Hydra
        return OmegaConf.to_container(cfg, resolve=False)  # type: ignore[return-value]


def load_hydra_info(job_dir: Path) -> dict[str, Any]:
    """Job number, overrides, cwd and sweep dir from .hydra/hydra.yaml (without resolving).

    Read with PyYAML's C loader, not OmegaConf: the end of a 200-job sweep reads every job's
    hydra.yaml, and OmegaConf.load took ~30 ms a file where this takes ~2 ms.
    """
    path = job_dir / ".hydra" / "hydra.yaml"
    if not path.exists():  # a sweep killed while Hydra wrote the job's .hydra/ (config.yaml first)
        return {}
    hydra = (_load_yaml(path) or {}).get("hydra") or {}
    job, runtime = hydra.get("job") or {}, hydra.get("runtime") or {}
    return {
        "num": job.get("num"),
        "overrides": list((hydra.get("overrides") or {}).get("task") or []),
        "cwd": runtime.get("cwd"),
        "mode": str(hydra.get("mode")),
    }


def _load_yaml(path: Path) -> Any:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(), Loader=loader)


def read_json(path: Path) -> dict[str, Any]:
    """A small JSON record of ours, or {} when it is missing or half-written."""
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}


def read_marker(job_dir: Path) -> dict[str, Any]:
    return read_json(job_dir / JOB_RUN_FILE)


def write_marker(job_dir: Path, **values: Any) -> None:
    """Merge values into the job's mlflow_run.json (atomic replace)."""
    write_json(job_dir / JOB_RUN_FILE, {**read_marker(job_dir), **values})


def _day_ms(value: Any) -> int:
    day = dt.date.fromisoformat(str(value)[:10])
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def read_daily(job_dir: Path) -> list[StepMetric]:
    """daily.csv's DAILY_STEP_METRICS columns -> `daily/<column>` step metrics (step = day
    index, timestamp = the day).

    A job that raised before its days ran has no daily.csv: no step metrics.
    """
    import pandas as pd
    from pandas.api.types import is_numeric_dtype

    path = job_dir / DAILY_FILE
    if not path.exists():
        return []
    frame = pd.read_csv(path, usecols=lambda c: c == "date" or c in DAILY_STEP_METRICS)
    numeric = [c for c in DAILY_STEP_METRICS if c in frame and is_numeric_dtype(frame[c])]
    steps: list[StepMetric] = []
    for i, row in enumerate(frame.to_dict("records")):
        ts = _day_ms(row["date"])
        for col in numeric:
            value = float(row[col])
            if math.isfinite(value):
                steps.append(StepMetric(f"daily/{col}", value, i, ts))
    return steps


def read_learning_curve(job_dir: Path) -> list[StepMetric]:
    """learning_curve.csv (pipelines/learning.curve_frame: one row per device and training day)
    -> `learning/<device>_<column>` step metrics; step 0 = the first training day.

    Only the learning pipeline writes the file.
    """
    import pandas as pd

    path = job_dir / LEARNING_CURVE_FILE
    if not path.exists():
        return []
    frame = pd.read_csv(path)
    skip = {"device", "day_index", "date"}
    numeric = [
        c for c in frame.columns if c not in skip and pd.api.types.is_numeric_dtype(frame[c])
    ]
    steps: list[StepMetric] = []
    for row in frame.to_dict("records"):
        step, ts = int(row["day_index"]) - 1, _day_ms(row["date"])
        for col in numeric:
            value = float(row[col])
            if math.isfinite(value):
                steps.append(StepMetric(f"learning/{row['device']}_{col}", value, step, ts))
    return steps


def run_name(config: dict[str, Any], overrides: list[str], swept_keys: list[str]) -> str:
    """`res1-centralized`, plus the other swept values (`res1-centralized-battery=none`)."""
    parts = [
        str(config.get("building", {}).get("name", "job")),
        str(config.get("mode", {}).get("name", "")),
    ]
    for item in overrides:
        key = item.split("=", 1)[0].lstrip("+~")
        if key in swept_keys and key not in ("building", "mode", "building.name", "mode.name"):
            parts.append(item)
    return "-".join(p for p in parts if p)


def swept_tags(overrides: list[str], swept_keys: list[str]) -> dict[str, str]:
    """One tag per swept key with this job's value (`battery` = `large`), to filter and group."""
    values = (item.split("=", 1) for item in overrides if "=" in item)
    return {k.lstrip("+~"): tag_value(v) for k, v in values if k.lstrip("+~") in swept_keys}


def find_sweep_dir(job_dir: Path) -> Path | None:
    """The sweep dir above a job dir: where Hydra wrote multirun.yaml."""
    for parent in Path(job_dir).resolve().parents:
        if (parent / "multirun.yaml").exists():
            return parent
    return None


def file_times_ms(job_dir: Path) -> tuple[int, int]:
    """Start/end of a job from its files, for replays without a marker."""
    start = int((job_dir / ".hydra" / "config.yaml").stat().st_mtime * 1000)
    end = job_dir / SUMMARY_FILE
    return start, int(end.stat().st_mtime * 1000) if end.exists() else start


def _params(config: dict[str, Any], summary: dict[str, Any]) -> dict[str, str]:
    """The flattened config and the pipelines' user params (summary.json), as MLflow strings."""
    params = {k: param_value(v) for k, v in flatten(config).items()}
    params.update({k: param_value(v) for k, v in summary.get("params", {}).items()})
    return params


def _metrics(summary: dict[str, Any]) -> dict[str, float]:
    """summary.json's numbers as they stand (NaN was written as null: no metric)."""
    return {k: n for k, v in summary.get("metrics", {}).items() if (n := _number(v)) is not None}


def _outcome(
    job_dir: Path, summary: dict[str, Any], raised: BaseException | None
) -> tuple[bool, str | None]:
    """(ok, error): the summary's status and error; a task that raised or a job dir without
    summary.json (the job did not finish) is a failed run."""
    if raised is not None:
        return False, f"{type(raised).__name__}: {raised}"
    if not summary:
        return False, f"no {SUMMARY_FILE} in {job_dir}: the job did not finish"
    return summary.get("status") == "ok", summary.get("error")


def _tags(
    job_dir: Path,
    config: dict[str, Any],
    info: dict[str, Any],
    summary: dict[str, Any],
    swept_keys: list[str],
) -> dict[str, str]:
    """summary.json's tags and where the run belongs: job dir, overrides, swept values, sweep.

    Six parameters: the record's parts, each read once by build_record.
    """
    overrides = info.get("overrides", [])
    tags = {str(k): tag_value(v) for k, v in summary.get("tags", {}).items()}
    tags.update(
        {
            TAG_RUN_TYPE: RUN_TYPE_JOB,
            TAG_JOB_DIR: str(job_dir),
            TAG_OVERRIDES: tag_value(" ".join(overrides)),
            "building": str(config.get("building", {}).get("name", "")),
            "mode": str(config.get("mode", {}).get("name", "")),
            "pipeline": _pipeline(config),
        }
    )
    tags.update(swept_tags(overrides, swept_keys))
    if info.get("num") is not None and info.get("mode") == "MULTIRUN":
        tags[TAG_JOB_NUM] = str(info["num"])
        sweep_dir = find_sweep_dir(job_dir)
        if sweep_dir is not None:
            tags[TAG_SWEEP_DIR] = str(sweep_dir)
    return tags


def _error_tags(error: str) -> dict[str, str]:
    return {TAG_ERROR: tag_value(error), TAG_NOTE: tag_value(f"**Job failed**: {error}")}


def _pipeline(config: dict[str, Any]) -> str:
    return str(config["pipeline"]["name"])


def build_record(
    job_dir: Path,
    swept_keys: list[str] | None = None,
    raised: BaseException | None = None,
) -> JobRecord:
    """Everything MLflow gets for one job, from its files (raised: the task's own exception)."""
    job_dir = Path(job_dir).resolve()
    try:
        config = load_job_config(job_dir)
    except yaml.YAMLError:
        config = {}
    if not {"pipeline", "tracking"} <= set(config):  # what the run's experiment and store need
        raise JobNotStarted(f"{job_dir}: .hydra/config.yaml is incomplete; the job never ran")
    info = load_hydra_info(job_dir)
    summary = read_summary(job_dir) or {}
    ok, error = _outcome(job_dir, summary, raised)
    tags = _tags(job_dir, config, info, summary, swept_keys or [])
    tags[TAG_STATUS] = "ok" if ok else "failed"
    if error:
        tags.update(_error_tags(error))
    if raised is not None:  # the summary's own error type, when it has one, stays
        tags.setdefault(TAG_ERROR_TYPE, type(raised).__name__)
    marker = read_marker(job_dir)
    start, end = file_times_ms(job_dir)
    cwd = info.get("cwd")
    return JobRecord(
        job_dir=job_dir,
        run_name=run_name(config, info.get("overrides", []), swept_keys or []),
        status="FINISHED" if ok else "FAILED",
        params=_params(config, summary),
        metrics=_metrics(summary),
        step_metrics=read_daily(job_dir) + read_learning_curve(job_dir),
        tags=tags,
        artifacts=sorted(p for p in job_dir.iterdir() if not p.name.startswith(JOB_RUN_FILE)),
        config=config,
        pipeline=_pipeline(config),
        tracking=dict(config.get("tracking", {}) or {}),
        cwd=Path(cwd) if cwd else None,
        start_time_ms=marker.get("start_time_ms", start),
        end_time_ms=marker.get("end_time_ms", end),
        error=error,
    )
