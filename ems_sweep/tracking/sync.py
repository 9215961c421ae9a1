"""Replay job dirs into MLflow (after an unreachable store), never duplicating a logged run.

The job's files are the truth. A job counts as logged when its experiment holds a run tagged
with its job dir (`ems_sweep.job_dir`) that matches them: the status the files give, every
metric of summary.json, and (when artifacts are logged) summary.json among its artifacts.
Anything else (no run, a run cut off while logging, left RUNNING, or marked FAILED by a store
error) is replaced. A sweep dir gets its parent run (found by `ems_sweep.sweep_dir`, else
created) with its table, and a parent left RUNNING (the sweep's process died, or the store
failed at its end) is ended: FINISHED when every job dir has its summary.json, else FAILED.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ems_sweep.names import (
    RUN_TYPE_SWEEP,
    SUMMARY_FILE,
    TAG_JOB_DIR,
    TAG_REPLAYED,
    TAG_RUN_TYPE,
    TAG_SWEEP_DIR,
)
from ems_sweep.tracking.logger import find_runs, git_commit, log_job, start_parent
from ems_sweep.tracking.record import (
    JobNotStarted,
    JobRecord,
    build_record,
    find_sweep_dir,
    load_hydra_info,
    write_marker,
)
from ems_sweep.tracking.store import (
    Store,
    client,
    configure_http,
    ensure_experiment,
    experiment_name,
    resolve_store,
    retry,
)
from ems_sweep.tracking.sweep import (
    end_parent,
    job_dirs,
    read_sweep_file,
    recorded_swept_keys,
    sweep_status,
    sweep_table,
    write_sweep_file,
)

log = logging.getLogger(__name__)


@dataclass
class SyncReport:
    logged: list[str] = field(default_factory=list)  # job dirs logged now
    skipped: list[str] = field(default_factory=list)  # already in the store
    parents: list[str] = field(default_factory=list)  # parent run ids created
    repaired: list[str] = field(default_factory=list)  # job dirs whose incomplete run was replaced
    ended: list[str] = field(default_factory=list)  # parent run ids left RUNNING, ended now
    not_started: list[str] = field(default_factory=list)  # job dirs Hydra never set up (killed)


def is_complete(run: Any, record: JobRecord, c: Any, log_artifacts: bool) -> bool:
    """The store's run holds what the job's files say (status, metrics, summary artifact)."""
    if run.info.status != record.status or not set(record.metrics) <= set(run.data.metrics):
        return False
    if log_artifacts and (record.job_dir / SUMMARY_FILE).exists():
        names = {a.path for a in retry(lambda: c.list_artifacts(run.info.run_id), "artifacts")}
        return SUMMARY_FILE in names
    return True


def _store_for(job_dir: Path, uri: str | None, tracking: dict) -> Store:
    if uri:
        return resolve_store({**tracking, "uri": uri}, Path.cwd())
    cwd = load_hydra_info(job_dir).get("cwd")
    return resolve_store(tracking, Path(cwd) if cwd else Path.cwd())


def _parent_for(
    store: Store, experiment: str, sweep_dir: Path, report: SyncReport
) -> tuple[str, bool]:
    """The sweep's parent run in this store: (run id, created now?)."""
    sweep = read_sweep_file(sweep_dir)
    run_id = sweep.get("parents", {}).get(experiment)
    experiment_id = ensure_experiment(store, experiment)
    if run_id and sweep.get("uri") == store.uri:
        try:
            retry(lambda: client(store).get_run(run_id), "get parent")
            return run_id, False
        except Exception:
            pass
    tags = {TAG_RUN_TYPE: RUN_TYPE_SWEEP, TAG_SWEEP_DIR: str(sweep_dir)}
    found = find_runs(store, experiment_id, tags)
    if found:
        return found[0].info.run_id, False
    commit = sweep.get("git_commit") or git_commit()
    new_tags = {**tags, TAG_REPLAYED: "true"}
    if commit:
        new_tags["git_commit"] = commit
    run_id = start_parent(store, experiment, f"sweep-{sweep_dir.name}", new_tags, {})
    report.parents.append(run_id)
    if sweep.get("error") or not sweep.get("uri") or sweep.get("uri") == store.uri:
        # The sweep never reached its store: this replay's parent becomes the sweep's parent.
        sweep.setdefault("parents", {})[experiment] = run_id
        sweep.update(uri=store.uri, artifact_root=store.artifact_root, error=None)
        sweep.setdefault("swept_keys", recorded_swept_keys(sweep_dir))
        write_sweep_file(sweep_dir, sweep)
    return run_id, True


def sync(path: Path, uri: str | None = None, experiment: str | None = None) -> SyncReport:
    """Log every job dir under path (a job dir or a sweep dir) not yet in its store."""
    path = Path(path).resolve()
    dirs = job_dirs(path) if not (path / ".hydra").is_dir() else [path]
    if not dirs:
        raise FileNotFoundError(f"no Hydra job dir (with .hydra/config.yaml) under {path}")
    report = SyncReport()
    to_close: dict[tuple[str, str], tuple[Store, Path]] = {}
    for job_dir in dirs:
        sweep_dir = find_sweep_dir(job_dir)
        try:
            record = build_record(job_dir, recorded_swept_keys(sweep_dir))
        except JobNotStarted:
            report.not_started.append(str(job_dir))
            continue
        if experiment:
            record.tracking["experiment"] = experiment
        configure_http(record.tracking)
        sweep = read_sweep_file(sweep_dir) if sweep_dir else {}
        if uri is None and sweep.get("uri"):  # the parent's store, as the callback logs to
            store = Store(sweep["uri"], sweep.get("artifact_root"))
        else:
            store = _store_for(job_dir, uri, record.tracking)
        exp = experiment_name(record.tracking, record.pipeline)
        parent_id = None
        if sweep_dir is not None:
            parent_id, created = _parent_for(store, exp, sweep_dir, report)
            if created or _is_running(store, parent_id):
                to_close[(store.uri, parent_id)] = (store, sweep_dir)
        _replay(record, store, exp, parent_id, sweep.get("git_commit"), report)
    for (_, parent_id), (store, sweep_dir) in to_close.items():
        if parent_id not in report.parents:
            report.ended.append(parent_id)
        rows = sweep_table(sweep_dir, recorded_swept_keys(sweep_dir))
        end_parent(store, parent_id, rows, sweep_status(sweep_dir))
    return report


def _replay(
    record: JobRecord,
    store: Store,
    experiment: str,
    parent_id: str | None,
    commit: str | None,
    report: SyncReport,
) -> None:
    """Log the job unless its store holds a complete run of it; an incomplete one is replaced.

    Six parameters: the job's record, where it goes, and the report it adds to.
    """
    job_dir = record.job_dir
    experiment_id = ensure_experiment(store, experiment)
    existing = find_runs(store, experiment_id, {TAG_JOB_DIR: str(job_dir)})
    mlflow_client = client(store)
    _end_deleted_partials(mlflow_client, store, experiment_id, job_dir)
    log_artifacts = bool(record.tracking.get("log_artifacts", True))
    if any(is_complete(r, record, mlflow_client, log_artifacts) for r in existing):
        report.skipped.append(str(job_dir))
        return
    for run in existing:  # incomplete (cut off, left RUNNING, wrongly FAILED): replace it
        _discard(mlflow_client, run)
    if existing:
        report.repaired.append(str(job_dir))
    extra = {TAG_REPLAYED: "true", **({"git_commit": commit} if commit else {})}
    run_id = log_job(record, store, experiment, parent_run_id=parent_id, extra_tags=extra)
    write_marker(job_dir, status="logged", run_id=run_id, run_name=record.run_name, error=None)
    report.logged.append(str(job_dir))
    log.info("logged %s as run %s", job_dir, run_id)


def _end_deleted_partials(c: Any, store: Store, experiment_id: str, job_dir: Path) -> None:
    """Partial runs deleted while the store could not end them: end them KILLED (none stays
    RUNNING, even among deleted runs)."""
    for run in find_runs(store, experiment_id, {TAG_JOB_DIR: str(job_dir)}, deleted=True):
        if run.info.status == "RUNNING":
            retry(lambda r=run: c.set_terminated(r.info.run_id, "KILLED"), "end partial")


def _discard(c: Any, run: Any) -> None:
    """Delete an incomplete run; one left RUNNING is ended KILLED first (none stays RUNNING)."""
    if run.info.status == "RUNNING":
        retry(lambda: c.set_terminated(run.info.run_id, "KILLED"), "end partial")
    retry(lambda: c.delete_run(run.info.run_id), "delete partial")


def _is_running(store: Store, run_id: str) -> bool:
    return retry(lambda: client(store).get_run(run_id), "get parent").info.status == "RUNNING"
