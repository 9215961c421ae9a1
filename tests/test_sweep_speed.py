"""The sweep's speed-ups change nothing in the results (issue 17).

The same small sweep runs twice through the CLI into its own MLflow store: once with the
project's defaults (hydra/sweeper=ems: each swept value checked once, each job composed once in
its joblib worker; the MLflow parent set up while the first jobs start; experiment ids cached,
fewer params), once with Hydra's own sweeper and the serial basic launcher. Every job's figures
(summary.json without the timers), the sweep table and the child runs' metrics must be equal.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from conftest import run_cli

SWEEP = ["building=res1,res2", "battery=none,default", "ev=default", "n_days=1"]


def _is_timer(key: str) -> bool:
    """Seconds measured by the run (they differ between any two runs), not a result."""
    return key.startswith("time_") or key.endswith(("_seconds", "_time_s", "/build_s", "/solve_s"))


def _figures(summary: dict) -> dict:
    """A job's summary without its timers (which differ between any two runs)."""
    metrics = {k: v for k, v in summary["metrics"].items() if not _is_timer(k)}
    return {**summary, "metrics": metrics}


def _sweep(tmp_path: Path, name: str, *launch: str) -> tuple[Path, str]:
    sweep_dir = tmp_path / name
    uri = f"sqlite:///{tmp_path / name}.db"
    args = [*SWEEP, *launch, f"tracking.uri={uri}", f"hydra.sweep.dir={sweep_dir}", "-m"]
    proc = run_cli(args, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return sweep_dir, uri


def _jobs(sweep_dir: Path) -> dict[str, dict]:
    return {
        p.name: _figures(json.loads((p / "summary.json").read_text()))
        for p in sweep_dir.iterdir()
        if (p / "summary.json").exists()
    }


def _table(sweep_dir: Path) -> list[dict]:
    with (sweep_dir / "sweep_table.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    return [{k: v for k, v in r.items() if k != "run_id" and not _is_timer(k)} for r in rows]


def _run_metrics(uri: str) -> dict[str, dict[str, float]]:
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    return {
        r.data.tags["ems_sweep.job_dir"].rsplit("/", 1)[-1]: {
            k: v for k, v in r.data.metrics.items() if not _is_timer(k)
        }
        for r in runs
        if r.data.tags.get("ems_sweep.run_type") == "job" and r.info.status == "FINISHED"
    }


@pytest.mark.slow
def test_speedups_on_and_off_give_the_same_figures(tmp_path):
    fast_dir, fast_uri = _sweep(tmp_path, "fast", "hydra.launcher.n_jobs=2")
    plain_dir, plain_uri = _sweep(tmp_path, "plain", "hydra/sweeper=basic", "hydra/launcher=basic")

    fast, plain = _jobs(fast_dir), _jobs(plain_dir)
    assert len(fast) == 4 and fast.keys() == plain.keys()
    assert fast == plain
    assert _table(fast_dir) == _table(plain_dir)
    fast_runs, plain_runs = _run_metrics(fast_uri), _run_metrics(plain_uri)
    assert fast_runs.keys() == fast.keys()
    assert fast_runs == plain_runs
    assert all(run for run in fast_runs.values())  # the runs carry the job's figures


def test_a_bad_swept_value_stops_the_sweep_before_any_job(tmp_path):
    """Checked once per value, not composed per job: still rejected before the first job."""
    for bad in ("building=res1,res99", "battery.capacity_kwh=5,abc"):
        sweep_dir = tmp_path / bad.split("=")[0]
        args = ["tracking=none", bad, f"hydra.sweep.dir={sweep_dir}", "-m"]
        proc = run_cli(args, tmp_path)
        assert proc.returncode != 0
        assert ("res99" if "res99" in bad else "abc") in proc.stderr
        assert not [p for p in sweep_dir.iterdir() if p.is_dir()]  # no job started


def test_a_sweeps_jobs_draw_no_plots_until_asked(pipeline_sweep: Path, tmp_path: Path) -> None:
    """pipeline.plots=null: drawing is the largest cost of a short job, so a sweep's jobs skip
    it (report.md and the sweep footer say how to draw them) and a single run draws them."""
    import subprocess
    import sys

    from conftest import copy_sweep

    from ems_sweep.analysis.sweep_table import footer

    jobs = sorted(d.parent for d in pipeline_sweep.glob("*/.hydra"))
    assert len(jobs) == 2
    for job in jobs:
        assert not (job / "plots").exists()
        assert "No plots (in a sweep's job)" in (job / "report.md").read_text()
    assert any(line.startswith("Plots: python -m ems_sweep.report.job_plots") for line in
               footer(pipeline_sweep, {}, tracking_on=False))  # fmt: skip

    sweep = copy_sweep(pipeline_sweep, tmp_path)
    copies = sorted(d.parent for d in sweep.glob("*/.hydra"))
    drawn = subprocess.run(
        [sys.executable, "-m", "ems_sweep.report.job_plots", *map(str, copies)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert drawn.returncode == 0, drawn.stderr[-2000:]
    for job in copies:  # the daily cost and one schedule plot per day (2 days)
        assert len(list((job / "plots").glob("*.png"))) == 3, sorted((job / "plots").iterdir())
    assert not [line for line in footer(sweep, {}, tracking_on=False) if line.startswith("Plots")]

    single = run_cli(["building=res1", "tracking=none", "hydra.run.dir=one"], cwd=tmp_path)
    assert single.returncode == 0, single.stderr[-2000:]
    assert len(list((tmp_path / "one" / "plots").glob("*.png"))) == 2  # daily cost, the day
