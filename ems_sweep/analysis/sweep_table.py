"""The end-of-sweep table: one row per job, one column per swept key, key figures with units.

Printed by a Hydra callback (analysis/sweep_callbacks.py) in the launching process after every
multirun, with a footer that says where the runs went (store, experiment, parent run id) and
what to run next. The rows are tracking/sweep.sweep_table's (the one table of a sweep); the
same rows feed the parent run's Markdown description and the HTML sweep report.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ems_sweep.names import (
    METRIC_OPTIMIZATION_TIME,
    METRIC_SAVINGS_EUR,
    METRIC_SAVINGS_PCT,
    METRIC_TOTAL_COST,
    PLOTS_DIR,
    SWEEP_REPORT_FILE,
    TAG_NOTE,
)

# (sweep_table.csv column, header with its unit): the figures a sweep is usually run for.
FIGURES = (
    (METRIC_SAVINGS_PCT, "savings [%]"),  # the period's, on the same base as savings [EUR]
    (METRIC_SAVINGS_EUR, "savings [EUR]"),
    (METRIC_TOTAL_COST, "cost [EUR]"),
    (METRIC_OPTIMIZATION_TIME, "solve [s]"),
)
NA = "n/a"
NA_NOTE = (
    "n/a: no figure. For a failed job see its error; for savings [%] of a good job, the "
    "baseline cost is under 1 cent or under a quarter of the consumption's value, too small "
    "to be a base (savings [EUR] still counts)."
)
MAX_ERROR = 70


def _figure(value: Any, digits: int = 2) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return NA
    return NA if math.isnan(value) else f"{value:.{digits}f}"


def display_rows(rows: list[dict[str, Any]], keys: list[str]) -> list[dict[str, str]]:
    """sweep_table rows as text: job, the swept values, status, figures, a shortened error."""
    out = []
    for row in rows:
        text = {"job": str(row.get("job", "?"))}
        text.update({key: str(row.get(key, "")) for key in keys})
        text["status"] = str(row.get("status", ""))
        for name, header in FIGURES:
            text[header] = _figure(row.get(name), 3 if header.endswith("[s]") else 2)
        error = " ".join(str(row.get("error") or "").split())
        if error:
            text["error"] = error if len(error) <= MAX_ERROR else error[: MAX_ERROR - 3] + "..."
        out.append(text)
    columns = list(dict.fromkeys(c for r in out for c in r))
    return [{c: r.get(c, "") for c in columns} for r in out]


def format_table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return "(no job results found)"
    headers = list(rows[0])
    widths = {h: max(len(h), *(len(str(r[h])) for r in rows)) for h in headers}
    lines = ["  ".join(h.ljust(widths[h]) for h in headers).rstrip()]
    lines.append("  ".join("-" * widths[h] for h in headers))
    lines += ["  ".join(str(r[h]).ljust(widths[h]) for h in headers).rstrip() for r in rows]
    return "\n".join(lines)


def markdown_table(rows: list[dict[str, str]]) -> str:
    """The same table as GitHub-flavoured Markdown (the parent run's description)."""
    if not rows:
        return "(no job results found)"

    def cell(value: str) -> str:
        return value.replace("|", "\\|")

    headers = list(rows[0])
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(cell(r[h]) for h in headers) + " |" for r in rows]
    return "\n".join(lines)


MAX_NOTE = 7500  # MLflow keeps tag values up to 8000 characters


def parent_description(rows: list[dict[str, Any]], keys: list[str]) -> dict[str, str]:
    """The parent run's description tag: counts, the sweep table as Markdown, the n/a note.

    A long sweep keeps its first rows that fit; every row is in the sweep_table.csv artifact.
    """
    failed = sum(1 for r in rows if r.get("status") != "ok")
    head = (
        f"**Sweep: {len(rows)} jobs, {failed} failed.** Report: `{SWEEP_REPORT_FILE}` (artifact)."
    )
    shown = display_rows(rows, keys)
    note = f"_{NA_NOTE}_"
    for n in range(len(shown), -1, -1):
        more = f"\n\n... {len(shown) - n} more rows in `sweep_table.csv`." if n < len(shown) else ""
        text = f"{head}\n\n{markdown_table(shown[:n])}{more}\n\n{note}"
        if len(text) <= MAX_NOTE:
            return {TAG_NOTE: text}
    return {TAG_NOTE: head}


def footer(sweep_dir: Path, sweep: dict[str, Any], tracking_on: bool) -> list[str]:
    """Where the runs are and the next commands (sweep: the mlflow_sweep.json of the sweep)."""
    lines = []
    parents = sweep.get("parents") or {}
    report = sweep_dir / SWEEP_REPORT_FILE
    if report.exists():
        lines.append(f"Report: {report}")
    if any(not (d.parent / PLOTS_DIR).is_dir() for d in sweep_dir.glob("**/.hydra")):
        lines.append(f"Plots: python -m ems_sweep.report.job_plots {sweep_dir}/*/   # on demand")
    if not tracking_on:
        lines.append(
            f"Runs: not tracked (tracking=none); to log them: "
            f"python -m ems_sweep.tracking sync {sweep_dir}"
        )
        return lines
    if sweep.get("error") or not parents:
        lines.append(
            f"Runs: not in MLflow ({sweep.get('error') or 'no parent run'}); replay with: "
            f"python -m ems_sweep.tracking sync {sweep_dir}"
        )
        return lines
    uri = str(sweep.get("uri", ""))
    lines.append(f"Runs: MLflow store {uri}")
    for experiment, run_id in parents.items():
        lines.append(f"  experiment {experiment}, parent run sweep-{sweep_dir.name} ({run_id})")
    from ems_sweep.analysis.sweep_store import default_tracking_uri

    store_arg = "" if uri == default_tracking_uri() else f" --tracking-uri {uri}"
    first = next(iter(parents.values()))
    lines.append("Next:")
    lines.append(
        f"  python -m ems_sweep.analysis.compare --sweep {first}{store_arg}   # best/worst, pivot"
    )
    if not uri.startswith(("http://", "https://")):
        lines.append(f"  python -m ems_sweep.analysis.ui{store_arg}   # MLflow UI on this store")
    else:
        lines.append(f"  open {uri}   # MLflow UI")
    return lines


def sweep_summary(sweep_dir: Path, keys: list[str], tracking_on: bool) -> str:
    """The whole end-of-sweep text: title, table, n/a note, footer."""
    from ems_sweep.tracking.sweep import read_sweep_file, sweep_table

    rows = sweep_table(sweep_dir, keys)
    failed = sum(1 for r in rows if r["status"] != "ok")
    lines = [f"Sweep {sweep_dir}: {len(rows)} jobs, {failed} failed", ""]
    lines.append(format_table(display_rows(rows, keys)))
    lines += ["", NA_NOTE]
    lines += footer(sweep_dir, read_sweep_file(sweep_dir), tracking_on)
    return "\n".join(lines)
