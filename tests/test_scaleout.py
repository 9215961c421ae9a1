"""Scale-out: launcher presets over the submitit and Ray plugins, tracking=server, and sweeps whose
jobs run in other processes (submitit) and as Ray tasks, logged as parent/child runs in MLflow."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from omegaconf import OmegaConf

from ems_sweep.config import register_configs
from ems_sweep.tracking.store import configure_http

SUBMITIT = "hydra_plugins.hydra_submitit_launcher.submitit_launcher"
RAY = "hydra_plugins.hydra_ray_launcher.ray_launcher.RayLauncher"


def _compose(overrides: list[str]):
    register_configs()
    with initialize_config_module(version_base="1.3", config_module="ems_sweep.conf"):
        return compose("config", overrides=overrides, return_hydra_config=True)


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory) -> str:
    """One SQLite store for this module's sweeps, created once (its migrations take seconds)."""
    from mlflow.tracking import MlflowClient

    db = tmp_path_factory.mktemp("mlflow") / "mlflow.db"
    uri = f"sqlite:///{db}"
    MlflowClient(tracking_uri=uri).search_experiments()
    return uri


def _read_sweep(uri: str, experiment: str) -> tuple[object, list[object]]:
    """The experiment's parent run and its children, from the store."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None, f"experiment {experiment} not in {uri}"
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1, [r.info.run_name for r in runs]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    return parents[0], children


def _check_sweep(uri: str, experiment: str, jobs_dir: Path, buildings: set[str]) -> None:
    """Parent FINISHED, one FINISHED child per building, each with the job's own summary.json."""
    from mlflow.tracking import MlflowClient

    parent, children = _read_sweep(uri, experiment)
    assert parent.info.status == "FINISHED"
    assert len(children) == len(buildings)
    assert {c.data.params["building_id"] for c in children} == buildings
    client = MlflowClient(tracking_uri=uri)
    for child in children:
        assert child.info.status == "FINISHED", child.data.tags.get("error")
        assert child.data.metrics["optimization_success"] == 1.0
        # The job's own summary.json, uploaded by the worker, equals the file in its job dir.
        num = child.data.tags["ems_sweep.job_num"]
        (job_dir,) = jobs_dir.glob(f"{num}_*")
        local = Path(client.download_artifacts(child.info.run_id, "summary.json"))
        assert json.loads(local.read_text()) == json.loads((job_dir / "summary.json").read_text())


# ---- presets (compose only) -----------------------------------------------------------------


def test_slurm_preset_extends_the_plugin_and_takes_site_overrides():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    cfg = _compose(
        [
            "hydra/launcher=slurm",
            "hydra.launcher.partition=cpu",
            "hydra.launcher.timeout_min=120",
            "solver.threads=2",
        ]
    )
    launcher = cfg.hydra.launcher
    assert launcher._target_ == f"{SUBMITIT}.SlurmLauncher"
    assert (launcher.partition, launcher.timeout_min, launcher.mem_gb) == ("cpu", 120, 4)
    assert launcher.cpus_per_task == 2  # follows the solver's threads
    assert launcher.submitit_folder.endswith("/.submitit/%j")  # the plugin's default


def test_slurm_preset_reaches_sbatch(cli, tmp_path):
    """The preset and site overrides end up as #SBATCH lines (a stand-in sbatch keeps the script
    and refuses the job, so nothing waits for a cluster)."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kept = tmp_path / "submitted.sh"
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(
        f'#!/bin/sh\ncp "$1" {kept}\necho "sbatch: error: no cluster here" >&2\nexit 1\n'
    )
    sbatch.chmod(0o755)
    srun = bin_dir / "srun"  # submitit checks that it exists; never called here
    srun.write_text("#!/bin/sh\nexit 1\n")
    srun.chmod(0o755)
    proc = cli(
        [
            "building=res1,res2",
            "tracking=none",
            "hydra/launcher=slurm",
            "hydra.launcher.partition=cpu",
            "hydra.launcher.timeout_min=120",
            "solver.threads=2",
            f"hydra.sweep.dir={tmp_path / 'sweep'}",
            "-m",
        ],
        tmp_path,
        env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
        timeout=120,
    )
    assert proc.returncode != 0 and "no cluster here" in proc.stderr, proc.stderr[-2000:]
    script = kept.read_text()
    for line in (
        "#SBATCH --partition=cpu",
        "#SBATCH --time=120",
        "#SBATCH --cpus-per-task=2",
        "#SBATCH --mem=4GB",
        "#SBATCH --array=0-1%2",  # both jobs at once (array_parallelism 64 >= 2)
    ):
        assert line in script, script


def test_plugin_launcher_names_are_not_shadowed():
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    expected = {
        "submitit_slurm": f"{SUBMITIT}.SlurmLauncher",
        "submitit_local": f"{SUBMITIT}.LocalLauncher",
        "local_processes": f"{SUBMITIT}.LocalLauncher",
        "ray": RAY,
        "ray_local": RAY,
    }
    for name, target in expected.items():
        assert _compose([f"hydra/launcher={name}"]).hydra.launcher._target_ == target, name


def test_ray_presets_bound_cpus_or_need_a_cluster_address(monkeypatch):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    local = _compose(["hydra/launcher=ray_local", "hydra.launcher.ray.init.num_cpus=2"])
    init = OmegaConf.to_container(local.hydra.launcher.ray.init, resolve=True)
    assert init["address"] == "local" and init["num_cpus"] == 2
    assert local.hydra.launcher.ray.remote.num_cpus == local.solver.threads
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(Exception, match="RAY_ADDRESS"):
        _ = _compose(["hydra/launcher=ray_cluster"]).hydra.launcher.ray.init.address
    cluster = _compose(["hydra/launcher=ray_cluster", "hydra.launcher.ray.init.address=auto"])
    assert cluster.hydra.launcher.ray.init.address == "auto"
    # Ray refuses object_store_memory when joining a cluster; the key must exist (as null) so
    # that the plugin's setdefault(75 MB) leaves it out.
    assert cluster.hydra.launcher.ray.init.object_store_memory is None
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    cluster = _compose(["hydra/launcher=ray_cluster"])
    assert cluster.hydra.launcher.ray.init.address == "ray://head:10001"


def test_tracking_server_preset_needs_a_uri(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = _compose(["tracking=server", "tracking.uri=http://mlflow.example:5000"])
    assert cfg.tracking.uri == "http://mlflow.example:5000"
    assert cfg.tracking.artifact_location is None  # the server's (served) artifact store
    with pytest.raises(Exception, match="MLFLOW_TRACKING_URI"):
        _ = _compose(["tracking=server"]).tracking.uri
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://from-env:5000")
    assert _compose(["tracking=server"]).tracking.uri == "http://from-env:5000"


def test_http_retry_settings_reach_mlflow(monkeypatch):
    from mlflow.environment_variables import (
        MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES,
        MLFLOW_HTTP_REQUEST_TIMEOUT,
    )

    for var in ("MAX_RETRIES", "TIMEOUT", "BACKOFF_FACTOR"):
        monkeypatch.delenv(f"MLFLOW_HTTP_REQUEST_{var}", raising=False)
    cfg = _compose(
        ["tracking=server", "tracking.uri=http://h:1", "tracking.http_request_max_retries=3"]
    )
    configure_http(OmegaConf.to_container(cfg.tracking, resolve=True))
    assert MLFLOW_HTTP_REQUEST_MAX_RETRIES.get() == 3
    assert MLFLOW_HTTP_REQUEST_TIMEOUT.get() == 60
    assert MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.get() == 2


# ---- sweeps whose jobs run elsewhere ---------------------------------------------------------


def test_submitit_local_sweep_logs_parent_and_children(cli, tmp_path, sqlite_store):
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    sweep_dir = tmp_path / "sweep"
    proc = cli(
        [
            "building=res1,res2",
            "n_days=1",
            "hydra/launcher=local_processes",
            f"tracking.uri={sqlite_store}",
            "tracking.experiment=scaleout_submitit",
            f"hydra.sweep.dir={sweep_dir}",
            "-m",
        ],
        tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    # Each job ran as its own submitit process (one folder per job, with its pickled result).
    assert len(list((sweep_dir / ".submitit").glob("*/*_result.pkl"))) == 2, proc.stderr[-2000:]
    _check_sweep(sqlite_store, "scaleout_submitit", sweep_dir, {"res1", "res2"})
    parent, _ = _read_sweep(sqlite_store, "scaleout_submitit")
    assert parent.data.metrics["n_jobs"] == 2  # the sweep table, from the shared sweep dir


def test_ray_sweep_on_two_cpus_logs_parent_and_children(cli, tmp_path, sqlite_store):
    """Ray tasks whose job dirs are not below the sweep dir (as on Ray nodes without a shared file
    system: no mlflow_sweep.json above them) still log as children of the sweep's parent run."""
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    sweep_dir = tmp_path / "sweep"
    node_dir = tmp_path / "node-local"
    proc = cli(
        [
            "building=res1,res2",
            "n_days=1",
            "hydra/launcher=ray_local",
            "hydra.launcher.ray.init.num_cpus=2",
            f"tracking.uri={sqlite_store}",
            "tracking.experiment=scaleout_ray",
            f"hydra.sweep.dir={sweep_dir}",
            f"hydra.sweep.subdir={node_dir}/${{hydra.job.num}}_${{building.name}}",
            "-m",
        ],
        tmp_path,
        env={"RAY_USAGE_STATS_ENABLED": "0", "RAY_DEDUP_LOGS": "0"},
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    assert "Ray Launcher is launching 2 jobs" in out
    assert "'num_cpus': 2" in out  # the local Ray instance was bounded to 2 CPUs
    assert "(_run_job pid=" in out  # jobs ran in Ray worker processes
    assert (sweep_dir / "mlflow_sweep.json").exists()
    assert not list(sweep_dir.glob("*/summary.json"))  # no job could read the sweep file
    assert "No parent run" not in out
    _check_sweep(sqlite_store, "scaleout_ray", node_dir, {"res1", "res2"})
