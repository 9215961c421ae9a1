"""ray_cluster (issue 15, item 13): jobs composed in another cwd write under the sweep's dir.

Hydra's Ray launcher composes each job's config with `load_sweep_config` and the job runs in the
Ray node's working directory, where Hydra makes `hydra.sweep.dir` absolute. This replays both
steps in-process, the second from another directory.
"""

from __future__ import annotations

import os

from hydra import initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from omegaconf import OmegaConf

from ems_sweep.cli.sweep_dir import AbsoluteSweepDirCallback
from ems_sweep.config import register_configs


def _job_dir(tmp_path, monkeypatch, pin: bool) -> tuple[str, str]:
    register_configs()
    monkeypatch.chdir(tmp_path)
    with initialize_config_module(config_module="ems_sweep.conf", version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration(
            "config", ["building=res1,res2", "hydra.sweep.dir='out/sweep,x'"], RunMode.MULTIRUN
        )
        if pin:
            AbsoluteSweepDirCallback().on_multirun_start(config=master)
        launching = str(tmp_path / "out" / "sweep,x")
        elsewhere = tmp_path / "ray_node_cwd"
        elsewhere.mkdir()
        monkeypatch.chdir(elsewhere)  # the Ray worker's working directory
        job = loader.load_sweep_config(master, ["building=res1"])
        return launching, os.path.abspath(str(OmegaConf.select(job, "hydra.sweep.dir")))


def test_item13_jobs_write_where_the_sweep_says(tmp_path, monkeypatch):
    launching, job_sweep_dir = _job_dir(tmp_path, monkeypatch, pin=True)
    assert job_sweep_dir == launching


def test_item13_without_the_pin_jobs_land_in_the_workers_cwd(tmp_path, monkeypatch):
    launching, job_sweep_dir = _job_dir(tmp_path, monkeypatch, pin=False)
    assert job_sweep_dir != launching and "ray_node_cwd" in job_sweep_dir
