"""The process exit code of `python -m ems_sweep`, read from the job files Hydra's run left.

Scripts and CI see a failure only through the exit code, so it follows the files (summary.json
of every job), not the log: 0 when every job succeeded, EXIT_FAILED for a failed single run,
EXIT_BAD_INPUT for a config value rejected before any work, EXIT_JOBS_FAILED when a sweep ran to
its end but some of its jobs failed (the last line names how many and where).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_JOBS_FAILED = 3
CONFIG_ERROR_TYPE = "ConfigError"


@dataclass
class Outcome:
    code: int = EXIT_OK
    message: str = ""


_outcome = Outcome()


def current() -> Outcome:
    """What the run of this process ended with (set by OutcomeCallback)."""
    return _outcome


def reject(message: str) -> None:
    """A config value was rejected before any work (a single run): exit with message."""
    global _outcome
    _outcome = Outcome(EXIT_BAD_INPUT, message)


def rejected() -> bool:
    """This process' single run stopped at a config error (nothing to log to MLflow)."""
    return _outcome.code == EXIT_BAD_INPUT


def reset() -> None:
    global _outcome
    _outcome = Outcome()
    _unrecorded.clear()


def single_run_outcome(summary: dict[str, Any] | None) -> Outcome:
    """A single run's exit code from its summary.json (none: the job did not finish)."""
    if summary is None:
        return Outcome(EXIT_FAILED, "the run wrote no summary.json: it did not finish")
    if summary.get("status") == "ok":
        return Outcome()
    if summary.get("tags", {}).get("error_type") == CONFIG_ERROR_TYPE:
        return Outcome(EXIT_BAD_INPUT)
    return Outcome(EXIT_FAILED)


_unrecorded: list[str] = []  # jobs lost without a job dir to say so (e.g. a full disk)


def note_unrecorded(job: str) -> None:
    """A lost job whose files could not be written still counts as failed in the exit code."""
    _unrecorded.append(job)


def sweep_outcome(sweep_dir: Path, unrecorded: list[str] | None = None) -> Outcome:
    """A sweep's exit code from its job dirs: jobs without an ok summary.json count as failed."""
    from ems_sweep.pipelines.result import read_summary
    from ems_sweep.tracking.sweep import job_dirs

    jobs = job_dirs(sweep_dir)
    failed = [d.name for d in jobs if (read_summary(d) or {}).get("status") != "ok"]
    failed += unrecorded or []
    total = len(jobs) + len(unrecorded or [])
    if not total:  # job dirs elsewhere (e.g. node-local on Ray): the files cannot tell
        return Outcome(
            EXIT_OK,
            f"Sweep {sweep_dir}: no job dir below it, so the exit code cannot reflect the jobs' "
            "results (hydra.sweep.subdir points elsewhere)",
        )
    if not failed:
        return Outcome()
    names = ", ".join(failed[:5]) + (" ..." if len(failed) > 5 else "")
    message = (
        f"{len(failed)} of {total} jobs failed (error.txt in their job dirs under "
        f"{sweep_dir}: {names})"
    )
    return Outcome(EXIT_JOBS_FAILED, message)


class OutcomeCallback(Callback):
    """Records the outcome of the run in the launching process for `main` to exit with."""

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        from hydra.types import RunMode
        from omegaconf import OmegaConf

        from ems_sweep.pipelines.result import read_summary

        mode = OmegaConf.select(config, "hydra.mode")
        if getattr(mode, "name", str(mode)) != RunMode.RUN.name:
            return  # a sweep's worker: the main process reads the files at the end
        global _outcome
        if rejected():
            return  # rejected before any work: there is no summary to read
        _outcome = single_run_outcome(read_summary(Path(config.hydra.runtime.output_dir)))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        global _outcome
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_absolute():
            sweep_dir = Path(config.hydra.runtime.cwd) / sweep_dir
        if sweep_dir.exists():
            _outcome = sweep_outcome(sweep_dir, _unrecorded)
        else:
            _outcome = Outcome(EXIT_FAILED, f"Sweep {sweep_dir}: no job ran")
