"""The peer of a CLI sweep: a plain script looping over the same configs in one process.

What a user would write instead of `python -m ems_sweep ... -m`: compose each config with
Hydra's compose API, run the same pipeline (`ems_sweep.pipelines.runner.run_job`, the same files),
log it with `mlflow.start_run` (the flattened config as params, the job's metrics, its dir as
artifacts). `--n-jobs 2` runs the loop body on `joblib.Parallel(2)` instead. The work per job is
a sweep job's: outside Hydra's multirun `pipeline.plots=null` would draw, so the loop passes
`pipeline.plots=false` unless its overrides set it (a sweep's jobs draw none by default).

    python benchmarks/plain_loop.py --out /tmp/loop --uri sqlite:////tmp/loop/mlflow.db \\
        --n-jobs 1 building=res1,res2 mode=centralized,centralized_phases n_days=7
"""

from __future__ import annotations

import argparse
import itertools
import math
import sys
import time
from pathlib import Path
from typing import Any

EXPERIMENT = "Pipeline_A_Comparison"
SWEEP_PLOTS = "pipeline.plots=false"  # what pipeline.plots=null means in a sweep's job


def expand(args: list[str]) -> list[list[str]]:
    """`key=a,b` sweeps (the cartesian product, in order, as Hydra's basic sweeper)."""
    choices = [[f"{k}={v}" for v in vals.split(",")] for k, vals in (a.split("=", 1) for a in args)]
    return [list(job) for job in itertools.product(*choices)]


def _compose(overrides: list[str]) -> Any:
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from ems_sweep.config import register_configs

    if not GlobalHydra.instance().is_initialized():  # once per process (joblib workers too)
        register_configs()
        initialize_config_module(config_module="ems_sweep.conf", version_base="1.3")
    return compose("config", overrides=overrides)


def run_one(num: int, overrides: list[str], out: str, uri: str) -> tuple[str, float]:
    """Compose, run and log one job; returns its status and its run's logging seconds."""
    import mlflow

    from ems_sweep.config import validate
    from ems_sweep.pipelines.runner import run_job
    from ems_sweep.tracking.record import flatten, param_value

    same_work = [] if any(o.startswith("pipeline.plots=") for o in overrides) else [SWEEP_PLOTS]
    cfg = _compose([*overrides, *same_work])
    validate(cfg)
    name = f"{num}_{','.join(overrides)}"
    result = run_job(cfg, Path(out) / name)
    started = time.perf_counter()
    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment(EXPERIMENT)
    from omegaconf import OmegaConf

    params = {k: param_value(v) for k, v in flatten(OmegaConf.to_container(cfg)).items()}
    metrics = {
        k: float(v)
        for k, v in result.metrics.items()
        if isinstance(v, int | float) and math.isfinite(v)
    }
    with mlflow.start_run(run_name=name):
        mlflow.log_params(params)
        mlflow.log_metrics(metrics)
        mlflow.log_artifacts(str(result.job_dir))
    return result.status, time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--out", type=Path, required=True, help="job dirs go here")
    parser.add_argument("--uri", required=True, help="MLflow tracking URI")
    parser.add_argument("--n-jobs", type=int, default=1, help="1: a for loop; 2: joblib(2)")
    parser.add_argument("overrides", nargs="+", help="key=value or key=a,b (swept)")
    args = parser.parse_args(argv)
    jobs = expand(args.overrides)
    args.out.mkdir(parents=True, exist_ok=True)
    import mlflow

    # The store and experiment once, before any worker (as the CLI's sweep start does): two
    # processes creating a new SQLite store at once collide in MLflow's migrations.
    mlflow.set_tracking_uri(args.uri)
    mlflow.set_experiment(EXPERIMENT)
    if args.n_jobs == 1:
        results = [run_one(i, o, str(args.out), args.uri) for i, o in enumerate(jobs)]
    else:
        from joblib import Parallel, delayed

        tasks = (delayed(run_one)(i, o, str(args.out), args.uri) for i, o in enumerate(jobs))
        results = Parallel(n_jobs=args.n_jobs)(tasks)
    failed = sum(1 for status, _ in results if status != "ok")
    print(f"{len(jobs)} jobs, {failed} failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
