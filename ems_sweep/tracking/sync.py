"""Replay job dirs into MLflow (after an unreachable store), never duplicating a logged run.

A job counts as logged when its experiment holds a FINISHED/FAILED run tagged with its job dir
(`ems_sweep.job_dir`); anything else (no run, or a run cut off while logging) is (re)logged.
A sweep dir gets its parent run (found by `ems_sweep.sweep_dir`, else created) and its table.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ems_sweep.tracking.logger import (
    TERMINAL_KEPT,
    find_runs,
    finish_parent,
    git_commit,
    log_job,
    start_parent,
)
from ems_sweep.tracking.record import build_record, find_sweep_dir, load_hydra_info, write_marker
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
    TABLE_FILE,
    best_and_worst,
    job_dirs,
    read_sweep_file,
    recorded_swept_keys,
    sweep_table,
    write_sweep_file,
    write_table,
)

log = logging.getLogger(__name__)


@dataclass
class SyncReport:
    logged: list[str] = field(default_factory=list)  # job dirs logged now
    skipped: list[str] = field(default_factory=list)  # already in the store
    parents: list[str] = field(default_factory=list)  # parent run ids created


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
    tags = {"ems_sweep.run_type": "sweep", "ems_sweep.sweep_dir": str(sweep_dir)}
    found = find_runs(store, experiment_id, tags)
    if found:
        return found[0].info.run_id, False
    commit = sweep.get("git_commit") or git_commit()
    new_tags = {**tags, "ems_sweep.replayed": "true"}
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
        keys = recorded_swept_keys(sweep_dir)
        record = build_record(job_dir, keys)
        tracking = dict(record.tracking)
        if experiment:
            tracking["experiment"] = experiment
        configure_http(tracking)
        store = _store_for(job_dir, uri, tracking)
        exp = experiment_name(tracking, record.pipeline)
        experiment_id = ensure_experiment(store, exp)
        existing = find_runs(store, experiment_id, {"ems_sweep.job_dir": str(job_dir)})
        if any(r.info.status in TERMINAL_KEPT for r in existing):
            report.skipped.append(str(job_dir))
            continue
        mlflow_client = client(store)
        for run in existing:  # cut off while logging: replace it
            retry(lambda r=run, c=mlflow_client: c.delete_run(r.info.run_id), "delete partial")
        parent_id = None
        if sweep_dir is not None:
            parent_id, created = _parent_for(store, exp, sweep_dir, report)
            if created:
                to_close[(store.uri, parent_id)] = (store, sweep_dir)
        extra = {"ems_sweep.replayed": "true"}
        commit = (read_sweep_file(sweep_dir).get("git_commit") if sweep_dir else None) or None
        if commit:
            extra["git_commit"] = commit
        run_id = log_job(
            record,
            store,
            exp,
            parent_run_id=parent_id,
            extra_tags=extra,
            log_artifacts=bool(tracking.get("log_artifacts", True)),
            log_model=bool(tracking.get("log_model", False)),
        )
        write_marker(job_dir, status="logged", run_id=run_id, run_name=record.run_name, error=None)
        report.logged.append(str(job_dir))
        log.info("logged %s as run %s", job_dir, run_id)
    for (_, parent_id), (store, sweep_dir) in to_close.items():
        rows = sweep_table(sweep_dir, recorded_swept_keys(sweep_dir))
        failed = sum(1 for r in rows if r["status"] != "ok")
        metrics = {"n_jobs": len(rows), "n_failed": failed, "n_ok": len(rows) - failed}
        with tempfile.TemporaryDirectory() as tmp:
            table = write_table(rows, Path(tmp) / TABLE_FILE)
            finish_parent(store, parent_id, "FINISHED", table, best_and_worst(rows), metrics)
    return report
