"""Prints one table at the end of a multirun: job, building, mode, status, key result figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig


def sweep_rows(sweep_dir: Path) -> list[dict[str, Any]]:
    # Imported here: the callback is built in every launcher process, the result module pulls
    # in pandas, and a sweep's launcher process needs it only at the very end.
    from ems_sweep.pipelines.result import format_savings, read_summary

    rows = []
    for job_dir in sorted(p for p in Path(sweep_dir).iterdir() if p.is_dir()):
        summary = read_summary(job_dir)
        if summary is None:
            continue
        num = job_dir.name.split("_", 1)[0]
        params, metrics = summary.get("params", {}), summary.get("metrics", {})
        if summary.get("status") == "ok":
            figure = format_savings(metrics)
        else:
            figure = summary.get("error") or ""
        rows.append(
            {
                "job": int(num) if num.isdigit() else num,
                "building": params.get("building_id", ""),
                "mode": params.get("optimization_mode", ""),
                "status": summary.get("status", "?"),
                "savings": figure,
            }
        )
    return sorted(rows, key=lambda r: (str(type(r["job"])), r["job"]))


def format_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(no job results found)"
    headers = list(rows[0])
    widths = {h: max(len(h), *(len(str(r[h])) for r in rows)) for h in headers}
    lines = ["  ".join(h.ljust(widths[h]) for h in headers)]
    lines.append("  ".join("-" * widths[h] for h in headers))
    lines += ["  ".join(str(r[h]).ljust(widths[h]) for h in headers) for r in rows]
    return "\n".join(lines)


class SweepTableCallback(Callback):
    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if sweep_dir.exists():
            print(f"\nSweep {sweep_dir}:\n{format_table(sweep_rows(sweep_dir))}")
