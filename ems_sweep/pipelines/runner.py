"""Runs the configured pipeline for one job; a failing job returns a failed result, never raises."""

from __future__ import annotations

import logging
import time
import traceback
from pathlib import Path

from omegaconf import DictConfig

from ems_sweep.config import ConfigError, EmsConfig, PipelineName, typed
from ems_sweep.data.builtin import GeneratorError
from ems_sweep.data.errors import DataError
from ems_sweep.data.readers import FileFormatError
from ems_sweep.names import (
    ERROR_FILE,
    METRIC_OPTIMIZATION_SUCCESS,
    TAG_ERROR_TYPE,
    TAG_SOLVER_STATUS,
)
from ems_sweep.pipelines.result import JobResult, user_params, write_summary

log = logging.getLogger(__name__)

# Bad input (config, data files): their messages name the value; the traceback adds nothing for
# a user, so it goes to error.txt and to the log at DEBUG (`--verbose`) only.
EXPECTED_ERRORS = (ConfigError, DataError, GeneratorError, FileFormatError, FileNotFoundError)


def failed_result(cfg: DictConfig | EmsConfig, job_dir: Path, exc: BaseException) -> JobResult:
    job_dir.mkdir(parents=True, exist_ok=True)
    (job_dir / ERROR_FILE).write_text("".join(traceback.format_exception(exc)))
    return JobResult(
        status="failed",
        job_dir=job_dir,
        params=user_params(cfg),
        metrics={METRIC_OPTIMIZATION_SUCCESS: 0.0},
        tags={TAG_ERROR_TYPE: type(exc).__name__, TAG_SOLVER_STATUS: "error"},
        error=f"{type(exc).__name__}: {exc}",
        files=[job_dir / ERROR_FILE],
    )


def run_job(cfg: DictConfig | EmsConfig, job_dir: Path) -> JobResult:
    """Run one job; the composed config becomes typed objects here, once, for every stage."""
    started = time.perf_counter()
    try:
        job = cfg if isinstance(cfg, EmsConfig) else typed(cfg)
        if job.pipeline.name == PipelineName.learning:
            from ems_sweep.pipelines.learning import run_learning as run
        else:
            from ems_sweep.pipelines.comparison import run_comparison as run
        result = run(job, job_dir)
    except Exception as exc:  # one job's failure must not take the sweep down
        if isinstance(exc, EXPECTED_ERRORS):
            log.error("Job failed: %s", exc)
            log.debug("Traceback of the failure above", exc_info=exc)
        else:
            log.exception("Job failed: %s", exc)
        result = failed_result(cfg, job_dir, exc)
    result.metrics["job_pipeline_seconds"] = time.perf_counter() - started
    write_summary(result)
    return result
