"""Words for a sweep comparison: the terminal summary and a report.md readable without MLflow."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from ems_sweep.analysis.sweep_analysis import (
    NO_FINISHED_JOB,
    Comparison,
    cell_texts,
    dim_name,
    unit,
)
from ems_sweep.analysis.sweep_store import Sweep


def fmt(metric: str, value: float) -> str:
    if pd.isna(value):
        return "n/a"
    u = unit(metric)
    return f"{value:.2f} {u}".rstrip()


def describe_job(row: pd.Series) -> str:
    """'res1-centralized (job 0, building=res1, mode=centralized, run 1a2b3c4d)'."""
    job = "?" if pd.isna(row["job"]) else int(row["job"])
    return (
        f"{row['run_name']} (job {job}, building={row['building']}, mode={row['mode']}, "
        f"run {str(row['run_id'])[:8]})"
    )


def extreme_lines(c: Comparison) -> list[str]:
    direction = "highest" if c.extremes.goal == "max" else "lowest"
    col = f"metrics.{c.metric}"
    finished = c.runs.loc[c.runs["status"] == "FINISHED", col]
    lines = []
    for label, row in (("Best ", c.extremes.best), ("Worst", c.extremes.worst)):
        value = fmt(c.metric, row[col])
        ties = int((finished == row[col]).sum()) - 1
        tie = f"  [tied with {ties} other job{'s' if ties > 1 else ''}]" if ties > 0 else ""
        lines.append(f"{label} {c.metric}: {value}  {describe_job(row)}{tie}")
    lines.append(f"(best = {direction} {c.metric}; failed jobs excluded)")
    if c.extremes.best["run_id"] == c.extremes.worst["run_id"]:
        others = len(c.runs) - 1
        why = (
            f"the {others} other job{'s' if others != 1 else ''} failed or have no {c.metric}"
            if others
            else "the selection has no other job"
        )
        lines.append(f"(best and worst are the same job: {why})")
    return lines


PIVOT_NOTE = (
    f"n/a: the jobs finished but have no value (e.g. savings % on a baseline cost too small to "
    f"be a base); {NO_FINISHED_JOB}: no job of the cell finished."
)


def _pivot_text(table: pd.DataFrame, finished: pd.DataFrame) -> str:
    texts = cell_texts(table, finished)
    # One space more than the widest cell, as pandas pads float columns (for a sign).
    space = {c: 1 + max([len(str(c)), *(len(v) for v in texts[c])]) for c in texts.columns}
    return texts.to_string(col_space=space)


def sweep_header(sweep: Sweep, c: Comparison) -> list[str]:
    counts = ", ".join(f"{n} {status.lower()}" for status, n in sorted(c.counts.items()))
    lines = [f"Sweep {sweep.name} ({sweep.run_id or 'no parent run'}) in {sweep.experiment}"]
    if sweep.sweep_dir:
        lines.append(f"Sweep dir: {sweep.sweep_dir}")
    lines.append(f"Jobs: {len(c.runs)} ({counts})")
    if c.dims:
        varied = ", ".join(dim_name(d) for d in c.dims)
        lines.append(f"Varied besides building and mode: {varied}")
    return lines


def terminal_summary(sweep: Sweep, c: Comparison) -> str:
    lines = sweep_header(sweep, c) + [""] + extreme_lines(c)
    for metric, table in c.pivots.items():
        note = f", mean of up to {c.cell_jobs} jobs per cell" if c.cell_jobs > 1 else ""
        lines += ["", f"{metric} [{unit(metric)}] by building (rows) and mode (columns){note}:"]
        lines.append(_pivot_text(table, c.finished))
    if c.pivots:
        lines.append(PIVOT_NOTE)
    lines.append("")
    if c.failed.empty:
        lines.append("Failed jobs: none")
    else:
        lines.append(f"Failed jobs ({len(c.failed)}):")
        for _, row in c.failed.iterrows():
            lines.append(f"  {describe_job(c.runs.loc[row.name])} {row['status']}: {row['error']}")
    return "\n".join(lines)


def markdown_table(table: pd.DataFrame, index: bool = True, digits: int = 2) -> str:
    """A GitHub-flavoured markdown table (no tabulate dependency)."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return "n/a" if pd.isna(value) else f"{value:.{digits}f}"
        return str(value).replace("|", "\\|").replace("\n", " ")

    frame = table.reset_index() if index else table
    if index:
        frame = frame.rename(columns={frame.columns[0]: ""})
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(False)]
    return "\n".join([header, rule, *rows])


def _jobs_table(c: Comparison) -> pd.DataFrame:
    cols = ["job", "run_name", "building", "mode"] + c.dims + ["status"]
    metrics = [f"metrics.{m}" for m in dict.fromkeys([c.metric, *c.pivots, "total_cost"])]
    cols += [m for m in metrics if m in c.runs.columns]
    table = c.runs[cols].copy()
    table["job"] = table["job"].map(lambda j: "?" if pd.isna(j) else str(int(j)))
    return table.rename(columns=lambda name: name.split(".", 1)[-1])


def markdown_report(sweep: Sweep, c: Comparison, plot: Path | None, csv: Path | None) -> str:
    """The per-sweep report.md: header, best/worst, pivots, plot, failures, every job."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"# Sweep report: {sweep.name}", ""]
    lines += [f"- {line}" for line in sweep_header(sweep, c)]
    lines += [f"- Compared by `{c.metric}` [{unit(c.metric)}], written {now}", ""]
    lines += ["## Best and worst job", "", "```", *extreme_lines(c), "```", ""]
    for metric, table in c.pivots.items():
        note = f" (mean of up to {c.cell_jobs} jobs per cell)" if c.cell_jobs > 1 else ""
        lines += [f"## {metric} [{unit(metric)}] by building and mode{note}", ""]
        lines += [markdown_table(cell_texts(table, c.finished)), "", PIVOT_NOTE, ""]
    if plot is not None:
        lines += ["## Plot", "", f"![comparison]({plot.name})", ""]
    lines += ["## Failed jobs", ""]
    if c.failed.empty:
        lines += ["None.", ""]
    else:
        lines += [markdown_table(c.failed, index=False), ""]
    lines += ["## All jobs", "", markdown_table(_jobs_table(c), index=False), ""]
    if csv is not None:
        lines += [f"Every param, metric and tag of these runs: [{csv.name}]({csv.name})", ""]
    return "\n".join(lines)
