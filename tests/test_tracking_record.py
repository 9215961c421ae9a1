"""Job dir -> MLflow record (no MLflow import): params, metrics, step metrics, status, tags."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from ems_sweep.names import JOB_RUN_FILE
from ems_sweep.tracking.record import (
    MAX_PARAM_VALUE,
    build_record,
    flatten,
    param_value,
)
from ems_sweep.tracking.sweep import best_and_worst, swept_keys, swept_values


def make_job_dir(
    root: Path,
    num: int = 0,
    building: str = "res1",
    mode: str = "centralized",
    status: str = "ok",
    metrics: dict | None = None,
    daily: pd.DataFrame | None = None,
    pipeline: str = "comparison",
) -> Path:
    """A job dir as Hydra + the runner leave it (multirun layout: multirun.yaml one level up)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "multirun.yaml").write_text("hydra: {}\n")
    job_dir = root / f"{num}_building={building},mode={mode}"
    hydra_dir = job_dir / ".hydra"
    hydra_dir.mkdir(parents=True)
    cfg = {
        "building": {
            "name": building,
            "shiftable": ["dishwasher"],
            "generator": {"appliances": {}},
        },
        "mode": {"name": mode, "max_delay_hours": 6.0, "allow_advance": False},
        "battery": {"enabled": True, "capacity_kwh": 10.0},
        "ev": {"enabled": False},
        "pipeline": {"name": pipeline},
        "tracking": {"enabled": True, "uri": None},
        "n_days": 2,
        "long_value": "x" * (MAX_PARAM_VALUE + 50),
    }
    OmegaConf.save(OmegaConf.create(cfg), hydra_dir / "config.yaml")
    hydra = {
        "hydra": {
            "mode": "MULTIRUN",
            "job": {"num": num},
            "runtime": {"cwd": str(root), "output_dir": str(job_dir)},
            "overrides": {"task": [f"building={building}", f"mode={mode}"]},
        }
    }
    OmegaConf.save(OmegaConf.create(hydra), hydra_dir / "hydra.yaml")
    summary = {
        "status": status,
        "error": None if status == "ok" else "RuntimeError: boom",
        "params": {"building_id": building, "optimization_mode": mode},
        "metrics": metrics if metrics is not None else {"total_cost": 1.5, "savings_pct": 10.0},
        "tags": {"solver_status": "optimal"},
    }
    (job_dir / "summary.json").write_text(json.dumps(summary))
    if daily is not None:
        daily.to_csv(job_dir / "daily.csv", index=False)
    return job_dir


def test_flatten_and_param_limits() -> None:
    flat = flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}})
    assert flat == {"a.b": 1, "a.c.d": [1, 2], "e": {}}
    assert param_value([1, 2]) == "[1, 2]"
    long = param_value("y" * 7000)
    assert len(long) == MAX_PARAM_VALUE and long.endswith("see config.yaml)")


def test_record_from_job_files(tmp_path: Path) -> None:
    daily = pd.DataFrame(
        {
            "date": ["2016-06-01", "2016-06-02"],
            "status": ["ok", "ok"],
            "savings_pct": [10.0, 20.0],
            "optimized_cost_eur": [1.0, float("nan")],
        }
    )
    job_dir = make_job_dir(tmp_path, daily=daily)
    curve = pd.DataFrame(
        {
            "device": ["dishwasher", "dishwasher"],
            "day_index": [1, 2],
            "date": ["2016-06-01", "2016-06-02"],
            "js_step": [0.5, 0.1],
        }
    )
    curve.to_csv(job_dir / "learning_curve.csv", index=False)
    (job_dir / JOB_RUN_FILE).write_text("{}")

    rec = build_record(job_dir, swept_keys=["building", "mode"])
    assert rec.status == "FINISHED" and rec.error is None
    assert rec.run_name == "res1-centralized"
    # flattened config + the users' vocabulary
    assert rec.params["battery.capacity_kwh"] == "10.0"
    assert rec.params["building.shiftable"] == '["dishwasher"]'
    assert rec.params["building_id"] == "res1" and rec.params["optimization_mode"] == "centralized"
    assert rec.params["battery_enabled"] == "True" and rec.params["n_days"] == "2"
    assert len(rec.params["long_value"]) == MAX_PARAM_VALUE
    # avg_savings_pct derived from daily.csv, days counted, success set
    assert rec.metrics["avg_savings_pct"] == 15.0
    assert rec.metrics["total_days_processed"] == 2.0
    assert rec.metrics["optimization_success"] == 1.0
    steps = {(s.key, s.step): s for s in rec.step_metrics}
    day2 = int(dt.datetime(2016, 6, 2, tzinfo=dt.UTC).timestamp() * 1000)
    assert steps[("daily/savings_pct", 1)].value == 20.0
    assert steps[("daily/savings_pct", 1)].timestamp_ms == day2
    assert ("daily/optimized_cost_eur", 1) not in steps  # NaN day left out
    assert steps[("learning/dishwasher_js_step", 1)].value == 0.1
    assert rec.tags["ems_sweep.job_num"] == "0"
    assert rec.tags["ems_sweep.cli.sweep_dir"] == str(tmp_path.resolve())
    assert rec.tags["solver_status"] == "optimal" and rec.tags["building"] == "res1"
    names = {p.name for p in rec.artifacts}
    assert {"summary.json", "daily.csv", ".hydra"} <= names and JOB_RUN_FILE not in names


def test_failed_and_violating_jobs_are_failed(tmp_path: Path) -> None:
    failed = build_record(make_job_dir(tmp_path / "a", status="failed", metrics={}))
    assert failed.status == "FAILED" and failed.tags["error"] == "RuntimeError: boom"
    assert failed.metrics["optimization_success"] == 0.0
    bad = make_job_dir(tmp_path / "b", metrics={"constraint_violations": 3.0, "savings_pct": 1.0})
    rec = build_record(bad)
    assert rec.status == "FAILED" and "3 constraint violations" in rec.error
    raised = build_record(make_job_dir(tmp_path / "c"), raised=ValueError("bad value"))
    assert raised.status == "FAILED" and raised.tags["error_type"] == "ValueError"


def test_swept_keys_and_best_worst() -> None:
    overrides = ["building=res1,res2", "mode=centralized", "pipeline=comparison,learning"]
    assert swept_keys(overrides) == ["building", "pipeline"]
    assert swept_values(overrides, "pipeline") == ["comparison", "learning"]
    rows = [
        {"job": 0, "status": "ok", "savings_pct": 5.0, "run_id": "a", "run_name": "x"},
        {"job": 1, "status": "ok", "savings_pct": 12, "run_id": "b", "run_name": "y"},
        {"job": 2, "status": "failed", "savings_pct": 99.0, "run_id": "c", "run_name": "z"},
    ]
    tags = best_and_worst(rows)
    assert tags["ems_sweep.best_job"] == "1" and tags["ems_sweep.worst_job"] == "0"


def test_log_model_hook_skips_with_a_warning_when_serving_is_missing(
    tmp_path: Path, monkeypatch
) -> None:
    import sys

    import pytest

    from ems_sweep.tracking.logger import _log_model
    from ems_sweep.tracking.store import Store

    monkeypatch.setitem(sys.modules, "ems_sweep.serving.model", None)  # import raises ImportError
    rec = build_record(make_job_dir(tmp_path))
    with pytest.warns(UserWarning, match="tracking.log_model=true"):
        _log_model(Store("sqlite:///unused.db", None), "run-id", rec)
