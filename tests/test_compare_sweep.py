"""compare end to end: the README sweep (2 buildings x 2 modes, 1 day) into a temp store, then
the installed `ems-sweep-compare` command; expectations are read back with MlflowClient."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> dict:
    from conftest import run_cli

    root = tmp_path_factory.mktemp("compare_sweep")
    uri = f"sqlite:///{root / 'store' / 'mlflow.db'}"
    args = ["building=res1,res2", "mode=centralized,centralized_phases", "n_days=1"]
    res = run_cli([*args, f"tracking.uri={uri}", "-m"], cwd=root)
    assert res.returncode == 0, res.stderr[-4000:]
    return {"root": root, "uri": uri}


def _compare(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "ems-sweep-compare"
    cmd = [str(script)] if script.exists() else [sys.executable, "-m", "ems_sweep.analysis.compare"]
    return subprocess.run([*cmd, *args], cwd=root, capture_output=True, text=True, timeout=300)


def _jobs(uri: str) -> tuple[object, list]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("Pipeline_A_Comparison")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parent = next(r for r in runs if r.data.tags.get("ems_sweep.run_type") == "sweep")
    return parent, [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]


def test_compare_real_sweep(sweep):
    parent, jobs = _jobs(sweep["uri"])
    assert len(jobs) == 4
    res = _compare(sweep["root"], "--tracking-uri", sweep["uri"])
    assert res.returncode == 0, res.stderr
    out = res.stdout

    savings = {
        j.info.run_name: j.data.metrics["savings_pct"] for j in jobs if j.info.status == "FINISHED"
    }
    lines = out.splitlines()
    for prefix, value in (
        ("Best  savings_pct: ", max(savings.values())),
        ("Worst savings_pct: ", min(savings.values())),
    ):
        line = next(line for line in lines if line.startswith(prefix))
        shown, rest = line.removeprefix(prefix).split(" %  ", 1)
        name = rest.split(" (job", 1)[0]
        assert shown == f"{value:.2f}"
        assert savings[name] == value  # that job (or one tied with it) holds the extreme
    assert f"Sweep {parent.info.run_name} ({parent.info.run_id})" in out
    assert "centralized  centralized_phases" in out  # pivot columns: the swept modes

    sweep_dir = Path(parent.data.tags["ems_sweep.sweep_dir"])
    csv = pd.read_csv(sweep_dir / "compare" / "runs.csv")
    assert len(csv) == 4
    assert set(csv["run_id"]) == {j.info.run_id for j in jobs}
    assert sorted(csv["job"]) == [0, 1, 2, 3]
    assert set(csv["building"]) == {"res1", "res2"}
    assert set(csv["mode"]) == {"centralized", "centralized_phases"}
    for col in (
        "status",
        "metrics.savings_pct",
        "metrics.savings_eur",
        "metrics.total_cost",
        "params.building_id",
        "params.optimization_mode",
        "params.battery.capacity_kwh",
        "tags.mlflow.parentRunId",
        "tags.solver_status",
    ):
        assert col in csv.columns, col
    by_id = csv.set_index("run_id")
    for job in jobs:
        assert by_id.loc[job.info.run_id, "metrics.savings_pct"] == pytest.approx(
            job.data.metrics["savings_pct"]
        )
    assert (sweep_dir / "compare" / "comparison.png").stat().st_size > 10_000
    assert (
        "## savings_pct [%] by building and mode"
        in (sweep_dir / "compare" / "report.md").read_text()
    )


def test_compare_real_sweep_bad_inputs(sweep, capsys):
    from ems_sweep.analysis.compare import main

    uri = ["--tracking-uri", sweep["uri"], "--no-files"]
    assert main([*uri, "--metric", "nope"]) == 2
    err = capsys.readouterr().err
    assert "Unknown metric 'nope'" in err and "savings_pct" in err and "total_cost" in err
    assert main([*uri, "--sweep", "0123456789abcdef"]) == 2
    err = capsys.readouterr().err
    assert "Unknown sweep '0123456789abcdef'" in err and "sweep-" in err
    assert main([*uri, "--experiment", "Pipeline_C"]) == 2
    err = capsys.readouterr().err
    assert "Unknown experiment 'Pipeline_C'; existing experiments: " in err
    assert "Pipeline_A_Comparison" in err
