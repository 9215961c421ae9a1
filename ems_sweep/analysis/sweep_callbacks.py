"""The analysis side's Hydra callbacks, run in the launching process at the end of a multirun.

Registered in conf/config.yaml around the MLflow callback; Hydra calls on_multirun_end in the
reverse order of hydra.callbacks, so the report callback (listed after the MLflow one) writes
and logs the sweep report before the parent run ends, and the table callback (listed before it)
prints the table once the parent has ended.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from ems_sweep.names import SWEEP_REPORT_FILE, SWEEP_TABLE_FILE

log = logging.getLogger(__name__)


def _sweep_keys(config: DictConfig) -> list[str]:
    from ems_sweep.tracking.sweep import sweep_overrides, swept_keys

    return swept_keys(sweep_overrides(config))


class SweepTableCallback(Callback):
    """Prints the sweep summary; runs after the MLflow callback has ended the parent run."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from ems_sweep.analysis.sweep_table import sweep_summary

        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.exists():
            return
        tracking_on = bool(OmegaConf.select(config, "tracking.enabled", default=False))
        print("\n" + sweep_summary(sweep_dir, _sweep_keys(config), tracking_on), flush=True)


class SweepReportCallback(Callback):
    """Writes <sweep dir>/sweep_table.csv and sweep_report.html at the end of every multirun
    (also without MLflow), then attaches the report and the table as the parent run's
    description to each parent run of the sweep, before the MLflow callback ends them."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        from ems_sweep.analysis.sweep_html import from_sweep_dir, write_report
        from ems_sweep.tracking.sweep import sweep_table, write_table

        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.exists():
            return
        keys = _sweep_keys(config)
        rows = sweep_table(sweep_dir, keys)
        write_table(rows, sweep_dir / SWEEP_TABLE_FILE)
        facts = [f"Sweep dir: {sweep_dir.resolve()}"]
        write_report(from_sweep_dir(sweep_dir, keys, facts), sweep_dir / SWEEP_REPORT_FILE)
        log_to_parents(sweep_dir, rows, keys)


def log_to_parents(sweep_dir: Path, rows: list[dict[str, Any]], keys: list[str]) -> None:
    """The report artifact and the description tag of each parent run the sweep file names."""
    from ems_sweep.analysis.sweep_html import log_report
    from ems_sweep.analysis.sweep_table import parent_description
    from ems_sweep.tracking.store import Store, client, retry
    from ems_sweep.tracking.sweep import read_sweep_file

    sweep = read_sweep_file(sweep_dir)
    if sweep.get("error") or not sweep.get("parents"):
        return  # tracking off, or the store was unreachable: the footer says how to replay
    from mlflow.entities import RunTag

    store = Store(sweep["uri"], sweep.get("artifact_root"))
    tags = [RunTag(k, v) for k, v in parent_description(rows, keys).items()]
    for run_id in sweep["parents"].values():
        try:
            log_report(store, run_id, sweep_dir)
            retry(lambda r=run_id: client(store).log_batch(r, tags=tags), "description")
        except Exception as exc:
            log.error("Could not log the sweep report to parent run %s: %s", run_id, exc)
