"""The workers' cache of config files (ems_sweep.cli.compose_cache) changes no job's config.

A sweep's jobs are composed as a worker composes them (`load_sweep_config` from the sweep's
config), once by Hydra's own loader and once through the cache, in an order where every kept
file is handed out again after other jobs used it: group and value overrides, a named study
(`+experiment`, a `_global_` config merged into the job's root), and options of a user's config
dir (`hydra.searchpath`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import SMALL_BATTERY
from hydra import initialize_config_module
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import ConfigCompositionException
from hydra.types import HydraContext, RunMode
from omegaconf import Container, DictConfig, OmegaConf

from ems_sweep.cli import compose_cache
from ems_sweep.config import register_configs

JOBS = [
    ["building=res1", "mode=centralized", "battery=none", "start_date=2016-06-01"],
    ["building=res2", "mode=decentralized", "battery=default", "battery.capacity_kwh=7.5"],
    ["building=res1", "mode=decentralized", "tariff=tou", "tariff.peak_hours=[8,9]"],
    ["building=res4", "ev=default", "resolution_min=15", "n_days=2"],
    ["+experiment=battery_value", "building=res2", "battery=large"],
    ["building=res1", "mode=centralized", "battery=none", "start_date=2016-06-01"],
]
USER_JOBS = [
    ["battery=small", "tariff=night", "building=res5"],
    ["battery=default", "tariff=tou", "building=res1"],
    ["battery=small", "tariff=night", "tariff.offpeak_price_eur_per_kwh=0.2"],
]


@pytest.fixture
def context() -> Iterator[HydraContext]:
    """The Hydra context of `python -m ems_sweep` (its config loader; no callbacks)."""
    register_configs()
    with initialize_config_module("ems_sweep.conf", version_base="1.3"):
        yield HydraContext(config_loader=GlobalHydra.instance().config_loader(), callbacks=None)


def _sweep(context: HydraContext, *overrides: str) -> DictConfig:
    """The sweep's own config (`-m`), from which each job's config is composed."""
    args = ["hydra.sweep.dir=/tmp/never_written", "tracking=none", *overrides]
    return context.config_loader.load_configuration("config", args, RunMode.MULTIRUN)


def _view(cfg: DictConfig) -> dict:
    """What a job sees: its config resolved, Hydra's job, choices and overrides, and the whole
    config as composed (unresolved)."""
    task = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
    hydra = cfg.hydra
    return {
        "task": OmegaConf.to_container(task, resolve=True),
        "job": OmegaConf.to_container(hydra.job, resolve=True),
        "choices": OmegaConf.to_container(hydra.runtime.choices, resolve=True),
        "overrides": OmegaConf.to_container(hydra.overrides, resolve=True),
        "all": OmegaConf.to_container(cfg, resolve=False),
    }


def _jobs(context: HydraContext, sweep: DictConfig, jobs: list[list[str]]) -> list[dict]:
    """The jobs' views, taken after all were composed (a node shared by two jobs shows)."""
    configs = [context.config_loader.load_sweep_config(sweep, job) for job in jobs]
    return [_view(cfg) for cfg in configs]


def _kept_intact() -> None:
    """Every kept config is still a tree of its own: no compose moved a node of it elsewhere."""

    def check(node: Container) -> None:
        keys = node.keys() if isinstance(node, DictConfig) else range(len(node))
        for key in keys:
            child = node._get_node(key)
            assert child._get_parent() is node, f"{key} of a kept config moved"
            if isinstance(child, Container):
                check(child)

    assert compose_cache._loaded
    for kept in compose_cache._loaded.values():
        assert kept.config._get_parent() is None
        check(kept.config)


def test_the_cache_changes_no_jobs_config(context, user_conf):
    searchpath = f"hydra.searchpath=[file://{user_conf}]"
    plain_sweep, user_sweep = _sweep(context), _sweep(context, searchpath)
    plain = _jobs(context, plain_sweep, JOBS), _jobs(context, user_sweep, USER_JOBS)

    cached = compose_cache.caching_context(context, "test-launch")
    assert cached.config_loader is not context.config_loader
    for _ in range(2):  # the second round is served from the cache only
        kept = _jobs(cached, plain_sweep, JOBS), _jobs(cached, user_sweep, USER_JOBS)
        assert kept == plain
        _kept_intact()
    assert plain[0][0] == plain[0][-1] and plain[0][0] != plain[0][1]  # the check can fail
    assert plain[1][0]["task"]["battery"]["capacity_kwh"] == 5.0  # the user's option
    assert plain[0][4]["all"]["hydra"]["sweeper"]["params"]["battery"] == "none,default,large"
    # kept under their search path: the user's options are unknown to a sweep without it
    with pytest.raises(ConfigCompositionException, match="night"):
        cached.config_loader.load_sweep_config(plain_sweep, USER_JOBS[0])


def test_a_file_is_read_again_in_the_next_launch(context, user_conf):
    sweep = _sweep(context, f"hydra.searchpath=[file://{user_conf}]")
    small = user_conf / "battery" / "small.yaml"

    def capacity(launch: str) -> float:
        loader = compose_cache.caching_context(context, launch).config_loader
        return loader.load_sweep_config(sweep, ["battery=small"]).battery.capacity_kwh

    assert capacity("first") == 5.0
    small.write_text(SMALL_BATTERY.replace("5.0", "6.0"))
    assert capacity("first") == 5.0  # as this worker's first job of the launch read it
    assert capacity("second") == 6.0
