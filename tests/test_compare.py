"""compare on a store built with MlflowClient in the tracking callback's layout (no solver runs).

Two sweeps in Pipeline_A_Comparison: an old 2-job one and a new one over building x mode x
battery (8 jobs, one FAILED with its error tag); Pipeline_B_Learning exists but holds no sweep.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from ems_sweep.analysis.compare import main
from ems_sweep.analysis.sweep_analysis import compare_runs
from ems_sweep.analysis.sweep_plot import plot_comparison

# (building, mode, battery, savings_pct, savings_eur); None: the job failed
NEW_JOBS = [
    ("res1", "centralized", "none", 12.0, 0.40),
    ("res1", "decentralized", "none", 5.0, 0.20),
    ("res2", "centralized", "none", 8.0, 0.30),
    ("res2", "decentralized", "none", -1.0, -0.05),
    ("res1", "centralized", "default", 15.0, 0.50),
    ("res1", "decentralized", "default", 7.0, 0.25),
    ("res2", "centralized", "default", 9.0, 0.35),
    ("res2", "decentralized", "default", None, None),
]
OLD_JOBS = [
    ("res3", "centralized", "default", 4.0, 0.1),
    ("res3", "decentralized", "default", 2.0, 0.05),
]
ERROR = "ValueError: battery.capacity_kwh=0 is infeasible"


def _log_sweep(client, exp_id: str, name: str, jobs: list, start_ms: int, sweep_dir: Path) -> str:
    from mlflow.entities import Metric, Param, RunTag

    parent = client.create_run(
        exp_id,
        start_time=start_ms,
        run_name=name,
        tags={"ems_sweep.run_type": "sweep", "ems_sweep.sweep_dir": str(sweep_dir)},
    ).info.run_id
    for num, (building, mode, battery, pct, eur) in enumerate(jobs):
        tags = {
            "mlflow.parentRunId": parent,
            "ems_sweep.run_type": "job",
            "ems_sweep.job_num": str(num),
            "ems_sweep.sweep_dir": str(sweep_dir),
            "ems_sweep.overrides": f"building={building} mode={mode} battery={battery}",
            "building": building,
            "mode": mode,
            "pipeline": "comparison",
        }
        run = client.create_run(
            exp_id,
            start_time=start_ms + num + 1,
            run_name=f"{building}-{mode}-{battery}",
            tags=tags,
        ).info.run_id
        params = {
            "building_id": building,
            "optimization_mode": mode,
            "battery_enabled": str(battery != "none"),
            "battery.capacity_kwh": "0.0" if battery == "none" else "10.0",
            "building.name": building,
            "n_days": "1",
            "tracking.uri": "sqlite:///somewhere.db",
        }
        metrics = {"total_cost": 3.0 - (pct or 0) / 10}
        if pct is not None:
            metrics |= {"savings_pct": pct, "savings_eur": eur, "avg_savings_pct": pct}
        client.log_batch(
            run,
            metrics=[Metric(k, v, start_ms, 0) for k, v in metrics.items()],
            params=[Param(k, v) for k, v in params.items()],
            tags=[RunTag("error", ERROR)] if pct is None else [],
        )
        client.set_terminated(run, "FINISHED" if pct is not None else "FAILED")
    client.set_terminated(parent, "FINISHED")
    return parent


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict:
    from mlflow.tracking import MlflowClient

    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment(
        "Pipeline_A_Comparison", artifact_location=(root / "artifacts").as_uri()
    )
    client.create_experiment("Pipeline_B_Learning", artifact_location=(root / "b").as_uri())
    now = int(time.time() * 1000)
    sweep_dir = root / "multirun" / "new"
    sweep_dir.mkdir(parents=True)
    old = _log_sweep(client, exp, "sweep-old", OLD_JOBS, now - 3_600_000, root / "gone")
    new = _log_sweep(client, exp, "sweep-new", NEW_JOBS, now, sweep_dir)
    # A sweep over both pipelines: one parent per experiment, jobs split between them.
    mixed_dir = root / "multirun" / "mixed"
    mixed = [
        _log_sweep(
            client,
            client.create_experiment(name, artifact_location=(root / name).as_uri()),
            "sweep-mixed",
            jobs,
            start,
            mixed_dir,
        )
        for name, jobs, start in (
            ("Mixed_A", OLD_JOBS, now - 7_200_000),
            ("Mixed_B", NEW_JOBS[:2], now - 7_100_000),
        )
    ]
    return {
        "uri": uri,
        "root": root,
        "old": old,
        "new": new,
        "mixed": mixed,
        "sweep_dir": sweep_dir,
    }


def compare(store: dict, capsys, *args: str) -> tuple[int, str, str]:
    code = main(["--tracking-uri", store["uri"], *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_latest_sweep_best_worst_pivot_failed_and_files(store, capsys):
    code, out, err = compare(store, capsys)
    assert code == 0, err
    assert "Sweep sweep-new" in out
    assert "Jobs: 8 (1 failed, 7 finished)" in out
    assert "Varied besides building and mode: battery" in out
    best = next(line for line in out.splitlines() if line.startswith("Best "))
    worst = next(line for line in out.splitlines() if line.startswith("Worst "))
    assert "15.00 %" in best and "res1-centralized-default" in best and "job 4" in best
    assert "-1.00 %" in worst and "res2-decentralized-none" in worst and "job 3" in worst
    assert "res2-decentralized-default (job 7, building=res2, mode=decentralized" in out
    assert ERROR in out
    # pivot rows: building x battery, columns: modes; the cell whose job failed says so
    assert "res1 | battery=default        15.00           7.00" in out
    assert "res2 | battery=default         9.00         failed" in out
    assert "failed: no job of the cell finished" in out

    folder = store["sweep_dir"] / "compare"  # default: beside the sweep's job dirs
    csv = pd.read_csv(folder / "runs.csv")
    assert len(csv) == len(NEW_JOBS)
    assert list(csv["job"]) == list(range(len(NEW_JOBS)))
    for col in (
        "run_id",
        "status",
        "error",
        "building",
        "mode",
        "metrics.savings_pct",
        "metrics.savings_eur",
        "params.building_id",
        "params.battery.capacity_kwh",
        "tags.mlflow.parentRunId",
    ):
        assert col in csv.columns, col
    assert set(csv["tags.mlflow.parentRunId"]) == {store["new"]}
    assert csv.loc[csv["status"] == "FAILED", "error"].tolist() == [ERROR]
    assert (folder / "comparison.png").stat().st_size > 10_000
    report = (folder / "report.md").read_text()
    assert "![comparison](comparison.png)" in report
    assert "| res1 \\| battery=default | 15.00 | 7.00 |" in report
    assert ERROR in report


@pytest.mark.parametrize("how", ["name", "id", "prefix"])
def test_select_sweep_by_name_id_or_prefix(store, capsys, tmp_path, how):
    wanted = {"name": "sweep-old", "id": store["old"], "prefix": store["old"][:8]}[how]
    code, out, err = compare(store, capsys, "--sweep", wanted, "--out", str(tmp_path))
    assert code == 0, err
    assert f"Sweep sweep-old ({store['old']})" in out
    assert "Best  savings_pct: 4.00 %  res3-centralized-default" in out
    assert len(pd.read_csv(tmp_path / "runs.csv")) == len(OLD_JOBS)


def test_filter_and_all_sweeps(store, capsys, tmp_path):
    code, out, err = compare(store, capsys, "--filter", "params.building_id = 'res2'", "--no-files")
    assert code == 0, err
    assert "Jobs: 4 (1 failed, 3 finished)" in out
    assert "Best  savings_pct: 9.00 %  res2-centralized-default" in out

    code, out, err = compare(store, capsys, "--sweep", "all", "--out", str(tmp_path))
    assert code == 0, err
    assert len(pd.read_csv(tmp_path / "runs.csv")) == 2 * len(OLD_JOBS) + len(NEW_JOBS) + 2


def test_sweep_with_one_parent_per_experiment(store, capsys, tmp_path):
    """Both parents of a two-pipeline sweep are found by name; all their jobs are compared."""
    from mlflow.tracking import MlflowClient

    code, out, err = compare(
        store, capsys, "--sweep", "sweep-mixed", "--out", str(tmp_path), "--log-to-parent"
    )
    assert code == 0, err
    assert "in Mixed_A, Mixed_B" in out
    assert "Jobs: 4 (4 finished)" in out
    assert "Best  savings_pct: 12.00 %  res1-centralized-none" in out
    assert "Worst savings_pct: 2.00 %  res3-decentralized-default" in out
    client = MlflowClient(store["uri"])
    for parent in store["mixed"]:
        assert {f.path for f in client.list_artifacts(parent, "compare")} == {
            "compare/runs.csv",
            "compare/comparison.png",
            "compare/report.md",
            "compare/sweep_report.html",
        }


def test_metric_where_lower_is_better(store, capsys):
    code, out, err = compare(store, capsys, "--metric", "total_cost", "--no-files")
    assert code == 0, err
    assert "Best  total_cost: 1.50 EUR  res1-centralized-default" in out
    assert "Worst total_cost: 3.10 EUR  res2-decentralized-none" in out
    assert "(best = lowest total_cost" in out


def test_log_to_parent(store, capsys, tmp_path):
    from mlflow.tracking import MlflowClient

    code, out, err = compare(store, capsys, "--out", str(tmp_path), "--log-to-parent")
    assert code == 0, err
    logged = {f.path for f in MlflowClient(store["uri"]).list_artifacts(store["new"], "compare")}
    assert logged == {
        "compare/runs.csv",
        "compare/comparison.png",
        "compare/report.md",
        "compare/sweep_report.html",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--experiment", "Nope"], "Unknown experiment 'Nope'; existing experiments: "),
        (["--sweep", "feedbeef"], "Unknown sweep 'feedbeef'"),
        (["--metric", "savings_percent"], "Unknown metric 'savings_percent'"),
        (["--experiment", "Pipeline_B_Learning"], "No runs yet: no sweep"),
        (["--filter", "params.building_id == "], "Invalid --filter"),
        (["--filter", "params.building_id = 'res9'"], "No job of sweep sweep-new ("),
        (
            ["--filter", "params.building = 'res1'"],
            "params.building is not logged by any job of sweep sweep-new",
        ),
    ],
)
def test_bad_input_messages(store, capsys, args, message):
    code, out, err = compare(store, capsys, "--no-files", *args)
    assert code == 2
    assert message in err
    if "experiment" in message:
        assert "Pipeline_A_Comparison" in err and "Pipeline_B_Learning" in err
    if "Unknown sweep" in message:  # lists the sweeps that exist
        assert store["new"] in err and "sweep-old" in err
    if "params.building is" in message:  # names the params that do exist
        assert "did you mean params.building_id, params.building.name" in err
    if "Unknown metric" in message:
        assert "Metrics that exist: avg_savings_pct, savings_eur, savings_pct, total_cost" in err


def test_no_store_yet(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main([]) == 2
    err = capsys.readouterr().err
    assert f"No runs yet: no MLflow store at {tmp_path / 'mlflow_runs' / 'mlflow.db'}" in err
    assert not (tmp_path / "mlflow_runs").exists()  # nothing created by looking


def _frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows).assign(run_id=lambda d: [f"r{i}" for i in range(len(d))])


def test_varied_dimensions_without_override_tags():
    """Params determined by building (building.pv_kwp) or by another dim are not dimensions."""
    rows = []
    for b, pv in (("res1", "5.0"), ("res2", "0.0")):
        for bat in ("True", "False"):
            rows.append(
                {
                    "status": "FINISHED",
                    "tags.building": b,
                    "tags.mode": "centralized",
                    "params.building.pv_kwp": pv,
                    "params.battery_enabled": bat,
                    "params.battery.capacity_kwh": "10.0" if bat == "True" else "0.0",
                    "params.tracking.uri": f"sqlite:///{b}{bat}.db",
                    "metrics.savings_pct": 1.0,
                }
            )
    c = compare_runs(_frame(rows))
    assert c.dims == ["params.battery_enabled"]
    assert list(c.pivots["savings_pct"].index) == [
        "res1 | battery_enabled=False",
        "res1 | battery_enabled=True",
        "res2 | battery_enabled=False",
        "res2 | battery_enabled=True",
    ]


def test_heatmap_for_many_rows(tmp_path):
    rows = [f"res{i} | battery=b{j}" for i in range(5) for j in range(3)]
    table = pd.DataFrame(
        {"centralized": range(15), "decentralized": [float("nan")] + list(range(14))},
        index=rows,
        dtype=float,
    )
    path = plot_comparison({"savings_pct": table}, "15 rows", tmp_path / "p.png")
    assert path.stat().st_size > 10_000
