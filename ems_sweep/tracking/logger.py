"""Write runs: one job record -> one MLflow run (batched), and the sweep's parent run.

A job's run is created only once the job is over (start_time from when it started), then filled
with one log_batch and its files, then terminated: a killed worker never leaves a RUNNING run.
"""

from __future__ import annotations

import logging
import subprocess
import time
import warnings
from pathlib import Path
from typing import Any

from ems_sweep.names import (
    JOB_RUN_FILE,
    RUN_TYPE_SWEEP,
    TAG_OVERRIDES,
    TAG_PARENT_RUN,
    TAG_RUN_NAME,
    TAG_RUN_TYPE,
)
from ems_sweep.tracking.record import JobRecord
from ems_sweep.tracking.store import Store, client, ensure_experiment, retry

log = logging.getLogger(__name__)

TERMINAL_KEPT = ("FINISHED", "FAILED")
# Config keys not logged as params (no one filters runs on them; each param costs every run
# listing a row): the synthetic building generator's settings (hour weights, phases), where
# the building's data lives and how its file's columns are named (building.name stands for
# them), where runs are logged, and output-only settings (solver log, plots). A value set on
# the command line is logged anyway; the config.yaml artifact has them all.
UNLOGGED_PARAM_PREFIXES = ("building.generator.", "tracking.")
UNLOGGED_PARAMS = frozenset(
    {
        "building.source",
        "building.id",
        "building.path",
        "building.timezone",
        "building.file_timezone",
        "building.price_path",
        "building.fixed",
        "building.pv_columns",
        "building.import_column",
        "building.export_column",
        "building.ev_column",
        "building.price_column",
        "solver.msg",
        "pipeline.plots",
        "pipeline.max_plot_days",
    }
)
PACKAGE_DIR = Path(__file__).resolve().parents[2]


def git_commit(where: Path = PACKAGE_DIR) -> str | None:
    """The project's git commit (with -dirty when the tree has changes), None outside git."""
    try:
        out = subprocess.run(
            ["git", "-C", str(where), "describe", "--always", "--dirty", "--abbrev=40"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def now_ms() -> int:
    return int(time.time() * 1000)


def _quote(value: str) -> str:
    return "'" + value.replace("'", "\\'") + "'"


def find_runs(
    store: Store, experiment_id: str, tags: dict[str, str], deleted: bool = False
) -> list[Any]:
    """Runs of an experiment whose tags equal all of `tags` (dedupe for replays): the active
    ones, or with `deleted` the deleted ones (partial runs a full disk could not end)."""
    from mlflow.entities import ViewType

    query = " and ".join(f"tags.`{k}` = {_quote(v)}" for k, v in tags.items())
    view = ViewType.DELETED_ONLY if deleted else ViewType.ACTIVE_ONLY
    c = client(store)
    return retry(
        lambda: c.search_runs(
            [experiment_id], filter_string=query, run_view_type=view, max_results=100
        ),
        "search",
    )


def log_job(
    record: JobRecord,
    store: Store,
    experiment: str,
    parent_run_id: str | None = None,
    extra_tags: dict[str, str] | None = None,
) -> str:
    """Log one job as a terminated run; returns its run id.

    Files and the model are logged as the job's own tracking.log_artifacts / log_model say.
    """
    from mlflow.entities import Metric, Param

    c = client(store)
    experiment_id = ensure_experiment(store, experiment)
    tags = {**record.tags, **(extra_tags or {}), TAG_RUN_NAME: record.run_name}
    if parent_run_id:
        tags[TAG_PARENT_RUN] = parent_run_id
    tags.setdefault("mlflow.source.type", "JOB")
    run = retry(
        lambda: c.create_run(
            experiment_id,
            start_time=record.start_time_ms or now_ms(),
            tags=tags,
            run_name=record.run_name,
        ),
        "create run",
    )
    run_id = run.info.run_id
    try:
        ts = now_ms()
        metrics = [Metric(k, v, ts, 0) for k, v in record.metrics.items()]
        metrics += [
            Metric(s.key, s.value, s.timestamp_ms or ts, s.step) for s in record.step_metrics
        ]
        params = [Param(k, v) for k, v in logged_params(record).items()]
        retry(lambda: c.log_batch(run_id, metrics=metrics, params=params), "log batch")
        if record.tracking.get("log_artifacts", True):
            _log_files(c, run_id, record)
        if record.tracking.get("log_model", False):
            _log_model(store, run_id, record)
    except BaseException:
        discard_partial_run(c, run_id)
        raise
    end = max(record.end_time_ms or now_ms(), record.start_time_ms or 0)
    retry(lambda: c.set_terminated(run_id, record.status, end_time=end), "terminate")
    return run_id


def logged_params(record: JobRecord) -> dict[str, str]:
    """The record's params without the UNLOGGED ones, unless the job overrode them."""
    overrides = record.tags.get(TAG_OVERRIDES, "")
    set_keys = {o.split("=", 1)[0].lstrip("+~") for o in overrides.split()}
    return {
        k: v
        for k, v in record.params.items()
        if k in set_keys or not (k in UNLOGGED_PARAMS or k.startswith(UNLOGGED_PARAM_PREFIXES))
    }


def discard_partial_run(c: Any, run_id: str) -> None:
    """Delete a run cut off while logging; the job's files stay the record `sync` replays.

    Marking it FAILED would turn a good job into an empty failed run (a full disk, a store that
    went away). When even the delete fails, `sync` finds the incomplete run and replaces it.
    """
    for step, call in (
        ("end", lambda: c.set_terminated(run_id, "KILLED", end_time=now_ms())),
        ("delete", lambda: c.delete_run(run_id)),
    ):
        try:
            call()
        except Exception as exc:
            log.warning("Could not %s the partial MLflow run %s: %s", step, run_id, exc)


def _log_files(c: Any, run_id: str, record: JobRecord) -> None:
    """The job dir's files (daily.csv, plots, summary.json, .hydra/ ...) and config.yaml."""
    import tempfile

    if not (record.job_dir / JOB_RUN_FILE).exists():  # one call for the whole dir
        c.log_artifacts(run_id, str(record.job_dir))
        paths: list[Path] = []
    else:
        paths = record.artifacts
    for path in paths:
        if path.is_dir():
            c.log_artifacts(run_id, str(path), artifact_path=path.name)
        elif path.is_file():
            c.log_artifact(run_id, str(path))
    if record.config and not (record.job_dir / "config.yaml").exists():
        with tempfile.TemporaryDirectory() as tmp:
            cfg_path = Path(tmp) / "config.yaml"
            cfg_path.write_text(_yaml_text(record.config))
            c.log_artifact(run_id, str(cfg_path))


def _yaml_text(config: dict[str, Any]) -> str:
    """The config as YAML with PyYAML's C emitter (OmegaConf's took ~40 ms a job; same text
    for the plain values a resolved config holds)."""
    import yaml

    dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
    return yaml.dump(config, Dumper=dumper, sort_keys=False, allow_unicode=True)


def _log_model(store: Store, run_id: str, record: JobRecord) -> None:
    """Serving hook: ems_sweep.serving.model.log_optimizer_model inside the child's active run."""
    try:
        from ems_sweep.serving.model import log_optimizer_model
    except ImportError as exc:
        warnings.warn(f"tracking.log_model=true but {exc}; model not logged", stacklevel=2)
        log.warning("tracking.log_model=true but ems_sweep.serving is unavailable: %s", exc)
        return
    import mlflow

    mlflow.set_tracking_uri(store.uri)
    mlflow.start_run(run_id=run_id)
    try:
        log_optimizer_model(record.config, name="optimizer")
    finally:
        # end_run would mark the run FINISHED; log_job sets the real status right after.
        mlflow.end_run(status="RUNNING")


def start_parent(
    store: Store, experiment: str, name: str, tags: dict[str, str], params: dict[str, str]
) -> str:
    """Create the sweep's parent run (RUNNING until finish_parent or the exit handler)."""
    from mlflow.entities import Param

    c = client(store)
    experiment_id = ensure_experiment(store, experiment)
    all_tags = {**tags, TAG_RUN_TYPE: RUN_TYPE_SWEEP, TAG_RUN_NAME: name}
    run = retry(
        lambda: c.create_run(experiment_id, start_time=now_ms(), tags=all_tags, run_name=name),
        "create parent",
    )
    run_id = run.info.run_id
    if params:
        plist = [Param(k, v) for k, v in params.items()]
        retry(lambda: c.log_batch(run_id, params=plist), "parent params")
    return run_id


def finish_parent(
    store: Store,
    run_id: str,
    status: str,
    table_csv: Path | None = None,
    tags: dict[str, str] | None = None,
    metrics: dict[str, float] | None = None,
) -> None:
    """Attach the sweep table and best/worst tags, then end the parent (and kill open children)."""
    from mlflow.entities import Metric, RunTag

    c = client(store)
    ts = now_ms()
    mlist = [Metric(k, float(v), ts, 0) for k, v in (metrics or {}).items()]
    tlist = [RunTag(k, str(v)) for k, v in (tags or {}).items()]
    if mlist or tlist:
        retry(lambda: c.log_batch(run_id, metrics=mlist, tags=tlist), "parent summary")
    if table_csv is not None and table_csv.exists():
        c.log_artifact(run_id, str(table_csv))
    kill_open_children(store, run_id)
    retry(lambda: c.set_terminated(run_id, status, end_time=now_ms()), "end parent")


def kill_open_children(store: Store, parent_run_id: str) -> int:
    """Mark children of the parent still RUNNING (a job killed while logging) as KILLED."""
    c = client(store)
    parent = retry(lambda: c.get_run(parent_run_id), "get parent")
    query = f"tags.`mlflow.parentRunId` = {_quote(parent_run_id)} and attributes.status = 'RUNNING'"
    runs = retry(
        lambda: c.search_runs([parent.info.experiment_id], filter_string=query), "open children"
    )
    for run in runs:
        retry(lambda r=run: c.set_terminated(r.info.run_id, "KILLED", end_time=now_ms()), "kill")
    return len(runs)
