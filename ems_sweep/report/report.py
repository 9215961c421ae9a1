"""report.md: a short human summary of one job, its main table and links to its plots."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig

from ems_sweep.names import REPORT_FILE

MAIN_FIGURES = [
    ("savings_pct", "savings over the period", "%"),
    ("savings_eur", "savings (operational + end-of-period storage)", "EUR"),
    ("savings_eur_operational", "savings from the days' costs", "EUR"),
    ("end_storage_value_eur", "end-of-period storage value vs baseline", "EUR"),
    ("end_storage_diff_kwh", "end-of-period storage vs baseline", "kWh"),
    ("ev_target_shortfall_kwh", "EV below target at the target hour (optimized)", "kWh"),
    ("baseline_ev_target_shortfall_kwh", "EV below target at the target hour (baseline)", "kWh"),
    ("avg_savings_pct", "mean of daily savings", "%"),
    ("savings_pct_of_consumption_cost", "savings / consumption valued at import price", "%"),
    ("baseline_cost", "baseline cost", "EUR"),
    ("total_cost", "optimized cost", "EUR"),
    ("model_cost", "optimized cost as the model planned it (centralized: flat blocks)", "EUR"),
    ("cost_per_kwh", "optimized cost per kWh consumed", "EUR/kWh"),
    ("total_consumption_kwh", "consumption", "kWh"),
    ("battery_cycles", "battery equivalent full cycles", ""),
    ("ev_charging_kwh", "EV charging", "kWh"),
    ("savings_pct_without_preferences", "savings without learned preferences", "%"),
    ("preference_satisfaction_pct", "cycles started in usual hours", "%"),
    ("mean_shift_h", "mean shift from observed start", "h"),
    ("metered_bill_eur", "metered bill (meters at the job's tariff)", "EUR"),
    ("baseline_bill_eur", "baseline bill", "EUR"),
    ("meter_bill_diff_eur", "baseline - metered bill", "EUR"),
    ("meter_netting_eur", "... of which netting within the step", "EUR"),
    ("meter_unmetered_export_eur", "... of which unmetered export", "EUR"),
    ("meter_net_max_abs_diff_kwh", "baseline vs metered net exchange, max per step", "kWh"),
    ("total_days_processed", "days processed", ""),
    ("days_failed", "days failed", ""),
    ("days_skipped", "days skipped (data quality)", ""),
    ("constraint_violations", "constraint violations", ""),
    ("optimization_time_seconds", "model build + solve time", "s"),
    ("variables_count", "variables (largest day)", ""),
    ("constraints_count", "constraints (largest day)", ""),
]

DAILY_COLUMNS = [
    "date",
    "status",
    "baseline_cost_eur",
    "optimized_cost_eur",
    "savings_eur",
    "savings_pct",
    "perfect_cost_eur",  # forecast != perfect: optimized = executed; see the Forecast section
    "value_of_perfect_information_eur",
    "forecast_load_mae_kwh",
    "forecast_pv_mae_kwh",
    "no_prefs_savings_pct",
    "preference_satisfaction_pct",
    "optimized_battery_cycles",
    "solve_s",
    "reason",
]


# Per-day data quality (data/quality.py) and fidelity to the meters (pipelines/fidelity.py).
DATA_COLUMNS = [
    "date",
    "present_steps",
    "filled_steps",
    "flagged_steps",
    "metered_bill_eur",
    "baseline_bill_eur",
    "meter_bill_diff_eur",
    "meter_diff_reason",
    "quality_flags",
]


def _fmt(value: object) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "n/a"
        return f"{value:.0f}" if value.is_integer() and abs(value) >= 1 else f"{value:.3g}"
    return str(value)


def _table(rows: list[list[object]], headers: list[str]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_fmt(v).replace("|", "/") for v in r) + " |" for r in rows]
    return "\n".join(lines)


def write_report(
    job_dir: Path,
    cfg: DictConfig,
    status: str,
    error: str | None,
    metrics: dict[str, float],
    daily: pd.DataFrame,
    plots: Sequence[Path],
    notes: Sequence[str] = (),
    extra_sections: Sequence[str] = (),
) -> Path:
    """Write report.md in job_dir (plot links relative, so the folder can move).

    Nine parameters: the one caller (pipelines/output.finish_job, owned by the result-contract
    work of issue 18) passes the job's outcome piece by piece; they become one argument when
    that caller hands over its JobResult."""
    job_dir = Path(job_dir)
    lines = [*_header(cfg, status, error), "## Job figures", ""]
    lines += [
        _table(
            [[label, metrics[key], unit] for key, label, unit in MAIN_FIGURES if key in metrics],
            ["figure", "value", "unit"],
        ),
        "",
    ]
    lines += list(extra_sections)
    lines += _day_tables(daily)
    if plots:
        lines += ["## Plots", ""]
        lines += [f"- [{p.stem}]({p.relative_to(job_dir).as_posix()})" for p in plots]
        lines.append("")
    if notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    lines += [
        "Files: `daily.csv` (one row per day, every KPI), `schedules.csv` (every step of every "
        "schedule), `summary.json` (job figures).",
        "",
    ]
    path = job_dir / REPORT_FILE
    path.write_text("\n".join(lines))
    return path


def _header(cfg: DictConfig, status: str, error: str | None) -> list[str]:
    """Title, status and what the job compared: hardware, shifting rule, baseline, period end."""
    hw = [f"battery {cfg.battery.capacity_kwh:g} kWh" if cfg.battery.enabled else "no battery"]
    hw.append(f"EV {cfg.ev.capacity_kwh:g} kWh" if cfg.ev.enabled else "no EV")
    shift = f"up to {cfg.mode.max_delay_hours:g} h " + (
        "earlier or later than observed (mode.allow_advance=true: assumes the user plans ahead)"
        if cfg.mode.allow_advance
        else "later than observed, never earlier (mode.allow_advance=false)"
    )
    return [
        f"# {cfg.pipeline.name.value.capitalize()} job: {cfg.building.name}, {cfg.mode.name.value}",
        "",
        f"Status: **{status}**" + (f" ({error})" if error else ""),
        "",
        f"{cfg.n_days} day(s) from {cfg.start_date} at {cfg.resolution_min} min, "
        f"{', '.join(hw)}, tariff {cfg.tariff.kind.value}, solver {cfg.solver.name.value}. "
        f"Appliance cycles may start {shift}. Costs are those of the physical schedule (real "
        "cycle profiles at their starts). "
        "Savings are against the baseline (what happened) of the same days; the savings % of the "
        "period is the sum of savings over the magnitude of the summed baseline costs. With PV "
        "that net cost can be near zero or negative: a % is given only where it is at least 25% of "
        "the consumption valued at the import price (else n/a); the savings in EUR and the "
        "savings relative to that consumption value always compare.",
        "",
        "The baseline is what a real house with this hardware does: appliances when the user "
        "started them, the EV charging on arrival up to its target, and a self-consumption "
        "battery (charge from PV surplus, discharge to cover the load down to soc_min), with "
        "the storage state carried from day to day from a warm-up day before the period. "
        f"The optimized schedule is planned {cfg.pipeline.horizon_days} day(s) ahead (rolling "
        "horizon, today committed) and storage is carried over midnight; at the end of the period "
        + (
            "the optimized battery and EV may each not end below the baseline's "
            "(end_storage=no_less)."
            if str(getattr(cfg.pipeline.end_storage, "value", cfg.pipeline.end_storage))
            == "no_less"
            else "the difference in stored energy (battery + EV) is valued at "
            f"{cfg.pipeline.end_storage_price_eur_per_kwh:g} EUR/kWh and included in the savings "
            "(end_storage=value)."
        ),
        "",
    ]


def _day_tables(daily: pd.DataFrame) -> list[str]:
    """The days table and, where daily.csv has them, the data-and-meters table."""
    if not len(daily):
        return []
    cols = [c for c in DAILY_COLUMNS if c in daily]
    lines = ["## Days", "", _table(daily[cols].values.tolist(), cols), ""]
    cols = [c for c in DATA_COLUMNS if c in daily]
    if len(cols) > 2:
        rows = daily[cols].fillna("").values.tolist()
        lines += ["## Data and meters", "", _table(rows, cols), ""]
    return lines
