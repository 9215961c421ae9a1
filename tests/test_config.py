"""The config tree composes for every option; bad input fails early, naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException, MissingConfigException
from omegaconf.errors import OmegaConfBaseException

from ems_sweep.config import ConfigError, register_configs, validate

CONF_DIR = Path(__file__).resolve().parents[1] / "conf"
GROUPS = ["building", "mode", "battery", "ev", "tariff", "pipeline", "solver", "tracking"]


def _compose(overrides: list[str]):
    register_configs()
    with initialize_config_module(config_module="ems_sweep.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


def _options(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml"))


def test_groups_have_the_options_users_expect():
    assert set(_options("building")) >= {"res1", "res2", "res3", "res4", "res5", "res6", "ind3"}
    assert set(_options("mode")) == {"centralized", "centralized_phases", "decentralized"}
    assert set(_options("battery")) == {"none", "default", "large"}
    assert set(_options("ev")) == {"none", "default", "v2g"}
    assert set(_options("tariff")) == {"dynamic", "flat", "tou"}
    assert set(_options("pipeline")) == {"comparison", "learning"}
    assert set(_options("solver")) == {"highs", "cbc"}
    assert "mlflow" in _options("tracking")


@pytest.mark.parametrize(
    "override", [f"{group}={option}" for group in GROUPS for option in _options(group)]
)
def test_every_group_option_composes_and_validates(override):
    extra = ["n_days=3"] if override == "pipeline=learning" else []
    cfg = _compose([override, *extra])
    validate(cfg)
    group, option = override.split("=")
    if group == "building":
        assert cfg.building.name == option or cfg.building.source.value != "builtin"


def test_defaults_match_the_documented_hardware():
    cfg = _compose(["battery=large", "ev=default"])
    assert (cfg.battery.capacity_kwh, cfg.battery.max_charge_kw) == (15.0, 5.0)
    assert (cfg.ev.capacity_kwh, cfg.ev.charger_kw, cfg.ev.must_be_full_by_hour) == (60.0, 7.4, 7)
    default = _compose([])
    assert (default.battery.capacity_kwh, default.battery.max_charge_kw) == (10.0, 3.0)
    assert default.resolution_min == 60 and default.n_days >= 1


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        (["battery.soc_min=0.95"], ["battery.soc_min", "0.95", "soc_max"]),
        (["battery.capacity_kwh=-5"], ["battery.capacity_kwh", "-5", ">= 0"]),
        (["n_days=0"], ["n_days", "0", ">= 1"]),
        (["resolution_min=30"], ["resolution_min", "30", "15 or 60"]),
        (["start_date=2016-13-01"], ["start_date", "2016-13-01", "YYYY-MM-DD"]),
        (["ev=default", "ev.must_be_full_by_hour=25"], ["ev.must_be_full_by_hour", "25"]),
        (["battery.charge_efficiency=1.5"], ["battery.charge_efficiency", "1.5"]),
        (["pipeline=learning", "n_days=1"], ["n_days", "pipeline=learning"]),
        (["mode.max_delay_hours=-1"], ["mode.max_delay_hours", "-1", ">= 0"]),
        (["building.cycle_max_pause_hours=-1"], ["building.cycle_max_pause_hours", ">= 0"]),
        (["building.cycle_min_kwh=-0.1"], ["building.cycle_min_kwh", "-0.1", ">= 0"]),
    ],
)
def test_impossible_values_fail_with_key_value_and_allowed(overrides, names):
    cfg = _compose(overrides)
    with pytest.raises(ConfigError) as err:
        validate(cfg)
    for name in names:
        assert name in str(err.value)


@pytest.mark.parametrize(
    ("override", "names"),
    [
        ("battery.capcity_kwh=3", ["capcity_kwh"]),
        ("n_days=three", ["n_days", "three"]),
        ("mode.name=greedy", ["greedy", "centralized", "decentralized"]),
        ("solver.name=gurobi", ["gurobi", "highs", "cbc"]),
        ("mode.max_shift_hours=3", ["max_shift_hours"]),  # renamed: mode.max_delay_hours
        ("mode.allow_advance=maybe", ["allow_advance", "maybe"]),
    ],
)
def test_schema_rejects_misspelt_keys_wrong_types_and_unknown_enums(override, names):
    with pytest.raises((ConfigCompositionException, OmegaConfBaseException)) as err:
        _compose([override])
    message = str(err.value) + str(err.value.__cause__ or "")
    for name in names:
        assert name in message


def test_unknown_group_option_lists_the_available_options():
    with pytest.raises(MissingConfigException) as err:
        _compose(["mode=greedy"])
    message = str(err.value)
    assert "greedy" in message
    for option in ("centralized", "centralized_phases", "decentralized"):
        assert option in message


def test_cli_reports_bad_value_before_any_work(cli, tmp_path):
    proc = cli(["battery.soc_min=0.95", "tracking=none", f"hydra.run.dir={tmp_path}/run"], tmp_path)
    assert proc.returncode != 0
    assert "battery.soc_min=0.95" in proc.stderr
    assert not (tmp_path / "run" / "summary.json").exists()
