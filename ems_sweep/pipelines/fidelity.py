"""Fidelity of the baseline to the meters: per day, what the meters billed against the baseline.

The baseline is what the house did; where the building's data meters the grid, the baseline's
import and export are compared with the meters at the tariff of the job:
- metered bill = metered import x import price - metered export x feed-in (import only where
  the export is not metered);
- baseline bill = the baseline's import x import price - export x feed-in;
- their difference (baseline - metered), split into the reasons known:
  - netting: a meter that shows both import and export within one step is billed on both; the
    baseline has one net flow per step (the model's resolution), so it pays for the net only;
  - unmetered export: without an export meter, the baseline's export (PV estimated not used on
    site, data/files.py) earns feed-in the metered bill cannot show;
  - the rest, named from the job and the day (battery or EV model, cycles past midnight pulled
    back into the day, submeters above the meters, curtailment).
With battery=none and ev=none the baseline's net exchange per step equals the metered one except
for those named reasons (`meter_net_max_abs_diff_kwh`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from ems_sweep.config import EmsConfig
from ems_sweep.data.model import DayData
from ems_sweep.optimize import schedule as S
from ems_sweep.optimize.schedule import DaySchedule

MIN_EUR = 0.005  # a bill difference below half a cent needs no reason
REASON = "meter_diff_reason"

# daily.csv column -> how the job figure (summary.json, MLflow metric) aggregates it
JOB_FIGURES = {
    "metered_import_kwh": "sum",
    "metered_export_kwh": "sum",
    "metered_ev_kwh": "sum",
    "metered_bill_eur": "sum",
    "baseline_bill_eur": "sum",
    "meter_bill_diff_eur": "sum",
    "meter_netting_eur": "sum",
    "meter_unmetered_export_eur": "sum",
    "meter_other_diff_eur": "sum",
    "meter_net_max_abs_diff_kwh": "max",
    "meter_import_max_abs_diff_kwh": "max",
}


def _bill(imp: np.ndarray, exp: np.ndarray, pi: np.ndarray, pe: np.ndarray) -> float:
    return float(np.sum(imp * pi) - np.sum(exp * pe))


def _other_reasons(day: DayData, baseline: DaySchedule, cfg: EmsConfig) -> list[str]:
    tab = baseline.table
    reasons = []
    if cfg.battery.enabled:
        reasons.append("battery in the baseline, not behind the meter")
    if cfg.ev.enabled and day.metered_ev_kwh is None:
        reasons.append("EV trips synthetic (no EV meter)")
    elif cfg.ev.enabled:
        charged = tab[S.EV_CHARGE].to_numpy()
        metered = np.nan_to_num(day.metered_ev_kwh)
        if abs(charged.sum() - metered.sum()) > 0.01:
            reasons.append(
                f"EV charged {charged.sum():.2f} kWh against {metered.sum():.2f} kWh metered"
            )
        elif np.max(np.abs(charged - metered)) > 0.01:
            reasons.append("EV charged on arrival at ev.charger_kw, not in the meter's steps")
    clipped = [c.cycle_id for c in day.cycles if c.clipped]
    if clipped:
        reasons.append(f"cycle past midnight pulled back into the day ({', '.join(clipped)})")
    if day.metered_import_kwh is not None:
        # the meters' consumption (an upper bound in PV steps without an export meter)
        exported = 0.0 if day.metered_export_kwh is None else day.metered_export_kwh
        metered = np.nan_to_num(day.metered_import_kwh - exported) + tab[S.PV].to_numpy()
        used = (tab[S.FIXED_LOAD] + tab[S.APPLIANCES]).to_numpy()
        if cfg.ev.enabled and day.metered_ev_kwh is not None:  # else it is in the fixed load
            used = used + np.nan_to_num(day.metered_ev_kwh)
        raised = float(np.sum(np.maximum(used - metered, 0.0)))
        if raised > 1e-6:
            reasons.append(
                f"consumption raised to the submetered devices by {raised:.2f} kWh "
                "(devices above the main meters)"
            )
    curtailed = float(tab[S.PV_CURTAILED].sum())
    if curtailed > 1e-6:
        reasons.append(f"{curtailed:.2f} kWh PV curtailed above building.grid_export_limit_kw")
    return reasons


def meter_figures(day: DayData, baseline: DaySchedule, cfg: EmsConfig) -> dict[str, Any]:
    """The day's metered and baseline bills, their difference and its reasons (daily.csv)."""
    if day.metered_import_kwh is None:
        return {}
    tab = baseline.table
    pi, pe = tab[S.IMPORT_PRICE].to_numpy(), tab[S.EXPORT_PRICE].to_numpy()
    b_imp, b_exp = tab[S.IMPORT].to_numpy(), tab[S.EXPORT].to_numpy()
    m_imp = np.nan_to_num(day.metered_import_kwh)
    has_export = day.metered_export_kwh is not None
    m_exp = np.nan_to_num(day.metered_export_kwh) if has_export else np.zeros(len(m_imp))
    metered_bill = _bill(m_imp, m_exp, pi, pe)
    baseline_bill = _bill(b_imp, b_exp, pi, pe)
    diff = baseline_bill - metered_bill
    net = m_imp - m_exp
    netting = _bill(np.maximum(net, 0), np.maximum(-net, 0), pi, pe) - metered_bill
    both = int(np.sum((m_imp > 1e-9) & (m_exp > 1e-9)))
    unmetered = 0.0 if has_export else -float(np.sum(b_exp * pe))
    other = diff - netting - unmetered
    reasons = []
    if abs(netting) >= MIN_EUR:
        reasons.append(f"netting within the step ({netting:+.2f} EUR, {both} steps with both)")
    if abs(unmetered) >= MIN_EUR:
        reasons.append(
            f"export not metered: {float(b_exp.sum()):.2f} kWh estimated ({unmetered:+.2f} EUR)"
        )
    if abs(other) >= MIN_EUR:
        known = _other_reasons(day, baseline, cfg)
        reasons += known or [f"unexplained ({other:+.2f} EUR)"]
    figures: dict[str, Any] = {
        "metered_import_kwh": float(m_imp.sum()),
        "metered_export_kwh": float(m_exp.sum()) if has_export else math.nan,
        "metered_bill_eur": metered_bill,
        "baseline_bill_eur": baseline_bill,
        "meter_bill_diff_eur": diff,
        "meter_netting_eur": netting,
        "meter_unmetered_export_eur": unmetered,
        "meter_other_diff_eur": other,
        "meter_net_max_abs_diff_kwh": float(np.max(np.abs((b_imp - b_exp) - net)))
        if has_export
        else math.nan,
        "meter_import_max_abs_diff_kwh": float(np.max(np.abs(b_imp - m_imp))),
        REASON: "; ".join(reasons),
    }
    if day.metered_ev_kwh is not None:
        figures["metered_ev_kwh"] = float(np.nansum(day.metered_ev_kwh))
    return figures


def meter_job_figures(daily: pd.DataFrame) -> dict[str, float]:
    """The job's meter figures from daily.csv (every day with a baseline)."""
    out = {}
    for col, how in JOB_FIGURES.items():
        if col in daily and daily[col].notna().any():
            out[col] = float(daily[col].sum() if how == "sum" else daily[col].max())
    return out
