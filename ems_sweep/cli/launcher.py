"""Hydra's joblib launcher, made to outlive a dead worker and to end its workers with the sweep.

`hydra/launcher=ems_joblib` (the default) is hydra-joblib-launcher's JoblibLauncher with its
settings and its own `execute_job` per job; what this subclass adds:

- A worker that dies (killed, out of memory) or a job that fails outside its own code (Hydra
  cannot save `.hydra/` on a full disk) no longer aborts the sweep: the jobs still to run are
  launched again, each job that was running when the worker died is retried once on its own,
  and one that is lost again is recorded FAILED with the reason (summary.json, error.txt and
  its MLflow run through the callbacks), like any failed job.
- SIGTERM of the main process stops the joblib pool first (its workers are killed, so none
  goes on or logs a run later), then hands the signal on (the tracking callback ends the parent
  KILLED). A worker whose main process is gone (SIGKILL) exits within a second.
- A worker reads each config file once per launch, not once per job (compose_cache): about a
  third of the time Hydra takes to compose a job's config.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import traceback
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, _save_config, filter_overrides, setup_globals
from hydra.types import HydraContext, TaskFunction
from hydra_plugins.hydra_joblib_launcher import _core
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher as _JoblibLauncher
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from ems_sweep.cli import compose_cache

log = logging.getLogger(__name__)

PARENT_CHECK_S = 1.0


class SweepTerminated(BaseException):
    """SIGTERM reached the main process while jobs ran (BaseException: no job code catches it)."""


class JobLost(Exception):
    """A job that returned nothing: its worker died, or Hydra failed around the job's code."""


def _exit_with_parent() -> None:
    """In a worker: exit when the main process is gone (SIGKILL leaves no one to stop us)."""
    parent = os.getppid()

    def watch() -> None:
        while True:
            time.sleep(PARENT_CHECK_S)
            if os.getppid() != parent:
                os._exit(1)

    if not getattr(_exit_with_parent, "started", False):
        _exit_with_parent.started = True  # type: ignore[attr-defined]
        threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def execute_job(
    idx: int,
    launch: str,
    overrides: list[str],
    hydra_context: HydraContext,
    config: DictConfig,
    task_function: TaskFunction,
    singleton_state: dict[Any, Any],
) -> tuple[int, JobReturn | str]:
    """Hydra's joblib task with the job number; an error outside the job comes back as text.

    Hydra's `_core.execute_job` parameters plus the launch id. The job's config is composed by
    a loader that keeps the config files it reads for the
    worker's next jobs of the same launch (compose_cache)."""
    _exit_with_parent()
    try:
        context = compose_cache.caching_context(hydra_context, launch)
        job = _core.execute_job(idx, overrides, context, config, task_function, singleton_state)
        return idx, job
    except Exception as exc:  # the job's own errors are handled inside it: this is Hydra's
        return idx, "".join(traceback.format_exception(exc))


def _started_jobs(sweep_dir: Path) -> set[int]:
    """Job numbers whose job dir exists (Hydra creates it when the job starts)."""
    from ems_sweep.tracking.record import load_hydra_info

    nums = set()
    for hydra_file in sweep_dir.glob("**/.hydra/hydra.yaml"):
        num = load_hydra_info(hydra_file.parent.parent).get("num")
        if isinstance(num, int):
            nums.add(num)
    return nums


class JoblibLauncher(_JoblibLauncher):
    """hydra-joblib-launcher's launcher; see the module docstring for what it adds."""

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        from hydra.core.utils import configure_log

        setup_globals()
        assert self.config is not None and self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        joblib_cfg = dict(self.joblib)
        joblib_cfg["backend"] = "loky"  # as the plugin: threads are incompatible with Hydra
        _core.process_joblib_cfg(joblib_cfg)
        settings = ",".join(f"{k}={v}" for k, v in joblib_cfg.items())
        log.info("Joblib.Parallel(%s) is launching %d jobs", settings, len(job_overrides))
        log.info("Launching jobs, sweep output dir : %s", sweep_dir)
        jobs = {initial_job_idx + i: list(o) for i, o in enumerate(job_overrides)}
        for idx, overrides in jobs.items():
            log.info("\t#%d : %s", idx, " ".join(filter_overrides(overrides)))

        returns: dict[int, JobReturn] = {}
        self._launch = uuid.uuid4().hex  # the workers keep config files for this launch only
        with _sigterm_stops_pool():
            self._run_all(jobs, returns, joblib_cfg, sweep_dir)
        return [returns[idx] for idx in jobs]

    def _run_all(
        self,
        jobs: dict[int, list[str]],
        returns: dict[int, JobReturn],
        joblib_cfg: dict[str, Any],
        sweep_dir: Path,
    ) -> None:
        """Run every job; after a worker died, run on with the jobs that did not return."""
        todo = list(jobs)
        while todo:
            died = self._run_batch(todo, jobs, returns, joblib_cfg)
            if died is None:
                return
            missing = [i for i in todo if i not in returns]
            in_flight = sorted(_started_jobs(sweep_dir) & set(missing)) or missing[:1]
            log.error(
                "A joblib worker died (%s) while jobs %s ran; retrying them one at a time",
                died,
                in_flight,
            )
            for idx in in_flight:  # alone, so a job that kills its worker again is the culprit
                # one task, in a worker process (n_jobs=1 would run it in this process)
                again = self._run_batch([idx], jobs, returns, {**joblib_cfg, "n_jobs": 2})
                if again is not None:
                    returns[idx] = self._record_lost(idx, jobs[idx], f"worker died twice: {again}")
            todo = [i for i in missing if i not in returns]

    def _run_batch(
        self,
        indices: list[int],
        jobs: dict[int, list[str]],
        returns: dict[int, JobReturn],
        joblib_cfg: dict[str, Any],
    ) -> str | None:
        """Run jobs in one joblib.Parallel; the reason when a worker died, else None."""
        from joblib import Parallel, delayed
        from joblib.externals.loky.process_executor import BrokenProcessPool

        state = Singleton.get_state()
        tasks = (
            delayed(execute_job)(
                idx,
                self._launch,
                jobs[idx],
                self.hydra_context,
                self.config,
                self.task_function,
                state,
            )
            for idx in indices
        )
        try:
            for idx, ret in Parallel(**joblib_cfg, return_as="generator_unordered")(tasks):
                if isinstance(ret, str):  # Hydra failed around the job
                    returns[idx] = self._record_lost(idx, jobs[idx], ret.strip().splitlines()[-1])
                    log.debug("Hydra's traceback of job %d:\n%s", idx, ret)
                else:
                    returns[idx] = ret
        except BrokenProcessPool as exc:
            return f"{type(exc).__name__}: {exc}".splitlines()[0]
        return None

    def _record_lost(self, idx: int, overrides: list[str], reason: str) -> JobReturn:
        """Record a lost job as a failed job: its files, then the callbacks (MLflow run)."""
        from ems_sweep.pipelines.result import write_summary
        from ems_sweep.pipelines.runner import failed_result

        assert self.config is not None and self.hydra_context is not None
        log.error("Job #%d (%s) lost: %s", idx, " ".join(overrides), reason)
        config = self.hydra_context.config_loader.load_sweep_config(self.config, overrides)
        with open_dict(config):
            config.hydra.job.id = f"{config.hydra.job.name}_{idx}"
            config.hydra.job.num = idx
        HydraConfig.instance().set_config(config)
        job_dir = Path(str(config.hydra.sweep.dir)) / str(config.hydra.sweep.subdir)
        with read_write(config.hydra.runtime), open_dict(config.hydra.runtime):
            config.hydra.runtime.output_dir = str(job_dir.resolve())
        task_cfg = OmegaConf.masked_copy(config, [k for k in config if k != "hydra"])
        ret = JobReturn(
            overrides=overrides,
            cfg=task_cfg,
            hydra_cfg=OmegaConf.create({"hydra": config.hydra}),
            working_dir=os.getcwd(),
            task_name=str(config.hydra.job.name),
            status=JobStatus.COMPLETED,
        )
        try:
            hydra_dir = job_dir / str(config.hydra.output_subdir)
            _save_config(task_cfg, "config.yaml", hydra_dir)
            _save_config(OmegaConf.create({"hydra": config.hydra}), "hydra.yaml", hydra_dir)
            _save_config(config.hydra.overrides.task, "overrides.yaml", hydra_dir)
            result = failed_result(task_cfg, job_dir, JobLost(reason))
            write_summary(result)
            ret.return_value = result
        except Exception as exc:  # a full disk: the log line above is all that is left
            log.error("Could not write the files of lost job #%d: %s", idx, exc)
            from ems_sweep.cli import outcome

            outcome.note_unrecorded(f"#{idx} {' '.join(overrides)}")
            return ret
        self.hydra_context.callbacks.on_job_end(config=config, job_return=ret)
        return ret


class _sigterm_stops_pool:
    """While jobs run, SIGTERM raises SweepTerminated in the main thread: joblib then kills
    its workers (it aborts on any BaseException), and the signal goes to the previous handler."""

    def __enter__(self) -> None:
        self.previous: Any = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.getsignal(signal.SIGTERM)
            if self.previous != signal.SIG_IGN:
                signal.signal(signal.SIGTERM, self._raise)

    @staticmethod
    def _raise(signum: int, frame: Any) -> None:
        raise SweepTerminated(signum)

    def __exit__(self, kind: Any, exc: BaseException | None, tb: Any) -> bool:
        if self.previous is None or self.previous == signal.SIG_IGN:
            return False
        signal.signal(signal.SIGTERM, self.previous)
        if isinstance(exc, SweepTerminated):
            log.error("SIGTERM: the sweep's workers were stopped")
            if callable(self.previous):
                self.previous(signal.SIGTERM, None)  # e.g. the tracking callback's handler
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)
        return False
