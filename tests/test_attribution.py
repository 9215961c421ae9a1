"""Where the saving comes from: the Shapley split over appliances, battery and EV."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import compose_config
from omegaconf import DictConfig

from ems_sweep.config import ConfigError
from ems_sweep.data import load_building
from ems_sweep.pipelines.attribution import metric_name, period_saving, players, shapley
from ems_sweep.pipelines.days import RunOptions, Timings, run_days

SHARE_KEYS = [metric_name(p) for p in ("appliances", "battery", "ev")]


def make_cfg(*overrides: str) -> DictConfig:
    return compose_config(
        "tracking=none",
        "pipeline.plots=false",
        "pipeline.attribution=true",
        "mode=centralized_phases",
        *overrides,
    )


def run_job(cfg: DictConfig, job_dir: Path) -> dict[str, float]:
    from ems_sweep.pipelines.runner import run_job as run

    result = run(cfg, job_dir)  # also writes summary.json
    assert result.status == "ok", result.error
    return result.metrics


def assert_split_sums(metrics: dict[str, float]) -> None:
    shares = sum(metrics[k] for k in SHARE_KEYS)
    assert shares == pytest.approx(metrics["savings_eur"], abs=1e-9)
    assert metrics["attribution_days_failed"] == 0


def test_shapley_of_a_known_game_is_fair_and_efficient():
    # v: a and b are worth 1 alone, 3 together (synergy split evenly); c adds 2 to any coalition
    def value(s: frozenset[str]) -> float:
        ab = {0: 0.0, 1: 1.0, 2: 3.0}[len(s & {"a", "b"})]
        return ab + (2.0 if "c" in s else 0.0)

    phi = shapley(["a", "b", "c"], value)
    assert phi == pytest.approx({"a": 1.5, "b": 1.5, "c": 2.0})
    assert shapley(["x"], lambda s: 5.0 if s else 0.0) == {"x": 5.0}


def test_split_sums_to_the_savings_and_is_reported(tmp_path):
    cfg = make_cfg("building=res4", "ev=default", "battery=default", "n_days=2")
    metrics = run_job(cfg, tmp_path)
    assert_split_sums(metrics)
    assert metrics["savings_eur"] > 0.01  # res4 in June with battery and EV does save
    summary = json.loads((tmp_path / "summary.json").read_text())
    figures = summary.get("metrics", summary)
    # summary.json holds the split; each _pct is that share of the period's savings
    assert {k: figures[k] for k in SHARE_KEYS} == pytest.approx({k: metrics[k] for k in SHARE_KEYS})
    pcts = [figures[k.replace("_eur", "_pct")] for k in SHARE_KEYS]
    assert sum(pcts) == pytest.approx(100.0)
    for key, pct in zip(SHARE_KEYS, pcts, strict=True):
        assert pct == pytest.approx(100.0 * figures[key] / figures["savings_eur"])
    report = (tmp_path / "report.md").read_text()
    assert "## Where the saving comes from" in report
    assert "| appliance shifting, battery, EV |" in report


def test_without_battery_and_ev_the_whole_saving_is_appliance_shifting(tmp_path):
    cfg = make_cfg("building=res1", "battery=none", "ev=none", "n_days=3")
    metrics = run_job(cfg, tmp_path)
    assert_split_sums(metrics)
    assert metrics["attribution_appliances_eur"] == pytest.approx(metrics["savings_eur"])
    assert metrics["attribution_battery_eur"] == 0 and metrics["attribution_ev_eur"] == 0
    assert metrics["savings_eur"] > 0.001  # cycles do move to cheaper hours


def test_appliances_that_cannot_move_get_no_share(tmp_path):
    cfg = make_cfg("building=res4", "ev=default", "mode.max_delay_hours=0", "n_days=2")
    metrics = run_job(cfg, tmp_path)
    assert_split_sums(metrics)
    assert metrics["attribution_appliances_eur"] == pytest.approx(0.0, abs=1e-3)
    assert abs(metrics["savings_eur"]) > 0.01  # the battery and EV still do something


@pytest.mark.parametrize("mode", ["centralized", "centralized_phases"])
def test_every_flexibility_off_is_the_baseline(mode):
    """Fixing every family to the baseline's flows reproduces the baseline's cost."""
    cfg = make_cfg("building=res4", "ev=default", f"mode={mode}", "n_days=2")
    building = load_building(cfg)
    dates = building.days()
    names = players(building, dates, cfg)
    assert names == ["appliances", "battery", "ev"]
    runs = run_days(building, dates, cfg, Timings(), RunOptions(fixed=tuple(names)))
    saving, failed = period_saving(runs)
    assert failed == 0
    assert saving == pytest.approx(0.0, abs=1e-4)


def test_attribution_refuses_rule_based_mode_and_learning():
    with pytest.raises(ConfigError, match="pipeline.attribution=True.*mode=decentralized"):
        make_cfg("mode=decentralized")
    with pytest.raises(ConfigError, match="pipeline.attribution=True.*pipeline=learning"):
        make_cfg("pipeline=learning", "n_days=3")


def test_attribution_on_the_shared_buildings(cossmic_dir, tmp_path):
    names = {"cossmic_res1": "DE_KN_residential1", "cossmic_res4": "DE_KN_residential4"}
    for building, file_id in names.items():
        cfg = make_cfg(
            f"building={building}",
            f"building.path={cossmic_dir / f'{file_id}_60min.csv.gz'}",
            "battery=default",
            "ev=default",
            "start_date=2016-06-01",
            "n_days=2",
        )
        metrics = run_job(cfg, tmp_path / building)
        assert_split_sums(metrics)
