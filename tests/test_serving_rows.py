"""Request rows -> job configs: fallbacks to the logged config, Hydra groups, early clear errors."""

from __future__ import annotations

import pandas as pd
import pytest
from hydra import compose, initialize_config_module

from ems_sweep.config import register_configs
from ems_sweep.serving.rows import RowError, base_config, parse_rows, row_configs


def _compose(overrides: list[str]):
    register_configs()
    with initialize_config_module(config_module="ems_sweep.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides)


@pytest.fixture(scope="module")
def base():
    # A logged run with hand-set values the rows must keep when they do not change the group.
    return base_config(
        _compose(["building=res1", "mode=centralized", "battery.capacity_kwh=12.5", "n_days=3"])
    )


def test_empty_columns_fall_back_to_the_logged_config(base):
    ((spec, cfg),) = row_configs(pd.DataFrame([{"start_date": None}]), base)
    assert (spec.building_id, spec.mode, spec.n_days) == ("res1", "centralized", 3)
    assert spec.start_date == "2016-06-01" and spec.battery_enabled and not spec.ev_enabled
    assert cfg.battery.capacity_kwh == 12.5  # the logged override survives
    assert cfg.tracking.enabled is False and cfg.pipeline.name.value == "comparison"


def test_rows_get_the_groups_hydra_composes(base):
    rows = pd.DataFrame(
        [
            {"building_id": "res4", "mode": "centralized_phases", "n_days": 1, "ev_enabled": True},
            {"battery_enabled": False, "start_date": "2016-07-02", "mode": "decentralized"},
        ]
    )
    (s1, c1), (s2, c2) = row_configs(rows, base)
    direct = _compose(["building=res4", "mode=centralized_phases", "ev=default"])
    assert c1.building == direct.building and c1.mode == direct.mode and c1.ev == direct.ev
    assert c1.battery.capacity_kwh == 12.5 and c1.n_days == 1
    assert c2.building.name == "res1" and c2.mode.name.value == "decentralized"
    assert c2.battery == _compose(["battery=none"]).battery
    assert (s2.start_date, c2.start_date, c2.n_days) == ("2016-07-02", "2016-07-02", 3)


def test_a_learning_run_is_served_by_the_comparison_pipeline():
    learned = base_config(_compose(["pipeline=learning", "n_days=4"]))
    ((_, cfg),) = row_configs(pd.DataFrame([{"n_days": 1}]), learned)
    assert cfg.pipeline.name.value == "comparison"


@pytest.mark.parametrize(
    ("bad", "needle"),
    [
        ({"building_id": "res9"}, "Row 1: building_id='res9' is invalid; allowed: one of ['"),
        ({"mode": "central"}, "Row 1: mode='central' is invalid; allowed: one of ['centralized'"),
        ({"n_days": 0}, "Row 1: n_days=0 is invalid; allowed: an integer >= 1"),
        ({"n_days": 1.5}, "Row 1: n_days=1.5 is invalid"),
        ({"start_date": "2016-02-30"}, "Row 1: start_date='2016-02-30' is invalid"),
        ({"battery_enabled": "maybe"}, "Row 1: battery_enabled='maybe' is invalid"),
        ({"building": "res2"}, "Unknown input column(s) ['building']"),
    ],
)
def test_bad_rows_name_row_column_and_value(base, bad, needle):
    rows = pd.DataFrame([{"building_id": "res2", "n_days": 1}, bad])
    with pytest.raises(RowError) as err:
        parse_rows(rows, base)
    assert needle in str(err.value)
    if "building_id" in bad:
        assert "'res1'" in str(err.value) and "'res6'" in str(err.value)


def test_bad_row_fails_before_any_solver_runs(base, monkeypatch):
    from mlflow.exceptions import MlflowException

    from ems_sweep.serving import model as serving

    calls = []
    monkeypatch.setattr(serving, "optimize_row", lambda *a: calls.append(a))
    model = serving.OptimizerModel()
    model.base, model.building_data = base, None
    rows = pd.DataFrame([{"building_id": "res2"}, {"building_id": "nowhere"}])
    with pytest.raises(MlflowException, match="Row 1: building_id='nowhere'"):
        model.predict(None, rows)
    assert calls == []


def test_a_file_building_runs_on_the_data_shipped_with_the_model():
    logged = base_config(_compose(["building=cossmic_res1", "n_days=1"]))
    shipped = "/models/m-1/artifacts/DE_KN_residential1_60min.csv.gz"
    rows = pd.DataFrame(
        [
            {"building_id": "cossmic_res1", "n_days": 2},  # the group the run used
            {"building_id": "DE_KN_residential1", "n_days": None},  # its name / data id
            {"building_id": "res2", "n_days": 1},
        ]
    )
    (s1, c1), (s2, c2), (_, c3) = row_configs(rows, logged, building_data=shipped)
    assert c1.building.path == shipped and c2.building.path == shipped
    assert (c1.n_days, c2.n_days) == (2, 1)
    assert c3.building.source.value == "builtin" and c3.building.name == "res2"


def test_rows_compose_inside_a_running_hydra_app(base):
    """The tracking callback logs (and MLflow test-predicts) the model inside the Hydra job."""
    from hydra.core.global_hydra import GlobalHydra

    register_configs()
    with initialize_config_module(config_module="ems_sweep.conf", version_base="1.3"):
        outer = GlobalHydra.instance().hydra
        ((_, cfg),) = row_configs(pd.DataFrame([{"building_id": "res3"}]), base)
        assert cfg.building.name == "res3"
        assert GlobalHydra.instance().hydra is outer  # the app's Hydra is back in place


def test_a_run_without_config_yaml_is_rebuilt_from_its_params():
    """`serving log --run-id` on a run that only has the flattened config params."""
    from omegaconf import OmegaConf

    from ems_sweep.serving.model import _config_from_params
    from ems_sweep.tracking.record import flatten, param_value

    cfg = _compose(["building=res4", "mode=centralized_phases", "ev=default", "n_days=2"])
    plain = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)
    params = {k: param_value(v) for k, v in flatten(plain).items()}
    params.update(building_id="res4", optimization_mode="centralized_phases", pipeline="comparison")
    rebuilt = base_config(_config_from_params("run-1", params))
    assert rebuilt == base_config(cfg)


def test_a_row_that_fails_in_the_pipeline_reports_it_in_its_row(cossmic_dir):
    """Days outside a file's data are only known once it is read: that row fails, not the call."""
    from ems_sweep.serving.model import optimize_row

    path = cossmic_dir / "DE_KN_residential1_60min.csv.gz"
    logged = base_config(_compose(["building=cossmic_res1", f"building.path={path}"]))
    ((spec, cfg),) = row_configs(pd.DataFrame([{"start_date": "2030-01-01"}]), logged)
    row = optimize_row(spec, cfg)
    assert (row["status"], row["feasible"], row["constraint_violations"]) == ("failed", False, -1)
    assert "2030-01-01" in row["error"]
    assert row["savings_eur"] != row["savings_eur"]  # NaN, never a made-up figure
