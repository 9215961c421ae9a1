"""Turn the runs frame of `mlflow.search_runs` into the answers of a sweep comparison.

Pure pandas on the frame (no MLflow calls): best/worst job by a metric, a building x mode pivot,
the parameters the sweep varied, the failed jobs with their error. Kept apart from the store and
the output code so each can be tested on a hand-built frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ems_sweep.analysis.sweep_store import CompareError
from ems_sweep.names import TAG_JOB_NUM, TAG_OVERRIDES

DEFAULT_METRIC = "savings_pct"
FINISHED = "FINISHED"

# Units for the figures the pipelines log (issue 6 vocabulary); unknown metrics get none.
UNITS = {
    "savings_pct": "%",
    "avg_savings_pct": "%",
    "savings_eur": "EUR",
    "total_cost": "EUR",
    "model_cost": "EUR",
    "baseline_cost": "EUR",
    "cost_per_kwh": "EUR/kWh",
    "optimization_time_seconds": "s",
    "job_pipeline_seconds": "s",
    "total_consumption_kwh": "kWh",
    "ev_charging_kwh": "kWh",
    "battery_cycles": "cycles",
}
# Metrics where smaller is better; every other metric is maximised.
_MINIMISE_WORDS = ("cost", "seconds", "time", "violations", "divergence", "count", "import")

# Where the tracking callback may put a failed job's error (first present wins).
ERROR_TAGS = ("error", "ems_sweep.error", "error_message", "error_type")

# Never a dimension of a sweep: where things were logged, not what was computed.
_NOISE_PREFIXES = ("tracking.", "hydra.")
# The job's own command-line overrides ("building=res1 battery=none"), set by the callback.
OVERRIDES_COLUMN = f"tags.{TAG_OVERRIDES}"
OVERRIDE_PREFIX = "override."
_OWN_AXES = ("building", "mode")
# The users' own params first: they make the clearest row labels.
_USER_PARAMS = ("pipeline", "battery_enabled", "ev_enabled", "n_days")


def unit(metric: str) -> str:
    if metric in UNITS:
        return UNITS[metric]
    if metric.endswith("_kwh"):
        return "kWh"
    if metric.endswith("_eur"):
        return "EUR"
    if metric.endswith("_pct"):
        return "%"
    if metric.endswith("_seconds"):
        return "s"
    return ""


def goal(metric: str) -> str:
    """'max' or 'min': which end of the metric is the best job."""
    if metric.startswith("savings") or metric.endswith("savings_pct"):
        return "max"
    return "min" if any(word in metric for word in _MINIMISE_WORDS) else "max"


def _first_present(df: pd.DataFrame, columns: list[str], default: str = "") -> pd.Series:
    out = pd.Series(default, index=df.index, dtype=object)
    for col in reversed(columns):
        if col in df.columns:
            values = df[col]
            out = values.where(values.notna() & (values.astype(str) != ""), out)
    return out


def normalize(runs: pd.DataFrame) -> pd.DataFrame:
    """Add readable columns (job, run_name, building, mode, status, error), ordered by job."""
    df = runs.copy()
    df.insert(0, "job", pd.to_numeric(_first_present(df, [f"tags.{TAG_JOB_NUM}"]), "coerce"))
    df.insert(1, "run_name", _first_present(df, ["tags.mlflow.runName", "run_id"]))
    df.insert(2, "building", _first_present(df, ["tags.building", "params.building_id"], "?"))
    df.insert(3, "mode", _first_present(df, ["tags.mode", "params.optimization_mode"], "?"))
    df.insert(4, "pipeline", _first_present(df, ["tags.pipeline", "params.pipeline"]))
    err = _first_present(df, [f"tags.{t}" for t in ERROR_TAGS])
    failed = df["status"] != FINISHED
    missing = "(no error logged)"
    err = err.where(err != "", df["status"].map({"RUNNING": "(still running)"}).fillna(missing))
    df.insert(5, "error", err.where(failed, ""))
    df = pd.concat([df, override_columns(df)], axis=1)
    order = ["job", "start_time"] if "start_time" in df.columns else ["job"]
    return df.sort_values(order, na_position="last").reset_index(drop=True)


def available_metrics(df: pd.DataFrame) -> list[str]:
    return sorted(
        c.removeprefix("metrics.")
        for c in df.columns
        if c.startswith("metrics.") and df[c].notna().any()
    )


def check_metric(df: pd.DataFrame, metric: str) -> None:
    """The metric must have a value on at least one finished run; else list the existing ones."""
    col = f"metrics.{metric}"
    metrics = available_metrics(df)
    if metric not in metrics:
        raise CompareError(
            f"Unknown metric {metric!r}: no selected run has it. "
            f"Metrics that exist: {', '.join(metrics) or '(none)'}"
        )
    if not df.loc[df["status"] == FINISHED, col].notna().any():
        raise CompareError(f"No finished run has metric {metric!r}; see the failed jobs.")


@dataclass
class Extremes:
    best: pd.Series
    worst: pd.Series
    goal: str


def best_worst(df: pd.DataFrame, metric: str) -> Extremes:
    """Best and worst finished job; failed jobs (e.g. checker violations) never count."""
    col = f"metrics.{metric}"
    ok = df[(df["status"] == FINISHED) & df[col].notna()]
    direction = goal(metric)
    ranked = ok.sort_values([col, "job"], ascending=[direction == "min", True], kind="stable")
    return Extremes(best=ranked.iloc[0], worst=ranked.iloc[-1], goal=direction)


def _determined_by(df: pd.DataFrame, keys: list[str], col: str) -> bool:
    """True when col takes one value within every group of keys (it adds no information)."""
    values = df[col].astype(str)
    return bool((values.groupby([df[k].astype(str) for k in keys]).nunique() <= 1).all())


def override_columns(df: pd.DataFrame) -> pd.DataFrame:
    """One column `override.<key>` per key of the jobs' override tags ('' where not given)."""
    if OVERRIDES_COLUMN not in df.columns:
        return pd.DataFrame(index=df.index)
    rows = []
    for text in df[OVERRIDES_COLUMN].fillna("").astype(str):
        pairs = (item.split("=", 1) for item in text.split() if "=" in item)
        rows.append({OVERRIDE_PREFIX + k.lstrip("+"): v for k, v in pairs})
    return pd.DataFrame(rows, index=df.index).fillna("")


def _is_candidate(column: str) -> bool:
    key = column.split(".", 1)[1]
    return key not in _OWN_AXES and not key.startswith(_NOISE_PREFIXES)


def varied_dimensions(df: pd.DataFrame) -> list[str]:
    """Columns that vary beyond building and mode, each adding information.

    A swept group (battery=none vs default) changes several flattened params at once; the
    override (`override.battery`) names it best, then the users' own params, then the flattened
    config; a column that follows from the dimensions already chosen is skipped.
    """
    overrides = sorted(c for c in df.columns if c.startswith(OVERRIDE_PREFIX) and _is_candidate(c))
    params = [c for c in df.columns if c.startswith("params.")]
    user = [f"params.{p}" for p in _USER_PARAMS if f"params.{p}" in params]
    rest = sorted(c for c in params if c not in user and _is_candidate(c))
    keys = ["building", "mode"]
    dims: list[str] = []
    for col in overrides + user + rest:
        if df[col].nunique(dropna=False) > 1 and not _determined_by(df, keys, col):
            dims.append(col)
            keys.append(col)
    return dims


def row_labels(df: pd.DataFrame, dims: list[str]) -> pd.Series:
    """'res1' or 'res1 | battery_enabled=False': one label per pivot row."""
    label = df["building"].astype(str)
    for col in dims:
        label = label + " | " + dim_name(col) + "=" + df[col].astype(str)
    return label


def dim_name(column: str) -> str:
    """'override.battery' -> 'battery', 'params.n_days' -> 'n_days'."""
    return column.split(".", 1)[1]


def pivot(df: pd.DataFrame, metric: str, dims: list[str]) -> tuple[pd.DataFrame, int]:
    """Rows building (+ varied dims), columns mode, mean of the metric over finished jobs.

    Returns the table and the largest number of jobs averaged into one cell (1 in a plain grid).
    """
    labelled = df.assign(row=row_labels(df, dims))
    ok = labelled[labelled["status"] == FINISHED]
    col = f"metrics.{metric}"
    table = ok.pivot_table(index="row", columns="mode", values=col, aggfunc="mean", dropna=False)
    counts = ok.pivot_table(index="row", columns="mode", values=col, aggfunc="count")
    # Keep the sweep's full grid: a cell whose jobs all failed shows as n/a, not as a gap.
    table = table.reindex(
        index=sorted(labelled["row"].unique()), columns=sorted(labelled["mode"].unique())
    )
    table.index.name, table.columns.name = None, None
    most = int(counts.max().max()) if counts.size else 0
    return table, most


def finished_counts(df: pd.DataFrame, table: pd.DataFrame, dims: list[str]) -> pd.DataFrame:
    """Finished jobs per pivot cell (same shape as table): 0 = no finished job, unlike n/a."""
    labelled = df.assign(row=row_labels(df, dims))
    ok = labelled[labelled["status"] == FINISHED]
    counts = ok.groupby(["row", "mode"]).size().unstack("mode")
    counts = counts.reindex(index=table.index, columns=table.columns).fillna(0).astype(int)
    counts.index.name, counts.columns.name = None, None
    return counts


NO_FINISHED_JOB = "failed"  # a pivot cell whose jobs all failed (n/a: finished, no figure)


def cell_texts(table: pd.DataFrame, finished: pd.DataFrame, digits: int = 2) -> pd.DataFrame:
    """The pivot as text: the figure, n/a (finished, no figure), or failed (no finished job)."""

    def text(value: float, n: int) -> str:
        if pd.notna(value):
            return f"{value:.{digits}f}"
        return "n/a" if n > 0 else NO_FINISHED_JOB

    out = table.copy().astype(object)
    for r in table.index:
        for c in table.columns:
            out.loc[r, c] = text(table.loc[r, c], int(finished.loc[r, c]))
    return out


def pivot_metrics(df: pd.DataFrame, metric: str) -> list[str]:
    """The chosen metric plus savings % and EUR (the figures a sweep is usually run for)."""
    present = available_metrics(df)
    wanted = [metric, "savings_pct", "savings_eur"]
    return [m for i, m in enumerate(wanted) if m in present and m not in wanted[:i]]


def failed_jobs(df: pd.DataFrame) -> pd.DataFrame:
    return df.loc[df["status"] != FINISHED, ["job", "run_name", "status", "error"]]


def status_counts(df: pd.DataFrame) -> dict[str, int]:
    return {str(k): int(v) for k, v in df["status"].value_counts().items()}


def csv_frame(df: pd.DataFrame) -> pd.DataFrame:
    """All selected runs: readable columns, then metrics, params and tags (sorted)."""
    head = ["job", "run_name", "building", "mode", "pipeline", "status", "error", "run_id"]
    head += [c for c in ("experiment_id", "start_time", "end_time") if c in df.columns]
    prefixes = ("metrics.", "params.")
    groups = [sorted(c for c in df.columns if c.startswith(p)) for p in prefixes]
    tags = sorted(c for c in df.columns if c.startswith("tags."))
    return df[head + groups[0] + groups[1] + tags]


@dataclass
class Comparison:
    """Everything the terminal summary, report.md and the plot show about one selection."""

    runs: pd.DataFrame
    metric: str
    extremes: Extremes
    dims: list[str]
    pivots: dict[str, pd.DataFrame]
    cell_jobs: int
    finished: pd.DataFrame  # finished jobs per pivot cell (all pivots share the grid)
    failed: pd.DataFrame
    counts: dict[str, int]


def compare_runs(runs: pd.DataFrame, metric: str = DEFAULT_METRIC) -> Comparison:
    """Analyse the (non-empty) runs frame of a selection by one metric."""
    df = normalize(runs)
    check_metric(df, metric)
    dims = varied_dimensions(df)
    pivots, cell_jobs = {}, 1
    for name in pivot_metrics(df, metric):
        pivots[name], most = pivot(df, name, dims)
        cell_jobs = max(cell_jobs, most)
    grid = next(iter(pivots.values()))
    return Comparison(
        runs=df,
        metric=metric,
        extremes=best_worst(df, metric),
        dims=dims,
        pivots=pivots,
        cell_jobs=cell_jobs,
        finished=finished_counts(df, grid, dims),
        failed=failed_jobs(df),
        counts=status_counts(df),
    )
