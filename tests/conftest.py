"""Shared test helpers: the real CoSSMic files (skip when absent) and a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ems_sweep.cli.outcome import EXIT_JOBS_FAILED

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# ../shared/data/cossmic beside the checkout; EMS_SWEEP_COSSMIC_DIR points elsewhere (work trees)
COSSMIC_DIR = Path(
    os.environ.get("EMS_SWEEP_COSSMIC_DIR", PROJECT_ROOT.parent / "shared" / "data" / "cossmic")
)


def study_params(experiment: str) -> dict[str, str]:
    """hydra.sweeper.params of a named study (`+experiment=<name>`), as the CLI composes it."""
    from hydra import compose, initialize_config_module

    from ems_sweep.config import register_configs

    register_configs()
    with initialize_config_module("ems_sweep.conf", version_base="1.3"):
        cfg = compose("config", overrides=[f"+experiment={experiment}"], return_hydra_config=True)
    return dict(cfg.hydra.sweeper.params)


def compose_config(*overrides: str, validated: bool = True):
    """The job config for `overrides` as the CLI composes it, checked as the job checks it
    (validated=False keeps a value the test means to be rejected later), as the typed objects
    the job's stages take (config.typed, as run_job converts it)."""
    from hydra import compose, initialize_config_module

    from ems_sweep.config import register_configs, typed, validate

    register_configs()
    with initialize_config_module("ems_sweep.conf", version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
    if validated:
        validate(cfg)
    return typed(cfg)


@pytest.fixture
def cossmic_dir() -> Path:
    if not COSSMIC_DIR.is_dir():
        pytest.skip(f"real CoSSMic data not found at {COSSMIC_DIR} (../shared/data/cossmic)")
    return COSSMIC_DIR


def run_cli(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run `python -m ems_sweep <args>` in cwd (outputs/ and mlflow_runs/ land there)."""
    full_env = {**os.environ, "HYDRA_FULL_ERROR": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ems_sweep", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def pipeline_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real sweep run once per session (2 buildings x 2 days, tracking off): the job dirs
    exactly as the pipelines leave them, for the tests of what tracking makes of them."""
    root = tmp_path_factory.mktemp("pipeline_sweep")
    args = ["building=res1,res2", "n_days=2", "tracking=none", "hydra.launcher.n_jobs=1"]
    res = run_cli([*args, "hydra.sweep.dir=sweep", "-m"], cwd=root)
    assert res.returncode == 0, res.stderr[-4000:]
    return root / "sweep"


@pytest.fixture(scope="session")
def failed_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real one-job sweep whose job fails (a value the config check rejects)."""
    root = tmp_path_factory.mktemp("failed_sweep")
    args = ["resolution_min=7", "tracking=none", "hydra.sweep.dir=sweep", "-m"]
    res = run_cli(args, cwd=root)
    assert res.returncode == EXIT_JOBS_FAILED, res.stderr[-4000:]
    return root / "sweep"


def copy_sweep(sweep_dir: Path, into: Path) -> Path:
    """A private copy of a session sweep dir, for a test that changes its files."""
    import shutil

    return Path(shutil.copytree(sweep_dir, into / sweep_dir.name, symlinks=True))


# A user's own config dir (README "Your own options"): a smaller battery (the other values come
# from BatteryConfig, as battery=default's do) and cheap nights (tariff=tou with a lower
# off-peak price; peak price and hours inherited).
SMALL_BATTERY = "capacity_kwh: 5.0\nmax_charge_kw: 2.5\n"
NIGHT_TARIFF = "defaults:\n  - tou\n  - _self_\n\noffpeak_price_eur_per_kwh: 0.18\n"


@pytest.fixture
def user_conf(tmp_path: Path) -> Path:
    """my_conf/battery/small.yaml and my_conf/tariff/night.yaml, for hydra.searchpath."""
    conf = tmp_path / "my_conf"
    (conf / "battery").mkdir(parents=True)
    (conf / "tariff").mkdir()
    (conf / "battery" / "small.yaml").write_text(SMALL_BATTERY)
    (conf / "tariff" / "night.yaml").write_text(NIGHT_TARIFF)
    return conf
