"""Hydra callback: one MLflow run per job, one parent run per sweep (writers: README, "Tracking").

Main process (on_multirun_start/end): creates the store, the experiment(s) and the parent run
before any worker starts, writes the parent id into the sweep dir, and ends the parent with the
sweep table (tracking/sweep.end_parent, as `sync` does). The sweep report and the parent's
description are analysis work (analysis/sweep_callbacks.py), logged before this callback ends.
Workers (on_job_start/end): log their job from its files as a child run. If the
sweep dies (a job raised, Ctrl-C, SIGTERM), an exit handler ends the parent FAILED/KILLED.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import sys
import threading
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from ems_sweep.names import (
    ERROR_FILE,
    SWEEP_RUN_FILE,
    TAG_COMMAND,
    TAG_OVERRIDES,
    TAG_SWEEP_DIR,
    TAG_SWEPT_KEYS,
)
from ems_sweep.tracking.record import build_record, find_sweep_dir, write_marker
from ems_sweep.tracking.sweep import (
    end_parent,
    read_sweep_file,
    record_sweep_end,
    sweep_overrides,
    sweep_table,
    swept_keys,
    swept_values,
    write_sweep_file,
)

log = logging.getLogger(__name__)

SYNC_HINT = "python -m ems_sweep.tracking sync {}"
# In the sweep file while the launching process still sets up the store and parent runs.
SETUP_PENDING = "setup_pending"
SETUP_WAIT_S = 600.0  # a job waits at most this long for it (the main process watches workers)


def _wait_for_sweep_file(sweep_dir: Path) -> dict[str, Any]:
    """The sweep file once the launching process has set up the parent runs."""
    deadline = time.monotonic() + SETUP_WAIT_S
    while (sweep := read_sweep_file(sweep_dir)).get(SETUP_PENDING):
        if time.monotonic() > deadline:
            return {**sweep, "error": f"the sweep's store set-up took over {SETUP_WAIT_S:.0f} s"}
        time.sleep(0.05)
    return sweep


def _tracking(config: DictConfig) -> dict[str, Any]:
    node = OmegaConf.select(config, "tracking")
    return OmegaConf.to_container(node, resolve=True) if node is not None else {}  # type: ignore


def _command_line() -> str:
    prog = Path(sys.argv[0])
    name = f"python -m {prog.parent.name}" if prog.name == "__main__.py" else prog.name
    return " ".join([name, *sys.argv[1:]])


def _is_multirun(config: DictConfig) -> bool:
    mode = OmegaConf.select(config, "hydra.mode")
    return getattr(mode, "name", str(mode)) == RunMode.MULTIRUN.name


def _enabled(config: DictConfig) -> bool:
    return bool(_tracking(config).get("enabled", False))


def _keep_marker(job_dir: Path, **values: Any) -> None:
    """Write the job's marker; a full disk must not turn the finished job into a failed one."""
    try:
        write_marker(job_dir, **values)
    except OSError as exc:
        log.error("Could not write the marker of %s (%s); sync finds the job anyway", job_dir, exc)


@dataclass(frozen=True)
class _ParentSetup:
    """What the set-up thread needs, read from the config in the main thread."""

    tracking: dict[str, Any]
    cwd: Path
    sweep_dir: Path
    overrides: list[str]
    experiments: list[str]


def _start_parents(setup: _ParentSetup, data: dict[str, Any]) -> None:
    """One parent run per experiment the sweep logs to; store and ids go into data."""
    from ems_sweep.tracking.logger import start_parent
    from ems_sweep.tracking.store import configure_http, probe, resolve_store

    configure_http(setup.tracking)
    store = resolve_store(setup.tracking, setup.cwd)
    data.update(uri=store.uri, artifact_root=store.artifact_root)
    probe(store)  # fail fast; the jobs then write pending markers without retrying
    tags = {
        TAG_SWEEP_DIR: str(setup.sweep_dir),
        TAG_OVERRIDES: " ".join(setup.overrides),
        TAG_COMMAND: _command_line()[:5000],
        TAG_SWEPT_KEYS: ",".join(data["swept_keys"]),
    }
    if data.get("git_commit"):
        tags["git_commit"] = data["git_commit"]
    for exp in setup.experiments:
        data["parents"][exp] = start_parent(store, exp, f"sweep-{setup.sweep_dir.name}", tags, {})


class MlflowTrackingCallback(Callback):
    """Registered under hydra.callbacks; does nothing when tracking.enabled is false."""

    def __init__(self) -> None:
        self._job_start_ms: int | None = None
        self._sweep: dict[str, Any] | None = None  # main process only
        self._sweep_dir: Path | None = None
        self._killed = False
        self._previous_handlers: dict[int, Any] = {}
        self._setup: threading.Thread | None = None

    def __getstate__(self) -> dict[str, Any]:
        # Sent to workers: the main process' sweep state and handlers stay behind.
        return {"_job_start_ms": None, "_sweep": None, "_sweep_dir": None, "_killed": False,
                "_previous_handlers": {}, "_setup": None}  # fmt: skip

    # ---- main process -------------------------------------------------------------------
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not _enabled(config):
            return
        from ems_sweep.tracking.remote import launching_sweep_dir
        from ems_sweep.tracking.store import experiment_name

        tracking = _tracking(config)
        sweep_dir = Path(launching_sweep_dir(config))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        sweep = sweep_overrides(config)  # hydra.sweeper.params (named studies) + command line
        name = OmegaConf.select(config, "pipeline.name")
        pipelines = swept_values(sweep, "pipeline") or [getattr(name, "value", str(name))]
        setup = _ParentSetup(
            tracking=tracking,
            cwd=Path(config.hydra.runtime.cwd),
            sweep_dir=sweep_dir,
            overrides=list(config.hydra.overrides.task),
            experiments=sorted({experiment_name(tracking, p) for p in pipelines}),
        )
        data: dict[str, Any] = {"swept_keys": swept_keys(sweep), "parents": {}, "error": None}
        self._sweep_dir = sweep_dir
        self._sweep = data
        # The store and parent runs are set up while the first jobs start (importing MLflow and
        # opening the store take seconds); a job waits for the sweep file only to log.
        write_sweep_file(sweep_dir, {**data, SETUP_PENDING: True})
        self._setup = threading.Thread(
            target=self._set_up_store, args=(setup,), name="mlflow-sweep-setup", daemon=True
        )
        self._setup.start()
        self._install_exit_handlers()

    def _set_up_store(self, setup: _ParentSetup) -> None:
        """The store, the experiment(s) and the parent run(s), then the sweep file (a thread)."""
        from ems_sweep.tracking.logger import git_commit

        data = self._sweep
        assert data is not None
        started = time.perf_counter()
        data["git_commit"] = git_commit()
        try:
            _start_parents(setup, data)
        except Exception as exc:
            data["error"] = f"{type(exc).__name__}: {exc}"
            log.error(
                "MLflow tracking store unreachable at sweep start (%s). Jobs still run and keep "
                "their files; replay later with: %s",
                data["error"],
                SYNC_HINT.format(setup.sweep_dir),
            )
        try:
            write_sweep_file(setup.sweep_dir, data)
        except OSError as exc:  # a full disk
            log.error("Could not write the sweep file in %s: %s", setup.sweep_dir, exc)
            # Without it the jobs find the parent by its sweep-dir tag, as on a host that does
            # not see the sweep dir; the file left `setup_pending` would hold each for minutes.
            with contextlib.suppress(OSError):
                (Path(setup.sweep_dir) / SWEEP_RUN_FILE).unlink(missing_ok=True)
        log.info("MLflow sweep setup took %.2fs", time.perf_counter() - started)

    def _wait_for_setup(self) -> None:
        setup = self._setup
        if setup is not None and setup is not threading.current_thread():
            setup.join()

    def _install_exit_handlers(self) -> None:
        """End the parent FAILED/KILLED when the sweep dies before on_multirun_end."""
        atexit.register(self._end_sweep_on_exit)
        for sig in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(sig) == signal.SIG_IGN:
                continue  # e.g. a background job of a non-interactive shell: keep ignoring
            try:
                self._previous_handlers[sig] = signal.signal(sig, self._on_signal)
            except ValueError:  # not the main thread
                pass

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self._sweep is None:
            return
        self._wait_for_setup()
        self._finish_sweep("FINISHED")
        atexit.unregister(self._end_sweep_on_exit)
        for sig, handler in self._previous_handlers.items():
            signal.signal(sig, handler)
        self._previous_handlers = {}

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._killed = True
        previous = self._previous_handlers.get(signum)
        if signum == signal.SIGINT and callable(previous):
            previous(signum, frame)  # default: KeyboardInterrupt -> unwinds -> atexit handler
            return
        self._end_sweep_on_exit()
        signal.signal(signum, previous if previous is not None else signal.SIG_DFL)
        os.kill(os.getpid(), signum)

    def _end_sweep_on_exit(self) -> None:
        """The multirun ended without on_multirun_end: a job raised, or the sweep was killed."""
        self._wait_for_setup()
        self._finish_sweep("KILLED" if self._killed else "FAILED")

    def _finish_sweep(self, status: str) -> None:
        sweep, sweep_dir = self._sweep, self._sweep_dir
        self._sweep = None
        if sweep and sweep_dir is not None:
            record_sweep_end(sweep_dir, status)
        if not sweep or not sweep.get("parents") or sweep_dir is None:
            return
        from ems_sweep.tracking.store import Store

        store = Store(sweep["uri"], sweep.get("artifact_root"))
        rows: list[dict[str, Any]] | None = None
        for exp, run_id in sweep["parents"].items():
            try:
                rows = sweep_table(sweep_dir, sweep["swept_keys"]) if rows is None else rows
                end_parent(store, run_id, rows, status)
            except Exception as exc:
                log.error(
                    "Could not end MLflow parent run %s (%s): %s; end it with: %s",
                    run_id,
                    exp,
                    exc,
                    SYNC_HINT.format(sweep_dir),
                )

    # ---- worker process (or the main one for a single run) -------------------------------
    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._job_start_ms = int(time.time() * 1000)

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if not _enabled(config):
            return
        single = not _is_multirun(config)
        if single and job_return.status == JobStatus.COMPLETED and job_return._return_value is None:
            return  # the run returned no result (a config error before any work): nothing to log
        entered = time.perf_counter()
        end_ms = int(time.time() * 1000)
        job_dir = Path(config.hydra.runtime.output_dir)
        raised = job_return._return_value if job_return.status == JobStatus.FAILED else None
        if isinstance(raised, BaseException) and not (job_dir / ERROR_FILE).exists():
            text = "".join(traceback.format_exception(raised))
            try:
                (job_dir / ERROR_FILE).write_text(text)
            except OSError as exc:  # e.g. a full disk: the error still reaches the run's tags
                log.error("Could not write %s: %s", job_dir / ERROR_FILE, exc)
        # The marker (mlflow_run.json) is written after logging, so it is not an artifact.
        marker: dict[str, Any] = {"start_time_ms": self._job_start_ms or end_ms,
                                  "end_time_ms": end_ms}  # fmt: skip
        try:
            run_id, name = self._log_job(config, job_dir, raised, marker)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            target = find_sweep_dir(job_dir) or job_dir
            log.error(
                "MLflow logging failed for job %s: %s. The job's result and files are kept; "
                "replay with: %s",
                job_dir,
                error,
                SYNC_HINT.format(target),
            )
            _keep_marker(job_dir, **marker, status="pending", error=error,
                         tracking_seconds=time.perf_counter() - entered)  # fmt: skip
            return
        seconds = time.perf_counter() - entered
        _keep_marker(job_dir, **marker, status="logged", run_id=run_id, run_name=name,
                     error=None, tracking_seconds=seconds)  # fmt: skip
        log.info("MLflow run %s (%s) logged in %.2fs", run_id, name, seconds)

    def _log_job(
        self,
        config: DictConfig,
        job_dir: Path,
        raised: BaseException | None,
        times: dict[str, int],
    ) -> tuple[str, str]:
        """Log the job dir as a run of its store (a sweep's: its parent's); (run id, name)."""
        from ems_sweep.tracking.logger import git_commit, log_job
        from ems_sweep.tracking.store import configure_http, experiment_name

        sweep = _job_sweep(job_dir) if _is_multirun(config) else None
        keys = sweep.get("swept_keys", []) if sweep else []
        record = build_record(job_dir, keys, raised if isinstance(raised, BaseException) else None)
        record.start_time_ms = times["start_time_ms"]
        record.end_time_ms = times["end_time_ms"]
        configure_http(record.tracking)
        experiment = experiment_name(record.tracking, record.pipeline)
        commit = sweep.get("git_commit") if sweep is not None else git_commit()
        extra = {"git_commit": commit} if commit else {}
        store, parent_id = _store_and_parent(config, record.tracking, sweep, experiment)
        run_id = log_job(record, store, experiment, parent_run_id=parent_id, extra_tags=extra)
        return run_id, record.run_name


def _job_sweep(job_dir: Path) -> dict[str, Any]:
    """The sweep file a sweep's job logs by ({} when this host does not see the sweep dir)."""
    sweep_dir = find_sweep_dir(job_dir)
    sweep = _wait_for_sweep_file(sweep_dir) if sweep_dir else {}
    if sweep.get("error"):
        raise RuntimeError(f"store unreachable at sweep start ({sweep['error']})")
    return sweep


def _store_and_parent(
    config: DictConfig, tracking: dict[str, Any], sweep: dict[str, Any] | None, experiment: str
) -> tuple[Any, str | None]:
    """The store to log to (from the job's tracking section) and the parent run id (None for a
    single run)."""
    from ems_sweep.tracking.store import Store, probe, resolve_store

    store = resolve_store(tracking, Path(config.hydra.runtime.cwd))
    if not sweep:
        probe(store)  # a single run (or no sweep file): one short request, not a minute
    if sweep is None:
        return store, None
    parent_id = sweep.get("parents", {}).get(experiment)
    if sweep.get("uri"):
        store = Store(sweep["uri"], sweep.get("artifact_root"))  # the parent's store
    if not sweep:
        # No sweep file: this host does not see the sweep dir (a Ray node without a shared
        # file system); the parent is found in the store by its sweep-dir tag.
        from ems_sweep.tracking.remote import find_parent_run, launching_sweep_dir

        parent_id = find_parent_run(store, experiment, launching_sweep_dir(config))
    if parent_id is None:
        log.warning("No parent run for experiment %s in the sweep file or store", experiment)
    return store, parent_id
