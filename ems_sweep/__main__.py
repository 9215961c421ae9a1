"""`python -m ems_sweep`: compose the config with Hydra, validate it, run one job's pipeline."""

from __future__ import annotations

import atexit
import gc
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from ems_sweep.config import ConfigError, register_configs, validate

if TYPE_CHECKING:  # pandas comes with the result module: import it only when a job runs
    from ems_sweep.pipelines.result import JobResult

log = logging.getLogger("ems_sweep")

register_configs()


def freeze_gc_at_exit() -> None:
    """Skip the garbage collections of interpreter shutdown in this process.

    With MLflow, SQLAlchemy and pandas loaded they take 1-3 s per process, and a joblib sweep
    waits for its workers' shutdown. Frozen objects are left to the OS; files, loggers and
    stores are closed by their own exit handlers. Called per job as well: joblib workers get
    the task function by value and never import this module. Idempotent per process.
    """
    atexit.unregister(gc.freeze)
    atexit.register(gc.freeze)


freeze_gc_at_exit()


@hydra.main(version_base="1.3", config_path="pkg://ems_sweep.conf", config_name="config")
def run(cfg: DictConfig) -> JobResult:
    freeze_gc_at_exit()
    hydra_cfg = HydraConfig.get()
    job_dir = Path(hydra_cfg.runtime.output_dir)
    try:
        validate(cfg)
    except ConfigError as exc:
        if hydra_cfg.mode == RunMode.RUN:
            raise
        # In a sweep, a bad combination fails its own job only.
        from ems_sweep.pipelines.result import write_summary
        from ems_sweep.pipelines.runner import failed_result

        result = failed_result(cfg, job_dir, exc)
        write_summary(result)
        log.error("%s", exc)
        return result

    from ems_sweep.pipelines.runner import run_job

    result = run_job(cfg, job_dir)
    if hydra_cfg.mode == RunMode.RUN:
        print(f"{cfg.building.name} {cfg.mode.name.value}: {result.status} {result.key_figure}")
        print(f"Job files: {job_dir}")
    return result


def main() -> None:
    run()


if __name__ == "__main__":
    main()
