"""Jobs on hosts that do not see the sweep dir (e.g. Ray nodes without a shared file system).

Such a worker cannot read the parent run id from <sweep dir>/mlflow_sweep.json, so it asks the
tracking store instead: the launching process tags the sweep's parent run with its sweep dir
(`ems_sweep.sweep_dir`), and every job can rebuild that path from its own config, because
hydra.runtime.cwd is the launching process' directory and hydra.sweep.dir resolves to the same
string in every job of a sweep.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from ems_sweep.names import RUN_TYPE_SWEEP, TAG_PARENT_RUN, TAG_RUN_TYPE, TAG_SWEEP_DIR
from ems_sweep.tracking.store import Store, client, retry


def launching_sweep_dir(config: DictConfig) -> str:
    """The sweep dir as the launching process resolved it (and tagged the parent run with)."""
    return str((Path(config.hydra.runtime.cwd) / str(config.hydra.sweep.dir)).resolve())


def find_parent_run(store: Store, experiment: str, sweep_dir: str) -> str | None:
    """The id of the sweep's parent run in `experiment`, by its sweep-dir tag; None if absent."""
    from ems_sweep.tracking.logger import find_runs

    c = client(store)
    exp = retry(lambda: c.get_experiment_by_name(experiment), f"experiment {experiment}")
    if exp is None:
        return None
    runs = find_runs(
        store, exp.experiment_id, {TAG_SWEEP_DIR: sweep_dir, TAG_RUN_TYPE: RUN_TYPE_SWEEP}
    )
    parents = [r for r in runs if TAG_PARENT_RUN not in r.data.tags]
    if not parents:
        return None
    return max(parents, key=lambda r: r.info.start_time).info.run_id
