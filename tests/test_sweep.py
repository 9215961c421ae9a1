"""The sweep frame end to end: joblib multirun, basic launcher, study presets, packaging."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import yaml
from conftest import study_params

from ems_sweep.cli.outcome import EXIT_JOBS_FAILED

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _job_dirs(sweep_dir: Path) -> list[Path]:
    return sorted(p for p in sweep_dir.iterdir() if p.is_dir() and (p / ".hydra").is_dir())


def _sweep(
    cli, tmp_path: Path, *overrides: str, exit_code: int = 0
) -> tuple[subprocess.CompletedProcess, Path]:
    """A tracking-free multirun into tmp_path/sweep; asserts its exit code (0: all jobs ok)."""
    sweep_dir = tmp_path / "sweep"
    proc = cli(["tracking=none", *overrides, f"hydra.sweep.dir={sweep_dir}", "-m"], tmp_path)
    assert proc.returncode == exit_code, proc.stderr[-3000:]
    return proc, sweep_dir


def test_joblib_multirun_runs_every_combination_in_its_own_named_dir(cli, tmp_path):
    proc, sweep_dir = _sweep(
        cli,
        tmp_path,
        "building=res1,res2",
        "mode=centralized,centralized_phases",
        "hydra.launcher.n_jobs=2",
    )
    jobs = _job_dirs(sweep_dir)
    assert len(jobs) == 4
    names = {p.name.split("_", 1)[1] for p in jobs}
    assert names == {
        f"building={b},mode={m}"
        for b in ("res1", "res2")
        for m in ("centralized", "centralized_phases")
    }
    for job in jobs:
        assert (job / ".hydra" / "config.yaml").exists()
        overrides = yaml.safe_load((job / ".hydra" / "overrides.yaml").read_text())
        assert any(o.startswith("building=") for o in overrides)
        assert (job / "summary.json").exists()
    # one table at the end: a row per job with building, mode and status
    table = proc.stdout[proc.stdout.index("Sweep ") :]
    for building in ("res1", "res2"):
        assert building in table
    assert table.count(" ok ") == 4, table
    assert "Joblib.Parallel(n_jobs=2" in proc.stderr + proc.stdout


def test_basic_launcher_works_too(cli, tmp_path):
    proc, sweep_dir = _sweep(
        cli, tmp_path, "mode=centralized,decentralized", "hydra/launcher=basic"
    )
    assert len(_job_dirs(sweep_dir)) == 2
    assert "Joblib.Parallel" not in proc.stderr + proc.stdout


def test_a_failing_job_does_not_take_the_sweep_down(cli, tmp_path):
    proc, _ = _sweep(
        cli,
        tmp_path,
        "battery.soc_initial=0.5,0.99",
        "hydra.launcher.n_jobs=2",
        exit_code=EXIT_JOBS_FAILED,
    )
    table = proc.stdout[proc.stdout.index("Sweep ") :]
    assert " ok " in table and "failed" in table and "battery.soc_initial=0.99" in table


def test_study_presets_set_the_sweep_params():
    params = study_params("battery_value")
    assert params["battery"] == "none,default,large"
    assert len(params["building"].split(",")) == 7


def test_plain_install_from_another_directory_finds_the_config_tree(tmp_path):
    wheel_dir, site = tmp_path / "wheel", tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(wheel_dir),
            str(PROJECT_ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(wheel_dir.glob("*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "ems_sweep/conf/config.yaml" in names
    assert "ems_sweep/conf/building/res1.yaml" in names
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    proc = subprocess.run(
        [sys.executable, "-m", "ems_sweep", "building=res2", "--cfg", "job", "--resolve"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert "name: res2" in proc.stdout
    where = subprocess.run(
        [sys.executable, "-c", "import ems_sweep; print(ems_sweep.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert str(site) in where.stdout
