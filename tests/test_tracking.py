"""MLflow tracking end to end: real sweeps through the CLI, read back with MlflowClient."""

from __future__ import annotations

import csv
import datetime as dt
import json
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from unittest import mock

import pytest
from conftest import run_cli
from hydra.core.utils import JobStatus
from omegaconf import OmegaConf

from ems_sweep.names import DAILY_STEP_METRICS

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

EXP_A = "Pipeline_A_Comparison"


def runs_of(uri: str, experiment: str = EXP_A) -> list:
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"no experiment {experiment} in {uri}"
    return client.search_runs([exp.experiment_id], max_results=1000)


def split(runs: list) -> tuple[list, list]:
    parents = [r for r in runs if r.data.tags.get("ems_sweep.run_type") == "sweep"]
    children = [r for r in runs if r.data.tags.get("ems_sweep.run_type") == "job"]
    return parents, children


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def sweep4(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The README sweep (2 buildings x 2 modes, 1 day) logged to a tmp SQLite store."""
    root = tmp_path_factory.mktemp("sweep4")
    uri = f"sqlite:///{root / 'store' / 'mlflow.db'}"
    args = ["building=res1,res2", "mode=centralized,centralized_phases", "n_days=1"]
    res = run_cli([*args, f"tracking.uri={uri}", "-m"], cwd=root)
    assert res.returncode == 0, res.stderr[-4000:]
    return root, uri


def test_sweep_gives_parent_and_four_children(sweep4: tuple[Path, str]) -> None:
    root, uri = sweep4
    client = MlflowClient(uri)
    parents, children = split(runs_of(uri))
    assert len(parents) == 1 and len(children) == 4
    parent = parents[0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["ems_sweep.swept_keys"] == "building,mode"
    assert "building=res1,res2" in parent.data.tags["ems_sweep.overrides"]
    assert parent.data.metrics["n_jobs"] == 4
    names = {c.info.run_name for c in children}
    assert names == {
        "res1-centralized",
        "res1-centralized_phases",
        "res2-centralized",
        "res2-centralized_phases",
    }
    for child in children:
        tags, params, metrics = child.data.tags, child.data.params, child.data.metrics
        assert tags["mlflow.parentRunId"] == parent.info.run_id
        assert child.info.status == "FINISHED", tags.get("error")
        assert tags["ems_sweep.sweep_dir"] == parent.data.tags["ems_sweep.sweep_dir"]
        assert Path(tags["ems_sweep.job_dir"]).is_dir()
        assert tags["building"] == params["building_id"] == params["building.name"]
        assert tags["mode"] == params["optimization_mode"] == params["mode.name"]
        assert tags["pipeline"] == "comparison" and tags["solver_status"]
        assert tags["git_commit"]
        assert params["n_days"] == "1" and params["battery.capacity_kwh"] == "10.0"
        for key in ("total_cost", "savings_eur", "savings_pct", "avg_savings_pct"):
            assert key in metrics, key
        assert metrics["constraint_violations"] == 0 and metrics["optimization_success"] == 1
        assert metrics["savings_pct"] == metrics["savings_pct"]  # a number, not NaN
        # per-day step metrics: step = day index, timestamp = the day
        history = client.get_metric_history(child.info.run_id, "daily/savings_pct")
        day = int(dt.datetime(2016, 6, 1, tzinfo=dt.UTC).timestamp() * 1000)
        assert [(m.step, m.timestamp) for m in history] == [(0, day)]
        # Only what runs are filtered and charted on: each key is a row every run listing loads.
        daily = {k.removeprefix("daily/") for k in metrics if k.startswith("daily/")}
        assert daily == set(DAILY_STEP_METRICS)
        assert "building.import_column" not in params and "solver.msg" not in params
        assert not [k for k in params if k.startswith("building.generator.")]
        assert params["tracking.uri"] == uri  # set on the command line: logged anyway
        files = {a.path for a in client.list_artifacts(child.info.run_id)}
        assert {"daily.csv", "summary.json", "config.yaml", ".hydra"} <= files
        hydra_files = {a.path for a in client.list_artifacts(child.info.run_id, ".hydra")}
        assert ".hydra/overrides.yaml" in hydra_files
    # sweep table on the parent, best/worst tags pointing at real children
    local = client.download_artifacts(parent.info.run_id, "sweep_table.csv", str(root))
    rows = list(csv.DictReader(open(local)))
    assert [r["job"] for r in rows] == ["0", "1", "2", "3"]
    assert {"building", "mode", "avg_savings_pct", "run_id"} <= set(rows[0])
    ids = {c.info.run_id for c in children}
    assert parent.data.tags["ems_sweep.best_run_id"] in ids
    assert parent.data.tags["ems_sweep.worst_run_id"] in ids


def test_users_query_best_and_worst(sweep4: tuple[Path, str]) -> None:
    root, uri = sweep4
    mlflow.set_tracking_uri(uri)
    df = mlflow.search_runs(experiment_names=[EXP_A])
    jobs = df[df["tags.ems_sweep.run_type"] == "job"]
    best = jobs.loc[jobs["metrics.savings_pct"].idxmax()]
    worst = jobs.loc[jobs["metrics.savings_pct"].idxmin()]
    # the figures users query are the job's own summary.json figures, unchanged
    for run in (best, worst):
        summary = json.loads((Path(run["tags.ems_sweep.job_dir"]) / "summary.json").read_text())
        for key in ("savings_pct", "avg_savings_pct", "total_cost"):
            assert run[f"metrics.{key}"] == summary["metrics"][key], key
    assert best["tags.mlflow.runName"] == (
        f"{best['params.building_id']}-{best['params.optimization_mode']}"
    )
    assert best["params.building_id"] in {"res1", "res2"}
    assert best["params.optimization_mode"] in {"centralized", "centralized_phases"}
    parent = df[df["tags.ems_sweep.run_type"] == "sweep"].iloc[0]
    best_pct = float(parent["tags.ems_sweep.best_savings_pct"])  # ties: any of them
    assert best_pct == pytest.approx(best["metrics.savings_pct"], abs=1e-3)
    worst_pct = float(parent["tags.ems_sweep.worst_savings_pct"])
    assert worst_pct == pytest.approx(worst["metrics.savings_pct"], abs=1e-3)


def test_each_job_marker_names_its_run(sweep4: tuple[Path, str]) -> None:
    """mlflow_run.json says which run holds the job (sync relies on it) and when it ran."""
    root, uri = sweep4
    client = MlflowClient(uri)
    markers = sorted(root.glob("outputs/multirun/*/*/*/mlflow_run.json"))
    assert len(markers) == 4
    for path in markers:
        marker = json.loads(path.read_text())
        assert marker["status"] == "logged" and marker["error"] is None
        run = client.get_run(marker["run_id"])
        assert run.data.tags["ems_sweep.job_dir"] == str(path.parent)
        assert run.info.run_name == marker["run_name"]
        assert run.info.start_time == marker["start_time_ms"]
        assert run.info.end_time == marker["end_time_ms"] >= marker["start_time_ms"]
        summary = json.loads((path.parent / "summary.json").read_text())
        print(
            f"{path.parent.name}: job {(run.info.end_time - run.info.start_time) / 1000:.2f}s "
            f"(pipeline {summary['metrics']['job_pipeline_seconds']:.2f}s), "
            f"logging {marker['tracking_seconds']:.2f}s"
        )


RAISING_MAIN = """
import sys
import ems_sweep.pipelines.runner as runner

original = runner.run_job

def run_job(cfg, job_dir):
    if cfg.building.name == "res2":
        raise RuntimeError("boom from the test")
    return original(cfg, job_dir)

runner.run_job = run_job
from ems_sweep.__main__ import main
main()
"""


@pytest.mark.slow
def test_raising_job_is_failed_others_finished(tmp_path: Path) -> None:
    """A task that raises: FAILED child with the error, the other job FINISHED, parent ended."""
    script = tmp_path / "raising_main.py"
    script.write_text(RAISING_MAIN)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    args = ["building=res1,res2", "n_days=1", f"tracking.uri={uri}", "hydra/launcher=basic", "-m"]
    res = subprocess.run(
        [sys.executable, str(script), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "HYDRA_FULL_ERROR": "1"},
    )
    assert res.returncode != 0 and "boom from the test" in res.stderr
    parents, children = split(runs_of(uri))
    assert len(parents) == 1 and len(children) == 2
    assert parents[0].info.status == "FAILED"  # on_multirun_end never ran: the exit handler did
    by_building = {c.data.tags["building"]: c for c in children}
    assert by_building["res1"].info.status == "FINISHED"
    failed = by_building["res2"]
    assert failed.info.status == "FAILED"
    assert failed.data.tags["error"] == "RuntimeError: boom from the test"
    assert failed.data.tags["error_type"] == "RuntimeError"
    client = MlflowClient(uri)
    assert "error.txt" in {a.path for a in client.list_artifacts(failed.info.run_id)}
    text = Path(
        client.download_artifacts(failed.info.run_id, "error.txt", str(tmp_path))
    ).read_text()
    assert "Traceback" in text and "boom from the test" in text
    assert not [r for r in runs_of(uri) if r.info.status == "RUNNING"]


@pytest.mark.slow
def test_unreachable_store_then_sync_once(tmp_path: Path) -> None:
    """Jobs finish without a store; `sync` replays them into one, twice gives no duplicates."""
    dead = f"http://127.0.0.1:{free_port()}"
    args = [
        "building=res1,res2",
        "n_days=1",
        f"tracking.uri={dead}",
        "tracking.http_request_max_retries=0",
        "tracking.http_request_timeout_s=2",
        "hydra/launcher=basic",
        "-m",
    ]
    res = run_cli(args, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    out = res.stdout + res.stderr
    assert "unreachable" in out and "python -m ems_sweep.tracking sync" in out
    sweep_dir = next(tmp_path.glob("outputs/multirun/*/*"))
    jobs = sorted(p for p in sweep_dir.iterdir() if p.is_dir())
    assert len(jobs) == 2
    for job in jobs:
        assert json.loads((job / "summary.json").read_text())["status"] == "ok"
        assert json.loads((job / "mlflow_run.json").read_text())["status"] == "pending"

    uri = f"sqlite:///{tmp_path / 'later.db'}"
    cmd = [sys.executable, "-m", "ems_sweep.tracking", "sync", str(sweep_dir), "--uri", uri]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "2 job(s) logged" in first.stdout and "1 parent run(s) created" in first.stdout
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert again.returncode == 0 and "0 job(s) logged, 2 already" in again.stdout

    parents, children = split(runs_of(uri))
    assert len(parents) == 1 and len(children) == 2
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    assert {c.info.status for c in children} == {"FINISHED"}
    assert {c.info.run_name for c in children} == {"res1", "res2"} or {
        c.data.tags["building"] for c in children
    } == {"res1", "res2"}
    assert all(c.data.params["building_id"] in {"res1", "res2"} for c in children)
    assert parents[0].data.tags.get("ems_sweep.best_run_id") in {c.info.run_id for c in children}


def _log_job_in_worker(job_dir: str, barrier, errors) -> None:
    """One 'worker': the callback's on_job_end on its own job dir, all released at once."""
    from ems_sweep.tracking.callback import MlflowTrackingCallback

    hydra = OmegaConf.load(Path(job_dir) / ".hydra" / "hydra.yaml")
    config = OmegaConf.merge(OmegaConf.load(Path(job_dir) / ".hydra" / "config.yaml"), hydra)
    config.hydra.runtime.output_dir = job_dir
    callback = MlflowTrackingCallback()
    callback.on_job_start(config=config)
    barrier.wait(timeout=120)
    try:
        callback.on_job_end(config=config, job_return=_Completed())
        marker = json.loads((Path(job_dir) / "mlflow_run.json").read_text())
        if marker["status"] != "logged":
            errors.put(f"{job_dir}: {marker}")
    except Exception as exc:  # reported to the test
        errors.put(f"{job_dir}: {exc!r}")


class _Completed:
    status = JobStatus.COMPLETED
    _return_value = None


def test_eight_jobs_log_at_once_to_one_sqlite(sweep4: tuple[Path, str], tmp_path: Path) -> None:
    """8 processes log 8 jobs at the same moment into one SQLite store: 8 runs, no errors."""
    src_root, _ = sweep4
    src_sweep = next(src_root.glob("outputs/multirun/*/*"))
    sweep_dir = tmp_path / "outputs" / "multirun" / "s8"
    sweep_dir.mkdir(parents=True)
    shutil.copy(src_sweep / "multirun.yaml", sweep_dir / "multirun.yaml")
    sources = sorted(p for p in src_sweep.iterdir() if p.is_dir())
    uri = f"sqlite:///{tmp_path / 'par.db'}"
    job_dirs = []
    for i in range(8):
        dst = sweep_dir / f"{i}_copy"
        shutil.copytree(sources[i % len(sources)], dst)
        (dst / "mlflow_run.json").unlink()
        hydra = OmegaConf.load(dst / ".hydra" / "hydra.yaml")
        hydra.hydra.job.num = i
        hydra.hydra.runtime.output_dir = str(dst)
        hydra.hydra.runtime.cwd = str(tmp_path)
        OmegaConf.save(hydra, dst / ".hydra" / "hydra.yaml")
        cfg = OmegaConf.load(dst / ".hydra" / "config.yaml")
        cfg.tracking.uri = uri
        OmegaConf.save(cfg, dst / ".hydra" / "config.yaml")
        job_dirs.append(str(dst))

    ctx = multiprocessing.get_context("fork")  # workers fork before any store is opened
    barrier, errors = ctx.Barrier(9), ctx.Queue()
    procs = [ctx.Process(target=_log_job_in_worker, args=(d, barrier, errors)) for d in job_dirs]
    for p in procs:
        p.start()
    # The main process sets up store, experiment and parent before releasing the workers.
    from ems_sweep.tracking.callback import MlflowTrackingCallback

    main_cfg = OmegaConf.merge(
        OmegaConf.load(Path(job_dirs[0]) / ".hydra" / "config.yaml"),
        OmegaConf.load(Path(job_dirs[0]) / ".hydra" / "hydra.yaml"),
    )
    main_cfg.hydra.sweep.dir = str(sweep_dir)
    main_cfg.hydra.overrides.task = ["building=res1,res2", "mode=centralized,centralized_phases"]
    callback = MlflowTrackingCallback()

    with mock.patch("signal.signal"), mock.patch("atexit.register"):
        callback.on_multirun_start(config=main_cfg)
    started = time.perf_counter()
    barrier.wait(timeout=120)
    for p in procs:
        p.join(timeout=180)
    elapsed = time.perf_counter() - started
    problems = []
    while not errors.empty():
        problems.append(errors.get())
    assert not problems, problems
    assert all(p.exitcode == 0 for p in procs)
    callback.on_multirun_end(config=main_cfg)
    parents, children = split(runs_of(uri))
    assert len(parents) == 1 and len(children) == 8, f"{len(children)} children in {elapsed:.1f}s"
    assert len({c.data.tags["ems_sweep.job_dir"] for c in children}) == 8
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parents[0].info.run_id}
    assert {c.info.status for c in children} == {"FINISHED"}
    assert parents[0].info.status == "FINISHED" and parents[0].data.metrics["n_jobs"] == 8


@pytest.mark.slow
def test_real_mlflow_server(tmp_path: Path) -> None:
    """A single run (no -m) is one top-level run on a real `mlflow server` on 127.0.0.1."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'server.db'}",
            "--artifacts-destination",
            str(tmp_path / "server_artifacts"),
        ],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "server.log").open("w"),
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        import requests

        deadline = time.time() + 120
        while True:
            try:
                if requests.get(f"{uri}/health", timeout=2).ok:
                    break
            except requests.RequestException:
                pass
            assert server.poll() is None, (tmp_path / "server.log").read_text()[-3000:]
            assert time.time() < deadline, "mlflow server did not start"
            time.sleep(0.5)
        res = run_cli(["building=res2", "n_days=1", f"tracking.uri={uri}"], cwd=tmp_path)
        assert res.returncode == 0, res.stderr[-3000:]
        runs = runs_of(uri)
        assert len(runs) == 1
        run = runs[0]
        assert run.info.status == "FINISHED" and run.info.run_name == "res2-centralized"
        assert "mlflow.parentRunId" not in run.data.tags
        assert run.data.tags["ems_sweep.run_type"] == "job"
        assert run.data.params["building_id"] == "res2" and "total_cost" in run.data.metrics
        files = {a.path for a in MlflowClient(uri).list_artifacts(run.info.run_id)}
        assert {"daily.csv", "summary.json", "config.yaml"} <= files
        assert list((tmp_path / "server_artifacts").rglob("daily.csv"))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
