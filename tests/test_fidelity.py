"""The baseline against the meters of the shared CoSSMic files, checked from the raw CSV.

With battery=none ev=none the baseline is what the meters show, hour by hour. Where the
submetered devices exceed what the main meters saw (a meter inconsistency the quality record
flags), the consumption is raised to the devices; nowhere else may the baseline differ.
"""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from conftest import compose_config

from ems_sweep.config import register_configs
from ems_sweep.data import load_building
from ems_sweep.data.slicing import slice_day
from ems_sweep.optimize import baseline_day, end_state, initial_state
from ems_sweep.optimize import schedule as S

register_configs()

DAYS = 7
START = "2016-06-01"


def make_cfg(*overrides: str):
    return compose_config(*overrides, validated=False)


def raw_week(cossmic_dir, building: str) -> pd.DataFrame:
    """The file's hours of the local days START .. START + DAYS - 1, straight from the CSV."""
    path = cossmic_dir / f"DE_KN_{building}_60min.csv.gz"
    raw = pd.read_csv(path, index_col=0, parse_dates=True)
    raw.index = raw.index.tz_convert("Europe/Berlin")
    end = (dt.date.fromisoformat(START) + dt.timedelta(days=DAYS - 1)).isoformat()
    raw = raw.loc[START:end]
    raw.columns = [c.removeprefix(f"DE_KN_{building}_") for c in raw.columns]
    return raw


def baseline_week(cfg) -> pd.DataFrame:
    data = load_building(cfg)
    state, tables = initial_state(cfg), []
    for date in data.days():
        sched = baseline_day(slice_day(data, date), cfg, state)
        tables.append(sched.table)
        state = end_state(sched)
    return pd.concat(tables)


def submetered(raw: pd.DataFrame, devices: list[str]) -> np.ndarray:
    return raw[devices].clip(lower=0).sum(axis=1).to_numpy()


def test_res4_baseline_reproduces_the_metered_net_exchange(cossmic_dir):
    cfg = make_cfg("building=cossmic_res4", f"start_date={START}", f"n_days={DAYS}",
                   "battery=none", "ev=none")  # fmt: skip
    base = baseline_week(cfg)
    raw = raw_week(cossmic_dir, "residential4")
    assert len(base) == len(raw) == DAYS * 24
    metered_net = (raw["grid_import"] + raw["grid_export"]).to_numpy()  # export is negative
    baseline_net = (base[S.IMPORT] - base[S.EXPORT]).to_numpy()
    devices = submetered(
        raw, ["dishwasher", "ev", "freezer", "heat_pump", "refrigerator", "washing_machine"]
    )
    meters = (raw["grid_import"] + raw["grid_export"] - raw["pv"]).to_numpy()
    raised = np.maximum(devices - meters, 0.0)
    np.testing.assert_allclose(baseline_net, metered_net + raised, atol=1e-9)
    assert (raised > 1e-9).mean() < 0.05  # the meters agree in almost every hour
    assert np.abs(baseline_net - metered_net).sum() < 0.01 * raw["grid_import"].sum()


@pytest.mark.parametrize("pv", ["preset", "listed"])
def test_res1_without_export_meter_keeps_the_metered_import(cossmic_dir, pv):
    """The preset leaves out PV and heat pump (each on its own meter); listed, the PV goes
    through the no-export estimate, which must keep the metered import just the same."""
    extra = ["building.pv_columns=[DE_KN_residential1_pv]"] if pv == "listed" else []
    cfg = make_cfg("building=cossmic_res1", f"start_date={START}", f"n_days={DAYS}",
                   "battery=none", "ev=none", *extra)  # fmt: skip
    base = baseline_week(cfg)
    raw = raw_week(cossmic_dir, "residential1")
    imp = raw["grid_import"].to_numpy()
    generation = -raw["pv"].to_numpy() if pv == "listed" else 0.0
    devices = submetered(raw, ["dishwasher", "freezer", "washing_machine"])
    raised = np.maximum(devices - imp - generation, 0.0)
    consistent = raised < 1e-9
    np.testing.assert_allclose(base[S.IMPORT].to_numpy()[consistent], imp[consistent], atol=1e-9)
    np.testing.assert_allclose(base[S.IMPORT].to_numpy(), imp + raised, atol=1e-9)
    assert consistent.mean() > 0.97
    assert base[S.IMPORT].sum() == pytest.approx(imp.sum(), rel=0.02)
    # the unmetered export is what PV the estimate leaves unused: never in an importing hour
    assert (base[S.EXPORT].to_numpy()[imp > 1e-9] == 0).all()


def test_res4_ev_energy_per_day_follows_the_meter(cossmic_dir):
    cfg = make_cfg("building=cossmic_res4", f"start_date={START}", f"n_days={DAYS}",
                   "battery=none", "ev=default")  # fmt: skip
    base = baseline_week(cfg)
    raw = raw_week(cossmic_dir, "residential4")
    whole = pd.read_csv(cossmic_dir / "DE_KN_residential4_60min.csv.gz", usecols=[
        "utc_timestamp", "DE_KN_residential4_ev"])  # fmt: skip
    peak = whole["DE_KN_residential4_ev"].max()
    assert peak <= cfg.ev.charger_kw < peak + 0.01  # the file's peak, rounded up
    assert cfg.ev.charger_kw < 7.4 and cfg.ev.soc_initial == cfg.ev.target_soc
    charged = base[S.EV_CHARGE].groupby(base.index.date).sum()
    metered = raw["ev"].groupby(raw.index.date).sum()
    assert metered.sum() > 10
    # standby below the session threshold stays in the fixed load: at most ~0.01 kWh a day
    np.testing.assert_allclose(charged.to_numpy(), metered.to_numpy(), atol=0.02)


def test_job_reports_metered_and_baseline_bills(cossmic_dir, tmp_path):
    from ems_sweep.pipelines.runner import run_job

    cfg = make_cfg("building=cossmic_res4", f"start_date={START}", "n_days=2", "battery=none",
                   "ev=none", "mode=decentralized", "pipeline.plots=false")  # fmt: skip
    result = run_job(cfg, tmp_path)
    assert result.status == "ok", result.error
    daily = pd.read_csv(tmp_path / "daily.csv")
    diff = daily["baseline_bill_eur"] - daily["metered_bill_eur"]
    np.testing.assert_allclose(daily["meter_bill_diff_eur"], diff, atol=1e-6)
    assert (daily["meter_netting_eur"] < 0).all()  # both flows in an hour: billed on both
    assert daily["meter_diff_reason"].str.contains("netting within the step").all()
    np.testing.assert_allclose(daily["baseline_bill_eur"], daily["baseline_cost_eur"], atol=1e-6)
    assert {"present_steps", "flagged_steps", "quality_flags"} <= set(daily.columns)
    metrics = json.loads((tmp_path / "summary.json").read_text())["metrics"]
    assert metrics["metered_bill_eur"] == pytest.approx(daily["metered_bill_eur"].sum())
    assert result.metrics["meter_bill_diff_eur"] == pytest.approx(diff.sum())
    assert "## Data and meters" in (tmp_path / "report.md").read_text()
