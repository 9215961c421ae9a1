"""Job dir -> MLflow record (no MLflow import), read from a real pipeline sweep's job dirs.

Tracking maps the pipelines' summary.json as it stands: the run's status, error, metrics and
user params are the summary's, never re-judged or derived; daily.csv gives the per-day steps.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pandas as pd
import pytest
from conftest import copy_sweep
from omegaconf import OmegaConf

from ems_sweep.names import JOB_RUN_FILE, SUMMARY_FILE
from ems_sweep.pipelines.result import SCHEMA_VERSION, read_summary
from ems_sweep.tracking.record import (
    MAX_PARAM_VALUE,
    JobNotStarted,
    build_record,
    flatten,
    param_value,
    read_learning_curve,
)
from ems_sweep.tracking.sweep import (
    best_and_worst,
    job_dirs,
    sweep_table,
    swept_keys,
    swept_values,
)


def first_job(sweep_dir: Path) -> Path:
    return job_dirs(sweep_dir)[0]


def test_flatten_and_param_limits() -> None:
    flat = flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}})
    assert flat == {"a.b": 1, "a.c.d": [1, 2], "e": {}}
    assert param_value([1, 2]) == "[1, 2]"
    long = param_value("y" * 7000)
    assert len(long) == MAX_PARAM_VALUE and long.endswith("see config.yaml)")


def test_a_job_writes_one_versioned_summary(pipeline_sweep: Path) -> None:
    """The contract: status, error, params, every figure and tags, with its schema version."""
    summary = read_summary(first_job(pipeline_sweep))
    assert summary is not None
    assert summary["schema_version"] == SCHEMA_VERSION
    assert summary["status"] == "ok" and summary["error"] is None
    assert summary["params"] == {
        "building_id": "res1",
        "optimization_mode": "centralized",
        "battery_enabled": True,
        "ev_enabled": False,
        "n_days": 2,
        "pipeline": "comparison",
    }
    daily = pd.read_csv(first_job(pipeline_sweep) / "daily.csv")
    ok = daily[daily["status"] == "ok"]
    # the figures users read are the pipelines': the mean of the ok days' savings %
    # (daily.csv keeps 8 decimals)
    assert summary["metrics"]["avg_savings_pct"] == pytest.approx(ok["savings_pct"].mean(), 1e-7)
    assert summary["metrics"]["total_days_processed"] == len(daily) == 2


def test_record_maps_the_summary_as_it_stands(pipeline_sweep: Path) -> None:
    job_dir = first_job(pipeline_sweep)
    summary = read_summary(job_dir)
    rec = build_record(job_dir, swept_keys=["building"])
    assert rec.status == "FINISHED" and rec.error is None
    assert rec.run_name == "res1-centralized"
    # metrics: exactly the summary's numbers (NaN is written as null: no metric)
    numbers = {k: float(v) for k, v in summary["metrics"].items() if v is not None}
    assert rec.metrics == numbers
    # params: the flattened job config plus the pipelines' user params
    config = OmegaConf.to_container(OmegaConf.load(job_dir / ".hydra" / "config.yaml"))
    assert rec.params["battery.capacity_kwh"] == str(config["battery"]["capacity_kwh"])
    for key, value in summary["params"].items():
        assert rec.params[key] == str(value)
    assert rec.params["building_id"] == rec.params["building.name"] == "res1"
    # tags: the summary's, where the run belongs, the swept value
    assert rec.tags["solver_status"] == summary["tags"]["solver_status"] == "Optimal"
    assert rec.tags["ems_sweep.status"] == "ok" and "error" not in rec.tags
    assert rec.tags["ems_sweep.job_num"] == "0" and rec.tags["building"] == "res1"
    assert rec.tags["ems_sweep.sweep_dir"] == str(pipeline_sweep.resolve())
    names = {p.name for p in rec.artifacts}
    assert {"summary.json", "daily.csv", "report.md", ".hydra"} <= names


def test_daily_rows_become_step_metrics_on_their_days(pipeline_sweep: Path) -> None:
    job_dir = first_job(pipeline_sweep)
    daily = pd.read_csv(job_dir / "daily.csv")
    rec = build_record(job_dir)
    steps = {(s.key, s.step): s for s in rec.step_metrics}
    for i, row in daily.iterrows():
        day = dt.date.fromisoformat(row["date"])
        ms = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
        step = steps[("daily/optimized_cost_eur", i)]
        assert step.value == row["optimized_cost_eur"] and step.timestamp_ms == ms
    # NaN days are left out, not logged as NaN: the first day has no end-storage value yet
    assert math.isnan(daily["end_storage_value_eur"].iloc[0])
    assert ("daily/end_storage_value_eur", 0) not in steps
    assert ("daily/end_storage_value_eur", len(daily) - 1) in steps


def test_the_marker_is_not_an_artifact(pipeline_sweep: Path, tmp_path: Path) -> None:
    job_dir = first_job(copy_sweep(pipeline_sweep, tmp_path))
    (job_dir / JOB_RUN_FILE).write_text("{}")
    assert JOB_RUN_FILE not in {p.name for p in build_record(job_dir).artifacts}


def test_a_failed_job_is_a_failed_run_with_the_summary_error(failed_sweep: Path) -> None:
    job_dir = first_job(failed_sweep)
    summary = read_summary(job_dir)
    assert summary["status"] == "failed" and "resolution_min" in summary["error"]
    rec = build_record(job_dir)
    assert rec.status == "FAILED" and rec.error == summary["error"]
    assert rec.tags["error"] == summary["error"] and rec.tags["ems_sweep.status"] == "failed"
    assert rec.tags["error_type"] == "ConfigError" and rec.tags["solver_status"] == "error"
    assert rec.metrics["optimization_success"] == 0.0


def test_a_task_that_raised_or_did_not_finish_is_failed(
    pipeline_sweep: Path, tmp_path: Path
) -> None:
    job_dir = first_job(copy_sweep(pipeline_sweep, tmp_path))
    raised = build_record(job_dir, raised=ValueError("bad value"))
    assert raised.status == "FAILED" and raised.tags["error_type"] == "ValueError"
    assert raised.error == "ValueError: bad value"
    (job_dir / SUMMARY_FILE).unlink()
    unfinished = build_record(job_dir)
    assert unfinished.status == "FAILED" and "did not finish" in unfinished.error
    assert unfinished.metrics == {}  # no figure is made up for a job that wrote none


def test_a_job_killed_while_hydra_wrote_its_files_is_listed_unfinished(
    pipeline_sweep: Path, tmp_path: Path
) -> None:
    """SIGKILL between Hydra's .hydra/config.yaml and hydra.yaml: the sweep table and sync
    still read the sweep, and the job counts as not finished (seen in a killed-sweep test)."""
    sweep = copy_sweep(pipeline_sweep, tmp_path)
    job_dir = first_job(sweep)
    (job_dir / ".hydra" / "hydra.yaml").unlink()
    (job_dir / SUMMARY_FILE).unlink()
    rows = sweep_table(sweep, ["building"])
    assert len(rows) == 2
    assert [(r["job"], r["status"]) for r in rows] == [(1, "ok"), (None, "missing")]
    assert build_record(job_dir).status == "FAILED"


def test_a_job_killed_while_hydra_wrote_its_config_is_not_a_run(
    pipeline_sweep: Path, tmp_path: Path
) -> None:
    """SIGKILL while Hydra wrote .hydra/config.yaml (seen in CI's killed-sweep test): sync
    reports the job as never started and logs the others, instead of failing the whole sync."""
    from ems_sweep.tracking.sync import sync

    sweep = copy_sweep(pipeline_sweep, tmp_path)
    job_dir = first_job(sweep)
    for cut in ("", "building:\n  name: res1\n  sou"):  # empty, and cut inside the building
        (job_dir / ".hydra" / "config.yaml").write_text(cut)
        with pytest.raises(JobNotStarted):
            build_record(job_dir)
    report = sync(sweep, uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert report.not_started == [str(job_dir)]
    assert len(report.logged) == 1 and str(job_dir) not in report.logged


def test_learning_curve_rows_become_steps_per_device(pipeline_sweep: Path, tmp_path: Path) -> None:
    """The format pipelines/learning.curve_frame writes: device, 1-based day_index, date."""
    job_dir = first_job(copy_sweep(pipeline_sweep, tmp_path))
    curve = pd.DataFrame(
        {
            "device": ["dishwasher", "dishwasher"],
            "day_index": [1, 2],
            "date": ["2016-06-01", "2016-06-02"],
            "js_step": [0.5, 0.1],
        }
    )
    curve.to_csv(job_dir / "learning_curve.csv", index=False)
    steps = {(s.key, s.step): s.value for s in read_learning_curve(job_dir)}
    key = "learning/dishwasher_js_step"
    assert steps == {(key, 0): 0.5, (key, 1): 0.1}


def test_sweep_table_rows_and_best_worst_follow_the_summaries(pipeline_sweep: Path) -> None:
    rows = sweep_table(pipeline_sweep, ["building"])
    assert [(r["job"], r["building"], r["status"]) for r in rows] == [
        (0, "res1", "ok"),
        (1, "res2", "ok"),
    ]
    for row, job_dir in zip(rows, job_dirs(pipeline_sweep), strict=True):
        metrics = json.loads((job_dir / SUMMARY_FILE).read_text())["metrics"]
        assert row["savings_pct"] == metrics["savings_pct"]
    tags = best_and_worst(rows)
    best = max(rows, key=lambda r: r["savings_pct"])
    worst = min(rows, key=lambda r: r["savings_pct"])
    assert tags["ems_sweep.best_job"] == str(best["job"])
    assert tags["ems_sweep.worst_job"] == str(worst["job"])
    assert float(tags["ems_sweep.best_savings_pct"]) == round(best["savings_pct"], 3)


def test_a_failed_job_is_never_best_or_worst() -> None:
    rows = [
        {"job": 0, "status": "ok", "savings_pct": 5.0, "run_id": "a", "run_name": "x"},
        {"job": 1, "status": "ok", "savings_pct": 12, "run_id": "b", "run_name": "y"},
        {"job": 2, "status": "failed", "savings_pct": 99.0, "run_id": "c", "run_name": "z"},
    ]
    tags = best_and_worst(rows)
    assert tags["ems_sweep.best_job"] == "1" and tags["ems_sweep.worst_job"] == "0"


def test_swept_keys_and_values() -> None:
    overrides = ["building=res1,res2", "mode=centralized", "pipeline=comparison,learning"]
    assert swept_keys(overrides) == ["building", "pipeline"]
    assert swept_values(overrides, "pipeline") == ["comparison", "learning"]


def test_log_model_hook_skips_with_a_warning_when_serving_is_missing(
    pipeline_sweep: Path, monkeypatch
) -> None:
    import sys

    from ems_sweep.tracking.logger import _log_model
    from ems_sweep.tracking.store import Store

    monkeypatch.setitem(sys.modules, "ems_sweep.serving.model", None)  # import raises ImportError
    rec = build_record(first_job(pipeline_sweep))
    with pytest.warns(UserWarning, match="tracking.log_model=true"):
        _log_model(Store("sqlite:///unused.db", None), "run-id", rec)
