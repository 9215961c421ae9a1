"""Every job of a sweep writes under the sweep dir the launching process resolved.

`hydra.sweep.dir` is relative (outputs/multirun/<date>/<time>) and Hydra makes a job dir
absolute against the cwd of the process that runs the job: a Ray worker's cwd is the Ray node's
working directory, so the jobs' files landed there and the end-of-sweep table found none.
Launchers compose each job's config again from `hydra.overrides.hydra` (Ray, submitit, joblib
alike), so the launching process adds the sweep dir as an absolute override there once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

SWEEP_DIR_KEY = "hydra.sweep.dir"


def absolute_sweep_dir(config: DictConfig) -> str:
    """The sweep dir against the launching process' cwd (timestamps resolved once, here)."""
    return str((Path(config.hydra.runtime.cwd) / str(config.hydra.sweep.dir)).resolve())


def _quoted(value: str) -> str:
    """A Hydra override value that stays one string (commas, spaces, quotes in the path)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class AbsoluteSweepDirCallback(Callback):
    """Pins hydra.sweep.dir to its absolute path before the launcher composes any job."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = absolute_sweep_dir(config)
        overrides = config.hydra.overrides
        with read_write(config.hydra), open_dict(config.hydra):
            # unresolved: an override may hold an interpolation (`subdir=${hydra.job.num}`)
            given = OmegaConf.to_container(overrides.hydra, resolve=False)
            kept = [o for o in given if not str(o).startswith(f"{SWEEP_DIR_KEY}=")]
            overrides.hydra = [*kept, f"{SWEEP_DIR_KEY}={_quoted(sweep_dir)}"]
            config.hydra.sweep.dir = sweep_dir
