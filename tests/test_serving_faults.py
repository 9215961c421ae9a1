"""Serving bad input (issue 15, item 12), through a logged and loaded pyfunc model.

MLflow's pyfunc applies the model signature before predict (as `mlflow models serve` does), so
these go through the same path as an HTTP request; MlflowException INVALID_PARAMETER_VALUE is
what the scoring server answers with HTTP 400.
"""

from __future__ import annotations

import json
import math

import mlflow
import pandas as pd
import pytest
from hydra import compose, initialize_config_module
from mlflow.exceptions import MlflowException
from omegaconf import OmegaConf

from ems_sweep.config import register_configs
from ems_sweep.pipelines.result import JobResult, write_summary
from ems_sweep.serving.rows import SERVED_MAX_N_DAYS, SERVED_MAX_TOTAL_DAYS


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from ems_sweep.serving.model import log_optimizer_model

    root = tmp_path_factory.mktemp("serving_faults")
    register_configs()
    with initialize_config_module(config_module="ems_sweep.conf", version_base="1.3"):
        cfg = compose(config_name="config", overrides=["tracking=none"])
    mlflow.set_tracking_uri(f"sqlite:///{root / 'mlflow.db'}")
    with mlflow.start_run() as run:
        log_optimizer_model(OmegaConf.to_container(cfg, resolve=True), name="optimizer")
    return mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/optimizer")


@pytest.mark.parametrize(
    ("row", "needle"),
    [
        ({"bulding_id": "res2"}, "Unknown input column(s) ['bulding_id']"),
        ({"battery_enabled": "false"}, "battery_enabled='false' is invalid"),
        ({"ev_enabled": "no"}, "ev_enabled='no' is invalid"),
        (
            {"n_days": 3000},
            f"n_days=3000 is invalid; allowed: an integer >= 1 and <= {SERVED_MAX_N_DAYS}",
        ),
    ],
)
def test_item12_bad_rows_are_400s_naming_the_column(model, row, needle):
    with pytest.raises(MlflowException) as err:
        model.predict(pd.DataFrame([row]))
    assert err.value.error_code == "INVALID_PARAMETER_VALUE"
    assert needle in err.value.message


def test_item12_request_work_is_bounded(model):
    rows = pd.DataFrame([{"n_days": SERVED_MAX_N_DAYS}] * (SERVED_MAX_TOTAL_DAYS // 31 + 1))
    with pytest.raises(MlflowException, match=f"at most {SERVED_MAX_TOTAL_DAYS} days"):
        model.predict(rows)


def test_item12_undefined_figures_are_null_in_responses_and_json_files(
    model, monkeypatch, tmp_path
):
    from ems_sweep.pipelines import comparison

    def broken(cfg, job_dir):
        raise RuntimeError("no solver today")

    monkeypatch.setattr(comparison, "run_comparison", broken)
    out = model.predict(pd.DataFrame([{"building_id": "res1", "battery_enabled": False}]))
    (row,) = out.to_dict(orient="records")
    assert row["status"] == "failed" and row["battery_enabled"] is False
    assert row["cost_eur"] is None
    json.dumps(row, allow_nan=False)  # strict JSON: raises on NaN

    result = JobResult("ok", tmp_path, metrics={"savings_pct": math.nan, "savings_eur": 0.0})
    text = write_summary(result).read_text()
    assert json.loads(text, parse_constant=pytest.fail)["metrics"]["savings_pct"] is None
