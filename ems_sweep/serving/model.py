"""The optimizer as an MLflow pyfunc model: "give me the savings for these setups", anywhere.

The model holds the resolved config of the run it was logged from (and, for a building read from
a file, a copy of that file). `predict(df)` really runs the comparison pipeline for every row
(baseline vs optimized schedule, checked) and returns the job figures; nothing is precomputed.
The model carries the ems_sweep code (with its config tree) as code_paths, so
`mlflow.pyfunc.load_model` and `mlflow models serve --env-manager local` work in any process
that has the project's requirements installed.

    python -m ems_sweep.serving log --run-id <id>     # log a model from a finished run
"""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import logging
import math
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import Model, ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types.schema import ColSpec, Schema
from omegaconf import DictConfig, OmegaConf

from ems_sweep.config import Source
from ems_sweep.serving.rows import INPUT_COLUMNS, RowError, RowSpec, base_config, row_configs

CONFIG_ARTIFACT = "config"
DATA_ARTIFACT = "building_data"
PROJECT_DIST = "ems-sweep"

log = logging.getLogger(__name__)

# Job figure (JobResult.metrics) -> output column.
FIGURES = {
    "total_cost": "cost_eur",
    "baseline_cost": "baseline_cost_eur",
    "savings_eur": "savings_eur",
    "savings_pct": "savings_pct",
    "constraint_violations": "constraint_violations",
    "solve_time_seconds": "solve_time_s",
    "days_ok": "days_ok",
}
OUTPUT_SCHEMA = Schema(
    [
        ColSpec("string", "building_id"),
        ColSpec("long", "n_days"),
        ColSpec("string", "start_date"),
        ColSpec("string", "mode"),
        ColSpec("boolean", "battery_enabled"),
        ColSpec("boolean", "ev_enabled"),
        ColSpec("string", "status"),
        ColSpec("boolean", "feasible"),
        ColSpec("double", "cost_eur"),
        ColSpec("double", "baseline_cost_eur"),
        ColSpec("double", "savings_eur"),
        ColSpec("double", "savings_pct"),
        ColSpec("long", "constraint_violations"),
        ColSpec("double", "solve_time_s"),
        ColSpec("long", "days_ok"),
        ColSpec("string", "error", required=False),
    ]
)
# No input schema: MLflow's enforcement of one drops unknown columns (a misspelt `bulding_id`
# would run the logged building) and casts "false" to true. serving_rows checks the raw rows
# (INPUT_COLUMNS, documented by the logged input example) and answers HTTP 400 naming the column.
SIGNATURE = ModelSignature(inputs=None, outputs=OUTPUT_SCHEMA)


class OptimizerModel(PythonModel):
    """Runs the comparison pipeline (baseline vs optimized, checked) for each request row."""

    def load_context(self, context: PythonModelContext) -> None:
        config_text = Path(context.artifacts[CONFIG_ARTIFACT]).read_text()
        self.base = base_config(OmegaConf.create(config_text))
        self.building_data = context.artifacts.get(DATA_ARTIFACT)

    def predict(
        self,
        context: PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        frame = model_input if isinstance(model_input, pd.DataFrame) else pd.DataFrame(model_input)
        try:
            jobs = row_configs(frame, self.base, self.building_data)
        except RowError as exc:  # a 400 with the message when served, not a 500
            raise MlflowException.invalid_parameter_value(str(exc)) from exc
        return json_ready(pd.DataFrame([optimize_row(spec, cfg) for spec, cfg in jobs]))


def json_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """Undefined figures as None, so the served JSON has null where NaN is not JSON."""
    return frame.astype(object).where(frame.notna(), None)


def optimize_row(spec: RowSpec, cfg: DictConfig) -> dict[str, Any]:
    """One row's figures from a real comparison run in a throwaway job dir."""
    from ems_sweep.pipelines.comparison import run_comparison

    row: dict[str, Any] = {c: getattr(spec, c) for c in INPUT_COLUMNS}
    with tempfile.TemporaryDirectory(prefix="ems_serving_") as job_dir:
        try:
            result = run_comparison(cfg, Path(job_dir))
            status, error, metrics = result.status, result.error, result.metrics
        except Exception as exc:  # one row's failure is reported in its row, not for all
            log.exception("Row %s failed", spec)
            status, error, metrics = "failed", f"{type(exc).__name__}: {exc}", {}
    row["status"] = status
    row["feasible"] = status == "ok" and metrics.get("optimization_success", 0.0) == 1.0
    for figure, column in FIGURES.items():
        row[column] = float(metrics.get(figure, math.nan))
    for column in ("constraint_violations", "days_ok"):  # -1: the job gave no count
        value = row[column]
        row[column] = int(value) if math.isfinite(value) else -1
    row["error"] = error
    return row


def input_example(base: DictConfig) -> pd.DataFrame:
    """One row that reruns the logged setup for one day."""
    return pd.DataFrame(
        [
            {
                "building_id": str(base.building.name),
                "n_days": 1,
                "start_date": str(base.start_date),
                "mode": base.mode.name.value,
                "battery_enabled": bool(base.battery.enabled),
                "ev_enabled": bool(base.ev.enabled),
            }
        ]
    )


def project_requirements() -> list[str]:
    """The project's own runtime requirements (pyproject dependencies, extras left out)."""
    try:
        requires = importlib.metadata.requires(PROJECT_DIST) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise RuntimeError(
            f"{PROJECT_DIST} is not installed; run `pip install -e .` in the project first"
        ) from exc
    return [r for r in requires if "extra ==" not in r]


def package_code(target: Path) -> Path:
    """A copy of the ems_sweep package with its config tree inside (conf/ -> ems_sweep/conf).

    In an editable install the config tree lives outside the package folder, so copying the
    folder alone would leave Hydra nothing to compose from where the model is loaded.
    """
    source = Path(__file__).resolve().parents[1]  # the ems_sweep package (this is serving/model.py)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    package = target / source.name
    shutil.copytree(source, package, ignore=ignore)
    conf = Path(str(importlib.resources.files("ems_sweep.conf")))
    if not (package / "conf").exists():
        shutil.copytree(conf, package / "conf", ignore=ignore)
    return package


def _building_data(cfg: DictConfig) -> str | None:
    """The logged building's data file, shipped with the model when it is read from a file."""
    if cfg.building.source == Source.builtin or not cfg.building.path:
        return None
    path = Path(cfg.building.path).expanduser().resolve()
    if not path.exists():
        raise FileNotFoundError(
            f"building.path={cfg.building.path!r} does not exist; the model needs the building's "
            "data file to rerun the optimization elsewhere"
        )
    return str(path)


def log_optimizer_model(
    resolved_config: dict[str, Any] | DictConfig,
    name: str = "optimizer",
    run_id: str | None = None,
) -> ModelInfo:
    """Log the optimizer for this config as a pyfunc model in the active run (or `run_id`).

    With a `run_id` other than the active run's, the run's experiment becomes the active one.

    Returns the ModelInfo; load it back with `mlflow.pyfunc.load_model(info.model_uri)` or
    `runs:/<run_id>/<name>`.
    """
    active = mlflow.active_run()
    run_id = run_id or (active.info.run_id if active else None)
    if run_id is None:
        raise MlflowException.invalid_parameter_value(
            "log_optimizer_model needs an active MLflow run or a run_id"
        )
    if active is None or active.info.run_id != run_id:
        # MLflow puts a logged model into the *active* experiment, not the source run's.
        mlflow.set_experiment(experiment_id=mlflow.get_run(run_id).info.experiment_id)
    cfg = base_config(resolved_config)
    with tempfile.TemporaryDirectory(prefix="ems_model_") as tmp:
        config_file = Path(tmp) / "config.yaml"
        config_file.write_text(OmegaConf.to_yaml(cfg))
        artifacts = {CONFIG_ARTIFACT: str(config_file)}
        if data := _building_data(cfg):
            artifacts[DATA_ARTIFACT] = data
        code = package_code(Path(tmp) / "code")
        saved_path = list(sys.path)
        try:
            return Model.log(
                artifact_path=None,
                name=name,
                flavor=mlflow.pyfunc,
                run_id=run_id,
                python_model=str(Path(__file__).with_name("entry.py")),
                artifacts=artifacts,
                code_paths=[str(code)],
                signature=SIGNATURE,
                input_example=input_example(cfg),
                pip_requirements=project_requirements(),
            )
        finally:
            # MLflow checks the input example by loading the model here, which puts the temp
            # code copy on sys.path; do not leave a deleted folder there.
            sys.path[:] = saved_path


def run_config(run_id: str) -> dict[str, Any]:
    """A finished run's resolved config: its config.yaml artifact, else rebuilt from params."""
    client = mlflow.MlflowClient()
    run = client.get_run(run_id)
    names = {a.path for a in client.list_artifacts(run_id)}
    if "config.yaml" in names:
        with tempfile.TemporaryDirectory() as tmp:
            path = mlflow.artifacts.download_artifacts(
                run_id=run_id, artifact_path="config.yaml", dst_path=tmp
            )
            return OmegaConf.to_container(OmegaConf.load(path))
    return _config_from_params(run_id, run.data.params)


def _config_from_params(run_id: str, params: dict[str, str]) -> dict[str, Any]:
    """Rebuild a config from flattened `group.key` params (older runs without config.yaml)."""
    from ems_sweep.config import EmsConfig

    schema = OmegaConf.structured(EmsConfig)
    dotlist = []
    for key, value in params.items():
        if value.endswith("(truncated, see config.yaml)"):
            continue
        top = key.split(".", 1)[0]
        # User-vocabulary params (building_id, `pipeline=comparison`, ...) are not config keys.
        if top not in schema or ("." not in key and OmegaConf.is_dict(schema[top])):
            continue
        dotlist.append(f"{key}={'null' if value == 'None' else value}")
    if not dotlist:
        raise MlflowException.invalid_parameter_value(
            f"Run {run_id} has neither a config.yaml artifact nor config params to rebuild from"
        )
    return OmegaConf.to_container(OmegaConf.from_dotlist(dotlist))
