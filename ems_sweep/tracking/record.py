"""Read one Hydra job dir into what MLflow will get: params, metrics, step metrics, tags, files.

Everything comes from files (summary.json, daily.csv, learning_curve.csv, .hydra/), never from
process memory, so the callback and `python -m ems_sweep.tracking sync` log exactly the same run.
This module does not import MLflow.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from ems_sweep.names import (
    DAILY_FILE,
    JOB_RUN_FILE,
    LEARNING_CURVE_FILE,
    RUN_TYPE_JOB,
    SUMMARY_FILE,
    TAG_JOB_DIR,
    TAG_JOB_NUM,
    TAG_OVERRIDES,
    TAG_RUN_TYPE,
    TAG_STATUS,
    TAG_SWEEP_DIR,
)
from ems_sweep.pipelines.result import read_summary

EXPERIMENTS = {"comparison": "Pipeline_A_Comparison", "learning": "Pipeline_B_Learning"}

# MLflow limits (mlflow.utils.validation): param values, tag values.
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
TRUNCATED = "...(truncated, see config.yaml)"


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
    """The job's config from .hydra/config.yaml, resolved where possible."""
    path = job_dir / ".hydra" / "config.yaml"
    if not path.exists():
        return {}
    # PyYAML's C loader (OmegaConf.load: ~40 ms a job); OmegaConf only to resolve.
    cfg = OmegaConf.create(_load_yaml(path) or {})
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
    if not path.exists():
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


def _day_ms(value: Any) -> int:
    day = dt.date.fromisoformat(str(value)[:10])
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def read_daily(job_dir: Path) -> tuple[list[StepMetric], dict[str, float]]:
    """daily.csv -> `daily/<kpi>` step metrics (step = day index, timestamp = the day)."""
    import pandas as pd

    path = job_dir / DAILY_FILE
    if not path.exists():
        return [], {}
    frame = pd.read_csv(path)
    steps: list[StepMetric] = []
    derived: dict[str, float] = {"total_days_processed": float(len(frame))}
    numeric = [c for c in frame.columns if c != "date" and pd.api.types.is_numeric_dtype(frame[c])]
    for i, row in enumerate(frame.itertuples(index=False)):
        row_d = row._asdict()
        ts = _day_ms(row_d["date"]) if "date" in row_d else 0
        for col in numeric:
            value = float(row_d[col])
            if math.isfinite(value):
                steps.append(StepMetric(f"daily/{col}", value, i, ts))
    if "savings_pct" in frame.columns and len(frame):
        derived["avg_savings_pct"] = float(frame["savings_pct"].mean())
    return steps, derived


def read_learning_curve(job_dir: Path) -> list[StepMetric]:
    """learning_curve.csv -> `learning/[<device>_]<column>` step metrics.

    Accepts a long table (a `device` column) or a wide one; the step is the `step` (or `day`,
    or 1-based `day_index`) column, else the row number within the device; `date` gives the
    timestamp.
    """
    import pandas as pd

    path = job_dir / LEARNING_CURVE_FILE
    if not path.exists():
        return []
    frame = pd.read_csv(path)
    skip = {"device", "step", "day", "day_index", "date"}
    numeric = [
        c for c in frame.columns if c not in skip and pd.api.types.is_numeric_dtype(frame[c])
    ]
    groups = frame.groupby("device", sort=False) if "device" in frame.columns else [(None, frame)]
    steps: list[StepMetric] = []
    for device, part in groups:
        for i, row in enumerate(part.to_dict("records")):
            if "step" in row or "day" in row:
                step = int(row.get("step", row.get("day", i)))
            else:  # the pipelines' 1-based day_index (step 0 = first training day)
                step = int(row["day_index"]) - 1 if "day_index" in row else i
            ts = _day_ms(row["date"]) if "date" in row and isinstance(row["date"], str) else 0
            for col in numeric:
                value = float(row[col])
                if math.isfinite(value):
                    name = f"learning/{device}_{col}" if device is not None else f"learning/{col}"
                    steps.append(StepMetric(name, value, step, ts))
    return steps


def _derive(metrics: dict[str, float]) -> None:
    """User-vocabulary figures the pipelines may not write themselves."""
    conv = [v for k, v in metrics.items() if k.endswith("_convergence_rate")]
    if conv and "avg_convergence" not in metrics:
        metrics["avg_convergence"] = sum(conv) / len(conv)


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


def file_times_ms(job_dir: Path) -> tuple[int | None, int | None]:
    """Start/end of a job from its files, for replays without a marker."""
    start = job_dir / ".hydra" / "config.yaml"
    end = job_dir / SUMMARY_FILE
    s = int(start.stat().st_mtime * 1000) if start.exists() else None
    e = int(end.stat().st_mtime * 1000) if end.exists() else s
    return s, e


def build_record(
    job_dir: Path,
    swept_keys: list[str] | None = None,
    raised: BaseException | None = None,
) -> JobRecord:
    """Everything MLflow gets for one job, from its files (raised: the task's own exception)."""
    job_dir = Path(job_dir).resolve()
    config = load_job_config(job_dir)
    info = load_hydra_info(job_dir)
    summary = read_summary(job_dir) or {}
    overrides = info.get("overrides", [])
    pipeline = str(config.get("pipeline", {}).get("name", "comparison"))
    building = str(config.get("building", {}).get("name", ""))
    mode = str(config.get("mode", {}).get("name", ""))

    params: dict[str, str] = {k: param_value(v) for k, v in flatten(config).items()}
    user = {
        "building_id": building,
        "optimization_mode": mode,
        "battery_enabled": config.get("battery", {}).get("enabled"),
        "ev_enabled": config.get("ev", {}).get("enabled"),
        "n_days": config.get("n_days"),
        "pipeline": pipeline,
    }
    user.update(summary.get("params", {}))
    params.update({k: param_value(v) for k, v in user.items() if v is not None})

    metrics = {k: n for k, v in summary.get("metrics", {}).items() if (n := _number(v)) is not None}
    daily_steps, derived = read_daily(job_dir)
    for key, value in derived.items():
        metrics.setdefault(key, value)
    if "savings_pct" in metrics:
        metrics.setdefault("avg_savings_pct", metrics["savings_pct"])
    _derive(metrics)
    steps = daily_steps + read_learning_curve(job_dir)

    error = summary.get("error")
    ok = summary.get("status") == "ok" and raised is None
    if raised is not None:
        error = f"{type(raised).__name__}: {raised}"
    elif not summary:
        error = f"no {SUMMARY_FILE} in {job_dir}: the job did not finish"
    violations = metrics.get("constraint_violations", 0.0)
    if ok and violations > 0:
        ok = False
        error = f"checker found {violations:g} constraint violations"
    metrics.setdefault("optimization_success", 1.0 if ok else 0.0)
    if not ok:
        metrics["optimization_success"] = 0.0

    tags = {str(k): tag_value(v) for k, v in summary.get("tags", {}).items()}
    tags.update(
        {
            TAG_RUN_TYPE: RUN_TYPE_JOB,
            TAG_JOB_DIR: str(job_dir),
            TAG_OVERRIDES: tag_value(" ".join(overrides)),
            "building": building,
            "mode": mode,
            "pipeline": pipeline,
            TAG_STATUS: "ok" if ok else "failed",
        }
    )
    tags.update(swept_tags(overrides, swept_keys or []))
    if info.get("num") is not None and info.get("mode") == "MULTIRUN":
        tags[TAG_JOB_NUM] = str(info["num"])
        sweep_dir = find_sweep_dir(job_dir)
        if sweep_dir is not None:
            tags[TAG_SWEEP_DIR] = str(sweep_dir)
    tags.setdefault("solver_status", "error" if error and not ok else "unknown")
    if error:
        tags["error"] = tag_value(error)
        tags["mlflow.note.content"] = tag_value(f"**Job failed**: {error}")
        if raised is not None:
            tags.setdefault("error_type", type(raised).__name__)

    artifacts = sorted(p for p in job_dir.iterdir() if not p.name.startswith(JOB_RUN_FILE))
    marker = read_marker(job_dir)
    start, end = file_times_ms(job_dir)
    cwd = info.get("cwd")
    return JobRecord(
        job_dir=job_dir,
        run_name=run_name(config, overrides, swept_keys or []),
        status="FINISHED" if ok else "FAILED",
        params=params,
        metrics=metrics,
        step_metrics=steps,
        tags=tags,
        artifacts=artifacts,
        config=config,
        pipeline=pipeline,
        tracking=dict(config.get("tracking", {}) or {}),
        cwd=Path(cwd) if cwd else None,
        start_time_ms=marker.get("start_time_ms", start),
        end_time_ms=marker.get("end_time_ms", end),
        error=error,
    )
