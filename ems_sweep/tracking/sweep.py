"""The sweep side: the parent-run file in the sweep dir, the sweep table, the parent's end.

The parent run id travels to the jobs through `<sweep_dir>/mlflow_sweep.json`, a file, so jobs
launched in other processes or on other hosts (submitit, Ray, shared file system) find it too.
The sweep table (one row per job, from the job dirs' summary.json) is the one table of a sweep:
the parent run's artifact, `<sweep_dir>/sweep_table.csv`, and the rows the analysis side prints
and reports (analysis/sweep_table.py formats them).
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ems_sweep.names import (
    METRIC_AVG_SAVINGS_PCT,
    METRIC_CONSTRAINT_VIOLATIONS,
    METRIC_OPTIMIZATION_TIME,
    METRIC_SAVINGS_EUR,
    METRIC_SAVINGS_PCT,
    METRIC_TOTAL_COST,
    SUMMARY_FILE,
    SWEEP_RUN_FILE,
    SWEEP_TABLE_FILE,
    TAG_N_JOBS,
)
from ems_sweep.pipelines.result import read_summary, write_json
from ems_sweep.tracking.record import load_hydra_info, read_json, read_marker

if TYPE_CHECKING:
    from ems_sweep.tracking.store import Store

# The job figures of a sweep table row, as summary.json has them.
TABLE_METRICS = (
    METRIC_AVG_SAVINGS_PCT,
    METRIC_SAVINGS_PCT,
    METRIC_SAVINGS_EUR,
    METRIC_TOTAL_COST,
    METRIC_CONSTRAINT_VIOLATIONS,
    METRIC_OPTIMIZATION_TIME,
)


def read_sweep_file(sweep_dir: Path) -> dict[str, Any]:
    return read_json(Path(sweep_dir) / SWEEP_RUN_FILE)


def write_sweep_file(sweep_dir: Path, data: dict[str, Any]) -> None:
    write_json(Path(sweep_dir) / SWEEP_RUN_FILE, data)


def record_sweep_end(sweep_dir: Path, status: str) -> None:
    """Note in the sweep file how the sweep ended, before the store is told (it may fail)."""
    try:
        write_sweep_file(sweep_dir, {**read_sweep_file(sweep_dir), "ended": status})
    except OSError:  # a full disk: `sync` then judges by the job files alone
        pass


def sweep_status(sweep_dir: Path) -> str:
    """The parent status a sweep's files justify: how it ended when its process recorded that,
    else (the process died) FINISHED only when every job dir has its summary.json."""
    ended = read_sweep_file(sweep_dir).get("ended")
    if ended:
        return str(ended)
    done = all((d / SUMMARY_FILE).exists() for d in job_dirs(sweep_dir))
    return "FINISHED" if done else "FAILED"


def sweep_overrides(config: Any) -> list[str]:
    """What the sweeper expands: `hydra.sweeper.params` (named studies), then the command line.

    Hydra's BasicSweeper reads them in this order and the last value of a key wins, so a study
    swept from `conf/experiment/` and the same sweep typed on the command line look the same.
    """
    from omegaconf import OmegaConf

    params = OmegaConf.select(config, "hydra.sweeper.params") or {}
    task = OmegaConf.select(config, "hydra.overrides.task") or []
    return [f"{k}={v}" for k, v in params.items()] + [str(o) for o in task]


def _final_overrides(overrides: list[str]) -> dict[str, Any]:
    """key -> its last parsed override (the one the sweeper uses)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    final: dict[str, Any] = {}
    for o in OverridesParser.create().parse_overrides(overrides):
        key = o.get_key_element().lstrip("+~")  # `+battery.x=1,2` sweeps battery.x
        final.pop(key, None)
        final[key] = o
    return final


def swept_keys(overrides: list[str]) -> list[str]:
    """Keys given several values (`building=res1,res2` -> building), in sweep order."""
    return [k for k, o in _final_overrides(overrides).items() if o.is_sweep_override()]


def swept_values(overrides: list[str], key: str) -> list[str]:
    """The values a sweep override lists for key (e.g. the pipelines of a sweep)."""
    o = _final_overrides(overrides).get(key)
    if o is None:
        return []
    if o.is_sweep_override():
        return [str(v) for v in o.sweep_string_iterator()]
    return [str(o.value())]


def job_count(overrides: list[str]) -> int:
    """How many jobs the basic sweeper makes of these overrides (the product of the sweeps)."""
    count = 1
    for o in _final_overrides(overrides).values():
        if o.is_sweep_override():
            count *= len(list(o.sweep_string_iterator()))
    return count


def sweep_dir_overrides(sweep_dir: Path) -> list[str]:
    """sweep_overrides of a finished sweep, from the multirun.yaml Hydra wrote into its dir."""
    from omegaconf import OmegaConf

    path = Path(sweep_dir) / "multirun.yaml"
    return sweep_overrides(OmegaConf.load(path)) if path.exists() else []


def recorded_swept_keys(sweep_dir: Path | None) -> list[str]:
    """The sweep file's swept keys, or (a sweep run with tracking off) those of multirun.yaml."""
    if sweep_dir is None:
        return []
    recorded = read_sweep_file(sweep_dir).get("swept_keys")
    return list(recorded) if recorded else swept_keys(sweep_dir_overrides(sweep_dir))


def job_dirs(sweep_dir: Path) -> list[Path]:
    """Job dirs below a sweep dir (any depth of hydra.sweep.subdir), in job-number order."""
    return [job_dir for job_dir, _ in _jobs_with_info(sweep_dir)]


def _jobs_with_info(sweep_dir: Path) -> list[tuple[Path, dict[str, Any]]]:
    """(job dir, its .hydra info) in job-number order; each hydra.yaml is read once."""
    dirs = [p.parent.parent for p in Path(sweep_dir).glob("**/.hydra/config.yaml")]
    jobs = [(d, load_hydra_info(d)) for d in dirs]

    def order(job: tuple[Path, dict[str, Any]]) -> tuple[int, str]:
        num = job[1].get("num")
        return (int(num) if isinstance(num, int) else 10**9, str(job[0]))

    return sorted(jobs, key=order)


def sweep_table(sweep_dir: Path, keys: list[str]) -> list[dict[str, Any]]:
    """One row per job: number, run id, status, the swept values, key figures, error."""
    rows = []
    for job_dir, info in _jobs_with_info(sweep_dir):
        summary = read_summary(job_dir) or {}
        values = dict(
            (k.lstrip("+~"), v)
            for k, v in (o.split("=", 1) for o in info.get("overrides", []) if "=" in o)
        )
        metrics = summary.get("metrics", {})
        marker = read_marker(job_dir)
        row: dict[str, Any] = {
            "job": info.get("num"),
            "run_name": marker.get("run_name", ""),
            "run_id": marker.get("run_id", ""),
            "status": summary.get("status", "missing"),
        }
        row.update({k: values.get(k, "") for k in keys})
        for name in TABLE_METRICS:
            row[name] = metrics.get(name, "")
        row["error"] = summary.get("error") or ""
        row["job_dir"] = job_dir.name
        rows.append(row)
    return rows


def write_table(rows: list[dict[str, Any]], path: Path) -> Path:
    with path.open("w", newline="") as fh:
        if rows:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return path


def best_and_worst(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Tags naming the good jobs with the highest and lowest savings_pct (the period's,
    end-of-period storage included, as savings_eur)."""
    scored = [
        r
        for r in rows
        if r["status"] == "ok"
        and isinstance(r[METRIC_SAVINGS_PCT], int | float)
        and not isinstance(r[METRIC_SAVINGS_PCT], bool)
    ]
    if not scored:
        return {}
    best = max(scored, key=lambda r: r[METRIC_SAVINGS_PCT])
    worst = min(scored, key=lambda r: r[METRIC_SAVINGS_PCT])
    tags = {}
    for label, row in (("best", best), ("worst", worst)):
        tags[f"ems_sweep.{label}_job"] = str(row["job"])
        tags[f"ems_sweep.{label}_run_id"] = str(row["run_id"])
        tags[f"ems_sweep.{label}_run_name"] = str(row["run_name"])
        tags[f"ems_sweep.{label}_savings_pct"] = f"{row[METRIC_SAVINGS_PCT]:.3f}"
    return tags


def end_parent(store: Store, run_id: str, rows: list[dict[str, Any]], status: str) -> None:
    """End a sweep's parent run with its table (`sweep_table`'s rows): the sweep_table.csv
    artifact, the job counts, the n_jobs and best/worst tags. The one end of a sweep, for the
    callback and for `sync`."""
    from ems_sweep.tracking.logger import finish_parent

    failed = sum(1 for r in rows if r["status"] != "ok")
    metrics = {"n_jobs": len(rows), "n_failed": failed, "n_ok": len(rows) - failed}
    tags = {**best_and_worst(rows), TAG_N_JOBS: str(len(rows))}
    with tempfile.TemporaryDirectory() as tmp:  # not the sweep dir: its disk may be full
        table = write_table(rows, Path(tmp) / SWEEP_TABLE_FILE)
        finish_parent(store, run_id, status, table, tags, metrics)
