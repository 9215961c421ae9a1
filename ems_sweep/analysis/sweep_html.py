"""The sweep report a person reads: one self-contained HTML file (inline CSS, images as data URIs).

Sections: the sweep table, the best and worst jobs, a heatmap of savings over the two most
varied swept keys, savings against each swept numeric value, the failed jobs with their errors.
Written at the end of every multirun into the sweep dir (from the job files, tracking on or
off) and logged to the parent run; `python -m ems_sweep.analysis.compare` writes the same
report from the MLflow runs of any sweep. No JavaScript: it opens anywhere, offline, as written.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ems_sweep.analysis.sweep_table import FIGURES, NA, NA_NOTE
from ems_sweep.names import SWEEP_REPORT_FILE

SAVINGS = "savings_pct"  # the figure the report ranks and maps: the period's savings [%]
OK = "ok"
NO_FINISHED = "no finished job"
# Group keys whose numeric settings are not one value per option (hourly weights, profiles).
_NOT_NUMERIC_GROUPS = ("building", "mode", "pipeline", "solver", "tracking")
MAX_NUMERIC_PER_KEY = 3


@dataclass
class ReportInput:
    """One row per job: job, run, the swept keys, status ('ok' or not), FIGURES, error."""

    title: str
    jobs: pd.DataFrame
    keys: list[str]
    numeric: list[str] = field(default_factory=list)  # numeric columns to plot savings against
    facts: list[str] = field(default_factory=list)  # where the sweep is (dir, store, parent)


# ---- the data -----------------------------------------------------------------------------
def _as_number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def numeric_keys(jobs: pd.DataFrame, keys: list[str]) -> list[str]:
    """Swept keys whose values are all numbers (battery.capacity_kwh=5,10,15) and that vary."""
    out = []
    for key in keys:
        values = jobs[key].map(_as_number)
        if values.notna().all() and values.nunique() > 1:
            out.append(key)
    return out


def group_numbers(configs: list[dict[str, Any]], keys: list[str]) -> pd.DataFrame:
    """For a swept group (battery=none,default,large), its numeric settings that vary.

    configs: each job's flattened config, in job order. Gives e.g. battery.capacity_kwh, so a
    study over named options is still plotted against the quantity the options differ in.
    """
    frame = pd.DataFrame(configs)
    columns = []
    for key in keys:
        if key in _NOT_NUMERIC_GROUPS or "." in key:
            continue
        candidates = [c for c in frame.columns if c.startswith(f"{key}.")]
        varying = [
            c
            for c in candidates
            if frame[c].map(_as_number).notna().all()
            and frame[c].map(lambda v: isinstance(v, bool)).sum() == 0
            and frame[c].nunique() > 1
        ]
        # A setting that moves in step with one already kept (max charge with capacity in
        # battery=none/default/large) would repeat the same plot: keep the first only.
        kept: list[str] = []
        for c in varying:
            codes = tuple(pd.factorize(frame[c])[0])
            if all(codes != tuple(pd.factorize(frame[k])[0]) for k in kept):
                kept.append(c)
        columns += kept[:MAX_NUMERIC_PER_KEY]
    return frame[columns].apply(lambda col: col.map(_as_number)) if columns else frame[[]]


def from_sweep_dir(sweep_dir: Path, keys: list[str], facts: list[str]) -> ReportInput:
    """The report of a sweep from its job files (what the end of a multirun has)."""
    from ems_sweep.tracking.record import flatten, load_job_config
    from ems_sweep.tracking.sweep import job_dirs, sweep_table

    rows = sweep_table(sweep_dir, keys)
    jobs = pd.DataFrame(rows)
    if jobs.empty:
        figures = [name for name, _ in FIGURES]
        jobs = pd.DataFrame(columns=["job", "run_name", "status", *keys, *figures, "error"])
    jobs = jobs.rename(columns={"run_name": "run"})
    configs = [flatten(load_job_config(d)) for d in job_dirs(sweep_dir)]
    numbers = group_numbers(configs, keys) if len(configs) == len(jobs) else pd.DataFrame()
    for column in numbers.columns:
        jobs[column] = numbers[column].to_numpy()
    numeric = numeric_keys(jobs, keys) + list(numbers.columns)
    title = f"Sweep sweep-{Path(sweep_dir).name}"  # the parent run's name
    return ReportInput(title, jobs, keys, numeric, facts)


def from_comparison(title: str, runs: pd.DataFrame, dims: list[str], facts: list[str]):
    """The report from compare's normalized runs frame (one MLflow run per row)."""
    from ems_sweep.analysis.sweep_analysis import FINISHED, dim_name

    keys = [k for k in ("building", "mode") if runs[k].nunique() > 1] or ["building"]
    jobs = pd.DataFrame(
        {
            "job": runs["job"].map(lambda j: "?" if pd.isna(j) else int(j)),
            "run": runs["run_name"],
        }
    )
    for key in keys:
        jobs[key] = runs[key].astype(str)
    for column in dims:
        jobs[dim_name(column)] = runs[column].astype(str)
    keys += [dim_name(c) for c in dims]
    jobs["status"] = runs["status"].map(lambda s: OK if s == FINISHED else str(s).lower())
    for name, _ in FIGURES:
        col = f"metrics.{name}"
        jobs[name] = pd.to_numeric(runs[col], errors="coerce") if col in runs else math.nan
    jobs["error"] = runs["error"].fillna("")
    params = {}
    for key in keys:
        prefix = f"params.{key}."
        if key in _NOT_NUMERIC_GROUPS or "." in key:
            continue
        for col in [c for c in runs.columns if c.startswith(prefix)]:
            values = runs[col].map(_as_number)
            codes = tuple(pd.factorize(values)[0])
            same = any(codes == tuple(pd.factorize(v)[0]) for v in params.values())
            if values.notna().all() and values.nunique() > 1 and not same:
                params[col.removeprefix("params.")] = values
    for name, values in params.items():
        jobs[name] = values.to_numpy()
    numeric = numeric_keys(jobs, keys) + list(params)
    return ReportInput(title, jobs, keys, numeric, facts)


# ---- the HTML -----------------------------------------------------------------------------
def _esc(value: Any) -> str:
    return html.escape(str(value))


def _num(value: Any, digits: int = 2) -> str:
    number = _as_number(value)
    return NA if number is None else f"{number:.{digits}f}"


def _table(frame: pd.DataFrame, css: str = "") -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in frame.columns)
    body = []
    for row in frame.itertuples(index=False):
        cells = "".join(f"<td>{_esc(v)}</td>" for v in row)
        body.append(f"<tr>{cells}</tr>")
    rows = "".join(body)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def sweep_table_html(r: ReportInput) -> str:
    columns = ["job", *r.keys, "status"]
    shown = r.jobs.reindex(columns=columns).fillna("").astype(str)
    for name, header in FIGURES:
        digits = 3 if header.endswith("[s]") else 2
        shown[header] = r.jobs[name].map(lambda v, d=digits: _num(v, d)) if name in r.jobs else NA
    return _table(shown, "jobs")


def _describe(row: pd.Series, keys: list[str]) -> str:
    values = ", ".join(f"{k}={row[k]}" for k in keys)
    run = f", run {row['run']}" if str(row.get("run", "")) else ""
    return f"job {row['job']} ({values}{run})"


def best_worst_html(r: ReportInput) -> str:
    jobs = r.jobs
    ok = jobs[(jobs["status"] == OK) & jobs[SAVINGS].map(_as_number).notna()]
    if ok.empty:
        return "<p>No finished job has a savings figure: no best or worst job.</p>"
    ranked = ok.assign(_v=ok[SAVINGS].astype(float)).sort_values("_v", kind="stable")
    best, worst = ranked.iloc[-1], ranked.iloc[0]
    items = [
        f"<li><b>Best</b>: {_num(best[SAVINGS])} % savings ({_num(best['savings_eur'])} EUR), "
        f"{_esc(_describe(best, r.keys))}</li>",
        f"<li><b>Worst</b>: {_num(worst[SAVINGS])} % savings ({_num(worst['savings_eur'])} EUR), "
        f"{_esc(_describe(worst, r.keys))}</li>",
    ]
    notes = []
    left_out = len(jobs) - len(ok)
    if len(ok) == 1:
        notes.append(
            "Best and worst are the same job: it is the only finished job with a savings [%] "
            f"figure ({left_out} other job{'s' if left_out != 1 else ''} failed or n/a)."
        )
    elif best[SAVINGS] == worst[SAVINGS]:
        notes.append(f"All {len(ok)} ranked jobs have the same savings [%]: no job is better.")
    if left_out and len(ok) > 1:
        notes.append(f"{left_out} job(s) not ranked: failed, or savings [%] n/a.")
    text = "".join(f"<p class='note'>{_esc(n)}</p>" for n in notes)
    return f"<ul>{''.join(items)}</ul>{text}"


def most_varied(r: ReportInput) -> list[str]:
    """The (up to) two swept keys with the most distinct values, in sweep order on ties."""
    counts = {k: r.jobs[k].astype(str).nunique() for k in r.keys if k in r.jobs}
    ranked = sorted(counts, key=lambda k: (-counts[k], r.keys.index(k)))
    return ranked[:2]


def _colour(value: float, limit: float) -> str:
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    share = 0.5 + 0.5 * max(-1.0, min(1.0, value / limit)) if limit > 0 else 0.5
    return to_hex(colormaps["RdYlGn"](0.15 + 0.7 * share))


def heatmap_html(r: ReportInput) -> str:
    """Mean savings [%] per cell; 'no finished job' and 'n/a' are told apart (and no job: -)."""
    axes = most_varied(r)
    if not axes:
        return "<p>No swept key: nothing to map.</p>"
    rows_key, cols_key = axes[0], axes[1] if len(axes) > 1 else None
    jobs = r.jobs.assign(_v=r.jobs[SAVINGS].map(_as_number))
    row_values = list(dict.fromkeys(jobs[rows_key].astype(str)))
    col_values = list(dict.fromkeys(jobs[cols_key].astype(str))) if cols_key else ["savings"]
    finite = jobs.loc[jobs["status"] == OK, "_v"].dropna()
    limit = float(finite.abs().max()) if not finite.empty else 0.0
    head = "".join(f"<th>{_esc(c)}</th>" for c in col_values)
    corner = f"{rows_key} \\ {cols_key}" if cols_key else rows_key
    lines = [f"<table class='heat'><thead><tr><th>{_esc(corner)}</th>{head}</tr></thead><tbody>"]
    for rv in row_values:
        cells = []
        for cv in col_values:
            sel = jobs[jobs[rows_key].astype(str) == rv]
            if cols_key:
                sel = sel[sel[cols_key].astype(str) == cv]
            done = sel[sel["status"] == OK]
            if sel.empty:
                cells.append("<td class='nojob'>-</td>")
            elif done.empty:
                cells.append(f"<td class='nofinished'>{NO_FINISHED}</td>")
            elif done["_v"].isna().all():
                cells.append(f"<td class='na'>{NA}</td>")
            else:
                mean = float(done["_v"].mean())
                n = int(done["_v"].notna().sum())
                extra = f" <small>(mean of {n})</small>" if len(sel) > 1 else ""
                style = f"background:{_colour(mean, limit)}"
                cells.append(f"<td style='{style}'>{mean:.2f}{extra}</td>")
        lines.append(f"<tr><th>{_esc(rv)}</th>{''.join(cells)}</tr>")
    lines.append("</tbody></table>")
    legend = (
        "<p class='legend'>savings [%], mean over the finished jobs of a cell; green saves "
        f"more. <span class='nofinished'>{NO_FINISHED}</span>: every job of the cell failed. "
        f"<span class='na'>{NA}</span>: jobs finished but savings [%] has no base (see below). "
        "<span class='nojob'>-</span>: the sweep has no such job.</p>"
    )
    title = f"<p>Rows: <b>{_esc(rows_key)}</b>" + (
        f", columns: <b>{_esc(cols_key)}</b></p>" if cols_key else "</p>"
    )
    return title + "".join(lines) + legend


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def savings_plots_html(r: ReportInput) -> str:
    """One small plot per numeric swept value: each finished job's savings, and their mean."""
    if not r.numeric:
        example = "<code>battery.capacity_kwh=5,10,15</code>"
        return f"<p>No swept key has numeric values (e.g. {example}).</p>"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    parts = []
    ok = r.jobs[r.jobs["status"] == OK]
    for column in r.numeric:
        x = ok[column].map(_as_number)
        y = ok[SAVINGS].map(_as_number)
        keep = x.notna() & y.notna()
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
        ax.scatter(x[keep], y[keep], s=18, alpha=0.6, label="one job")
        means = y[keep].groupby(x[keep]).mean()
        if not means.empty:
            ax.plot(means.index, means.to_numpy(), marker="o", color="black", label="mean")
        ax.axhline(0, color="grey", linewidth=0.6)
        ax.set_xlabel(column)
        ax.set_ylabel("savings [%]")
        ax.set_title(f"savings [%] against {column}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        data = _png(fig)
        plt.close(fig)
        alt = f"savings against {column}"
        parts.append(f"<figure><img alt='{_esc(alt)}' src='data:image/png;base64,{data}'></figure>")
    return "".join(parts)


def failed_html(r: ReportInput) -> str:
    failed = r.jobs[r.jobs["status"] != OK]
    if failed.empty:
        return "<p>None: every job finished.</p>"
    items = []
    for _, row in failed.iterrows():
        error = str(row.get("error") or "(no error recorded)")
        items.append(
            f"<li><b>{_esc(_describe(row, r.keys))}</b>, status {_esc(row['status'])}"
            f"<pre>{_esc(error)}</pre></li>"
        )
    return f"<ul class='failed'>{''.join(items)}</ul>"


CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:1.8em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:.5em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
table.heat td{min-width:6em;text-align:center}
.na{background:#e4e4e4;color:#555}
.nofinished{background:repeating-linear-gradient(45deg,#555,#555 4px,#777 4px,#777 8px);color:#fff}
.nojob{background:#fff;color:#999}
.legend span{padding:0 .4em}.note{color:#8a4b00}
pre{background:#f7f7f7;padding:.5em;white-space:pre-wrap;font-size:.85em}
.facts{color:#555}
"""


def render(r: ReportInput) -> str:
    """The whole report as one HTML document."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    failed = int((r.jobs["status"] != OK).sum())
    facts = [f"{len(r.jobs)} jobs, {failed} failed; written {now}", *r.facts]
    if r.keys:
        facts.append("Swept: " + ", ".join(r.keys))
    sections = [
        ("Best and worst jobs", best_worst_html(r)),
        ("Savings over the two most varied keys", heatmap_html(r)),
        ("Savings against each swept numeric value", savings_plots_html(r)),
        ("Failed jobs", failed_html(r)),
        ("Sweep table", sweep_table_html(r) + f"<p class='legend'>{_esc(NA_NOTE)}</p>"),
    ]
    body = "".join(f"<h2>{_esc(t)}</h2>{content}" for t, content in sections)
    facts_html = "".join(f"<li>{_esc(f)}</li>" for f in facts)
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_esc(r.title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{_esc(r.title)}</h1><ul class='facts'>{facts_html}</ul>{body}</body></html>\n"
    )


def write_report(r: ReportInput, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(r), encoding="utf-8")
    return path


def log_report(store: Any, run_id: str, sweep_dir: Path) -> None:
    """Attach the sweep dir's report (when written) to a parent run."""
    from ems_sweep.tracking.store import client

    report = Path(sweep_dir) / SWEEP_REPORT_FILE
    if report.exists():
        client(store).log_artifact(run_id, str(report))
