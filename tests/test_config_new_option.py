"""A new option of an existing group is one YAML file that states only what differs.

The files are written to a user's own config dir and found through `hydra.searchpath`, as a
study adds its own battery or tariff without touching the packaged tree.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from conftest import NIGHT_TARIFF, run_cli
from hydra import compose, initialize_config_module
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from ems_sweep.config import (
    BatteryConfig,
    ConfigError,
    TariffKind,
    TouTariffConfig,
    register_configs,
    typed,
    validate,
)


def _compose(conf: Path, *overrides: str):
    register_configs()
    with initialize_config_module("ems_sweep.conf", version_base="1.3"):
        return compose("config", overrides=[f"hydra.searchpath=[file://{conf}]", *overrides])


def test_new_battery_and_tariff_compose_to_inherited_plus_changed_values(user_conf):
    cfg = _compose(user_conf, "battery=small", "tariff=night")
    validate(cfg)
    job = typed(cfg)
    defaults = BatteryConfig()
    assert (job.battery.capacity_kwh, job.battery.max_charge_kw) == (5.0, 2.5)
    assert job.battery.max_discharge_kw == defaults.max_discharge_kw == 3.0
    assert (job.battery.soc_min, job.battery.soc_max) == (defaults.soc_min, defaults.soc_max)
    assert isinstance(job.tariff, TouTariffConfig) and job.tariff.kind == TariffKind.tou
    assert job.tariff.offpeak_price_eur_per_kwh == 0.18
    tou = TouTariffConfig()
    assert job.tariff.peak_price_eur_per_kwh == tou.peak_price_eur_per_kwh == 0.38
    assert job.tariff.peak_hours == tou.peak_hours == list(range(7, 21))


def test_a_misspelt_key_in_the_new_option_is_rejected(user_conf):
    (user_conf / "tariff" / "night.yaml").write_text(
        NIGHT_TARIFF.replace("offpeak_price_eur_per_kwh", "offpeak_price_eur_kwh")
    )
    with pytest.raises(ConfigCompositionException) as err:
        _compose(user_conf, "tariff=night")
    assert "offpeak_price_eur_kwh" in str(err.value) + str(err.value.__cause__)


def test_a_job_runs_one_day_with_the_new_options(user_conf, tmp_path):
    run_dir = tmp_path / "run"
    proc = run_cli(
        [
            f"hydra.searchpath=[file://{user_conf}]",
            "battery=small",
            "tariff=night",
            "n_days=1",
            "tracking=none",
            "pipeline.plots=false",
            f"hydra.run.dir={run_dir}",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "ok"
    job = OmegaConf.load(run_dir / ".hydra" / "config.yaml")
    assert job.battery.capacity_kwh == 5.0 and job.tariff.offpeak_price_eur_per_kwh == 0.18
    schedules = pd.read_csv(run_dir / "schedules.csv", parse_dates=["time"])
    hours = pd.to_datetime(schedules["time"], utc=True).dt.tz_convert("Europe/Berlin").dt.hour
    night = schedules.loc[(hours < 7) | (hours >= 21), "import_price_eur_per_kwh"]
    day = schedules.loc[(hours >= 7) & (hours < 21), "import_price_eur_per_kwh"]
    assert not night.empty and (night == 0.18).all() and (day == 0.38).all()
    battery = schedules["battery_energy_kwh"]
    assert battery.max() <= 5.0 * 0.9 + 1e-9  # the small battery's soc_max (inherited)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["pipeline.prior_strength=3"], "pipeline.prior_strength (from pipeline.prior_strength=3) "
         "with pipeline=comparison; it is a key of pipeline=learning"),
        (["tariff=flat,tou", "tariff.peak_hours=[8]", "-m"], "tariff.peak_hours "
         "(from tariff.peak_hours=[8]) with tariff=flat; it is a key of tariff=tou"),
    ],
)  # fmt: skip
def test_a_key_of_another_option_is_refused_before_any_work(tmp_path, args, named):
    from ems_sweep.cli.outcome import EXIT_BAD_INPUT

    proc = run_cli([*args, "tracking=none"], tmp_path)
    assert proc.returncode == EXIT_BAD_INPUT
    assert named in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "outputs").exists()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("kind: flat\n", "tariff='flat'; allowed: an option whose defaults list has dynamic or"),
        (NIGHT_TARIFF + "kind: flat\n", "tariff.kind='flat'; allowed: tou in a tariff option"),
    ],
    ids=["no_schema", "kind_of_another_schema"],
)
def test_a_tariff_option_must_inherit_the_schema_of_its_kind(user_conf, text, named):
    (user_conf / "tariff" / "night.yaml").write_text(text)
    with pytest.raises(ConfigError) as err:
        validate(_compose(user_conf, "tariff=night"))
    assert named in str(err.value)
